/**
 * Limits on what a model file or a manifest may declare. Both come from
 * untrusted sources (a download, a file someone sent), and what they declare
 * becomes file names (`<out>/<stem>.wav`, ZIP entries), UI labels, and the
 * sizes of buffers. So every stem name must match a strict pattern and every
 * size or count is bounded here, before anything is named or allocated from it
 * (the pattern and the escaping of untrusted text: src/untrusted-text.ts).
 *
 * Errors carry the code 'BAD_MODEL' (the model or manifest is refused) unless
 * the caller says otherwise ('BAD_OPTION' for names given on the command line).
 */
import { checkStemName, quoteUntrusted, refuseValue as refuse, type LimitContext } from '../untrusted-text.js';

/**
 * Most stems a model may have: the engine's control block has this many stem
 * slots (MAX_STEMS in src/realtime/control-block.ts). Restated rather than
 * imported so that the model layer does not load the engine (and ringbuf.js);
 * test/hostile-metadata.test.ts checks that the two agree.
 */
export const MAX_MODEL_STEMS = 8;
export const MIN_SAMPLE_RATE = 8_000;
export const MAX_SAMPLE_RATE = 192_000;
export const MAX_MODEL_CHANNELS = 8;
/** One STFT hop: a shorter segment has less than one spectrogram frame. */
export const MIN_SEGMENT_SAMPLES = 1024;
/** Demucs segments are under 8 s; 60 s at the model's rate is generous and keeps buffers bounded. */
export const MAX_SEGMENT_SECONDS = 60;
/** Members of a model set (htdemucs_ft has 4): each one is a whole model loaded at once. */
export const MAX_SET_MODELS = 16;
/** Longest metadata `sources` text read: 8 names of 32 characters, quoted, fit in far less. */
const MAX_SOURCES_TEXT = 1024;
/** Longest numeric metadata text read (digits of 60 s at 192 kHz fit easily). */
const MAX_NUMBER_TEXT = 16;

/** A list of 1 to MAX_MODEL_STEMS distinct stem names. */
export function checkStemNames(list: unknown, ctx: LimitContext): string[] {
  if (!Array.isArray(list)) throw refuse(ctx, `must be a list of stem names, found ${quoteUntrusted(list)}`);
  if (list.length < 1 || list.length > MAX_MODEL_STEMS) {
    throw refuse(ctx, `lists ${list.length} names; a model has 1 to ${MAX_MODEL_STEMS} stems (the engine's stem slots)`);
  }
  const seen = new Set<string>();
  for (const name of list) {
    checkStemName(name, ctx);
    if (seen.has(name)) throw refuse(ctx, `lists ${quoteUntrusted(name)} twice; each stem needs its own name (it becomes its file name)`);
    seen.add(name);
  }
  return [...list] as string[];
}

export function checkStemCount(count: number, ctx: LimitContext): number {
  return checkInt(count, 1, MAX_MODEL_STEMS, 'stems', ctx);
}

export function checkSampleRate(rate: number, ctx: LimitContext): number {
  return checkInt(rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, 'Hz', ctx);
}

export function checkChannels(channels: number, ctx: LimitContext): number {
  return checkInt(channels, 1, MAX_MODEL_CHANNELS, 'channels', ctx);
}

/** Largest segment at `sampleRate` (already checked); the largest rate's when it is not known yet. */
export function maxSegmentSamples(sampleRate = MAX_SAMPLE_RATE): number {
  return MAX_SEGMENT_SECONDS * sampleRate;
}

export function checkSegmentSamples(samples: number, sampleRate: number | undefined, ctx: LimitContext): number {
  return checkInt(samples, MIN_SEGMENT_SAMPLES, maxSegmentSamples(sampleRate), `samples (${MAX_SEGMENT_SECONDS} s at ${sampleRate ?? MAX_SAMPLE_RATE} Hz)`, ctx);
}

export function checkSetModelCount(count: number, ctx: LimitContext): number {
  return checkInt(count, 1, MAX_SET_MODELS, 'models', ctx);
}

function checkInt(n: number, min: number, max: number, unit: string, ctx: LimitContext): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw refuse(ctx, `is ${quoteUntrusted(n)}, must be a whole number from ${min} to ${max} ${unit}`);
  }
  return n;
}

// ---------------------------------------------------------------------------
// Model metadata (metadata_props: strings)

/** What a model's metadata declares, checked; absent keys stay undefined, but for the rate. */
export interface DeclaredModelMetadata {
  sources?: string[];
  /** The metadata's, else the default the caller gave. */
  sampleRate: number;
  channels?: number;
  segmentSamples?: number;
}

export interface ReadMetadataOptions {
  /** The rate of a model whose metadata has none (Demucs': 44100). */
  defaultSampleRate: number;
  /** The caller replaces the names (the converter's --sources): the model's own are not read. */
  skipSources?: boolean;
}

function metadataContext(name: string, key: string, fix: string): LimitContext {
  return { what: `${name}: the model's metadata "${key}"`, fix };
}

const SOURCES_FIX = 'the model cannot be used as it is: re-export it with valid names, or replace them with `stemstream convert <model.onnx> -o <fixed.onnx> --sources drums,bass,other,vocals`';
const NUMBER_FIX = 'the model cannot be used as it is: re-export it with the value the network was trained with (Demucs: sample_rate 44100, audio_channels 2)';

/** A metadata integer: plain decimal digits only (no sign, exponent, hex or NaN), bounded. */
function metadataInt(meta: Record<string, string>, key: string, name: string, check: (n: number, ctx: LimitContext) => number): number | undefined {
  if (!Object.hasOwn(meta, key)) return undefined;
  const text = meta[key].trim();
  const ctx = metadataContext(name, key, NUMBER_FIX);
  if (text.length > MAX_NUMBER_TEXT || !/^\d+$/.test(text)) throw refuse(ctx, `is ${quoteUntrusted(meta[key])}, not a whole number`);
  return check(Number(text), ctx);
}

/** Metadata `sources`: a JSON list (or, as some exporters write, a comma-separated list) of stem names. */
function metadataSources(meta: Record<string, string>, name: string): string[] | undefined {
  if (!Object.hasOwn(meta, 'sources')) return undefined;
  const raw = meta.sources;
  const ctx = metadataContext(name, 'sources', SOURCES_FIX);
  // Bounded before parsing: JSON.parse of a huge list would build it whole.
  if (raw.length > MAX_SOURCES_TEXT) throw refuse(ctx, `is ${raw.length} characters long (at most ${MAX_SOURCES_TEXT})`);
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    list = raw.split(',').map((s) => s.trim());
  }
  return checkStemNames(list, ctx);
}

/**
 * Reads and checks `sources`, `sample_rate`, `audio_channels` and
 * `segment_samples` from a model's metadata. Present but invalid values are
 * refused, never replaced by defaults.
 */
export function readModelMetadata(meta: Record<string, string>, name: string, options: ReadMetadataOptions): DeclaredModelMetadata {
  const sampleRate = metadataInt(meta, 'sample_rate', name, checkSampleRate) ?? options.defaultSampleRate;
  return {
    sources: options.skipSources ? undefined : metadataSources(meta, name),
    sampleRate,
    channels: metadataInt(meta, 'audio_channels', name, checkChannels),
    segmentSamples: metadataInt(meta, 'segment_samples', name, (n, ctx) => checkSegmentSamples(n, sampleRate, ctx)),
  };
}

/** The geometry the graph's tensors declare (they may be hostile too). */
export function checkModelGeometry(g: { channels: number; sources: number; segmentSamples: number }, sampleRate: number, name: string): void {
  const fix = 'this is not a stem separation model stemstream can run';
  checkChannels(g.channels, { what: `${name}: the model's channel count C`, fix });
  checkStemCount(g.sources, { what: `${name}: the model's stem count S`, fix: `${fix} (the engine has ${MAX_MODEL_STEMS} stem slots)` });
  checkSegmentSamples(g.segmentSamples, sampleRate, { what: `${name}: the model's segment length N`, fix });
}
