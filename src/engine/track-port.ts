/**
 * Track mode's input: the whole track is known in advance, so the inference
 * worker reads it directly (not from the capture ring) and runs segments as far
 * ahead of the playhead as the stem ring has room for.
 */
import type { InputPort } from './inference-loop.js';

export class TrackInputPort implements InputPort {
  private readonly channels: Float32Array[];
  private position: number;

  /** `channels`: the track, planar (may live in SharedArrayBuffers); reading starts at `start`. */
  constructor(channels: Float32Array[], start = 0) {
    this.channels = channels;
    this.position = start;
  }

  availableFrames(): number {
    return this.channels[0].length - this.position;
  }

  readPlanar(dst: Float32Array[], frames: number): number {
    const n = Math.min(frames, this.availableFrames());
    for (let c = 0; c < dst.length; c++) dst[c].set(this.channels[c].subarray(this.position, this.position + n));
    this.position += n;
    return n;
  }
}
