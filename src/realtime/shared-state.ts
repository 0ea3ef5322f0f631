/**
 * The shared memory between the three threads of the real-time engine
 * (docs/ARCHITECTURE.md §1, §4): created on the main thread, posted to the worklet (as
 * `processorOptions`) and to the inference worker, attached on each side.
 *
 *   input ring   worklet → worker   the captured input, C floats per frame
 *                                   (interleaved), frame k of the stream =
 *                                   input frame k, from frame 0.
 *   stem ring    worker → worklet   the separated stems, S·C floats per frame,
 *                                   laid out [s0c0, s0c1, …, s1c0, …] (stem-major,
 *                                   then channel); frame k of the stream = the
 *                                   stems of input frame k, from frame 0, in order,
 *                                   no gaps (see "Worker protocol" below).
 *   control      all               one SharedArrayBuffer of 4-byte slots seen as
 *                                   an Int32Array and a Float32Array (same
 *                                   indices): configuration, the main thread's
 *                                   gains/mute/solo/flags, the worklet's counters.
 *
 * Both rings are ringbuf.js `RingBuffer`s of Float32 wrapped by `FrameRing`
 * (frame-ring.ts); the control block's slots are in control-block.ts.
 *
 * Worker protocol (what the inference worker does with these):
 * - Input: `state.inputRing.read(buf, frames)` (or `readPlanar`) as often as it
 *   likes; frames arrive in order from input frame 0. When the worker does not
 *   drain the ring and it fills, the worklet drops whole quanta and later writes
 *   zeros in their place (counted in INPUT_OVERFLOW_QUANTA / INPUT_FRAMES_DROPPED),
 *   so the stream position stays equal to the input frame index.
 * - Stems: `state.stemRing.write(buf, frames)` (or `writePlanar`) for the stems
 *   of input frames in order, starting at frame 0. A write may be partial
 *   (returns the frames written); the rest is the worker's to retry.
 * - Stems the worklet already gave up on (it rendered the dry input there) are
 *   not worth computing: every input frame below CTRL.STEM_DEADLINE has been
 *   rendered, and the stems of those not yet pushed will be discarded unread.
 *   A worker that has pushed (or skipped) W stem frames may skip the next
 *   `k = stemFramesBehind(state, W)` with `stemRing.skipWrite(k)` (advances the
 *   stream without writing: O(1)) instead of computing them, and drop their
 *   input with `inputRing.skipRead(k)` if it does not need it as context. The
 *   deadline only grows, so a k read once stays safe. (The worklet counts these
 *   frames in FRAMES_SKIPPED when it discards them.)
 * - Liveness and restarts: the worker beats CTRL.WORKER_HEARTBEAT, says how long
 *   it may block (WORKER_BUSY_MS/KIND: a run, a load, an export) and publishes
 *   the input frames it has read and the stem frames it has pushed
 *   (WORKER_IN_*, WORKER_OUT_*). A worker that replaces a failed one reads them
 *   (checked against the rings' own indices) and goes on from there: it skips
 *   the stems up to where it can compute again as the deadline passes them (the
 *   worklet has played those dry), so the latency never changes.
 */
import { RingBuffer } from 'ringbuf.js';
import { RENDER_QUANTUM } from '../constants.js';
import { CTRL, LAYOUT_MAGIC, LAYOUT_VERSION, MAX_STEMS, checkCount } from './control-block.js';
import { FrameRing } from './frame-ring.js';

/** Default ring capacities, in frames (2^18 ≈ 5.9 s at 44.1 kHz). */
export const DEFAULT_INPUT_RING_FRAMES = 1 << 18;
export const DEFAULT_STEM_RING_FRAMES = 1 << 18;

export interface SharedStateOptions {
  /** Audio channels C (2 for HT-Demucs). */
  channels: number;
  /** Stems S (4 or 6). */
  sources: number;
  /** Input ring capacity in frames (default 2^18). */
  inputRingFrames?: number;
  /** Stem ring capacity in frames (default 2^18). */
  stemRingFrames?: number;
}

/** What crosses threads (postMessage / processorOptions): SABs and numbers only. */
export interface SharedStateBuffers {
  version: number;
  channels: number;
  sources: number;
  inputRing: SharedArrayBuffer;
  stemRing: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** One thread's view of the shared state. */
export interface SharedState {
  readonly buffers: SharedStateBuffers;
  readonly channels: number;
  readonly sources: number;
  readonly inputRing: FrameRing;
  readonly stemRing: FrameRing;
  readonly controlI32: Int32Array;
  readonly controlF32: Float32Array;
}

/** Main thread: allocate the rings and the control block, with defaults set. */
export function createSharedState(options: SharedStateOptions): SharedState {
  const { channels, sources } = options;
  const inputRingFrames = options.inputRingFrames ?? DEFAULT_INPUT_RING_FRAMES;
  const stemRingFrames = options.stemRingFrames ?? DEFAULT_STEM_RING_FRAMES;
  checkCount('channels', channels, 1, 32);
  checkCount('sources', sources, 1, MAX_STEMS);
  // Ring sizes in elements stay below 2^31 (ringbuf.js keeps Uint32 indices).
  checkCount('inputRingFrames', inputRingFrames, RENDER_QUANTUM, Math.floor(2 ** 28 / channels));
  checkCount('stemRingFrames', stemRingFrames, RENDER_QUANTUM, Math.floor(2 ** 28 / (channels * sources)));
  const control = new SharedArrayBuffer(CTRL.SIZE * 4);
  const i32 = new Int32Array(control);
  const f32 = new Float32Array(control);
  i32[CTRL.MAGIC] = LAYOUT_MAGIC;
  i32[CTRL.VERSION] = LAYOUT_VERSION;
  i32[CTRL.CHANNELS] = channels;
  i32[CTRL.SOURCES] = sources;
  i32[CTRL.INPUT_RING_FRAMES] = inputRingFrames;
  i32[CTRL.STEM_RING_FRAMES] = stemRingFrames;
  i32[CTRL.STEMS_ENABLED] = 1;
  i32[CTRL.CAPTURE_ENABLED] = 1;
  for (let s = 0; s < MAX_STEMS; s++) {
    f32[CTRL.GAIN + s] = 1;
    f32[CTRL.GAIN_CURRENT + s] = 1;
  }
  const buffers: SharedStateBuffers = {
    version: LAYOUT_VERSION,
    channels,
    sources,
    inputRing: RingBuffer.getStorageForCapacity(inputRingFrames * channels, Float32Array),
    stemRing: RingBuffer.getStorageForCapacity(stemRingFrames * channels * sources, Float32Array),
    control,
  };
  return attachSharedState(buffers);
}

/** Any thread: build this thread's views over buffers made by createSharedState. */
export function attachSharedState(buffers: SharedStateBuffers): SharedState {
  const controlI32 = new Int32Array(buffers.control);
  const controlF32 = new Float32Array(buffers.control);
  if (controlI32.length < CTRL.SIZE || controlI32[CTRL.MAGIC] !== LAYOUT_MAGIC) {
    throw new Error('stemstream: the control block was not made by createSharedState');
  }
  if (buffers.version !== LAYOUT_VERSION || controlI32[CTRL.VERSION] !== LAYOUT_VERSION) {
    throw new Error(
      `stemstream: shared layout version ${controlI32[CTRL.VERSION]} (buffers say ${buffers.version}), ` +
        `this code expects ${LAYOUT_VERSION}`,
    );
  }
  const { channels, sources } = buffers;
  if (controlI32[CTRL.CHANNELS] !== channels || controlI32[CTRL.SOURCES] !== sources) {
    throw new Error('stemstream: shared buffers and control block disagree on channels or sources');
  }
  return {
    buffers,
    channels,
    sources,
    inputRing: new FrameRing(buffers.inputRing, channels),
    stemRing: new FrameRing(buffers.stemRing, channels * sources),
    controlI32,
    controlF32,
  };
}
