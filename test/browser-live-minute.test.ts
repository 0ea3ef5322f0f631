/**
 * A minute of live input through the real-time engine with real sizes, in
 * Chromium: the real-geometry stand-in (htdemucs.onnx's exact tensor names and
 * shapes, segment 343 980 frames, 4 stems, stereo; negligible compute) in live
 * quality mode (latency N + stride = 343 980 + 257 985 = 601 965 frames,
 * 13.65 s), fed by a fake microphone playing a WAV of clicks (one a second at
 * non-round frames, low noise between). The page (test/pages/live-minute-test.ts)
 * records the microphone node, engine.output and the vocals stem in the same
 * render quanta, so each click's delay is measured to the sample whatever the
 * fake device's start offset; the recording covers 60 s of clicks plus the
 * latency. Every click of the minute must come out exactly latencySamples late,
 * through the stems (not the dry fallback), with no underrun.
 *
 * `vite build` of that one page into a temporary folder, `vite preview` of it
 * (COOP/COEP), Debian's Chromium with a fake capture device. About 80 s of audio
 * in real time, 1.5 to 2 minutes in all. Needs /usr/bin/chromium; without it this test fails, it does not skip.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveMinuteResult } from './pages/live-minute-test.js';
import { encodeWav } from '../src/audio/wav.js';
import { qualityLatency } from '../src/engine/host/latency.js';
import { buildPage, launchChromium, previewSite, requireChromium, watchErrors } from './fixtures/demo-site.js';
import { REAL_SEGMENT } from './fixtures/tiny-models.js';

const SR = 44100;
const SECONDS = 60;
const CLICK = 0.8;
const NOISE = 0.01;
/** The fake capture file: longer than the run (it loops; the pairing below would survive a loop, but none is needed). */
const WAV_SECONDS = 100;
/** As in the page: a click's peak is searched this far after its threshold crossing. */
const PEAK_WINDOW = 64;

/** One click a second, at non-round frames (varying offsets within the render quantum), low noise between. */
function clickTrain(): Float32Array {
  const length = WAV_SECONDS * SR;
  const channel = new Float32Array(length);
  let seed = 12345;
  for (let i = 0; i < length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    channel[i] = NOISE * ((seed / 2 ** 32) * 2 - 1);
  }
  for (let k = 0; ; k++) {
    const f = 20011 + SR * k + ((k * 977) % 311);
    if (f >= length) break;
    channel[f] = CLICK;
  }
  return channel;
}

describe('StemEngine in Chromium, a minute of live input, real geometry', () => {
  let tmp = '';
  let server: PreviewServer | undefined;
  let base = '';
  let wav = '';

  beforeAll(async () => {
    requireChromium();
    tmp = await mkdtemp(join(tmpdir(), 'stemstream-live-minute-'));
    const outDir = join(tmp, 'dist');
    await buildPage('live-minute-test.html', outDir, 'test');
    ({ server, base } = await previewSite(outDir, 'test'));
    const channel = clickTrain();
    wav = join(tmp, 'clicks-minute.wav');
    await writeFile(wav, encodeWav({ sampleRate: SR, channels: [channel, channel] }, 'pcm16'));
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('streams 60 s of fake-microphone clicks through the real-geometry stand-in: every click exactly latencySamples late, no underruns', async () => {
    const started = Date.now();
    const browser = await launchChromium(['--disable-gpu', '--autoplay-policy=no-user-gesture-required',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`]);
    let r: LiveMinuteResult;
    try {
      const page = await browser.newPage();
      const errors = watchErrors(page);
      await page.goto(`${base}/live-minute-test.html?seconds=${SECONDS}`);
      await page.waitForFunction(() => (window as unknown as { liveMinute?: { done: boolean } }).liveMinute?.done === true, undefined, { timeout: 420_000, polling: 1000 });
      const state = await page.evaluate(() => (window as unknown as { liveMinute: { error?: string; result?: LiveMinuteResult; log: string[] } }).liveMinute);
      expect(state.error, state.log.join('\n')).toBeUndefined();
      expect(errors, 'console errors').toEqual([]);
      r = state.result!;
    } finally {
      await browser.close();
    }
    const wallS = (Date.now() - started) / 1000;

    const L = r.latencySamples;
    const measurable = r.inClicks.filter((f) => f + L + PEAK_WINDOW < r.frames);
    const out = r.outClicks.filter((f) => f + PEAK_WINDOW < r.frames);
    const delays = measurable.map((f, k) => (k < out.length ? out[k] - f : Number.NaN));
    const gaps = measurable.slice(1).map((f, k) => f - measurable[k]);
    const spanS = measurable.length > 0 ? (measurable[measurable.length - 1] - measurable[0]) / SR : 0;
    console.log('live minute, real geometry:', JSON.stringify({
      clicksMeasured: measurable.length, clicksOut: out.length, spanS: Number(spanS.toFixed(3)),
      latencySamples: L, delaysDistinct: [...new Set(delays)],
      underrunQuanta: r.underrunQuanta, dryFallbackQuanta: r.dryFallbackQuanta, framesSkipped: r.framesSkipped,
      inputOverflowQuanta: r.inputOverflowQuanta, inputFramesDropped: r.inputFramesDropped,
      segments: r.segments, segmentsSkipped: r.segmentsSkipped, lastRunMs: r.lastRunMs, realTimeFactor: r.realTimeFactor,
      sourceClickGaps: [Math.min(...gaps), Math.max(...gaps)],
      mixResidual: r.mixResidual, vocalsResidual: r.vocalsResidual, mixBeforeLatency: r.mixBeforeLatency,
      vocalsRatio: [Math.min(...r.vocalsRatio), Math.max(...r.vocalsRatio)], vocalsGain: r.vocalsGain,
      backend: r.backend, microphone: r.microphone, recordedS: Number((r.frames / SR).toFixed(2)),
      pageWallS: Number((r.wallMs / 1000).toFixed(1)), testWallS: Number(wallS.toFixed(1)), events: r.events,
    }));
    console.log('residual:', JSON.stringify({ streamOffset: r.streamOffset, residualFrom: r.residualFrom, startResidual: r.startResidual, micStartStreamFrame: r.micStartStreamFrame, worst: r.worst }));
    console.log('timeline:', JSON.stringify(r.timeline));

    expect(r.crossOriginIsolated).toBe(true);
    expect(r.runtime).toBe('onnxruntime-web');
    expect(r.sources).toEqual(['drums', 'bass', 'other', 'vocals']);
    expect(r.segmentSamples).toBe(REAL_SEGMENT);
    // Quality mode: a segment plus a stride (343 980 + 257 985).
    expect(L).toBe(qualityLatency(REAL_SEGMENT, 0.25));
    expect(L).toBe(601965);

    // The source: clicks over at least a minute of input. Not one every second to the
    // sample: the fake capture device's path into the AudioContext drops audio when the
    // machine is loaded (gaps of 0.35 to 2.4 s between delivered clicks were seen on 2
    // busy cores). The delays below are measured on what that path delivered, so they
    // are exact regardless.
    expect(measurable.length).toBeGreaterThanOrEqual(50);
    expect(spanS).toBeGreaterThanOrEqual(SECONDS);

    // Every click of the minute, in order, exactly L late in the mix; no click missing or extra there.
    expect(out.length).toBe(measurable.length);
    expect(delays).toEqual(measurable.map(() => L));
    // Through the stems, not the dry fallback: the vocals stem carries its gain's share of each click.
    expect(r.vocalsRatio.length).toBe(r.outClicks.length);
    for (const [k, v] of r.vocalsRatio.entries()) expect(v, `vocals / mix at out click ${k}`).toBeCloseTo(r.vocalsGain, 4);
    // Sample by sample over the whole recording (from the engine's stream frame 4096 on:
    // LiveMinuteResult.residualFrom): mix = source and vocals = gain × source, L later, up
    // to Demucs' own reconstruction error (its _ispec drops the Nyquist bin and attenuates
    // a segment's first and last ~1.5k samples, which the overlap-add weights almost but
    // not quite hide): for a 0.8 click at worst 1.05e-3 (separate() offline, the click
    // swept across a segment edge), 2e-4 away from the edges, plus the noise's share.
    // A frame slipped or lost would be off by the noise (0.01) or a click (0.8); so would
    // the vocals stem under the dry fallback (silent there, while the mix falls back to
    // the delayed input, which here equals the stems' sum).
    expect(r.mixResidual, `worst at source frame ${r.mixResidualAt}`).toBeLessThan(3e-3);
    expect(r.vocalsResidual, `worst at source frame ${r.vocalsResidualAt}`).toBeLessThan(1.2e-3);
    // Nothing comes out before the latency.
    expect(r.mixBeforeLatency).toBe(0);

    // No underrun and no stand-in for late stems over the whole run.
    expect(r.underrunQuanta).toBe(0);
    expect(r.dryFallbackQuanta).toBe(0);
    expect(r.framesSkipped).toBe(0);
    expect(r.segmentsSkipped).toBe(0);
    expect(r.inputOverflowQuanta).toBe(0);
    expect(r.events.filter((e) => !e.startsWith('ready'))).toEqual([]);
  }, 600_000);
});
