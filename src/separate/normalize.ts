/**
 * Track normalisation, as Demucs' command line does around apply_model:
 * ref = mean over channels; x' = (x - mean(ref)) / std(ref); stems * std + mean.
 */
import { finiteOrZero } from '../audio/finite.js';
import type { AudioData } from '../audio/types.js';

export interface TrackStats {
  mean: number;
  std: number;
}

export const IDENTITY_STATS: TrackStats = { mean: 0, std: 1 };

/**
 * Mean and unbiased standard deviation of the channel-mean signal, in float64.
 * NaN and ±Infinity count as 0: one of them would make both statistics NaN and
 * the whole track's stems silent or NaN.
 */
export function trackStats(audio: AudioData): TrackStats {
  const chans = audio.channels;
  const n = chans.length === 0 ? 0 : chans[0].length;
  if (n < 2) return IDENTITY_STATS;
  const c = chans.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let k = 0; k < c; k++) m += finiteOrZero(chans[k][i]);
    sum += m / c;
  }
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let k = 0; k < c; k++) m += finiteOrZero(chans[k][i]);
    const d = m / c - mean;
    sq += d * d;
  }
  const std = Math.sqrt(sq / (n - 1));
  // Digital silence would divide by zero (Demucs returns NaN there): leave it unscaled.
  return std > 1e-8 ? { mean, std } : { mean, std: 1 };
}
