/**
 * Track mode's audio-thread stage (docs/ARCHITECTURE.md §1, §8): plays a decoded track from
 * shared memory at a playhead the main thread drives (play, pause, seek, loop),
 * with the stems the inference worker has finished (src/realtime/track-state.ts), mixed
 * with per-stem gains, crossfaded to the track itself wherever the stems under
 * the playhead are not ready yet, and back when they are.
 *
 * RUNS ON THE AUDIO THREAD. After construction it allocates nothing, and it
 * never logs, locks, waits or posts a message: process() reads the shared track,
 * stems and ready map, and the control slots (Atomics), and writes its outputs
 * and counters. No Web Audio dependency, so the Node tests run this same code.
 *
 * Latency: none. Output frame n of the mix and of every stem is track frame
 * POSITION at that instant; the stems are computed ahead of the playhead, not
 * after it, so a mute acts within one render quantum plus the gain ramp.
 *
 * Transport. A transport gain t = k / R (k in [0, R]) moves one step per frame:
 * toward 1 while playing and no seek is pending, toward 0 otherwise. Pausing
 * fades out over R frames while still advancing, then holds the playhead; a
 * seek fades out, jumps when t reaches 0, and fades in. Looping jumps from
 * LOOP_END to LOOP_START (a loop region is meant to be cut on beats). At the end
 * of the track it fades out and pauses (ENDED_SEQ is bumped, PLAYING cleared).
 *
 * Wet/dry. As in stem-out-core.ts: w = p / R heads for 1 only while the stems
 * are ready from the playhead to RENDER_QUANTUM + lookahead frames ahead (so a
 * fade-out always has stems to fade with), else for 0. A frame whose block is
 * not ready plays dry whatever w is (only reachable right after a loop jump).
 * After a seek's jump (t = 0, silence) w takes its target at once.
 *
 * Counters. A quantum heard (stems enabled) with a frame whose stems are not
 * ready is dry playback: it counts in CTRL.UNDERRUN_QUANTA (as a late quantum
 * does in live mode), TRACK.NOT_READY_QUANTA and CTRL.DRY_FALLBACK_QUANTA; a
 * quantum only crossfading counts in DRY_FALLBACK_QUANTA. Atomics.add on
 * preallocated slots: nothing allocated.
 */
import { RENDER_QUANTUM } from '../src/constants.js';
import { CTRL } from '../src/realtime/control-block.js';
import { type SharedState } from '../src/realtime/shared-state.js';
import { TRACK, TRACK_BLOCK, createTrackState, type TrackState } from '../src/realtime/track-state.js';
import { DEFAULT_RAMP_FRAMES, rampLookahead, stepToward } from '../src/realtime/ramp.js';
import { StemGains } from './stem-gains.js';

export interface TrackPlayerCoreOptions {
  /** Control block (gains, mute, solo, meters, counters). */
  sharedState: SharedState;
  /** The track to play; more can be attached later with setTrack(). Without one, process() outputs silence. */
  track?: TrackState;
  /** Gain, transport and dry/wet ramps, frames (default 512). */
  rampFrames?: number;
  sampleRate: number;
  /** Give V8 type feedback for every branch at construction (default true). */
  prime?: boolean;
}

// Slots of the core's Int32 state.
const I_POS = 0; // playhead
const I_T = 1; // transport ramp position k
const I_P = 2; // wet ramp position p
const I_SEEK_SEEN = 3;
const I_SEEK_PENDING = 4;
const I_SEEK_TARGET = 5;
const I_SLOTS = 6;

export class TrackPlayerCore {
  readonly channels: number;
  readonly sources: number;
  readonly rampFrames: number;
  readonly lookaheadFrames: number;
  /** The attached track's length, frames (0 without one). */
  length = 0;

  private readonly i32: Int32Array;
  private readonly f32: Float32Array;
  // The attached track's views (empty ones of the same types before: V8 sees one shape).
  private transport: Int32Array = new Int32Array(TRACK.SIZE);
  private ready: Int32Array = new Int32Array(0);
  private audio: Float32Array[] = [];
  private stems: Float32Array[] = [];
  private attached = false;
  private readonly gains: StemGains;
  private readonly st = new Int32Array(I_SLOTS);
  /** S × 128 gains, C × 128 mix, S·C × 128 stem outputs. */
  private readonly curve: Float64Array;
  private readonly mix: Float32Array;
  private readonly stemOut: Float32Array;

  /**
   * Built with the processor, before any track (so all it allocates is
   * allocated up front, like StemOutCore); tracks are attached with setTrack().
   */
  constructor(options: TrackPlayerCoreOptions) {
    const { sharedState: state, sampleRate } = options;
    const R = options.rampFrames ?? DEFAULT_RAMP_FRAMES;
    if (!Number.isInteger(R) || R < 1) throw new RangeError(`TrackPlayerCore: rampFrames must be a positive integer, got ${R}`);
    const Q = RENDER_QUANTUM;
    this.channels = state.channels;
    this.sources = state.sources;
    this.rampFrames = R;
    this.lookaheadFrames = rampLookahead(R);
    this.i32 = state.controlI32;
    this.f32 = state.controlF32;
    this.gains = new StemGains(state.sources, R, state.controlI32, state.controlF32, sampleRate);
    this.curve = new Float64Array(state.sources * Q);
    this.mix = new Float32Array(state.channels * Q);
    this.stemOut = new Float32Array(state.sources * state.channels * Q);
    Atomics.store(state.controlI32, CTRL.LATENCY_FRAMES, 0);
    Atomics.store(state.controlI32, CTRL.RAMP_FRAMES, R);
    if (options.prime !== false) TrackPlayerCore.prime(state.channels, state.sources, sampleRate, state);
    if (options.track) this.setTrack(options.track);
  }

  /**
   * Plays this track from its transport's POSITION (paused until PLAYING):
   * stores its views and resets the transport and wet ramps. Allocates
   * nothing; call it between quanta (the processor's port handler does).
   */
  setTrack(track: TrackState): void {
    if (this.channels !== track.channels || this.sources !== track.sources) {
      throw new Error(`TrackPlayerCore: the track state is ${track.channels} channels × ${track.sources} stems, the control block ${this.channels} × ${this.sources}`);
    }
    this.length = track.length;
    this.transport = track.transport;
    this.ready = track.ready;
    this.audio = track.audio;
    this.stems = track.stems;
    this.attached = true;
    const st = this.st;
    st.fill(0);
    st[I_POS] = Math.max(0, Math.min(track.length, Atomics.load(track.transport, TRACK.POSITION)));
    st[I_SEEK_SEEN] = Atomics.load(track.transport, TRACK.SEEK_SEQ);
  }

  private static primed = false;

  /**
   * Runs every branch of process() once on a throwaway 4-block track (no track,
   * play, not ready, ready, seek, loop, mute, bypass, pause, the end, a track
   * attached again), so that V8 has
   * type feedback for all of them before it optimizes (see StemOutCore.prime).
   */
  static prime(channels: number, sources: number, sampleRate: number, like: SharedState): void {
    if (TrackPlayerCore.primed) return;
    TrackPlayerCore.primed = true;
    const Q = RENDER_QUANTUM;
    const length = 4 * TRACK_BLOCK;
    // Shared memory as the real tracks have (typed arrays over SharedArrayBuffers: V8's feedback differs from plain ones).
    const track = createTrackState(Array.from({ length: channels }, () => new Float32Array(length).fill(0.3)), sources, sampleRate);
    for (const row of track.stems) row.fill(-0.1);
    const control = new SharedArrayBuffer(like.controlI32.byteLength);
    new Int32Array(control).set(like.controlI32);
    const state: SharedState = { ...like, controlI32: new Int32Array(control), controlF32: new Float32Array(control) };
    const core = new TrackPlayerCore({ sharedState: state, rampFrames: 200, sampleRate, prime: false });
    const out = () => Array.from({ length: channels }, () => new Float32Array(Q));
    const mix = out();
    const outputs = [mix, ...Array.from({ length: sources }, out)];
    const t = track.transport;
    const i32 = state.controlI32;
    const seek = (frame: number) => {
      Atomics.store(t, TRACK.SEEK_TARGET, frame);
      Atomics.add(t, TRACK.SEEK_SEQ, 1);
    };
    // The rare paths first, a new one every quantum or two: V8 may optimize
    // process() after a few quanta, with the feedback it has by then.
    const silent = out();
    core.process(silent, [], 0); // no track yet
    core.setTrack(track);
    for (let q = 0; q < 40; q++) {
      if (q === 0) Atomics.store(t, TRACK.PLAYING, 1); // fade in over nothing ready: dry, counted
      if (q === 1) track.ready[0] = 1; // ready under the playhead, not ahead
      if (q === 2) {
        track.ready.fill(1); // wet
        seek(length - Q - 50); // fade out, jump, fade in, the end while playing: ENDED
      }
      if (q === 3) {
        Atomics.store(i32, CTRL.MUTE + sources - 1, 1);
        Atomics.store(i32, CTRL.SOLO, 1);
        state.controlF32[CTRL.GAIN + 1] = 0.5;
      }
      if (q === 8) {
        seek(2 * TRACK_BLOCK);
        Atomics.store(t, TRACK.PLAYING, 1);
        Atomics.store(t, TRACK.LOOP_START, 2 * TRACK_BLOCK);
        Atomics.store(t, TRACK.LOOP_END, 2 * TRACK_BLOCK + 300);
        Atomics.store(t, TRACK.LOOP_ON, 1); // jumps back; the look-ahead follows the jump
      }
      if (q === 12) track.ready[2] = 0; // not ready inside the loop
      if (q === 14) {
        Atomics.store(t, TRACK.LOOP_ON, 0);
        track.ready[2] = 1;
        Atomics.store(i32, CTRL.STEMS_ENABLED, 0); // bypass: w falls
      }
      if (q === 16) Atomics.store(i32, CTRL.STEMS_ENABLED, 1);
      if (q === 18) Atomics.store(t, TRACK.PLAYING, 0); // pause: fade out, hold
      if (q === 21) {
        seek(0);
        Atomics.store(t, TRACK.PLAYING, 1);
      }
      if (q === 25) core.setTrack(track); // attached again while playing
      if (q === 26) Atomics.store(i32, CTRL.MUTE + sources - 1, 0);
      core.process(mix, q === 3 ? [] : outputs, 1);
    }
  }

  /** The playhead, frames. */
  get position(): number {
    return this.st[I_POS];
  }

  private readyAt(pos: number): boolean {
    return pos < this.length && Atomics.load(this.ready, (pos / TRACK_BLOCK) | 0) > 0;
  }

  /** Stems ready for `frames` frames from `pos`, following the loop jump when looping. */
  private readyFor(pos: number, frames: number, looping: boolean, ls: number, le: number): boolean {
    let p = pos;
    let left = frames;
    while (left > 0) {
      if (looping && p >= le) p = ls;
      // Past the end nothing plays: no stems are needed there (else the last frames would fade to dry).
      if (p >= this.length) return true;
      if (!this.readyAt(p)) return false;
      const blockEnd = ((p / TRACK_BLOCK) | 0) * TRACK_BLOCK + TRACK_BLOCK;
      const stop = looping && le > p && le < blockEnd ? le : blockEnd;
      left -= stop - p;
      p = stop;
    }
    return true;
  }

  /**
   * One render quantum. `mixOut`: C channels; stem output s is
   * `stemOuts[stemOutsOffset + s]` (C channels); missing outputs are skipped.
   */
  process(mixOut: ArrayLike<Float32Array>, stemOuts: ArrayLike<ArrayLike<Float32Array>>, stemOutsOffset = 0): void {
    const Q = RENDER_QUANTUM;
    if (!this.attached) {
      // No track yet: silence on every output given.
      for (let c = 0; c < mixOut.length; c++) mixOut[c]?.fill(0);
      for (let s = 0; s < this.sources; s++) {
        const out = stemOuts[stemOutsOffset + s];
        if (out !== undefined) for (let c = 0; c < out.length; c++) out[c]?.fill(0);
      }
      return;
    }
    const C = this.channels;
    const S = this.sources;
    const R = this.rampFrames;
    const len = this.length;
    const st = this.st;
    const t = this.transport;
    const i32 = this.i32;

    // ---- 1. transport and control, once per quantum ----
    const playing = Atomics.load(t, TRACK.PLAYING) !== 0;
    const seq = Atomics.load(t, TRACK.SEEK_SEQ);
    if (seq !== st[I_SEEK_SEEN]) {
      st[I_SEEK_SEEN] = seq;
      st[I_SEEK_PENDING] = 1;
      st[I_SEEK_TARGET] = Math.max(0, Math.min(len - 1, Atomics.load(t, TRACK.SEEK_TARGET)));
    }
    const looping = Atomics.load(t, TRACK.LOOP_ON) !== 0;
    const ls = Atomics.load(t, TRACK.LOOP_START);
    const le = Atomics.load(t, TRACK.LOOP_END);
    const loopOk = looping && le > ls && ls >= 0 && le <= len;
    const enabled = Atomics.load(i32, CTRL.STEMS_ENABLED) !== 0;
    const curve = this.curve;
    this.gains.update(curve);
    const wetGoal = enabled && this.readyFor(st[I_POS], Q + this.lookaheadFrames, loopOk, ls, le) ? R : 0;

    // ---- 2. frames ----
    const mix = this.mix;
    const so = this.stemOut;
    const peak = this.gains.peak;
    const audio = this.audio;
    const stems = this.stems;
    let pos = st[I_POS];
    let k = st[I_T];
    let p = st[I_P];
    let ended = false;
    let notReady = false;
    for (let i = 0; i < Q; i++) {
      const goal = playing && st[I_SEEK_PENDING] === 0 && pos < len ? R : 0;
      if (k < goal) k++;
      else if (k > goal) k--;
      if (k === 0 || pos >= len) {
        if (k === 0 && st[I_SEEK_PENDING] !== 0) {
          pos = st[I_SEEK_TARGET];
          st[I_SEEK_PENDING] = 0;
        }
        // Silent: w may take its target at once (no jump can be heard).
        if (k === 0) p = enabled && this.readyFor(pos, Q + this.lookaheadFrames, loopOk, ls, le) ? R : 0;
        for (let c = 0; c < C; c++) mix[c * Q + i] = 0;
        for (let r = 0; r < S * C; r++) so[r * Q + i] = 0;
        continue;
      }
      p = stepToward(p, wetGoal);
      const here = this.readyAt(pos);
      if (!here) notReady = true;
      const w = here ? p / R : 0;
      const tg = k / R;
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let s = 0; s < S; s++) {
          const r = s * C + c;
          const x = here ? stems[r][pos] * curve[s * Q + i] : 0;
          acc += x;
          const y = x * w * tg;
          so[r * Q + i] = y;
          peak[s] = Math.max(peak[s], Math.abs(y));
        }
        mix[c * Q + i] = (audio[c][pos] * (1 - w) + acc * w) * tg;
      }
      pos++;
      if (loopOk && pos >= le) pos = ls;
      else if (pos >= len) {
        pos = len;
        ended = true;
      }
    }
    st[I_POS] = pos;
    st[I_T] = k;
    st[I_P] = p;

    // ---- 3. outputs ----
    for (let c = 0; c < C; c++) {
      const m = mixOut[c];
      if (m !== undefined) for (let i = 0; i < Q; i++) m[i] = mix[c * Q + i];
    }
    for (let s = 0; s < S; s++) {
      const out = stemOuts[stemOutsOffset + s];
      if (out === undefined) continue;
      for (let c = 0; c < C; c++) {
        const o = out[c];
        const base = (s * C + c) * Q;
        if (o !== undefined) for (let i = 0; i < Q; i++) o[i] = so[base + i];
      }
    }

    // ---- 4. state for the other threads ----
    Atomics.store(t, TRACK.POSITION, pos);
    Atomics.store(t, TRACK.AUDIBLE, k > 0 ? 1 : 0);
    if (ended && playing) {
      Atomics.store(t, TRACK.PLAYING, 0);
      Atomics.add(t, TRACK.ENDED_SEQ, 1);
    }
    Atomics.add(i32, CTRL.QUANTA_RENDERED, 1);
    if (k > 0 && enabled && (notReady || p < R)) {
      Atomics.add(i32, CTRL.DRY_FALLBACK_QUANTA, 1);
      if (notReady) {
        // Dry playback, counted as live mode counts a late quantum: StemEngine's
        // 'underrun' events and status() read UNDERRUN_QUANTA in both modes.
        Atomics.add(t, TRACK.NOT_READY_QUANTA, 1);
        Atomics.add(i32, CTRL.UNDERRUN_QUANTA, 1);
      }
    }
    this.f32[CTRL.WET] = p / R;
    this.gains.publish();
  }
}
