/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * What both faces of the real-time engine share (LiveStemEngine,
 * TrackStemEngine; StemEngine.create in stem-engine.ts makes them): the shared
 * state, the supervised inference worker, the audio-thread node and its Web
 * Audio outputs, the mixer (gains, mute, solo), status, events, setModel and
 * dispose. Nothing here is on the audio path: gains, mute and solo are stores
 * into the shared control block that the worklet polls once per render
 * quantum; the underrun counter is polled on a timer.
 */
import { StemstreamError } from '../../errors.js';
import type { EngineStatusSnapshot, StemCacheStatus } from './engine-status.js';
import { describeModel, readModelBytes, type ModelInfo } from '../../model/model.js';
import type { SharedState } from '../../realtime/shared-state.js';
import { readStats, setStemGain, setStemMute, setStemSolo, setStemsEnabled, CTRL } from '../../realtime/control-block.js';
import { NO_WORKER_STATS, type FromWorker, type ToWorker, type WorkerStats } from '../protocol.js';
import type { WorkerRestart, WorkerSupervisor } from './worker-client.js';
import type { StemEngineEventMap, StemEngineMode, StemEngineSourceKind, StemEngineStats, StemEngineWarning } from './stem-engine-options.js';

/** 'onnxruntime-web/webgpu' → 'webgpu'. */
function providerId(backend: string): string {
  return backend.includes('webgpu') ? 'webgpu' : backend.includes('wasm') ? 'wasm' : backend;
}

/** What StemEngine.create hands a face's constructor. */
export interface StemEngineParts {
  context: BaseAudioContext;
  state: SharedState;
  supervisor: WorkerSupervisor;
  node: AudioWorkletNode;
  info: ModelInfo;
  latency: number;
  mode: StemEngineMode;
  runtime: string;
  pollIntervalMs: number;
  threads: number;
  modelBytes: number;
  cache: false | { maxBytes: number };
  overlap: number;
  /** What the model's identity is computed from (the bytes, or a set's members). */
  modelSource: Uint8Array | { members: { model: Uint8Array; weights?: number[] }[] };
}

/** What a face does around a model swap (the track face re-keys its stem cache). */
export interface ModelSwapHooks {
  done(bytes: Uint8Array, generation: number | undefined): void;
  failed(): void;
}

export abstract class StemEngineCore extends EventTarget {
  /** Connect the source here (the worklet node; C channels, other counts are up/down-mixed). */
  readonly input: AudioNode;
  /** The mix of the stems with their gains (dry input where stems are missing), delayed by latencySamples. */
  readonly output: GainNode;
  /** Stem names, in the model's order. */
  readonly sources: readonly string[];
  /** Fixed latency in frames: output frame n is input frame n − latencySamples, for every output (0 for a track). */
  readonly latencySamples: number;
  readonly sampleRate: number;
  readonly channels: number;
  readonly mode: StemEngineMode;
  readonly model: ModelInfo;
  /** 'onnxruntime-web' (the worker's runtime). */
  readonly runtime: string;
  /** 'live' or 'track', fixed at create(). */
  abstract readonly sourceKind: StemEngineSourceKind;
  readonly threads: number;

  readonly context: BaseAudioContext;
  protected readonly state: SharedState;
  /** Runs the inference worker and replaces it when it fails (protocol.ts). */
  protected readonly supervisor: WorkerSupervisor;
  protected readonly node: AudioWorkletNode;
  private readonly stemNodes: GainNode[];
  protected workerStats: WorkerStats = { ...NO_WORKER_STATS };
  private lastUnderruns = 0;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  protected disposed = false;
  /** Given up on the worker: no more underrun events (the audio plays dry). */
  private gaveUp = false;
  private modelBytes: number;
  private modelName: string;
  private nextId = 10;

  /** @internal StemEngine.create makes engines. */
  constructor(parts: StemEngineParts) {
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
    this.threads = parts.threads;
    this.modelBytes = parts.modelBytes;
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
    this.pollTimer = setInterval(() => this.poll(), parts.pollIntervalMs);
    // create() resolves first; listeners added right after `await create()` still see 'ready'.
    setTimeout(() => {
      this.dispatchEvent(new Event('ready'));
      // Given up on before the engine existed (a worker failing at once, repeatedly).
      if (this.supervisor.failure && !this.gaveUp) this.onGiveUp(this.supervisor.failure);
    }, 0);
  }

  /** @internal The supervisor's events (worker-client.ts WorkerSupervisor), bound once the engine exists. */
  static hooks(engine: () => StemEngineCore | undefined) {
    return {
      onMessage: (m: FromWorker) => engine()?.onWorkerMessage(m),
      replay: () => engine()?.replayMessages() ?? [],
      onRestart: (r: WorkerRestart) => engine()?.dispatchEvent(new CustomEvent('restart', { detail: { error: r.cause, attempt: r.attempt } })),
      onRecovered: (r: WorkerRestart) => engine()?.dispatchEvent(new CustomEvent('recovered', { detail: { ms: (r.readyAt ?? r.at) - r.at, attempt: r.attempt } })),
      onGiveUp: (error: Error) => engine()?.onGiveUp(error),
    };
  }

  /** What a restarted worker needs before the requests still pending (the track face: its track). */
  protected replayMessages(): ToWorker[] {
    return [];
  }

  /** The worker failed too often: one error event, the audio bypassed to dry (no stems will come), no more underrun events. */
  private onGiveUp(error: Error): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    if (this.disposed) return;
    setStemsEnabled(this.state, false);
    this.fail(error);
  }


  /** Called around setModel's swap (before any await); the track face re-keys its cache there. */
  protected beginModelSwap(): ModelSwapHooks {
    return { done: () => undefined, failed: () => undefined };
  }

  /**
   * Another model with the same stems and segment length (e.g. the fp32 one
   * after the fp16 one), at the same latency. Track: the old stems keep playing
   * until the new ones replace them. Live: the next segments run on the new
   * model, crossfaded by the overlap-add over one overlap.
   */
  async setModel(model: Uint8Array | ArrayBuffer | string | URL, onProgress?: (p: { loadedBytes: number; totalBytes?: number }) => void): Promise<void> {
    const source = typeof model === 'string' || model instanceof URL ? model : model instanceof ArrayBuffer ? new Uint8Array(model) : model;
    const swap = this.beginModelSwap();
    try {
      const { bytes, name } = await readModelBytes(source, { onProgress });
      describeModel(bytes, name);
      const reply = await this.request({ type: 'swap-model', id: this.newId(), model: bytes });
      // A worker restarted from now on loads this one.
      this.supervisor.setModel(bytes);
      this.modelName = name;
      this.modelBytes = bytes.length;
      swap.done(bytes, reply.type === 'model-swapped' ? reply.generation : undefined);
    } catch (err) {
      swap.failed();
      throw err;
    }
  }

  protected warn(kind: StemEngineWarning['kind'], message: string, nonFiniteSamples = 0): void {
    this.dispatchEvent(new CustomEvent('warning', { detail: { kind, message, nonFiniteSamples } satisfies StemEngineWarning }));
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
      sourceKind: this.statusSourceKind(),
      cache: this.cacheStatus(),
    };
  }

  /** status().sourceKind: 'live', or 'track' / 'idle' (no track loaded yet). */
  protected abstract statusSourceKind(): EngineStatusSnapshot['sourceKind'];

  /** status().cache: the track face's stem cache; undefined live. */
  protected cacheStatus(): StemCacheStatus | undefined {
    return undefined;
  }

  protected newId(): number {
    return this.nextId++;
  }


  /**
   * Sends a request; resolves with its reply, rejects with its error (every
   * request is answerable). A request pending when the worker fails goes to the
   * fresh worker; if the engine gives up on the worker, it rejects with the cause.
   */
  protected request(msg: ToWorker & { id: number }, progress?: (m: FromWorker) => void): Promise<FromWorker> {
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
    this.onDisposed();
  }

  /** After dispose(): a face drops what it holds. */
  protected onDisposed(): void {}

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

  /** Each poll (pollIntervalMs): a face's own bookkeeping first (the track face: ended, cache store). */
  protected onPoll(): void {}

  private poll(): void {
    this.onPoll();
    const u = readStats(this.state).underrunQuanta;
    if (u !== this.lastUnderruns && !this.gaveUp) {
      const newQuanta = (u - this.lastUnderruns) >>> 0;
      this.lastUnderruns = u;
      this.dispatchEvent(new CustomEvent('underrun', { detail: { underrunQuanta: u, newQuanta } }));
    }
  }

  /** A segment finished (the track face may store its now-complete stems). */
  protected onSegment(): void {}

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
        this.onSegment();
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

  protected fail(error: Error): void {
    this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
  }
}
