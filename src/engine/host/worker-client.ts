/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * The main thread's client of the inference worker, shared by StemEngine (a
 * Web Worker) and the Node harness (a worker_threads Worker): starts it,
 * sends requests and settles their replies, watches its heartbeat and busy
 * phases, and replaces a failed worker by a fresh one that resumes the stream
 * (WorkerSupervisor).
 */
import { StemstreamError } from '../../errors.js';
import { CTRL } from '../../realtime/control-block.js';
import type { SharedState } from '../../realtime/shared-state.js';
import { BUSY, DEFAULT_RECOVERY, DEFAULT_WATCHDOG, type FromWorker, type RecoveryOptions, type ToWorker, type WatchdogOptions, type WorkerStats } from '../protocol.js';

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
        const err = new StemstreamError(m.code, `inference worker: ${m.message}`);
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
