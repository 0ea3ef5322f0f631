/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * Track mode's transport on the main thread: play, pause, seek and loop
 * written into the track's shared transport (track-state.ts), which the audio
 * thread's TrackPlayerCore follows; the playhead, the readiness map and the
 * waveform overview read back. One per loaded track.
 */
import { StemstreamError } from '../../errors.js';
import { TRACK, playhead, readyFractions, requestSeek, setLoopRegion, setPlaying, type TrackState } from '../../realtime/track-state.js';

export class TrackTransport {
  readonly track: TrackState;
  private readonly sampleRate: number;
  private peaksCache: { buckets: number; peaks: Float32Array } | undefined;

  constructor(track: TrackState, sampleRate: number) {
    this.track = track;
    this.sampleRate = sampleRate;
  }

  /** Track length, seconds. */
  get duration(): number {
    return this.track.length / this.sampleRate;
  }

  /** Playhead, seconds. */
  get position(): number {
    return playhead(this.track) / this.sampleRate;
  }

  get playing(): boolean {
    return Atomics.load(this.track.transport, TRACK.PLAYING) !== 0;
  }

  get loop(): { start: number; end: number } | null {
    const t = this.track;
    if (Atomics.load(t.transport, TRACK.LOOP_ON) === 0) return null;
    return { start: Atomics.load(t.transport, TRACK.LOOP_START) / this.sampleRate, end: Atomics.load(t.transport, TRACK.LOOP_END) / this.sampleRate };
  }

  /** Starts playback (from the start again when at the end). Fades in over the ramp. */
  play(): void {
    if (playhead(this.track) >= this.track.length) requestSeek(this.track, 0);
    setPlaying(this.track, true);
  }

  /** Pauses with a fade-out over the ramp; the playhead stays. */
  pause(): void {
    setPlaying(this.track, false);
  }

  /** Moves the playhead (seconds): a short fade out and in; segments around it are separated first. */
  seek(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new StemstreamError('BAD_OPTION', `seek needs a finite time in seconds, got ${seconds}`);
    requestSeek(this.track, seconds * this.sampleRate);
  }

  /** Loops [start, end) seconds, or stops looping with null. */
  setLoop(region: { start: number; end: number } | null): void {
    if (region !== null && !(Number.isFinite(region.start) && Number.isFinite(region.end) && region.end > region.start)) {
      throw new StemstreamError('BAD_OPTION', `a loop needs start < end in seconds, got ${region.start}..${region.end}`);
    }
    setLoopRegion(this.track, region && { start: region.start * this.sampleRate, end: region.end * this.sampleRate });
  }

  /** How much of each of `buckets` parts of the track is separated (0..1), by the current model. */
  readyMap(buckets: number): Float32Array {
    return readyFractions(this.track, buckets);
  }

  /** Peak |sample| of each of `buckets` parts of the track (for an overview); computed once per bucket count. */
  waveformPeaks(buckets: number): Float32Array {
    if (this.peaksCache?.buckets === buckets) return this.peaksCache.peaks;
    const t = this.track;
    const peaks = new Float32Array(buckets);
    for (const ch of t.audio) {
      for (let k = 0; k < buckets; k++) {
        const from = Math.floor((k * t.length) / buckets);
        const to = Math.floor(((k + 1) * t.length) / buckets);
        let m = peaks[k];
        for (let i = from; i < to; i++) m = Math.max(m, Math.abs(ch[i]));
        peaks[k] = m;
      }
    }
    this.peaksCache = { buckets, peaks };
    return peaks;
  }
}
