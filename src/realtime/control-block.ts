/**
 * The control block (docs/ARCHITECTURE.md §4): one SharedArrayBuffer of 4-byte slots seen as an
 * Int32Array and a Float32Array (same indices), shared by the three threads:
 * configuration, the main thread's gains/mute/solo/flags, the audio thread's
 * counters and meters, the worker's liveness and positions. The slot map, the
 * main thread's setters and the stats reader.
 */
import { RENDER_QUANTUM } from '../constants.js';

/** Most stems the control block has slots for (htdemucs_6s has 6). */
export const MAX_STEMS = 8;
/** Bumped whenever a slot moves; the worklet refuses a block of another version. */
export const LAYOUT_VERSION = 2;
/** 'STEM' in ASCII, slot MAGIC: a control block was made by createSharedState. */
export const LAYOUT_MAGIC = 0x5354454d;
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
  /** i32 (worker): what the worker is busy with (protocol.ts BUSY): 0 idle, 1 run, 2 load, 3 export. */
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

export function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

// ---- main-thread helpers (these may allocate; never call them on the audio thread) ----

/**
 * What the helpers below read of a thread's shared state (shared-state.ts's
 * SharedState has it), declared here so that this module does not import
 * shared-state.ts, which imports the slots from here.
 */
export interface ControlView {
  readonly sources: number;
  readonly controlI32: Int32Array;
  readonly controlF32: Float32Array;
}

function checkStem(state: ControlView, stem: number): void {
  checkCount('stem', stem, 0, state.sources - 1);
}

/** Target gain of a stem (linear); the worklet ramps to it over its ramp length. */
export function setStemGain(state: ControlView, stem: number, gain: number): void {
  checkStem(state, stem);
  if (!Number.isFinite(gain)) throw new RangeError(`gain must be finite, got ${gain}`);
  state.controlF32[CTRL.GAIN + stem] = gain;
}

export function setStemMute(state: ControlView, stem: number, muted: boolean): void {
  checkStem(state, stem);
  Atomics.store(state.controlI32, CTRL.MUTE + stem, muted ? 1 : 0);
}

export function setStemSolo(state: ControlView, stem: number, soloed: boolean): void {
  checkStem(state, stem);
  Atomics.store(state.controlI32, CTRL.SOLO + stem, soloed ? 1 : 0);
}

export function setStemsEnabled(state: ControlView, enabled: boolean): void {
  Atomics.store(state.controlI32, CTRL.STEMS_ENABLED, enabled ? 1 : 0);
}

export function setTimingEnabled(state: ControlView, enabled: boolean): void {
  Atomics.store(state.controlI32, CTRL.TIMING_ENABLED, enabled ? 1 : 0);
}

export function setCaptureEnabled(state: ControlView, enabled: boolean): void {
  Atomics.store(state.controlI32, CTRL.CAPTURE_ENABLED, enabled ? 1 : 0);
}

/** Stems of input frames below this (low 32 bits) are no longer wanted by the worklet. */
export function stemDeadline(state: ControlView): number {
  return Atomics.load(state.controlI32, CTRL.STEM_DEADLINE) >>> 0;
}

/**
 * Worker: of the stem frames from `framesPushed` on (frames it has written or
 * skipped so far, a frame count that may exceed 2^32), how many the worklet has
 * already rendered dry and will discard unread: safe to `stemRing.skipWrite()`.
 * Wrap-safe (the deadline is its low 32 bits) while the worker is less than 2^31
 * frames off the deadline.
 */
export function stemFramesBehind(state: ControlView, framesPushed: number): number {
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
export function readStats(state: ControlView): StemOutStats {
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
