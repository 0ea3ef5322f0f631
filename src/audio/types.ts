/** Planar PCM audio: one Float32Array per channel, all the same length, samples in [-1, 1]. */
export interface AudioData {
  sampleRate: number;
  channels: Float32Array[];
}

export function audioFrames(audio: AudioData): number {
  return audio.channels.length === 0 ? 0 : audio.channels[0].length;
}
