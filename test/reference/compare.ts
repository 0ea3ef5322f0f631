/**
 * How the tests compare a result with its reference: the largest difference,
 * peak and RMS levels, SDR and SNR in dB, and exact (bit for bit, or sample for
 * sample) equality. One copy, so that every test means the same by each.
 */
import type { AudioData } from '../../src/audio/types.js';

// The SDR is the benchmarks' scorer (docs/benchmarks.md names sdr.ts): one definition, served here too.
export { sdr } from './sdr.js';

function sameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  // A result cut short must not pass as close: a shorter array has no samples left to differ.
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} samples with ${b.length}`);
}

/** The largest |a[i] − b[i]| over [from, length); throws when the lengths differ. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, from = 0): number {
  sameLength(a, b);
  let m = 0;
  for (let i = from; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** maxAbsDiff over every channel; throws when the channel counts or lengths differ. */
export function maxAbsDiffChannels(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} channels with ${b.length}`);
  let m = 0;
  for (let c = 0; c < a.length; c++) m = Math.max(m, maxAbsDiff(a[c], b[c]));
  return m;
}

/** The largest |x| over all the arrays given. */
export function peakAbs(...arrays: ArrayLike<number>[]): number {
  let p = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) p = Math.max(p, Math.abs(a[i]));
  return p;
}

/** Root mean square of x over [from, to) (0 for an empty range). */
export function rms(x: ArrayLike<number>, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, to - from));
}

/** SNR (dB) of x against the analytic sine amp·sin(2π f n / fs + phase) over [from, to). */
export function snrVsSine(x: ArrayLike<number>, f: number, fs: number, from: number, to: number, amp = 0.5, phase = 0): number {
  let sig = 0;
  let err = 0;
  for (let n = from; n < to; n++) {
    const ref = amp * Math.sin((2 * Math.PI * f * n) / fs + phase);
    sig += ref * ref;
    err += (x[n] - ref) ** 2;
  }
  return 10 * Math.log10(sig / err);
}

/** The bits of two sample arrays are the same (signed zeros and NaN payloads included). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/**
 * How `got` differs from `want` sample for sample (rate, channel count,
 * lengths, then values), in one line; undefined when they are identical: the
 * check for lossless decoding.
 */
export function exactDifference(got: AudioData, want: AudioData): string | undefined {
  if (got.sampleRate !== want.sampleRate) return `sample rate ${got.sampleRate}, expected ${want.sampleRate}`;
  if (got.channels.length !== want.channels.length) return `${got.channels.length} channel(s), expected ${want.channels.length}`;
  let count = 0;
  let first = '';
  for (let c = 0; c < want.channels.length; c++) {
    const [g, w] = [got.channels[c], want.channels[c]];
    if (g.length !== w.length) return `channel ${c} has ${g.length} samples, expected ${w.length}`;
    for (let i = 0; i < w.length; i++) {
      if (g[i] === w[i]) continue;
      if (count++ === 0) first = `channel ${c} sample ${i}: ${g[i]}, expected ${w[i]}`;
    }
  }
  return count === 0 ? undefined : `${count} sample(s) differ, the first at ${first}`;
}
