/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The inference worker's loop, independent of how frames travel: input frames
 * come from an InputPort (the capture ring), final stem frames go to a StemPort
 * (the ring the audio thread reads). One pump() does the next useful thing.
 */
import type { StreamSeparator } from './stream-separator.js';

export interface InputPort {
  /** Frames that can be read now. */
  availableFrames(): number;
  /** Reads up to `frames` frames into planar `dst` (one array per channel, from index 0). Returns frames read. */
  readPlanar(dst: Float32Array[], frames: number): number;
}

export interface StemPort {
  /** Frames that can be written now. */
  spaceFrames(): number;
  /** Writes `frames` frames of `rows` (row s * C + c) starting at `offset`. Returns frames written. */
  writeRows(rows: Float32Array[], frames: number, offset: number): number;
  /**
   * How far the consumer's deadline is past `framesPushed` (frames written or
   * skipped so far), signed: > 0 when it has already rendered that many of the
   * next frames without their stems (and will discard them unread).
   */
  deadlineLead(framesPushed: number): number;
  /** Advances the stream by `frames` without writing them; only frames the consumer discards (deadlineLead > 0). */
  skipFrames(frames: number): number;
}

/** Catching up when compute is slower than real time (see pump()). */
export interface CatchUpOptions {
  /**
   * How far the consumer's deadline moves per millisecond of compute: the
   * sample rate / 1000 when it plays in real time; 0 for a clock that waits for
   * the worker (then only jobs already entirely late are skipped, and in such a
   * clock none ever is).
   */
  deadlineFramesPerMs: number;
}

export type PumpResult = 'ran' | 'skipped' | 'moved' | 'idle';

export interface LoopStats {
  segments: number;
  /** Sum and last of session.run times, ms. */
  runMsTotal: number;
  lastRunMs: number;
  /** Frames handed to the stem port: written, or skipped (jobs too late to run). */
  framesOut: number;
  framesIn: number;
  /** Jobs not run because their stems would have come too late, and their frames. */
  segmentsSkipped: number;
  framesSkipped: number;
}

/** How often the input is drained while a run is in flight (asynchronous backends only), ms. */
const DRAIN_INTERVAL_MS = 10;
/**
 * After this many jobs skipped in a row, the next one runs anyway: the skip
 * rule predicts from the last run's time, and without a run that time would
 * never be measured again, so a machine that got faster would never be noticed.
 */
const MAX_SKIPS_BEFORE_PROBE = 3;

export class InferenceLoop {
  readonly stats: LoopStats = { segments: 0, runMsTotal: 0, lastRunMs: 0, framesOut: 0, framesIn: 0, segmentsSkipped: 0, framesSkipped: 0 };
  private readonly separator: StreamSeparator;
  private readonly input: InputPort;
  private readonly output: StemPort;
  private readonly inBlock: Float32Array[];
  private readonly outBlock: Float32Array[];
  /** Frames of outBlock not yet written, from outAt. */
  private outPending = 0;
  private outAt = 0;
  /** Frames of skipped jobs the stem stream is owed (paid with skipFrames once the consumer is past them). */
  private skipOwed = 0;
  /** Jobs skipped since the last one ran. */
  private skipsInRow = 0;
  private readonly chunk: number;
  private readonly catchUp: CatchUpOptions;

  constructor(separator: StreamSeparator, input: InputPort, output: StemPort, options: { chunk?: number; catchUp?: CatchUpOptions } = {}) {
    this.separator = separator;
    this.input = input;
    this.output = output;
    this.chunk = options.chunk ?? 4096;
    this.catchUp = options.catchUp ?? { deadlineFramesPerMs: 0 };
    this.inBlock = Array.from({ length: separator.channels }, () => new Float32Array(this.chunk));
    this.outBlock = Array.from({ length: separator.rows }, () => new Float32Array(this.chunk));
  }

  /** Moves final frames out as far as the port has room, after paying owed skips. Returns frames moved. */
  private flushOut(): number {
    let moved = 0;
    for (;;) {
      if (this.outPending === 0) {
        if (this.skipOwed > 0) {
          // Skipped frames may only be passed over once the consumer has given up on them.
          const k = Math.min(this.skipOwed, this.output.deadlineLead(this.stats.framesOut));
          if (k <= 0) return moved;
          const n = this.output.skipFrames(k);
          if (n === 0) return moved;
          this.skipOwed -= n;
          this.stats.framesOut += n;
          this.stats.framesSkipped += n;
          moved += n;
          continue;
        }
        this.outPending = this.separator.take(this.outBlock, this.chunk);
        this.outAt = 0;
        if (this.outPending === 0) return moved;
      }
      const n = this.output.writeRows(this.outBlock, Math.min(this.outPending, this.output.spaceFrames()), this.outAt);
      if (n === 0) return moved;
      this.outPending -= n;
      this.outAt += n;
      moved += n;
      this.stats.framesOut += n;
    }
  }

  /**
   * Reads all the input there is, as far as the separator's history has room
   * (it never overwrites what a job still needs): input waits in the worker's
   * own memory rather than in the capture ring. Returns frames fed.
   */
  private feedIn(): number {
    let fed = 0;
    for (;;) {
      const want = Math.min(this.chunk, this.input.availableFrames(), this.separator.inputRoom);
      if (want <= 0) break;
      const n = this.input.readPlanar(this.inBlock, want);
      if (n === 0) break;
      this.separator.push(this.inBlock, n);
      fed += n;
      this.stats.framesIn += n;
    }
    return fed;
  }

  /**
   * Whether the next job's stems would all come too late: its final region ends
   * before where the consumer's deadline will be when a run started now ends
   * (the last run's time at the consumer's pace). Such a job is
   * skipped instead of run, so a worker slower than real time stays near the
   * playhead and wet output resumes as soon as compute is fast enough again.
   */
  private nextJobTooLate(): boolean {
    const job = this.separator.nextJobInfo;
    if (!job) return false;
    const deadline = this.stats.framesOut + this.output.deadlineLead(this.stats.framesOut);
    // With a clock that waits for the worker (0 frames per ms) this is "already
    // rendered without them", which such a clock never lets happen; so a skip
    // there could only wait on the clock, and never occurs.
    return job.finalUpTo <= deadline + this.catchUp.deadlineFramesPerMs * this.stats.lastRunMs;
  }

  async pump(): Promise<PumpResult> {
    const moved = this.flushOut() + this.feedIn();
    // Back-pressure: while final frames wait for room in the stem port (the audio
    // thread is paused or far behind), computing more would only overfill the
    // overlap-add stage. A job hands out at most a stride, so this bound is enough.
    if (this.outPending > 0 || this.separator.framesReady > this.separator.stride) return moved > 0 ? 'moved' : 'idle';
    let skipped = false;
    if (this.separator.framesReady === 0) {
      while (this.skipsInRow < MAX_SKIPS_BEFORE_PROBE && this.nextJobTooLate()) {
        this.skipOwed += this.separator.skipJob();
        this.stats.segmentsSkipped++;
        this.skipsInRow++;
        skipped = true;
      }
      if (skipped) this.flushOut();
    }
    if (this.separator.canStep) {
      const step = this.separator.step();
      // Drain the capture ring while the run is in flight. A backend that blocks
      // this thread (onnxruntime-node, onnxruntime-web's WASM) resolves no timer
      // before the run ends: there the capture ring's size covers the run.
      let inFlight = true;
      void step.then(() => { inFlight = false; }, () => { inFlight = false; });
      while (inFlight) {
        await Promise.race([step, new Promise((r) => setTimeout(r, DRAIN_INTERVAL_MS))]);
        this.feedIn();
      }
      await step;
      this.skipsInRow = 0;
      const t = this.separator.lastTiming;
      if (t) {
        this.stats.segments++;
        this.stats.lastRunMs = t.runMs;
        this.stats.runMsTotal += t.runMs;
      }
      this.flushOut();
      return 'ran';
    }
    if (skipped) return 'skipped';
    return moved > 0 ? 'moved' : 'idle';
  }
}
