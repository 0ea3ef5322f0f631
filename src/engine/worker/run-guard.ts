/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The worker's liveness and the watchdog around every session.run
 * (docs/ARCHITECTURE.md §10): a heartbeat and the current blocking phase in the
 * control block (CTRL.WORKER_HEARTBEAT, WORKER_BUSY_*), read by the main
 * thread's WorkerSupervisor; each run raced against its limit and the GPU
 * device's loss, its failures typed (INFERENCE_FAILED, INFERENCE_TIMEOUT,
 * DEVICE_LOST). Tests inject faults below it, through the host's loadModel
 * (test/fixtures/worker-faults.ts).
 */
import { StemstreamError } from '../../errors.js';
import type { SeparationModel } from '../../model/model.js';
import type { RuntimeSession, TensorFeed } from '../../model/runtime.js';
import { CTRL } from '../../realtime/control-block.js';
import { BUSY, DEFAULT_WATCHDOG, type WatchdogOptions } from '../protocol.js';

/** What the guard needs from the host (inference-worker-core.ts InferenceWorkerHost). */
export interface GuardHost {
  /**
   * The GPU device a loaded model runs on, if any: a promise that resolves with
   * a reason when the device is lost (WebGPU's GPUDevice.lost). A lost device
   * fails the run in flight and every later one of that session.
   */
  deviceLost?(model: SeparationModel): Promise<string> | undefined;
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

/**
 * The watchdog around one provider's session: each run raced against its
 * limit and the device's loss, failures typed (INFERENCE_FAILED,
 * INFERENCE_TIMEOUT, DEVICE_LOST).
 */
export function guardModel(model: SeparationModel, label: string, live: Liveness, host: GuardHost): SeparationModel {
  const watchdog = live.limits;
  const busy = (kind: number, ms: number) => live.busy(kind, ms);
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
            work = inner.run(feeds, outputs);
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
      }
    },
    release: () => inner.release(),
  };
  return { info: model.info, runtime: model.runtime, session, dispose: () => model.dispose() };
}
