/** Messages between the main thread and the inference worker: typed, every request answerable with an error. */
import type { RuntimeChoice } from '../model/runtime.js';
import type { TrackStats } from '../separate/normalize.js';
import type { SharedStateBuffers } from './shared-layout.js';
import type { TrackBuffers } from './track-layout.js';
import type { ExportedFile, StemExportFormat } from '../export/stems-export.js';

export interface WorkerInitOptions {
  overlap: number;
  runtime: RuntimeChoice;
  threads?: number;
  /** onnxruntime-web only: execution providers in order of preference (default ['wasm']). */
  executionProviders?: string[];
  /** Track mode: normalisation statistics of the whole track; live: none. */
  normalization?: TrackStats;
  /** Low-latency mode (frames); quality mode when absent. */
  lowLatency?: { hop: number; lookahead: number };
  /**
   * Track mode: the whole track, planar. The worker reads it directly and runs
   * segments ahead of the playhead instead of waiting for captured input.
   */
  track?: Float32Array[];
  /** The stream's length when known in advance (a file or track); live streams end with end-of-input. */
  length?: number;
  /**
   * Tests: make every session.run this much slower (a model slow on purpose), or
   * phases of it timed from the first run, e.g. [{ ms: 8000, forMs: 60000 }, { ms: 2000 }].
   */
  extraRunMs?: number | { ms: number; forMs?: number }[];
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
  input?: 'live' | 'track';
  /** Tests: the first execution provider's runs fail after this many (a device lost on purpose). */
  failRunsAfter?: number;
  /**
   * A model set (a Demucs bag): every member runs each segment and the stems are
   * combined with per-source weights (set-runner.ts). The init's `model` is ignored.
   */
  members?: { model: Uint8Array; weights?: number[] }[];
}



export type ToWorker =
  | { type: 'init'; id: number; buffers: SharedStateBuffers; model: Uint8Array; options: WorkerInitOptions }
  | { type: 'end-of-input'; id: number; frames: number }
  /** Track input: separate this track (replaces the previous one). */
  | { type: 'load-track'; id: number; track: TrackBuffers; normalize: boolean }
  /**
   * Another model (same segment, sources and channels). Track: its stems replace
   * the old as they are computed. Live: the next segments run on it (crossfaded
   * by the overlap-add), at the same latency.
   */
  | { type: 'swap-model'; id: number; model: Uint8Array }
  /** Track input: when the whole track is separated, one WAV per stem and a ZIP of them. */
  | { type: 'export'; id: number; baseName: string; format?: StemExportFormat }
  | { type: 'stop'; id: number };

export interface WorkerStats {
  segments: number;
  lastRunMs: number;
  runMsTotal: number;
  framesIn: number;
  framesOut: number;
  /** Live: jobs not run because their stems would have come too late (compute slower than real time). */
  segmentsSkipped: number;
  /** The runtime and execution provider running the model, e.g. 'onnxruntime-web/wasm'. */
  backend: string;
  /** Last session.run over the audio time one job covers (stride or hop): < 1 keeps up. */
  realTimeFactor: number;
  /** Stems computed ahead of what the audio thread has played, seconds. */
  readyAheadSeconds: number;
}

export const NO_WORKER_STATS: WorkerStats = { segments: 0, segmentsSkipped: 0, lastRunMs: 0, runMsTotal: 0, framesIn: 0, framesOut: 0, backend: '', realTimeFactor: 0, readyAheadSeconds: 0 };

export type FromWorker =
  | { type: 'ready'; id: number; sources: string[]; segmentSamples: number; stride: number; sampleRate: number; runtime: string }
  | { type: 'segment'; stats: WorkerStats }
  | { type: 'done'; id: number; stats: WorkerStats }
  | { type: 'stopped'; id: number; stats: WorkerStats }
  | { type: 'track-loaded'; id: number; segments: number }
  | { type: 'model-swapped'; id: number; generation: number; sources: string[] }
  | { type: 'backend-fallback'; from: string; to: string; reason: string; stats: WorkerStats }
  | { type: 'export-progress'; id: number; phase: 'separating' | 'encoding'; fraction: number }
  | { type: 'exported'; id: number; files: ExportedFile[]; zip: Uint8Array; zipName: string; clipped: string[] }
  | { type: 'error'; id: number; code: string; message: string };
