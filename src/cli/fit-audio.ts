/** Decoded audio brought to what a model takes: its rate and channel count. */
import { toChannelCount } from '../audio/channels.js';
import { resample } from '../audio/resample.js';
import type { AudioData } from '../audio/types.js';

export function fitAudio(decoded: AudioData, sampleRate: number, channels: number, log?: (line: string) => void): AudioData {
  let audio = decoded;
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
