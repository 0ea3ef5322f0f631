/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * The engine's other threads, as each build locates them (engine-assets.ts, engine-assets-prebuilt.ts).
 */
export interface EngineAssets {
  /** The audio worklet module (self-contained), for audioWorklet.addModule(). */
  readonly workletUrl: string;
  /** Starts the inference worker (a self-contained module worker). */
  startWorker(): Worker;
}
