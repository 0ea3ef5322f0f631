/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * StemEngine's public types: its options (resolved by engine-options.ts), its
 * stats, its events and the export request.
 */
import type { StemExportFormat } from '../../export/stems-export.js';
import type { ClipMode } from '../../export/clip.js';
import type { StemOutStats } from '../../realtime/control-block.js';
import type { RecoveryOptions, WatchdogOptions, WorkerStats } from '../protocol.js';

export type StemEngineMode = 'quality' | 'low-latency';
export type StemEngineModelSource = Uint8Array | ArrayBuffer | string | URL;
/**
 * Several models run on every segment, their stems combined with per-source
 * weights (stem s = Σ w[m][s]·out_m[s] / Σ w[m][s]), like Demucs' bags
 * (htdemucs_ft). All members need the same sources, segment and sample rate.
 */
export interface StemEngineModelSet {
  name?: string;
  members: { model: StemEngineModelSource; weights?: number[] }[];
}
/** 'live': separate whatever is connected to `engine.input`; 'track': play and separate decoded tracks (loadTrack). */
export type StemEngineSourceKind = 'live' | 'track';
export type StemEngineBackend = 'auto' | 'webgpu' | 'wasm';

/** Options of both faces (StemEngine.create's defaults: engine-options.ts ENGINE_DEFAULTS). */
export interface StemEngineCommonOptions {
  /** The model: its bytes, a URL to fetch, or a model set (a Demucs bag). */
  model: StemEngineModelSource | StemEngineModelSet;
  /** A name for the model shown in status and errors (default: its URL, or '(bytes)'). */
  modelName?: string;
  /** Quality mode: overlap between segments (default 0.25). */
  overlap?: number;
  /**
   * 'auto' (default): WebGPU on a hardware adapter that can hold the model
   * (software and fallback adapters are skipped), WASM otherwise; on WebGPU,
   * moves to WASM mid-stream if WebGPU fails, or if it measures slower than
   * real time and WASM measures faster (event 'backend-switch').
   * 'webgpu': any adapter, even a software one (WASM only if it fails). 'wasm'.
   * `executionProviders`, when given, overrides this.
   */
  backend?: StemEngineBackend;
  /** onnxruntime-web execution providers, in order of preference (default: from `backend`). */
  executionProviders?: string[];
  /** WASM threads inside the inference worker (default: min(4, cores) when cross-origin isolated, else 1). */
  threads?: number;
  /** Gain ramp and dry/wet crossfade length on the audio thread, frames (default 512). */
  rampFrames?: number;
  /** Ring capacities, frames (default: from the model's geometry and the latency, ring-sizes.ts: latency + 8192 each). */
  inputRingFrames?: number;
  stemRingFrames?: number;
  /** How often the underrun counter is polled, ms (default 250). */
  pollIntervalMs?: number;
  /** The bundled inference worker (a module worker); default: Vite's bundle of inference-worker-web.ts. */
  workerUrl?: URL | string;
  /** The bundled worklet module; default: Vite's bundle of worklets/stem-out-processor.ts. */
  workletUrl?: URL | string;
  /** Model download progress (URL models). */
  onProgress?: (p: { loadedBytes: number; totalBytes?: number }) => void;
  /**
   * The inference watchdog's limits and the restart budget (protocol.ts
   * DEFAULT_WATCHDOG, DEFAULT_RECOVERY): how long a run may take before the
   * worker is replaced, and how many failures are tolerated. The defaults suit
   * htdemucs on a slow CPU; shorten them to notice a hung backend sooner.
   */
  watchdog?: WatchdogOptions & RecoveryOptions;
}

/** A LiveStemEngine's options: sourceKind 'live' (the default) and the live-only ones. */
export interface LiveStemEngineOptions extends StemEngineCommonOptions {
  /** 'live' (default): separate whatever is connected to `engine.input`. */
  sourceKind?: 'live';
  /** 'quality' (default): Demucs' segmentation, latency one segment + one stride.
   *  'low-latency': a window every `hop`, its newest `lookahead` context only. */
  mode?: StemEngineMode;
  /** Low-latency mode: seconds between windows (default 1; rounded to frames). hop + lookahead ≤ the model's segment. */
  hop?: number;
  /** Low-latency mode: seconds of context after the kept region (default 1; 0 allowed). */
  lookahead?: number;
  /** Compute time allowed per segment, seconds (default: one stride / one hop). */
  computeMargin?: number;
}

/** A TrackStemEngine's options: sourceKind 'track' and the track-only ones (latencySamples is 0: stems are computed ahead of the playhead). */
export interface TrackStemEngineOptions extends StemEngineCommonOptions {
  sourceKind: 'track';
  /**
   * Remember separations in the browser's Origin Private File
   * System (src/engine/host/stem-cache.ts), keyed by the track's audio, the model's
   * SHA-256 and the options that change the stems (normalize, overlap). A track
   * opened again plays separated at once and exports without running the model.
   * Default: on where `navigator.storage.getDirectory` and
   * `FileSystemFileHandle.createWritable` exist, with a limit of
   * 2 GiB (least recently used tracks are evicted). `false`: off; `{ maxBytes }`:
   * another limit. A cache that cannot be opened or written is a 'warning'
   * event, never an error.
   */
  cache?: boolean | { maxBytes?: number };
}

/** StemEngine.create's options: the face follows `sourceKind`. */
export type StemEngineOptions = LiveStemEngineOptions | TrackStemEngineOptions;

export interface StemEngineStats extends StemOutStats {
  latencySamples: number;
  /** The inference worker's counters as of its last message. */
  worker: WorkerStats;
  runtime: string;
  /** Times the inference worker failed and was replaced by a fresh one. */
  workerRestarts: number;
}

export interface StemEngineEventMap {
  ready: Event;
  /** Quanta played dry because the stems were late (live), or not ready under the playhead (track). */
  underrun: CustomEvent<{ underrunQuanta: number; newQuanta: number }>;
  /**
   * The engine cannot go on separating: the inference worker failed too often
   * (`error.code`: INFERENCE_FAILED, INFERENCE_TIMEOUT, DEVICE_LOST,
   * WORKER_CRASHED, MODEL_LOAD_FAILED), or the audio-thread processor failed.
   * Fired once; the audio goes on, dry, at the same latency.
   */
  error: CustomEvent<{ error: Error }>;
  /**
   * The inference worker failed (`error` says how) and a fresh one is starting
   * with the model the engine holds; meanwhile the audio plays dry (live) or
   * the track itself (track mode), at the same latency. `attempt`: failures
   * within the restart window so far.
   */
  restart: CustomEvent<{ error: Error; attempt: number }>;
  /** The fresh worker is running (`ms` after the failure was noticed); stems resume as it catches up. */
  recovered: CustomEvent<{ ms: number; attempt: number }>;
  /** The execution provider failed mid-stream; the engine now runs on `to` (the audio kept going). */
  'backend-fallback': CustomEvent<{ from: string; to: string; reason: string }>;
  /** 'auto' moved to another provider: the one running was slower than real time, or the other measured faster. */
  'backend-switch': CustomEvent<{ from: string; to: string; reason: string }>;
  /** A segment finished (stats updated). */
  progress: CustomEvent<{ stats: WorkerStats }>;
  /**
   * Something was wrong but the engine went on. `kind: 'non-finite'`: NaN or
   * ±Infinity samples (live input or a loaded track), which are separated and
   * played as 0. `kind: 'cache'`: the stem cache could not be opened, read or
   * written (the track is separated as without a cache).
   */
  warning: CustomEvent<StemEngineWarning>;
  /**
   * Track mode: the loaded track's stems came from the stem cache (a track
   * separated before with this model and options): every block is ready, no
   * segment runs, an export is immediate. `key`: the cache key (hex SHA-256).
   */
  'cache-hit': CustomEvent<{ key: string }>;
  /** Track mode: the loaded track, now separated whole, was written to the stem cache (`evicted`: keys removed to make room). */
  'cache-stored': CustomEvent<{ key: string; bytes: number; evicted: string[] }>;
  /** Track mode: playback reached the end of the track. */
  ended: Event;
}

export interface StemEngineWarning {
  kind: 'non-finite' | 'cache';
  message: string;
  /** 'non-finite': the total so far (live) or in the track; 0 for other kinds. */
  nonFiniteSamples: number;
}

export interface ExportStemsRequest {
  /** File names are `${baseName}-${source}.wav`; the archive `${baseName}-stems.zip`. */
  baseName?: string;
  /** Default 'wav24'. */
  format?: StemExportFormat;
  /** wav16/wav24: a stem over full scale is rescaled (default, as Demucs), clamped to ±0.99 or left to clip; the result's `clipping` reports each. */
  clipMode?: ClipMode;
  /** 0..1 over the whole export (separating the rest of the track, then encoding). */
  onProgress?: (p: { phase: 'separating' | 'encoding'; fraction: number }) => void;
}
