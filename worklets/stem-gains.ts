/**
 * Per-stem gain ramps and level meters, shared by the two audio-thread cores
 * (stem-out-core.ts for live input, track-player-core.ts for tracks).
 *
 * RUNS ON THE AUDIO THREAD: allocates only in the constructor.
 *
 * Gains. Target gain_s = GAIN[s], 0 if MUTE[s], 0 if any stem is soloed and s is
 * not (NaN counts as 0). On a change of target, the gain moves linearly from its
 * current value to the new target in exactly R frames, starting on the first
 * frame of the next quantum (a change mid-ramp starts a new R-frame ramp from
 * where it is).
 *
 * Meters. peak_s = max(|stem output s| over the quantum and its channels,
 * previous peak · fall), fall = 20 dB per second, published in CTRL.METER.
 */
import { RENDER_QUANTUM } from '../src/constants.js';
import { CTRL } from '../src/realtime/control-block.js';

export class StemGains {
  private readonly sources: number;
  private readonly rampFrames: number;
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;
  private readonly gain: Float64Array;
  private readonly target: Float64Array;
  private readonly from: Float64Array;
  private readonly step: Float64Array;
  private readonly left: Int32Array;
  /** This quantum's target gains, read from the control block. */
  private readonly want: Float64Array;
  /** Peak of each stem in the current quantum, reset by publish(). */
  readonly peak: Float64Array;
  private readonly meterFall: number;

  constructor(sources: number, rampFrames: number, controlI32: Int32Array, controlF32: Float32Array, sampleRate: number) {
    this.sources = sources;
    this.rampFrames = rampFrames;
    this.i32 = controlI32;
    this.f32 = controlF32;
    this.gain = new Float64Array(sources);
    this.target = new Float64Array(sources);
    this.from = new Float64Array(sources);
    this.step = new Float64Array(sources);
    this.left = new Int32Array(sources);
    this.peak = new Float64Array(sources);
    this.meterFall = Math.pow(10, -20 / 20 / (sampleRate / RENDER_QUANTUM));
    this.want = new Float64Array(sources);
    // Start at the targets already set, without a ramp.
    this.readTargets();
    this.gain.set(this.want);
    this.target.set(this.want);
  }

  /**
   * Each stem's target gain into `want`: stored, not returned, because a double
   * returned by a call V8 does not inline is boxed (an allocation per quantum).
   */
  private readTargets(): void {
    const i32 = this.i32;
    let solo = false;
    for (let s = 0; s < this.sources; s++) if (Atomics.load(i32, CTRL.SOLO + s) !== 0) solo = true;
    for (let s = 0; s < this.sources; s++) {
      let t: number;
      if (Atomics.load(i32, CTRL.MUTE + s) !== 0) t = 0;
      else if (solo && Atomics.load(i32, CTRL.SOLO + s) === 0) t = 0;
      else {
        t = this.f32[CTRL.GAIN + s];
        if (t !== t) t = 0; // NaN → 0
      }
      this.want[s] = t;
    }
  }

  /** Reads the targets and fills `curve` (S × 128, stem-major) with this quantum's gains. */
  update(curve: Float64Array): void {
    const Q = RENDER_QUANTUM;
    const R = this.rampFrames;
    this.readTargets();
    for (let s = 0; s < this.sources; s++) {
      const t = this.want[s];
      if (t !== this.target[s]) {
        this.target[s] = t;
        this.from[s] = this.gain[s];
        this.step[s] = (t - this.gain[s]) / R;
        this.left[s] = R;
      }
      let left = this.left[s];
      const base = s * Q;
      if (left === 0) {
        const g = this.gain[s];
        for (let i = 0; i < Q; i++) curve[base + i] = g;
      } else {
        const from = this.from[s];
        const step = this.step[s];
        let g = this.gain[s];
        for (let i = 0; i < Q; i++) {
          if (left > 0) {
            left--;
            g = left === 0 ? t : from + (R - left) * step;
          }
          curve[base + i] = g;
        }
        this.gain[s] = g;
        this.left[s] = left;
      }
    }
  }

  /** Publishes the current gains and the meters; resets the quantum's peaks. */
  publish(): void {
    const f32 = this.f32;
    const fall = this.meterFall;
    for (let s = 0; s < this.sources; s++) {
      f32[CTRL.GAIN_CURRENT + s] = this.gain[s];
      f32[CTRL.METER + s] = Math.max(this.peak[s], f32[CTRL.METER + s] * fall);
      this.peak[s] = 0;
    }
  }
}
