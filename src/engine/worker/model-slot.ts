/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The worker's model slot: loads the model (or a model set's members) with the
 * host's runtime, one execution provider at a time behind a backend pool
 * (backend-pool.ts: fallback on failure, in 'auto' switching by measured speed),
 * each provider's session under the watchdog (run-guard.ts); swaps in another
 * model of the same shape; releases them all.
 */
import { StemstreamError } from '../../errors.js';
import type { SeparationModel } from '../../model/model.js';
import { assertSameShape } from '../../model/same-shape.js';
import { segmentStride } from '../../separate/segmentation.js';
import { SetSegmentRunner } from '../../separate/set-runner.js';
import { createBackendPool, type BackendPool } from './backend-pool.js';
import { BUSY, type FromWorker, type WorkerInitOptions, type WorkerStats } from '../protocol.js';
import { guardModel, type GuardHost, type Liveness } from './run-guard.js';

export interface ModelSlotHost extends GuardHost {
  loadModel(bytes: Uint8Array, options: WorkerInitOptions): Promise<SeparationModel>;
}


export class ModelSlot {
  /** The model (a set's first member). */
  model: BackendPool | undefined;
  /** A model set's runner (all members); undefined for one model. */
  setRunner: SetSegmentRunner | undefined;
  private extraMembers: BackendPool[] = [];
  private readonly host: ModelSlotHost;
  private readonly live: Liveness;
  private readonly post: (m: FromWorker) => void;
  /** What the worker's stats say now (events carry them). */
  private readonly stats: () => WorkerStats;

  constructor(host: ModelSlotHost, live: Liveness, post: (m: FromWorker) => void, stats: () => WorkerStats) {
    this.host = host;
    this.live = live;
    this.post = post;
    this.stats = stats;
  }

  /** The init's model or members. */
  async loadInit(bytes: Uint8Array, options: WorkerInitOptions): Promise<BackendPool> {
    const members = options.members;
    const m = await this.load(members ? members[0].model : bytes, options);
    this.model = m;
    if (members) {
      for (const member of members.slice(1)) this.extraMembers.push(await this.load(member.model, options));
      this.setRunner = new SetSegmentRunner([m, ...this.extraMembers].map((model, k) => ({ model, weights: members[k].weights })));
    }
    return m;
  }

  /** Loads `bytes` (same stems, channels, segment) for a swap; the caller installs it. */
  async loadSwap(bytes: Uint8Array, options: WorkerInitOptions): Promise<BackendPool> {
    if (this.setRunner) throw new StemstreamError('BAD_OPTION', 'a model set cannot be swapped: create another engine');
    const next = await this.load(bytes, options);
    if (this.model) {
      try {
        assertSameShape(next.info, this.model.info, 'a model swap');
      } catch (err) {
        await next.dispose();
        throw err;
      }
    }
    return next;
  }

  /** Releases every session (the model, a set's other members). */
  async dispose(): Promise<void> {
    const all = [this.model, ...this.extraMembers];
    this.extraMembers = [];
    this.model = undefined;
    await Promise.all(all.map((m) => m?.dispose().catch(() => undefined)));
  }

  /** Loads with the host's runtime, as a blocking phase the main thread allows the first run's limit. */
  private async loadBusy(bytes: Uint8Array, options: WorkerInitOptions): Promise<SeparationModel> {
    const done = this.live.busy(BUSY.LOAD, this.live.limits.firstRunMs);
    try {
      return await this.host.loadModel(bytes, options);
    } finally {
      done();
    }
  }

  /**
   * One model behind a backend pool: each provider loaded on its own, so that a
   * provider that cannot start is reported, never silently replaced.
   */
  private async load(bytes: Uint8Array, options: WorkerInitOptions): Promise<BackendPool> {
    const loadOne = async (provider: string | undefined): Promise<SeparationModel> => {
      const loaded = await this.loadBusy(bytes, provider === undefined ? options : { ...options, executionProviders: [provider] });
      return guardModel(loaded, provider ?? loaded.runtime.executionProviders[0] ?? 'the model', this.live, this.host);
    };
    // The first provider that starts; those that cannot are reported as fallbacks. None given: the runtime's own.
    const given = options.executionProviders ?? [];
    let first: SeparationModel | undefined;
    let at = 0;
    let reason = options.backendReason ?? '';
    if (given.length === 0) first = await loadOne(undefined);
    for (; first === undefined && at < given.length; at++) {
      try {
        first = await loadOne(given[at]);
        break;
      } catch (err) {
        if (at === given.length - 1) throw err;
        const why = err instanceof Error ? err.message : String(err);
        reason = `${given[at + 1]}: ${given[at]} could not start (${why})`;
        this.post({ type: 'backend-fallback', from: given[at], to: given[at + 1], reason: why, stats: this.stats() });
      }
    }
    const m = first!;
    const providers = given.length > 0 ? given : [m.runtime.executionProviders[0] ?? 'cpu'];
    const stride = options.lowLatency ? options.lowLatency.hop : segmentStride(m.info.segmentSamples, options.overlap);
    return createBackendPool(m, {
      executionProviders: providers.slice(at),
      load: (provider) => loadOne(provider),
      onFallback: (e) => this.post({ type: 'backend-fallback', ...e, stats: this.stats() }),
      onSwitch: (e) => this.post({ type: 'backend-switch', ...e, stats: this.stats() }),
      realTimeMs: (stride / m.info.sampleRate) * 1000,
      switchByMeasurement: options.switchByMeasurement === true,
    }, reason);
  }

  /** Which provider runs the model (the one that ran the last job), why, and what each one tried measured. */
  backendStats(): Pick<WorkerStats, 'backend' | 'backendReason' | 'backends'> {
    const m = this.model;
    if (!m) return { backend: '', backendReason: '', backends: [] };
    return { backend: `${m.runtime.name}/${m.provider}`, backendReason: m.reason, backends: m.measures() };
  }
}
