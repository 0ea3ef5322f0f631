/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * StemEngine: the real-time engine's public API on the main thread of a browser
 * (docs/ARCHITECTURE.md §1, §4, §6). It owns the shared state, starts the inference worker
 * (inference-worker-web.ts) and the audio-thread node (worklets/stem-out-processor.ts)
 * and exposes Web Audio nodes:
 *
 *   const engine = await StemEngine.create(context, { model: 'htdemucs.onnx' });
 *   source.connect(engine.input);                 // anything: mic, media element, buffer
 *   engine.output.connect(context.destination);   // the mix, gains applied
 *   engine.stem('vocals').connect(analyser);      // one stem
 *   engine.mute('vocals', true);                  // karaoke (ramped on the audio thread)
 *   engine.dispose();
 *
 * `StemEngine.create` returns one of two faces, by `sourceKind`: a
 * LiveStemEngine (live-stem-engine.ts: connectInput, the default) or a
 * TrackStemEngine (track-stem-engine.ts: loadTrack, the transport, exportStems,
 * the stem cache); both share stem-engine-core.ts.
 *
 * Every output is the input delayed by exactly `engine.latencySamples` frames
 * (output n ↔ input n − latency), for the whole session.
 *
 * Faults. The inference worker is supervised (protocol.ts
 * WorkerSupervisor): a session.run that throws, hangs past the watchdog's limit
 * or loses its GPU device falls back to the next execution provider, or else
 * the worker is replaced, as it is when it crashes, sends an unreadable message
 * or misses its heartbeat. The fresh worker gets the same shared memory and the
 * model bytes this engine holds (so they stay in memory for the engine's life),
 * resumes the stream at the same latency (the audio thread plays dry meanwhile)
 * or, in track mode, the track, and takes over the requests still pending. After
 * three failures within a minute the engine gives up: one 'error' event with the
 * cause's code, pending requests rejected, the audio left dry ('restart' and
 * 'recovered' events report each replacement).
 *
 * Bundling. The worker and the worklet import bare packages (onnxruntime-web,
 * ringbuf.js) and other modules, so both are loaded bundled. Where from is
 * src/engine/host/engine-assets.ts: in the source tree Vite bundles them (set
 * `worker: { format: 'es' }`: onnxruntime-web's worker code splits); in the
 * prebuilt package (dist/web/) they are self-contained files beside the bundle.
 * `workerUrl` / `workletUrl` replace either.
 */
import { engineAssets } from './engine-assets.js';
import { assertCrossOriginIsolated } from './isolation-check.js';
import { StemstreamError } from '../../errors.js';
import { describeModel, readModelBytes } from '../../model/model.js';
import { assertSameShape } from '../../model/same-shape.js';
import { resolveEngineOptions } from './engine-options.js';
import { chooseBackend, webgpuNeeds, type BackendChoice, type GpuLike, type WebGpuNeeds } from '../backend-choice.js';
import { createSharedState } from '../../realtime/shared-state.js';
import type { FromWorker } from '../protocol.js';
import { WorkerSupervisor } from './worker-client.js';
import { STEM_OUT_PROCESSOR_NAME } from '../../realtime/processor-messages.js';
import { StemEngineCore, type StemEngineParts } from './stem-engine-core.js';
import { LiveStemEngine } from './live-stem-engine.js';
import { TrackStemEngine } from './track-stem-engine.js';

export type { ExportStemsRequest, LiveStemEngineOptions, StemEngineBackend, StemEngineCommonOptions, StemEngineEventMap, StemEngineMode, StemEngineModelSet, StemEngineModelSource, StemEngineOptions, StemEngineSourceKind, StemEngineStats, StemEngineWarning, TrackStemEngineOptions } from './stem-engine-options.js';
import type { LiveStemEngineOptions, StemEngineBackend, StemEngineModelSource, StemEngineOptions, TrackStemEngineOptions } from './stem-engine-options.js';
export { LiveStemEngine, StemEngineCore, TrackStemEngine };

/**
 * Which providers to ask onnxruntime-web for (backend-choice.ts): 'auto' takes
 * WebGPU only on a hardware adapter that can hold the model, WASM otherwise.
 */
export async function chooseExecutionProviders(backend: StemEngineBackend = 'auto', needs?: WebGpuNeeds): Promise<string[]> {
  const choice = await chooseBackend(backend, navigatorGpu(), needs);
  if (choice.executionProviders.length === 0) throw noWebgpu();
  return choice.executionProviders;
}

function navigatorGpu(): GpuLike | undefined {
  return (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
}

function noWebgpu(): StemstreamError {
  return new StemstreamError('NO_RUNTIME', 'WebGPU was asked for but this browser gives no WebGPU adapter (chrome://gpu tells why); use backend: "auto" or "wasm" to run on WASM');
}



const PROCESSOR_NAME = STEM_OUT_PROCESSOR_NAME;

/** Worklet modules added per context (addModule twice is harmless but costs a fetch). */
const workletsAdded = new WeakMap<BaseAudioContext, Map<string, Promise<void>>>();

function addWorkletModule(context: BaseAudioContext, url: string): Promise<void> {
  let byUrl = workletsAdded.get(context);
  if (!byUrl) workletsAdded.set(context, (byUrl = new Map()));
  let p = byUrl.get(url);
  if (!p) {
    p = context.audioWorklet.addModule(url);
    byUrl.set(url, p);
    p.catch(() => byUrl?.delete(url));
  }
  return p;
}

/**
 * Without AudioWorklet (old browsers) `audioworklet-polyfill` stands in. What it
 * costs: it runs the processor on the MAIN thread inside a ScriptProcessorNode,
 * so every main-thread stall is heard as a glitch, the ScriptProcessor's buffer
 * adds output latency on top of `latencySamples` (the engine's own alignment,
 * input n ↔ output n + latency within the processor, still holds), and it
 * evaluates the module as a classic script in an iframe. The separation itself
 * still runs in the worker, and SharedArrayBuffer (cross-origin isolation) is
 * still required.
 */
async function ensureAudioWorklet(context: BaseAudioContext): Promise<void> {
  const hasWorklet = typeof AudioWorkletNode !== 'undefined' && (context as { audioWorklet?: unknown }).audioWorklet !== undefined;
  if (hasWorklet) return;
  await import('audioworklet-polyfill');
  if ((context as { audioWorklet?: unknown }).audioWorklet === undefined) {
    throw new StemstreamError('NO_RUNTIME', 'this browser has no AudioWorklet and the polyfill could not install one on this context (create the AudioContext after loading stemstream)');
  }
}


/** Loads the model, starts the worker and the audio-thread node; resolves when the worker is ready. */
async function create(context: BaseAudioContext, options: TrackStemEngineOptions): Promise<TrackStemEngine>;
async function create(context: BaseAudioContext, options: LiveStemEngineOptions): Promise<LiveStemEngine>;
async function create(context: BaseAudioContext, options: StemEngineOptions): Promise<StemEngine>;
async function create(context: BaseAudioContext, options: StemEngineOptions): Promise<StemEngine> {
  // Before any download: a page that cannot run the engine should not fetch the model first.
  assertCrossOriginIsolated();
  const asSource = (m: StemEngineModelSource) => (typeof m === 'string' || m instanceof URL ? m : m instanceof ArrayBuffer ? new Uint8Array(m) : m);
  const setSpec = typeof options.model === 'object' && !(options.model instanceof URL) && 'members' in options.model ? options.model : undefined;
  let members: { model: Uint8Array; weights?: number[] }[] | undefined;
  let bytes: Uint8Array;
  let name: string;
  let totalBytes: number;
  if (setSpec) {
    if (setSpec.members.length === 0) throw new StemstreamError('BAD_OPTION', 'a model set needs at least one member');
    members = [];
    for (const m of setSpec.members) {
      const read = await readModelBytes(asSource(m.model), { onProgress: options.onProgress });
      const i = describeModel(read.bytes, read.name);
      if (members.length > 0) assertSameShape(i, describeModel(members[0].model, 'the first member'), 'a model set', 'give it models of one kind');
      members.push({ model: read.bytes, weights: m.weights });
    }
    bytes = members[0].model;
    name = options.modelName ?? setSpec.name ?? 'model set';
    totalBytes = members.reduce((a, m) => a + m.model.length, 0);
  } else {
    const read = await readModelBytes(asSource(options.model as StemEngineModelSource), { onProgress: options.onProgress });
    bytes = read.bytes;
    name = options.modelName ?? read.name;
    totalBytes = bytes.length;
  }
  const info = describeModel(bytes, name);
  if (context.sampleRate !== info.sampleRate) {
    throw new StemstreamError('SAMPLE_RATE_MISMATCH', `the model runs at ${info.sampleRate} Hz but the AudioContext at ${context.sampleRate} Hz: create it with new AudioContext({ sampleRate: ${info.sampleRate} })`);
  }
  const C = info.channels;
  const S = info.sources.length;
  const o = resolveEngineOptions(options, info);
  const { mode, overlap, rampFrames, sourceKind, lowLatency, latency, threads, sizes } = o;
  const choice: BackendChoice = options.executionProviders
    ? { executionProviders: options.executionProviders, reason: 'the providers given', forceWebgpu: true, switchByMeasurement: false }
    : await chooseBackend(options.backend ?? 'auto', navigatorGpu(), webgpuNeeds({ frames: info.layout.frames, sources: S, channels: C }));
  if (choice.executionProviders.length === 0) throw noWebgpu();
  const executionProviders = choice.executionProviders;
  const state = createSharedState({ channels: C, sources: S, inputRingFrames: sizes.inputRingFrames, stemRingFrames: sizes.stemRingFrames });

  await ensureAudioWorklet(context);
  const worklet = options.workletUrl !== undefined ? String(options.workletUrl) : engineAssets.workletUrl;
  const workerUrl = options.workerUrl;
  // The worker, and each fresh one after a failure: the same init, the model bytes this engine holds.
  let engine: StemEngineCore | undefined;
  const supervisor = new WorkerSupervisor({
    state,
    init: {
      type: 'init',
      id: 1,
      buffers: state.buffers,
      model: bytes,
      options: {
        overlap, runtime: 'web', threads, executionProviders, lowLatency,
        switchByMeasurement: choice.switchByMeasurement, forceWebgpu: choice.forceWebgpu, backendReason: choice.reason, sourceKind, members, historyFrames: sizes.historyFrames,
        watchdog: options.watchdog,
      },
    },
    spawn: (events) => {
      const worker = workerUrl !== undefined
        ? new Worker(workerUrl, { type: 'module', name: 'stemstream-inference' })
        : engineAssets.startWorker();
      worker.onmessage = (e: MessageEvent) => events.message(e.data as FromWorker);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        events.error(e.message);
      };
      worker.onmessageerror = () => events.messageerror();
      return { post: (m) => worker.postMessage(m), terminate: () => worker.terminate() };
    },
    startError: (detail, cause) =>
      cause && cause.code !== 'WORKER_CRASHED'
        ? cause
        : new StemstreamError('MODEL_LOAD_FAILED', `the inference worker failed to start (${detail || 'no message'}); is workerUrl a bundled module worker?`, { cause }),
    watchdog: options.watchdog,
    recovery: options.watchdog,
    ...StemEngineCore.hooks(() => engine),
  });
  try {
    const [ready] = await Promise.all([
      supervisor.start(),
      addWorkletModule(context, worklet).catch((err: unknown) => {
        throw new StemstreamError('NO_RUNTIME', `could not load the audio worklet module ${worklet}: ${(err as Error).message}`, { cause: err });
      }),
    ]);
    const node = new AudioWorkletNode(context, PROCESSOR_NAME, {
      numberOfInputs: sourceKind === 'track' ? 0 : 1,
      numberOfOutputs: 1 + S,
      outputChannelCount: Array.from({ length: 1 + S }, () => C),
      channelCount: C,
      channelCountMode: 'explicit',
      channelInterpretation: 'speakers',
      processorOptions: { buffers: state.buffers, latencyFrames: latency, rampFrames, sourceKind },
    });
    const parts: StemEngineParts = {
      context, state, supervisor, node, info: { ...info, sources: ready.sources }, latency, mode, runtime: ready.runtime,
      pollIntervalMs: o.pollIntervalMs, threads, modelBytes: totalBytes,
      cache: o.cache, overlap, modelSource: members ? { members } : bytes,
    };
    const made = sourceKind === 'track' ? new TrackStemEngine(parts) : new LiveStemEngine(parts);
    engine = made;
    return made;
  } catch (err) {
    await supervisor.stop(0);
    throw err;
  }
}

/**
 * The engine: a LiveStemEngine or a TrackStemEngine, told apart by
 * `sourceKind`. `StemEngine.create` types its result by the literal
 * `sourceKind` it is given.
 */
export type StemEngine = LiveStemEngine | TrackStemEngine;

export const StemEngine = {
  create,
  /**
   * Empties the stem cache without an engine (e.g. a settings page). While an
   * engine is open, prefer its clearCache(): its own view of the cache then stays in step.
   */
  clearStemCache: (): Promise<{ entries: number; bytes: number }> => TrackStemEngine.clearStemCache(),
};
