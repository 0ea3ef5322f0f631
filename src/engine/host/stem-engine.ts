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
 * Every output is the input delayed by exactly `engine.latencySamples` frames
 * (output n ↔ input n − latency), for the whole session.
 *
 * Nothing here is on the audio path: gains, mute and solo are stores into the
 * shared control block that the worklet polls once per render quantum; the
 * underrun counter is polled on a timer.
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
import { toChannelCount } from '../../audio/channels.js';
import { describeNonFinite, replaceNonFinite } from '../../audio/finite.js';
import type { ExportedStems, StemExportFormat } from '../../export/stems-export.js';
import type { EngineStatusSnapshot, StemCacheStatus } from './engine-status.js';
import { describeModel, readModelBytes, type ModelInfo } from '../../model/model.js';
import { assertSameShape } from '../../model/same-shape.js';
import { TrackTransport } from './track-transport.js';
import { resolveEngineOptions } from './engine-options.js';
import { chooseBackend, webgpuNeeds, type BackendChoice, type GpuLike, type WebGpuNeeds } from '../backend-choice.js';
import { createSharedState, type SharedState } from '../../realtime/shared-state.js';
import { readStats, setStemGain, setStemMute, setStemSolo, setStemsEnabled, CTRL, type StemOutStats } from '../../realtime/control-block.js';
import { NO_WORKER_STATS, type FromWorker, type RecoveryOptions, type ToWorker, type WatchdogOptions, type WorkerStats } from '../protocol.js';
import { WorkerSupervisor, type WorkerRestart } from './worker-client.js';
import { TRACK, allReady, createTrackState, markAllReady, type TrackState } from '../../realtime/track-state.js';
import { StemCache, audioDigest, modelIdentity, stemCacheKey, type StemCacheUsage } from './stem-cache.js';
import { STEM_OUT_PROCESSOR_NAME, type ToStemOutProcessor } from '../../realtime/processor-messages.js';

export type { ExportStemsRequest, StemEngineBackend, StemEngineEventMap, StemEngineMode, StemEngineModelSet, StemEngineModelSource, StemEngineOptions, StemEngineSourceKind, StemEngineStats, StemEngineWarning } from './stem-engine-options.js';
import type { ExportStemsRequest, StemEngineBackend, StemEngineEventMap, StemEngineMode, StemEngineModelSource, StemEngineOptions, StemEngineSourceKind, StemEngineStats, StemEngineWarning } from './stem-engine-options.js';

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


/** 'onnxruntime-web/webgpu' → 'webgpu'. */
function providerId(backend: string): string {
  return backend.includes('webgpu') ? 'webgpu' : backend.includes('wasm') ? 'wasm' : backend;
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


export class StemEngine extends EventTarget {
  /** Connect the source here (the worklet node; C channels, other counts are up/down-mixed). */
  readonly input: AudioNode;
  /** The mix of the stems with their gains (dry input where stems are missing), delayed by latencySamples. */
  readonly output: GainNode;
  /** Stem names, in the model's order. */
  readonly sources: readonly string[];
  /** Fixed latency in frames: output frame n is input frame n − latencySamples, for every output. */
  readonly latencySamples: number;
  readonly sampleRate: number;
  readonly channels: number;
  readonly mode: StemEngineMode;
  readonly model: ModelInfo;
  /** 'onnxruntime-web' (the worker's runtime). */
  readonly runtime: string;

  readonly context: BaseAudioContext;
  private readonly state: SharedState;
  /** Runs the inference worker and replaces it when it fails (protocol.ts). */
  private readonly supervisor: WorkerSupervisor;
  private readonly node: AudioWorkletNode;
  private readonly stemNodes: GainNode[];
  private workerStats: WorkerStats = { ...NO_WORKER_STATS };
  private lastUnderruns = 0;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private disposed = false;
  /** Given up on the worker: no more underrun events (the audio plays dry). */
  private gaveUp = false;
  /** Track mode: whether the loaded track is normalised (a restarted worker is told again). */
  private trackNormalize = true;
  /** 'live' or 'track', fixed at create(). */
  readonly sourceKind: StemEngineSourceKind;
  readonly threads: number;
  /** Quality mode's overlap between segments (it changes the stems, so it is part of a cache key). */
  private readonly overlap: number;
  private modelBytes: number;
  private modelName: string;
  /** Track mode: the loaded track's transport (undefined before one, and in live mode). */
  private transport: TrackTransport | undefined;
  private endedSeq = 0;
  private nextId = 10;
  /** The model generation the worker separates the loaded track as (mirrors the worker's counter: +1 per track, +1 per swap). */
  private generation = 0;
  /** Track mode's stem cache: opening or open; undefined when off or it failed to open. */
  private readonly stemCache: Promise<StemCache | undefined> | undefined;
  /** The identity (SHA-256) of the model the worker runs, for cache keys; a pending swap's once it is done. */
  private modelSha: Promise<string> | undefined;
  /** Bumped when a model swap starts: a key computed across one may name the old model. */
  private modelSerial = 0;
  /** The loaded track's cache identity; `target`: the key to store under once generation `target.generation` is final everywhere. */
  private trackCache: { track: TrackState; audio: string; normalize: boolean; precomputed: boolean; target?: { generation: number; key: string }; storing: boolean } | undefined;
  private cacheState: StemCacheStatus['state'];
  private cacheUsage: StemCacheUsage | undefined;

  private constructor(parts: {
    context: BaseAudioContext;
    state: SharedState;
    supervisor: WorkerSupervisor;
    node: AudioWorkletNode;
    info: ModelInfo;
    latency: number;
    mode: StemEngineMode;
    runtime: string;
    pollIntervalMs: number;
    sourceKind: StemEngineSourceKind;
    threads: number;
    modelBytes: number;
    cache: false | { maxBytes: number };
    overlap: number;
    /** What the model's identity is computed from (the bytes, or a set's members). */
    modelSource: Uint8Array | { members: { model: Uint8Array; weights?: number[] }[] };
  }) {
    super();
    const { context, state, supervisor, node, info } = parts;
    this.context = context;
    this.state = state;
    this.supervisor = supervisor;
    this.node = node;
    this.model = info;
    this.modelName = info.name;
    this.sources = [...info.sources];
    this.sampleRate = info.sampleRate;
    this.channels = info.channels;
    this.latencySamples = parts.latency;
    this.mode = parts.mode;
    this.runtime = parts.runtime;
    this.sourceKind = parts.sourceKind;
    this.threads = parts.threads;
    this.modelBytes = parts.modelBytes;
    this.overlap = parts.overlap;
    this.input = node;
    const C = info.channels;
    const gain = () => new GainNode(context, { channelCount: C, channelCountMode: 'explicit', channelInterpretation: 'speakers' });
    this.output = gain();
    node.connect(this.output, 0);
    this.stemNodes = this.sources.map((_, s) => {
      const g = gain();
      node.connect(g, 1 + s);
      return g;
    });
    node.onprocessorerror = () => this.fail(new Error('stemstream: the audio-thread processor failed'));
    this.cacheState = parts.cache ? 'none' : 'off';
    if (parts.cache) {
      // Both in the background: create() does not wait for storage; loadTrack() does.
      this.modelSha = modelIdentity(parts.modelSource);
      // Awaited by loadTrack, which reports a failure; until then it must not surface as unhandled.
      this.modelSha.catch(() => undefined);
      this.stemCache = StemCache.open({ maxBytes: parts.cache.maxBytes }).then(
        (cache) => {
          this.cacheUsage = cache.usage();
          void cache.persistRequest.then(() => (this.cacheUsage = cache.usage()));
          return cache;
        },
        (err: unknown) => {
          this.cacheState = 'off';
          // After 'ready', so that listeners added right after create() hear it.
          setTimeout(() => this.warn('cache', `the stem cache is off: ${(err as Error).message}`), 0);
          return undefined;
        },
      );
    }
    this.pollTimer = setInterval(() => this.poll(), parts.pollIntervalMs);
    // create() resolves first; listeners added right after `await create()` still see 'ready'.
    setTimeout(() => {
      this.dispatchEvent(new Event('ready'));
      // Given up on before the engine existed (a worker failing at once, repeatedly).
      if (this.supervisor.failure && !this.gaveUp) this.onGiveUp(this.supervisor.failure);
    }, 0);
  }

  /** The supervisor's events (worker-client.ts WorkerSupervisor), bound once the engine exists. */
  private static hooks(engine: () => StemEngine | undefined) {
    return {
      onMessage: (m: FromWorker) => engine()?.onWorkerMessage(m),
      replay: () => engine()?.replayMessages() ?? [],
      onRestart: (r: WorkerRestart) => engine()?.dispatchEvent(new CustomEvent('restart', { detail: { error: r.cause, attempt: r.attempt } })),
      onRecovered: (r: WorkerRestart) => engine()?.dispatchEvent(new CustomEvent('recovered', { detail: { ms: (r.readyAt ?? r.at) - r.at, attempt: r.attempt } })),
      onGiveUp: (error: Error) => engine()?.onGiveUp(error),
    };
  }

  /** What a restarted worker needs before the requests still pending: the track (same shared memory, same generation). */
  private replayMessages(): ToWorker[] {
    const t = this.transport?.track;
    if (!t) return [];
    const generation = Atomics.load(t.transport, TRACK.GENERATION);
    // A track filled from the stem cache and still whole for its generation needs no segment again.
    const precomputed = this.trackCache?.track === t && this.trackCache.precomputed && generation > 0 && allReady(t, generation);
    return [{ type: 'load-track', id: 0, track: t.buffers, normalize: this.trackNormalize, generation: generation || undefined, precomputed }];
  }

  /** The worker failed too often: one error event, the audio bypassed to dry (no stems will come), no more underrun events. */
  private onGiveUp(error: Error): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    if (this.disposed) return;
    setStemsEnabled(this.state, false);
    this.fail(error);
  }

  /** Loads the model, starts the worker and the audio-thread node; resolves when the worker is ready. */
  static async create(context: BaseAudioContext, options: StemEngineOptions): Promise<StemEngine> {
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
    let engine: StemEngine | undefined;
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
      ...StemEngine.hooks(() => engine),
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
      engine = new StemEngine({
        context, state, supervisor, node, info: { ...info, sources: ready.sources }, latency, mode, runtime: ready.runtime,
        pollIntervalMs: o.pollIntervalMs, sourceKind, threads, modelBytes: totalBytes,
        cache: o.cache, overlap, modelSource: members ? { members } : bytes,
      });
      return engine;
    } catch (err) {
      await supervisor.stop(0);
      throw err;
    }
  }

  // ---- live input ----

  /** Live input: connects `source` (a microphone, a media element, any node) to the engine. */
  connectInput(source: AudioNode): void {
    if (this.sourceKind !== 'live') throw new StemstreamError('INVALID_STATE', "this engine plays tracks (sourceKind: 'track'); create one with sourceKind: 'live' to separate a live source");
    source.connect(this.input);
  }

  // ---- track input ----

  /**
   * Track input: loads a decoded track (an AudioBuffer from decodeAudioData, or
   * planar channels at the model's rate) and starts separating it around the
   * playhead (position 0, paused). Resolves when the worker has it. Mono is
   * duplicated, more channels than the model's are down-mixed. `normalize`
   * (default true) applies separate()'s track normalisation. With the stem
   * cache (option `cache`), a track separated before with this model and these
   * options comes from it: all of it ready at once, no segment run
   * ('cache-hit'); any other is written there once separated whole ('cache-stored').
   */
  async loadTrack(buffer: AudioBuffer | { sampleRate: number; channels: Float32Array[] }, options: { normalize?: boolean } = {}): Promise<void> {
    if (this.sourceKind !== 'track') throw new StemstreamError('INVALID_STATE', "loadTrack() needs an engine created with sourceKind: 'track' (this one separates its live input)");
    const audio = 'getChannelData' in buffer
      ? { sampleRate: buffer.sampleRate, channels: Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c)) }
      : buffer;
    if (audio.sampleRate !== this.sampleRate) {
      throw new StemstreamError('SAMPLE_RATE_MISMATCH', `the track is at ${audio.sampleRate} Hz and the model runs at ${this.sampleRate} Hz: decode it with an AudioContext at ${this.sampleRate} Hz (decodeAudioData resamples to the context's rate)`);
    }
    if (audio.channels.length === 0 || audio.channels[0].length === 0) throw new StemstreamError('BAD_AUDIO_FILE', 'the track is empty');
    const fitted = toChannelCount(audio, this.channels);
    const track = createTrackState(fitted.channels, this.sources.length, this.sampleRate);
    // NaN or ±Infinity in the track would poison its segments' stems and play as
    // garbage where dry: the shared copy holds 0 there (the caller's buffer is left alone).
    const bad = replaceNonFinite({ sampleRate: this.sampleRate, channels: track.audio });
    if (bad.count > 0) this.warn('non-finite', `in the track, ${describeNonFinite(bad, this.sampleRate)}: they play and separate as silence`, bad.count);
    const normalize = options.normalize ?? true;
    // The stem cache, before the worker has the track: on a hit its stems are all final already.
    const cached = await this.lookUpTrack(track, normalize);
    const generation = this.generation + 1;
    if (cached?.hit) markAllReady(track, generation);
    this.transport = new TrackTransport(track, this.sampleRate);
    this.trackNormalize = normalize;
    this.endedSeq = 0;
    this.trackCache = cached && { track, audio: cached.audio, normalize, precomputed: cached.hit, target: cached.hit ? undefined : { generation, key: cached.key }, storing: false };
    // 'off' stays off (the cache did not open); a lookup that failed is a miss.
    if (this.cacheState !== 'off') this.cacheState = cached?.hit ? 'hit' : 'miss';
    await this.request({ type: 'load-track', id: this.newId(), track: track.buffers, normalize, generation, precomputed: cached?.hit === true });
    this.generation = generation;
    this.node.port.postMessage({ type: 'track', track: track.buffers } satisfies ToStemOutProcessor);
    if (cached?.hit) this.dispatchEvent(new CustomEvent('cache-hit', { detail: { key: cached.key } }));
  }

  /**
   * The track's cache key and whether its stems were read from the cache into
   * the track's shared stems; undefined without a cache or when it failed (a
   * 'warning'), or when a model swap started meanwhile (the key could name the
   * old model). On a miss the stems view may hold a partial read: harmless,
   * nothing reads a block before the worker marks it final.
   */
  private async lookUpTrack(track: TrackState, normalize: boolean): Promise<{ audio: string; key: string; hit: boolean } | undefined> {
    const cache = await this.stemCache;
    if (!cache || !this.modelSha) return undefined;
    const serial = this.modelSerial;
    try {
      const modelSha = await this.modelSha;
      const audio = await audioDigest(track.audio);
      const key = await this.trackKey(audio, modelSha, normalize);
      const hit = await cache.get(key, new Float32Array(track.buffers.stems), { rows: track.sources * track.channels, frames: track.length });
      this.cacheUsage = cache.usage();
      return serial === this.modelSerial ? { audio, key, hit } : undefined;
    } catch (err) {
      this.warn('cache', `the stem cache could not be read, so the track is separated again: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Everything that changes the stems besides the audio and the model: normalisation, the overlap (the worker's segmentation). */
  private trackKey(audio: string, modelSha: string, normalize: boolean): Promise<string> {
    return stemCacheKey({ audio: { digest: audio }, sampleRate: this.sampleRate, modelSha256: modelSha, options: { normalize, overlap: this.overlap } });
  }

  /**
   * Writes the loaded track's stems to the cache once the generation they are
   * to be stored for is final in every block (called on each segment and poll).
   */
  private maybeStore(): void {
    const tc = this.trackCache;
    const target = tc?.target;
    if (!tc || !target || tc.storing || this.disposed) return;
    const t = tc.track.transport;
    if (Atomics.load(t, TRACK.GENERATION) !== target.generation) return;
    if (Atomics.load(t, TRACK.SEGMENTS_DONE) !== Atomics.load(t, TRACK.SEGMENTS_TOTAL)) return;
    if (!allReady(tc.track, target.generation)) return;
    tc.storing = true;
    void this.store(tc, target);
  }

  private async store(tc: NonNullable<StemEngine['trackCache']>, target: { generation: number; key: string }): Promise<void> {
    const track = tc.track;
    try {
      const cache = await this.stemCache;
      if (!cache) return;
      const result = await cache.put(target.key, new Float32Array(track.buffers.stems), {
        rows: track.sources * track.channels, frames: track.length, sampleRate: track.sampleRate, sources: this.sources,
      });
      // A model swap during the write may have replaced blocks under it: such an entry would mix two models.
      const intact = Atomics.load(track.transport, TRACK.GENERATION) === target.generation && allReady(track, target.generation);
      if (result.stored && !intact) await cache.delete(target.key);
      this.cacheUsage = cache.usage();
      if (!result.stored) this.warn('cache', `this separation is not remembered: ${result.message}`);
      else if (intact) this.dispatchEvent(new CustomEvent('cache-stored', { detail: { key: result.key, bytes: result.bytes, evicted: result.evicted } }));
    } catch (err) {
      this.warn('cache', `this separation is not remembered: ${(err as Error).message}`);
    } finally {
      tc.storing = false;
      // Tried once per generation (a full disk does not get better by retrying every poll); a swap sets a new target.
      if (tc.target === target) tc.target = undefined;
    }
  }

  /**
   * Empties the stem cache (the "Clear cached stems" control): every remembered
   * separation, of any track and model. The loaded track keeps its stems in memory.
   */
  async clearCache(): Promise<{ entries: number; bytes: number }> {
    const cache = await this.stemCache;
    if (!cache) return StemEngine.clearStemCache();
    const removed = await cache.clear();
    this.cacheUsage = cache.usage();
    return removed;
  }

  /**
   * Empties the stem cache without an engine (e.g. a settings page). While an
   * engine is open, prefer its clearCache(): its own view of the cache then stays in step.
   */
  static async clearStemCache(): Promise<{ entries: number; bytes: number }> {
    const cache = await StemCache.open({ storage: null });
    return cache.clear();
  }

  private warn(kind: StemEngineWarning['kind'], message: string, nonFiniteSamples = 0): void {
    this.dispatchEvent(new CustomEvent('warning', { detail: { kind, message, nonFiniteSamples } satisfies StemEngineWarning }));
  }

  /** Track length, seconds (0 before a track is loaded). */
  get duration(): number {
    return this.transport?.duration ?? 0;
  }

  /** Playhead, seconds. */
  get position(): number {
    return this.transport?.position ?? 0;
  }

  get playing(): boolean {
    return this.transport?.playing ?? false;
  }

  get loop(): { start: number; end: number } | null {
    return this.transport?.loop ?? null;
  }

  /** Starts playback (from the start again when at the end). Fades in over rampFrames. */
  play(): void {
    this.requireTransport().play();
  }

  /** Pauses with a fade-out over rampFrames; the playhead stays. */
  pause(): void {
    this.requireTransport().pause();
  }

  /** Moves the playhead (seconds): a short fade out and in; segments around it are separated first. */
  seek(seconds: number): void {
    this.requireTransport().seek(seconds);
  }

  /** Loops [start, end) seconds, or stops looping with null. */
  setLoop(region: { start: number; end: number } | null): void {
    this.requireTransport().setLoop(region);
  }

  /** How much of each of `buckets` parts of the track is separated (0..1), by the current model. */
  readyMap(buckets: number): Float32Array {
    return this.transport?.readyMap(buckets) ?? new Float32Array(buckets);
  }

  /** Peak |sample| of each of `buckets` parts of the track (for an overview). */
  waveformPeaks(buckets: number): Float32Array {
    return this.transport?.waveformPeaks(buckets) ?? new Float32Array(buckets);
  }

  /**
   * Track mode: one WAV per stem and a ZIP of them, rendered in the worker once
   * the whole track is separated (the rest is separated first, reported as
   * progress). The engine keeps playing meanwhile.
   */
  async exportStems(request: ExportStemsRequest = {}): Promise<ExportedStems> {
    this.requireTransport();
    const id = this.newId();
    const reply = await this.request({ type: 'export', id, baseName: request.baseName ?? 'stemstream', format: request.format, clipMode: request.clipMode }, (m) => {
      if (m.type === 'export-progress') request.onProgress?.({ phase: m.phase, fraction: m.fraction });
    });
    if (reply.type !== 'exported') throw new Error(`stemstream: unexpected reply ${reply.type} to an export`);
    return { files: reply.files, zip: reply.zip, zipName: reply.zipName, clipped: reply.clipped, clipping: reply.clipping, format: request.format ?? 'wav24' };
  }

  /**
   * Another model with the same stems and segment length (e.g. the fp32 one
   * after the fp16 one), at the same latency. Track: the old stems keep playing
   * until the new ones replace them. Live: the next segments run on the new
   * model, crossfaded by the overlap-add over one overlap.
   */
  async setModel(model: Uint8Array | ArrayBuffer | string | URL, onProgress?: (p: { loadedBytes: number; totalBytes?: number }) => void): Promise<void> {
    const source = typeof model === 'string' || model instanceof URL ? model : model instanceof ArrayBuffer ? new Uint8Array(model) : model;
    // Cache keys wait for the swap: a track loaded meanwhile is keyed by the model that separates it.
    this.modelSerial++;
    const previousSha = this.modelSha;
    let settleSha: ((next: Promise<string> | undefined) => void) | undefined;
    if (previousSha) {
      this.modelSha = new Promise<string>((resolve, reject) => (settleSha = (next) => (next ?? previousSha).then(resolve, reject)));
      this.modelSha.catch(() => undefined); // reported where awaited (loadTrack, the swap's key)
    }
    try {
      const { bytes, name } = await readModelBytes(source, { onProgress });
      describeModel(bytes, name);
      const reply = await this.request({ type: 'swap-model', id: this.newId(), model: bytes });
      // A worker restarted from now on loads this one.
      this.supervisor.setModel(bytes);
      this.modelName = name;
      this.modelBytes = bytes.length;
      const sha = previousSha ? modelIdentity(bytes) : undefined;
      settleSha?.(sha);
      if (reply.type === 'model-swapped') this.onModelSwapped(reply.generation, sha);
    } catch (err) {
      settleSha?.(undefined);
      throw err;
    }
  }

  /** The worker recomputes the track as `generation` with the new model: store that under the new model's key once final. */
  private onModelSwapped(generation: number, sha: Promise<string> | undefined): void {
    this.generation = generation;
    const tc = this.trackCache;
    if (!tc || !sha) return;
    tc.target = undefined;
    tc.precomputed = false;
    sha.then((s) => this.trackKey(tc.audio, s, tc.normalize)).then(
      (key) => {
        // Unless another swap or track came first.
        if (this.trackCache === tc && this.generation === generation) {
          tc.target = { generation, key };
          this.maybeStore();
        }
      },
      (err: unknown) => this.warn('cache', `the stem cache cannot key the new model: ${(err as Error).message}`),
    );
  }

  // ---- views for the UI components (src/ui/engine-view.ts) ----

  stemState(name: string): { gain: number; muted: boolean; soloed: boolean } {
    const s = this.index(name);
    const i = this.state.controlI32;
    return { gain: this.state.controlF32[CTRL.GAIN + s], muted: Atomics.load(i, CTRL.MUTE + s) !== 0, soloed: Atomics.load(i, CTRL.SOLO + s) !== 0 };
  }

  /** Peak level of each stem output (linear, with a 20 dB/s fall), in `sources` order. */
  meterLevels(): Float32Array {
    return this.state.controlF32.slice(CTRL.METER, CTRL.METER + this.sources.length);
  }

  status(): EngineStatusSnapshot {
    const w = this.workerStats;
    return {
      backend: providerId(w.backend),
      backendReason: w.backendReason,
      backendsTried: w.backends.filter((b) => b.runs > 0).map((b) => ({ backend: providerId(b.provider), realTimeFactor: b.realTimeFactor, runs: b.runs })),
      threads: this.threads,
      latencyMs: (this.latencySamples / this.sampleRate) * 1000,
      realTimeFactor: w.realTimeFactor,
      underruns: readStats(this.state).underrunQuanta,
      modelName: this.modelName,
      modelBytes: this.modelBytes,
      readyAheadSeconds: w.readyAheadSeconds,
      sourceKind: this.sourceKind === 'track' ? (this.transport ? 'track' : 'idle') : 'live',
      cache: this.sourceKind === 'track' ? this.cacheStatus() : undefined,
    };
  }

  private cacheStatus(): StemCacheStatus {
    const u = this.cacheUsage;
    return { state: this.cacheState, entries: u?.entries ?? 0, bytes: u?.bytes ?? 0, maxBytes: u?.maxBytes ?? 0, persisted: u?.persisted };
  }

  private requireTransport(): TrackTransport {
    if (!this.transport) throw new StemstreamError('INVALID_STATE', this.sourceKind === 'track' ? 'no track loaded yet: call loadTrack() first' : "transport controls need an engine created with sourceKind: 'track'");
    return this.transport;
  }

  private newId(): number {
    return this.nextId++;
  }

  /**
   * Sends a request; resolves with its reply, rejects with its error (every
   * request is answerable). A request pending when the worker fails goes to the
   * fresh worker; if the engine gives up on the worker, it rejects with the cause.
   */
  private request(msg: ToWorker & { id: number }, progress?: (m: FromWorker) => void): Promise<FromWorker> {
    if (this.disposed) return Promise.reject(new StemstreamError('INVALID_STATE', 'the engine was disposed'));
    return this.supervisor.request(msg, progress);
  }

  /** The GainNode carrying stem `name` (its gain applied, delayed by latencySamples). */
  stem(name: string): GainNode {
    return this.stemNodes[this.index(name)];
  }

  /** Target gain of a stem (linear), ramped on the audio thread over rampFrames. */
  setGain(name: string, gain: number): void {
    setStemGain(this.state, this.index(name), gain);
  }

  mute(name: string, on = true): void {
    setStemMute(this.state, this.index(name), on);
  }

  /** While any stem is soloed, only soloed stems sound (mute still wins). */
  solo(name: string, on = true): void {
    setStemSolo(this.state, this.index(name), on);
  }

  /** false: play the input, delayed by the same latency, instead of the stems (crossfaded). */
  setStemsEnabled(on: boolean): void {
    setStemsEnabled(this.state, on);
  }

  get stats(): StemEngineStats {
    return { ...readStats(this.state), latencySamples: this.latencySamples, worker: { ...this.workerStats }, runtime: this.runtime, workerRestarts: this.supervisor.restarts.length };
  }

  get latencySeconds(): number {
    return this.latencySamples / this.sampleRate;
  }

  /** Stops the worker, ends the processor, disconnects the nodes. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.node.port.postMessage({ type: 'stop' });
    this.node.disconnect();
    this.output.disconnect();
    for (const g of this.stemNodes) g.disconnect();
    // Let the worker release its session (at most 2 s), then end it either way;
    // requests still pending reject.
    const stats = await this.supervisor.stop(2000, new StemstreamError('ABORTED', 'the engine was disposed'));
    if (stats) this.workerStats = stats;
    this.node.port.close();
    this.transport = undefined;
  }

  override addEventListener<K extends keyof StemEngineEventMap>(type: K, listener: (ev: StemEngineEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null | ((ev: Event) => void), options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  private index(name: string): number {
    const s = this.sources.indexOf(name);
    if (s < 0) throw new StemstreamError('BAD_OPTION', `no stem "${name}" in this model (it has ${this.sources.join(', ')})`);
    return s;
  }

  private poll(): void {
    this.maybeStore();
    if (this.transport) {
      const e = Atomics.load(this.transport.track.transport, TRACK.ENDED_SEQ);
      if (e !== this.endedSeq) {
        this.endedSeq = e;
        this.dispatchEvent(new Event('ended'));
      }
    }
    const u = readStats(this.state).underrunQuanta;
    if (u !== this.lastUnderruns && !this.gaveUp) {
      const newQuanta = (u - this.lastUnderruns) >>> 0;
      this.lastUnderruns = u;
      this.dispatchEvent(new CustomEvent('underrun', { detail: { underrunQuanta: u, newQuanta } }));
    }
  }

  /** Messages that are not replies to a request (the supervisor settles those). */
  private onWorkerMessage(m: FromWorker): void {
    switch (m.type) {
      case 'segment': {
        const newNonFinite = m.stats.nonFiniteSamples - this.workerStats.nonFiniteSamples;
        this.workerStats = m.stats;
        if (newNonFinite > 0) {
          this.warn('non-finite', `${newNonFinite} input sample${newNonFinite === 1 ? ' was' : 's were'} NaN or infinite and separated as silence (check the source feeding the engine)`, m.stats.nonFiniteSamples);
        }
        this.dispatchEvent(new CustomEvent('progress', { detail: { stats: m.stats } }));
        this.maybeStore();
        break;
      }
      case 'done':
        this.workerStats = m.stats;
        break;
      case 'backend-fallback':
        this.workerStats = m.stats;
        this.dispatchEvent(new CustomEvent('backend-fallback', { detail: { from: m.from, to: m.to, reason: m.reason } }));
        break;
      case 'backend-switch':
        this.workerStats = m.stats;
        this.dispatchEvent(new CustomEvent('backend-switch', { detail: { from: m.from, to: m.to, reason: m.reason } }));
        break;
      case 'stopped':
        this.workerStats = m.stats;
        break;
      case 'error':
        // An error answering no pending request (the worker's own failures restart it instead).
        this.fail(new StemstreamError(m.code, `inference worker: ${m.message}`));
        break;
      default:
        break;
    }
  }

  private fail(error: Error): void {
    this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
  }
}
