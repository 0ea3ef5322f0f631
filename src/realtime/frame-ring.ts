/**
 * A ringbuf.js RingBuffer of Float32 moved in whole frames (docs/ARCHITECTURE.md §4): one
 * producer and one consumer thread, wait-free, every push and pop a multiple of
 * the frame width, so the ring never holds a partial frame. ringbuf.js is used
 * through its API only: a skip on the consumer's side pops into a scratch
 * buffer allocated at construction (bounded per call, so the audio thread's
 * cost per quantum stays small).
 */
import { RingBuffer } from 'ringbuf.js';

/** Frames skipRead pops per ringbuf.js call. */
const DISCARD_FRAMES = 1024;
/**
 * Most frames one skipRead discards: a copy of 8192 frames × 8 floats (256 KB)
 * is tens of µs, small against the audio thread's 2.9 ms quantum; a larger debt
 * is paid over several quanta.
 */
export const SKIP_READ_MAX_FRAMES = 8192;

type WriteWithOffset = Parameters<RingBuffer['writeCallbackWithOffset']>[1];
/** writeCallbackWithOffset callbacks: module-level so that passing them allocates nothing. */
const zeroFill: WriteWithOffset = (storage, o1, n1, o2, n2) => {
  storage.fill(0, o1, o1 + n1);
  storage.fill(0, o2, o2 + n2);
  return n1 + n2;
};
const leaveAsIs: WriteWithOffset = (_storage, _o1, n1, _o2, n2) => n1 + n2;

/**
 * A ringbuf.js RingBuffer of Float32 moved in whole frames of `width` floats
 * (interleaved). One side produces (write*, skipWrite), the other consumes
 * (read*, skipRead); each side builds its own FrameRing over the same SAB. No
 * method allocates, waits or locks: all are safe on the audio thread.
 */
export class FrameRing {
  /** Floats per frame. */
  readonly width: number;
  /** Capacity in frames. */
  readonly frames: number;
  private readonly ring: RingBuffer;
  /** Where skipRead pops to: DISCARD_FRAMES frames. */
  private readonly discard: Float32Array;

  constructor(sab: SharedArrayBuffer, width: number) {
    const storageLength = (sab.byteLength - 8) / Float32Array.BYTES_PER_ELEMENT;
    const capacity = storageLength - 1;
    if (!Number.isInteger(storageLength) || capacity <= 0 || capacity % width !== 0) {
      throw new RangeError(`ring of ${capacity} floats is not a whole number of ${width}-float frames`);
    }
    this.width = width;
    this.frames = capacity / width;
    this.ring = new RingBuffer(sab, Float32Array);
    this.discard = new Float32Array(DISCARD_FRAMES * width);
  }

  /** Frames that can be read now (may be late: the producer may have just written more). */
  availableRead(): number {
    return this.ring.availableRead() / this.width;
  }

  /** Frames that can be written now (may be late: the consumer may have just read). */
  availableWrite(): number {
    return this.ring.availableWrite() / this.width;
  }

  /** Producer: write up to `frames` interleaved frames from `src` starting at
   *  frame `srcFrame`; returns the frames written (all that fit). */
  write(src: Float32Array, frames: number, srcFrame = 0): number {
    const w = this.width;
    const n = Math.min(frames, this.availableWrite());
    if (n <= 0) return 0;
    return this.ring.push(src, n * w, srcFrame * w) / w;
  }

  /** Consumer: read up to `frames` frames into `dst` starting at frame `dstFrame`;
   *  returns the frames read. */
  read(dst: Float32Array, frames: number, dstFrame = 0): number {
    const w = this.width;
    const n = Math.min(frames, this.availableRead());
    if (n <= 0) return 0;
    return this.ring.pop(dst, n * w, dstFrame * w) / w;
  }

  /** Producer: write up to `frames` frames of zeros; returns the frames written. */
  writeZeros(frames: number): number {
    const n = Math.min(frames, this.availableWrite());
    if (n <= 0) return 0;
    return this.ring.writeCallbackWithOffset(n * this.width, zeroFill) / this.width;
  }

  /** Producer: advance the stream by up to `frames` frames without writing them
   *  (their content is whatever the storage held); returns the frames skipped.
   *  Only for frames the consumer is known to discard unread. O(1). */
  skipWrite(frames: number): number {
    const n = Math.min(frames, this.availableWrite());
    if (n <= 0) return 0;
    return this.ring.writeCallbackWithOffset(n * this.width, leaveAsIs) / this.width;
  }

  /** Consumer: discard up to `frames` frames unread (at most SKIP_READ_MAX_FRAMES
   *  per call); returns the frames discarded. Pops into the discard scratch. */
  skipRead(frames: number): number {
    const n = Math.min(frames, this.availableRead(), SKIP_READ_MAX_FRAMES);
    if (n <= 0) return 0;
    const w = this.width;
    const block = this.discard.length / w;
    for (let done = 0; done < n; done += block) this.ring.pop(this.discard, Math.min(block, n - done) * w, 0);
    return n;
  }

  /** Producer, planar source: write `frames` frames from `channels[c][start + i]`
   *  (width = channels.length). Writes all of them or none; returns true if written.
   *  Interleaves through `scratch` (≥ RENDER_QUANTUM·width floats), no allocation. */
  writePlanar(channels: ArrayLike<Float32Array>, start: number, frames: number, scratch: Float32Array): boolean {
    const w = this.width;
    if (channels.length !== w) throw new RangeError(`writePlanar: ${channels.length} channels for width ${w}`);
    if (this.availableWrite() < frames) return false;
    const block = Math.floor(scratch.length / w);
    for (let done = 0; done < frames; done += block) {
      const n = Math.min(block, frames - done);
      for (let c = 0; c < w; c++) {
        const ch = channels[c];
        for (let i = 0, j = c; i < n; i++, j += w) scratch[j] = ch[start + done + i];
      }
      this.ring.push(scratch, n * w, 0);
    }
    return true;
  }

  /** Consumer, planar destination: read up to `frames` frames into
   *  `channels[c][start + i]`; returns the frames read. */
  readPlanar(channels: ArrayLike<Float32Array>, start: number, frames: number, scratch: Float32Array): number {
    const w = this.width;
    if (channels.length !== w) throw new RangeError(`readPlanar: ${channels.length} channels for width ${w}`);
    const total = Math.min(frames, this.availableRead());
    const block = Math.floor(scratch.length / w);
    for (let done = 0; done < total; done += block) {
      const n = Math.min(block, total - done);
      this.ring.pop(scratch, n * w, 0);
      for (let c = 0; c < w; c++) {
        const ch = channels[c];
        for (let i = 0, j = c; i < n; i++, j += w) ch[start + done + i] = scratch[j];
      }
    }
    return total;
  }
}
