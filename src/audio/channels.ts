import { StemstreamError } from '../errors.js';
import { downmixAudio, downmixFor, type ChannelLayout, type LaidOutAudio } from './downmix.js';
import type { AudioData } from './types.js';

/**
 * Returns `audio` with `n` channels: unchanged when it already has `n`,
 * mono → stereo by duplicating (two independent copies), stereo → mono by
 * averaging, 3 to 8 channels (or any `layout` BS.775 covers) → stereo by the
 * ITU-R BS.775 downmix (downmix.ts; without `layout`, the one decodeAudio
 * gave the audio, else the FLAC/WAV default order for the count), → mono by averaging that.
 * Anything else is a 'CHANNEL_MISMATCH' error.
 */
export function toChannelCount(audio: AudioData, n: number, layout: ChannelLayout | undefined = (audio as LaidOutAudio).layout): AudioData {
  if (!Number.isInteger(n) || n < 1) {
    throw new StemstreamError('BAD_OPTION', `channel count must be a positive integer, got ${n}`);
  }
  const have = audio.channels.length;
  if (have === n) return audio;
  if (have === 1 && n === 2) {
    const mono = audio.channels[0];
    return { sampleRate: audio.sampleRate, channels: [mono.slice(), mono.slice()] };
  }
  if (have === 2 && n === 1) {
    const [l, r] = audio.channels;
    const mono = new Float32Array(l.length);
    for (let i = 0; i < mono.length; i++) mono[i] = 0.5 * (l[i] + r[i]);
    return { sampleRate: audio.sampleRate, channels: [mono] };
  }
  if (have >= 3 && (n === 1 || n === 2)) return downmixAudio(audio, downmixFor(have, layout), n);
  const what = have === 0 ? 'no audio channels' : `${have} channels`;
  throw new StemstreamError(
    'CHANNEL_MISMATCH',
    `the audio has ${what} but ${n} ${n === 1 ? 'is' : 'are'} needed; only mono ↔ stereo and multichannel → stereo or mono are converted ` +
      `automatically. Convert it first, e.g. \`ffmpeg -i in.wav -ac ${n} out.wav\``,
  );
}
