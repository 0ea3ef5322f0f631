/**
 * StemEngine in a real browser: `vite build` of the demo pages into a temporary
 * folder, served by `vite preview` (COOP/COEP from vite.config.ts), opened in
 * Debian's Chromium (headless, through playwright-core). The page
 * (test/pages/engine-test.ts) runs a tiny model whose stems are each input / 4 through
 * the whole real-time path (AudioWorklet, SharedArrayBuffer rings, the bundled
 * inference worker with onnxruntime-web) and measures, in one recording
 * worklet that sees the source and the outputs in the same render quanta, the
 * delay of each click to the sample.
 *
 * Needs /usr/bin/chromium (CI installs Debian's chromium); without it this test
 * fails with a message saying so, it does not skip.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build, createServer as createDevServer, preview, type PreviewServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, configFile as demoConfig, freePort, requireChromium, root, testPagesConfig as configFile, testPagesRoot } from './fixtures/demo-site.js';
import type { EngineTestResult, TrackFaultResult } from './pages/engine-test.js';
import { encodeWav } from '../src/audio/wav.js';
import { noiseInput } from '../src/model/parity.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';




async function runPage(browser: Browser, url: string): Promise<EngineTestResult> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (res) => { if (res.status() >= 400) errors.push(`HTTP ${res.status()} ${res.url()}`); });
  try {
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { engineTest?: { done: boolean } }).engineTest?.done === true, undefined, { timeout: 40_000 });
    const { error, result, log } = await page.evaluate(() => (window as unknown as { engineTest: { error?: string; result?: EngineTestResult; log: string[] } }).engineTest);
    expect(error, log.join('\n')).toBeUndefined();
    expect(errors, 'console errors').toEqual([]);
    const r = result!;
    // What was measured, for the record.
    console.log(url, JSON.stringify({
      mode: r.mode, latencySamples: r.latencySamples, delays: r.delays, runtime: r.runtime,
      vocalsRatioBefore: r.vocalsRatioBefore, vocalsAfterMute: r.vocalsAfterMute, mixRatioAfterMute: r.mixRatioAfterMute,
      underrunQuanta: r.underrunQuanta, dryFallbackQuanta: r.dryFallbackQuanta, segments: r.segments, lastRunMs: r.lastRunMs, events: r.events,
    }));
    return r;
  } finally {
    await page.close();
  }
}

/** Console lines a fault-injection page is expected to log (the injected failure itself). */
const INJECTED = /injected by the test hook|inference worker crashed|crashAfterRuns/;

/** Runs a fault-injection page (test/pages/engine-test.ts ?fault=…); returns its window.engineTest. */
async function runFaultPage(browser: Browser, url: string): Promise<{ result?: EngineTestResult; trackResult?: TrackFaultResult }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' && !INJECTED.test(m.text())) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (res) => { if (res.status() >= 400) errors.push(`HTTP ${res.status()} ${res.url()}`); });
  try {
    await page.goto(url);
    // A fresh worker starts onnxruntime-web again (compiling its wasm): seconds, more on a busy machine.
    await page.waitForFunction(() => (window as unknown as { engineTest?: { done: boolean } }).engineTest?.done === true, undefined, { timeout: 160_000 });
    const t = await page.evaluate(() => (window as unknown as { engineTest: { error?: string; result?: EngineTestResult; trackResult?: TrackFaultResult; log: string[] } }).engineTest);
    expect(t.error, t.log.join('\n')).toBeUndefined();
    expect(errors, 'console errors').toEqual([]);
    const r = t.result;
    console.log(url, JSON.stringify(r ? { segments: r.segments, lastRunMs: r.lastRunMs, framesSkipped: r.framesSkipped, delays: r.delays, wet: r.wet.map((w) => (w ? 'W' : '.')).join(''), restarts: r.workerRestarts, request: r.requestDuringRecovery, disposeMs: r.disposeMs, underrunQuanta: r.underrunQuanta, events: r.events.filter((e) => !e.startsWith('underrun')) } : t.trackResult));
    return t;
  } finally {
    await page.close();
  }
}

/**
 * A live fault run: the audio went on at the same latency (every click exactly
 * L late: the tiny model's stems sum to the input, so dry, wet or crossfading,
 * a click comes out exactly), the worker was replaced once (one restart event
 * with `code`, a recovery, no error event), wet output resumed (the last clicks
 * carry the vocals at 1/4), the request sent during the recovery resolved, and
 * dispose() did not wait out a timer.
 */
function checkFaultResult(r: EngineTestResult, code: string): void {
  const L = 9426 + 7069;
  expect(r.latencySamples).toBe(L);
  expect(r.clickCountOut).toBe(r.clicks.length);
  for (const c of r.clicks) expect(c.delay, `click ${c.index}`).toBe(L);
  expect(r.workerRestarts).toBe(1);
  const restarts = r.events.filter((e) => e.startsWith('restart '));
  expect(restarts).toHaveLength(1);
  expect(restarts[0]).toContain(`restart ${code}`);
  expect(r.events.some((e) => e.startsWith('recovered '))).toBe(true);
  expect(r.events.filter((e) => e.startsWith('error'))).toEqual([]);
  expect(r.wet.slice(0, 5).some((w) => w)).toBe(true); // wet before the fault
  // ... and again after it: five clicks in a row, after the first dry one.
  const firstDry = r.wet.indexOf(false);
  const wetRun = r.wet.findIndex((_, i) => i > firstDry && r.wet.slice(i, i + 5).length === 5 && r.wet.slice(i, i + 5).every((w) => w));
  expect(firstDry, r.wet.map((w) => (w ? 'W' : '.')).join('')).toBeGreaterThanOrEqual(0);
  expect(wetRun, r.wet.map((w) => (w ? 'W' : '.')).join('')).toBeGreaterThan(firstDry);
  expect(r.requestDuringRecovery).toBe('resolved');
  expect(r.disposeMs).toBeLessThan(1000);
}

/** Every click exactly latencySamples late; vocals = mix / 4; after the mute, vocals 0 and the mix at 3/4. */
function checkResult(r: EngineTestResult, expectedLatency: number): void {
  expect(r.crossOriginIsolated).toBe(true);
  expect(r.runtime).toBe('onnxruntime-web');
  expect(r.sources).toEqual(['drums', 'bass', 'other', 'vocals']);
  expect(r.latencySamples).toBe(expectedLatency);
  // To the sample: the recorder sees the source and the outputs in the same render quanta.
  expect(r.clicks.length).toBe(18);
  expect(r.clickCountOut).toBe(18);
  for (const c of r.clicks) expect(c.delay, `click ${c.index}`).toBe(expectedLatency);
  // The mix is the input (the stems sum to it); vocals = 1/4 of it, at the same sample, before the mute.
  expect(r.vocalsRatioBefore.length).toBeGreaterThanOrEqual(5);
  for (const v of r.vocalsRatioBefore) expect(v).toBeCloseTo(0.25, 5);
  // After the mute: vocals silent, the mix down by the vocals' share.
  expect(r.vocalsAfterMute.length).toBeGreaterThanOrEqual(5);
  for (const v of r.vocalsAfterMute) expect(Math.abs(v)).toBeLessThan(1e-6);
  for (const m of r.mixRatioAfterMute) expect(m).toBeCloseTo(0.75, 5);
  expect(r.events).toContain('ready');
}

describe('StemEngine in Chromium', () => {
  let tmp = '';
  let outDir = '';
  let server: PreviewServer | undefined;
  let dev: ViteDevServer | undefined;
  let browser: Browser | undefined;
  let base = '';
  let devBase = '';

  beforeAll(async () => {
    requireChromium();
    tmp = await mkdtemp(join(tmpdir(), 'stemstream-browser-'));
    outDir = join(tmp, 'dist');
    await build({ configFile, root: testPagesRoot, logLevel: 'warn', build: { outDir, emptyOutDir: true, rollupOptions: { input: join(testPagesRoot, 'engine-test.html') } } });
    // The demo's embed example, from the demo's own build, served beside it.
    await build({ configFile: demoConfig, root: join(root, 'demo'), logLevel: 'warn', build: { outDir, emptyOutDir: false, rollupOptions: { input: join(root, 'demo', 'embed.html') } } });
    // For the README's embed example (demo/embed.ts): a tiny model and a 4 s song.
    await writeFile(join(outDir, 'tiny.onnx'), makeDemucsLayoutModel());
    await writeFile(join(outDir, 'song.wav'), encodeWav({ sampleRate: 44100, channels: noiseInput(2, 4 * 44100, 5).audio.map((c) => c.map((v) => v * 0.3)) }, 'pcm16'));
    const port = await freePort();
    server = await preview({ configFile, root: testPagesRoot, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true, open: false } });
    base = `http://127.0.0.1:${port}`;
    const devPort = await freePort();
    // A fresh dependency cache each run: the dev server starts cold, as in CI.
    dev = await createDevServer({ configFile, root: testPagesRoot, logLevel: 'warn', cacheDir: join(tmp, 'vite-cache'), server: { host: '127.0.0.1', port: devPort, strictPort: true, open: false, hmr: false } });
    await dev.listen();
    devBase = `http://127.0.0.1:${devPort}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await dev?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('quality mode (vite build + preview): declares N + stride; every click exactly that late; stems at 1/4; mute', async () => {
    // Quality mode: N + stride = 9426 + floor(0.75 × 9426) for the tiny model.
    checkResult(await runPage(browser!, `${base}/engine-test.html`), 9426 + 7069);
  }, 60_000);

  it('low-latency mode (vite build + preview): declares hop + lookahead + margin + look-ahead, to the sample', async () => {
    // hop = lookahead = 0.05 s = 2205 frames: 3 × 2205 + 640 (the audio thread's crossfade look-ahead).
    checkResult(await runPage(browser!, `${base}/engine-test.html?mode=low-latency&hop=0.05&lookahead=0.05`), 3 * 2205 + 640);
  }, 60_000);

  it('the same page from the Vite dev server (worker, worklet and onnxruntime-web served unbundled)', async () => {
    checkResult(await runPage(browser!, `${devBase}/engine-test.html`), 9426 + 7069);
  }, 60_000);

  // ---- fault injection (issue 10): one fault per run, through StemEngine's internal test hooks ----

  it('fault: session.run throws on the only provider: the worker is replaced, the clicks stay exactly L late, wet output resumes', async () => {
    const t = await runFaultPage(browser!, `${base}/engine-test.html?fault=throw&faultAfter=6&clicks=26`);
    checkFaultResult(t.result!, 'INFERENCE_FAILED');
  }, 180_000);

  it('fault: session.run hangs: the watchdog times it out (INFERENCE_TIMEOUT), the worker is replaced, wet output resumes', async () => {
    const t = await runFaultPage(browser!, `${base}/engine-test.html?fault=hang&faultAfter=6&clicks=26`);
    checkFaultResult(t.result!, 'INFERENCE_TIMEOUT');
  }, 180_000);

  it('fault: the worker crashes (an uncaught error): WORKER_CRASHED, replaced, wet output resumes', async () => {
    const t = await runFaultPage(browser!, `${base}/engine-test.html?fault=crash&faultAfter=6&clicks=26`);
    checkFaultResult(t.result!, 'WORKER_CRASHED');
  }, 180_000);

  it('fault: the worker ends with no event at all (self.close()): the missed heartbeat notices it, replaced, wet output resumes', async () => {
    const t = await runFaultPage(browser!, `${base}/engine-test.html?fault=exit&faultAfter=6&clicks=26`);
    checkFaultResult(t.result!, 'WORKER_CRASHED');
    expect(t.result!.events.find((e) => e.startsWith('restart '))).toMatch(/missed its heartbeat/);
  }, 180_000);

  it('fault: the GPU device is lost (GPUDevice.destroy() on WebGPU, SwiftShader), WebGPU the only provider: DEVICE_LOST through the listener, a fresh worker on a fresh device', async () => {
    const gpuBrowser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
    });
    try {
      const t = await runFaultPage(gpuBrowser, `${base}/engine-test.html?fault=lose&faultAfter=6&clicks=26&eps=webgpu`);
      checkFaultResult(t.result!, 'DEVICE_LOST');
      expect(t.result!.events.find((e) => e.startsWith('restart '))).toMatch(/GPU device was lost \(destroyed/);
    } finally {
      await gpuBrowser.close();
    }
  }, 180_000);

  it('backend fallback mid-stream: WebGPU (SwiftShader) fails after one run, the worker reloads on WASM and re-runs the segment; every click on time, the stems exact, no restart', async () => {
    const gpuBrowser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
    });
    try {
      const r = await runPage(gpuBrowser, `${base}/engine-test.html?failRunsAfter=1&eps=webgpu,wasm`);
      checkResult(r, 9426 + 7069);
      expect(r.events.filter((e) => e.startsWith('backend-fallback'))).toEqual([expect.stringMatching(/^backend-fallback webgpu → wasm: .*device lost \(injected by the test's failRunsAfter\)/)]);
      expect(r.backend).toBe('wasm');
      expect(r.workerRestarts).toBe(0);
    } finally {
      await gpuBrowser.close();
    }
  }, 180_000);

  it('fault, track mode: the worker crashes while an export is pending; the export still comes, exact, and dry playback is reported as underruns', async () => {
    const t = await runFaultPage(browser!, `${base}/engine-test.html?input=track&fault=crash&faultAfter=3`);
    const r = t.trackResult!;
    expect(r.exported).toBe('resolved');
    expect(r.vocalsError).toBeLessThan(1e-6); // stems = input / 4 (float32 WAV; the overlap-add rounds), 0 at the NaN and the Infinity
    expect(r.events.filter((e) => e.startsWith('warning '))).toEqual([expect.stringMatching(/^warning 2 in the track, 2 samples were NaN or infinite \(the first at 0\.02 s, channel 1\)/)]);
    expect(r.workerRestarts).toBe(1);
    expect(r.events.filter((e) => e.startsWith('restart '))).toHaveLength(1);
    expect(r.events.filter((e) => e.startsWith('error'))).toEqual([]);
    expect(r.underrunQuanta).toBeGreaterThan(0); // it played before the stems were ready ...
    expect(r.events.some((e) => e.startsWith('underrun '))).toBe(true); // ... and said so
    expect(r.disposeMs).toBeLessThan(1000);
  }, 180_000);

  it("the README's embed example (demo/embed.ts) separates a song in track mode with the vocals muted and a mixer", async () => {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(`${base}/embed.html?model=/tiny.onnx&song=/song.wav`);
      await page.click('#go');
      await page.waitForFunction(() => 'embedEngine' in window || 'embedError' in window, undefined, { timeout: 40_000 });
      const r = await page.evaluate(async () => {
        const w = window as unknown as { embedError?: string; embedEngine?: import('../src/engine/host/stem-engine.js').TrackStemEngine };
        if (w.embedError) return { error: w.embedError };
        const e = w.embedEngine!;
        const p0 = e.position;
        await new Promise((res) => setTimeout(res, 1500));
        const mixer = document.getElementById('mixer')!;
        return {
          sourceKind: e.sourceKind,
          latency: e.latencySamples,
          duration: e.duration,
          advanced: e.position - p0,
          playing: e.playing,
          vocals: e.stemState('vocals'),
          strips: mixer.shadowRoot?.querySelectorAll('[aria-label^="Mute "]').length ?? 0,
          ready: Array.from(e.readyMap(4)),
        };
      });
      expect(r.error).toBeUndefined();
      expect(r).toMatchObject({ sourceKind: 'track', latency: 0, playing: true, vocals: { muted: true }, strips: 4 });
      expect(r.duration).toBeCloseTo(4, 5);
      expect(r.advanced).toBeGreaterThan(1);
      expect(r.ready).toEqual([1, 1, 1, 1]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('live input from the (fake) microphone: every click exactly latencySamples late in the mix, stems at 1/4, mute', async () => {
    // The click train of test/pages/engine-test.ts (spacing 8821 + 37 k, 18 clicks at 0.8), as the fake capture file.
    const SR = 44100;
    const length = 8821 * 19;
    const ch = new Float32Array(length);
    for (let k = 0; k < 18; k++) ch[8821 * (k + 1) + 37 * k] = 0.8;
    const wav = join(tmp, 'clicks.wav');
    await writeFile(wav, encodeWav({ sampleRate: SR, channels: [ch, ch] }, 'pcm16'));
    const micBrowser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`],
    });
    try {
      const r = await runPage(micBrowser, `${base}/engine-test.html?source=mic`);
      expect(r.source).toBe('mic');
      expect(r.crossOriginIsolated).toBe(true);
      const L = 9426 + 7069;
      expect(r.latencySamples).toBe(L);
      // The file loops; clicks whose output fell inside the recording must all be exactly L late.
      const measured = r.clicks.filter((c) => c.mixFrame >= 0);
      expect(measured.length).toBeGreaterThanOrEqual(10);
      for (const c of measured) expect(c.delay, `click ${c.index}`).toBe(L);
      // Clicks on both sides of the mute, so that the loops below assert something.
      expect(r.vocalsRatioBefore.length, 'clicks before the mute').toBeGreaterThan(0);
      expect(r.vocalsAfterMute.length, 'clicks after the mute').toBeGreaterThan(0);
      for (const v of r.vocalsRatioBefore) expect(v).toBeCloseTo(0.25, 5);
      for (const v of r.vocalsAfterMute) expect(Math.abs(v)).toBeLessThan(1e-6);
    } finally {
      await micBrowser.close();
    }
  }, 90_000);
});
