/**
 * Input that a separation reads frames of on demand, instead of a whole
 * decoded track in memory: a WAV file on disk (WavFileReader in
 * src/audio/wav.ts is one) or an AudioData (memorySource). separate() and
 * separateStream() read each segment from it when it runs, and compute the
 * track's statistics in streamed passes, so their memory does not grow with
 * the input's length.
 */
import { toChannelCount } from '../audio/channels.js';
import { downmixFor, downmixSource, type ChannelLayout } from '../audio/downmix.js';
import { finiteOrZero, type NonFiniteCount } from '../audio/finite.js';
import type { AudioData, AudioSource } from '../audio/types.js';
import { StemstreamError } from '../errors.js';
import { IDENTITY_STATS, type TrackStats } from './normalize.js';

export type { AudioSource } from '../audio/types.js';

export function isAudioSource(input: AudioData | AudioSource): input is AudioSource {
  return typeof (input as Partial<AudioSource>).read === 'function';
}

/** Frames per read in the streamed passes (scanSource): 256 KiB per channel. */
export const SCAN_FRAMES = 65536;

/** An AudioData as a source (copies of its samples). */
export function memorySource(audio: AudioData): AudioSource {
  const length = audio.channels[0]?.length ?? 0;
  return {
    sampleRate: audio.sampleRate,
    channelCount: audio.channels.length,
    length,
    read(start, frames, dst, offset = 0) {
      const from = Math.max(start, 0);
      const to = Math.min(start + frames, length);
      for (let c = 0; c < dst.length; c++) {
        const out = dst[c];
        out.fill(0, offset, offset + Math.min(from, start + frames) - start);
        if (to > from) out.set(audio.channels[c].subarray(from, to), offset + from - start);
        out.fill(0, offset + Math.max(to, from) - start, offset + frames);
      }
    },
  };
}

/** `source` with NaN and ±Infinity read as 0, as replaceNonFinite() leaves a decoded buffer. */
export function finiteSource(source: AudioSource): AudioSource {
  return {
    sampleRate: source.sampleRate,
    channelCount: source.channelCount,
    length: source.length,
    read(start, frames, dst, offset = 0) {
      source.read(start, frames, dst, offset);
      for (const ch of dst) {
        for (let i = offset; i < offset + frames; i++) {
          const x = ch[i];
          if (x - x !== 0) ch[i] = 0;
        }
      }
    },
  };
}

/**
 * `source` with `channels` channels: unchanged, mono → stereo (copies),
 * stereo → mono (the average) or 3+ channels → stereo or mono (the BS.775
 * downmix, channels in `layout` or the default order for their count), per
 * read, with toChannelCount()'s arithmetic, so the samples equal those of
 * toChannelCount() on the decoded buffer. Any other conversion is
 * toChannelCount()'s 'CHANNEL_MISMATCH' error.
 */
export function channelSource(source: AudioSource, channels: number, layout?: ChannelLayout): AudioSource {
  const have = source.channelCount;
  if (have === channels) return source;
  if (have >= 3 && (channels === 1 || channels === 2)) return downmixSource(source, downmixFor(have, layout), channels);
  const base = { sampleRate: source.sampleRate, channelCount: channels, length: source.length };
  if (have === 1 && channels === 2) {
    return {
      ...base,
      read(start, frames, dst, offset = 0) {
        source.read(start, frames, [dst[0]], offset);
        dst[1].set(dst[0].subarray(offset, offset + frames), offset);
      },
    };
  }
  if (have === 2 && channels === 1) {
    let pair = [new Float32Array(0), new Float32Array(0)];
    return {
      ...base,
      read(start, frames, dst, offset = 0) {
        if (pair[0].length < frames) pair = [new Float32Array(frames), new Float32Array(frames)];
        source.read(start, frames, pair, 0);
        const [l, r] = pair;
        const out = dst[0];
        for (let i = 0; i < frames; i++) out[offset + i] = 0.5 * (l[i] + r[i]);
      },
    };
  }
  // The same error (and message) as for a decoded buffer.
  toChannelCount({ sampleRate: source.sampleRate, channels: Array.from({ length: have }, () => new Float32Array(0)) }, channels);
  throw new StemstreamError('CHANNEL_MISMATCH', `cannot convert ${have} channel(s) to ${channels}`);
}

export interface SourceScan {
  /** trackStats() of the whole source (IDENTITY_STATS when not asked for). */
  stats: TrackStats;
  /** countNonFinite() of the whole source. */
  nonFinite: NonFiniteCount;
}

/**
 * What separate() needs to know about a whole track before its first segment,
 * in passes over the source SCAN_FRAMES at a time: the NaN/±Infinity count
 * (countNonFinite's numbers) and, with `stats`, the normalisation statistics,
 * exactly trackStats()'s (the same float64 sums in the same order: a second
 * pass for the deviations from the mean, as trackStats does).
 */
export function scanSource(source: AudioSource, opts: { stats: boolean }): SourceScan {
  const n = source.length;
  const c = source.channelCount;
  const step = Math.max(1, Math.min(SCAN_FRAMES, n));
  const buf = Array.from({ length: c }, () => new Float32Array(step));
  const nonFinite: NonFiniteCount = { count: 0, firstFrame: -1, firstChannel: -1 };
  let sum = 0;
  for (let at = 0; at < n; at += step) {
    const frames = Math.min(step, n - at);
    source.read(at, frames, buf, 0);
    // countNonFinite goes channel by channel; the first is the earliest frame, lowest channel there.
    for (let k = 0; k < c; k++) {
      const ch = buf[k];
      for (let i = 0; i < frames; i++) {
        const x = ch[i];
        if (x - x === 0) continue;
        if (nonFinite.count === 0 || at + i < nonFinite.firstFrame) {
          nonFinite.firstFrame = at + i;
          nonFinite.firstChannel = k;
        }
        nonFinite.count++;
      }
    }
    if (!opts.stats) continue;
    for (let i = 0; i < frames; i++) {
      let m = 0;
      for (let k = 0; k < c; k++) m += finiteOrZero(buf[k][i]);
      sum += m / c;
    }
  }
  if (!opts.stats || c === 0 || n < 2) return { stats: IDENTITY_STATS, nonFinite };
  const mean = sum / n;
  let sq = 0;
  for (let at = 0; at < n; at += step) {
    const frames = Math.min(step, n - at);
    source.read(at, frames, buf, 0);
    for (let i = 0; i < frames; i++) {
      let m = 0;
      for (let k = 0; k < c; k++) m += finiteOrZero(buf[k][i]);
      const d = m / c - mean;
      sq += d * d;
    }
  }
  const std = Math.sqrt(sq / (n - 1));
  // As trackStats: digital silence is left unscaled.
  return { stats: std > 1e-8 ? { mean, std } : { mean, std: 1 }, nonFinite };
}
