/**
 * The Lit components of src/ui in a real browser: `vite build` of
 * test/pages/ui-test.html alone into a temporary folder, served by `vite preview`,
 * opened in Debian's Chromium (headless, through playwright-core). The page
 * mounts <model-loader>, <engine-status>, <stem-transport> and <stem-mixer> on
 * a fake engine (test/pages/ui-test.ts) that records every call, so each test drives
 * the UI like a user (keys, clicks, drags) and checks what reached the engine
 * and what the page shows. Screenshots at 1280×800 and 375×800 go to test-output/.
 *
 * Needs /usr/bin/chromium; without it this test fails with a message saying so.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, freePort, requireChromium, root, testPagesConfig as configFile, testPagesRoot } from './fixtures/demo-site.js';
import type { Call, UiTestWindow } from '../test/pages/ui-test.js';

const STEMS = ['drums', 'bass', 'other', 'vocals', 'guitar', 'piano'];


type W = Window & UiTestWindow;

describe('UI components in Chromium (fake engine)', () => {
  let tmp = '';
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;
  let url = '';
  const open: Array<{ page: Page; errors: string[] }> = [];

  /** A fresh page on the fake engine; console errors, page errors and HTTP errors are collected. */
  async function load(viewport = { width: 1280, height: 800 }, deviceScaleFactor = 1): Promise<Page> {
    const page = await browser!.newPage({ viewport, deviceScaleFactor });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('response', (res) => { if (res.status() >= 400) errors.push(`HTTP ${res.status()} ${res.url()}`); });
    open.push({ page, errors });
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as W).uiTest?.ready === true, undefined, { timeout: 20_000 });
    return page;
  }

  /** Closes the page and fails on any console error it saw. */
  async function done(page: Page): Promise<void> {
    const entry = open.find((o) => o.page === page)!;
    await page.close();
    expect(entry.errors, 'console errors').toEqual([]);
  }

  /** engine-status labels and values wider than their box (cut off, or ending in an ellipsis): "DT Real-time factor 106 > 96". */
  const clippedStatus = (page: Page): Promise<string[]> =>
    page.locator('engine-status').evaluate((el) =>
      [...el.shadowRoot!.querySelectorAll('dt, dd')]
        .filter((e) => e.scrollWidth > e.clientWidth)
        .map((e) => `${e.tagName} ${(e.textContent ?? '').trim().replace(/\s+/g, ' ')} ${e.scrollWidth} > ${e.clientWidth}`));
  /** What a WebGPU-less machine shows: a long backend choice, two measured backends, the stem cache. */
  const longStatus = async (page: Page): Promise<void> => {
    await page.evaluate(() => Object.assign((window as unknown as W).uiTest.engine.snapshot, {
      backend: 'wasm',
      threads: 4,
      backendReason: 'WebGPU adapter (google swiftshader) is a fallback adapter: WASM instead',
      backendsTried: [{ backend: 'webgpu', realTimeFactor: 1.8, runs: 2 }, { backend: 'wasm', realTimeFactor: 0.61, runs: 3 }],
      realTimeFactor: 0.61,
      cache: { state: 'hit', entries: 3, bytes: 52_400_000 },
    }));
  };

  const calls = (page: Page): Promise<Call[]> => page.evaluate(() => (window as unknown as W).uiTest.engine.calls);
  const clearCalls = (page: Page): Promise<void> => page.evaluate(() => { (window as unknown as W).uiTest.engine.calls.length = 0; });
  const stem = (page: Page, name: string) => page.evaluate((n) => (window as unknown as W).uiTest.engine.stemState(n), name);
  /** The focused element, through shadow roots: its accessible label, else #id, else its text. */
  const focused = (page: Page): Promise<string> =>
    page.evaluate(() => {
      let a: Element | null = document.activeElement;
      while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
      if (!a || a === document.body) return '';
      return a.getAttribute('aria-label') ?? (a.id ? `#${a.id}` : (a.textContent ?? '').trim());
    });

  beforeAll(async () => {
    requireChromium();
    tmp = await mkdtemp(join(tmpdir(), 'stemstream-ui-'));
    const outDir = join(tmp, 'dist');
    // A string input replaces the config's input list (objects would be merged), so this
    // test builds its own page only and does not depend on the other demo pages.
    await build({
      configFile,
      root: testPagesRoot,
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, rollupOptions: { input: join(testPagesRoot, 'ui-test.html') } },
    });
    expect((await readdir(outDir)).filter((f) => f.endsWith('.html'))).toEqual(['ui-test.html']);
    const port = await freePort();
    server = await preview({ configFile, root: testPagesRoot, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true, open: false } });
    url = `http://127.0.0.1:${port}/ui-test.html`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 180_000);

  afterAll(async () => {
    for (const o of open) if (!o.page.isClosed()) await o.page.close();
    await browser?.close();
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('mixer: a strip per stem with labelled controls; 4 mutes stem 4, Shift+2 solos stem 2, from the focused mixer', async () => {
    const page = await load();
    for (const s of STEMS) {
      await expect(page.getByRole('button', { name: `Mute ${s}`, exact: true }).getAttribute('aria-pressed')).resolves.toBe('false');
      await expect(page.getByRole('button', { name: `Solo ${s}`, exact: true }).count()).resolves.toBe(1);
      await expect(page.getByRole('slider', { name: `${s} gain`, exact: true }).count()).resolves.toBe(1);
      await expect(page.getByRole('meter', { name: `${s} level`, exact: true }).count()).resolves.toBe(1);
    }
    const muteVocals = page.getByRole('button', { name: 'Mute vocals', exact: true });

    await page.getByRole('slider', { name: 'drums gain', exact: true }).focus();
    await page.keyboard.press('4');
    expect(await stem(page, 'vocals')).toEqual({ gain: 1, muted: true, soloed: false });
    await expect(muteVocals.getAttribute('aria-pressed')).resolves.toBe('true');
    expect(await calls(page)).toEqual([['mute', 'vocals', true]]);
    const events = await page.evaluate(() => (window as unknown as W).uiTest.events);
    expect(events).toEqual([{ type: 'stem-change', detail: { name: 'vocals', gain: 1, muted: true, soloed: false } }]);

    // A click on a strip's name (not a control) focuses the mixer: the keys work from there too.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.locator('stem-mixer .strip .label', { hasText: 'piano' }).click();
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('STEM-MIXER');
    await page.keyboard.press('4');
    expect((await stem(page, 'vocals')).muted).toBe(false);
    await expect(muteVocals.getAttribute('aria-pressed')).resolves.toBe('false');

    await page.keyboard.press('Shift+Digit2');
    expect(await stem(page, 'bass')).toEqual({ gain: 1, muted: false, soloed: true });
    await expect(page.getByRole('button', { name: 'Solo bass', exact: true }).getAttribute('aria-pressed')).resolves.toBe('true');
    // The other strips are shown as silenced by the solo; the soloed one is not.
    expect(await page.locator('stem-mixer .strip.silent').count()).toBe(5);
    expect((await stem(page, 'drums')).muted).toBe(false);
    await page.keyboard.press('Shift+Digit2');
    expect((await stem(page, 'bass')).soloed).toBe(false);
    expect(await page.locator('stem-mixer .strip.silent').count()).toBe(0);

    // Keys outside the mixer (focus on the page body) do nothing without global-keys.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await clearCalls(page);
    await page.keyboard.press('1');
    expect(await calls(page)).toEqual([]);
    await done(page);
  });

  it('mixer: mute and solo buttons by click; a fader by keyboard calls setGain louder; the display follows the engine', async () => {
    const page = await load();
    const muteDrums = page.getByRole('button', { name: 'Mute drums', exact: true });
    await muteDrums.click();
    expect((await stem(page, 'drums')).muted).toBe(true);
    await expect(muteDrums.getAttribute('aria-pressed')).resolves.toBe('true');
    await muteDrums.click();
    expect((await stem(page, 'drums')).muted).toBe(false);
    await expect(muteDrums.getAttribute('aria-pressed')).resolves.toBe('false');
    await page.getByRole('button', { name: 'Solo piano', exact: true }).click();
    expect((await stem(page, 'piano')).soloed).toBe(true);

    await clearCalls(page);
    const fader = page.getByRole('slider', { name: 'vocals gain', exact: true });
    await fader.focus();
    await page.keyboard.press('ArrowUp');
    const set = (await calls(page)).filter((c) => c[0] === 'setGain');
    expect(set.length).toBe(1);
    expect(set[0]![1]).toBe('vocals');
    expect(set[0]![2] as number).toBeGreaterThan(1);
    expect(set[0]![2] as number).toBeCloseTo(10 ** (0.5 / 20), 6); // one 0.5 dB step up from 0 dB
    await expect(fader.getAttribute('aria-valuetext')).resolves.toBe('+0.5 dB');
    const last = await page.evaluate(() => (window as unknown as W).uiTest.events.at(-1));
    expect(last).toMatchObject({ type: 'stem-change', detail: { name: 'vocals', muted: false, soloed: false } });
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect((await stem(page, 'vocals')).gain).toBeCloseTo(10 ** (-0.5 / 20), 6);

    // A change made elsewhere (another UI, the engine itself) reaches the strip: it polls stemState().
    await page.evaluate(() => {
      const s = (window as unknown as W).uiTest.engine.states.get('bass')!;
      s.gain = 0.5;
      s.muted = true;
    });
    await page.waitForFunction(() => {
      const m = document.querySelector('stem-mixer')!.shadowRoot!;
      const f = m.querySelector<HTMLInputElement>('input[aria-label="bass gain"]')!;
      return f.value === '-6' && m.querySelector('button[aria-label="Mute bass"]')!.getAttribute('aria-pressed') === 'true';
    }, undefined, { timeout: 2000 });
    await done(page);
  });

  it('mixer: meters show the engine levels (aria-valuenow), every frame, and the loop stops when detached', async () => {
    const page = await load();
    const values = () => page.locator('stem-mixer [role=meter]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('aria-valuenow'))));
    await expect.poll(values, { timeout: 2000 }).toEqual([0.5, 0.25, 0.1, 0.8, 0.05, 0]);
    await page.evaluate(() => { (window as unknown as W).uiTest.engine.levels = new Float32Array([0.9, 0, 0.3, 0.001, 1.2, 0.6]); });
    // Above full scale the accessible value stays at the maximum and says "clipping".
    await expect.poll(values, { timeout: 2000 }).toEqual([0.9, 0, 0.3, 0.001, 1, 0.6]);
    await expect(page.getByRole('meter', { name: 'guitar level' }).getAttribute('aria-valuetext')).resolves.toBe('clipping');
    await expect(page.getByRole('meter', { name: 'bass level' }).getAttribute('aria-valuetext')).resolves.toBe('silent');
    await expect(page.getByRole('meter', { name: 'other level' }).getAttribute('aria-valuetext')).resolves.toBe('−10.5 dBFS');
    // The bar: −10.5 dBFS on a −60..0 scale.
    const level = await page.locator('stem-mixer [role=meter]').nth(2).evaluate((e) => Number((e as HTMLElement).style.getPropertyValue('--level')));
    expect(level).toBeCloseTo(1 - 10.46 / 60, 2);

    // Detached: no more meterLevels() polling; re-attached: it resumes.
    const polls = () =>
      page.evaluate(async () => {
        const e = (window as unknown as W).uiTest.engine;
        let n = 0;
        const orig = e.meterLevels.bind(e);
        e.meterLevels = () => (n++, orig());
        await new Promise((r) => setTimeout(r, 400));
        e.meterLevels = orig;
        return n;
      });
    expect(await polls()).toBeGreaterThan(3);
    await page.evaluate(() => { (window as unknown as { parked?: Element }).parked = document.querySelector('stem-mixer')!; document.querySelector('stem-mixer')!.remove(); });
    expect(await polls()).toBe(0);
    await page.evaluate(() => document.querySelector('main')!.append((window as unknown as { parked: Element }).parked));
    expect(await polls()).toBeGreaterThan(3);
    await done(page);
  });

  it('mixer global-keys: number keys work from anywhere, but never when typed into a text field', async () => {
    const page = await load();
    await page.evaluate(() => document.querySelector('stem-mixer')!.setAttribute('global-keys', ''));
    // Typed into the model loader's URL field (inside another shadow root): text, not a shortcut.
    await page.getByLabel('Model URL').click();
    await page.keyboard.type('3');
    await expect(page.getByLabel('Model URL').inputValue()).resolves.toBe('3');
    expect((await stem(page, 'other')).muted).toBe(false);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.keyboard.press('3');
    expect((await stem(page, 'other')).muted).toBe(true);
    await page.keyboard.press('Shift+Digit6');
    expect((await stem(page, 'piano')).soloed).toBe(true);
    // Focus inside the mixer: one toggle, not two (host and window listeners never both act).
    await page.getByRole('slider', { name: 'drums gain', exact: true }).focus();
    await page.keyboard.press('5');
    expect((await stem(page, 'guitar')).muted).toBe(true);
    // A stem number beyond the model's stems does nothing.
    await clearCalls(page);
    await page.keyboard.press('7');
    expect(await calls(page)).toEqual([]);
    // Attribute removed: the window listener is gone.
    await page.evaluate(() => document.querySelector('stem-mixer')!.removeAttribute('global-keys'));
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.keyboard.press('3');
    expect((await stem(page, 'other')).muted).toBe(true);
    expect(await calls(page)).toEqual([]);
    await done(page);
  });

  it('transport: play button, click at 50 % seeks to the middle, keys on the waveform seek and play', async () => {
    const page = await load();
    const play = page.locator('stem-transport button.play');
    await expect(play.getAttribute('aria-label')).resolves.toBe('Play');
    await play.click();
    expect(await calls(page)).toEqual([['play']]);
    await expect(play.getAttribute('aria-label')).resolves.toBe('Pause');
    await play.click();
    expect((await calls(page)).at(-1)).toEqual(['pause']);
    await expect(play.getAttribute('aria-label')).resolves.toBe('Play');
    await expect(page.locator('stem-transport .time').textContent()).resolves.toContain('0:42.0 / 3:00.0');

    await clearCalls(page);
    const wave = page.getByRole('slider', { name: 'Playback position' });
    const box = (await wave.boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const seeks = (await calls(page)).filter((c) => c[0] === 'seek');
    expect(seeks.length).toBeGreaterThanOrEqual(1);
    expect(seeks.at(-1)![1] as number).toBeCloseTo(90, 0);
    await expect.poll(() => wave.getAttribute('aria-valuenow')).toBe('90');
    await expect(wave.getAttribute('aria-valuemax')).resolves.toBe('180');
    await expect(wave.getAttribute('aria-valuetext')).resolves.toBe('1:30 of 3:00');
    expect(await focused(page)).toBe('Playback position'); // a click focuses it, for the keys below

    await page.evaluate(() => (window as unknown as W).uiTest.engine.seek(90));
    await clearCalls(page);
    await page.keyboard.press('ArrowRight');
    expect(await calls(page)).toEqual([['seek', 95]]);
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    expect((await calls(page)).at(-1)).toEqual(['seek', 85]);
    await page.keyboard.press('Home');
    expect((await calls(page)).at(-1)).toEqual(['seek', 0]);
    await page.keyboard.press('ArrowLeft'); // clamped at the start
    expect((await calls(page)).at(-1)).toEqual(['seek', 0]);
    await page.keyboard.press('End');
    expect((await calls(page)).at(-1)).toEqual(['seek', 180]);
    await page.keyboard.press('Space');
    expect((await calls(page)).at(-1)).toEqual(['play']);
    await page.keyboard.press('Space');
    expect((await calls(page)).at(-1)).toEqual(['pause']);
    // Space did not scroll the page (it was handled).
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    await done(page);
  });

  it('transport: loop toggle (8 s from the playhead, clamped), Shift+drag region, peaks once per track, readiness at ~4 Hz', async () => {
    const page = await load();
    const loop = page.locator('stem-transport button.loop');
    await loop.click();
    expect((await calls(page)).at(-1)).toEqual(['setLoop', { start: 42, end: 50 }]);
    await expect(loop.getAttribute('aria-pressed')).resolves.toBe('true');
    await loop.click();
    expect((await calls(page)).at(-1)).toEqual(['setLoop', null]);
    await expect(loop.getAttribute('aria-pressed')).resolves.toBe('false');
    await page.evaluate(() => (window as unknown as W).uiTest.engine.seek(176));
    await loop.click();
    expect((await calls(page)).at(-1)).toEqual(['setLoop', { start: 172, end: 180 }]);
    await loop.click();

    // Shift+drag from 10 % to 20 % of the waveform: a loop over 18..36 s, and the toggle reuses it.
    const wave = page.getByRole('slider', { name: 'Playback position' });
    const box = (await wave.boundingBox())!;
    const y = box.y + box.height / 2;
    await clearCalls(page);
    await page.keyboard.down('Shift');
    await page.mouse.move(box.x + box.width * 0.1, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.2, y, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    const c = await calls(page);
    expect(c.filter((x) => x[0] === 'seek')).toEqual([]); // a Shift+drag marks, it does not seek
    const region = c.at(-1)![1] as { start: number; end: number };
    expect(c.at(-1)![0]).toBe('setLoop');
    expect(region.start).toBeCloseTo(18, 0);
    expect(region.end).toBeCloseTo(36, 0);
    await expect(loop.getAttribute('aria-pressed')).resolves.toBe('true');
    await loop.click();
    await loop.click();
    expect((await calls(page)).at(-1)).toEqual(['setLoop', region]);
    await expect(page.locator('stem-transport .loop-text').textContent()).resolves.toMatch(/^0:1[78]\.\d–0:3[56]\.\d$/);

    // Peaks once per track: not again on redraws, again when the duration changes.
    expect(await page.evaluate(() => (window as unknown as W).uiTest.engine.peakCalls)).toBe(1);
    const readyRate = await page.evaluate(async () => {
      const e = (window as unknown as W).uiTest.engine;
      const n0 = e.readyCalls;
      await new Promise((r) => setTimeout(r, 2000));
      return (e.readyCalls - n0) / 2;
    });
    expect(readyRate).toBeGreaterThanOrEqual(2.5);
    expect(readyRate).toBeLessThanOrEqual(5.5);
    await page.evaluate(() => { (window as unknown as W).uiTest.engine.duration = 240; });
    await expect.poll(() => page.evaluate(() => (window as unknown as W).uiTest.engine.peakCalls)).toBe(2);
    await expect.poll(() => wave.getAttribute('aria-valuemax')).toBe('240');
    await done(page);
  });

  it('transport canvas: device pixels on HiDPI, follows resizes, draws the readiness band', async () => {
    const page = await load({ width: 1280, height: 800 }, 2);
    const size = () =>
      page.locator('stem-transport canvas').evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height, cw: c.clientWidth, ch: c.clientHeight }));
    await expect.poll(async () => { const s = await size(); return Math.abs(s.w - s.cw * 2) <= 2 && Math.abs(s.h - s.ch * 2) <= 2 && s.w > 0; }).toBe(true);
    const before = (await size()).cw;
    await page.setViewportSize({ width: 600, height: 800 });
    await expect.poll(async () => { const s = await size(); return s.cw < before && Math.abs(s.w - s.cw * 2) <= 2; }).toBe(true);
    // The band along the bottom: the ready colour where separated (0–55 %, 70–75 %), not at 90 %.
    const band = await page.locator('stem-transport canvas').evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext('2d')!;
      const at = (f: number) => Array.from(ctx.getImageData(Math.floor(c.width * f), c.height - 3, 1, 1).data);
      return { a: at(0.3), b: at(0.72), c: at(0.9) };
    });
    const greenish = (p: number[]) => p[1]! > 150 && p[1]! > p[0]! + 50;
    expect(greenish(band.a)).toBe(true);
    expect(greenish(band.b)).toBe(true);
    expect(greenish(band.c)).toBe(false);
    await done(page);
  });

  it('status: backend, threads, latency in ms, real-time factor, model; announces backend changes only', async () => {
    const page = await load();
    const dd = (cls: string) => page.locator(`engine-status dd.${cls}`).textContent();
    await expect(dd('backend')).resolves.toBe('WebGPU');
    await expect(dd('latency')).resolves.toBe('372 ms');
    await expect(dd('rtf')).resolves.toBe('0.42×');
    await expect(dd('underruns')).resolves.toBe('0');
    await expect(dd('ahead')).resolves.toBe('42.3 s');
    await expect(dd('source-kind')).resolves.toBe('Track');
    await expect(dd('backend-reason')).resolves.toBe('WebGPU adapter nvidia ampere');
    expect((await dd('model'))!.replace(/\s+/g, ' ').trim()).toBe('htdemucs_6s 109.0 MB');
    const live = page.locator('engine-status [aria-live=polite]');
    expect(await page.locator('engine-status dl').count()).toBe(1);
    await expect(live.textContent()).resolves.toBe('');

    // Numbers change: shown, not announced.
    await page.evaluate(() => Object.assign((window as unknown as W).uiTest.engine.snapshot, { latencyMs: 186, underruns: 3, realTimeFactor: 1.3 }));
    await expect.poll(() => dd('latency')).toBe('186 ms');
    await expect(dd('underruns')).resolves.toBe('3');
    await expect(page.locator('engine-status dd.rtf').getAttribute('class')).resolves.toContain('bad');
    await expect(live.textContent()).resolves.toBe('');

    // Backend falls back to WASM: shown and announced.
    await page.evaluate(() => Object.assign((window as unknown as W).uiTest.engine.snapshot, { backend: 'wasm', threads: 4 }));
    await expect.poll(() => dd('backend')).toBe('WASM');
    await expect(live.textContent()).resolves.toBe('Inference backend: WASM, 4 threads');

    // Labels and values wrap instead of being cut off, down to a narrow column ("Real-time factor" took
    // 106 px of a 96 px column at 240 px); the values of a row still line up under a wrapped label.
    await longStatus(page);
    await expect.poll(() => dd('backend-reason')).toMatch(/^WebGPU adapter \(google swiftshader\) is a fallback adapter: WASM instead/);
    const status = page.locator('engine-status');
    for (const width of [240, 300, 470, 700]) {
      await status.evaluate((el, w) => { (el as HTMLElement).style.width = `${w}px`; }, width);
      await page.waitForTimeout(50);
      expect(await clippedStatus(page), `engine-status ${width} px wide`).toEqual([]);
      const rows = await status.evaluate((el) => {
        const dt = (label: string) => [...el.shadowRoot!.querySelectorAll('dt')].find((d) => d.textContent === label)!;
        const top = (label: string) => Math.round(dt(label).nextElementSibling!.getBoundingClientRect().top);
        const rtfLabel = dt('Real-time factor');
        return {
          rtfLabelLines: Math.round(rtfLabel.getBoundingClientRect().height / parseFloat(getComputedStyle(rtfLabel).lineHeight)),
          rtf: top('Real-time factor'),
          latency: top('Latency'),
          threads: top('Threads'),
          backend: top('Backend'),
        };
      });
      if (width === 240) {
        // Two columns: "Real-time factor" wraps onto two lines, and its value still lines up with Latency's.
        expect(rows.rtfLabelLines).toBe(2);
        expect(rows.rtf).toBe(rows.latency);
      }
      expect(rows.threads).toBe(rows.backend);
    }
    await done(page);
  });

  it('model loader: model-select with the typed URL or a file, error text, progress 45 MB of 90 MB = 50 %, busy', async () => {
    const page = await load();
    await expect(page.locator('model-loader .name').textContent()).resolves.toBe('htdemucs_6s');
    const input = page.getByLabel('Model URL');
    await input.fill('https://example.org/models/htdemucs-fp16.onnx');
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    await input.fill('models/set.json');
    await input.press('Enter');
    await page.locator('model-loader input[type=file]').setInputFiles({ name: 'tiny.onnx', mimeType: 'application/octet-stream', buffer: Buffer.alloc(1234) });
    // An empty URL is not a selection.
    await input.fill('   ');
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    expect(await page.evaluate(() => (window as unknown as W).uiTest.events)).toEqual([
      { type: 'model-select', detail: { url: 'https://example.org/models/htdemucs-fp16.onnx' } },
      { type: 'model-select', detail: { url: 'models/set.json' } },
      { type: 'model-select', detail: { file: 'tiny.onnx', size: 1234 } },
    ]);

    const alert = page.locator('model-loader [role=alert]');
    await expect(alert.textContent()).resolves.toBe('');
    await page.evaluate(() => { document.querySelector('model-loader')!.error = 'The model could not be downloaded (HTTP 404).'; });
    await expect.poll(() => alert.textContent()).toBe('The model could not be downloaded (HTTP 404).');
    await expect(alert.isVisible()).resolves.toBe(true);

    await page.evaluate(() => { document.querySelector('model-loader')!.progress = { loadedBytes: 45e6, totalBytes: 90e6 }; });
    await expect.poll(() => page.locator('model-loader .progress-text').textContent()).toBe('45.0 MB of 90.0 MB (50 %)');
    const bar = await page.locator('model-loader progress').evaluate((p: HTMLProgressElement) => ({ position: p.position, value: p.value, max: p.max }));
    expect(bar).toEqual({ position: 0.5, value: 45e6, max: 90e6 });
    // Unknown total: indeterminate (position −1), bytes only.
    await page.evaluate(() => { document.querySelector('model-loader')!.progress = { loadedBytes: 12.5e6 }; });
    await expect.poll(() => page.locator('model-loader .progress-text').textContent()).toBe('12.5 MB');
    await expect(page.locator('model-loader progress').evaluate((p: HTMLProgressElement) => p.position)).resolves.toBe(-1);

    await page.evaluate(() => { document.querySelector('model-loader')!.busy = true; });
    await expect.poll(() => page.getByRole('button', { name: 'Load', exact: true }).isDisabled()).toBe(true);
    await expect(page.getByRole('button', { name: 'Open file…' }).isDisabled()).resolves.toBe(true);
    await expect(input.isDisabled()).resolves.toBe(true);
    await done(page);
  });

  it('<stem-player> without a model says which command makes one and which attribute to set; opening a song fails with the same words', async () => {
    const page = await load();
    const noModel = '<stem-player> has no model: run `npx stemstream model web -o models/` in the page\'s folder, then set <stem-player model="models/default.json">';
    const seen = await page.evaluate(async () => {
      const player = document.createElement('stem-player');
      document.body.append(player);
      await player.updateComplete;
      const message = () => player.shadowRoot!.querySelector('[part=message]')!.textContent!.trim();
      const before = message();
      const error = await player.open('song.wav').then(() => 'opened', (e: Error) => e.message);
      await player.updateComplete;
      const after = message();
      // The control: with a model attribute the empty player asks for a song instead.
      const withModel = document.createElement('stem-player');
      withModel.setAttribute('model', 'models/default.json');
      document.body.append(withModel);
      await withModel.updateComplete;
      const control = withModel.shadowRoot!.querySelector('[part=message]')!.textContent!.trim();
      player.remove();
      withModel.remove();
      return { before, error, after, control };
    });
    expect(seen).toEqual({ before: noModel, error: noModel, after: noModel, control: 'Drop a song here, or open one' });
    await done(page);
  });

  it('Tab reaches every control in a sensible order, with a visible focus ring', async () => {
    const page = await load();
    const expected = [
      '#url', 'Load', 'Open file…', 'Play', 'Loop', 'Playback position',
      ...STEMS.flatMap((s) => [`${s} gain`, `Mute ${s}`, `Solo ${s}`]),
    ];
    const seen: string[] = [];
    for (let i = 0; i < expected.length + 4; i++) {
      await page.keyboard.press('Tab');
      const f = await focused(page);
      if (f) seen.push(f);
      if (i === 3) {
        // Keyboard focus is visible: an outline on the focused button (the play button here).
        const outline = await page.locator('stem-transport button.play').evaluate((b) => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth);
        expect(f).toBe('Play');
        expect(outline).toBe('solid 2px');
      }
    }
    // Every control, each once per cycle, in document order.
    expect(seen.slice(0, expected.length)).toEqual(expected);
    await done(page);
  });

  it('screenshots at 1280×800 and 375×800; nothing overflows at 375 px; mixer strips side by side, stacked when narrow', async () => {
    const outDir = join(root, 'test-output');
    await mkdir(outDir, { recursive: true });
    for (const width of [1280, 375]) {
      const page = await load({ width, height: 800 });
      // Show every state: a muted and a soloed stem, a loop, progress and an error.
      await page.getByRole('button', { name: 'Mute drums', exact: true }).click();
      await page.getByRole('button', { name: 'Solo vocals', exact: true }).click();
      await page.getByRole('button', { name: 'Solo bass', exact: true }).click();
      await page.locator('stem-transport button.loop').click();
      await page.evaluate(() => {
        const l = document.querySelector('model-loader')!;
        l.progress = { loadedBytes: 45e6, totalBytes: 90e6 };
        l.error = 'Could not load models/htdemucs_ft.onnx: HTTP 404 Not Found.';
      });
      await longStatus(page);
      await page.waitForTimeout(400);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      expect(await clippedStatus(page), 'engine-status labels cut off').toEqual([]);
      // Wide: strips side by side (one row); narrow: one strip per row, each fader horizontal.
      const rows = await page.locator('stem-mixer .strip').evaluateAll((els) => new Set(els.map((e) => Math.round(e.getBoundingClientRect().top))).size);
      const fader = (await page.getByRole('slider', { name: 'vocals gain', exact: true }).boundingBox())!;
      if (width === 375) {
        expect(rows).toBe(STEMS.length);
        expect(fader.width).toBeGreaterThan(fader.height * 4);
      } else {
        expect(rows).toBe(1);
        expect(fader.height).toBeGreaterThan(fader.width * 4);
      }
      await page.screenshot({ path: join(outDir, `ui-${width}x800.png`), fullPage: true });
      if (width === 1280) {
        // Keyboard focus rings, for the eye: the waveform, then a fader.
        await page.locator('stem-transport button.loop').focus();
        await page.keyboard.press('Tab');
        await page.locator('stem-transport').screenshot({ path: join(outDir, 'ui-focus-waveform.png') });
        await page.getByRole('button', { name: 'Solo bass', exact: true }).focus();
        await page.keyboard.press('Tab');
        await page.locator('stem-mixer').screenshot({ path: join(outDir, 'ui-focus-fader.png') });
      }
      await done(page);
    }
  });
});
