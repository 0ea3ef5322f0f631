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
 * Both rings are ringbuf.js `RingBuffer`s of Float32 (single producer, single
 * consumer, wait-free), wrapped by `FrameRing`, which moves whole frames only:
 * every push and pop is a multiple of the frame width and the capacity is a
 * whole number of frames, so the ring never holds a partial frame.
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

/** Most stems the control block has slots for (htdemucs_6s has 6). */
export const MAX_STEMS = 8;
/** Bumped whenever a slot moves; the worklet refuses a block of another version. */
export const LAYOUT_VERSION = 2;
/** 'STEM' in ASCII, slot MAGIC: a control block was made by createSharedState. */
export const LAYOUT_MAGIC = 0x5354454d;
/** Default ring capacities, in frames (2^18 ≈ 5.9 s at 44.1 kHz). */
export const DEFAULT_INPUT_RING_FRAMES = 1 << 18;
export const DEFAULT_STEM_RING_FRAMES = 1 << 18;
/** Quanta per published process()-time window (≈ 1 s at 44.1 kHz). */
export const PROC_TIME_WINDOW_QUANTA = 344;

/**
 * Slots of the control block. Each is 4 bytes: read `i32[slot]` for the slots
 * marked i32 and `f32[slot]` for those marked f32. "main" = written by the main
 * thread, "worklet" = written only by the audio thread, "create" = written once
 * by createSharedState. Counters are 32-bit and wrap: read them with `>>> 0`
 * (readStats does); at 48 kHz a frame counter wraps after ~24.8 hours, a quantum
 * counter after ~3.5 years.
 */
export const CTRL = {
  // ---- configuration (create) ----
  /** i32: LAYOUT_MAGIC. */
  MAGIC: 0,
  /** i32: LAYOUT_VERSION. */
  VERSION: 1,
  /** i32: audio channels C. */
  CHANNELS: 2,
  /** i32: stems S (≤ MAX_STEMS). */
  SOURCES: 3,
  /** i32: input ring capacity, frames. */
  INPUT_RING_FRAMES: 4,
  /** i32: stem ring capacity, frames. */
  STEM_RING_FRAMES: 5,
  /** i32 (worklet, at construction): the fixed latency L in frames it runs with. */
  LATENCY_FRAMES: 6,
  /** i32 (worklet, at construction): crossfade/gain ramp length in frames. */
  RAMP_FRAMES: 7,

  // ---- control (main → worklet, polled once per render quantum) ----
  /** i32, default 1: 1 = play the stems; 0 = bypass, play the dry input delayed
   *  by L (crossfaded; stem outputs fade to 0). Stems keep being consumed in
   *  step, so re-enabling is aligned. Underruns are not counted while 0. */
  STEMS_ENABLED: 8,
  /** i32, default 1: 1 = the worklet writes its input into the input ring; 0 =
   *  it does not (the worker reads the input elsewhere, e.g. a track's PCM). */
  CAPTURE_ENABLED: 9,
  /** i32, default 0: 1 = the worklet times its process() (the PROC_US_* slots)
   *  with performance.now(). Off by default because the clock itself allocates:
   *  a non-integer double returned by a call V8 does not inline is boxed (16
   *  bytes), and Node 20's performance.now() allocates ~75 bytes per call. With
   *  0, process() allocates nothing at all; with 1, nothing but the clock's. */
  TIMING_ENABLED: 10,

  // ---- inference worker liveness (worker; read by the main thread's watchdog) ----
  /** i32 (worker, wraps): bumped every heartbeat interval while the worker's
   *  event loop runs, and whenever it enters or leaves a busy phase. */
  WORKER_HEARTBEAT: 11,
  /** i32 (worker): how long the worker may now go without a heartbeat, ms: the
   *  limit of the session.run, model load or export under way (a blocking
   *  runtime stops the event loop meanwhile); 0 when idle. */
  WORKER_BUSY_MS: 12,
  /** i32 (worker): what the worker is busy with (worker-protocol.ts BUSY): 0 idle, 1 run, 2 load, 3 export. */
  WORKER_BUSY_KIND: 13,
  /** f32 × MAX_STEMS, default 1: per-stem target gain (linear). */
  GAIN: 16,
  /** i32 × MAX_STEMS, default 0: 1 = muted (target gain 0). */
  MUTE: 24,
  /** i32 × MAX_STEMS, default 0: 1 = soloed; when any stem is soloed, every
   *  stem that is not has target gain 0. Mute wins over solo. */
  SOLO: 32,

  // ---- counters (worklet) ----
  /** i32: render quanta processed; frames rendered = this × RENDER_QUANTUM. */
  QUANTA_RENDERED: 40,
  /** i32: quanta whose stems had not arrived in time (stems enabled only). */
  UNDERRUN_QUANTA: 41,
  /** i32: stem frames discarded from the stem ring because they came after
   *  their output had been rendered dry (or were skipped by the worker). */
  FRAMES_SKIPPED: 42,
  /** i32: quanta (stems enabled) not entirely wet: some dry input in the mix,
   *  during a crossfade or a full fallback. */
  DRY_FALLBACK_QUANTA: 43,
  /** i32: quanta of input dropped because the input ring was full. */
  INPUT_OVERFLOW_QUANTA: 44,
  /** i32: input frames dropped (each later written as zeros into the ring). */
  INPUT_FRAMES_DROPPED: 45,
  /** i32: current skip debt, frames: stems owed to the discard pile. */
  SKIP_DEBT_FRAMES: 46,
  /** i32 (wraps, low 32 bits): stems of input frames below this are no longer
   *  wanted (already rendered); = max(0, framesRendered − L). */
  STEM_DEADLINE: 47,
  /** i32 (wraps): frames in the input stream so far (written + owed zeros). */
  INPUT_STREAM_FRAMES: 48,
  /** i32: 1 when the worklet has a clock (performance.now) for the time stats
   *  (they are updated only while TIMING_ENABLED is 1 too). */
  TIMING_AVAILABLE: 49,
  /** i32: quanta in the last published time window (PROC_US_WINDOW_*). */
  PROC_WINDOW_QUANTA: 50,
  /** i32 × 2 (worker): input frames the worker has taken from the input ring
   *  since input frame 0, low and high 32 bits; stored after every read, so a
   *  restarted worker knows where the stream stands (with the ring's own read
   *  index it is exact even when the last store was lost). */
  WORKER_IN_LO: 51,
  WORKER_IN_HI: 52,
  /** i32 × 2 (worker): stem frames the worker has pushed or skipped into the
   *  stem ring since frame 0, low and high 32 bits (as WORKER_IN_*). */
  WORKER_OUT_LO: 53,
  WORKER_OUT_HI: 54,

  // ---- time and state figures (worklet, f32) ----
  /** f32: process() time of the last quantum, µs. */
  PROC_US_LAST: 56,
  /** f32: sum of process() times over the last completed window, µs. */
  PROC_US_WINDOW_SUM: 57,
  /** f32: largest process() time in the last completed window, µs. */
  PROC_US_WINDOW_MAX: 58,
  /** f32: largest process() time since start, µs (the first quanta, before
   *  the JIT has warmed up, are included). */
  PROC_US_MAX: 59,
  /** f32: exponentially decaying mean of process() time, µs (α = 1/256). */
  PROC_US_EMA: 60,
  /** f32: current wet weight w (0 = dry input, 1 = stems) at the quantum's end. */
  WET: 61,
  /** f32 × MAX_STEMS: current (ramping) gain of each stem at the quantum's end. */
  GAIN_CURRENT: 64,
  /** f32 × MAX_STEMS: peak |sample| of each stem output (all channels), with a
   *  meter's fall of 20 dB/s applied on the audio thread; for level meters. */
  METER: 72,

  /** Number of slots. */
  SIZE: 80,
} as const;

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

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
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
  /** ringbuf.js' header: [write index, read index], in elements. */
  private readonly indices: Uint32Array;
  /** ringbuf.js' storage length: capacity + 1 (one slot tells full from empty). */
  private readonly storageLength: number;

  constructor(sab: SharedArrayBuffer, width: number) {
    const storageLength = (sab.byteLength - 8) / Float32Array.BYTES_PER_ELEMENT;
    const capacity = storageLength - 1;
    if (!Number.isInteger(storageLength) || capacity <= 0 || capacity % width !== 0) {
      throw new RangeError(`ring of ${capacity} floats is not a whole number of ${width}-float frames`);
    }
    this.width = width;
    this.frames = capacity / width;
    this.ring = new RingBuffer(sab, Float32Array);
    this.indices = new Uint32Array(sab, 0, 2);
    this.storageLength = storageLength;
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

  /** Consumer: discard up to `frames` frames unread; returns the frames
   *  discarded. O(1): moves ringbuf.js' read index (its header is two Uint32,
   *  write then read, stored with Atomics exactly as its own pop() does). */
  skipRead(frames: number): number {
    const n = Math.min(frames, this.availableRead());
    if (n <= 0) return 0;
    const rd = Atomics.load(this.indices, 1);
    Atomics.store(this.indices, 1, (rd + n * this.width) % this.storageLength);
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

// ---- main-thread helpers (these may allocate; never call them on the audio thread) ----

function checkStem(state: SharedState, stem: number): void {
  checkCount('stem', stem, 0, state.sources - 1);
}

/** Target gain of a stem (linear); the worklet ramps to it over its ramp length. */
export function setStemGain(state: SharedState, stem: number, gain: number): void {
  checkStem(state, stem);
  if (!Number.isFinite(gain)) throw new RangeError(`gain must be finite, got ${gain}`);
  state.controlF32[CTRL.GAIN + stem] = gain;
}

export function setStemMute(state: SharedState, stem: number, muted: boolean): void {
  checkStem(state, stem);
  Atomics.store(state.controlI32, CTRL.MUTE + stem, muted ? 1 : 0);
}

export function setStemSolo(state: SharedState, stem: number, soloed: boolean): void {
  checkStem(state, stem);
  Atomics.store(state.controlI32, CTRL.SOLO + stem, soloed ? 1 : 0);
}

export function setStemsEnabled(state: SharedState, enabled: boolean): void {
  Atomics.store(state.controlI32, CTRL.STEMS_ENABLED, enabled ? 1 : 0);
}

export function setTimingEnabled(state: SharedState, enabled: boolean): void {
  Atomics.store(state.controlI32, CTRL.TIMING_ENABLED, enabled ? 1 : 0);
}

export function setCaptureEnabled(state: SharedState, enabled: boolean): void {
  Atomics.store(state.controlI32, CTRL.CAPTURE_ENABLED, enabled ? 1 : 0);
}

/** Stems of input frames below this (low 32 bits) are no longer wanted by the worklet. */
export function stemDeadline(state: SharedState): number {
  return Atomics.load(state.controlI32, CTRL.STEM_DEADLINE) >>> 0;
}

/**
 * Worker: of the stem frames from `framesPushed` on (frames it has written or
 * skipped so far, a frame count that may exceed 2^32), how many the worklet has
 * already rendered dry and will discard unread: safe to `stemRing.skipWrite()`.
 * Wrap-safe (the deadline is its low 32 bits) while the worker is less than 2^31
 * frames off the deadline.
 */
export function stemFramesBehind(state: SharedState, framesPushed: number): number {
  const behind = (stemDeadline(state) - framesPushed) | 0;
  return behind > 0 ? behind : 0;
}

export interface StemOutStats {
  latencyFrames: number;
  rampFrames: number;
  quantaRendered: number;
  framesRendered: number;
  underrunQuanta: number;
  framesSkipped: number;
  dryFallbackQuanta: number;
  inputOverflowQuanta: number;
  inputFramesDropped: number;
  skipDebtFrames: number;
  stemDeadline: number;
  inputStreamFrames: number;
  timingAvailable: boolean;
  /** Mean and max process() time over the last window, µs (NaN before the first window). */
  procUsMean: number;
  procUsWindowMax: number;
  procUsMax: number;
  procUsEma: number;
  procUsLast: number;
  wet: number;
  gains: number[];
  /** Peak level of each stem output (linear, with meter fall). */
  meters: number[];
}

/** A snapshot of the worklet's counters (each read atomically; not all at one instant). */
export function readStats(state: SharedState): StemOutStats {
  const i = state.controlI32;
  const f = state.controlF32;
  const u = (slot: number) => Atomics.load(i, slot) >>> 0;
  const quanta = u(CTRL.QUANTA_RENDERED);
  const windowQuanta = u(CTRL.PROC_WINDOW_QUANTA);
  return {
    latencyFrames: u(CTRL.LATENCY_FRAMES),
    rampFrames: u(CTRL.RAMP_FRAMES),
    quantaRendered: quanta,
    framesRendered: quanta * RENDER_QUANTUM,
    underrunQuanta: u(CTRL.UNDERRUN_QUANTA),
    framesSkipped: u(CTRL.FRAMES_SKIPPED),
    dryFallbackQuanta: u(CTRL.DRY_FALLBACK_QUANTA),
    inputOverflowQuanta: u(CTRL.INPUT_OVERFLOW_QUANTA),
    inputFramesDropped: u(CTRL.INPUT_FRAMES_DROPPED),
    skipDebtFrames: u(CTRL.SKIP_DEBT_FRAMES),
    stemDeadline: u(CTRL.STEM_DEADLINE),
    inputStreamFrames: u(CTRL.INPUT_STREAM_FRAMES),
    timingAvailable: u(CTRL.TIMING_AVAILABLE) === 1,
    procUsMean: windowQuanta > 0 ? f[CTRL.PROC_US_WINDOW_SUM] / windowQuanta : Number.NaN,
    procUsWindowMax: f[CTRL.PROC_US_WINDOW_MAX],
    procUsMax: f[CTRL.PROC_US_MAX],
    procUsEma: f[CTRL.PROC_US_EMA],
    procUsLast: f[CTRL.PROC_US_LAST],
    wet: f[CTRL.WET],
    gains: Array.from({ length: state.sources }, (_, s) => f[CTRL.GAIN_CURRENT + s]),
    meters: Array.from({ length: state.sources }, (_, s) => f[CTRL.METER + s]),
  };
}
