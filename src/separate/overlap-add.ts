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

export class OverlapAdd {
  readonly rows: number;
  readonly capacity: number;
  private readonly passes: PassRing[];
  private readonly weight: Float32Array;
  private readonly length: number;
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
    const w = this.weight;
    const first = (job.start + skip - pass.regionStart) % cap;
    for (let r = 0; r < this.rows; r++) {
      const src = output[r];
      const sum = pass.sums[r];
      let slot = first;
      for (let i = skip; i < job.length; i++) {
        sum[slot] += w[i] * src[job.trim + i];
        if (++slot === cap) slot = 0;
      }
    }
    let slot = first;
    for (let i = skip; i < job.length; i++) {
      pass.weights[slot] += w[i];
      if (++slot === cap) slot = 0;
    }
    pass.finalUpTo = Math.max(pass.finalUpTo, job.finalUpTo);
  }

  /**
   * Hand out up to `maxFrames` final samples, in track order from where the last
   * call stopped, as `value * scale + bias` into `dst[r][dstOffset..]`.
   * Returns the number of frames written.
   */
  take(dst: Float32Array[], dstOffset: number, maxFrames: number, scale = 1, bias = 0): number {
    const start = this.emitted;
    const end = Math.min(this.readyUpTo, start + maxFrames);
    const count = Math.max(0, end - start);
    const cap = this.capacity;
    const inv = scale / this.passes.length;
    for (let r = 0; r < this.rows; r++) {
      const out = dst[r];
      for (let i = 0; i < count; i++) out[dstOffset + i] = 0;
      for (const pass of this.passes) {
        const sum = pass.sums[r];
        let slot = (start - pass.regionStart) % cap;
        for (let i = 0; i < count; i++) {
          out[dstOffset + i] += sum[slot] / pass.weights[slot];
          if (++slot === cap) slot = 0;
        }
      }
      for (let i = 0; i < count; i++) out[dstOffset + i] = out[dstOffset + i] * inv + bias;
    }
    this.emitted = end > start ? end : start;
    for (const pass of this.passes) this.clear(pass, this.emitted);
    return count;
  }

  /** Zero the ring slots of a pass before track sample `upTo` (negative ones included). */
  private clear(pass: PassRing, upTo: number): void {
    const cap = this.capacity;
    let slot = (pass.clearedUpTo - pass.regionStart) % cap;
    for (let t = pass.clearedUpTo; t < upTo; t++) {
      for (let r = 0; r < this.rows; r++) pass.sums[r][slot] = 0;
      pass.weights[slot] = 0;
      if (++slot === cap) slot = 0;
    }
    if (upTo > pass.clearedUpTo) pass.clearedUpTo = upTo;
  }
}
