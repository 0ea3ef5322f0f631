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
 */
import { StemEngine } from '../src/engine/stem-engine.js';
import { makeDemucsLayoutModel } from '../test/fixtures/tiny-models.js';

const SR = 44100;
const CLICK = 0.8;
/** Frames between clicks (not a multiple of 128, so clicks land at varied quantum offsets). */
const CLICK_SPACING = 8821;
const CLICKS = 18;
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
}

declare global {
  interface Window {
    engineTest: { done: boolean; error?: string; result?: EngineTestResult; log: string[] };
  }
}

window.engineTest = { done: false, log: [] };
const logEl = document.getElementById('log');
function log(line: string): void {
  window.engineTest.log.push(line);
  if (logEl) logEl.textContent += line + '\n';
}

// A recorder on the audio thread: channel 0 of each input into a SharedArrayBuffer,
// from its first quantum on. Plain JS (no imports), so it loads from a Blob URL.
const RECORDER = `
registerProcessor('engine-test-recorder', class extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { sab, frames, inputs } = options.processorOptions;
    this.head = new Int32Array(sab, 0, 1);
    this.data = new Float32Array(sab, 4);
    this.frames = frames;
    this.inputsN = inputs;
  }
  process(inputs) {
    const at = this.head[0];
    if (at >= this.frames) return true;
    const n = Math.min(128, this.frames - at);
    for (let i = 0; i < this.inputsN; i++) {
      const ch = inputs[i] && inputs[i][0];
      if (ch) this.data.set(n === 128 ? ch : ch.subarray(0, n), i * this.frames + at);
    }
    Atomics.store(this.head, 0, at + n);
    return true;
  }
});`;

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
  const params = new URLSearchParams(location.search);
  const mode = params.get('mode') === 'low-latency' ? 'low-latency' : 'quality';
  const hop = params.has('hop') ? Number(params.get('hop')) : undefined;
  const lookahead = params.has('lookahead') ? Number(params.get('lookahead')) : undefined;
  const engine = await StemEngine.create(ctx, { model, mode, hop, lookahead, pollIntervalMs: 100 });
  engine.addEventListener('ready', () => events.push('ready'));
  engine.addEventListener('underrun', (e) => events.push(`underrun ${e.detail.underrunQuanta}`));
  engine.addEventListener('error', (e) => events.push(`error ${e.detail.error.message}`));
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

  const frames = Math.ceil((SOURCE_DELAY_S + 0.5) * SR) + sourceFrames + L + SR;
  const sab = new SharedArrayBuffer(4 + 3 * frames * 4);
  const head = new Int32Array(sab, 0, 1);
  const data = new Float32Array(sab, 4);
  const recUrl = URL.createObjectURL(new Blob([RECORDER], { type: 'text/javascript' }));
  await ctx.audioWorklet.addModule(recUrl);
  URL.revokeObjectURL(recUrl);
  const recorder = new AudioWorkletNode(ctx, 'engine-test-recorder', {
    numberOfInputs: 3,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    channelCount: 2,
    channelCountMode: 'explicit',
    processorOptions: { sab, frames, inputs: 3 },
  });
  const sink = new GainNode(ctx, { gain: 0 });
  recorder.connect(sink).connect(ctx.destination);

  const fromMic = params.get('source') === 'mic';
  let source: AudioNode;
  let stopSource: () => void;
  if (fromMic) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 2 } });
    source = new MediaStreamAudioSourceNode(ctx, { mediaStream: stream });
    stopSource = () => stream.getTracks().forEach((t) => t.stop());
    log(`microphone: ${stream.getAudioTracks()[0]?.label}`);
  } else {
    const node = new AudioBufferSourceNode(ctx, { buffer });
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
  const deadline = performance.now() + 30_000;
  while (Atomics.load(head, 0) < frames) {
    if (performance.now() > deadline) throw new Error(`recording stalled at frame ${Atomics.load(head, 0)} of ${frames} (AudioContext ${ctx.state})`);
    const at = Atomics.load(head, 0);
    if (firstClick < 0) firstClick = firstAbove(src, 0, at, CLICK / 2);
    if (firstClick >= 0 && muteAtFrame < 0) {
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
  await engine.dispose();
  await ctx.close();

  const mix = data.subarray(frames, 2 * frames);
  const vocals = data.subarray(2 * frames, 3 * frames);
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
  const inClicks = findClicks(src, CLICK / 2);
  const outClicks = findClicks(mix, CLICK / 8);
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
  };
}

run().then(
  (result) => {
    window.engineTest.result = result;
    window.engineTest.done = true;
    log(JSON.stringify({ latency: result.latencySamples, delays: result.delays, underruns: result.underrunQuanta }));
  },
  (err: unknown) => {
    window.engineTest.error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    window.engineTest.done = true;
    log(`FAILED: ${window.engineTest.error}`);
  },
);
