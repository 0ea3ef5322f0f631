/**
 * The inference worker's body, shared by the Node worker (worker_threads,
 * inference-worker-node.ts) and the browser worker (a module Web Worker,
 * inference-worker-web.ts): answers the ToWorker messages and pumps the input
 * ring through the stream separator into the stem ring until told to stop or
 * the declared input has all come out. Each host only supplies how to post a
 * message and how to load a model.
 *
 * Faults. Every session.run is raced against the watchdog's limit
 * (worker-protocol.ts WatchdogOptions) and the GPU device's loss; a run that
 * throws, times out or loses its device falls back to the next execution
 * provider (backend-pool.ts), or else ends the loop cleanly: `running`
 * reset, orphaned exports and then the worker itself answered with a fatal
 * typed error (INFERENCE_FAILED, INFERENCE_TIMEOUT, DEVICE_LOST), so that the
 * main thread can start a fresh worker (WorkerSupervisor). The worker beats a
 * heartbeat in the control block and publishes its stream positions there
 * (CTRL.WORKER_*), which is what lets a fresh worker, started with `resume`,
 * go on from where this one stopped, at the same latency.
 */
import { StemstreamError, type StemstreamErrorCode } from '../errors.js';
import { exportStems, type StemExportFormat } from '../export/stems-export.js';
import type { SeparationModel } from '../model/model.js';
import type { RuntimeSession, TensorFeed } from '../model/runtime.js';
import { trackStats } from '../separate/normalize.js';
import { segmentStride } from '../separate/segmentation.js';
import { createBackendPool, type BackendPool } from './backend-pool.js';
import { SetSegmentRunner } from '../separate/set-runner.js';
import { RENDER_QUANTUM } from '../constants.js';
import { TRACK, allReady, attachTrackState, readyAhead, type TrackState } from './track-layout.js';
import { TrackRenderer } from './track-renderer.js';
import { InferenceLoop, type InputPort, type StemPort } from './inference-loop.js';
import { CTRL, attachSharedState, stemDeadline, type FrameRing, type SharedState } from './shared-layout.js';
import { StreamSeparator } from './stream-separator.js';
import {
  BUSY,
  DEFAULT_WATCHDOG,
  NO_WORKER_STATS,
  type FromWorker,
  type ToWorker,
  type WatchdogOptions,
  type WorkerFaults,
  type WorkerInitOptions,
  type WorkerStats,
} from './worker-protocol.js';

export interface InferenceWorkerHost {
  post(message: FromWorker): void;
  /** Loads the model the init message carries, with the host's runtime. */
  loadModel(bytes: Uint8Array, options: WorkerInitOptions): Promise<SeparationModel>;
  /**
   * The GPU device a loaded model runs on, if any: a promise that resolves with
   * a reason when the device is lost (WebGPU's GPUDevice.lost). A lost device
   * fails the run in flight and every later one of that session.
   */
  deviceLost?(model: SeparationModel): Promise<string> | undefined;
  /** Test hook (exitSilentlyAfterRuns): end this worker without an error event. */
  exit?(): void;
  /**
   * Test hook (loseDeviceAfterRuns): lose the model's GPU device for real
   * (GPUDevice.destroy()), so that the loss arrives through deviceLost(). Returns
   * false where there is no such device (the loss is then simulated).
   */
  loseDevice?(model: SeparationModel): boolean;
}

const TWO_32 = 2 ** 32;

/** The ring's ringbuf.js header: [write index, read index] in elements, and its storage length. */
function ringHeader(sab: SharedArrayBuffer): { indices: Uint32Array; storageLength: number } {
  return { indices: new Uint32Array(sab, 0, 2), storageLength: (sab.byteLength - 8) / 4 };
}

/**
 * A stream position (frames since frame 0) from what the last worker published
 * and the ring index it moved: the slot is stored after each ring operation,
 * so it may lag the ring by that operation's frames (a worker that died in
 * between), which the index tells exactly (width and storage length are coprime).
 */
function exactPosition(published: number, index: number, width: number, storageLength: number): number {
  const expected = ((published % storageLength) * width) % storageLength;
  const moved = (((index - expected) % storageLength) + storageLength) % storageLength;
  return moved % width === 0 ? published + moved / width : published;
}

function readPosition(ctrl: Int32Array, lo: number, hi: number): number {
  return (Atomics.load(ctrl, hi) >>> 0) * TWO_32 + (Atomics.load(ctrl, lo) >>> 0);
}

function publishPosition(ctrl: Int32Array, lo: number, hi: number, frames: number): void {
  Atomics.store(ctrl, hi, Math.floor(frames / TWO_32) | 0);
  Atomics.store(ctrl, lo, frames % TWO_32 | 0);
}

/**
 * Live input from the capture ring, publishing how far it has read
 * (CTRL.WORKER_IN_*). `drop` frames are discarded first (a resumed worker
 * whose predecessor had already pushed stems beyond what it had read).
 */
class PublishingInputPort implements InputPort {
  private readonly ring: FrameRing;
  private readonly ctrl: Int32Array;
  private readonly scratch: Float32Array;
  private position: number;
  private drop: number;

  constructor(ring: FrameRing, ctrl: Int32Array, position: number, drop: number) {
    this.ring = ring;
    this.ctrl = ctrl;
    this.scratch = new Float32Array(RENDER_QUANTUM * 8 * ring.width);
    this.position = position;
    this.drop = drop;
  }

  private dropped(): boolean {
    if (this.drop > 0) {
      const n = this.ring.skipRead(this.drop);
      if (n > 0) {
        this.drop -= n;
        this.position += n;
        publishPosition(this.ctrl, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, this.position);
      }
    }
    return this.drop === 0;
  }

  availableFrames(): number {
    return this.dropped() ? this.ring.availableRead() : 0;
  }

  readPlanar(dst: Float32Array[], frames: number): number {
    if (!this.dropped()) return 0;
    const n = this.ring.readPlanar(dst, 0, frames, this.scratch);
    if (n > 0) {
      this.position += n;
      publishPosition(this.ctrl, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, this.position);
    }
    return n;
  }
}

/**
 * The stem ring, publishing how far it has been written (CTRL.WORKER_OUT_*).
 * The loop's frame 0 is stream frame `origin`; a resumed worker first passes
 * over the stems from where its predecessor stopped (`written`) to `origin`,
 * with skipWrite and only as the audio thread's deadline passes them (it has
 * played them dry), and writes nothing before.
 */
class ResumingStemPort implements StemPort {
  private readonly state: SharedState;
  private readonly ring: FrameRing;
  private readonly ctrl: Int32Array;
  private readonly scratch: Float32Array;
  readonly origin: number;
  /** Stream frames pushed or skipped into the ring. */
  written: number;

  constructor(state: SharedState, written: number, origin: number) {
    this.state = state;
    this.ring = state.stemRing;
    this.ctrl = state.controlI32;
    this.scratch = new Float32Array(RENDER_QUANTUM * 8 * this.ring.width);
    this.written = written;
    this.origin = origin;
  }

  private moved(n: number): number {
    if (n > 0) {
      this.written += n;
      publishPosition(this.ctrl, CTRL.WORKER_OUT_LO, CTRL.WORKER_OUT_HI, this.written);
    }
    return n;
  }

  /** Passes over the gap before `origin` as far as the deadline allows; true once it is all passed. */
  private caughtUp(): boolean {
    const gap = this.origin - this.written;
    if (gap <= 0) return true;
    const k = Math.min(gap, (stemDeadline(this.state) - this.written) | 0);
    if (k > 0) this.moved(this.ring.skipWrite(k));
    return this.written >= this.origin;
  }

  spaceFrames(): number {
    return this.caughtUp() ? this.ring.availableWrite() : 0;
  }

  writeRows(rows: Float32Array[], frames: number, offset: number): number {
    if (frames <= 0 || !this.caughtUp()) return 0;
    return this.moved(this.ring.writePlanar(rows, offset, frames, this.scratch) ? frames : 0);
  }

  deadlineLead(framesPushed: number): number {
    // The deadline slot holds the low 32 bits: wrap-safe while the two are within 2^31 frames.
    return (stemDeadline(this.state) - (this.origin + framesPushed)) | 0;
  }

  skipFrames(frames: number): number {
    return this.caughtUp() ? this.moved(this.ring.skipWrite(frames)) : 0;
  }

  /** Past the end of the input: silent stems. */
  writeZeros(frames: number): number {
    return this.caughtUp() ? this.moved(this.ring.writeZeros(frames)) : 0;
  }
}

/**
 * A resumed worker's input position. Input that came while no worker read it
 * and found the ring full was dropped: the audio thread writes as many zeros in
 * its place, as room appears, to keep positions (CTRL.INPUT_FRAMES_DROPPED
 * counts them). Those zeros are not input and must not be separated (their
 * stems would be silence, played wet). So when the ring overflowed since
 * `inputAt` (more input arrived than it holds), the worker discards what the
 * ring holds until the audio thread has stopped dropping (it has written its
 * owed zeros and a quantum after them): everything after that is real input.
 * What the ring held before is discarded too: its stems would be due before a
 * worker this late could deliver them. Returns the position reached.
 */
async function resync(state: SharedState, inputAt: number): Promise<number> {
  const c = state.controlI32;
  const ring = state.inputRing;
  const streamAt = () => inputAt + ((Atomics.load(c, CTRL.INPUT_STREAM_FRAMES) - inputAt) >>> 0);
  if (streamAt() - inputAt <= ring.frames) return inputAt;
  let position = inputAt;
  const drain = () => {
    position += ring.skipRead(ring.availableRead());
    publishPosition(c, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, position);
  };
  let dropped = Atomics.load(c, CTRL.INPUT_FRAMES_DROPPED);
  let stream = streamAt();
  // Until a check finds quanta rendered and none dropped (at most ~4 s: an audio thread that does not render).
  for (let i = 0; i < 400; i++) {
    drain();
    await sleep(10);
    const d = Atomics.load(c, CTRL.INPUT_FRAMES_DROPPED);
    const n = streamAt();
    if (d === dropped && n !== stream) break;
    dropped = d;
    stream = n;
  }
  drain();
  return position;
}

/** Blocks this thread for good (test faults: a hung WASM run, a frozen worker). */
function blockForever(): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tests: the extra ms of each run, a constant or phases timed from the first run (the last phase lasts). */
function extraRunSchedule(spec: NonNullable<WorkerInitOptions['extraRunMs']>): () => number {
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

/** Returns the handler for the messages the main thread sends. */
export function createInferenceWorker(host: InferenceWorkerHost): (msg: ToWorker) => void {
  const { post } = host;
  let model: BackendPool | undefined;
  let separator: StreamSeparator | undefined;
  let loop: InferenceLoop | undefined;
  let stopRequest: number | undefined;
  let running = false;
  let doneSent = false;
  let stemRing: FrameRing | undefined;
  let shared: SharedState | undefined;
  let initOptions: WorkerInitOptions | undefined;
  /** A model set's members beyond the first (the first is `model`), and its runner. */
  let extraMembers: BackendPool[] = [];
  let setRunner: SetSegmentRunner | undefined;
  // Track input (track-renderer.ts): the renderer and the track it works on.
  let renderer: TrackRenderer | undefined;
  let track: TrackState | undefined;
  let generation = 0;
  let trackLoop = false;
  /** Export requests waiting for the whole track. */
  const exports: { id: number; baseName: string; format?: StemExportFormat }[] = [];
  // Liveness and positions in the control block (CTRL.WORKER_*), from init on.
  let ctrl: Int32Array | undefined;
  let watchdog: Required<WatchdogOptions> = { ...DEFAULT_WATCHDOG };
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Live: the stem port (stream positions) and the stream frame the loop's frame 0 is. */
  let stemPort: ResumingStemPort | undefined;
  let origin = 0;

  const beat = () => {
    if (ctrl) Atomics.add(ctrl, CTRL.WORKER_HEARTBEAT, 1);
  };

  /** Enters a blocking phase of at most `ms` (the main thread allows that much silence); returns its end. */
  function busy(kind: number, ms: number): () => void {
    const c = ctrl;
    if (!c) return () => undefined;
    const kind0 = Atomics.load(c, CTRL.WORKER_BUSY_KIND);
    const ms0 = Atomics.load(c, CTRL.WORKER_BUSY_MS);
    Atomics.store(c, CTRL.WORKER_BUSY_KIND, kind);
    Atomics.store(c, CTRL.WORKER_BUSY_MS, Math.min(2 ** 31 - 1, Math.ceil(ms)));
    beat();
    return () => {
      Atomics.store(c, CTRL.WORKER_BUSY_KIND, kind0);
      Atomics.store(c, CTRL.WORKER_BUSY_MS, ms0);
      beat();
    };
  }

  function stopHeartbeat(): void {
    if (heartbeat !== undefined) clearInterval(heartbeat);
    heartbeat = undefined;
  }

  /**
   * The watchdog around one provider's session: each run raced against its
   * limit and the device's loss, failures typed (INFERENCE_FAILED,
   * INFERENCE_TIMEOUT, DEVICE_LOST), and the test faults injected.
   */
  function guard(model: SeparationModel, label: string, faults: WorkerFaults | undefined): SeparationModel {
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

  /** Releases the sessions (the model, and a set's other members). */
  async function disposeModels(): Promise<void> {
    const all = [model, ...extraMembers];
    extraMembers = [];
    await Promise.all(all.map((m) => m?.dispose().catch(() => undefined)));
  }

  /** Loads with the host's runtime, as a blocking phase the main thread allows the first run's limit. */
  async function loadBusy(bytes: Uint8Array, options: WorkerInitOptions): Promise<SeparationModel> {
    const done = busy(BUSY.LOAD, watchdog.firstRunMs);
    try {
      return await host.loadModel(bytes, options);
    } finally {
      done();
    }
  }

  /**
   * Loads a model with the host's runtime, with the test hooks, the watchdog
   * on every provider's session, and the providers behind one pool
   * (backend-pool.ts: fallback on failure; in 'auto', switching by measured
   * speed). Each provider is loaded on its own, so a provider that cannot
   * start is reported, never silently replaced. `injectFaults`: the init's
   * models (not a swapped-in one).
   */
  async function load(bytes: Uint8Array, options: WorkerInitOptions, injectFaults = false): Promise<BackendPool> {
    const loadOne = async (provider: string | undefined, faults: WorkerFaults | undefined): Promise<SeparationModel> => {
      const loaded = await loadBusy(bytes, provider === undefined ? options : { ...options, executionProviders: [provider] });
      if (options.extraRunMs) {
        const runSession = loaded.session.run.bind(loaded.session);
        const extra = extraRunSchedule(options.extraRunMs);
        (loaded.session as { run: typeof runSession }).run = async (feeds, outputs) => {
          await sleep(extra());
          return runSession(feeds, outputs);
        };
      }
      return guard(loaded, provider ?? loaded.runtime.executionProviders[0] ?? 'the model', faults);
    };
    // The first provider that starts; those that cannot are reported as fallbacks. None given: the runtime's own.
    const given = options.executionProviders ?? [];
    let first: SeparationModel | undefined;
    let at = 0;
    let reason = options.backendReason ?? '';
    if (given.length === 0) first = await loadOne(undefined, injectFaults ? options.faults : undefined);
    for (; first === undefined && at < given.length; at++) {
      try {
        first = await loadOne(given[at], injectFaults ? options.faults : undefined);
        break;
      } catch (err) {
        if (at === given.length - 1) throw err;
        const why = err instanceof Error ? err.message : String(err);
        reason = `${given[at + 1]}: ${given[at]} could not start (${why})`;
        post({ type: 'backend-fallback', from: given[at], to: given[at + 1], reason: why, stats: snapshot() });
      }
    }
    const providers = given.length > 0 ? given : [first!.runtime.executionProviders[0] ?? 'cpu'];
    const rest = providers.slice(at);
    const m = first!;
    const stride = options.lowLatency ? options.lowLatency.hop : segmentStride(m.info.segmentSamples, options.overlap);
    return createBackendPool(m, {
      executionProviders: rest,
      failRunsAfter: options.failRunsAfter,
      load: (provider) => loadOne(provider, undefined),
      onFallback: (e) => post({ type: 'backend-fallback', ...e, stats: snapshot() }),
      onSwitch: (e) => post({ type: 'backend-switch', ...e, stats: snapshot() }),
      realTimeMs: (stride / m.info.sampleRate) * 1000,
      switchByMeasurement: options.switchByMeasurement === true,
    }, reason);
  }

  /** The code a failure of the loop is reported with (a run's own, else INFERENCE_FAILED). */
  function codeOf(err: unknown): StemstreamErrorCode {
    return err instanceof StemstreamError ? err.code : 'INFERENCE_FAILED';
  }

  /** The loop failed for good: orphaned requests and the worker itself answered with a fatal error. */
  function failed(err: unknown, requests: number[]): void {
    const code = codeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    for (const id of requests) post({ type: 'error', id, code, message, fatal: true });
    post({ type: 'error', id: -1, code, message, fatal: true });
  }

  /** Which provider runs the model (the one that ran the last job), why, and what each one tried measured. */
  function backendStats(m: BackendPool): Pick<WorkerStats, 'backend' | 'backendReason' | 'backends'> {
    return { backend: `${m.runtime.name}/${m.provider}`, backendReason: m.reason, backends: m.measures() };
  }

  /** The loop's counters plus what the main thread shows: backend, real-time factor, seconds ready ahead. */
  function snapshot(): WorkerStats {
    if (renderer && track && model) {
      const rate = model.info.sampleRate;
      const ahead = readyAhead(track, Atomics.load(track.transport, TRACK.POSITION));
      return {
        segments: renderer.segmentsRun,
        lastRunMs: renderer.lastRunMs,
        runMsTotal: renderer.runMsTotal,
        framesIn: track.length,
        // Frames whose stems are final (the whole track once every job has run).
        framesOut: renderer.finished ? track.length : 0,
        segmentsSkipped: 0,
        nonFiniteSamples: 0,
        ...backendStats(model),
        realTimeFactor: renderer.lastRunMs / ((renderer.plan.stride / rate) * 1000),
        readyAheadSeconds: ahead / rate,
      };
    }
    if (!loop || !separator || !model) return { ...NO_WORKER_STATS };
    const rate = model.info.sampleRate;
    const ahead = stemPort ? -stemPort.deadlineLead(loop.stats.framesOut) : shared ? loop.stats.framesOut - stemDeadline(shared) : 0;
    return {
      segments: loop.stats.segments,
      lastRunMs: loop.stats.lastRunMs,
      runMsTotal: loop.stats.runMsTotal,
      // Stream frames (a resumed worker's loop counts from `origin`).
      framesIn: origin + loop.stats.framesIn,
      framesOut: origin + loop.stats.framesOut,
      segmentsSkipped: loop.stats.segmentsSkipped,
      nonFiniteSamples: separator.nonFiniteSamples,
      ...backendStats(model),
      realTimeFactor: loop.stats.lastRunMs / ((separator.stride / rate) * 1000),
      readyAheadSeconds: Math.max(0, ahead) / rate,
    };
  }

  async function run(): Promise<void> {
    running = true;
    try {
      while (loop && separator) {
        if (stopRequest !== undefined) {
          // Release the session before saying so: the main thread may terminate this thread next.
          const stats = snapshot();
          await disposeModels();
          model = undefined;
          stopHeartbeat();
          post({ type: 'stopped', id: stopRequest, stats });
          break;
        }
        if (doneSent) {
          // Past the end of the input the stems are silence: keep the audio thread
          // fed so it never fades to dry or counts an underrun after the last frame.
          if (!stemPort || !stemRing || stemPort.writeZeros(stemRing.availableWrite()) === 0) await sleep(1);
          continue;
        }
        const r = await loop.pump();
        if (r === 'ran') post({ type: 'segment', stats: snapshot() });
        if (separator.ended && loop.stats.framesOut >= separator.framesIn) {
          post({ type: 'done', id: 0, stats: snapshot() });
          doneSent = true;
          continue;
        }
        if (r === 'idle') await sleep(1);
      }
    } catch (err) {
      // The last provider failed (or timed out, or lost its device): this worker
      // can do no more. The sessions are left alone (a run may still hang in one);
      // the main thread terminates this worker and starts a fresh one.
      loop = undefined;
      running = false;
      failed(err, []);
      if (stopRequest !== undefined) post({ type: 'stopped', id: stopRequest, stats: { ...NO_WORKER_STATS } });
      return;
    }
    running = false;
    await disposeModels();
    model = undefined;
  }

  /** Track input: runs the renderer's next segment until everything is done; serves exports. */
  async function runTrack(): Promise<void> {
    trackLoop = true;
    try {
      await trackLoopBody();
    } catch (err) {
      // As run(): orphaned exports and the worker answered with the cause.
      const orphans = exports.splice(0).map((e) => e.id);
      renderer = undefined;
      trackLoop = false;
      failed(err, orphans);
      if (stopRequest !== undefined) post({ type: 'stopped', id: stopRequest, stats: { ...NO_WORKER_STATS } });
      return;
    } finally {
      trackLoop = false;
    }
  }

  async function trackLoopBody(): Promise<void> {
    {
      while (stopRequest === undefined) {
        const r = renderer;
        // An export first when every block is final already (a restarted worker's
        // renderer recomputes blocks that are: the same values, written again).
        if (r && track && exports.length > 0 && allReady(track, r.currentGeneration)) {
          const e = exports[0];
          const t = track;
          const stems = model!.info.sources.map((_, s) => t.stems.slice(s * t.channels, (s + 1) * t.channels));
          const done = busy(BUSY.EXPORT, watchdog.firstRunMs);
          let out: Awaited<ReturnType<typeof exportStems>>;
          try {
            out = await exportStems({
              stems,
              sources: [...model!.info.sources],
              sampleRate: t.sampleRate,
              baseName: e.baseName,
              format: e.format,
              onProgress: (fraction) => post({ type: 'export-progress', id: e.id, phase: 'encoding', fraction }),
            });
          } finally {
            done();
          }
          exports.shift();
          post({ type: 'exported', id: e.id, files: out.files, zip: out.zip, zipName: out.zipName, clipped: out.clipped });
          continue;
        }
        if (r && !r.finished) {
          await r.step();
          post({ type: 'segment', stats: snapshot() });
          for (const e of exports) post({ type: 'export-progress', id: e.id, phase: 'separating', fraction: r.segmentsDone / r.segmentsTotal });
          continue;
        }
        await sleep(5);
      }
      const stats = snapshot();
      await disposeModels();
      model = undefined;
      stopHeartbeat();
      post({ type: 'stopped', id: stopRequest, stats });
    }
  }

  return (msg: ToWorker) => {
    const fail = (err: unknown) => {
      const code = err instanceof StemstreamError ? err.code : 'INTERNAL';
      post({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) });
    };
    switch (msg.type) {
      case 'init':
        (async () => {
          initOptions = msg.options;
          // The control block first: the heartbeat and the busy phases cover the model load.
          const state = attachSharedState(msg.buffers);
          stemRing = state.stemRing;
          shared = state;
          ctrl = state.controlI32;
          watchdog = { ...DEFAULT_WATCHDOG };
          for (const [k, v] of Object.entries(msg.options.watchdog ?? {})) if (typeof v === 'number') (watchdog as Record<string, number>)[k] = v;
          Atomics.store(ctrl, CTRL.WORKER_BUSY_KIND, BUSY.IDLE);
          Atomics.store(ctrl, CTRL.WORKER_BUSY_MS, 0);
          beat();
          stopHeartbeat();
          heartbeat = setInterval(beat, watchdog.heartbeatIntervalMs);
          const members = msg.options.members;
          const m = await load(members ? members[0].model : msg.model, msg.options, true);
          model = m;
          if (members) {
            for (const member of members.slice(1)) extraMembers.push(await load(member.model, msg.options, true));
            setRunner = new SetSegmentRunner([m, ...extraMembers].map((model, k) => ({ model, weights: members[k].weights })));
          }
          if (msg.options.input === 'track') {
            post({ type: 'ready', id: msg.id, sources: m.info.sources, segmentSamples: m.info.segmentSamples, stride: segmentStride(m.info.segmentSamples, msg.options.overlap), sampleRate: m.info.sampleRate, runtime: m.runtime.name });
            void runTrack();
            return;
          }
          // Where the stream stands: frame 0, or (a fresh worker after a failure) where the last one left it.
          // Stems go on from what it had pushed; input from what it had read (earlier input is gone with it),
          // so the loop's frame 0 is the later of the two.
          const c = state.controlI32;
          const stemHeader = ringHeader(msg.buffers.stemRing);
          const inHeader = ringHeader(msg.buffers.inputRing);
          const stemsAt = msg.options.resume
            ? exactPosition(readPosition(c, CTRL.WORKER_OUT_LO, CTRL.WORKER_OUT_HI), Atomics.load(stemHeader.indices, 0), state.stemRing.width, stemHeader.storageLength)
            : 0;
          let inputAt = msg.options.resume
            ? exactPosition(readPosition(c, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI), Atomics.load(inHeader.indices, 1), state.inputRing.width, inHeader.storageLength)
            : 0;
          if (msg.options.resume) inputAt = await resync(state, inputAt);
          origin = Math.max(stemsAt, inputAt);
          publishPosition(c, CTRL.WORKER_OUT_LO, CTRL.WORKER_OUT_HI, stemsAt);
          publishPosition(c, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, inputAt);
          const total = msg.options.length;
          const length = total === undefined ? undefined : Math.max(0, total - origin);
          separator = new StreamSeparator(m, { overlap: msg.options.overlap, length, lowLatency: msg.options.lowLatency, runner: setRunner, historyFrames: msg.options.historyFrames });
          const input = new PublishingInputPort(state.inputRing, c, inputAt, origin - inputAt);
          stemPort = new ResumingStemPort(state, stemsAt, origin);
          loop = new InferenceLoop(separator, input, stemPort, {
            catchUp: { deadlineFramesPerMs: msg.options.deadlineFramesPerMs ?? m.info.sampleRate / 1000 },
          });
          post({
            type: 'ready', id: msg.id, sources: m.info.sources, segmentSamples: separator.segment, stride: separator.stride, sampleRate: m.info.sampleRate, runtime: m.runtime.name,
            ...(msg.options.resume ? { resumeFrame: origin } : {}),
          });
          void run();
        })().catch(fail);
        break;
      case 'load-track':
        try {
          if (!model || !initOptions || initOptions.input !== 'track') throw new StemstreamError('BAD_OPTION', 'load-track needs a worker started with input: track');
          const t = attachTrackState(msg.track);
          if (t.channels !== model.info.channels || t.sources !== model.info.sources.length) {
            throw new StemstreamError('CHANNEL_MISMATCH', `the track state has ${t.channels} channels × ${t.sources} stems; the model ${model.info.channels} × ${model.info.sources.length}`);
          }
          track = t;
          generation = msg.generation ?? generation + 1;
          renderer = new TrackRenderer(model, t, {
            overlap: initOptions.overlap,
            normalization: msg.normalize ? trackStats({ sampleRate: t.sampleRate, channels: t.audio }) : undefined,
            generation,
            runner: setRunner,
          });
          exports.length = 0;
          post({ type: 'track-loaded', id: msg.id, segments: renderer.segmentsTotal });
        } catch (err) {
          fail(err);
        }
        break;
      case 'swap-model':
        (async () => {
          if (!initOptions) throw new StemstreamError('BAD_OPTION', 'swap-model before init');
          if (setRunner) throw new StemstreamError('BAD_OPTION', 'a model set cannot be swapped: create another engine');
          const next = await load(msg.model, { ...initOptions, extraRunMs: undefined });
          const old = model;
          if (old && (next.info.sources.join() !== old.info.sources.join() || next.info.channels !== old.info.channels || next.info.segmentSamples !== old.info.segmentSamples)) {
            await next.dispose();
            throw new StemstreamError('BAD_OPTION', `the new model (${next.info.sources.join(', ')}; segment ${next.info.segmentSamples}) does not match the running one (${old.info.sources.join(', ')}; segment ${old.info.segmentSamples}): create another engine`);
          }
          generation++;
          if (renderer) {
            // Track: recompute everything, old stems playing until replaced.
            model = next;
            renderer.swapModel(next, generation);
            await old?.dispose().catch(() => undefined);
          } else if (separator) {
            // Live: the next segments run on the new model; the overlap-add crossfades.
            const replaced = await separator.swapModel(next);
            model = next;
            await replaced.dispose().catch(() => undefined);
          } else {
            model = next;
            await old?.dispose().catch(() => undefined);
          }
          post({ type: 'model-swapped', id: msg.id, generation, sources: next.info.sources });
        })().catch(fail);
        break;
      case 'export':
        if (!renderer) fail(new StemstreamError('BAD_OPTION', 'nothing to export: load a track first'));
        else exports.push({ id: msg.id, baseName: msg.baseName, format: msg.format });
        break;
      case 'end-of-input':
        try {
          if (!separator) throw new StemstreamError('BAD_OPTION', 'end-of-input before init');
          // Frames captured after the stop are not the stream's, unless already taken in.
          separator.setLength(Math.max(msg.frames, separator.framesIn));
        } catch (err) {
          fail(err);
        }
        break;
      case 'stop':
        stopRequest = msg.id;
        if (!running && !trackLoop) {
          stopHeartbeat();
          post({ type: 'stopped', id: msg.id, stats: snapshot() });
        }
        break;
      default: {
        const never: never = msg;
        void never;
      }
    }
  };
}
