/**
 * Where segments go: Demucs' `apply_model(split=True)` (and its `shifts`), laid
 * out as a list of jobs. Offline and streaming run the same jobs; they only
 * differ in when each job runs.
 */
import { StemstreamError } from '../errors.js';

/**
 * Demucs' overlap-add weight: `cat(arange(1, N//2 + 1), arange(N - N//2, 0, -1)) / max`.
 * Float32 like torch's.
 */
export function segmentWeights(segment: number): Float32Array {
  const half = Math.floor(segment / 2);
  const w = new Float32Array(segment);
  let max = 0;
  for (let i = 0; i < half; i++) w[i] = i + 1;
  for (let i = half, v = segment - half; i < segment; i++, v--) w[i] = v;
  for (let i = 0; i < segment; i++) if (w[i] > max) max = w[i];
  for (let i = 0; i < segment; i++) w[i] = w[i] / max;
  return w;
}

/** `int((1 - overlap) * segment)`, Demucs' stride. */
export function segmentStride(segment: number, overlap: number): number {
  if (!(overlap >= 0 && overlap < 1)) {
    throw new StemstreamError('BAD_OPTION', `overlap must be in [0, 1), got ${overlap}`);
  }
  return Math.floor((1 - overlap) * segment);
}

/** One model run: which samples it reads, and which output samples it contributes to. */
export interface SegmentJob {
  /** Which shift pass this job belongs to (0 when shifts = 1). */
  shift: number;
  /** Index of the job within its shift pass. */
  index: number;
  /** First track sample the model reads (may be negative: zeros there). Reads `segment` samples. */
  readStart: number;
  /** First track sample of the contribution (may be negative with shifts: discarded there). */
  start: number;
  /** Samples contributed: `min(segment, regionEnd - start)`. */
  length: number;
  /** Offset in the model's output where the contribution begins (Demucs' centre trim). */
  trim: number;
  /** The contribution is final for its pass up to this track sample once this job has run. */
  finalUpTo: number;
}

export interface SegmentPlan {
  segment: number;
  stride: number;
  shifts: number;
  /** Per pass: its region starts at this track sample (≤ 0). */
  passStarts: number[];
  /** Jobs ordered by `start`, so that output becomes final from left to right. */
  jobs: SegmentJob[];
  /** Track length in samples. */
  length: number;
}

/**
 * Plan the jobs of `apply_model(split=True, shifts=shiftOffsets.length)`.
 * `shiftOffsets[i]` is Demucs' `random.randint(0, max_shift)` of pass i, and
 * `maxShift` its `int(0.5 * samplerate)`; pass no offsets for shifts = 0/1.
 */
export function planSegments(
  length: number,
  segment: number,
  overlap: number,
  shiftOffsets: readonly number[] = [],
  maxShift = 0,
): SegmentPlan {
  if (!Number.isInteger(length) || length < 0) throw new StemstreamError('BAD_OPTION', `bad track length ${length}`);
  const stride = segmentStride(segment, overlap);
  if (stride < 1) throw new StemstreamError('BAD_OPTION', `overlap ${overlap} leaves no stride for segments of ${segment}`);
  const shifted = shiftOffsets.length > 0;
  const passes = shifted ? shiftOffsets.length : 1;
  const passStarts: number[] = [];
  const jobs: SegmentJob[] = [];
  for (let p = 0; p < passes; p++) {
    // With shifts, Demucs pads the track by maxShift on both sides and splits
    // padded[offset : length + maxShift]: in track samples [offset - maxShift, length).
    const regionStart = shifted ? shiftOffsets[p] - maxShift : 0;
    const regionEnd = length;
    passStarts.push(regionStart);
    const regionLength = regionEnd - regionStart;
    let index = 0;
    for (let o = 0; o < regionLength; o += stride, index++) {
      const start = regionStart + o;
      const len = Math.min(segment, regionEnd - start);
      // TensorChunk.padded(segment): centred, real neighbours where they exist.
      const trim = Math.floor((segment - len) / 2);
      const next = o + stride < regionLength ? start + stride : regionEnd;
      jobs.push({ shift: p, index, readStart: start - trim, start, length: len, trim, finalUpTo: next });
    }
  }
  jobs.sort((a, b) => a.start - b.start || a.shift - b.shift);
  return { segment, stride, shifts: passes, passStarts, jobs, length };
}

/**
 * Low-latency mode's jobs: every `hop` frames a window of `segment` frames
 * ending `lookahead` frames after the hop it keeps; the newest `lookahead`
 * frames are context only. Job k keeps track frames [k·hop, (k+1)·hop), which
 * sit at offset `segment − lookahead − hop` of its window; nothing overlaps, so
 * the overlap-add stage just passes them through. Output is final `hop +
 * lookahead` frames after its input (plus compute).
 */
export function lowLatencyJob(index: number, segment: number, hop: number, lookahead: number, length = Number.POSITIVE_INFINITY): SegmentJob {
  const start = index * hop;
  const trim = segment - lookahead - hop;
  return { shift: 0, index, readStart: start - trim, start, length: Math.min(hop, length - start), trim, finalUpTo: Math.min(start + hop, length) };
}

export function checkLowLatency(segment: number, hop: number, lookahead: number): void {
  if (!Number.isInteger(hop) || hop < 1 || !Number.isInteger(lookahead) || lookahead < 0 || hop + lookahead > segment) {
    throw new StemstreamError('BAD_OPTION', `low-latency mode needs whole frames with hop ≥ 1, lookahead ≥ 0 and hop + lookahead ≤ the segment (${segment}); got hop ${hop}, lookahead ${lookahead}`);
  }
}

export function planLowLatency(length: number, segment: number, hop: number, lookahead: number): SegmentPlan {
  checkLowLatency(segment, hop, lookahead);
  const jobs: SegmentJob[] = [];
  for (let k = 0; k * hop < length; k++) jobs.push(lowLatencyJob(k, segment, hop, lookahead, length));
  return { segment, stride: hop, shifts: 1, passStarts: [0], jobs, length };
}
