/** Decoded audio brought to what a model takes: its rate and channel count. */
import { toChannelCount } from '../audio/channels.js';
import { describeDownmix, downmixAudio, downmixFor, type LaidOutAudio } from '../audio/downmix.js';
import { resample } from '../audio/resample.js';
import type { AudioData } from '../audio/types.js';

/**
 * `decoded` at `sampleRate` Hz with `channels` channels. Three or more
 * channels are downmixed (BS.775, in the layout readInputAudio found) before
 * resampling, which then works on two channels instead of up to eight; mono ↔
 * stereo is converted after it, as it always was.
 */
export function fitAudio(decoded: LaidOutAudio, sampleRate: number, channels: number, log?: (line: string) => void): AudioData {
  let audio: AudioData = decoded;
  const have = audio.channels.length;
  if (have >= 3 && (channels === 1 || channels === 2)) {
    const mix = downmixFor(have, decoded.layout);
    log?.(describeDownmix(mix, channels));
    audio = downmixAudio(audio, mix, channels);
  }
  if (audio.sampleRate !== sampleRate) {
    log?.(`resampling ${audio.sampleRate} Hz → ${sampleRate} Hz (the model's rate; stems are written at ${sampleRate} Hz)`);
    audio = resample(audio, sampleRate);
  }
  if (audio.channels.length !== channels) {
    log?.(`converting ${audio.channels.length} channel(s) → ${channels}`);
    audio = toChannelCount(audio, channels);
  }
  return audio;
}
