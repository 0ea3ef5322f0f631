/**
 * Offline separation: Demucs' apply_model(split=True) with its shifts and the
 * command line's track normalisation. Output leaves in track order as soon as
 * it is final, so callers can stream it to disk (separateStream) or collect it
 * (separate).
 *
 * The input is an AudioData in memory or an AudioSource read segment by
 * segment (a WAV file on disk: audio-source.ts); from a source, the track's
 * statistics come from streamed passes over it and separateStream holds only
 * a few segments' worth of samples, whatever the input's length.
 */
import { DEFAULT_OVERLAP, MAX_SHIFT_SECONDS } from '../constants.js';
import { StemstreamError } from '../errors.js';
import { countNonFinite, describeNonFinite, finiteOrZero, type NonFiniteCount } from '../audio/finite.js';
import type { AudioData } from '../audio/types.js';
import type { SeparationModel } from '../model/model.js';
import { IDENTITY_STATS, trackStats, type TrackStats } from './normalize.js';
import { isAudioSource, scanSource, type AudioSource } from './audio-source.js';
import { OverlapAdd } from './overlap-add.js';
import { SegmentRunner } from './segment-runner.js';
import { planSegments, segmentWeights, type SegmentJob } from './segmentation.js';

export interface SeparateOptions {
  /** Overlap between segments, [0, 1). Default 0.25, Demucs' default. */
  overlap?: number;
  /** Demucs' shift trick: average this many passes, each shifted by a random 0..0.5 s. Default 1 (off). */
  shifts?: number;
  /** Seed for the shifts' random offsets. Default 0. */
  seed?: number;
  /** Normalise the track by its mean and std before separation and undo it after, as Demucs' CLI does. Default true. */
  normalize?: boolean;
  onProgress?: (progress: SeparateProgress) => void;
  /** Told about input the separation had to repair (NaN or infinite samples, separated as silence). */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  /** Reuse a segment runner (its buffers) across calls with the same model. */
  runner?: SegmentRunner;
}

export interface SeparateProgress {
  segmentsDone: number;
  segmentsTotal: number;
  /** Track samples whose stems are final. */
  samplesReady: number;
  elapsedMs: number;
  /** Estimated time left, from the mean time per segment so far. */
  etaMs: number;
}

export interface SeparationStats {
  segments: number;
  /** Sum of session.run times, ms. */
  runMs: number;
  /** Sum of STFT/iSTFT/copy times, ms. */
  dspMs: number;
  /** Everything else in the loop: reading input, overlap-add, the sink. */
  glueMs: number;
  wallMs: number;
  normalization: TrackStats;
  /** Input samples that were NaN or ±Infinity and were separated as 0 (the stems stay finite). */
  nonFiniteSamples: number;
}

/** Final stem samples [start, start + frames); row s * C + c. Rows are reused after the sink returns. */
export interface StemBlock {
  start: number;
  frames: number;
  rows: Float32Array[];
}

export interface Separation {
  sampleRate: number;
  sources: string[];
  /** stems[name][channel] */
  stems: Record<string, Float32Array[]>;
  stats: SeparationStats;
}

/** mulberry32: small, seedable, good enough for picking shift offsets. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The source's rate and channel count are the model's. */
export function checkSourceForModel(source: AudioSource, model: SeparationModel): void {
  const { info } = model;
  if (source.sampleRate !== info.sampleRate) {
    throw new StemstreamError('SAMPLE_RATE_MISMATCH', `the audio is at ${source.sampleRate} Hz but the model takes ${info.sampleRate} Hz: resample it first (resample() from stemstream, or the CLI does it for you)`);
  }
  if (source.channelCount !== info.channels) {
    throw new StemstreamError('CHANNEL_MISMATCH', `the audio has ${source.channelCount} channel(s) but the model takes ${info.channels}: convert it first (toChannelCount() from stemstream, or the CLI does it for you)`);
  }
  if (!Number.isInteger(source.length) || source.length < 0) throw new StemstreamError('BAD_OPTION', `the audio source's length must be an integer ≥ 0, got ${source.length}`);
}

export function checkAudioForModel(audio: AudioData, model: SeparationModel): void {
  const { info } = model;
  if (audio.sampleRate !== info.sampleRate) {
    throw new StemstreamError('SAMPLE_RATE_MISMATCH', `the audio is at ${audio.sampleRate} Hz but the model takes ${info.sampleRate} Hz: resample it first (resample() from stemstream, or the CLI does it for you)`);
  }
  if (audio.channels.length !== info.channels) {
    throw new StemstreamError('CHANNEL_MISMATCH', `the audio has ${audio.channels.length} channel(s) but the model takes ${info.channels}: convert it first (toChannelCount() from stemstream, or the CLI does it for you)`);
  }
  const n = audio.channels[0]?.length ?? 0;
  for (const ch of audio.channels) {
    if (ch.length !== n) throw new StemstreamError('BAD_OPTION', 'all channels of the audio must have the same length');
  }
}

/** Copies track samples [start, start + N) of every channel, normalised, zeros outside the track and for NaN or ±Infinity. */
export function readSegment(audio: AudioData, start: number, dst: Float32Array[], stats: TrackStats): void {
  const len = audio.channels[0].length;
  const inv = 1 / stats.std;
  const mean = stats.mean;
  for (let c = 0; c < dst.length; c++) {
    const src = audio.channels[c];
    const out = dst[c];
    const n = out.length;
    const from = Math.max(0, -start);
    const to = Math.min(n, len - start);
    out.fill(0, 0, Math.max(0, Math.min(from, n)));
    for (let i = from; i < to; i++) out[i] = (finiteOrZero(src[start + i]) - mean) * inv;
    out.fill(0, Math.max(from, to), n);
  }
}

/** As readSegment, from a source: the same samples, normalised with the same arithmetic. */
export function readSourceSegment(source: AudioSource, start: number, dst: Float32Array[], stats: TrackStats): void {
  const n = dst[0]?.length ?? 0;
  source.read(start, n, dst, 0);
  const inv = 1 / stats.std;
  const mean = stats.mean;
  const from = Math.max(0, -start);
  const to = Math.min(n, source.length - start);
  for (let c = 0; c < dst.length; c++) {
    const out = dst[c];
    for (let i = from; i < to; i++) out[i] = (finiteOrZero(out[i]) - mean) * inv;
  }
}

/**
 * Separates `audio` (in memory, or a source read segment by segment) and hands
 * the stems to `sink` in track order as they become final.
 */
export async function separateStream(
  audio: AudioData | AudioSource,
  model: SeparationModel,
  options: SeparateOptions,
  sink: (block: StemBlock) => void | Promise<void>,
): Promise<SeparationStats> {
  const source = isAudioSource(audio) ? audio : undefined;
  if (source) checkSourceForModel(source, model);
  else checkAudioForModel(audio as AudioData, model);
  const { info } = model;
  const N = info.segmentSamples;
  const C = info.channels;
  const S = info.sources.length;
  const length = source ? source.length : (audio as AudioData).channels[0]?.length ?? 0;
  const shifts = Math.max(1, Math.floor(options.shifts ?? 1));
  if (!Number.isFinite(shifts) || shifts > 100) throw new StemstreamError('BAD_OPTION', `shifts must be between 1 and 100, got ${options.shifts}`);
  const maxShift = Math.floor(MAX_SHIFT_SECONDS * info.sampleRate);
  const rand = random(options.seed ?? 0);
  const shiftOffsets = shifts > 1 ? Array.from({ length: shifts }, () => Math.floor(rand() * (maxShift + 1))) : [];
  const plan = planSegments(length, N, options.overlap ?? DEFAULT_OVERLAP, shiftOffsets, maxShift);
  let nonFinite: NonFiniteCount;
  let stats: TrackStats;
  if (source) {
    // Streamed passes over the source: the same numbers as on the decoded buffer.
    ({ nonFinite, stats } = scanSource(source, { stats: options.normalize !== false }));
  } else {
    nonFinite = countNonFinite(audio as AudioData);
    stats = options.normalize === false ? IDENTITY_STATS : trackStats(audio as AudioData);
  }
  if (nonFinite.count > 0) options.onWarning?.(`${describeNonFinite(nonFinite, audio.sampleRate)}; they were separated as silence`);
  const runner = options.runner ?? new SegmentRunner(model);
  if (runner.segmentSamples !== N || runner.output.length !== S * C) throw new StemstreamError('BAD_OPTION', 'the segment runner was made for another model');
  const ola = new OverlapAdd(plan, S * C, segmentWeights(N));
  const block: Float32Array[] = Array.from({ length: S * C }, () => new Float32Array(N));

  const result: SeparationStats = { segments: plan.jobs.length, runMs: 0, dspMs: 0, glueMs: 0, wallMs: 0, normalization: stats, nonFiniteSamples: nonFinite.count };
  const t0 = performance.now();
  const drain = async () => {
    for (;;) {
      const start = ola.taken;
      const frames = ola.take(block, 0, N, stats.std, stats.mean);
      if (frames === 0) return;
      await sink({ start, frames, rows: block });
    }
  };
  let done = 0;
  for (const job of plan.jobs as SegmentJob[]) {
    if (options.signal?.aborted) throw new StemstreamError('ABORTED', 'separation was aborted');
    if (source) readSourceSegment(source, job.readStart, runner.input, stats);
    else readSegment(audio as AudioData, job.readStart, runner.input, stats);
    const t = await runner.run();
    result.runMs += t.runMs;
    result.dspMs += t.dspMs;
    ola.add(job, runner.output);
    await drain();
    done++;
    const elapsedMs = performance.now() - t0;
    options.onProgress?.({
      segmentsDone: done,
      segmentsTotal: plan.jobs.length,
      samplesReady: ola.readyUpTo,
      elapsedMs,
      etaMs: (elapsedMs / done) * (plan.jobs.length - done),
    });
  }
  await drain();
  result.wallMs = performance.now() - t0;
  result.glueMs = result.wallMs - result.runMs - result.dspMs;
  return result;
}

/** Separates `audio` (in memory, or a source read segment by segment) into stems held in memory. */
export async function separate(audio: AudioData | AudioSource, model: SeparationModel, options: SeparateOptions = {}): Promise<Separation> {
  const { info } = model;
  const C = info.channels;
  const length = isAudioSource(audio) ? audio.length : audio.channels[0]?.length ?? 0;
  const rows = Array.from({ length: info.sources.length * C }, () => new Float32Array(length));
  const stats = await separateStream(audio, model, options, (b) => {
    for (let r = 0; r < rows.length; r++) rows[r].set(b.rows[r].subarray(0, b.frames), b.start);
  });
  const stems: Record<string, Float32Array[]> = {};
  info.sources.forEach((name, s) => {
    stems[name] = rows.slice(s * C, s * C + C);
  });
  return { sampleRate: audio.sampleRate, sources: [...info.sources], stems, stats };
}
