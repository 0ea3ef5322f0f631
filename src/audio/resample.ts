/**
 * Band-limited sample-rate conversion with a Kaiser-windowed sinc filter.
 *
 * Output sample n sits at input position x = n · inRate / outRate and is
 *   y[n] = Σ_k in[k] · h(x − k),  h(t) = 2fc · sinc(2fc · t) · kaiser(t / halfWidth)
 * with fc (in cycles per input sample) midway between the passband edge
 * (`passband` × the lower rate's Nyquist) and the lower rate's Nyquist, where
 * the stopband starts. Hence, for downsampling, everything above the new
 * Nyquist is attenuated by `stopbandDb` before it could alias, and for
 * upsampling the spectral images are removed. The filter is linear-phase and
 * centred on x, so the output is time-aligned with the input (no delay) and
 * has round(inLength × outRate / inRate) frames; samples before the start and
 * after the end of the input count as zeros.
 *
 * Two ways to get the coefficients:
 *  - 'polyphase': integer rates whose reduced ratio has at most
 *    MAX_EXACT_PHASES output phases (44.1k↔48k: 160/147 phases) get one
 *    exact coefficient set per phase, each normalised to unit DC gain;
 *  - 'interpolated': any other ratio (incl. non-integer rates) reads the
 *    kernel from a table with TABLE_OVERSAMPLE points per input sample,
 *    linearly interpolated (error ≈ −110 dB).
 *
 * Work is done in blocks by `Resampler`, a streaming converter that holds only
 * the input it still needs, so `resample` needs memory for the output plus one
 * block; pushing a signal in any block sizes gives bit-identical output.
 *
 * Kept over libsamplerate's WASM port: its best mode is cleaner only below
 * float32's own noise and several times slower, its others lose the top of the
 * passband, and it is async, interleaved and drops the last frames; ours is
 * synchronous, planar, time-aligned and of exact length (docs/benchmarks.md#libraries).
 */
import { StemstreamError } from '../errors.js';
import type { AudioData } from './types.js';

export interface ResampleOptions {
  /** Passband edge as a fraction of the lower rate's Nyquist frequency; default 0.9. */
  passband?: number;
  /** Stopband attenuation in dB (at and above the lower rate's Nyquist); default 100. */
  stopbandDb?: number;
  /** Input frames per processing block in `resample`; default 65536. */
  blockFrames?: number;
}

const DEFAULT_PASSBAND = 0.9;
const DEFAULT_STOPBAND_DB = 100;
const DEFAULT_BLOCK = 65536;
const MAX_EXACT_PHASES = 4096;
const MAX_EXACT_COEFFS = 1 << 22;
const TABLE_OVERSAMPLE = 512;

/** Zeroth-order modified Bessel function of the first kind (power series). */
function besselI0(x: number): number {
  const q = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function badRate(what: string, value: number): StemstreamError {
  return new StemstreamError('BAD_OPTION', `cannot resample: ${what} must be a positive finite number, got ${value}`);
}

/** Filter design shared by both coefficient modes. */
interface Design {
  /** Cutoff (−6 dB point) in cycles per input sample. */
  fc: number;
  /** Taps on each side: the kernel spans (−halfWidth, halfWidth] input samples. */
  halfWidth: number;
  beta: number;
}

function design(inRate: number, outRate: number, passband: number, stopbandDb: number): Design {
  const scale = Math.min(1, outRate / inRate); // lower Nyquist relative to the input Nyquist
  const fStop = 0.5 * scale;
  const fPass = passband * fStop;
  const fc = (fPass + fStop) / 2;
  const dw = 2 * Math.PI * (fStop - fPass); // transition width, rad / input sample
  const a = stopbandDb;
  const beta = a > 50 ? 0.1102 * (a - 8.7) : a >= 21 ? 0.5842 * Math.pow(a - 21, 0.4) + 0.07886 * (a - 21) : 0;
  const order = (a - 7.95) / (2.285 * dw); // Kaiser's estimate of the filter order
  const halfWidth = Math.max(2, Math.ceil(order / 2));
  return { fc, halfWidth, beta };
}

/** The continuous kernel h(t), zero for |t| ≥ halfWidth. */
function kernel(d: Design, i0Beta: number, t: number): number {
  const u = t / d.halfWidth;
  if (u <= -1 || u >= 1) return 0;
  const w = besselI0(d.beta * Math.sqrt(1 - u * u)) / i0Beta;
  const x = 2 * d.fc * t;
  const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
  return 2 * d.fc * sinc * w;
}

/** Σ x[xOff + m] · h[hOff + m] for m < taps (taps is even); four partial sums. */
function dot(x: Float32Array, xOff: number, h: Float32Array, hOff: number, taps: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let m = 0;
  for (; m + 4 <= taps; m += 4) {
    s0 += x[xOff + m] * h[hOff + m];
    s1 += x[xOff + m + 1] * h[hOff + m + 1];
    s2 += x[xOff + m + 2] * h[hOff + m + 2];
    s3 += x[xOff + m + 3] * h[hOff + m + 3];
  }
  for (; m < taps; m++) s0 += x[xOff + m] * h[hOff + m];
  return s0 + s1 + (s2 + s3);
}

/** `dot` for two channels sharing the coefficients; writes into l[at] and r[at]. */
function dot2(
  x0: Float32Array,
  x1: Float32Array,
  xOff: number,
  h: Float32Array,
  hOff: number,
  taps: number,
  l: Float32Array,
  r: Float32Array,
  at: number,
): void {
  let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  let m = 0;
  for (; m + 2 <= taps; m += 2) {
    const h0 = h[hOff + m];
    const h1 = h[hOff + m + 1];
    a0 += x0[xOff + m] * h0;
    b0 += x1[xOff + m] * h0;
    a1 += x0[xOff + m + 1] * h1;
    b1 += x1[xOff + m + 1] * h1;
  }
  for (; m < taps; m++) {
    a0 += x0[xOff + m] * h[hOff + m];
    b0 += x1[xOff + m] * h[hOff + m];
  }
  l[at] = a0 + a1;
  r[at] = b0 + b1;
}

export type ResamplerMode = 'passthrough' | 'polyphase' | 'interpolated';

/**
 * Streaming resampler. `push` input blocks and collect what comes out, then
 * `flush` once at the end; the concatenated output has
 * round(totalInput × outRate / inRate) frames and is time-aligned with the
 * input. Output lags input by about `halfWidth` input frames (look-ahead).
 */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  readonly channels: number;
  readonly mode: ResamplerMode;
  /** Input samples on each side of an output sample that contribute to it. */
  readonly halfWidth: number;
  /** Number of exact phases (polyphase mode) or table points per input sample (interpolated). */
  readonly phases: number;

  private readonly taps: number;
  /** polyphase: [phase][tap]; interpolated: kernel table h(j / K − halfWidth). */
  private readonly coeffs: Float32Array;
  private readonly scratch: Float32Array; // interpolated mode: coefficients for one output
  // Exact position of the next output: i + ph / b (polyphase), or n · step (interpolated).
  private readonly stepNum: number; // a = inRate / g
  private readonly stepDen: number; // b = outRate / g
  private readonly step: number; // inRate / outRate
  private posInt = 0;
  private posPhase = 0;

  private buf: Float32Array[];
  private bufStart: number; // absolute input index of buf[c][0]
  private bufLen = 0;
  private totalIn = 0;
  private totalOut = 0;
  private finished = false;

  constructor(inRate: number, outRate: number, channels: number, opts: ResampleOptions = {}) {
    if (!(inRate > 0 && Number.isFinite(inRate))) throw badRate('the input sample rate', inRate);
    if (!(outRate > 0 && Number.isFinite(outRate))) throw badRate('the target sample rate', outRate);
    if (!Number.isInteger(channels) || channels < 1) {
      throw new StemstreamError('BAD_OPTION', `cannot resample: channel count must be ≥ 1, got ${channels}`);
    }
    const passband = opts.passband ?? DEFAULT_PASSBAND;
    const stopbandDb = opts.stopbandDb ?? DEFAULT_STOPBAND_DB;
    if (!(passband > 0 && passband < 1)) {
      throw new StemstreamError('BAD_OPTION', `cannot resample: passband must be in (0, 1), got ${passband}`);
    }
    if (!(stopbandDb >= 20 && stopbandDb <= 200)) {
      throw new StemstreamError('BAD_OPTION', `cannot resample: stopbandDb must be in [20, 200], got ${stopbandDb}`);
    }
    this.inRate = inRate;
    this.outRate = outRate;
    this.channels = channels;
    this.step = inRate / outRate;

    if (inRate === outRate) {
      this.mode = 'passthrough';
      this.halfWidth = 0;
      this.phases = 1;
      this.taps = 0;
      this.coeffs = new Float32Array(0);
      this.scratch = new Float32Array(0);
      this.stepNum = this.stepDen = 1;
      this.buf = [];
      this.bufStart = 0;
      return;
    }

    const d = design(inRate, outRate, passband, stopbandDb);
    const i0Beta = besselI0(d.beta);
    const hw = d.halfWidth;
    this.halfWidth = hw;
    this.taps = 2 * hw;

    const integerRates = Number.isInteger(inRate) && Number.isInteger(outRate);
    const g = integerRates ? gcd(inRate, outRate) : 1;
    const b = integerRates ? outRate / g : 0;
    if (integerRates && b <= MAX_EXACT_PHASES && b * this.taps <= MAX_EXACT_COEFFS) {
      this.mode = 'polyphase';
      this.stepNum = inRate / g;
      this.stepDen = b;
      this.phases = b;
      // Phase p (output at fractional input position p / b), tap m reads in[i − hw + 1 + m].
      this.coeffs = new Float32Array(b * this.taps);
      for (let p = 0; p < b; p++) {
        const frac = p / b;
        let sum = 0;
        const row = new Float64Array(this.taps);
        for (let m = 0; m < this.taps; m++) {
          row[m] = kernel(d, i0Beta, frac + hw - 1 - m);
          sum += row[m];
        }
        for (let m = 0; m < this.taps; m++) this.coeffs[p * this.taps + m] = row[m] / sum;
      }
      this.scratch = new Float32Array(0);
    } else {
      this.mode = 'interpolated';
      this.stepNum = this.stepDen = 1;
      const K = TABLE_OVERSAMPLE;
      this.phases = K;
      const n = 2 * hw * K + 2;
      this.coeffs = new Float32Array(n);
      for (let j = 0; j < n; j++) this.coeffs[j] = kernel(d, i0Beta, j / K - hw);
      this.scratch = new Float32Array(this.taps);
    }

    // Input before index 0 is silence: start the buffer with hw zeros.
    this.bufStart = -hw;
    this.bufLen = hw;
    const cap = Math.max(4096, 4 * this.taps);
    this.buf = [];
    for (let c = 0; c < channels; c++) this.buf.push(new Float32Array(cap));
  }

  /** Output frames the whole stream will have once `inputFrames` frames were pushed and flushed. */
  outputLength(inputFrames: number): number {
    return outputLength(inputFrames, this.inRate, this.outRate);
  }

  /** Feeds `frames` input frames (from `start`) and returns the output they make available. */
  push(planar: Float32Array[], start = 0, frames: number = (planar[0]?.length ?? 0) - start): Float32Array[] {
    this.checkInput(planar, start, frames);
    if (this.mode === 'passthrough') {
      this.totalIn += frames;
      this.totalOut += frames;
      return planar.map((ch) => ch.slice(start, start + frames));
    }
    this.append(planar, start, frames);
    this.totalIn += frames;
    const ready = this.availableOutputs(this.totalIn - 1);
    const out = this.allocate(ready);
    this.produce(out, 0, ready);
    return out;
  }

  /** Ends the stream and returns the remaining output. */
  flush(): Float32Array[] {
    if (this.finished) throw new StemstreamError('BAD_OPTION', 'Resampler.flush() called twice');
    if (this.mode === 'passthrough') {
      this.finished = true;
      return this.allocate(0);
    }
    const remaining = this.outputLength(this.totalIn) - this.totalOut;
    // Silence after the end: enough zeros for the last output's right-hand taps.
    const zeros = new Float32Array(this.halfWidth + 2);
    this.append(
      Array.from({ length: this.channels }, () => zeros),
      0,
      zeros.length,
    );
    this.finished = true;
    const out = this.allocate(Math.max(0, remaining));
    this.produce(out, 0, out[0].length);
    return out;
  }

  /** @internal Used by `resample`: push without allocating, writing into `out` at `offset`. */
  pushInto(planar: Float32Array[], start: number, frames: number, out: Float32Array[], offset: number): number {
    this.checkInput(planar, start, frames);
    this.append(planar, start, frames);
    this.totalIn += frames;
    const ready = Math.min(this.availableOutputs(this.totalIn - 1), out[0].length - offset);
    this.produce(out, offset, ready);
    return ready;
  }

  /** @internal Used by `resample`: flush into `out` at `offset`. */
  flushInto(out: Float32Array[], offset: number): number {
    const rest = this.flush();
    for (let c = 0; c < this.channels; c++) out[c].set(rest[c].subarray(0, out[c].length - offset), offset);
    return rest[0].length;
  }

  private checkInput(planar: Float32Array[], start: number, frames: number): void {
    if (this.finished) throw new StemstreamError('BAD_OPTION', 'Resampler.push() after flush()');
    if (planar.length !== this.channels) {
      throw new StemstreamError(
        'CHANNEL_MISMATCH',
        `cannot resample: got ${planar.length} channel(s), the resampler was made for ${this.channels}`,
      );
    }
    if (!Number.isInteger(start) || !Number.isInteger(frames) || start < 0 || frames < 0) {
      throw new StemstreamError('BAD_OPTION', `cannot resample: bad block start ${start} / frames ${frames}`);
    }
    for (const ch of planar) {
      if (ch.length < start + frames) {
        throw new StemstreamError('BAD_OPTION', `cannot resample: a channel has ${ch.length} samples, fewer than ${start + frames}`);
      }
    }
  }

  private allocate(frames: number): Float32Array[] {
    return Array.from({ length: this.channels }, () => new Float32Array(frames));
  }

  /** Input index the next output sample is centred on (integer part of its position). */
  private currentIndex(): number {
    return this.mode === 'polyphase' ? this.posInt : Math.floor(this.totalOut * this.step);
  }

  /** How many further outputs can be computed with input up to absolute index `lastIn`. */
  private availableOutputs(lastIn: number): number {
    // Output n needs input up to floor(x_n) + hw, i.e. floor(x_n) ≤ lastIn − hw.
    const limit = lastIn - this.halfWidth;
    if (limit < 0) return 0;
    // Largest n with floor(n · step) ≤ limit  ⇔  n · step < limit + 1.
    let n: number;
    if (this.mode === 'polyphase') {
      // n · a < (limit + 1) · b  ⇔  n ≤ ceil((limit + 1) · b / a) − 1
      n = Math.ceil(((limit + 1) * this.stepDen) / this.stepNum) - 1;
    } else {
      n = Math.ceil((limit + 1) / this.step) - 1;
      while (n >= 0 && Math.floor(n * this.step) > limit) n--;
      while (Math.floor((n + 1) * this.step) <= limit) n++;
    }
    return Math.max(0, n + 1 - this.totalOut);
  }

  private append(planar: Float32Array[], start: number, frames: number): void {
    if (frames === 0) return;
    const cap = this.buf[0].length;
    if (this.bufLen + frames > cap) {
      // Drop input no future output needs: everything before currentIndex − hw + 1.
      const drop = Math.max(0, Math.min(this.bufLen, this.currentIndex() - this.halfWidth + 1 - this.bufStart));
      if (drop > 0) {
        for (const ch of this.buf) ch.copyWithin(0, drop, this.bufLen);
        this.bufStart += drop;
        this.bufLen -= drop;
      }
      if (this.bufLen + frames > cap) {
        const newCap = Math.max(this.bufLen + frames, 2 * cap);
        this.buf = this.buf.map((ch) => {
          const grown = new Float32Array(newCap);
          grown.set(ch.subarray(0, this.bufLen));
          return grown;
        });
      }
    }
    for (let c = 0; c < this.channels; c++) {
      this.buf[c].set(planar[c].subarray(start, start + frames), this.bufLen);
    }
    this.bufLen += frames;
  }

  /** Computes the next `count` outputs into `out[c][offset …]`. */
  private produce(out: Float32Array[], offset: number, count: number): void {
    const taps = this.taps;
    const hw = this.halfWidth;
    const nch = this.channels;
    const coeffs = this.coeffs;
    if (this.mode === 'polyphase') {
      const a = this.stepNum;
      const b = this.stepDen;
      let i = this.posInt;
      let ph = this.posPhase;
      const bufStart = this.bufStart;
      const buf = this.buf;
      for (let k = 0; k < count; k++) {
        const base = i - hw + 1 - bufStart;
        const cOff = ph * taps;
        if (nch === 2) {
          dot2(buf[0], buf[1], base, coeffs, cOff, taps, out[0], out[1], offset + k);
        } else {
          for (let c = 0; c < nch; c++) out[c][offset + k] = dot(buf[c], base, coeffs, cOff, taps);
        }
        ph += a;
        if (ph >= b) {
          i += Math.floor(ph / b);
          ph %= b;
        }
      }
      this.posInt = i;
      this.posPhase = ph;
    } else {
      const K = this.phases;
      const h = this.scratch;
      for (let k = 0; k < count; k++) {
        const pos = (this.totalOut + k) * this.step;
        const i = Math.floor(pos);
        const u = (pos - i) * K;
        const j0 = Math.floor(u);
        const f = u - j0;
        // Tap m sits at t = frac + hw − 1 − m, i.e. table index (t + hw) · K.
        let j = j0 + (2 * hw - 1) * K;
        for (let m = 0; m < taps; m++, j -= K) h[m] = coeffs[j] + f * (coeffs[j + 1] - coeffs[j]);
        const base = i - hw + 1 - this.bufStart;
        if (nch === 2) dot2(this.buf[0], this.buf[1], base, h, 0, taps, out[0], out[1], offset + k);
        else for (let c = 0; c < nch; c++) out[c][offset + k] = dot(this.buf[c], base, h, 0, taps);
      }
    }
    this.totalOut += count;
  }
}

/** Frames after converting `inputFrames` frames from `inRate` to `outRate`: round(inputFrames × outRate / inRate). */
export function outputLength(inputFrames: number, inRate: number, outRate: number): number {
  if (inRate === outRate) return inputFrames;
  if (Number.isInteger(inRate) && Number.isInteger(outRate)) {
    const g = gcd(inRate, outRate);
    const a = inRate / g;
    const b = outRate / g;
    // round(n · b / a) with exact integer arithmetic while n · b stays below 2^53.
    const num = inputFrames * b;
    if (Number.isSafeInteger(2 * num + a)) return Math.floor((2 * num + a) / (2 * a));
  }
  return Math.round((inputFrames * outRate) / inRate);
}

/**
 * Converts `audio` to `targetRate`. Same rate → returns `audio` itself.
 * Output length is round(frames × targetRate / sampleRate), time-aligned.
 */
export function resample(audio: AudioData, targetRate: number, opts: ResampleOptions = {}): AudioData {
  if (!(audio.sampleRate > 0 && Number.isFinite(audio.sampleRate))) throw badRate('the input sample rate', audio.sampleRate);
  if (!(targetRate > 0 && Number.isFinite(targetRate))) throw badRate('the target sample rate', targetRate);
  if (audio.sampleRate === targetRate) return audio;
  const nch = audio.channels.length;
  if (nch === 0) return { sampleRate: targetRate, channels: [] };
  const frames = audio.channels[0].length;
  const block = opts.blockFrames ?? DEFAULT_BLOCK;
  if (!Number.isInteger(block) || block < 1) {
    throw new StemstreamError('BAD_OPTION', `cannot resample: blockFrames must be a positive integer, got ${block}`);
  }
  const r = new Resampler(audio.sampleRate, targetRate, nch, opts);
  const outLen = r.outputLength(frames);
  const out = Array.from({ length: nch }, () => new Float32Array(outLen));
  let written = 0;
  for (let start = 0; start < frames; start += block) {
    written += r.pushInto(audio.channels, start, Math.min(block, frames - start), out, written);
  }
  r.flushInto(out, written);
  return { sampleRate: targetRate, channels: out };
}
