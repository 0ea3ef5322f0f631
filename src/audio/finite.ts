/**
 * NaN and ±Infinity in audio. One such sample poisons every sum it enters (the
 * track's mean and std, a resampler's filter, a model's convolution), so the
 * CLI and separate() treat them as silence and say how many there were.
 */
import type { AudioData } from './types.js';

export interface NonFiniteCount {
  /** Samples (over all channels) that were NaN or ±Infinity. */
  count: number;
  /** Frame and channel of the first one; -1 when there is none. */
  firstFrame: number;
  firstChannel: number;
}

/** `x` when it is finite, else 0 (`x - x` is NaN exactly for NaN and ±Infinity). */
export function finiteOrZero(x: number): number {
  return x - x === 0 ? x : 0;
}

function scan(audio: AudioData, replace: boolean): NonFiniteCount {
  const found: NonFiniteCount = { count: 0, firstFrame: -1, firstChannel: -1 };
  audio.channels.forEach((ch, c) => {
    for (let i = 0; i < ch.length; i++) {
      const x = ch[i];
      if (x - x === 0) continue;
      if (found.count === 0 || i < found.firstFrame) {
        found.firstFrame = i;
        found.firstChannel = c;
      }
      found.count++;
      if (replace) ch[i] = 0;
    }
  });
  return found;
}

/** Counts NaN and ±Infinity samples without changing anything. */
export function countNonFinite(audio: AudioData): NonFiniteCount {
  return scan(audio, false);
}

/** Replaces NaN and ±Infinity samples by 0, in place, and counts them. */
export function replaceNonFinite(audio: AudioData): NonFiniteCount {
  return scan(audio, true);
}

/** "3 samples were NaN or infinite (the first at 1.25 s, channel 2)". */
export function describeNonFinite(found: NonFiniteCount, sampleRate: number): string {
  const where = `the first at ${(found.firstFrame / sampleRate).toFixed(2)} s, channel ${found.firstChannel + 1}`;
  return `${found.count} sample${found.count === 1 ? ' was' : 's were'} NaN or infinite (${where})`;
}
