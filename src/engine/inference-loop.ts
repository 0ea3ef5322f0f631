/**
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
}

export type PumpResult = 'ran' | 'moved' | 'idle';

export interface LoopStats {
  segments: number;
  /** Sum and last of session.run times, ms. */
  runMsTotal: number;
  lastRunMs: number;
  /** Frames written to the stem port. */
  framesOut: number;
  framesIn: number;
}

export class InferenceLoop {
  readonly stats: LoopStats = { segments: 0, runMsTotal: 0, lastRunMs: 0, framesOut: 0, framesIn: 0 };
  private readonly separator: StreamSeparator;
  private readonly input: InputPort;
  private readonly output: StemPort;
  private readonly inBlock: Float32Array[];
  private readonly outBlock: Float32Array[];
  /** Frames of outBlock not yet written, from outAt. */
  private outPending = 0;
  private outAt = 0;
  private readonly chunk: number;

  constructor(separator: StreamSeparator, input: InputPort, output: StemPort, chunk = 4096) {
    this.separator = separator;
    this.input = input;
    this.output = output;
    this.chunk = chunk;
    this.inBlock = Array.from({ length: separator.channels }, () => new Float32Array(chunk));
    this.outBlock = Array.from({ length: separator.rows }, () => new Float32Array(chunk));
  }

  /** Moves final frames out as far as the port has room. Returns frames moved. */
  private flushOut(): number {
    let moved = 0;
    for (;;) {
      if (this.outPending === 0) {
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

  /** Feeds input the separator still needs for its next segment. Returns frames fed. */
  private feedIn(): number {
    let fed = 0;
    while (!this.separator.canStep && !this.separator.ended) {
      // Input past a declared end (the capture keeps running) is not the stream's.
      const want = Math.min(this.chunk, this.input.availableFrames(), this.separator.framesWanted);
      if (want <= 0) break;
      const n = this.input.readPlanar(this.inBlock, want);
      if (n === 0) break;
      this.separator.push(this.inBlock, n);
      fed += n;
      this.stats.framesIn += n;
    }
    return fed;
  }

  async pump(): Promise<PumpResult> {
    const moved = this.flushOut() + this.feedIn();
    // Back-pressure: while final frames wait for room in the stem port (the audio
    // thread is paused or far behind), computing more would only overfill the
    // overlap-add stage. A job hands out at most a stride, so this bound is enough.
    if (this.outPending > 0 || this.separator.framesReady > this.separator.stride) return moved > 0 ? 'moved' : 'idle';
    if (this.separator.canStep) {
      await this.separator.step();
      const t = this.separator.lastTiming;
      if (t) {
        this.stats.segments++;
        this.stats.lastRunMs = t.runMs;
        this.stats.runMsTotal += t.runMs;
      }
      this.flushOut();
      return 'ran';
    }
    return moved > 0 ? 'moved' : 'idle';
  }
}
