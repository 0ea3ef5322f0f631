/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * What StemEngine reports of itself (`status()`), declared by the engine so
 * that the UI's status component (src/ui/engine-status.ts, through
 * src/ui/engine-view.ts) reads it without the engine loading the UI.
 */

/** Track mode's stem cache as the status shows it. */
export interface StemCacheStatus {
  /** off: no cache (live mode, turned off, or it could not open); none: no track loaded yet; hit/miss: the loaded track's stems came from it or not. */
  state: 'off' | 'none' | 'hit' | 'miss';
  /** Tracks kept and the bytes they take, of `maxBytes` allowed. */
  entries: number;
  bytes: number;
  maxBytes: number;
  /** Whether the browser granted persistent storage (undefined: not known). */
  persisted?: boolean;
}

export interface EngineStatusSnapshot {
  /** The provider that ran the last segment, e.g. 'webgpu', 'wasm' ('' before the first model is loaded). */
  backend: string;
  /** Why that one, in a sentence (an adapter skipped, a failure, a measurement). */
  backendReason: string;
  /** Each backend run so far, with the real-time factor of its last segment. */
  backendsTried: { backend: string; realTimeFactor: number; runs: number }[];
  /** WASM threads (1 without cross-origin isolation). */
  threads: number;
  /** Declared latency, ms. */
  latencyMs: number;
  /** Inference time over audio time (< 1 keeps up). */
  realTimeFactor: number;
  underruns: number;
  modelName: string;
  modelBytes: number;
  /** Seconds of separated audio ready ahead of the playhead. */
  readyAheadSeconds: number;
  /** What the engine separates: a live input, a loaded track, or nothing yet (a track engine with no track). */
  sourceKind: 'track' | 'live' | 'idle';
  /** Track mode's stem cache; absent where the engine has none to report. */
  cache?: StemCacheStatus;
}
