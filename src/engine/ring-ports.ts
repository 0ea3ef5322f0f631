/** The inference loop's ports over the shared rings (worker side). */
import { RENDER_QUANTUM } from '../constants.js';
import type { InputPort, StemPort } from './inference-loop.js';
import { stemDeadline } from '../realtime/control-block.js';
import { type FrameRing } from '../realtime/frame-ring.js';
import { type SharedState } from '../realtime/shared-state.js';

export class InputRingPort implements InputPort {
  private readonly ring: FrameRing;
  private readonly scratch: Float32Array;
  constructor(ring: FrameRing) {
    this.ring = ring;
    this.scratch = new Float32Array(RENDER_QUANTUM * 8 * ring.width);
  }
  availableFrames(): number {
    return this.ring.availableRead();
  }
  readPlanar(dst: Float32Array[], frames: number): number {
    return this.ring.readPlanar(dst, 0, frames, this.scratch);
  }
}

export class StemRingPort implements StemPort {
  private readonly ring: FrameRing;
  private readonly state: SharedState;
  private readonly scratch: Float32Array;
  constructor(state: SharedState) {
    this.state = state;
    const ring = state.stemRing;
    this.ring = ring;
    this.scratch = new Float32Array(RENDER_QUANTUM * 8 * ring.width);
  }
  spaceFrames(): number {
    return this.ring.availableWrite();
  }
  writeRows(rows: Float32Array[], frames: number, offset: number): number {
    return frames > 0 && this.ring.writePlanar(rows, offset, frames, this.scratch) ? frames : 0;
  }
  deadlineLead(framesPushed: number): number {
    // The deadline slot holds the low 32 bits: wrap-safe while the two are within 2^31 frames.
    return (stemDeadline(this.state) - framesPushed) | 0;
  }
  skipFrames(frames: number): number {
    return this.ring.skipWrite(frames);
  }
}
