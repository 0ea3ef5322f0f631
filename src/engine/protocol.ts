/**
 * Thread: both, main and inference worker (docs/ARCHITECTURE.md §9).
 * Messages between the main thread and the inference worker: typed, every
 * request answerable with an error; the watchdog's and the recovery's limits.
 * The main thread's side of keeping a worker alive is host/worker-client.ts.
 */
import { StemstreamError, type StemstreamErrorCode } from '../errors.js';
import type { RuntimeChoice } from '../model/runtime.js';
import { CTRL } from '../realtime/control-block.js';
import { type SharedState, type SharedStateBuffers } from '../realtime/shared-state.js';
import type { TrackBuffers } from '../realtime/track-state.js';
import type { ExportedFile, StemExportFormat } from '../export/stems-export.js';
import type { ClipMode, ClipReport } from '../export/clip.js';

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
  | {
    type: 'load-track';
    id: number;
    track: TrackBuffers;
    normalize: boolean;
    /** The model generation to separate the track as (a restarted worker: the one its ready map carries; default: the next). */
    generation?: number;
    /**
     * The stems are already there, every block marked final as `generation`
     * (from the stem cache, src/engine/host/stem-cache.ts): plan no segment; exports
     * are answered at once. A model swap still recomputes them.
     */
    precomputed?: boolean;
  }
  /**
   * Another model (same segment, sources and channels). Track: its stems replace
   * the old as they are computed. Live: the next segments run on it (crossfaded
   * by the overlap-add), at the same latency.
   */
  | { type: 'swap-model'; id: number; model: Uint8Array }
  /** Track input: when the whole track is separated, one WAV per stem and a ZIP of them. */
  | { type: 'export'; id: number; baseName: string; format?: StemExportFormat; clipMode?: ClipMode }
  | { type: 'stop'; id: number };

/** One provider as measured so far (the worker's backend pool, worker/backend-pool.ts, keeps them). */
export interface BackendMeasure {
  provider: string;
  runs: number;
  /** The last run, ms (0 before one). */
  lastRunMs: number;
  /** The fastest run, ms (0 before one). */
  bestRunMs: number;
  /** lastRunMs over the audio time of one job (0 when unknown). */
  realTimeFactor: number;
  /** 'failed': it threw at load or run; 'left': measured slower than another. */
  state: 'untried' | 'running' | 'standby' | 'left' | 'failed';
}

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
  /** `files[i].data` are views into `zip`'s buffer, which is transferred (transferList), not copied. */
  | { type: 'exported'; id: number; files: ExportedFile[]; zip: Uint8Array; zipName: string; clipped: string[]; clipping: ClipReport[] }
  /**
   * `fatal`: the worker can do nothing more (its loop ended); a request it
   * answers so is not refused but orphaned, and the main thread may give it to
   * a fresh worker. id −1: no request; the worker itself failed.
   */
  | { type: 'error'; id: number; code: StemstreamErrorCode; message: string; fatal?: boolean };

/**
 * What a host transfers with a message instead of copying it: an export's
 * archive (hundreds of MB for a song; the worker keeps no reference to it), so
 * the main thread neither waits for a copy nor holds two. Its files are views
 * into the same buffer and arrive as views into the transferred one.
 */
export function transferList(m: FromWorker): ArrayBuffer[] {
  if (m.type !== 'exported') return [];
  const buffer = m.zip.buffer;
  return buffer instanceof ArrayBuffer ? [buffer] : [];
}
