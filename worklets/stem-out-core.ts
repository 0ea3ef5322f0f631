/**
 * The "stems out" stage (docs/ARCHITECTURE.md §1, §4, §6): capture the input into the input
 * ring, read the separated stems back from the stem ring at a fixed latency,
 * apply per-stem gains with ramps, crossfade to the dry input (delayed by the
 * same latency) wherever stems are missing, and write the mix plus one output
 * per stem.
 *
 * RUNS ON THE AUDIO THREAD. After construction it allocates nothing, and it
 * never logs, locks, waits or posts a message per block: process() touches only
 * memory allocated in the constructor, the shared rings (wait-free) and the
 * control block (Atomics / plain stores). It has no Web Audio dependency, so the
 * AudioWorkletProcessor (stem-out-processor.ts) and the Node tests run the same code.
 *
 * Timing contract. Let n be the number of frames rendered so far (process() call
 * k renders output frames [n, n + 128), n = 128 k) and L the latency. Output
 * frame n is built from input frame n − L: the stems of that frame when the
 * worker delivered them in time, else the input frame itself ("dry"), read from
 * a delay line of L + 128 frames. Frames before input frame 0 are silence. When
 * the stems of a quantum are missing, the quantum is rendered dry and its stem
 * frames are owed to the discard pile ("skip debt"): they are dropped from the
 * ring as they arrive, so the stream position in the stem ring always equals the
 * input frame the worklet needs next, and output n ↔ input n − L holds forever.
 *
 * Crossfade. out = (1 − w)·dry + w·Σ_s gain_s·stem_s, stem output s = w·gain_s·stem_s,
 * where the wet weight w = p / R moves by one step 1/R per frame (R = rampFrames)
 * toward 1 or 0: an equal-gain linear crossfade, full swing in R frames. To be
 * able to fade *out* with real stems (they are needed until w reaches 0), w heads
 * for 1 only while the ring holds the stems of this quantum plus `lookaheadFrames`
 * (R rounded up to whole quanta) more; otherwise it heads for 0. So a late worker
 * makes the output fade to dry before the stems run out, never a jump. It heads
 * for 0 too when the main thread disables stems.
 *
 * Gains and meters: StemGains (stem-gains.ts), ramped over the same R frames.
 *
 * Allocation, in practice. Float state lives in typed arrays (never in object
 * fields that V8 might box) and every branch of process() is run once at
 * construction (prime()), so that V8 never meets a branch without type
 * feedback later and deoptimizes mid-stream. The process()-time stats are off
 * unless CTRL.TIMING_ENABLED is set, because the clock allocates (performance.now()
 * returns a boxed double; Node 20's allocates more). Chromium's
 * AudioWorkletGlobalScope has no `performance` at all (checked in Chromium 156):
 * there TIMING_AVAILABLE stays 0.
 */
import { RENDER_QUANTUM } from '../src/constants.js';
import { StemGains } from './stem-gains.js';
import { CTRL, MAX_STEMS, PROC_TIME_WINDOW_QUANTA } from '../src/realtime/control-block.js';
import { createSharedState, type SharedState } from '../src/realtime/shared-state.js';
import { type FrameRing } from '../src/realtime/frame-ring.js';
import { DEFAULT_RAMP_FRAMES, rampLookahead, stepToward } from '../src/realtime/ramp.js';

/** At most this many owed zero frames are written into the input ring per quantum. */
const MAX_ZERO_FILL_FRAMES = 1 << 14;
const EMA_ALPHA = 1 / 256;

/** Slots of the core's own Float64 state (frame counts can pass 2^31; doubles stay unboxed). */
const F_FRAMES = 0; // frames rendered, n
const F_DEBT = 1; // stem frames owed to the discard pile
const F_GAP = 2; // input frames dropped and not yet written as zeros
const F_STREAM = 3; // frames in the input stream (written + owed)
const F_WIN_SUM = 4;
const F_WIN_MAX = 5;
const F_EMA = 6;
const F_MAX = 7;
const F_SLOTS = 8;

export interface Clock {
  now(): number;
}

export interface StemOutCoreOptions {
  /** This thread's view of the shared state (attachSharedState / createSharedState). */
  sharedState: SharedState;
  /** Audio channels C; must equal the shared state's. */
  channels: number;
  /** Stems S; must equal the shared state's. */
  sources: number;
  /** The fixed latency L in frames (output n = input n − L). */
  latencyFrames: number;
  /** Crossfade and gain ramp length in frames (default 512). */
  rampFrames?: number;
  sampleRate: number;
  /** Clock in milliseconds for the process() time stats; default globalThis.performance
   *  when it has now(), null for none. (CTRL.TIMING_ENABLED switches it at run time.) */
  clock?: Clock | null;
  /** Run every branch of process() once at construction, on a private throwaway
   *  state, before V8 optimizes it (default true; once per realm). See prime(). */
  prime?: boolean;
}

function defaultClock(): Clock | null {
  const perf = (globalThis as { performance?: Clock }).performance;
  return perf !== undefined && perf !== null && typeof perf.now === 'function' ? perf : null;
}

export class StemOutCore {
  readonly channels: number;
  readonly sources: number;
  readonly latencyFrames: number;
  readonly rampFrames: number;
  /** Stems held in the ring beyond the current quantum before w may head for 1. */
  readonly lookaheadFrames: number;
  readonly sampleRate: number;

  private readonly inputRing: FrameRing;
  private readonly stemRing: FrameRing;
  private readonly ctrlI32: Int32Array;
  private readonly ctrlF32: Float32Array;
  private readonly clock: Clock | null;

  /** Delay line of the input, one array per channel, `delayLength` = L + 128 frames. */
  private readonly delay: Float32Array[];
  private readonly delayLength: number;
  /** Where the next input frame goes in the delay line. */
  private delayPos = 0;

  /** Wet position p in [0, R]: w = p / R. */
  private wetPos = 0;
  private windowCount = 0;
  private readonly f64 = new Float64Array(F_SLOTS);

  /** Per-stem gain ramps and meters. */
  private readonly gains: StemGains;

  // Scratch, one quantum each.
  /** Input, interleaved: 128 × C. */
  private readonly inScratch: Float32Array;
  /** Stems, interleaved as in the ring: 128 × S × C. */
  private readonly stemScratch: Float32Array;
  /** Gain curves, S × 128. */
  private readonly gainCurve: Float64Array;
  /** Wet curve, 128. */
  private readonly wetCurve: Float64Array;
  /** Σ gain·stem per channel, C × 128. */
  private readonly mixAcc: Float64Array;

  constructor(options: StemOutCoreOptions) {
    const { sharedState: state, channels, sources, latencyFrames, sampleRate } = options;
    const rampFrames = options.rampFrames ?? DEFAULT_RAMP_FRAMES;
    if (state.channels !== channels || state.sources !== sources) {
      throw new Error(
        `StemOutCore: ${channels} channels × ${sources} stems, but the shared state has ` +
          `${state.channels} × ${state.sources}`,
      );
    }
    if (sources > MAX_STEMS) throw new RangeError(`StemOutCore: at most ${MAX_STEMS} stems`);
    if (!Number.isInteger(latencyFrames) || latencyFrames < 0 || latencyFrames > 2 ** 30) {
      throw new RangeError(`StemOutCore: latencyFrames must be a non-negative integer, got ${latencyFrames}`);
    }
    if (!Number.isInteger(rampFrames) || rampFrames < 1 || rampFrames > 2 ** 24) {
      throw new RangeError(`StemOutCore: rampFrames must be a positive integer, got ${rampFrames}`);
    }
    const Q = RENDER_QUANTUM;
    const lookahead = rampLookahead(rampFrames);
    if (state.stemRing.frames < Q + lookahead) {
      throw new RangeError(
        `StemOutCore: the stem ring (${state.stemRing.frames} frames) cannot hold a quantum plus the ` +
          `${lookahead}-frame lookahead the crossfade needs`,
      );
    }
    this.channels = channels;
    this.sources = sources;
    this.latencyFrames = latencyFrames;
    this.rampFrames = rampFrames;
    this.lookaheadFrames = lookahead;
    this.sampleRate = sampleRate;
    this.inputRing = state.inputRing;
    this.stemRing = state.stemRing;
    this.ctrlI32 = state.controlI32;
    this.ctrlF32 = state.controlF32;
    this.clock = options.clock === undefined ? defaultClock() : options.clock;

    this.delayLength = latencyFrames + Q;
    this.delay = [];
    for (let c = 0; c < channels; c++) this.delay.push(new Float32Array(this.delayLength));

    this.gains = new StemGains(sources, rampFrames, state.controlI32, state.controlF32, sampleRate);

    this.inScratch = new Float32Array(Q * channels);
    this.stemScratch = new Float32Array(Q * sources * channels);
    this.gainCurve = new Float64Array(sources * Q);
    this.wetCurve = new Float64Array(Q);
    this.mixAcc = new Float64Array(channels * Q);

    if (options.prime !== false) StemOutCore.prime(channels, sources, this.clock);

    const i32 = this.ctrlI32;
    Atomics.store(i32, CTRL.LATENCY_FRAMES, latencyFrames);
    Atomics.store(i32, CTRL.RAMP_FRAMES, rampFrames);
    Atomics.store(i32, CTRL.TIMING_AVAILABLE, this.clock !== null ? 1 : 0);
    this.ctrlF32[CTRL.WET] = 0;
  }

  private static primed = false;

  /**
   * Give V8 type feedback for every branch of process() before it optimizes it.
   * Without this, a branch first taken after optimization (the first underrun an
   * hour in, the first input overflow, timing switched on) deoptimizes process():
   * measured on Node 20, every underrun quantum of the first stall deoptimized
   * and ran the rest of the quantum in the interpreter, ~16 kB of garbage each,
   * until V8 re-optimized. Here a throwaway core on a private, tiny shared state
   * runs a 27-quantum script through all paths (no input, mono input, missing
   * outputs, the start before input frame 0, stems in time, fade-in, fade-out, underrun
   * with skip debt, input overflow and owed zeros, capture off, bypass, gain
   * ramps, mute, solo, NaN gain and input, timing and its window). Once per realm (the
   * feedback belongs to the method, shared by all instances); a few ms.
   */
  static prime(channels: number, sources: number, clock: Clock | null): void {
    if (StemOutCore.primed) return;
    StemOutCore.primed = true;
    const Q = RENDER_QUANTUM;
    const state = createSharedState({ channels, sources, inputRingFrames: 2 * Q, stemRingFrames: 8 * Q });
    const i32 = state.controlI32;
    const f32 = state.controlF32;
    Atomics.store(i32, CTRL.TIMING_ENABLED, 1);
    const core = new StemOutCore({
      sharedState: state,
      channels,
      sources,
      latencyFrames: 400, // quanta 0..2: before input frame 0; quantum 3: partly
      // Not a multiple of Q, so that w and the gains end quanta at fractions too
      // (integer-only feedback would deoptimize later on "lost precision").
      rampFrames: 200,
      sampleRate: 48000,
      clock,
      prime: false,
    });
    core.windowCount = PROC_TIME_WINDOW_QUANTA - 3;
    const chans = (n: number) => Array.from({ length: n }, (_, c) => new Float32Array(Q).fill(0.25 - 0.1 * c));
    const input = chans(channels);
    const mono = [input[0]];
    const none: Float32Array[] = [];
    const noOutputs: Float32Array[][] = [];
    const mix = chans(channels);
    const outputs = [mix, ...Array.from({ length: sources }, () => chans(channels))];
    const stemOuts = outputs.slice(1);
    const inBuf = new Float32Array(4 * Q * channels);
    const stemBuf = new Float32Array(4 * Q * channels * sources);
    for (let q = 0; q < 27; q++) {
      // Bypassed across the first real frames, so that the fade-in (w rising) runs
      // early: V8 may optimize process() before the later quanta of this script.
      if (q === 1) Atomics.store(i32, CTRL.STEMS_ENABLED, 0);
      if (q === 4) Atomics.store(i32, CTRL.STEMS_ENABLED, 1);
      if (q === 2) f32[CTRL.GAIN] = 0.5;
      if (q === 3) Atomics.store(i32, CTRL.MUTE + sources - 1, 1);
      if (q === 4) Atomics.store(i32, CTRL.SOLO, 1);
      if (q === 5) f32[CTRL.GAIN] = Number.NaN;
      // A NaN input sample: the delay line's non-finite arm (0) runs once here.
      if (q === 7) input[0][5] = Number.NaN;
      if (q === 8) input[0][5] = 0.25;
      if (q === 15) Atomics.store(i32, CTRL.STEMS_ENABLED, 0);
      if (q === 17) Atomics.store(i32, CTRL.STEMS_ENABLED, 1);
      if (q === 20) Atomics.store(i32, CTRL.TIMING_ENABLED, 0);
      if (q === 21) Atomics.store(i32, CTRL.TIMING_ENABLED, 1);
      if (q === 25) Atomics.store(i32, CTRL.CAPTURE_ENABLED, 0);
      if (q === 26) Atomics.store(i32, CTRL.CAPTURE_ENABLED, 1);
      if (q === 0) core.process(none, none, noOutputs);
      else if (q === 1) core.process(mono, mix, stemOuts);
      else if (q === 24) core.process(none, outputs[0], outputs, 1); // no input, across the delay line's end
      else core.process(input, outputs[0], outputs, 1);
      // The worker: in time (the stems of input up to now; L − 128 ≥ the lookahead
      // 256, so w heads for 1), except after quanta 6..11: a fade-out, underruns, input
      // overflow, then skip debt and owed zeros paid off, bypass, a fade-in.
      if (q < 6 || q >= 12) {
        for (;;) {
          const n = Math.min(state.inputRing.read(inBuf, 4 * Q), state.stemRing.availableWrite());
          if (n <= 0) break;
          for (let k = 0; k < n * channels * sources; k++) stemBuf[k] = inBuf[k % (n * channels)];
          state.stemRing.write(stemBuf, n);
        }
      }
    }
  }

  /** Frames rendered so far (n). */
  get framesRendered(): number {
    return this.f64[F_FRAMES];
  }
  /** Current wet weight w (0 = dry, 1 = stems). */
  get wet(): number {
    return this.wetPos / this.rampFrames;
  }
  /** Stem frames still owed to the discard pile. */
  get skipDebt(): number {
    return this.f64[F_DEBT];
  }

  /**
   * One render quantum (128 frames). `input`: C channels (an empty list, a
   * missing channel or a short array reads as silence; a single channel feeds
   * every channel). `mixOut`: C channels. Stem output s is
   * `stemOuts[stemOutsOffset + s]` (C channels); the processor passes its whole
   * `outputs` with offset 1 so that nothing is sliced. Missing outputs are skipped.
   */
  process(
    input: ArrayLike<Float32Array>,
    mixOut: ArrayLike<Float32Array>,
    stemOuts: ArrayLike<ArrayLike<Float32Array>>,
    stemOutsOffset = 0,
  ): void {
    const clock = this.clock !== null && Atomics.load(this.ctrlI32, CTRL.TIMING_ENABLED) !== 0 ? this.clock : null;
    const t0 = clock !== null ? clock.now() : 0;
    const Q = RENDER_QUANTUM;
    const C = this.channels;
    const S = this.sources;
    const R = this.rampFrames;
    const L = this.latencyFrames;
    const D = this.delayLength;
    const f64 = this.f64;
    const i32 = this.ctrlI32;
    const f32 = this.ctrlF32;

    // ---- 1. input → delay line and interleaved scratch ----
    const inter = this.inScratch;
    const wpos = this.delayPos;
    const nIn = input.length;
    for (let c = 0; c < C; c++) {
      const src = c < nIn ? input[c] : nIn === 1 ? input[0] : undefined;
      const line = this.delay[c];
      let j = wpos;
      if (src !== undefined && src.length >= Q) {
        for (let i = 0, k = c; i < Q; i++, k += C) {
          const v = src[i];
          // The dry path plays 0 for NaN/±Infinity (x − x is NaN exactly for those):
          // one would reach the speakers, and NaN·(1 − w) stays NaN even fully wet.
          // The ring gets it raw, so the worker still counts it (nonFiniteSamples).
          line[j] = v - v === 0 ? v : 0;
          inter[k] = v;
          if (++j === D) j = 0;
        }
      } else {
        for (let i = 0, k = c; i < Q; i++, k += C) {
          line[j] = 0;
          inter[k] = 0;
          if (++j === D) j = 0;
        }
      }
    }
    this.delayPos = wpos + Q >= D ? wpos + Q - D : wpos + Q;

    // ---- 2. capture into the input ring (never waits; owed zeros keep the stream aligned) ----
    if (Atomics.load(i32, CTRL.CAPTURE_ENABLED) !== 0) {
      const ring = this.inputRing;
      let gap = f64[F_GAP];
      if (gap > 0) gap -= ring.writeZeros(Math.min(gap, MAX_ZERO_FILL_FRAMES));
      if (gap === 0 && ring.availableWrite() >= Q) {
        ring.write(inter, Q, 0);
      } else {
        gap += Q;
        Atomics.add(i32, CTRL.INPUT_OVERFLOW_QUANTA, 1);
        Atomics.add(i32, CTRL.INPUT_FRAMES_DROPPED, Q);
      }
      f64[F_GAP] = gap;
      const stream = f64[F_STREAM] + Q;
      f64[F_STREAM] = stream;
      Atomics.store(i32, CTRL.INPUT_STREAM_FRAMES, stream | 0);
    }

    // ---- 3. the stems of input frames [n − L, n − L + 128) ----
    const n = f64[F_FRAMES];
    const lo = n - L;
    let need: number; // stem frames this quantum takes from the ring
    let off: number; // first frame of the quantum that has an input frame ≥ 0
    if (lo + Q <= 0) {
      need = 0;
      off = Q;
    } else if (lo < 0) {
      need = lo + Q;
      off = -lo;
    } else {
      need = Q;
      off = 0;
    }
    const stemRing = this.stemRing;
    let debt = f64[F_DEBT];
    if (debt > 0) {
      const k = stemRing.skipRead(debt);
      if (k > 0) {
        debt -= k;
        Atomics.add(i32, CTRL.FRAMES_SKIPPED, k);
      }
    }
    const enabled = Atomics.load(i32, CTRL.STEMS_ENABLED) !== 0;
    const avail = debt > 0 ? 0 : stemRing.availableRead();
    let present: boolean;
    let ahead: boolean;
    const scratch = this.stemScratch;
    if (avail >= need) {
      present = true;
      ahead = avail >= need + this.lookaheadFrames;
      if (off > 0) scratch.fill(0, 0, off * S * C);
      if (need > 0) stemRing.read(scratch, need, off);
    } else {
      present = false;
      ahead = false;
      debt += need;
      if (enabled) Atomics.add(i32, CTRL.UNDERRUN_QUANTA, 1);
    }
    f64[F_DEBT] = debt;

    // ---- 4. wet curve ----
    let p = this.wetPos;
    if (!present) p = 0; // no stems to fade with (cannot happen while the lookahead rule holds)
    const wet = this.wetCurve;
    if (need === 0) {
      // Before input frame 0: the output is silence whatever w is, so w takes its
      // target at once and the first real frame starts fully wet when it can.
      p = enabled && ahead ? R : 0;
      wet.fill(p === R ? 1 : 0);
    } else if (enabled && present && ahead) {
      for (let i = 0; i < Q; i++) {
        p = stepToward(p, R);
        wet[i] = p / R; // exactly 1 at p = R, exactly 0 at p = 0
      }
    } else {
      for (let i = 0; i < Q; i++) {
        p = stepToward(p, 0);
        wet[i] = p / R;
      }
    }
    this.wetPos = p;

    // ---- 5. gain curves ----
    const curve = this.gainCurve;
    this.gains.update(curve);

    // ---- 6. stems × gains → stem outputs and the wet sum ----
    const acc = this.mixAcc;
    const peak = this.gains.peak;
    acc.fill(0);
    const SC = S * C;
    for (let s = 0; s < S; s++) {
      const out = stemOuts[stemOutsOffset + s];
      const gBase = s * Q;
      for (let c = 0; c < C; c++) {
        const o = out !== undefined ? out[c] : undefined;
        const aBase = c * Q;
        let k = s * C + c;
        if (o !== undefined) {
          let pk = peak[s];
          for (let i = 0; i < Q; i++, k += SC) {
            const x = scratch[k] * curve[gBase + i];
            acc[aBase + i] += x;
            const y = x * wet[i];
            o[i] = y;
            // Math.max/abs, not branches: no branch left without type feedback (see prime()).
            pk = Math.max(pk, Math.abs(y));
          }
          peak[s] = pk;
        } else {
          for (let i = 0; i < Q; i++, k += SC) acc[aBase + i] += scratch[k] * curve[gBase + i];
        }
      }
    }

    // ---- 7. mix = (1 − w)·dry + w·wet, dry = input delayed by L ----
    let rpos = wpos - L;
    if (rpos < 0) rpos += D;
    for (let c = 0; c < C; c++) {
      const m = mixOut[c];
      if (m === undefined) continue;
      const line = this.delay[c];
      const aBase = c * Q;
      let j = rpos;
      for (let i = 0; i < Q; i++) {
        const w = wet[i];
        m[i] = line[j] * (1 - w) + acc[aBase + i] * w;
        if (++j === D) j = 0;
      }
    }

    // ---- 8. counters ----
    const nNext = n + Q;
    f64[F_FRAMES] = nNext;
    Atomics.add(i32, CTRL.QUANTA_RENDERED, 1);
    if (enabled && need > 0 && (wet[0] !== 1 || wet[Q - 1] !== 1)) Atomics.add(i32, CTRL.DRY_FALLBACK_QUANTA, 1);
    Atomics.store(i32, CTRL.SKIP_DEBT_FRAMES, debt | 0);
    const deadline = nNext - L;
    Atomics.store(i32, CTRL.STEM_DEADLINE, deadline > 0 ? deadline | 0 : 0);
    f32[CTRL.WET] = p / R;
    this.gains.publish();

    if (clock !== null) {
      const us = (clock.now() - t0) * 1000;
      f32[CTRL.PROC_US_LAST] = us;
      const sum = f64[F_WIN_SUM] + us;
      const max = us > f64[F_WIN_MAX] ? us : f64[F_WIN_MAX];
      if (++this.windowCount === PROC_TIME_WINDOW_QUANTA) {
        f32[CTRL.PROC_US_WINDOW_SUM] = sum;
        f32[CTRL.PROC_US_WINDOW_MAX] = max;
        Atomics.store(i32, CTRL.PROC_WINDOW_QUANTA, PROC_TIME_WINDOW_QUANTA);
        this.windowCount = 0;
        f64[F_WIN_SUM] = 0;
        f64[F_WIN_MAX] = 0;
      } else {
        f64[F_WIN_SUM] = sum;
        f64[F_WIN_MAX] = max;
      }
      const ema = f64[F_EMA] === 0 ? us : f64[F_EMA] + (us - f64[F_EMA]) * EMA_ALPHA;
      f64[F_EMA] = ema;
      f32[CTRL.PROC_US_EMA] = ema;
      if (us > f64[F_MAX]) {
        f64[F_MAX] = us;
        f32[CTRL.PROC_US_MAX] = us;
      }
    }
  }
}
