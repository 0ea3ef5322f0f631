/**
 * The page test/browser-live-minute.test.ts drives: StemEngine in live quality
 * mode with the real-geometry stand-in (makeRealGeometryStandIn: htdemucs.onnx's
 * exact tensor names and shapes, segment 343 980 frames, 4 stems, stereo, and
 * negligible compute; default gains: the spectrogram branch only, the stems
 * summing back to the mix), fed from the microphone for a minute or more. The
 * test runs Chromium with a fake capture device playing a WAV of clicks (one a
 * second, low noise between).
 *
 * A recording AudioWorklet takes, in the same render quanta, the microphone node
 * itself (input 0), engine.output (input 1) and engine.stem('vocals') (input 2),
 * so the delay of every click is measured to the sample, whatever the fake
 * device's start offset. The recording covers `?seconds=` (default 60) of input
 * after the first click, plus the engine's latency. Results go to
 * `window.liveMinute`; the test does the assertions.
 */
import { StemEngine } from '../../src/engine/host/stem-engine.js';
import { segmentStride } from '../../src/separate/segmentation.js';
import { defaultSpecGains, makeRealGeometryStandIn } from '../fixtures/tiny-models.js';
import { createTestRecorder } from './test-recorder.js';

const SR = 44100;
/** Clicks are found in the source and the mix above this (the WAV's clicks are 0.8, its noise ≤ 0.01). */
const THRESHOLD = 0.25;
/** Frames after a threshold crossing searched for the click's peak. */
const PEAK_WINDOW = 64;
/** Frames skipped after a click before looking for the next (clicks are ~1 s apart). */
const CLICK_GAP = 4096;
/** The residuals skip the engine's stream frames below this (LiveMinuteResult.residualFrom). */
const STREAM_START_SKIP = 4096;

export interface LiveMinuteSample {
  /** Recorded frames at the time of the sample. */
  at: number;
  underrunQuanta: number;
  dryFallbackQuanta: number;
  segments: number;
  segmentsSkipped: number;
  readyAheadSeconds: number;
  realTimeFactor: number;
}

export interface LiveMinuteResult {
  crossOriginIsolated: boolean;
  microphone: string;
  latencySamples: number;
  segmentSamples: number;
  sources: string[];
  runtime: string;
  backend: string;
  /** Frames recorded (the same for every input). */
  frames: number;
  /** Peak frames of the clicks in the source (input 0) and in the mix (input 1), in order. */
  inClicks: number[];
  outClicks: number[];
  /** At each out click: vocals / mix (the stand-in's vocals gain on channel 0 if the stems, not the dry input, play). */
  vocalsRatio: number[];
  vocalsGain: number;
  /**
   * max |mix[t + L] − src[t]| and max |vocals[t + L] − g·src[t]| over every recorded
   * t ≥ residualFrom with t + L recorded.
   */
  mixResidual: number;
  mixResidualAt: number;
  vocalsResidual: number;
  vocalsResidualAt: number;
  /**
   * The engine's input-stream frame of recorded frame 0 (its segments start at
   * multiples of the stride in that stream), and where the worst mix residual
   * lies: its stream frame, and the source clicks within 8192 frames of it.
   */
  streamOffset: number;
  /**
   * The first recorded frame the residuals cover: the engine's stream frame
   * STREAM_START_SKIP. Demucs' _ispec attenuates the first 1536 samples of every
   * segment (by half at sample 0; the overlap-add weights hide it everywhere but
   * at the start of the stream, which only the first segment covers), so the
   * stream's first frames come out attenuated, as the start of a track does offline.
   */
  residualFrom: number;
  /** max |mix[t + L] − src[t]| over t < residualFrom (reported, not a defect of the engine). */
  startResidual: number;
  /** The engine's stream frame of the microphone's first non-zero sample. */
  micStartStreamFrame: number;
  worst: { streamFrame: number; sinceSegmentStart: number; toSegmentEnd: number; clicksNear: { rel: number; value: number }[] };
  /** max |mix| over the first L recorded frames (before any input can come out). */
  mixBeforeLatency: number;
  underrunQuanta: number;
  dryFallbackQuanta: number;
  framesSkipped: number;
  inputOverflowQuanta: number;
  inputFramesDropped: number;
  segments: number;
  segmentsSkipped: number;
  lastRunMs: number;
  realTimeFactor: number;
  timeline: LiveMinuteSample[];
  events: string[];
  /** From getUserMedia to the end of the recording, ms. */
  wallMs: number;
}

declare global {
  interface Window {
    liveMinute: { done: boolean; error?: string; result?: LiveMinuteResult; log: string[] };
  }
}

window.liveMinute = { done: false, log: [] };
const logEl = document.getElementById('log');
function log(line: string): void {
  window.liveMinute.log.push(line);
  if (logEl) logEl.textContent += line + '\n';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Peak frames of the clicks in x: the largest |x| within PEAK_WINDOW of each threshold crossing. */
function findClicks(x: Float32Array): number[] {
  const at: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(x[i]) > THRESHOLD) {
      let best = i;
      for (let j = i + 1; j < Math.min(x.length, i + PEAK_WINDOW); j++) if (Math.abs(x[j]) > Math.abs(x[best])) best = j;
      at.push(best);
      i += CLICK_GAP;
    }
  }
  return at;
}

async function run(): Promise<LiveMinuteResult> {
  const params = new URLSearchParams(location.search);
  const seconds = params.has('seconds') ? Number(params.get('seconds')) : 60;
  log(`crossOriginIsolated = ${crossOriginIsolated}`);
  const model = makeRealGeometryStandIn();
  const vocalsGain = defaultSpecGains(4, 2)[3][0];
  const ctx = new AudioContext({ sampleRate: SR, latencyHint: 'interactive' });
  await ctx.resume();
  const events: string[] = [];
  const engine = await StemEngine.create(ctx, { model, mode: 'quality', sourceKind: 'live', backend: 'wasm', pollIntervalMs: 100 });
  engine.addEventListener('ready', () => events.push('ready'));
  engine.addEventListener('underrun', (e) => events.push(`underrun ${e.detail.underrunQuanta}`));
  engine.addEventListener('error', (e) => events.push(`error ${e.detail.error.message}`));
  engine.addEventListener('backend-fallback', (e) => events.push(`backend-fallback ${e.detail.from} → ${e.detail.to}: ${e.detail.reason}`));
  const L = engine.latencySamples;
  log(`engine ready: segment ${engine.model.segmentSamples}, sources ${engine.sources.join(',')}, latency ${L} frames, runtime ${engine.runtime}`);

  // The first click comes within a second or so of the microphone's start; then
  // `seconds` of clicks (and a few more, in case the capture path drops the last),
  // each of whose output must be in the recording.
  const frames = Math.ceil((seconds + 5) * SR) + L;
  const { node: recorder, head, data } = await createTestRecorder(ctx, 3, frames);

  const t0 = performance.now();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 2 } });
  const mic = new MediaStreamAudioSourceNode(ctx, { mediaStream: stream });
  const microphone = stream.getAudioTracks()[0]?.label ?? '';
  log(`microphone: ${microphone}; recording ${frames} frames (${(frames / SR).toFixed(1)} s)`);
  engine.connectInput(mic);
  mic.connect(recorder, 0, 0);
  engine.output.connect(recorder, 0, 1);
  engine.stem('vocals').connect(recorder, 0, 2);

  // The engine's stream frame minus the recorder's frame, read together (the mode:
  // a render quantum may end between the two reads).
  const offsets = new Map<number, number>();
  const readOffset = () => {
    const a = engine.stats.inputStreamFrames;
    const h = Atomics.load(head, 0);
    if (engine.stats.inputStreamFrames === a && h > 0) offsets.set(a - h, (offsets.get(a - h) ?? 0) + 1);
  };
  const timeline: LiveMinuteSample[] = [];
  // A hang guard, not a timing check: a loaded machine renders slower than real time.
  const deadline = performance.now() + 3 * (frames / SR) * 1000 + 60_000;
  let nextSample = 0;
  while (Atomics.load(head, 0) < frames) {
    if (performance.now() > deadline) throw new Error(`recording stalled at frame ${Atomics.load(head, 0)} of ${frames} (AudioContext ${ctx.state})`);
    const at = Atomics.load(head, 0);
    if (at >= nextSample) {
      const s = engine.stats;
      timeline.push({
        at,
        underrunQuanta: s.underrunQuanta,
        dryFallbackQuanta: s.dryFallbackQuanta,
        segments: s.worker.segments,
        segmentsSkipped: s.worker.segmentsSkipped,
        readyAheadSeconds: s.worker.readyAheadSeconds,
        realTimeFactor: s.worker.realTimeFactor,
      });
      nextSample = at + 5 * SR;
    }
    readOffset();
    await sleep(50);
  }
  const wallMs = performance.now() - t0;
  const stats = engine.stats;
  stream.getTracks().forEach((t) => t.stop());
  await engine.dispose();
  await ctx.close();

  const src = data.subarray(0, frames);
  const mix = data.subarray(frames, 2 * frames);
  const vocals = data.subarray(2 * frames, 3 * frames);
  const inClicks = findClicks(src);
  const outClicks = findClicks(mix);
  const streamOffset = [...offsets.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] ?? Number.NaN;
  // The residual, from the engine's stream frame STREAM_START_SKIP on (see residualFrom).
  const residualFrom = Math.max(0, STREAM_START_SKIP - (Number.isFinite(streamOffset) ? streamOffset : 0));
  let mixResidual = 0;
  let mixResidualAt = -1;
  let vocalsResidual = 0;
  let vocalsResidualAt = -1;
  let startResidual = 0;
  for (let t = 0; t + L < frames; t++) {
    const e = Math.abs(mix[t + L] - src[t]);
    if (t < residualFrom) {
      startResidual = Math.max(startResidual, e);
      continue;
    }
    if (e > mixResidual) { mixResidual = e; mixResidualAt = t; }
    const v = Math.abs(vocals[t + L] - vocalsGain * src[t]);
    if (v > vocalsResidual) { vocalsResidual = v; vocalsResidualAt = t; }
  }
  const N = engine.model.segmentSamples;
  const stride = segmentStride(N, 0.25);
  const wf = mixResidualAt + streamOffset;
  const worst = {
    streamFrame: wf,
    sinceSegmentStart: wf % stride,
    toSegmentEnd: (((N - wf) % stride) + stride) % stride,
    clicksNear: inClicks.filter((c) => Math.abs(c - mixResidualAt) < 8192).map((c) => ({ rel: c - mixResidualAt, value: src[c] })),
  };
  let firstSound = 0;
  while (firstSound < frames && src[firstSound] === 0) firstSound++;
  const micStartStreamFrame = firstSound + streamOffset;
  log(`stream offset ${streamOffset} (${JSON.stringify([...offsets.entries()])}); microphone's first sound at stream frame ${micStartStreamFrame}; worst ${JSON.stringify(worst)}`);
  let mixBeforeLatency = 0;
  for (let t = 0; t < Math.min(L, frames); t++) mixBeforeLatency = Math.max(mixBeforeLatency, Math.abs(mix[t]));
  log(`clicks: ${inClicks.length} in, ${outClicks.length} out; residual mix ${mixResidual} vocals ${vocalsResidual}`);
  return {
    crossOriginIsolated,
    microphone,
    latencySamples: L,
    segmentSamples: engine.model.segmentSamples,
    sources: [...engine.sources],
    runtime: engine.runtime,
    backend: stats.worker.backend,
    frames,
    inClicks,
    outClicks,
    vocalsRatio: outClicks.map((f) => vocals[f] / mix[f]),
    vocalsGain,
    mixResidual,
    mixResidualAt,
    vocalsResidual,
    vocalsResidualAt,
    streamOffset,
    residualFrom,
    startResidual,
    micStartStreamFrame,
    worst,
    mixBeforeLatency,
    underrunQuanta: stats.underrunQuanta,
    dryFallbackQuanta: stats.dryFallbackQuanta,
    framesSkipped: stats.framesSkipped,
    inputOverflowQuanta: stats.inputOverflowQuanta,
    inputFramesDropped: stats.inputFramesDropped,
    segments: stats.worker.segments,
    segmentsSkipped: stats.worker.segmentsSkipped,
    lastRunMs: stats.worker.lastRunMs,
    realTimeFactor: stats.worker.realTimeFactor,
    timeline,
    events,
    wallMs,
  };
}

run().then(
  (result) => {
    window.liveMinute.result = result;
    window.liveMinute.done = true;
  },
  (err: unknown) => {
    window.liveMinute.error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    window.liveMinute.done = true;
    log(`FAILED: ${window.liveMinute.error}`);
  },
);
