/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * Track mode's inference stage (inference worker): the segments of Demucs'
 * apply_model over the whole track (the same jobs as separate()), run in the
 * order the listener needs them: those under and just after the playhead first
 * (inside the loop region first when looping), so that a seek re-prioritises
 * the next segment. Each block of TRACK_BLOCK frames is overlap-added privately
 * and written to the shared stems once, final, then published in the ready map;
 * the audio thread never sees a partial sum.
 *
 * Run in track order (no seek), the result is bit-identical to separate():
 * the same jobs, the same float32 sums in the same order, the same division.
 */
import { assertSameShape } from '../../model/same-shape.js';
import { DEFAULT_OVERLAP } from '../../constants.js';
import type { AudioData } from '../../audio/types.js';
import type { SeparationModel } from '../../model/model.js';
import { IDENTITY_STATS, type TrackStats } from '../../separate/normalize.js';
import { readSegment } from '../../separate/separate.js';
import { SegmentRunner } from '../../separate/segment-runner.js';
import type { SegmentRunnerLike } from '../../separate/set-runner.js';
import { planSegments, segmentWeights, type SegmentJob, type SegmentPlan } from '../../separate/segmentation.js';
import { TRACK, TRACK_BLOCK, allReady, type TrackState } from '../../realtime/track-state.js';
import { StemstreamError } from '../../errors.js';

export interface TrackRendererOptions {
  overlap?: number;
  /** Track normalisation (separate()'s default); identity when absent. */
  normalization?: TrackStats;
  /** Model generation written into the ready map (≥ 1). */
  generation?: number;
  /** Runs the segments (default: a SegmentRunner of the model; a SetSegmentRunner for a model set). */
  runner?: SegmentRunnerLike;
  /**
   * Every block already holds this generation's final stems (the main thread
   * filled them from the stem cache and marked them): no job is left to run.
   * A model swap still redoes every job.
   */
  precomputed?: boolean;
}

interface PendingBlock {
  sums: Float32Array[];
  weights: Float32Array;
}

export class TrackRenderer {
  readonly plan: SegmentPlan;
  private readonly track: TrackState;
  private readonly audio: AudioData;
  private readonly stats: TrackStats;
  private readonly weight: Float32Array;
  private model: SeparationModel;
  private runner: SegmentRunnerLike;
  private generation: number;
  private done: Uint8Array;
  private doneCount = 0;
  /** Jobs not yet run that cover each block. */
  private remaining: Int32Array;
  private readonly pending = new Map<number, PendingBlock>();
  private readonly pool: PendingBlock[] = [];
  lastRunMs = 0;
  runMsTotal = 0;
  segmentsRun = 0;

  constructor(model: SeparationModel, track: TrackState, options: TrackRendererOptions = {}) {
    this.model = model;
    this.track = track;
    this.audio = { sampleRate: track.sampleRate, channels: track.audio };
    this.stats = options.normalization ?? IDENTITY_STATS;
    this.runner = options.runner ?? new SegmentRunner(model);
    const N = model.info.segmentSamples;
    this.plan = planSegments(track.length, N, options.overlap ?? DEFAULT_OVERLAP);
    this.weight = segmentWeights(N);
    this.generation = options.generation ?? 1;
    this.done = new Uint8Array(this.plan.jobs.length);
    this.remaining = this.coverage();
    if (options.precomputed) {
      if (!allReady(track, this.generation)) {
        throw new StemstreamError('BAD_OPTION', `a precomputed track must have every block marked final as generation ${this.generation} before the worker gets it`);
      }
      this.done.fill(1);
      this.doneCount = this.plan.jobs.length;
      this.remaining.fill(0);
    }
    this.publishProgress();
  }

  get segmentsTotal(): number {
    return this.plan.jobs.length;
  }
  get segmentsDone(): number {
    return this.doneCount;
  }
  get finished(): boolean {
    return this.doneCount === this.plan.jobs.length;
  }
  get currentGeneration(): number {
    return this.generation;
  }

  /**
   * Start over with another model (same sources and channels): blocks keep
   * their old stems, marked with the old generation, until recomputed.
   */
  swapModel(model: SeparationModel, generation: number): void {
    assertSameShape(model.info, this.model.info, 'a model swap');
    this.model = model;
    this.runner = new SegmentRunner(model);
    this.generation = generation;
    this.done.fill(0);
    this.doneCount = 0;
    this.remaining = this.coverage();
    for (const [, p] of this.pending) this.release(p);
    this.pending.clear();
    this.publishProgress();
  }

  /** The job to run next, or -1 when all are done. */
  nextJob(): number {
    const t = this.track.transport;
    const len = this.track.length;
    // Block-aligned: a block is ready only when every job covering it has run.
    const B = TRACK_BLOCK;
    const pos = Math.floor(Math.min(Math.max(0, Atomics.load(t, TRACK.POSITION)), len) / B) * B;
    const looping = Atomics.load(t, TRACK.LOOP_ON) !== 0;
    const ls = Math.floor(Atomics.load(t, TRACK.LOOP_START) / B) * B;
    const le = Math.ceil(Atomics.load(t, TRACK.LOOP_END) / B) * B;
    let best = -1;
    let bestKey = Infinity;
    const jobs = this.plan.jobs;
    for (let j = 0; j < jobs.length; j++) {
      if (this.done[j]) continue;
      const { start, length } = jobs[j];
      const end = start + length;
      // Frames until the playhead reaches the job, wrapping at the track's (or loop's) end.
      let key: number;
      if (looping && end > ls && start < le) {
        const p = pos >= ls && pos < le ? pos : ls;
        key = end > p ? Math.max(0, start - p) : le - p + Math.max(0, start - ls);
      } else {
        key = end > pos ? Math.max(0, start - pos) : len - pos + start;
        if (looping) key += len;
      }
      if (key < bestKey) {
        bestKey = key;
        best = j;
      }
    }
    return best;
  }

  /** Runs the next job; false when there is nothing left to do. */
  async step(): Promise<boolean> {
    const j = this.nextJob();
    if (j < 0) return false;
    const job = this.plan.jobs[j];
    const model = this.model;
    readSegment(this.audio, job.readStart, this.runner.input, this.stats);
    const t = await this.runner.run();
    // A swap while this job ran makes its output stale.
    if (model !== this.model) return true;
    this.lastRunMs = t.runMs;
    this.runMsTotal += t.runMs;
    this.segmentsRun++;
    this.add(job, this.runner.output);
    this.done[j] = 1;
    this.doneCount++;
    this.publishProgress();
    return true;
  }

  private publishProgress(): void {
    const t = this.track.transport;
    Atomics.store(t, TRACK.GENERATION, this.generation);
    Atomics.store(t, TRACK.SEGMENTS_DONE, this.doneCount);
    Atomics.store(t, TRACK.SEGMENTS_TOTAL, this.plan.jobs.length);
  }

  private coverage(): Int32Array {
    const blocks = this.track.ready.length;
    const r = new Int32Array(blocks);
    for (const job of this.plan.jobs) {
      const b0 = Math.floor(job.start / TRACK_BLOCK);
      const b1 = Math.floor((job.start + job.length - 1) / TRACK_BLOCK);
      for (let b = b0; b <= b1; b++) r[b]++;
    }
    return r;
  }

  private acquire(): PendingBlock {
    const p = this.pool.pop();
    if (p) return p;
    const rows = this.track.sources * this.track.channels;
    return { sums: Array.from({ length: rows }, () => new Float32Array(TRACK_BLOCK)), weights: new Float32Array(TRACK_BLOCK) };
  }

  private release(p: PendingBlock): void {
    for (const s of p.sums) s.fill(0);
    p.weights.fill(0);
    this.pool.push(p);
  }

  /** Overlap-adds the job's contribution block by block; finalises blocks no other job covers. */
  private add(job: SegmentJob, output: Float32Array[]): void {
    const w = this.weight;
    const rows = output.length;
    const end = job.start + job.length;
    const b0 = Math.floor(job.start / TRACK_BLOCK);
    const b1 = Math.floor((end - 1) / TRACK_BLOCK);
    for (let b = b0; b <= b1; b++) {
      const blockStart = b * TRACK_BLOCK;
      const from = Math.max(job.start, blockStart);
      const to = Math.min(end, blockStart + TRACK_BLOCK);
      let p = this.pending.get(b);
      if (!p) {
        p = this.acquire();
        this.pending.set(b, p);
      }
      const n = to - from;
      const o = from - blockStart;
      // Demucs weighs a (short, centred) contribution with weight[:length]: the
      // weight from 0, the model's output from the centring trim.
      const kw = from - job.start;
      const ks = job.trim + kw;
      for (let r = 0; r < rows; r++) {
        const src = output[r];
        const sum = p.sums[r];
        for (let i = 0; i < n; i++) sum[o + i] += w[kw + i] * src[ks + i];
      }
      const ws = p.weights;
      for (let i = 0; i < n; i++) ws[o + i] += w[kw + i];
      if (--this.remaining[b] === 0) {
        this.finalize(b, p);
        this.pending.delete(b);
        this.release(p);
      }
    }
  }

  /** (Σ w·y / Σ w) · std + mean, as OverlapAdd.take() computes it, into the shared stems; then published. */
  private finalize(b: number, p: PendingBlock): void {
    const start = b * TRACK_BLOCK;
    const n = Math.min(TRACK_BLOCK, this.track.length - start);
    const { std, mean } = this.stats;
    const ws = p.weights;
    for (let r = 0; r < p.sums.length; r++) {
      const out = this.track.stems[r];
      const sum = p.sums[r];
      for (let i = 0; i < n; i++) out[start + i] = (sum[i] / ws[i]) * std;
      if (mean !== 0) for (let i = 0; i < n; i++) out[start + i] += mean;
    }
    Atomics.store(this.track.ready, b, this.generation);
  }
}
