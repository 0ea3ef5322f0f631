/**
 * Float64 reference of Demucs' _spec and _ispec for one channel (docs/ARCHITECTURE.md §3),
 * written for the tests on a plain radix-2 FFT. Demucs' ispec(spec(x)) is not
 * x near a segment's edges (frames outside [2, 2 + le) are dropped), so tests
 * that predict a model's output must go through this, not assume identity.
 */
import { fft64 } from './fft64.js';

const NFFT = 4096;
const HOP = 1024;
const PAD = 1536;
const BINS = 2048;

const window64 = Float64Array.from({ length: NFFT }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / NFFT));

export function spec64(x: ArrayLike<number>): { re: Float64Array; im: Float64Array; frames: number } {
  const n = x.length;
  const le = Math.ceil(n / HOP);
  const at = (j: number) => {
    let i = j - PAD;
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
    return x[i];
  };
  const re = new Float64Array(BINS * le);
  const im = new Float64Array(BINS * le);
  const fr = new Float64Array(NFFT);
  const fi = new Float64Array(NFFT);
  for (let f = 0; f < le; f++) {
    for (let i = 0; i < NFFT; i++) {
      fr[i] = (at(f * HOP + i) * window64[i]) / Math.sqrt(NFFT);
      fi[i] = 0;
    }
    fft64(fr, fi, -1);
    for (let k = 0; k < BINS; k++) {
      re[k * le + f] = fr[k];
      im[k * le + f] = fi[k];
    }
  }
  return { re, im, frames: le };
}

export function ispec64(re: ArrayLike<number>, im: ArrayLike<number>, n: number): Float64Array {
  const le = Math.ceil(n / HOP);
  const y = new Float64Array(n);
  const fr = new Float64Array(NFFT);
  const fi = new Float64Array(NFFT);
  for (let f = 0; f < le; f++) {
    fr.fill(0);
    fi.fill(0);
    for (let k = 0; k < BINS; k++) {
      fr[k] = re[k * le + f];
      fi[k] = im[k * le + f];
      if (k > 0) {
        fr[NFFT - k] = fr[k];
        fi[NFFT - k] = -fi[k];
      }
    }
    fft64(fr, fi, 1);
    // irfft (÷ NFFT), × sqrt(NFFT) for normalized, window, ÷ the Hann² envelope (1.5 at hop NFFT/4).
    for (let i = 0; i < NFFT; i++) {
      const t = f * HOP + i - PAD;
      if (t >= 0 && t < n) y[t] += ((fr[i] / NFFT) * Math.sqrt(NFFT) * window64[i]) / 1.5;
    }
  }
  return y;
}

/** Demucs' ispec(spec(x)) for one channel. */
export function specRoundTrip64(x: ArrayLike<number>): Float64Array {
  const z = spec64(x);
  return ispec64(z.re, z.im, x.length);
}
