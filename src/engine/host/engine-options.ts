/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * StemEngine's options resolved once, against the model: the defaults in one
 * object, every value checked (a bad one is a BAD_OPTION that says what is
 * accepted), and what follows from them: low-latency frames, the declared
 * latency (latency.ts declaredLatency), the stride and the buffer sizes
 * (ring-sizes.ts).
 */
import { DEFAULT_OVERLAP, RENDER_QUANTUM } from '../../constants.js';
import { StemstreamError } from '../../errors.js';
import type { ModelInfo } from '../../model/model.js';
import { DEFAULT_RAMP_FRAMES } from '../../realtime/ramp.js';
import { segmentStride } from '../../separate/segmentation.js';
import { declaredLatency } from './latency.js';
import { liveBufferSizes } from './ring-sizes.js';
import { STEM_CACHE_DEFAULT_MAX_BYTES, hasOriginPrivateFileSystem } from './stem-cache.js';

export type EngineMode = 'quality' | 'low-latency';
export type EngineSourceKind = 'live' | 'track';

/**
 * The options resolveEngineOptions reads, both faces' in one flat shape: the
 * types keep live-only options (mode, hop, lookahead, computeMargin) and the
 * track-only cache apart (stem-engine-options.ts); from JavaScript, low-latency
 * on a track is still refused here and the other face's options are ignored.
 */
export interface EngineOptionsIn {
  mode?: EngineMode;
  sourceKind?: EngineSourceKind;
  hop?: number;
  lookahead?: number;
  overlap?: number;
  computeMargin?: number;
  threads?: number;
  rampFrames?: number;
  inputRingFrames?: number;
  stemRingFrames?: number;
  pollIntervalMs?: number;
  cache?: boolean | { maxBytes?: number };
}

/** Every default in one place (seconds where the option is in seconds). */
export const ENGINE_DEFAULTS = {
  mode: 'quality' as EngineMode,
  sourceKind: 'live' as EngineSourceKind,
  hop: 1,
  lookahead: 1,
  overlap: DEFAULT_OVERLAP,
  rampFrames: DEFAULT_RAMP_FRAMES,
  pollIntervalMs: 250,
  /** Most WASM threads by default (more rarely helps on htdemucs and starves the page). */
  maxDefaultThreads: 4,
};

export interface ResolvedEngineOptions {
  mode: EngineMode;
  sourceKind: EngineSourceKind;
  overlap: number;
  rampFrames: number;
  lowLatency?: { hop: number; lookahead: number };
  /** Frames. */
  latency: number;
  strideFrames: number;
  threads: number;
  pollIntervalMs: number;
  sizes: { inputRingFrames: number; stemRingFrames: number; historyFrames?: number };
  /** Track mode's stem cache (src/engine/host/stem-cache.ts), or false: off (live mode, no OPFS, or turned off). */
  cache: false | { maxBytes: number };
}

/** A positive (or, with allowZero, non-negative) number of seconds, or the default. */
function seconds(name: string, v: number | undefined, fallback: number, allowZero = false): number {
  const x = v ?? fallback;
  if (!Number.isFinite(x) || x < 0 || (x === 0 && !allowZero)) {
    throw new StemstreamError('BAD_OPTION', `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got ${x}`);
  }
  return x;
}

/** WASM threads: up to 4 of the cores where threads are allowed (cross-origin isolated), else 1. */
function defaultThreads(): number {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency ?? 1;
  return isolated ? Math.max(1, Math.min(ENGINE_DEFAULTS.maxDefaultThreads, cores)) : 1;
}

/**
 * The stem cache: on by default in track mode where the browser has the Origin
 * Private File System with createWritable(); live input has nothing to remember, so it is off there
 * whatever was asked.
 */
function resolveCache(cache: EngineOptionsIn['cache'], sourceKind: EngineSourceKind): ResolvedEngineOptions['cache'] {
  if (cache !== undefined && typeof cache !== 'boolean' && (typeof cache !== 'object' || cache === null)) {
    throw new StemstreamError('BAD_OPTION', `cache must be true, false or { maxBytes }, got ${String(cache)}`);
  }
  const maxBytes = typeof cache === 'object' ? cache.maxBytes ?? STEM_CACHE_DEFAULT_MAX_BYTES : STEM_CACHE_DEFAULT_MAX_BYTES;
  if (!(Number.isFinite(maxBytes) && maxBytes > 0)) throw new StemstreamError('BAD_OPTION', `cache.maxBytes must be a positive number of bytes, got ${maxBytes}`);
  if (sourceKind !== 'track' || cache === false) return false;
  return cache === undefined && !hasOriginPrivateFileSystem() ? false : { maxBytes };
}

export function resolveEngineOptions(options: EngineOptionsIn, info: Pick<ModelInfo, 'sampleRate' | 'segmentSamples' | 'channels' | 'sources'>): ResolvedEngineOptions {
  const d = ENGINE_DEFAULTS;
  const mode = options.mode ?? d.mode;
  if (mode !== 'quality' && mode !== 'low-latency') throw new StemstreamError('BAD_OPTION', `mode must be 'quality' or 'low-latency', got ${String(mode)}`);
  const overlap = options.overlap ?? d.overlap;
  if (!(overlap >= 0 && overlap < 1)) throw new StemstreamError('BAD_OPTION', `overlap must be in [0, 1), got ${overlap}`);
  const sourceKind = options.sourceKind ?? d.sourceKind;
  if (sourceKind !== 'live' && sourceKind !== 'track') throw new StemstreamError('BAD_OPTION', `sourceKind must be 'live' or 'track', got ${String(sourceKind)}`);
  if (sourceKind === 'track' && mode === 'low-latency') throw new StemstreamError('BAD_OPTION', "low-latency mode is for live input; a track is separated ahead of the playhead in quality mode (leave mode unset)");
  const rampFrames = options.rampFrames ?? d.rampFrames;
  const sr = info.sampleRate;
  const lowLatency = mode === 'low-latency'
    ? { hop: Math.round(seconds('hop', options.hop, d.hop) * sr), lookahead: Math.round(seconds('lookahead', options.lookahead, d.lookahead, true) * sr) }
    : undefined;
  const margin = options.computeMargin !== undefined ? Math.round(seconds('computeMargin', options.computeMargin, 1, true) * sr) : undefined;
  const latency = declaredLatency({ sourceKind, segmentSamples: info.segmentSamples, overlap, lowLatency, computeMarginFrames: margin, rampFrames });
  const strideFrames = lowLatency ? lowLatency.hop : segmentStride(info.segmentSamples, overlap);
  // Live: sized from the geometry (ring-sizes.ts). Track: the rings are unused (the track lives in shared memory).
  const sized = sourceKind === 'track'
    ? { inputRingFrames: 8 * RENDER_QUANTUM, stemRingFrames: 16 * RENDER_QUANTUM, historyFrames: undefined }
    : liveBufferSizes({ latencyFrames: latency, segmentFrames: info.segmentSamples, strideFrames, channels: info.channels, sources: info.sources.length });
  return {
    cache: resolveCache(options.cache, sourceKind),
    mode,
    sourceKind,
    overlap,
    rampFrames,
    lowLatency,
    latency,
    strideFrames,
    threads: options.threads ?? defaultThreads(),
    pollIntervalMs: options.pollIntervalMs ?? d.pollIntervalMs,
    sizes: { inputRingFrames: options.inputRingFrames ?? sized.inputRingFrames, stemRingFrames: options.stemRingFrames ?? sized.stemRingFrames, historyFrames: sized.historyFrames },
  };
}
