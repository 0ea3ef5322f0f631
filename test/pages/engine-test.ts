/**
 * The page test/browser-engine.test.ts drives: a tiny demucs-layout model made
 * in the page (time branch only, wave gain 0.25 on every stem, so each stem is
 * exactly input / 4 and the stems sum to the input), a real AudioContext at
 * 44.1 kHz, StemEngine in quality mode, a click train in, and a recording
 * AudioWorklet that takes, in the same render quanta, the source itself
 * (input 0), engine.output (input 1) and engine.stem('vocals') (input 2): the
 * delay of a click between input 0 and input 1 is therefore measured to the
 * sample, independent of when the recording or the source started.
 * Half way through, 'vocals' is muted. Results go to `window.engineTest`.
 *
 * ?source=mic takes the click train from the microphone instead (the test runs
 * Chromium with a fake capture device playing a WAV of the same clicks, on a
 * loop): the recorder sees the MediaStreamAudioSourceNode's output, so the delay
 * is still measured to the sample.
 *
 * Fault injection, through the model-loading seam: the page starts the test
 * worker (test-worker-web.ts, StemEngine's `workerUrl`) with the fault in its
 * URL, and short watchdog limits. ?fault=throw|hang|crash|exit&faultAfter=N makes the inference
 * worker's session fail after N runs (throw: session.run throws; hang: it never
 * settles; crash: an uncaught error in the worker; exit: the worker closes
 * itself with no event, noticed by the missed heartbeat). The mute is skipped
 * then; the page records whether each click came out wet (the vocals stem
 * carries it at 1/4) or dry, the restart and recovery events, whether a request
 * sent during the recovery (setModel) settles, and how long dispose() takes.
 * ?fault=lose&eps=webgpu destroys the session's GPUDevice (its loss arrives
 * through the worker's GPUDevice.lost listener) with no provider to fall back to.
 * ?input=track&fault=… runs track mode instead: a track is loaded and played,
 * its stems exported while the worker fails (the export must still come, equal
 * to input / 4), and dry playback counted as underruns.
 */
import { StemEngine } from '../../src/engine/host/stem-engine.js';
import testWorkerUrl from './test-worker-web.ts?worker&url';
import { makeDemucsLayoutModel } from '../fixtures/tiny-models.js';
import { createTestRecorder } from './test-recorder.js';

const SR = 44100;
const CLICK = 0.8;
/** Frames between clicks (not a multiple of 128, so clicks land at varied quantum offsets). */
const CLICK_SPACING = 8821;
const PARAMS = new URLSearchParams(location.search);
const CLICKS = PARAMS.has('clicks') ? Number(PARAMS.get('clicks')) : 18;
/** The source starts this long after the engine: its first segment (silence) warms up the worker. */
const SOURCE_DELAY_S = 0.6;
/** Mute 'vocals' once the recording has passed the output of this click. */
const MUTE_AFTER_CLICK = 8;
/** Clicks whose output comes this many frames after the mute call are checked as muted. */
const MUTE_SETTLE = 4096;

export interface ClickResult {
  index: number;
  inputFrame: number;
  mixFrame: number;
  delay: number;
  mixPeak: number;
  vocalsPeak: number;
  muted: boolean | null;
}

export interface EngineTestResult {
  mode: string;
  source: 'buffer' | 'mic';
  crossOriginIsolated: boolean;
  latencySamples: number;
  sources: string[];
  runtime: string;
  /** The provider that ran the last segment (status().backend). */
  backend: string;
  clicks: ClickResult[];
  /** Clicks found in the mix (should equal the clicks in). */
  clickCountOut: number;
  delays: number[];
  vocalsRatioBefore: number[];
  vocalsAfterMute: number[];
  mixRatioAfterMute: number[];
  underrunQuanta: number;
  dryFallbackQuanta: number;
  framesSkipped: number;
  segments: number;
  lastRunMs: number;
  muteAtFrame: number;
  events: string[];
  /** Fault runs: the fault injected, whether each click came out wet, the worker restarts, a request sent meanwhile, dispose time. */
  fault?: string;
  wet: boolean[];
  workerRestarts: number;
  requestDuringRecovery?: string;
  disposeMs: number;
}

export interface TrackFaultResult {
  fault: string;
  events: string[];
  workerRestarts: number;
  underrunQuanta: number;
  /** The export requested while the worker failed: its outcome, and the largest |vocals − input / 4|. */
  exported: string;
  vocalsError: number;
  exportMs: number;
  disposeMs: number;
}

/**
 * For ?fault=… or ?failRunsAfter=…: the test worker with them in its URL, and
 * short watchdog limits (a public option).
 */
function faultOptions(): { name: string; options: { workerUrl: string; watchdog: { firstRunMs: number; minMs: number; heartbeatTimeoutMs: number; pollMs: number } } } | undefined {
  const name = PARAMS.get('fault') ?? (PARAMS.has('failRunsAfter') ? 'failover' : undefined);
  if (!name) return undefined;
  const query = new URLSearchParams();
  for (const key of ['fault', 'faultAfter', 'failRunsAfter']) {
    const v = PARAMS.get(key);
    if (v !== null) query.set(key, v);
  }
  return { name, options: { workerUrl: `${testWorkerUrl}?${query}`, watchdog: { firstRunMs: 30_000, minMs: 300, heartbeatTimeoutMs: 500, pollMs: 50 } } };
}

declare global {
  interface Window {
    engineTest: { done: boolean; error?: string; result?: EngineTestResult; trackResult?: TrackFaultResult; log: string[] };
  }
}

window.engineTest = { done: false, log: [] };
const logEl = document.getElementById('log');
function log(line: string): void {
  window.engineTest.log.push(line);
  if (logEl) logEl.textContent += line + '\n';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function firstAbove(x: Float32Array, from: number, to: number, threshold: number): number {
  for (let i = Math.max(0, from); i < Math.min(to, x.length); i++) if (Math.abs(x[i]) > threshold) return i;
  return -1;
}

async function run(): Promise<EngineTestResult> {
  log(`crossOriginIsolated = ${crossOriginIsolated}`);
  // Time branch only: every stem = 0.25 × input, exactly (0.25 is a power of two).
  const model = makeDemucsLayoutModel({
    specGains: [[0, 0], [0, 0], [0, 0], [0, 0]],
    waveGains: [[0.25, 0.25], [0.25, 0.25], [0.25, 0.25], [0.25, 0.25]],
  });
  const ctx = new AudioContext({ sampleRate: SR, latencyHint: 'interactive' });
  await ctx.resume();
  const events: string[] = [];
  // ?mode=low-latency&hop=0.05&lookahead=0.05 (seconds) tests the other mode; quality by default.
  const params = PARAMS;
  const mode = params.get('mode') === 'low-latency' ? 'low-latency' : 'quality';
  const hop = params.has('hop') ? Number(params.get('hop')) : undefined;
  const lookahead = params.has('lookahead') ? Number(params.get('lookahead')) : undefined;
  const faultRun = faultOptions();
  // ?failRunsAfter=N&eps=webgpu,wasm: the first provider fails mid-stream and the engine falls back, a normal run otherwise.
  const fault = faultRun?.name === 'failover' ? undefined : faultRun;
  const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
  // ?eps=webgpu: WebGPU only (no WASM to fall back to), for the GPUDevice.lost fault.
  const executionProviders = params.has('eps') ? params.get('eps')!.split(',') : undefined;
  const engine = await StemEngine.create(ctx, { model, mode, hop, lookahead, threads, executionProviders, pollIntervalMs: 100, ...faultRun?.options });
  engine.addEventListener('ready', () => events.push('ready'));
  engine.addEventListener('backend-fallback', (e) => events.push(`backend-fallback ${e.detail.from} → ${e.detail.to}: ${e.detail.reason}`));
  engine.addEventListener('underrun', (e) => events.push(`underrun ${e.detail.underrunQuanta}`));
  engine.addEventListener('error', (e) => events.push(`error ${(e.detail.error as { code?: string }).code ?? ''} ${e.detail.error.message}`));
  // A request sent while the worker is being replaced must still settle.
  let requestDuringRecovery: string | undefined;
  let recoveredAtFrame = -1;
  let scanFrom = 0;
  let wetSeen = 0;
  let wetSeenEnd = -1;
  engine.addEventListener('restart', (e) => {
    events.push(`restart ${(e.detail.error as { code?: string }).code} ${e.detail.error.message}`);
    requestDuringRecovery = 'pending';
    engine.setModel(model).then(() => { requestDuringRecovery = 'resolved'; }, (err: Error) => { requestDuringRecovery = `rejected: ${err.message}`; });
  });
  engine.addEventListener('recovered', (e) => events.push(`recovered ${Math.round(e.detail.ms)} ms`));
  const L = engine.latencySamples;
  log(`engine ready (${mode}): sources ${engine.sources.join(',')}, latency ${L} frames, runtime ${engine.runtime}`);

  // The click train: stereo, one-sample clicks.
  const sourceFrames = CLICK_SPACING * (CLICKS + 1);
  const buffer = new AudioBuffer({ length: sourceFrames, numberOfChannels: 2, sampleRate: SR });
  const clickFrames = Array.from({ length: CLICKS }, (_, k) => CLICK_SPACING * (k + 1) + 37 * k);
  for (let c = 0; c < 2; c++) {
    const ch = buffer.getChannelData(c);
    for (const f of clickFrames) ch[f] = CLICK;
  }

  // A fault run records until the worker has recovered and a few seconds more
  // (a fresh worker starts onnxruntime-web again: seconds), the click train looping.
  const frames = fault ? 90 * SR : Math.ceil((SOURCE_DELAY_S + 0.5) * SR) + sourceFrames + L + SR;
  const { node: recorder, head, data } = await createTestRecorder(ctx, 3, frames);

  const fromMic = params.get('source') === 'mic';
  let source: AudioNode;
  let stopSource: () => void;
  if (fromMic) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 2 } });
    source = new MediaStreamAudioSourceNode(ctx, { mediaStream: stream });
    stopSource = () => stream.getTracks().forEach((t) => t.stop());
    log(`microphone: ${stream.getAudioTracks()[0]?.label}`);
  } else {
    const node = new AudioBufferSourceNode(ctx, { buffer, loop: fault !== undefined });
    node.start(ctx.currentTime + SOURCE_DELAY_S);
    source = node;
    stopSource = () => node.stop();
  }
  engine.connectInput(source);
  source.connect(recorder, 0, 0);
  engine.output.connect(recorder, 0, 1);
  engine.stem('vocals').connect(recorder, 0, 2);

  // Wait for the source's first click in the recording, then mute 'vocals' once
  // the output of click MUTE_AFTER_CLICK has been recorded.
  const src = data.subarray(0, frames);
  let firstClick = -1;
  let muteAtFrame = -1;
  const deadline = performance.now() + (fault ? 150_000 : 30_000);
  while (Atomics.load(head, 0) < frames) {
    if (performance.now() > deadline) throw new Error(`recording stalled at frame ${Atomics.load(head, 0)} of ${frames} (AudioContext ${ctx.state})`);
    const at = Atomics.load(head, 0);
    if (fault && recoveredAtFrame < 0 && events.some((e) => e.startsWith('recovered') || e.startsWith('error'))) recoveredAtFrame = at;
    if (fault && recoveredAtFrame >= 0) {
      // Wet again: clicks carried by the vocals stem (at 1/4) after the recovery.
      const vocalsRec = data.subarray(2 * frames, 2 * frames + at);
      for (let i = Math.max(scanFrom, recoveredAtFrame); i < at; i++) {
        if (Math.abs(vocalsRec[i]) > (CLICK / 4) * 0.99) {
          wetSeen++;
          i += 64;
        }
      }
      scanFrom = at;
      if ((wetSeen >= 8 && at > wetSeenEnd) || at > recoveredAtFrame + L + 30 * SR) break;
      if (wetSeen >= 8 && wetSeenEnd < 0) wetSeenEnd = at + SR;
    }
    if (firstClick < 0) firstClick = firstAbove(src, 0, at, CLICK / 2);
    if (firstClick >= 0 && muteAtFrame < 0 && !fault) {
      const muteOutput = firstClick + clickFrames[MUTE_AFTER_CLICK] - clickFrames[0] + L;
      if (at > muteOutput + 512) {
        engine.mute('vocals', true);
        muteAtFrame = Atomics.load(head, 0);
        log(`muted vocals at recorded frame ${muteAtFrame}`);
      }
    }
    await sleep(20);
  }
  const stats = engine.stats;
  stopSource();
  // The request sent during the recovery has had the whole recording to settle.
  const t0 = performance.now();
  await engine.dispose();
  const disposeMs = performance.now() - t0;
  await ctx.close();

  // What was recorded (a fault run stops early); clicks whose output would come after it are not counted.
  const end = Atomics.load(head, 0);
  const mix = data.subarray(frames, frames + end);
  const vocals = data.subarray(2 * frames, 2 * frames + end);
  // The clicks, in order, in the source and in the mix: the k-th out is the k-th in
  // (any delay is found, even one longer than the spacing between clicks).
  const findClicks = (x: Float32Array, threshold: number) => {
    const at: number[] = [];
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]) > threshold) {
        at.push(i);
        i += 64;
      }
    }
    return at;
  };
  const inClicks = findClicks(src.subarray(0, end), CLICK / 2).filter((f) => f + L + 64 < end);
  const outClicks = findClicks(mix, CLICK / 8).filter((f) => f + 64 < end);
  log(`clicks: ${inClicks.length} in, ${outClicks.length} out of the mix`);
  const clicks: ClickResult[] = inClicks.map((inputFrame, index) => {
    const mixFrame = index < outClicks.length ? outClicks[index] : -1;
    const mixPeak = mixFrame >= 0 ? mix[mixFrame] : Number.NaN;
    const vocalsPeak = mixFrame >= 0 ? vocals[mixFrame] : Number.NaN;
    const muted = mixFrame < 0 ? null : mixFrame < muteAtFrame ? false : mixFrame > muteAtFrame + MUTE_SETTLE ? true : null;
    return { index, inputFrame, mixFrame, delay: mixFrame >= 0 ? mixFrame - inputFrame : Number.NaN, mixPeak, vocalsPeak, muted };
  });
  const clickCountOut = outClicks.length;
  const before = clicks.filter((c) => c.muted === false);
  const after = clicks.filter((c) => c.muted === true);
  return {
    crossOriginIsolated,
    mode,
    source: fromMic ? 'mic' : 'buffer',
    latencySamples: L,
    sources: [...engine.sources],
    runtime: engine.runtime,
    backend: engine.status().backend,
    clicks,
    clickCountOut,
    delays: clicks.map((c) => c.delay),
    vocalsRatioBefore: before.map((c) => c.vocalsPeak / c.mixPeak),
    vocalsAfterMute: after.map((c) => c.vocalsPeak),
    mixRatioAfterMute: after.map((c) => c.mixPeak / CLICK),
    underrunQuanta: stats.underrunQuanta,
    dryFallbackQuanta: stats.dryFallbackQuanta,
    framesSkipped: stats.framesSkipped,
    segments: stats.worker.segments,
    lastRunMs: stats.worker.lastRunMs,
    muteAtFrame,
    events,
    fault: fault?.name,
    // Wet: the vocals stem carries the click at 1/4 of the mix (played dry it carries nothing).
    wet: clicks.map((c) => c.mixFrame >= 0 && Math.abs(c.vocalsPeak / c.mixPeak - 0.25) < 1e-5),
    workerRestarts: stats.workerRestarts,
    requestDuringRecovery,
    disposeMs,
  };
}

/** ?input=track&fault=…: track mode, an export requested while the worker fails. */
async function runTrack(): Promise<TrackFaultResult> {
  const fault = faultOptions();
  if (!fault) throw new Error('?input=track needs ?fault=');
  const model = makeDemucsLayoutModel({
    specGains: [[0, 0], [0, 0], [0, 0], [0, 0]],
    waveGains: [[0.25, 0.25], [0.25, 0.25], [0.25, 0.25], [0.25, 0.25]],
  });
  const ctx = new AudioContext({ sampleRate: SR, latencyHint: 'interactive' });
  await ctx.resume();
  const events: string[] = [];
  const engine = await StemEngine.create(ctx, { model, sourceKind: 'track', pollIntervalMs: 100, ...fault.options });
  engine.addEventListener('underrun', (e) => events.push(`underrun ${e.detail.underrunQuanta}`));
  engine.addEventListener('error', (e) => events.push(`error ${(e.detail.error as { code?: string }).code ?? ''} ${e.detail.error.message}`));
  engine.addEventListener('restart', (e) => events.push(`restart ${(e.detail.error as { code?: string }).code} ${e.detail.error.message}`));
  engine.addEventListener('recovered', (e) => events.push(`recovered ${Math.round(e.detail.ms)} ms`));
  engine.addEventListener('warning', (e) => events.push(`warning ${e.detail.nonFiniteSamples} ${e.detail.message}`));
  engine.output.connect(ctx.destination);
  // 8 s of noise, with a NaN and an Infinity in it (played and separated as 0); stems are input / 4 exactly (normalize: false).
  const length = 8 * SR;
  let seed = 7;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed / 2 ** 32 - 0.5) * 0.5;
  };
  const channels = [new Float32Array(length), new Float32Array(length)];
  for (let i = 0; i < length; i++) { channels[0][i] = noise(); channels[1][i] = noise(); }
  channels[0][1000] = Number.NaN;
  channels[1][3 * SR + 7] = Number.POSITIVE_INFINITY;
  const expected = (c: number, i: number) => (Number.isFinite(channels[c][i]) ? channels[c][i] * 0.25 : 0);
  await engine.loadTrack({ sampleRate: SR, channels }, { normalize: false });
  engine.play();
  const t0 = performance.now();
  let exported = 'pending';
  let vocalsError = Number.NaN;
  const exp = engine.exportStems({ baseName: 'fault', format: 'float32' }).then(
    (out) => {
      exported = 'resolved';
      // float32 WAV: a 44-byte header, then interleaved stereo samples (the file of stem 3, vocals).
      const data = out.files[3].data;
      const f32 = new Float32Array(data.buffer.slice(data.byteOffset + data.length - length * 2 * 4, data.byteOffset + data.length));
      let err = 0;
      for (let i = 0; i < length; i++) for (let c = 0; c < 2; c++) err = Math.max(err, Math.abs(f32[i * 2 + c] - expected(c, i)));
      vocalsError = err;
    },
    (err: Error) => { exported = `rejected: ${err.message}`; },
  );
  const deadline = performance.now() + 120_000;
  while (exported === 'pending' && performance.now() < deadline) await sleep(20);
  const exportMs = performance.now() - t0;
  await Promise.race([exp, sleep(0)]);
  await sleep(300); // a few more polls: the underrun events
  const stats = engine.stats;
  const t1 = performance.now();
  await engine.dispose();
  const disposeMs = performance.now() - t1;
  await ctx.close();
  return { fault: fault.name, events, workerRestarts: stats.workerRestarts, underrunQuanta: stats.underrunQuanta, exported, vocalsError, exportMs, disposeMs };
}

(PARAMS.get('input') === 'track' ? runTrack().then((r) => { window.engineTest.trackResult = r; }) : run().then((r) => { window.engineTest.result = r; })).then(
  () => {
    window.engineTest.done = true;
    const r = window.engineTest.result;
    log(JSON.stringify(r ? { latency: r.latencySamples, delays: r.delays, underruns: r.underrunQuanta } : window.engineTest.trackResult));
  },
  (err: unknown) => {
    window.engineTest.error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    window.engineTest.done = true;
    log(`FAILED: ${window.engineTest.error}`);
  },
);
