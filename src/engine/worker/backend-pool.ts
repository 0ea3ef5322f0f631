/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The execution providers a model may run on in the inference worker, one
 * session each, loaded one provider at a time (so that ONNX Runtime never falls
 * back silently at session creation: a provider that cannot start throws, and
 * the pool says so and moves on). Seen from outside it is one SeparationModel.
 *
 * Fallback: a run that fails (WebGPU device lost, an operator the provider
 * cannot run) reloads the model on the next provider and runs the same inputs
 * again. The caller sees one slower run; the audio thread covers the delay
 * with the dry signal (live) or the track (track mode), at the same latency.
 *
 * Switching by measurement (`switchByMeasurement`: the engine's 'auto'): when the
 * provider running is slower than real time (a run longer than the audio one
 * job covers) and an untried provider remains, the next job runs on that one,
 * and the pool keeps whichever was faster. Each provider is tried at most once,
 * so the choice settles. A provider's first run includes its warm-up (shader
 * compilation, weight packing): it alone decides to leave only when it is
 * clearly too slow (over twice real time). Both providers run the same model
 * on the same inputs, so the stems differ only by float rounding (the engine's
 * tests hold them to 1e-4 of full scale); the overlap-add and the latency are
 * untouched.
 */
import type { SeparationModel } from '../../model/model.js';
import type { InferenceRuntime, RuntimeSession, TensorFeed } from '../../model/runtime.js';
import type { BackendMeasure } from '../protocol.js';

export interface FallbackEvent {
  from: string;
  to: string;
  reason: string;
}

export interface SwitchEvent {
  from: string;
  to: string;
  /** Why, in a sentence with the measured real-time factors. */
  reason: string;
}

export interface BackendPoolOptions {
  /** Providers in order of preference; `first` was loaded with the first. */
  executionProviders: readonly string[];
  /** Loads the model with exactly this provider. */
  load(provider: string): Promise<SeparationModel>;
  onFallback(event: FallbackEvent): void;
  onSwitch?(event: SwitchEvent): void;
  /** Audio time one job covers, ms: what a run is measured against (real-time factor). */
  realTimeMs?: number;
  /** Switch providers by measured speed (needs realTimeMs). */
  switchByMeasurement?: boolean;
}

export interface BackendPool extends SeparationModel {
  /** The provider that ran the last job (or will run the next). */
  readonly provider: string;
  /** Why this provider, in a sentence (updated on each fallback or switch). */
  readonly reason: string;
  measures(): BackendMeasure[];
}

interface Slot {
  measure: BackendMeasure;
  model?: SeparationModel;
}

/** How far over real time a first run (warm-up included) must be to leave at once. */
const FIRST_RUN_TOO_SLOW = 2;

export function createBackendPool(first: SeparationModel, options: BackendPoolOptions, initialReason = ''): BackendPool {
  const slots: Slot[] = options.executionProviders.map((provider) => ({ measure: { provider, runs: 0, lastRunMs: 0, bestRunMs: 0, realTimeFactor: 0, state: 'untried' } }));
  if (slots.length === 0) throw new Error('a backend pool needs at least one execution provider');
  slots[0].model = first;
  slots[0].measure.state = 'running';
  let current = slots[0];
  let reason = initialReason || `${current.measure.provider}: the first choice`;
  let changing: Promise<void> | undefined;
  const budget = options.realTimeMs;

  const rtf = (ms: number) => (budget !== undefined && budget > 0 ? ms / budget : 0);
  const fmt = (m: BackendMeasure) => `${m.provider} ${m.realTimeFactor.toFixed(2)}× real time`;

  async function dispose(slot: Slot): Promise<void> {
    const m = slot.model;
    slot.model = undefined;
    await m?.dispose().catch(() => undefined);
  }

  /** Loads the next usable provider after a failure of `from`; throws when none is left. */
  async function fallBack(from: Slot, err: unknown): Promise<void> {
    from.measure.state = 'failed';
    const why = err instanceof Error ? err.message : String(err);
    let lastErr = err;
    for (const next of slots) {
      if (next.measure.state === 'failed' || next === from) continue;
      try {
        next.model ??= await options.load(next.measure.provider);
      } catch (loadErr) {
        next.measure.state = 'failed';
        lastErr = loadErr;
        continue;
      }
      if (from.model && next.model.runtime.writesOutputBuffers !== from.model.runtime.writesOutputBuffers) {
        await dispose(next);
        next.measure.state = 'failed';
        lastErr = new Error(`cannot fall back from ${from.measure.provider} to ${next.measure.provider}: the runtimes differ in how they return outputs`);
        continue;
      }
      current = next;
      next.measure.state = 'running';
      reason = `${next.measure.provider}: ${from.measure.provider} failed (${why})`;
      options.onFallback({ from: from.measure.provider, to: next.measure.provider, reason: why });
      await dispose(from);
      return;
    }
    throw lastErr;
  }

  /** After a run: stay, try an untried provider, or settle on the fastest one measured. */
  async function afterRun(slot: Slot): Promise<void> {
    if (budget === undefined || !options.switchByMeasurement) return;
    const m = slot.measure;
    const untried = slots.find((s) => s.measure.state === 'untried');
    // Providers left for this one but kept loaded until it is measured.
    const others = slots.filter((s) => s !== slot && s.measure.state === 'standby');
    if (others.length > 0 && m.runs === 1) {
      // Came here to compare: keep the faster (this one's first run, warm-up included, against the other's best).
      const best = others.reduce((a, b) => (b.measure.bestRunMs < a.measure.bestRunMs ? b : a));
      const theirs = `${best.measure.provider} ${rtf(best.measure.bestRunMs).toFixed(2)}×`;
      if (m.lastRunMs <= best.measure.bestRunMs) {
        reason = `${m.provider}: measured faster (${fmt(m)}, ${theirs})`;
        for (const o of others) {
          o.measure.state = 'left';
          await dispose(o);
        }
        return;
      }
      if (!untried || m.lastRunMs <= budget) {
        m.state = 'left';
        best.measure.state = 'running';
        current = best;
        reason = `${best.measure.provider}: measured faster (${theirs}, ${fmt(m)})`;
        options.onSwitch?.({ from: m.provider, to: best.measure.provider, reason });
        await dispose(slot);
        return;
      }
    }
    if (!untried || m.lastRunMs <= budget) return;
    if (m.runs < 2 && m.realTimeFactor <= FIRST_RUN_TOO_SLOW) return;
    let model: SeparationModel;
    try {
      model = await options.load(untried.measure.provider);
    } catch (err) {
      untried.measure.state = 'failed';
      reason = `${m.provider}: slower than real time, but ${untried.measure.provider} could not start (${err instanceof Error ? err.message : String(err)})`;
      return;
    }
    if (model.runtime.writesOutputBuffers !== slot.model?.runtime.writesOutputBuffers) {
      await model.dispose().catch(() => undefined);
      untried.measure.state = 'failed';
      return;
    }
    untried.model = model;
    untried.measure.state = 'running';
    m.state = 'standby';
    current = untried;
    reason = `${untried.measure.provider}: trying it, ${m.provider} is slower than real time (${fmt(m)})`;
    options.onSwitch?.({ from: m.provider, to: untried.measure.provider, reason });
  }

  const session: RuntimeSession = {
    get inputNames() {
      return current.model!.session.inputNames;
    },
    get outputNames() {
      return current.model!.session.outputNames;
    },
    async run(feeds: Record<string, TensorFeed>, outputs?: Record<string, TensorFeed>) {
      for (;;) {
        if (changing) await changing;
        const slot = current;
        const model = slot.model!;
        try {
          const t0 = performance.now();
          const result = await model.session.run(feeds, outputs);
          const ms = performance.now() - t0;
          const m = slot.measure;
          m.runs++;
          m.lastRunMs = ms;
          m.bestRunMs = m.runs === 1 ? ms : Math.min(m.bestRunMs, ms);
          m.realTimeFactor = rtf(ms);
          changing = afterRun(slot).finally(() => {
            changing = undefined;
          });
          return result;
        } catch (err) {
          if (!slots.some((s) => s !== slot && s.measure.state !== 'failed')) throw err;
          changing ??= fallBack(slot, err).finally(() => {
            changing = undefined;
          });
        }
      }
    },
    release: () => current.model!.session.release(),
  };

  return {
    info: first.info,
    get runtime(): InferenceRuntime {
      return current.model!.runtime;
    },
    session,
    get provider() {
      return current.measure.provider;
    },
    get reason() {
      return reason;
    },
    measures: () => slots.map((s) => ({ ...s.measure })),
    dispose: async () => {
      await Promise.all(slots.map(dispose));
    },
  };
}
