/**
 * Track mode: the worker's TrackRenderer against separate() (the whole-buffer
 * result), its re-prioritisation after a seek, and the audio thread's
 * TrackPlayerCore (transport, ramps, mute, loop, dry where not ready).
 */
import { describe, expect, it } from 'vitest';
import { RENDER_QUANTUM } from '../src/constants.js';
import { CTRL, setStemMute, setStemSolo, setStemsEnabled } from '../src/realtime/control-block.js';
import { createSharedState } from '../src/realtime/shared-state.js';
import { createInferenceWorker } from '../src/engine/worker/inference-worker-core.js';
import type { FromWorker, ToWorker } from '../src/engine/protocol.js';
import { faultyHost, type TestWorkerSpec } from './fixtures/worker-faults.js';
import { parseWav } from '../src/audio/wav.js';
import { TRACK, TRACK_BLOCK, allReady, createTrackState, readyAhead, readyFractions, requestSeek, setLoopRegion, setPlaying, type TrackState } from '../src/realtime/track-state.js';
import { TrackRenderer } from '../src/engine/worker/track-renderer.js';
import { loadModel } from '../src/model/model.js';
import { noiseInput } from '../src/model/parity.js';
import { trackStats } from '../src/separate/normalize.js';
import { separate } from '../src/separate/separate.js';
import { separateWithSet } from '../src/separate/separate-set.js';
import { SetSegmentRunner } from '../src/separate/set-runner.js';
import { TrackPlayerCore } from '../worklets/track-player-core.js';
import { makeDemucsLayoutModel, TINY_SEGMENT } from './fixtures/tiny-models.js';
import { messageWaiter } from './fixtures/worker-messages.js';

const Q = RENDER_QUANTUM;
const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

function player(track: TrackState, rampFrames = 512) {
  const state = createSharedState({ channels: track.channels, sources: track.sources, inputRingFrames: 1024, stemRingFrames: 2048 });
  const core = new TrackPlayerCore({ sharedState: state, track, rampFrames, sampleRate: 44100 });
  const S = track.sources;
  const C = track.channels;
  const mix = Array.from({ length: C }, () => new Float32Array(Q));
  const stems = Array.from({ length: S }, () => Array.from({ length: C }, () => new Float32Array(Q)));
  /** Renders `quanta` quanta; returns the mix, channel 0, and stem s channel 0, concatenated, with the playhead at each frame's start. */
  const render = (quanta: number) => {
    const outMix = new Float32Array(quanta * Q);
    const outStems = Array.from({ length: S }, () => new Float32Array(quanta * Q));
    for (let q = 0; q < quanta; q++) {
      core.process(mix, [mix, ...stems], 1);
      outMix.set(mix[0], q * Q);
      for (let s = 0; s < S; s++) outStems[s].set(stems[s][0], q * Q);
    }
    return { mix: outMix, stems: outStems };
  };
  return { state, core, render };
}

describe('TrackRenderer', () => {
  it('in track order, its stems equal separate() bit for bit, block by block as they become ready', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains, waveRamp: true });
    const model = await loadModel(bytes);
    const length = 3 * TINY_SEGMENT + 777;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 7).audio };
    const ref = await separate(audio, model, {});
    const track = createTrackState(audio.channels, 4, 44100);
    const r = new TrackRenderer(model, track, { normalization: trackStats(audio) });
    let readyBefore = 0;
    while (await r.step()) {
      const ready = readyAhead(track, 0);
      expect(ready).toBeGreaterThan(readyBefore); // progress from the playhead on, each segment
      readyBefore = ready;
    }
    expect(r.finished).toBe(true);
    expect(readyAhead(track, 0)).toBe(length);
    for (let b = 0; b < track.ready.length; b++) expect(track.ready[b]).toBe(1);
    ref.sources.forEach((name, s) => {
      for (let c = 0; c < 2; c++) expect(track.stems[s * 2 + c]).toEqual(ref.stems[name][c]);
    });
    await model.dispose();
  });

  it('after a seek it runs the segments under the new playhead first, and the result still equals separate()', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains });
    const model = await loadModel(bytes);
    const length = 8 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 8).audio };
    const ref = await separate(audio, model, { normalize: false });
    const track = createTrackState(audio.channels, 4, 44100);
    const r = new TrackRenderer(model, track);
    await r.step();
    expect(readyAhead(track, 0)).toBeGreaterThan(0);
    // The playhead jumps to 60 %: the next segment covers it.
    const target = Math.floor(length * 0.6);
    Atomics.store(track.transport, TRACK.POSITION, target);
    expect(readyAhead(track, target)).toBe(0);
    await r.step();
    await r.step();
    expect(readyAhead(track, target)).toBeGreaterThan(TINY_SEGMENT / 2);
    while (await r.step());
    // Out of order, the float sums run in another order: equal to rounding.
    let err = 0;
    ref.sources.forEach((name, s) => {
      for (let c = 0; c < 2; c++) for (let t = 0; t < length; t++) err = Math.max(err, Math.abs(track.stems[s * 2 + c][t] - ref.stems[name][c][t]));
    });
    expect(err).toBeLessThan(1e-6);
    await model.dispose();
  });

  it('with a loop on, the loop region comes first', async () => {
    const model = await loadModel(makeDemucsLayoutModel());
    const length = 10 * TINY_SEGMENT;
    const track = createTrackState(noiseInput(2, length, 9).audio, 4, 44100);
    const r = new TrackRenderer(model, track);
    const ls = 7 * TINY_SEGMENT;
    setLoopRegion(track, { start: ls, end: ls + TINY_SEGMENT });
    Atomics.store(track.transport, TRACK.POSITION, 100); // the playhead is elsewhere
    // Three jobs cover the loop's blocks (the one ending just inside its first block too).
    for (let k = 0; k < 3; k++) await r.step();
    expect(readyAhead(track, ls)).toBeGreaterThanOrEqual(TINY_SEGMENT);
    expect(readyAhead(track, 100)).toBe(0);
    await model.dispose();
  });
});

describe('TrackPlayerCore', () => {
  /** A track whose stems are known: stem s = (s + 1) / 10 · track; all blocks ready. */
  function readyTrack(length: number) {
    const audio = [new Float32Array(length), new Float32Array(length)];
    for (let t = 0; t < length; t++) {
      audio[0][t] = Math.sin(t * 0.01);
      audio[1][t] = Math.cos(t * 0.013);
    }
    const track = createTrackState(audio, 4, 44100);
    for (let s = 0; s < 4; s++) for (let c = 0; c < 2; c++) for (let t = 0; t < length; t++) track.stems[s * 2 + c][t] = ((s + 1) / 10) * audio[c][t];
    track.ready.fill(1);
    return { audio, track };
  }

  it('plays the stems at the playhead with no latency; fades in over the ramp; pauses with a fade and holds the playhead', () => {
    const { audio, track } = readyTrack(50 * TRACK_BLOCK);
    const { render, core } = player(track);
    expect(render(4).mix.every((v) => v === 0)).toBe(true); // paused: silence, the playhead stays
    expect(core.position).toBe(0);
    setPlaying(track, true);
    const a = render(40);
    // Frame i is track frame i (no latency); transport ramp over 512 frames; the mix = Σ stems = track.
    for (let i = 0; i < 40 * Q; i++) {
      const tg = Math.min(i + 1, 512) / 512;
      expect(a.mix[i]).toBeCloseTo(audio[0][i] * tg, 5);
      expect(a.stems[3][i]).toBeCloseTo(0.4 * audio[0][i] * tg, 5);
    }
    expect(Atomics.load(track.transport, TRACK.POSITION)).toBe(40 * Q);
    setPlaying(track, false);
    const b = render(8);
    // Fades out over 512 frames while advancing, then holds.
    for (let i = 0; i < 512; i++) expect(b.mix[i]).toBeCloseTo(audio[0][40 * Q + i] * ((511 - i) / 512), 5);
    for (let i = 512; i < 8 * Q; i++) expect(b.mix[i]).toBe(0);
    expect(core.position).toBe(40 * Q + 511);
    // No jump anywhere: the largest step is bounded by the signal's own slope.
    let jump = 0;
    for (let i = 1; i < a.mix.length; i++) jump = Math.max(jump, Math.abs(a.mix[i] - a.mix[i - 1]));
    expect(jump).toBeLessThan(0.02);
  });

  it('stays on the stems to the last frame: the end of the track needs no stems beyond it (no crossfade to dry there)', () => {
    // Not a whole number of quanta or blocks, and close to a block's end: the last quanta's
    // look-ahead reaches past the last block, where no ready flag exists.
    const length = 11 * TRACK_BLOCK - 100;
    const { track } = readyTrack(length);
    const { render, state } = player(track);
    setStemMute(state, 0, true); // the mix is then Σ of stems 1..3 = 0.9 · track where wet, the track where dry
    render(4); // the mute's ramp is over before the play starts
    setPlaying(track, true);
    const out = render(Math.ceil(length / Q) + 1);
    for (let t = 512; t < length; t++) expect(out.mix[t], `frame ${t}`).toBeCloseTo(0.9 * Math.sin(t * 0.01), 6);
    expect(state.controlF32[CTRL.WET]).toBe(1);
  });

  it('a mute acts within one quantum plus the ramp; solo too', () => {
    const { track } = readyTrack(1000 * TRACK_BLOCK);
    const { render, state } = player(track);
    setPlaying(track, true);
    render(8);
    setStemMute(state, 3, true);
    const r = render(6);
    // The next quantum starts the ramp: 512 frames to zero, then exactly zero.
    expect(Math.abs(r.stems[3][0])).toBeGreaterThan(0);
    for (let i = 512; i < 6 * Q; i++) expect(Math.abs(r.stems[3][i])).toBe(0);
    expect(Math.abs(r.stems[2][600])).toBeGreaterThan(0);
    // Meters: the muted stem's falls 20 dB/s from its last peak, the others hold their level.
    render(700); // ~2 s
    expect(state.controlF32[CTRL.METER + 2]).toBeGreaterThan(0.25);
    expect(state.controlF32[CTRL.METER + 3]).toBeLessThan(0.4 * 0.011);
    // Solo stem 0: the others ramp out.
    setStemMute(state, 3, false);
    setStemSolo(state, 0, true);
    const s = render(6);
    for (let i = 512; i < 6 * Q; i++) {
      expect(Math.abs(s.stems[1][i])).toBe(0);
      expect(Math.abs(s.stems[3][i])).toBe(0);
    }
    expect(Math.abs(s.stems[0][700])).toBeGreaterThan(0);
  });

  it('plays the track itself (dry) where the stems are not ready, crossfades to them when they are', () => {
    const { audio, track } = readyTrack(50 * TRACK_BLOCK);
    track.ready.fill(0);
    // Muting every stem makes wet output silence, so the dry share is visible in the mix.
    const { render, state } = player(track);
    for (let s = 0; s < 4; s++) setStemMute(state, s, true);
    render(1); // let the gain ramps... they start at their targets: already 0
    setPlaying(track, true);
    const a = render(16);
    for (let i = 600; i < 16 * Q; i++) expect(a.mix[i]).toBeCloseTo(audio[0][i + Q * 0 - 0], 5);
    expect(Atomics.load(track.transport, TRACK.NOT_READY_QUANTA)).toBeGreaterThan(0);
    track.ready.fill(1);
    const b = render(8);
    // Fades to the (muted) stems over 512 frames: the mix goes to 0 with no jump.
    for (let i = 512 + Q; i < 8 * Q; i++) expect(Math.abs(b.mix[i])).toBe(0);
    let jump = 0;
    for (let i = 1; i < b.mix.length; i++) jump = Math.max(jump, Math.abs(b.mix[i] - b.mix[i - 1]));
    expect(jump).toBeLessThan(0.02);
  });

  it('counts dry playback (stems not ready under the playhead) as underruns, like live mode, and only while heard', () => {
    const { track } = readyTrack(40 * TRACK_BLOCK);
    track.ready.fill(0);
    const { render, state } = player(track);
    const underruns = () => Atomics.load(state.controlI32, CTRL.UNDERRUN_QUANTA);
    render(8); // paused: nothing heard, nothing counted
    expect(underruns()).toBe(0);
    setPlaying(track, true);
    render(10);
    expect(underruns()).toBe(10); // every quantum played the track itself
    expect(Atomics.load(track.transport, TRACK.NOT_READY_QUANTA)).toBe(10);
    track.ready.fill(1);
    render(10);
    expect(underruns()).toBe(10); // stems ready: no more
    track.ready.fill(0);
    setStemsEnabled(state, false);
    render(6);
    expect(underruns()).toBe(10); // bypassed: the track is what was asked for
  });

  it('seeks with a fade out, a jump and a fade in; loops; stops at the end', () => {
    const { audio, track } = readyTrack(20 * TRACK_BLOCK);
    const { render, core } = player(track);
    setPlaying(track, true);
    render(8);
    requestSeek(track, 10 * TRACK_BLOCK);
    const s = render(12);
    let jump = 0;
    for (let i = 1; i < s.mix.length; i++) jump = Math.max(jump, Math.abs(s.mix[i] - s.mix[i - 1]));
    expect(jump).toBeLessThan(0.02);
    // After the fade-out (512 frames, the last one silent at the jump), frames come from the target.
    const j = 511;
    expect(s.mix[j]).toBe(0);
    for (let i = j + 1; i < j + 100; i++) expect(s.mix[i]).toBeCloseTo(audio[0][10 * TRACK_BLOCK + (i - j - 1)] * ((i - j) / 512), 5);
    // Loop [12 blocks, 12 blocks + 1000): the playhead stays inside.
    setLoopRegion(track, { start: 12 * TRACK_BLOCK, end: 12 * TRACK_BLOCK + 1000 });
    for (let q = 0; q < 200; q++) {
      render(1);
      if (q > 100) {
        expect(core.position).toBeGreaterThanOrEqual(12 * TRACK_BLOCK);
        expect(core.position).toBeLessThan(12 * TRACK_BLOCK + 1000);
      }
    }
    setLoopRegion(track, null);
    render(200);
    expect(core.position).toBe(track.length);
    expect(Atomics.load(track.transport, TRACK.PLAYING)).toBe(0);
    expect(Atomics.load(track.transport, TRACK.ENDED_SEQ)).toBe(1);
    const tail = render(4);
    expect(tail.mix.every((v) => v === 0)).toBe(true);
  });
});

describe('inference worker, track input (the worker body in-process, onnxruntime-node)', () => {
  async function startWorker(bytes: Uint8Array, extra: Partial<import('../src/engine/protocol.js').WorkerInitOptions> = {}, spec: TestWorkerSpec = {}) {
    const messages: FromWorker[] = [];
    // The model-loading seam, wrapped as the test asks (worker-faults.ts).
    const faulty = faultyHost({
      post: (m) => messages.push(m),
      loadModel: (b, o) => loadModel(b, { runtime: o.runtime, executionProviders: o.executionProviders }),
    }, spec);
    const inner = createInferenceWorker(faulty.host);
    const handle = (msg: ToWorker) => {
      faulty.observe(msg);
      inner(msg);
    };
    const state = createSharedState({ channels: 2, sources: 4, inputRingFrames: 1024, stemRingFrames: 2048 });
    handle({ type: 'init', id: 1, buffers: state.buffers, model: bytes, options: { overlap: 0.25, runtime: 'node', sourceKind: 'track', ...extra } });
    const until = messageWaiter(messages);
    await until((m) => m.type === 'ready', 'ready');
    return { handle, messages, until };
  }

  it('separates a loaded track, then exports one WAV per stem and a ZIP equal to separate() (24-bit)', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains });
    const length = 2 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 11).audio.map((c) => c.map((v) => v * 0.2)) };
    const { handle, until } = await startWorker(bytes);
    const track = createTrackState(audio.channels, 4, 44100);
    handle({ type: 'load-track', id: 2, track: track.buffers, normalize: true });
    await until((m) => m.type === 'track-loaded' && m.id === 2, 'track-loaded');
    handle({ type: 'export', id: 3, baseName: 'clip' });
    const out = await until((m) => m.type === 'exported', 'exported');
    if (out.type !== 'exported') throw new Error('unreachable');
    expect(out.files.map((f) => f.name)).toEqual(['clip-drums.wav', 'clip-bass.wav', 'clip-other.wav', 'clip-vocals.wav']);
    expect(out.zip.length).toBeGreaterThan(out.files.reduce((a, f) => a + f.data.length, 0));
    const model = await loadModel(bytes);
    const ref = await separate(audio, model, {});
    await model.dispose();
    const vocals = parseWav(out.files[3].data);
    let err = 0;
    for (let c = 0; c < 2; c++) for (let t = 0; t < length; t++) err = Math.max(err, Math.abs(vocals.channels[c][t] - ref.stems.vocals[c][t]));
    expect(err).toBeLessThan(2 ** -22); // 24-bit quantisation
    handle({ type: 'stop', id: 9 });
    await until((m) => m.type === 'stopped', 'stopped');
  });

  it('falls back to the next execution provider when a run fails, and the stems are unchanged', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains });
    const length = 3 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 12).audio };
    const { handle, messages, until } = await startWorker(bytes, { executionProviders: ['first-ep', 'cpu'] }, { failRunsAfter: 1 });
    const track = createTrackState(audio.channels, 4, 44100);
    handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false });
    const fb = await until((m) => m.type === 'backend-fallback', 'backend-fallback');
    expect(fb).toMatchObject({ from: 'first-ep', to: 'cpu' });
    if (fb.type === 'backend-fallback') expect(fb.reason).toMatch(/device lost/);
    await until((m) => m.type === 'segment' && allReady(track, 1), 'all ready');
    const model = await loadModel(bytes);
    const ref = await separate(audio, model, { normalize: false });
    await model.dispose();
    ref.sources.forEach((name, s) => {
      for (let c = 0; c < 2; c++) expect(track.stems[s * 2 + c]).toEqual(ref.stems[name][c]);
    });
    expect(messages.filter((m) => m.type === 'error')).toEqual([]);
    handle({ type: 'stop', id: 9 });
    await until((m) => m.type === 'stopped', 'stopped');
  });

  it('a run failing on the only provider ends the loop cleanly: the pending export and the worker answer with the typed cause, stop answers at once', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains });
    const length = 4 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 14).audio };
    const { handle, messages, until } = await startWorker(bytes, {}, { faults: { throwAfterRuns: 1 } });
    const track = createTrackState(audio.channels, 4, 44100);
    handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false });
    handle({ type: 'export', id: 3, baseName: 'x' });
    const errors = async () => {
      for (let i = 0; i < 400 && messages.filter((m) => m.type === 'error').length < 2; i++) await new Promise((r) => setTimeout(r, 5));
      return messages.filter((m) => m.type === 'error');
    };
    const [exportError, workerError] = await errors();
    expect(exportError).toMatchObject({ id: 3, code: 'INFERENCE_FAILED', fatal: true });
    if (exportError.type === 'error') expect(exportError.message).toMatch(/session\.run failed.*throwAfterRuns/);
    expect(workerError).toMatchObject({ id: -1, code: 'INFERENCE_FAILED', fatal: true });
    const t0 = performance.now();
    handle({ type: 'stop', id: 9 });
    await until((m) => m.type === 'stopped', 'stopped');
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('a restarted worker keeps the track\'s generation: a track already separated exports at once, and equals separate()', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains });
    const length = 2 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 15).audio.map((c) => c.map((v) => v * 0.2)) };
    const first = await startWorker(bytes);
    const track = createTrackState(audio.channels, 4, 44100);
    first.handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false });
    await first.until((m) => m.type === 'segment' && allReady(track, 1), 'all ready');
    first.handle({ type: 'stop', id: 9 });
    await first.until((m) => m.type === 'stopped', 'stopped');
    // A fresh worker on the same shared track, told its generation (what StemEngine replays).
    const fresh = await startWorker(bytes, { resume: true });
    fresh.handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false, generation: 1 });
    fresh.handle({ type: 'export', id: 3, baseName: 'again', format: 'float32' });
    const out = await fresh.until((m) => m.type === 'exported', 'exported');
    if (out.type !== 'exported') throw new Error('unreachable');
    const exportedAt = fresh.messages.findIndex((m) => m.type === 'exported');
    expect(fresh.messages.slice(0, exportedAt).filter((m) => m.type === 'segment')).toEqual([]); // not recomputed first
    const model = await loadModel(bytes);
    const ref = await separate(audio, model, { normalize: false });
    await model.dispose();
    const vocals = parseWav(out.files[3].data);
    for (let c = 0; c < 2; c++) expect(vocals.channels[c]).toEqual(ref.stems.vocals[c]);
    fresh.handle({ type: 'stop', id: 9 });
    await fresh.until((m) => m.type === 'stopped', 'stopped');
  });

  it('swaps the model mid-track: old stems stay until the new generation replaces them all', async () => {
    const a = makeDemucsLayoutModel({ waveGains });
    const b = makeDemucsLayoutModel({ waveGains: [[1, 0], [0, 1], [0.5, 0.5], [-0.5, 0.25]] });
    const length = 2 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 13).audio };
    const { handle, until } = await startWorker(a);
    const track = createTrackState(audio.channels, 4, 44100);
    handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false });
    await until((m) => m.type === 'segment' && allReady(track, 1), 'generation 1');
    handle({ type: 'swap-model', id: 3, model: b });
    const sw = await until((m) => m.type === 'model-swapped', 'model-swapped');
    expect(sw).toMatchObject({ generation: 2 });
    // Every block is ready (old or new) at any time from now on.
    for (let i = 0; i < 400 && !allReady(track, 2); i++) {
      for (let k = 0; k < track.ready.length; k++) expect(track.ready[k]).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(allReady(track, 2)).toBe(true);
    const model = await loadModel(b);
    const ref = await separate(audio, model, { normalize: false });
    await model.dispose();
    for (let c = 0; c < 2; c++) expect(track.stems[3 * 2 + c]).toEqual(ref.stems.vocals[c]);
    handle({ type: 'stop', id: 9 });
    await until((m) => m.type === 'stopped', 'stopped');
  });
});

describe('readyFractions', () => {
  it('covers every bucket, with more buckets than blocks as with fewer', () => {
    const track = createTrackState([new Float32Array(10 * TRACK_BLOCK)], 1, 44100);
    expect(Array.from(readyFractions(track, 16))).toEqual(new Array(16).fill(0));
    track.ready.fill(1);
    expect(Array.from(readyFractions(track, 16))).toEqual(new Array(16).fill(1));
    expect(Array.from(readyFractions(track, 5))).toEqual(new Array(5).fill(1));
    track.ready.fill(0);
    track.ready.fill(1, 0, 5); // the first half
    expect(Array.from(readyFractions(track, 2))).toEqual([1, 0]);
    expect(Array.from(readyFractions(track, 20)).slice(0, 10)).toEqual(new Array(10).fill(1));
    expect(Array.from(readyFractions(track, 20)).slice(10)).toEqual(new Array(10).fill(0));
    track.ready[9] = 2; // generation 2 only counts for generation 2
    expect(readyFractions(track, 10, 2)[9]).toBe(1);
    expect(readyFractions(track, 10, 2)[0]).toBe(0);
  });
});

describe('model sets (bags) in the real-time stages', () => {
  const gainsA = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];
  const gainsB = [[1, 0.5], [0.25, -0.5], [0.5, 0.5], [-0.75, 1]];
  const weights = [[1, 0, 1, 0.5], [0, 1, 1, 0.5]];

  it('TrackRenderer with a SetSegmentRunner equals separateWithSet() (Demucs bag weights)', async () => {
    const a = await loadModel(makeDemucsLayoutModel({ waveGains: gainsA, waveRamp: true }));
    const b = await loadModel(makeDemucsLayoutModel({ waveGains: gainsB, waveRamp: true }));
    const length = 3 * TINY_SEGMENT + 321;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 31).audio };
    const set = { name: 'pair', sources: [...a.info.sources], sampleRate: 44100, channels: 2, members: [{ file: 'a', model: a, weights: weights[0] }, { file: 'b', model: b, weights: weights[1] }], dispose: async () => {} };
    const ref = await separateWithSet(audio, set, {});
    const track = createTrackState(audio.channels, 4, 44100);
    const runner = new SetSegmentRunner([{ model: a, weights: weights[0] }, { model: b, weights: weights[1] }]);
    const r = new TrackRenderer(a, track, { normalization: trackStats(audio), runner });
    while (await r.step());
    let err = 0;
    let peak = 0;
    ref.sources.forEach((name, s) => {
      for (let c = 0; c < 2; c++) {
        for (let t = 0; t < length; t++) {
          err = Math.max(err, Math.abs(track.stems[s * 2 + c][t] - ref.stems[name][c][t]));
          peak = Math.max(peak, Math.abs(ref.stems[name][c][t]));
        }
      }
    });
    expect(err / peak).toBeLessThan(1e-6); // combined per segment instead of after the overlap-add: rounding only
    // Weight 0 everywhere: a member that is not run.
    expect(new SetSegmentRunner([{ model: a, weights: [1, 1, 1, 1] }, { model: b, weights: [0, 0, 0, 0] }]).membersRun).toBe(1);
    expect(() => new SetSegmentRunner([{ model: a, weights: [1, 0, 1, 1] }])).toThrow(/no model of the set weighs stem "bass"/);
    await a.dispose();
    await b.dispose();
  });

  it('the inference worker runs a set (init members) and exports its stems', async () => {
    const bytesA = makeDemucsLayoutModel({ waveGains: gainsA });
    const bytesB = makeDemucsLayoutModel({ waveGains: gainsB });
    const messages: FromWorker[] = [];
    const handle = createInferenceWorker({ post: (m) => messages.push(m), loadModel: (b, o) => loadModel(b, { runtime: o.runtime }) });
    const state = createSharedState({ channels: 2, sources: 4, inputRingFrames: 1024, stemRingFrames: 2048 });
    handle({ type: 'init', id: 1, buffers: state.buffers, model: new Uint8Array(0), options: { overlap: 0.25, runtime: 'node', sourceKind: 'track', members: [{ model: bytesA, weights: weights[0] }, { model: bytesB, weights: weights[1] }] } });
    const length = 2 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 32).audio.map((c) => c.map((v) => v * 0.2)) };
    const wait = async (pred: (m: FromWorker) => boolean) => {
      for (let i = 0; i < 3000 && !messages.some(pred); i++) {
        const e = messages.find((m) => m.type === 'error');
        if (e) throw new Error(JSON.stringify(e));
        await new Promise((r) => setTimeout(r, 5));
      }
      return messages.find(pred)!;
    };
    await wait((m) => m.type === 'ready');
    const track = createTrackState(audio.channels, 4, 44100);
    handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false });
    handle({ type: 'export', id: 3, baseName: 'set', format: 'float32' });
    const out = await wait((m) => m.type === 'exported');
    if (out.type !== 'exported') throw new Error('unreachable');
    const [a, b] = [await loadModel(bytesA), await loadModel(bytesB)];
    const set = { name: 'pair', sources: [...a.info.sources], sampleRate: 44100, channels: 2, members: [{ file: 'a', model: a, weights: weights[0] }, { file: 'b', model: b, weights: weights[1] }], dispose: async () => {} };
    const ref = await separateWithSet(audio, set, { normalize: false });
    const other = parseWav(out.files[2].data);
    let err = 0;
    for (let c = 0; c < 2; c++) for (let t = 0; t < length; t++) err = Math.max(err, Math.abs(other.channels[c][t] - ref.stems.other[c][t]));
    expect(err).toBeLessThan(1e-6);
    handle({ type: 'stop', id: 9 });
    await wait((m) => m.type === 'stopped');
    await a.dispose();
    await b.dispose();
  });
});
