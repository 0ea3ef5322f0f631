/**
 * Track mode's shared memory (docs/ARCHITECTURE.md §1, §8): a decoded track known in advance,
 * its stems computed ahead of (and around) the playhead by the inference worker,
 * played by the audio thread (worklets/track-player-core.ts) under a transport
 * the main thread drives.
 *
 *   audio      main → all       the track, planar: channel c at [c·length, (c+1)·length)
 *   stems      worker → worklet the separated track, planar: row r = s·C + c at
 *                               [r·length, (r+1)·length); a block's samples are
 *                               written once, whole and final, then published
 *   ready      worker → all     one Int32 per TRACK_BLOCK frames: 0 = not yet
 *                               separated, g > 0 = final, written by model
 *                               generation g (a model swap bumps the generation;
 *                               old stems keep playing until replaced)
 *   transport  main ↔ worklet   Int32 slots (TRACK below)
 *
 * Memory: the stems take S·C·4 bytes per frame (4 stems, stereo: 32 B, about
 * 85 MB per minute at 44.1 kHz); they are what the export writes, too.
 */
export const TRACK_BLOCK = 1024;

export const TRACK = {
  /** i32 (main): 1 = play, 0 = pause (both ramped on the audio thread). */
  PLAYING: 0,
  /** i32 (main): bumped after SEEK_TARGET is written; the worklet jumps on a change. */
  SEEK_SEQ: 1,
  /** i32 (main): frame to seek to. */
  SEEK_TARGET: 2,
  /** i32 (main): 1 = loop [LOOP_START, LOOP_END). */
  LOOP_ON: 3,
  LOOP_START: 4,
  LOOP_END: 5,
  /** i32 (worklet): the playhead, frames (the next frame to play). */
  POSITION: 6,
  /** i32 (worklet): 1 while audible (playing or fading), 0 when paused or ended. */
  AUDIBLE: 7,
  /** i32 (worklet): bumped when playback reaches the end of the track (not looping). */
  ENDED_SEQ: 8,
  /** i32 (worker): the model generation now being computed (1 for the first model). */
  GENERATION: 9,
  /** i32 (worklet): render quanta played (stems enabled) with the stems not ready under the
   *  playhead, i.e. dry; since this track was loaded. The same quanta count in the control
   *  block's CTRL.UNDERRUN_QUANTA (the engine's underrun events). */
  NOT_READY_QUANTA: 10,
  /** i32 (worker): segments done / planned for the current generation. */
  SEGMENTS_DONE: 11,
  SEGMENTS_TOTAL: 12,
  SIZE: 16,
} as const;

/** What crosses threads: SABs and numbers only. */
export interface TrackBuffers {
  length: number;
  channels: number;
  sources: number;
  sampleRate: number;
  audio: SharedArrayBuffer;
  stems: SharedArrayBuffer;
  ready: SharedArrayBuffer;
  transport: SharedArrayBuffer;
}

/** One thread's view. */
export interface TrackState {
  readonly buffers: TrackBuffers;
  readonly length: number;
  readonly channels: number;
  readonly sources: number;
  readonly sampleRate: number;
  /** channel c of the track */
  readonly audio: Float32Array[];
  /** row s·C + c of the stems */
  readonly stems: Float32Array[];
  readonly ready: Int32Array;
  readonly transport: Int32Array;
}

export function trackBlocks(length: number): number {
  return Math.ceil(length / TRACK_BLOCK);
}

/** Main thread: copy a decoded track (planar) into shared memory and allocate its stems. */
export function createTrackState(channels: ArrayLike<Float32Array>, sources: number, sampleRate: number): TrackState {
  const C = channels.length;
  const length = C > 0 ? channels[0].length : 0;
  if (C < 1 || length < 1) throw new RangeError('the track is empty');
  if (length >= 2 ** 31) throw new RangeError('the track is too long (2^31 frames at most)');
  const buffers: TrackBuffers = {
    length,
    channels: C,
    sources,
    sampleRate,
    audio: new SharedArrayBuffer(C * length * 4),
    stems: new SharedArrayBuffer(sources * C * length * 4),
    ready: new SharedArrayBuffer(trackBlocks(length) * 4),
    transport: new SharedArrayBuffer(TRACK.SIZE * 4),
  };
  const state = attachTrackState(buffers);
  for (let c = 0; c < C; c++) {
    if (channels[c].length !== length) throw new RangeError('all channels of the track must have the same length');
    state.audio[c].set(channels[c]);
  }
  return state;
}

export function attachTrackState(buffers: TrackBuffers): TrackState {
  const { length, channels, sources } = buffers;
  const rows = (sab: SharedArrayBuffer, n: number) => Array.from({ length: n }, (_, r) => new Float32Array(sab, r * length * 4, length));
  return {
    buffers,
    length,
    channels,
    sources,
    sampleRate: buffers.sampleRate,
    audio: rows(buffers.audio, channels),
    stems: rows(buffers.stems, sources * channels),
    ready: new Int32Array(buffers.ready),
    transport: new Int32Array(buffers.transport),
  };
}

// ---- main-thread helpers ----

export function setPlaying(t: TrackState, on: boolean): void {
  Atomics.store(t.transport, TRACK.PLAYING, on ? 1 : 0);
}

/** Ask the audio thread to jump to `frame` (clamped to the track); it fades out, jumps, fades in. */
export function requestSeek(t: TrackState, frame: number): void {
  const f = Math.max(0, Math.min(t.length - 1, Math.round(frame)));
  Atomics.store(t.transport, TRACK.SEEK_TARGET, f);
  Atomics.add(t.transport, TRACK.SEEK_SEQ, 1);
}

export function setLoopRegion(t: TrackState, region: { start: number; end: number } | null): void {
  if (region === null) {
    Atomics.store(t.transport, TRACK.LOOP_ON, 0);
    return;
  }
  const start = Math.max(0, Math.min(t.length - 1, Math.round(region.start)));
  const end = Math.max(start + 1, Math.min(t.length, Math.round(region.end)));
  Atomics.store(t.transport, TRACK.LOOP_START, start);
  Atomics.store(t.transport, TRACK.LOOP_END, end);
  Atomics.store(t.transport, TRACK.LOOP_ON, 1);
}

export function playhead(t: TrackState): number {
  return Atomics.load(t.transport, TRACK.POSITION);
}

/**
 * Fraction of each of `buckets` equal parts of the track whose stems are final
 * (any generation, or `generation` only). Each bucket reads the blocks it
 * overlaps; with more buckets than blocks, several buckets read the same block.
 */
export function readyFractions(t: TrackState, buckets: number, generation?: number): Float32Array {
  const out = new Float32Array(buckets);
  const blocks = t.ready.length;
  if (blocks === 0) return out;
  for (let k = 0; k < buckets; k++) {
    const from = Math.min(blocks - 1, Math.floor((k * blocks) / buckets));
    const to = Math.max(from + 1, Math.min(blocks, Math.ceil(((k + 1) * blocks) / buckets)));
    let n = 0;
    for (let b = from; b < to; b++) {
      const g = Atomics.load(t.ready, b);
      if (generation === undefined ? g > 0 : g === generation) n++;
    }
    out[k] = n / (to - from);
  }
  return out;
}

/** Frames from `from` on whose stems are final, contiguously (stops at the first block not ready). */
export function readyAhead(t: TrackState, from: number): number {
  let b = Math.floor(from / TRACK_BLOCK);
  while (b < t.ready.length && Atomics.load(t.ready, b) > 0) b++;
  return Math.max(0, Math.min(t.length, b * TRACK_BLOCK) - from);
}

export function allReady(t: TrackState, generation: number): boolean {
  for (let b = 0; b < t.ready.length; b++) if (Atomics.load(t.ready, b) !== generation) return false;
  return true;
}

/**
 * Main thread, before the worker has the track: every block final as model
 * generation `generation`, because its stems were filled whole from the stem
 * cache (src/engine/host/stem-cache.ts); the worker is told (load-track `precomputed`).
 */
export function markAllReady(t: TrackState, generation: number): void {
  for (let b = 0; b < t.ready.length; b++) Atomics.store(t.ready, b, generation);
  Atomics.store(t.transport, TRACK.GENERATION, generation);
}
