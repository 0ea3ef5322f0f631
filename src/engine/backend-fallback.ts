/**
 * Backend fallback (inference worker): a model whose session.run, when it fails
 * on one execution provider (WebGPU device lost, an operator the provider cannot
 * run), reloads the model on the next provider of the list and runs the same
 * inputs again. The caller sees one slower run, not an error; the audio thread
 * covers the delay with the dry signal (live) or the track itself (track mode),
 * at the same declared latency.
 */
import type { SeparationModel } from '../model/model.js';
import type { InferenceRuntime, RuntimeSession, TensorFeed } from '../model/runtime.js';

export interface FallbackEvent {
  from: string;
  to: string;
  reason: string;
}

export interface BackendFallbackOptions {
  /** Providers in order of preference; the first is the one `first` was loaded with. */
  executionProviders: readonly string[];
  /** Loads the model with these providers (the first of them is the one wanted). */
  load(executionProviders: string[]): Promise<SeparationModel>;
  onFallback(event: FallbackEvent): void;
  /** Tests: the first provider's runs fail after this many (a device lost on purpose). */
  failRunsAfter?: number;
}

export function withBackendFallback(first: SeparationModel, options: BackendFallbackOptions): SeparationModel {
  let current = first;
  let providers = [...options.executionProviders];
  let runs = 0;
  let failing = options.failRunsAfter;
  let switching: Promise<void> | undefined;

  const fallback = async (err: unknown): Promise<void> => {
    const from = providers[0] ?? '?';
    const rest = providers.slice(1);
    const next = await options.load(rest);
    if (next.runtime.writesOutputBuffers !== current.runtime.writesOutputBuffers) {
      await next.dispose();
      throw new Error(`cannot fall back from ${from} to ${rest[0]}: the runtimes differ in how they return outputs`);
    }
    const old = current;
    current = next;
    providers = rest;
    failing = undefined;
    options.onFallback({ from, to: rest[0], reason: err instanceof Error ? err.message : String(err) });
    await old.dispose().catch(() => undefined);
  };

  const session: RuntimeSession = {
    get inputNames() {
      return current.session.inputNames;
    },
    get outputNames() {
      return current.session.outputNames;
    },
    async run(feeds: Record<string, TensorFeed>, outputs?: Record<string, TensorFeed>) {
      for (;;) {
        if (switching) await switching;
        try {
          if (failing !== undefined && runs++ >= failing) throw new Error(`${providers[0]}: device lost (injected by the test option failRunsAfter)`);
          return await current.session.run(feeds, outputs);
        } catch (err) {
          if (providers.length < 2) throw err;
          switching ??= fallback(err).finally(() => {
            switching = undefined;
          });
        }
      }
    },
    release: () => current.session.release(),
  };

  return {
    info: first.info,
    get runtime(): InferenceRuntime {
      return current.runtime;
    },
    session,
    dispose: () => current.dispose(),
  };
}
