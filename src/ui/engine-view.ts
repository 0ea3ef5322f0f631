/**
 * What the UI components need from an engine, as small interfaces, so that the
 * components work with StemEngine (src/engine/host/stem-engine.ts), with a test fake,
 * or with anything else that separates stems. Components poll these getters
 * (requestAnimationFrame / a timer); nothing here is on the audio path. The
 * status snapshot is the engine's own type (src/engine/host/engine-status.ts).
 */
import type { EngineStatusSnapshot } from '../engine/host/engine-status.js';

export type { EngineStatusSnapshot, StemCacheStatus } from '../engine/host/engine-status.js';

/** A mixer's view: stems, their gains, mute, solo and meters. */
export interface StemMixerSource {
  /** Stem names in the model's order (4 or 6). */
  readonly sources: readonly string[];
  /** Target gain (linear, ≥ 0), ramped on the audio thread. */
  setGain(name: string, gain: number): void;
  mute(name: string, on?: boolean): void;
  /** While any stem is soloed only soloed stems sound (mute still wins). */
  solo(name: string, on?: boolean): void;
  /** The current settings of a stem, for display. */
  stemState(name: string): { gain: number; muted: boolean; soloed: boolean };
  /** Peak level of each stem's output, linear (1 = full scale), in `sources` order, with meter decay applied. */
  meterLevels(): ArrayLike<number>;
}

/** A transport's view of a loaded track. */
export interface TrackTransportSource {
  /** Track length in seconds (0 when no track is loaded). */
  readonly duration: number;
  readonly playing: boolean;
  /** Playhead, seconds. */
  readonly position: number;
  /** The loop region in seconds, or null when not looping. */
  readonly loop: { start: number; end: number } | null;
  play(): void;
  pause(): void;
  seek(seconds: number): void;
  setLoop(region: { start: number; end: number } | null): void;
  /**
   * Which parts of the track are separated, as `buckets` fractions in [0, 1]
   * (bucket i covers [i, i + 1) · duration / buckets): drawn under the waveform.
   */
  readyMap(buckets: number): Float32Array;
  /** Peak of |sample| over both channels for each of `buckets` equal parts of the track (the overview). */
  waveformPeaks(buckets: number): Float32Array;
}

/** An engine status view. */
export interface EngineStatusSource {
  status(): EngineStatusSnapshot;
  /** Empties the stem cache (the "Clear cached stems" button shows only where this exists). */
  clearCache?(): Promise<{ entries: number; bytes: number }>;
}
