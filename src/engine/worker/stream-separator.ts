/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The inference worker's separation stage for streams: input arrives in order,
 * a segment runs as soon as all its input is there, and final stem frames leave
 * in order. The jobs and the arithmetic are separate()'s (segmentation.ts,
 * SegmentRunner, OverlapAdd); only when each job runs differs. Shifts are not
 * used in streaming.
 */
import { DEFAULT_OVERLAP } from '../../constants.js';
import { assertSameShape } from '../../model/same-shape.js';
import { StemstreamError } from '../../errors.js';
import type { SeparationModel } from '../../model/model.js';
import { IDENTITY_STATS, type TrackStats } from '../../separate/normalize.js';
import { OverlapAdd } from '../../separate/overlap-add.js';
import { SegmentRunner, type SegmentTiming } from '../../separate/segment-runner.js';
import type { SegmentRunnerLike } from '../../separate/set-runner.js';
import { checkLowLatency, lowLatencyJob, planLowLatency, planSegments, segmentStride, segmentWeights, type SegmentJob, type SegmentPlan } from '../../separate/segmentation.js';

export interface StreamSeparatorOptions {
  overlap?: number;
  /** Track mode: the track's statistics (normalisation as separate()); live: identity. */
  normalization?: TrackStats;
  /** Track mode: the length in frames, known in advance. Live: leave undefined and call end(). */
  length?: number;
  /** Runs the segments (default: a SegmentRunner of the model; a SetSegmentRunner for a model set). */
  runner?: SegmentRunnerLike;
  /**
   * Low-latency mode instead of quality mode: every `hop` frames, a window
   * whose newest `lookahead` frames are context only (segmentation.ts).
   */
  lowLatency?: { hop: number; lookahead: number };
  /**
   * Frames of input history the separator keeps (default 2N + stride, the least
   * its jobs need). A live worker that reads its input greedily asks for more
   * (ring-sizes.ts); `inputRoom` never lets a push overwrite what a job still needs.
   */
  historyFrames?: number;
}

export class StreamSeparator {
  readonly channels: number;
  readonly rows: number;
  readonly segment: number;
  readonly stride: number;
  private model: SeparationModel;
  private runner: SegmentRunnerLike;
  /** A model swap waiting for the next step (never mid-run). */
  private pendingSwap: { model: SeparationModel; done: (old: SeparationModel) => void; fail: (e: Error) => void } | undefined;
  private readonly stats: TrackStats;
  private readonly ola: OverlapAdd;
  /** Input history: a ring of `capacity` frames per channel. */
  private readonly history: Float32Array[];
  private readonly capacity: number;
  private received = 0;
  private length: number | undefined;
  private plan: SegmentPlan | undefined;
  private nextJob = 0;
  private readonly overlap: number;
  private readonly lowLatency: { hop: number; lookahead: number } | undefined;
  /** Timings of the last job. */
  lastTiming: SegmentTiming | undefined;
  jobsRun = 0;
  /** Input samples that were NaN or ±Infinity, stored as 0 (one would poison a whole segment's stems). */
  nonFiniteSamples = 0;
  /** Jobs skipped (skipJob) because their stems would have come too late. */
  jobsSkipped = 0;

  constructor(model: SeparationModel, options: StreamSeparatorOptions = {}) {
    const { info } = model;
    this.model = model;
    this.channels = info.channels;
    this.rows = info.sources.length * info.channels;
    this.segment = info.segmentSamples;
    this.overlap = options.overlap ?? DEFAULT_OVERLAP;
    this.lowLatency = options.lowLatency;
    if (this.lowLatency) checkLowLatency(this.segment, this.lowLatency.hop, this.lowLatency.lookahead);
    this.stride = this.lowLatency ? this.lowLatency.hop : segmentStride(this.segment, this.overlap);
    this.stats = options.normalization ?? IDENTITY_STATS;
    this.runner = options.runner ?? new SegmentRunner(model);
    // A job reads at most a segment back from the newest input; the last, short
    // one reaches a further half segment back (its centred window).
    this.capacity = Math.max(2 * this.segment + this.stride, options.historyFrames ?? 0);
    this.history = Array.from({ length: this.channels }, () => new Float32Array(this.capacity));
    this.length = options.length;
    const planLength = options.length ?? Number.POSITIVE_INFINITY;
    const shape: SegmentPlan = options.length !== undefined ? this.planFor(options.length) : { segment: this.segment, stride: this.stride, shifts: 1, passStarts: [0], jobs: [], length: planLength };
    this.plan = options.length !== undefined ? shape : undefined;
    this.ola = new OverlapAdd(shape, this.rows, segmentWeights(this.segment));
  }

  /** Frames received so far. */
  get framesIn(): number {
    return this.received;
  }

  /** Final frames handed out so far. */
  get framesOut(): number {
    return this.ola.taken;
  }

  /** Final frames ready to take. */
  get framesReady(): number {
    return this.ola.readyUpTo - this.ola.taken;
  }

  /**
   * The oldest input frame a job not yet run may read: the next job's first
   * (half a segment earlier while the length is unknown: once it is known, the
   * last job is centred on its window and reaches back that far).
   */
  private get oldestNeeded(): number {
    const job = this.job(this.nextJob);
    if (!job) return this.received;
    return job.readStart - (this.length === undefined ? Math.ceil(this.segment / 2) : 0);
  }

  /** Input frames push() can take now without overwriting anything a job still needs. */
  get inputRoom(): number {
    const used = this.received - Math.max(0, Math.min(this.oldestNeeded, this.received));
    return Math.max(0, Math.min(this.capacity - used, this.framesWanted));
  }

  /** The next job, if planned (its input may not be complete yet). */
  get nextJobInfo(): SegmentJob | undefined {
    return this.job(this.nextJob);
  }

  /**
   * Skips the next job instead of running it (a real-time worker whose stems
   * for it would come too late). Only when every final frame has been taken, so
   * that the job's final region is next in the stream: it is dropped at once and
   * its length returned (the caller owes the stem stream that many frames).
   * The overlap-add keeps what the neighbouring jobs add: the first job after a
   * skip is exact where it alone covers and blends with the one before only
   * where they overlap. Returns 0 when nothing was skipped.
   */
  skipJob(): number {
    const job = this.job(this.nextJob);
    if (!job || this.framesReady > 0) return 0;
    const from = this.ola.taken;
    this.ola.markFinal(job.finalUpTo);
    this.nextJob++;
    this.jobsSkipped++;
    return this.ola.discard(this.ola.readyUpTo - from);
  }

  /** Appends `count` input frames (planar, from `offset`). */
  push(input: ArrayLike<number>[], count: number, offset = 0): void {
    if (this.length !== undefined && this.received + count > this.length) {
      throw new StemstreamError('BAD_OPTION', `more input than the declared length ${this.length}`);
    }
    const cap = this.capacity;
    for (let c = 0; c < this.channels; c++) {
      const h = this.history[c];
      const src = input[c];
      let slot = this.received % cap;
      for (let i = 0; i < count; i++) {
        const x = src[offset + i];
        // x - x is NaN exactly for NaN and ±Infinity.
        if (x - x === 0) h[slot] = x;
        else {
          h[slot] = 0;
          this.nonFiniteSamples++;
        }
        if (++slot === cap) slot = 0;
      }
    }
    this.received += count;
  }

  /** The input is complete (live stop). */
  end(): void {
    this.setLength(this.received);
  }

  /** The stream will end after `total` frames (at least those received); once only. */
  setLength(total: number): void {
    if (this.length !== undefined) return;
    if (total < this.received) throw new StemstreamError('BAD_OPTION', `stream length ${total} is less than the ${this.received} frames already received`);
    this.length = total;
    this.plan = this.planFor(total);
    this.ola.setLength(total);
  }

  /** Frames still expected before the end (Infinity while the length is unknown). */
  get framesWanted(): number {
    return this.length === undefined ? Number.POSITIVE_INFINITY : this.length - this.received;
  }

  get ended(): boolean {
    return this.length !== undefined && this.received >= this.length;
  }

  private planFor(length: number): SegmentPlan {
    const ll = this.lowLatency;
    return ll ? planLowLatency(length, this.segment, ll.hop, ll.lookahead) : planSegments(length, this.segment, this.overlap);
  }

  /** The next job, if it is planned (live: full segments until the length is known). */
  private job(index: number): SegmentJob | undefined {
    if (this.plan) return this.plan.jobs[index];
    if (this.lowLatency) return lowLatencyJob(index, this.segment, this.lowLatency.hop, this.lowLatency.lookahead);
    const start = index * this.stride;
    return { shift: 0, index, readStart: start, start, length: this.segment, trim: 0, finalUpTo: start + this.stride };
  }

  /** Whether the next job's input is all here. */
  get canStep(): boolean {
    const job = this.job(this.nextJob);
    if (!job) return false;
    const needs = Math.min(job.readStart + this.segment, this.length ?? Number.POSITIVE_INFINITY);
    return this.received >= needs;
  }

  /**
   * Runs the next jobs with `model` (same segment length, sources and channels).
   * Applied before the next step, never during one; the overlap-add blends the
   * two models' outputs where their segments overlap, so the change is a
   * crossfade one overlap long, at the same latency. Resolves with the old model
   * (the caller disposes of it) once no job will use it any more.
   */
  swapModel(model: SeparationModel): Promise<SeparationModel> {
    try {
      assertSameShape(model.info, this.model.info, 'a model swap');
    } catch (err) {
      return Promise.reject(err);
    }
    this.pendingSwap?.fail(new Error('replaced by a later model swap'));
    return new Promise((done, fail) => {
      this.pendingSwap = { model, done, fail };
    });
  }

  private applySwap(): void {
    const swap = this.pendingSwap;
    if (!swap) return;
    this.pendingSwap = undefined;
    const old = this.model;
    this.model = swap.model;
    this.runner = new SegmentRunner(swap.model);
    swap.done(old);
  }

  /** Runs the next job if its input is complete. Resolves to whether one ran. */
  async step(): Promise<boolean> {
    this.applySwap();
    if (!this.canStep) return false;
    const job = this.job(this.nextJob)!;
    this.readInto(job.readStart);
    this.lastTiming = await this.runner.run();
    this.ola.add(job, this.runner.output);
    this.nextJob++;
    this.jobsRun++;
    return true;
  }

  /** Takes up to `max` final frames into `dst` rows (row s * C + c), denormalised. */
  take(dst: Float32Array[], max: number, dstOffset = 0): number {
    return this.ola.take(dst, dstOffset, max, this.stats.std, this.stats.mean);
  }

  /** The model's input for a job: history [start, start + N), normalised, zeros outside the stream. */
  private readInto(start: number): void {
    const N = this.segment;
    const cap = this.capacity;
    const end = this.length ?? this.received;
    // Frames before 0 are zeros, not history.
    if (Math.max(0, start) < this.received - cap) throw new Error(`stream separator: input at ${start} already overwritten`);
    const inv = 1 / this.stats.std;
    const mean = this.stats.mean;
    for (let c = 0; c < this.channels; c++) {
      const h = this.history[c];
      const out = this.runner.input[c];
      for (let i = 0; i < N; i++) {
        const t = start + i;
        out[i] = t >= 0 && t < end ? (h[t % cap] - mean) * inv : 0;
      }
    }
  }

  get modelInfo() {
    return this.model.info;
  }
}
