/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The live session's ports onto the shared rings (worker side): input read
 * from the capture ring and stems written to the stem ring, each publishing
 * its stream position in the control block (CTRL.WORKER_IN_*, WORKER_OUT_*),
 * which is what lets a fresh worker resume where a failed one stopped
 * (`exactPosition`, `resync`).
 */
import { RENDER_QUANTUM } from '../../constants.js';
import { CTRL, stemDeadline } from '../../realtime/control-block.js';
import type { FrameRing } from '../../realtime/frame-ring.js';
import type { SharedState } from '../../realtime/shared-state.js';
import type { InputPort, StemPort } from './inference-loop.js';
import { sleep } from './session.js';

const TWO_32 = 2 ** 32;

/** The ring's ringbuf.js header: [write index, read index] in elements, and its storage length. */
export function ringHeader(sab: SharedArrayBuffer): { indices: Uint32Array; storageLength: number } {
  return { indices: new Uint32Array(sab, 0, 2), storageLength: (sab.byteLength - 8) / 4 };
}

/**
 * A stream position (frames since frame 0) from what the last worker published
 * and the ring index it moved: the slot is stored after each ring operation,
 * so it may lag the ring by that operation's frames (a worker that died in
 * between), which the index tells exactly (width and storage length are coprime).
 */
export function exactPosition(published: number, index: number, width: number, storageLength: number): number {
  const expected = ((published % storageLength) * width) % storageLength;
  const moved = (((index - expected) % storageLength) + storageLength) % storageLength;
  return moved % width === 0 ? published + moved / width : published;
}

export function readPosition(ctrl: Int32Array, lo: number, hi: number): number {
  return (Atomics.load(ctrl, hi) >>> 0) * TWO_32 + (Atomics.load(ctrl, lo) >>> 0);
}

export function publishPosition(ctrl: Int32Array, lo: number, hi: number, frames: number): void {
  Atomics.store(ctrl, hi, Math.floor(frames / TWO_32) | 0);
  Atomics.store(ctrl, lo, frames % TWO_32 | 0);
}

/**
 * Live input from the capture ring, publishing how far it has read
 * (CTRL.WORKER_IN_*). `drop` frames are discarded first (a resumed worker
 * whose predecessor had already pushed stems beyond what it had read).
 */
export class PublishingInputPort implements InputPort {
  private readonly ring: FrameRing;
  private readonly ctrl: Int32Array;
  private readonly scratch: Float32Array;
  private position: number;
  private drop: number;

  constructor(ring: FrameRing, ctrl: Int32Array, position: number, drop: number) {
    this.ring = ring;
    this.ctrl = ctrl;
    this.scratch = new Float32Array(RENDER_QUANTUM * 8 * ring.width);
    this.position = position;
    this.drop = drop;
  }

  private dropped(): boolean {
    if (this.drop > 0) {
      const n = this.ring.skipRead(this.drop);
      if (n > 0) {
        this.drop -= n;
        this.position += n;
        publishPosition(this.ctrl, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, this.position);
      }
    }
    return this.drop === 0;
  }

  availableFrames(): number {
    return this.dropped() ? this.ring.availableRead() : 0;
  }

  readPlanar(dst: Float32Array[], frames: number): number {
    if (!this.dropped()) return 0;
    const n = this.ring.readPlanar(dst, 0, frames, this.scratch);
    if (n > 0) {
      this.position += n;
      publishPosition(this.ctrl, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, this.position);
    }
    return n;
  }
}

/**
 * The stem ring, publishing how far it has been written (CTRL.WORKER_OUT_*).
 * The loop's frame 0 is stream frame `origin`; a resumed worker first passes
 * over the stems from where its predecessor stopped (`written`) to `origin`,
 * with skipWrite and only as the audio thread's deadline passes them (it has
 * played them dry), and writes nothing before.
 */
export class ResumingStemPort implements StemPort {
  private readonly state: SharedState;
  private readonly ring: FrameRing;
  private readonly ctrl: Int32Array;
  private readonly scratch: Float32Array;
  readonly origin: number;
  /** Stream frames pushed or skipped into the ring. */
  written: number;

  constructor(state: SharedState, written: number, origin: number) {
    this.state = state;
    this.ring = state.stemRing;
    this.ctrl = state.controlI32;
    this.scratch = new Float32Array(RENDER_QUANTUM * 8 * this.ring.width);
    this.written = written;
    this.origin = origin;
  }

  private moved(n: number): number {
    if (n > 0) {
      this.written += n;
      publishPosition(this.ctrl, CTRL.WORKER_OUT_LO, CTRL.WORKER_OUT_HI, this.written);
    }
    return n;
  }

  /** Passes over the gap before `origin` as far as the deadline allows; true once it is all passed. */
  private caughtUp(): boolean {
    const gap = this.origin - this.written;
    if (gap <= 0) return true;
    const k = Math.min(gap, (stemDeadline(this.state) - this.written) | 0);
    if (k > 0) this.moved(this.ring.skipWrite(k));
    return this.written >= this.origin;
  }

  spaceFrames(): number {
    return this.caughtUp() ? this.ring.availableWrite() : 0;
  }

  writeRows(rows: Float32Array[], frames: number, offset: number): number {
    if (frames <= 0 || !this.caughtUp()) return 0;
    return this.moved(this.ring.writePlanar(rows, offset, frames, this.scratch) ? frames : 0);
  }

  deadlineLead(framesPushed: number): number {
    // The deadline slot holds the low 32 bits: wrap-safe while the two are within 2^31 frames.
    return (stemDeadline(this.state) - (this.origin + framesPushed)) | 0;
  }

  skipFrames(frames: number): number {
    return this.caughtUp() ? this.moved(this.ring.skipWrite(frames)) : 0;
  }

  /** Past the end of the input: silent stems. */
  writeZeros(frames: number): number {
    return this.caughtUp() ? this.moved(this.ring.writeZeros(frames)) : 0;
  }
}

/**
 * A resumed worker's input position. Input that came while no worker read it
 * and found the ring full was dropped: the audio thread writes as many zeros in
 * its place, as room appears, to keep positions (CTRL.INPUT_FRAMES_DROPPED
 * counts them). Those zeros are not input and must not be separated (their
 * stems would be silence, played wet). So when the ring overflowed since
 * `inputAt` (more input arrived than it holds), the worker discards what the
 * ring holds until the audio thread has stopped dropping (it has written its
 * owed zeros and a quantum after them): everything after that is real input.
 * What the ring held before is discarded too: its stems would be due before a
 * worker this late could deliver them. Returns the position reached.
 */
export async function resync(state: SharedState, inputAt: number): Promise<number> {
  const c = state.controlI32;
  const ring = state.inputRing;
  const streamAt = () => inputAt + ((Atomics.load(c, CTRL.INPUT_STREAM_FRAMES) - inputAt) >>> 0);
  if (streamAt() - inputAt <= ring.frames) return inputAt;
  let position = inputAt;
  const drain = () => {
    for (let k; (k = ring.skipRead(ring.availableRead())) > 0; ) position += k;
    publishPosition(c, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, position);
  };
  let dropped = Atomics.load(c, CTRL.INPUT_FRAMES_DROPPED);
  let stream = streamAt();
  // Until a check finds quanta rendered and none dropped (at most ~4 s: an audio thread that does not render).
  for (let i = 0; i < 400; i++) {
    drain();
    await sleep(10);
    const d = Atomics.load(c, CTRL.INPUT_FRAMES_DROPPED);
    const n = streamAt();
    if (d === dropped && n !== stream) break;
    dropped = d;
    stream = n;
  }
  drain();
  return position;
}
