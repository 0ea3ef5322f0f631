/**
 * The worker's liveness and the watchdog around every session.run
 * (docs/ARCHITECTURE.md §10): a heartbeat and the current blocking phase in the
 * control block (CTRL.WORKER_HEARTBEAT, WORKER_BUSY_*), read by the main
 * thread's WorkerSupervisor; each run raced against its limit and the GPU
 * device's loss, its failures typed (INFERENCE_FAILED, INFERENCE_TIMEOUT,
 * DEVICE_LOST); and the test faults injected where a test asks for them.
 */
import { StemstreamError } from '../../errors.js';
import type { SeparationModel } from '../../model/model.js';
import type { RuntimeSession, TensorFeed } from '../../model/runtime.js';
import { CTRL } from '../../realtime/control-block.js';
import { BUSY, DEFAULT_WATCHDOG, type WatchdogOptions, type WorkerFaults, type WorkerInitOptions } from '../worker-protocol.js';

/** What the guard needs from the host (inference-worker-core.ts InferenceWorkerHost). */
export interface GuardHost {
  deviceLost?(model: SeparationModel): Promise<string> | undefined;
  exit?(): void;
  loseDevice?(model: SeparationModel): boolean;
}

/** The heartbeat and blocking phases of this worker, from init on. */
export class Liveness {
  ctrl: Int32Array | undefined;
  limits: Required<WatchdogOptions> = { ...DEFAULT_WATCHDOG };
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  /** Starts beating in this control block, with these limits (the init's). */
  start(ctrl: Int32Array, limits: WatchdogOptions | undefined): void {
    this.ctrl = ctrl;
    this.limits = { ...DEFAULT_WATCHDOG };
    for (const [k, v] of Object.entries(limits ?? {})) if (typeof v === 'number') (this.limits as Record<string, number>)[k] = v;
    Atomics.store(ctrl, CTRL.WORKER_BUSY_KIND, BUSY.IDLE);
    Atomics.store(ctrl, CTRL.WORKER_BUSY_MS, 0);
    this.beat();
    this.stop();
    this.heartbeat = setInterval(() => this.beat(), this.limits.heartbeatIntervalMs);
  }

  beat(): void {
    if (this.ctrl) Atomics.add(this.ctrl, CTRL.WORKER_HEARTBEAT, 1);
  }

  /** Enters a blocking phase of at most `ms` (the main thread allows that much silence); returns its end. */
  busy(kind: number, ms: number): () => void {
    const c = this.ctrl;
    if (!c) return () => undefined;
    const kind0 = Atomics.load(c, CTRL.WORKER_BUSY_KIND);
    const ms0 = Atomics.load(c, CTRL.WORKER_BUSY_MS);
    Atomics.store(c, CTRL.WORKER_BUSY_KIND, kind);
    Atomics.store(c, CTRL.WORKER_BUSY_MS, Math.min(2 ** 31 - 1, Math.ceil(ms)));
    this.beat();
    return () => {
      Atomics.store(c, CTRL.WORKER_BUSY_KIND, kind0);
      Atomics.store(c, CTRL.WORKER_BUSY_MS, ms0);
      this.beat();
    };
  }

  /** Stops the heartbeat (the worker is about to end). */
  stop(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

/** Blocks this thread for good (test faults: a hung WASM run, a frozen worker). */
function blockForever(): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);


/** Tests: the extra ms of each run, a constant or phases timed from the first run (the last phase lasts). */
export function extraRunSchedule(spec: NonNullable<WorkerInitOptions['extraRunMs']>): () => number {
  if (typeof spec === 'number') return () => spec;
  let t0: number | undefined;
  return () => {
    const now = performance.now();
    t0 ??= now;
    let end = t0;
    for (const phase of spec) {
      end += phase.forMs ?? Number.POSITIVE_INFINITY;
      if (now < end) return phase.ms;
    }
    return spec[spec.length - 1]?.ms ?? 0;
  };
}

/**
 * The watchdog around one provider's session: each run raced against its
 * limit and the device's loss, failures typed (INFERENCE_FAILED,
 * INFERENCE_TIMEOUT, DEVICE_LOST), and the test faults injected.
 */
export function guardModel(model: SeparationModel, label: string, faults: WorkerFaults | undefined, live: Liveness, host: GuardHost): SeparationModel {
  const watchdog = live.limits;
  const busy = (kind: number, ms: number) => live.busy(kind, ms);
  const ctrl = live.ctrl;
  const inner = model.session;
  let runs = 0;
  let slowest = 0;
  let lost: string | undefined;
  let abort: ((e: Error) => void) | undefined;
  const lostError = (reason: string) => new StemstreamError('DEVICE_LOST', `${label}: the GPU device was lost (${reason})`);
  const markLost = (reason: string) => {
    if (lost !== undefined) return;
    lost = reason;
    abort?.(lostError(reason));
  };
  host.deviceLost?.(model)?.then(markLost, () => undefined);
  const at = (n: number, after: number | undefined) => after !== undefined && n >= after;
  /** Test faults: what run `n` does instead of running. */
  const injected = (n: number): ReturnType<RuntimeSession['run']> | undefined => {
    if (!faults) return undefined;
    if (at(n, faults.throwAfterRuns)) return Promise.reject(new Error('session.run failed (a fault injected by the test hook throwAfterRuns)'));
    if (at(n, faults.hangAfterRuns)) return never();
    if (at(n, faults.blockAfterRuns)) blockForever();
    if (at(n, faults.loseDeviceAfterRuns)) {
      // A real device is destroyed (its loss comes back through the listener); else simulated.
      if (!host.loseDevice?.(model)) queueMicrotask(() => markLost('injected by the test hook loseDeviceAfterRuns'));
      return never();
    }
    if (at(n, faults.crashAfterRuns)) {
      setTimeout(() => {
        throw new Error('the inference worker crashed (a fault injected by the test hook crashAfterRuns)');
      }, 0);
      return never();
    }
    if (at(n, faults.exitSilentlyAfterRuns)) {
      // Killed from outside, between two tasks: not in a busy phase, no error event.
      if (ctrl) {
        Atomics.store(ctrl, CTRL.WORKER_BUSY_KIND, BUSY.IDLE);
        Atomics.store(ctrl, CTRL.WORKER_BUSY_MS, 0);
      }
      host.exit?.();
      return never();
    }
    return undefined;
  };
  const session: RuntimeSession = {
    get inputNames() {
      return inner.inputNames;
    },
    get outputNames() {
      return inner.outputNames;
    },
    async run(feeds: Record<string, TensorFeed>, outputs?: Record<string, TensorFeed>) {
      if (lost !== undefined) throw lostError(lost);
      const n = runs++;
      const limit = Math.ceil(n === 0 ? watchdog.firstRunMs : Math.max(watchdog.minMs, watchdog.factor * slowest));
      const done = busy(BUSY.RUN, limit);
      const t0 = performance.now();
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const result = await new Promise<Awaited<ReturnType<RuntimeSession['run']>>>((resolve, reject) => {
          abort = reject;
          timer = setTimeout(() => {
            const why = n === 0 ? "the first run's allowance" : `${watchdog.factor} × the slowest run, ${slowest.toFixed(0)} ms`;
            reject(new StemstreamError('INFERENCE_TIMEOUT', `${label}: session.run did not return within ${limit} ms (${why})`));
          }, limit);
          let work: ReturnType<RuntimeSession['run']>;
          try {
            work = injected(n) ?? inner.run(feeds, outputs);
          } catch (err) {
            work = Promise.reject(err);
          }
          work.then(resolve, (err: unknown) => {
            reject(err instanceof StemstreamError ? err : new StemstreamError('INFERENCE_FAILED', `${label}: session.run failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
          });
        });
        slowest = Math.max(slowest, performance.now() - t0);
        return result;
      } finally {
        clearTimeout(timer);
        abort = undefined;
        done();
        // Test fault: the thread blocks once this run is over, outside any busy phase.
        if (faults && at(n, faults.freezeAfterRuns)) blockForever();
      }
    },
    release: () => inner.release(),
  };
  return { info: model.info, runtime: model.runtime, session, dispose: () => model.dispose() };
}
