/** Planar PCM audio: one Float32Array per channel, all the same length, samples in [-1, 1]. */
export interface AudioData {
  sampleRate: number;
  channels: Float32Array[];
}

/**
 * Audio read on demand rather than held whole (src/separate/audio-source.ts
 * makes and wraps them; WavFileReader in wav.ts is one).
 */
export interface AudioSource {
  readonly sampleRate: number;
  readonly channelCount: number;
  /** Frames in the source. */
  readonly length: number;
  /**
   * Writes frames [start, start + frames) of every channel into
   * dst[c][offset ... offset + frames), zeros for frames outside [0, length).
   */
  read(start: number, frames: number, dst: Float32Array[], offset?: number): void;
}

export function audioFrames(audio: AudioData): number {
  return audio.channels.length === 0 ? 0 : audio.channels[0].length;
}
