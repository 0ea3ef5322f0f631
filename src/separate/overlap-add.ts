/**
 * The overlap-add stage: weighted sum of segment outputs, divided by the sum of
 * weights, averaged over shift passes (Demucs' apply_model). Holds at most two
 * segments of samples per pass; output leaves it in track order as soon as every
 * job covering it has run.
 */
import type { SegmentJob, SegmentPlan } from './segmentation.js';

interface PassRing {
  /** One ring per output row (stem × channel). */
  sums: Float32Array[];
  weights: Float32Array;
  /** Track sample at which this pass's region begins (≤ 0). */
  regionStart: number;
  /** Samples before this track position are final for the pass. */
  finalUpTo: number;
  /** Ring slots before this track position have been handed out and zeroed. */
  clearedUpTo: number;
}

/**
 * Calls fn(ringStart, count, offset) for the one or two contiguous ring spans
 * that hold `count` samples starting at ring slot `slot` (offset = samples
 * before this span).
 */
function spans(slot: number, count: number, cap: number, fn: (start: number, n: number, offset: number) => void): void {
  const first = Math.min(count, cap - slot);
  if (first > 0) fn(slot, first, 0);
  if (count > first) fn(0, count - first, first);
}

export class OverlapAdd {
  readonly rows: number;
  readonly capacity: number;
  private readonly passes: PassRing[];
  private readonly weight: Float32Array;
  private length: number;
  private emitted = 0;

  constructor(plan: SegmentPlan, rows: number, weight: Float32Array) {
    this.rows = rows;
    this.weight = weight;
    this.length = plan.length;
    // Jobs arrive in start order and callers take what is final before adding
    // more, so a pass never spans more than a segment behind plus one ahead.
    this.capacity = 2 * plan.segment;
    this.passes = plan.passStarts.map((regionStart) => ({
      sums: Array.from({ length: rows }, () => new Float32Array(this.capacity)),
      weights: new Float32Array(this.capacity),
      regionStart,
      finalUpTo: regionStart,
      clearedUpTo: regionStart,
    }));
  }

  /** Track samples [0, readyUpTo) are final. */
  get readyUpTo(): number {
    let ready = this.length;
    for (const p of this.passes) ready = Math.min(ready, p.finalUpTo);
    return Math.max(0, ready);
  }

  /** For streams of unknown length: the track ends here (Infinity until known). */
  setLength(length: number): void {
    this.length = length;
  }

  /** Samples already handed out by take(). */
  get taken(): number {
    return this.emitted;
  }

  /**
   * Add one job's model output. `output[r]` holds the whole segment for row r;
   * samples [trim, trim + length) are the contribution.
   */
  add(job: SegmentJob, output: ArrayLike<number>[]): void {
    const pass = this.passes[job.shift];
    const cap = this.capacity;
    // Samples before clearedUpTo can only be negative track positions (shift
    // padding), which are discarded anyway.
    const skip = Math.max(0, pass.clearedUpTo - job.start);
    if (job.start + job.length > pass.clearedUpTo + cap) {
      throw new Error(`overlap-add: job at ${job.start}+${job.length} beyond the ring [${pass.clearedUpTo}, +${cap}); take() final samples before adding`);
    }
    const count = job.length - skip;
    if (count <= 0) {
      pass.finalUpTo = Math.max(pass.finalUpTo, job.finalUpTo);
      return;
    }
    const slot = (job.start + skip - pass.regionStart) % cap;
    const first = Math.min(count, cap - slot);
    // At most two contiguous spans of the ring; plain loops keep V8 on its fast path.
    this.accumulate(pass, output, slot, first, skip, job.trim + skip);
    if (count > first) this.accumulate(pass, output, 0, count - first, skip + first, job.trim + skip + first);
    pass.finalUpTo = Math.max(pass.finalUpTo, job.finalUpTo);
  }

  private accumulate(pass: PassRing, output: ArrayLike<number>[], ringStart: number, n: number, wBase: number, sBase: number): void {
    const w = this.weight;
    for (let r = 0; r < this.rows; r++) {
      const src = output[r];
      const sum = pass.sums[r];
      for (let i = 0; i < n; i++) sum[ringStart + i] += w[wBase + i] * src[sBase + i];
    }
    const ws = pass.weights;
    for (let i = 0; i < n; i++) ws[ringStart + i] += w[wBase + i];
  }

  /**
   * Hand out up to `maxFrames` final samples, in track order from where the last
   * call stopped, as `value * scale + bias` into `dst[r][dstOffset..]`.
   * Returns the number of frames written.
   */
  take(dst: Float32Array[], dstOffset: number, maxFrames: number, scale = 1, bias = 0): number {
    const start = this.emitted;
    const count = Math.max(0, Math.min(this.readyUpTo, start + maxFrames) - start);
    const cap = this.capacity;
    const passes = this.passes;
    const k = scale / passes.length;
    for (let p = 0; p < passes.length; p++) {
      const pass = passes[p];
      spans((start - pass.regionStart) % cap, count, cap, (ringStart, n, offset) => {
        const ws = pass.weights;
        for (let r = 0; r < this.rows; r++) {
          const out = dst[r];
          const sum = pass.sums[r];
          const o = dstOffset + offset;
          // First pass writes, later passes add; the last applies bias.
          if (p === 0) for (let i = 0; i < n; i++) out[o + i] = (sum[ringStart + i] / ws[ringStart + i]) * k;
          else for (let i = 0; i < n; i++) out[o + i] += (sum[ringStart + i] / ws[ringStart + i]) * k;
          if (p === passes.length - 1 && bias !== 0) for (let i = 0; i < n; i++) out[o + i] += bias;
        }
      });
    }
    this.emitted = start + count;
    for (const pass of passes) this.clear(pass, this.emitted);
    return count;
  }

  /**
   * Streams only: samples before `upTo` are final without the jobs that would
   * have covered them (a real-time worker skipped those jobs: their stems would
   * have come too late). They are dropped by discard(), never handed out.
   */
  markFinal(upTo: number): void {
    for (const pass of this.passes) pass.finalUpTo = Math.max(pass.finalUpTo, Math.min(upTo, this.length));
  }

  /** Drops up to `maxFrames` final samples unread (see markFinal). Returns the number dropped. */
  discard(maxFrames: number): number {
    const start = this.emitted;
    const count = Math.max(0, Math.min(this.readyUpTo, start + maxFrames) - start);
    this.emitted = start + count;
    for (const pass of this.passes) this.clear(pass, this.emitted);
    return count;
  }

  /** Zero the ring slots of a pass before track sample `upTo` (negative ones included). */
  private clear(pass: PassRing, upTo: number): void {
    const count = upTo - pass.clearedUpTo;
    if (count <= 0) return;
    const cap = this.capacity;
    spans((pass.clearedUpTo - pass.regionStart) % cap, Math.min(count, cap), cap, (start, n) => {
      for (const sum of pass.sums) sum.fill(0, start, start + n);
      pass.weights.fill(0, start, start + n);
    });
    pass.clearedUpTo = upTo;
  }
}
