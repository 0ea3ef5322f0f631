/**
 * Messages between the main thread and the inference worker: typed, every
 * request answerable with an error. Also the main thread's side of keeping a
 * worker alive (WorkerSupervisor, below), shared by StemEngine (a Web Worker)
 * and the Node harness (a worker_threads Worker).
 */
import { StemstreamError, type StemstreamErrorCode } from '../errors.js';
import type { RuntimeChoice } from '../model/runtime.js';
import type { BackendMeasure } from './backend-pool.js';
import { CTRL } from '../realtime/control-block.js';
import { type SharedState, type SharedStateBuffers } from '../realtime/shared-state.js';
import type { TrackBuffers } from '../realtime/track-state.js';
import type { ExportedFile, StemExportFormat } from '../export/stems-export.js';

/**
 * The inference watchdog. Every session.run gets a time limit: the first run of
 * a session (shader compilation, warm-up) `firstRunMs`, later ones `factor` ×
 * the slowest run measured on that session, at least `minMs`. The worker races
 * each run against its limit (enough for an asynchronous backend such as
 * WebGPU); a runtime that blocks the worker's thread (onnxruntime-node,
 * onnxruntime-web's WASM) is caught by the main thread instead, through the
 * heartbeat: the worker bumps CTRL.WORKER_HEARTBEAT every `heartbeatIntervalMs`
 * and publishes the limit of whatever blocking phase it enters
 * (CTRL.WORKER_BUSY_MS: a run, a model load, an export); the main thread
 * declares it dead after `heartbeatTimeoutMs` plus that limit without a beat.
 */
export interface WatchdogOptions {
  /** The limit of a session's first run, and of loading a model, ms (default 120 000). */
  firstRunMs?: number;
  /** Later runs: this many times the slowest run measured on the session (default 4). */
  factor?: number;
  /** The least limit of a later run, ms (default 5000). */
  minMs?: number;
  /** How often the worker beats, ms (default 100). */
  heartbeatIntervalMs?: number;
  /** Silence after which the main thread declares an idle worker dead, ms (default 10 000). */
  heartbeatTimeoutMs?: number;
}

export const DEFAULT_WATCHDOG: Required<WatchdogOptions> = {
  firstRunMs: 120_000,
  factor: 4,
  minMs: 5000,
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 10_000,
};

/** What a worker restart budget allows: `maxRestarts` within `windowMs`, then it gives up. */
export interface RecoveryOptions {
  /** Restarts allowed within `windowMs` (default 3); one more failure gives up. */
  maxRestarts?: number;
  windowMs?: number;
  /** How often the main thread checks the heartbeat, ms (default 100). */
  pollMs?: number;
}

export const DEFAULT_RECOVERY: Required<RecoveryOptions> = { maxRestarts: 3, windowMs: 60_000, pollMs: 100 };

/** CTRL.WORKER_BUSY_KIND values. */
export const BUSY = { IDLE: 0, RUN: 1, LOAD: 2, EXPORT: 3 } as const;

export interface WorkerInitOptions {
  overlap: number;
  runtime: RuntimeChoice;
  threads?: number;
  /** onnxruntime-web only: execution providers in order of preference (default ['wasm']), each loaded on its own. */
  executionProviders?: string[];
  /** 'auto': run the next job on another provider when the running one is slower than real time, keep the faster (backend-pool.ts). */
  switchByMeasurement?: boolean;
  /** The caller forced WebGPU: a fallback (software) or small adapter is used anyway (backend-choice.ts). */
  forceWebgpu?: boolean;
  /** Why these providers (the main thread's choice), shown until the worker has its own reason. */
  backendReason?: string;
  /** Low-latency mode (frames); quality mode when absent. */
  lowLatency?: { hop: number; lookahead: number };
  /** The stream's length when known in advance (a file or track); live streams end with end-of-input. */
  length?: number;
  /** Live: the input history the worker keeps, frames (ring-sizes.ts; default the least its jobs need). */
  historyFrames?: number;
  /**
   * Live: how far the audio thread's deadline moves per ms (sample rate / 1000,
   * the default: real time). 0 for a clock that waits for the worker (the Node
   * harness's as-fast-as-possible mode): no job is then skipped as too late.
   */
  deadlineFramesPerMs?: number;
  /**
   * 'live' (default): separate what the worklet captures. 'track': wait for
   * 'load-track' and separate that track around the playhead (track-renderer.ts).
   */
  sourceKind?: 'live' | 'track';
  /**
   * A model set (a Demucs bag): every member runs each segment and the stems are
   * combined with per-source weights (set-runner.ts). The init's `model` is ignored.
   */
  members?: { model: Uint8Array; weights?: number[] }[];
  /**
   * A worker started in place of one that failed: the stream goes on from where
   * the shared state says the last worker left it (CTRL.WORKER_IN_* and
   * WORKER_OUT_* with the rings' own indices), at the same latency.
   */
  resume?: boolean;
  /** The inference watchdog's limits (default DEFAULT_WATCHDOG). */
  watchdog?: WatchdogOptions;
}



export type ToWorker =
  | { type: 'init'; id: number; buffers: SharedStateBuffers; model: Uint8Array; options: WorkerInitOptions }
  | { type: 'end-of-input'; id: number; frames: number }
  /** Track input: separate this track (replaces the previous one). */
  | { type: 'load-track'; id: number; track: TrackBuffers; normalize: boolean; /** A restarted worker: the model generation the track's ready map carries (default: the next). */ generation?: number }
  /**
   * Another model (same segment, sources and channels). Track: its stems replace
   * the old as they are computed. Live: the next segments run on it (crossfaded
   * by the overlap-add), at the same latency.
   */
  | { type: 'swap-model'; id: number; model: Uint8Array }
  /** Track input: when the whole track is separated, one WAV per stem and a ZIP of them. */
  | { type: 'export'; id: number; baseName: string; format?: StemExportFormat }
  | { type: 'stop'; id: number };

export interface WorkerStats {
  segments: number;
  lastRunMs: number;
  runMsTotal: number;
  framesIn: number;
  framesOut: number;
  /** Live: jobs not run because their stems would have come too late (compute slower than real time). */
  segmentsSkipped: number;
  /** Live: input samples that were NaN or ±Infinity, separated as 0. */
  nonFiniteSamples: number;
  /** The runtime and the execution provider that ran the last job, e.g. 'onnxruntime-web/wasm'. */
  backend: string;
  /** Why that provider, in a sentence (the adapter skipped, a failure, a measurement). */
  backendReason: string;
  /** Each provider of the pool as measured so far (real-time factor of its last run). */
  backends: BackendMeasure[];
  /** Last session.run over the audio time one job covers (stride or hop): < 1 keeps up. */
  realTimeFactor: number;
  /** Stems computed ahead of what the audio thread has played, seconds. */
  readyAheadSeconds: number;
}

export const NO_WORKER_STATS: WorkerStats = { segments: 0, segmentsSkipped: 0, nonFiniteSamples: 0, lastRunMs: 0, runMsTotal: 0, framesIn: 0, framesOut: 0, backend: '', backendReason: '', backends: [], realTimeFactor: 0, readyAheadSeconds: 0 };

export type FromWorker =
  | {
    type: 'ready';
    id: number;
    sources: string[];
    segmentSamples: number;
    stride: number;
    sampleRate: number;
    runtime: string;
    /** A resumed live worker: the stream frame its first stems are for (those before it play dry). */
    resumeFrame?: number;
  }
  | { type: 'segment'; stats: WorkerStats }
  | { type: 'done'; id: number; stats: WorkerStats }
  | { type: 'stopped'; id: number; stats: WorkerStats }
  | { type: 'track-loaded'; id: number; segments: number }
  | { type: 'model-swapped'; id: number; generation: number; sources: string[] }
  | { type: 'backend-fallback'; from: string; to: string; reason: string; stats: WorkerStats }
  /** 'auto' moved to another provider because the one running was slower than real time (or back, to the faster). */
  | { type: 'backend-switch'; from: string; to: string; reason: string; stats: WorkerStats }
  | { type: 'export-progress'; id: number; phase: 'separating' | 'encoding'; fraction: number }
  | { type: 'exported'; id: number; files: ExportedFile[]; zip: Uint8Array; zipName: string; clipped: string[] }
  /**
   * `fatal`: the worker can do nothing more (its loop ended); a request it
   * answers so is not refused but orphaned, and the main thread may give it to
   * a fresh worker. id −1: no request; the worker itself failed.
   */
  | { type: 'error'; id: number; code: string; message: string; fatal?: boolean };


// ---- the main thread's side: keeping a worker alive (StemEngine, the Node harness) ----

/** What a host reports about its worker (a Web Worker's events, or a worker_threads Worker's). */
export interface WorkerEvents {
  message(m: FromWorker): void;
  /** An uncaught error in the worker. */
  error(message: string): void;
  /** A message from the worker could not be deserialized. */
  messageerror(): void;
  /** The worker's thread ended (Node only; a browser tells nothing, the heartbeat does). */
  exit(code: number): void;
}

/** A started worker, wired to a WorkerEvents. */
export interface WorkerEndpoint {
  post(message: ToWorker): void;
  /** Ends the worker; a promise where the host says when it has ended (Node). */
  terminate(): unknown;
}

type InitMessage = Extract<ToWorker, { type: 'init' }>;
type ReadyMessage = Extract<FromWorker, { type: 'ready' }>;

/** One worker failure and what came of it. Times are performance.now() ms. */
export interface WorkerRestart {
  /** What happened (code INFERENCE_FAILED, INFERENCE_TIMEOUT, DEVICE_LOST, WORKER_CRASHED, …). */
  cause: StemstreamError;
  /** Failures within the restart window so far, this one included. */
  attempt: number;
  /** When the failure was noticed. */
  at: number;
  /** When the fresh worker was ready (its model loaded, the stream resumed). */
  readyAt?: number;
  /** Live: the stream frame the fresh worker's first stems are for. */
  resumeFrame?: number;
}

export interface WorkerSupervisorOptions {
  /** The control block (heartbeat, busy phase). */
  state: SharedState;
  /** The init message of the first worker; a restarted one gets it with `resume`. */
  init: InitMessage;
  /** Starts a worker wired to `events`. */
  spawn(events: WorkerEvents): WorkerEndpoint;
  /** Every message that is not a reply to a request (segment, done, backend-fallback, …). */
  onMessage(m: FromWorker): void;
  /** Sent to a restarted worker once it is ready, before the requests still pending (track: load-track). */
  replay?(): ToWorker[];
  /** A failure was noticed; a fresh worker is starting. */
  onRestart?(r: WorkerRestart): void;
  /** The fresh worker is ready. */
  onRecovered?(r: WorkerRestart): void;
  /** Too many failures: no more restarts. Called once; pending requests are rejected with the same error. */
  onGiveUp(error: StemstreamError): void;
  /** The error for a first worker that fails to start (default: MODEL_LOAD_FAILED with the detail). */
  startError?(detail: string, cause?: StemstreamError): StemstreamError;
  watchdog?: WatchdogOptions;
  recovery?: RecoveryOptions;
}

const INIT_ID = 1;
const STOP_ID = 2;

interface Pending {
  msg: ToWorker;
  resolve(m: FromWorker): void;
  reject(e: Error): void;
  progress?(m: FromWorker): void;
}

/**
 * Runs an inference worker and replaces it when it fails: a fatal error it
 * reports (session.run threw or timed out on its last provider, the GPU device
 * was lost), an uncaught error, an unreadable message, an exit, or a missed
 * heartbeat (a thread blocked past its limit, a worker the browser killed
 * without an event). The failed worker is terminated and a fresh one started
 * with the same shared state and model bytes, `resume` set: it picks the
 * stream up where the last one left it, at the same latency, while the audio
 * thread plays dry. Requests still pending are given to the fresh worker; after
 * `maxRestarts` failures within `windowMs` it gives up: one onGiveUp, and every
 * pending request rejected with that error.
 */
export class WorkerSupervisor {
  /** 'starting': the first worker is loading; 'restarting': a fresh one is. */
  phase: 'idle' | 'starting' | 'ready' | 'restarting' | 'stopped' | 'failed' = 'idle';
  readonly restarts: WorkerRestart[] = [];
  /** Set once given up (or when the first worker failed to start). */
  failure: StemstreamError | undefined;
  private readonly options: WorkerSupervisorOptions;
  private readonly watchdog: Required<WatchdogOptions>;
  private readonly recovery: Required<RecoveryOptions>;
  private init: InitMessage;
  private endpoint: WorkerEndpoint | undefined;
  private generation = 0;
  private readonly pending = new Map<number, Pending>();
  private replayIds = new Set<number>();
  private nextReplayId = -1000;
  private failures: number[] = [];
  private lastBeat = 0;
  private lastBeatAt = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private first: { resolve(m: ReadyMessage): void; reject(e: Error): void } | undefined;
  private stopWaiter: ((m: FromWorker | undefined) => void) | undefined;
  private current: WorkerRestart | undefined;
  private stopping = false;

  constructor(options: WorkerSupervisorOptions) {
    this.options = options;
    this.init = options.init;
    this.watchdog = { ...DEFAULT_WATCHDOG, ...definedOnly(options.watchdog) };
    this.recovery = { ...DEFAULT_RECOVERY, ...definedOnly(options.recovery) };
  }

  /** Starts the first worker; resolves with its 'ready', rejects if it fails to start (no restart then). */
  start(): Promise<ReadyMessage> {
    return new Promise((resolve, reject) => {
      this.first = { resolve, reject };
      this.timer = setInterval(() => this.tick(), this.recovery.pollMs);
      (this.timer as { unref?(): void }).unref?.();
      this.launch(false);
    });
  }

  /** A worker is loading after a failure. */
  get restarting(): boolean {
    return this.phase === 'restarting';
  }

  /** The model a restarted worker loads (after a successful model swap). */
  setModel(bytes: Uint8Array): void {
    this.init = { ...this.init, model: bytes };
  }

  /** Sends a request; resolves with its reply, rejects with its error. Kept across restarts. */
  request(msg: ToWorker, progress?: (m: FromWorker) => void): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.phase === 'stopped' || this.phase === 'idle') return Promise.reject(new StemstreamError('ABORTED', 'the inference worker was stopped'));
    return new Promise((resolve, reject) => {
      this.pending.set(msg.id, { msg, resolve, reject, progress });
      if (this.phase === 'ready') this.endpoint?.post(msg);
    });
  }

  /** A message that expects no reply; dropped unless a worker is ready. */
  post(msg: ToWorker): void {
    if (this.phase === 'ready') this.endpoint?.post(msg);
  }

  /**
   * Asks the worker to stop (releasing its sessions), waits for 'stopped' up to
   * `timeoutMs`, then terminates it. Pending requests are rejected with `reason`.
   * Resolves with the worker's last stats, if it said.
   */
  async stop(timeoutMs: number, reason: Error = new StemstreamError('ABORTED', 'the inference worker was stopped')): Promise<WorkerStats | undefined> {
    let stats: WorkerStats | undefined;
    this.stopping = true;
    if (this.phase === 'ready' && this.endpoint) {
      const ep = this.endpoint;
      const reply = await new Promise<FromWorker | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), timeoutMs);
        this.stopWaiter = (m) => {
          clearTimeout(timer);
          resolve(m);
        };
        ep.post({ type: 'stop', id: STOP_ID });
      });
      this.stopWaiter = undefined;
      if (reply?.type === 'stopped') stats = reply.stats;
    }
    if (this.phase !== 'failed') this.phase = 'stopped';
    this.generation++;
    this.clearTimer();
    const ep = this.endpoint;
    this.endpoint = undefined;
    this.first?.reject(reason);
    this.first = undefined;
    this.rejectAll(reason);
    await settle(ep?.terminate());
    return stats;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private rejectAll(error: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(error);
  }

  private resumeInit(): InitMessage {
    const o = this.init.options;
    return {
      ...this.init,
      options: { ...o, resume: true },
    };
  }

  private launch(resume: boolean): void {
    const generation = ++this.generation;
    const ctrl = this.options.state.controlI32;
    // Until the worker runs and says otherwise, it is loading: boot, fetch, compile, load.
    Atomics.store(ctrl, CTRL.WORKER_BUSY_KIND, BUSY.LOAD);
    Atomics.store(ctrl, CTRL.WORKER_BUSY_MS, this.watchdog.firstRunMs);
    this.lastBeat = Atomics.load(ctrl, CTRL.WORKER_HEARTBEAT);
    this.lastBeatAt = performance.now();
    this.phase = resume ? 'restarting' : 'starting';
    const live = () => generation === this.generation;
    try {
      this.endpoint = this.options.spawn({
        message: (m) => { if (live()) this.onMessage(m); },
        error: (message) => { if (live()) this.fault(new StemstreamError('WORKER_CRASHED', `the inference worker crashed: ${message || 'an uncaught error with no message'}`)); },
        messageerror: () => { if (live()) this.fault(new StemstreamError('WORKER_CRASHED', 'a message from the inference worker could not be read (messageerror)')); },
        exit: (code) => { if (live()) this.fault(new StemstreamError('WORKER_CRASHED', `the inference worker exited (code ${code})`)); },
      });
      this.endpoint.post(resume ? this.resumeInit() : this.init);
    } catch (err) {
      this.fault(new StemstreamError('WORKER_CRASHED', `could not start the inference worker: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** The heartbeat check, every pollMs. */
  private tick(): void {
    if (!this.endpoint || !(this.phase === 'starting' || this.phase === 'restarting' || this.phase === 'ready')) return;
    const ctrl = this.options.state.controlI32;
    const now = performance.now();
    const beat = Atomics.load(ctrl, CTRL.WORKER_HEARTBEAT);
    if (beat !== this.lastBeat) {
      this.lastBeat = beat;
      this.lastBeatAt = now;
      return;
    }
    const busyMs = Math.max(0, Atomics.load(ctrl, CTRL.WORKER_BUSY_MS));
    const kind = Atomics.load(ctrl, CTRL.WORKER_BUSY_KIND);
    const silent = now - this.lastBeatAt;
    if (silent <= this.watchdog.heartbeatTimeoutMs + busyMs) return;
    const s = (silent / 1000).toFixed(1);
    if (kind === BUSY.RUN && busyMs > 0) {
      this.fault(new StemstreamError('INFERENCE_TIMEOUT', `session.run has not returned in ${s} s (its limit was ${busyMs} ms); the worker's thread is blocked`));
    } else if (kind === BUSY.LOAD && busyMs > 0) {
      this.fault(new StemstreamError('WORKER_CRASHED', `the inference worker has given no sign of life for ${s} s while starting or loading a model (limit ${busyMs} ms)`));
    } else {
      this.fault(new StemstreamError('WORKER_CRASHED', `the inference worker missed its heartbeat: no sign of life for ${s} s`));
    }
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        if (m.id === INIT_ID) this.onReady(m);
        this.options.onMessage(m);
        return;
      case 'track-loaded':
      case 'model-swapped':
      case 'exported': {
        if (this.replayIds.delete(m.id)) return;
        const p = this.pending.get(m.id);
        if (!p) {
          this.options.onMessage(m);
          return;
        }
        this.pending.delete(m.id);
        p.resolve(m);
        return;
      }
      case 'export-progress':
        this.pending.get(m.id)?.progress?.(m);
        return;
      case 'stopped':
        this.stopWaiter?.(m);
        this.options.onMessage(m);
        return;
      case 'backend-fallback': {
        // A restarted worker starts on the provider the stream fell back to.
        const eps = this.init.options.executionProviders;
        const at = eps ? eps.indexOf(m.to) : -1;
        if (eps && at > 0) this.init = { ...this.init, options: { ...this.init.options, executionProviders: eps.slice(at) } };
        this.options.onMessage(m);
        return;
      }
      case 'backend-switch': {
        // A restarted worker starts on the provider 'auto' moved to.
        const eps = this.init.options.executionProviders;
        if (eps?.includes(m.to)) this.init = { ...this.init, options: { ...this.init.options, executionProviders: [m.to, ...eps.filter((p) => p !== m.to)] } };
        this.options.onMessage(m);
        return;
      }
      case 'error': {
        const err = new StemstreamError(m.code as StemstreamErrorCode, `inference worker: ${m.message}`);
        if (m.id === INIT_ID && (this.phase === 'starting' || this.phase === 'restarting')) {
          this.fault(err);
          return;
        }
        if (this.replayIds.delete(m.id)) {
          this.fault(err);
          return;
        }
        if (m.fatal) {
          // A request orphaned by a failed worker stays pending for the next one.
          if (m.id < 0 || !this.pending.has(m.id)) this.fault(err);
          return;
        }
        const p = this.pending.get(m.id);
        if (p) {
          this.pending.delete(m.id);
          p.reject(err);
        } else this.options.onMessage(m);
        return;
      }
      default:
        this.options.onMessage(m);
    }
  }

  private onReady(m: ReadyMessage): void {
    if (this.phase === 'starting') {
      this.phase = 'ready';
      this.first?.resolve(m);
      this.first = undefined;
      return;
    }
    if (this.phase !== 'restarting') return;
    this.phase = 'ready';
    const ep = this.endpoint;
    for (const msg of this.options.replay?.() ?? []) {
      const id = this.nextReplayId--;
      this.replayIds.add(id);
      ep?.post({ ...msg, id } as ToWorker);
    }
    for (const id of [...this.pending.keys()].sort((a, b) => a - b)) ep?.post(this.pending.get(id)!.msg);
    const r = this.current;
    if (r) {
      r.readyAt = performance.now();
      r.resumeFrame = m.resumeFrame;
      this.options.onRecovered?.(r);
    }
  }

  /** A worker failed: restart, or give up. */
  private fault(cause: StemstreamError): void {
    const phase = this.phase;
    if (phase !== 'starting' && phase !== 'restarting' && phase !== 'ready') return;
    const ep = this.endpoint;
    this.endpoint = undefined;
    this.generation++;
    if (this.stopping) {
      // Failing while asked to stop: nothing to restart.
      this.stopWaiter?.(undefined);
      void settle(ep?.terminate());
      return;
    }
    if (phase === 'starting') {
      // The first worker: no stream to save yet; create() fails with the cause.
      this.phase = 'failed';
      this.clearTimer();
      this.failure = this.options.startError?.(cause.message, cause)
        ?? (cause.code === 'WORKER_CRASHED' ? new StemstreamError('MODEL_LOAD_FAILED', `the inference worker failed to start: ${cause.message}`, { cause }) : cause);
      void settle(ep?.terminate());
      this.first?.reject(this.failure);
      this.first = undefined;
      return;
    }
    this.phase = 'restarting';
    const now = performance.now();
    this.failures = this.failures.filter((t) => now - t < this.recovery.windowMs);
    this.failures.push(now);
    const record: WorkerRestart = { cause, attempt: this.failures.length, at: now };
    if (this.failures.length > this.recovery.maxRestarts) {
      this.giveUp(cause);
      void settle(ep?.terminate());
      return;
    }
    this.restarts.push(record);
    this.current = record;
    this.options.onRestart?.(record);
    const generation = this.generation;
    // The old thread must be gone before a new one touches the rings.
    void settle(ep?.terminate()).then(() => {
      if (this.phase === 'restarting' && this.generation === generation) this.launch(true);
    });
  }

  private giveUp(cause: StemstreamError): void {
    this.phase = 'failed';
    this.clearTimer();
    const n = this.failures.length;
    const error = new StemstreamError(
      cause.code,
      `the inference worker failed ${n} times within ${Math.round(this.recovery.windowMs / 1000)} s, so it is not restarted again (the audio goes on dry); last failure: ${cause.message}`,
      { cause },
    );
    this.failure = error;
    this.rejectAll(error);
    this.stopWaiter?.(undefined);
    this.options.onGiveUp(error);
  }
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Awaits a value that may be a promise, ignoring its failure. */
async function settle(x: unknown): Promise<void> {
  try {
    await x;
  } catch {
    // ended anyway
  }
}
