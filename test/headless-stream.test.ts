/**
 * The real-time engine headless: the audio-thread core and the inference worker
 * (a real worker thread) over the shared rings, with a tiny model.
 */
import { describe, expect, it } from 'vitest';
import { lowLatencyLatency, qualityLatency, runHeadlessStream } from '../src/node/node-harness.js';
import { testWorker } from './fixtures/worker-faults.js';
import { StreamSeparator } from '../src/engine/worker/stream-separator.js';
import { setStemMute } from '../src/realtime/control-block.js';
import { loadModel } from '../src/model/model.js';
import { noiseInput } from '../src/model/parity.js';
import { separate } from '../src/separate/separate.js';
import { makeDemucsLayoutModel, TINY_SEGMENT } from './fixtures/tiny-models.js';

const RAMP = 512;
const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

function argmaxAbs(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (Math.abs(x[i]) > Math.abs(x[best])) best = i;
  return best;
}

describe('headless stream, quality mode', () => {
  it('declares N + stride and its stems, shifted back by it, equal separate() exactly', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains, waveRamp: true });
    const length = 50000;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 4).audio };
    const r = await runHeadlessStream(audio, bytes, { runtime: 'node' });
    const L = r.latencySamples;
    expect(L).toBe(TINY_SEGMENT + Math.floor(0.75 * TINY_SEGMENT));
    expect(L).toBe(qualityLatency(TINY_SEGMENT, 0.25));
    expect(r.mix[0].length).toBe(length + L);
    const model = await loadModel(bytes);
    const ref = await separate(audio, model, { normalize: false });
    await model.dispose();
    // The first RAMP frames at the latency point fade in from the dry input; then it is exact.
    for (const s of r.sources) {
      for (let c = 0; c < 2; c++) {
        let err = 0;
        for (let t = RAMP; t < length; t++) err = Math.max(err, Math.abs(r.stems[s][c][t + L] - ref.stems[s][c][t]));
        expect(err).toBe(0);
        for (let t = 0; t < L; t++) expect(r.stems[s][c][t]).toBe(0);
      }
    }
    for (let c = 0; c < 2; c++) {
      let err = 0;
      for (let t = RAMP; t < length; t++) err = Math.max(err, Math.abs(r.mix[c][t + L] - r.sources.reduce((a, s) => a + ref.stems[s][c][t], 0)));
      expect(err).toBeLessThan(1e-6);
    }
    expect(r.worklet.underrunQuanta).toBe(0);
    expect(r.worker.framesOut).toBe(length);
    // The worker's published stats: backend, real-time factor (session.run per stride).
    expect(r.worker.backend).toBe('onnxruntime-node/cpu');
    expect(r.worker.realTimeFactor).toBeGreaterThan(0);
    expect(r.worker.realTimeFactor).toBeCloseTo(r.worker.lastRunMs / ((Math.floor(0.75 * TINY_SEGMENT) / 44100) * 1000), 9);
  });

  it('across a backend fallback mid-stream (the first provider fails on its 3rd run): same latency, same stems as separate()', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains, waveRamp: true });
    const length = 60000;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 21).audio };
    const r = await runHeadlessStream(audio, bytes, { runtime: 'node', executionProviders: ['first-ep', 'cpu'], worker: testWorker({ failRunsAfter: 2 }) });
    expect(r.fallbacks).toHaveLength(1);
    expect(r.fallbacks[0]).toMatchObject({ from: 'first-ep', to: 'cpu' });
    const L = r.latencySamples;
    expect(L).toBe(qualityLatency(TINY_SEGMENT, 0.25));
    const model = await loadModel(bytes);
    const ref = await separate(audio, model, { normalize: false });
    await model.dispose();
    for (const s of r.sources) {
      let err = 0;
      for (let t = RAMP; t < length; t++) err = Math.max(err, Math.abs(r.stems[s][0][t + L] - ref.stems[s][0][t]));
      expect(err).toBe(0);
    }
    expect(r.worker.framesOut).toBe(length);
  });

  it('across a model swap mid-stream: same latency; model A\'s stems before, model B\'s after, a blend one overlap long between', async () => {
    const a = makeDemucsLayoutModel({ waveGains, waveRamp: true });
    const bGains = [[1, 0.5], [0.25, -0.5], [0.5, 0.5], [-0.75, 1]];
    const b = makeDemucsLayoutModel({ waveGains: bGains, waveRamp: true });
    const length = 20 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 22).audio };
    const r = await runHeadlessStream(audio, a, { runtime: 'node', swapModel: { atFrame: Math.floor(length * 0.4), model: b } });
    expect(r.swaps).toEqual([1]);
    const L = r.latencySamples;
    expect(L).toBe(qualityLatency(TINY_SEGMENT, 0.25));
    const refs = [];
    for (const bytes of [a, b]) {
      const m = await loadModel(bytes);
      refs.push(await separate(audio, m, { normalize: false }));
      await m.dispose();
    }
    const [refA, refB] = refs;
    // Per frame: equal to A's separate(), to B's, or (in the swap's overlap) between them.
    const kind = new Array<string>(length);
    for (let t = RAMP; t < length; t++) {
      const outs = r.sources.map((s) => r.stems[s][0][t + L]);
      const isA = r.sources.every((s, k) => outs[k] === refA.stems[s][0][t]);
      const isB = r.sources.every((s, k) => outs[k] === refB.stems[s][0][t]);
      kind[t] = isA ? 'A' : isB ? 'B' : 'mix';
    }
    const firstB = kind.indexOf('B');
    const lastA = kind.lastIndexOf('A');
    expect(lastA).toBeGreaterThan(length * 0.3); // A until the swap ...
    expect(firstB).toBeGreaterThan(lastA); // ... then B, never A again
    expect(firstB - lastA).toBeLessThanOrEqual(TINY_SEGMENT); // the blend: at most one overlap (a segment)
    expect(kind.slice(firstB).every((k) => k === 'B')).toBe(true);
    expect(r.worklet.underrunQuanta).toBe(0);
  });

  it('an impulse comes out exactly latencySamples later, in the mix and in the stems', async () => {
    const bytes = makeDemucsLayoutModel();
    const length = 40000;
    const channels = [new Float32Array(length), new Float32Array(length)];
    const k = 23456;
    channels[0][k] = 0.9;
    channels[1][k] = -0.7;
    const r = await runHeadlessStream({ sampleRate: 44100, channels }, bytes, { runtime: 'node' });
    const L = r.latencySamples;
    expect(argmaxAbs(r.mix[0])).toBe(k + L);
    expect(argmaxAbs(r.mix[1])).toBe(k + L);
    // Demucs' spectral round trip is not exact near segment edges: close to, not exactly, 0.9.
    expect(r.mix[0][k + L]).toBeGreaterThan(0.85);
    for (const s of r.sources) expect(argmaxAbs(r.stems[s][1])).toBe(k + L);
  });

  it('a model too slow for real time underruns: dry input fills in, and the latency holds to the sample', async () => {
    // Time branch only, stems summing to the input exactly: wet, dry or any crossfade
    // of the two, an impulse stays one sample wide.
    const quarter = [[0.25, 0.25], [0.25, 0.25], [0.25, 0.25], [0.25, 0.25]];
    const bytes = makeDemucsLayoutModel({ specGains: quarter.map((row) => row.map(() => 0)), waveGains: quarter });
    const length = 44100;
    const channels = [new Float32Array(length), new Float32Array(length)];
    const impulses = [3000, 20000, 38000];
    for (const k of impulses) { channels[0][k] = 0.8; channels[1][k] = 0.8; }
    // Each segment takes 400 ms more than its 160 ms stride: the worker falls behind.
    const r = await runHeadlessStream({ sampleRate: 44100, channels }, bytes, { runtime: 'node', realtime: true, worker: testWorker({ extraRunMs: 400 }) });
    const L = r.latencySamples;
    expect(r.worklet.underrunQuanta).toBeGreaterThan(10);
    expect(r.worklet.dryFallbackQuanta).toBeGreaterThan(10);
    for (const k of impulses) {
      const win = r.mix[0].subarray(k + L - 2000, k + L + 2000);
      expect(argmaxAbs(win) + k + L - 2000).toBe(k + L);
      expect(r.mix[0][k + L]).toBeCloseTo(0.8, 5);
    }
    // Stems that came late were dropped, not played late.
    expect(r.worklet.framesSkipped + r.worklet.skipDebtFrames).toBeGreaterThan(0);
  });
});

describe('headless stream, low-latency mode', () => {
  it('declares hop + lookahead + margin, and equals the offline low-latency stream exactly', async () => {
    const bytes = makeDemucsLayoutModel({ waveGains, waveRamp: true });
    const length = 30000;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 5).audio };
    const hop = 2048;
    const lookahead = 2500;
    const r = await runHeadlessStream(audio, bytes, { runtime: 'node', mode: 'low-latency', hopFrames: hop, lookaheadFrames: lookahead });
    const L = r.latencySamples;
    expect(L).toBe(lowLatencyLatency(hop, lookahead));
    expect(L).toBe(hop + lookahead + hop + 640);
    const model = await loadModel(bytes);
    const sep = new StreamSeparator(model, { lowLatency: { hop, lookahead }, length });
    const rows = Array.from({ length: 8 }, () => new Float32Array(length));
    for (let fed = 0; fed < length; fed += 128) {
      sep.push(audio.channels, Math.min(128, length - fed), fed);
      while (await sep.step()) sep.take(rows, length, sep.framesOut);
    }
    while (await sep.step()) sep.take(rows, length, sep.framesOut);
    sep.take(rows, length, sep.framesOut);
    expect(sep.framesOut).toBe(length);
    await model.dispose();
    r.sources.forEach((s, k) => {
      for (let c = 0; c < 2; c++) {
        let err = 0;
        for (let t = RAMP; t < length; t++) err = Math.max(err, Math.abs(r.stems[s][c][t + L] - rows[k * 2 + c][t]));
        expect(err).toBe(0);
      }
    });
    expect(r.worklet.underrunQuanta).toBe(0);
  });
});

describe('headless stream, track mode', () => {
  it("the browser's path (TrackRenderer + TrackPlayerCore): latency 0, normalised like separate() after the fade-in, and a mute acts within a quantum plus the ramp", async () => {
    const bytes = makeDemucsLayoutModel({ waveGains, waveRamp: true });
    const length = 40000;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 6).audio };
    audio.channels[1].forEach((v, i) => (audio.channels[1][i] = v + 0.05)); // a DC offset, so normalisation shows
    const muteAt = 25600; // a quantum boundary
    let muted = false;
    const r = await runHeadlessStream(audio, bytes, {
      runtime: 'node',
      track: true,
      beforeQuantum: (n, state) => {
        if (n === muteAt) { setStemMute(state, 3, true); muted = true; }
      },
    });
    expect(muted).toBe(true);
    const L = r.latencySamples;
    expect(L).toBe(0);
    // Played from 0: the transport fades in over the ramp, so the first frames are quieter, not equal.
    expect(Math.abs(r.stems.drums[0][1])).toBeLessThan(Math.abs(r.stems.drums[0][RAMP + 1]) + 1e-9);
    const model = await loadModel(bytes);
    const ref = await separate(audio, model); // track normalisation on, as in track mode
    await model.dispose();
    for (const s of ['drums', 'bass', 'other']) {
      for (let c = 0; c < 2; c++) {
        let err = 0;
        for (let t = RAMP; t < length; t++) err = Math.max(err, Math.abs(r.stems[s][c][t + L] - ref.stems[s][c][t]));
        expect(err).toBe(0);
      }
    }
    // Vocals: exact until the mute, silent from one quantum plus the 512-frame ramp after it.
    const v = r.stems.vocals[0];
    let before = 0;
    for (let t = RAMP; t + L < muteAt; t++) before = Math.max(before, Math.abs(v[t + L] - ref.stems.vocals[0][t]));
    expect(before).toBe(0);
    expect(v.subarray(muteAt + 128 + RAMP, length + L).every((x) => x === 0)).toBe(true);
    expect(v.subarray(muteAt - 512, muteAt).some((x) => x !== 0)).toBe(true);
    expect(r.worklet.underrunQuanta).toBe(0);
  });
});

describe('headless stream, track mode in real time', () => {
  it('pre-rolls until the worker is ahead, then plays with no underrun', async () => {
    const bytes = makeDemucsLayoutModel();
    const length = 44100;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 2).audio };
    // Its wall time against the target is measured by `node dist/bench/timings.js`.
    const r = await runHeadlessStream(audio, bytes, { runtime: 'node', track: true, realtime: true });
    expect(r.latencySamples).toBe(0);
    expect(r.worklet.underrunQuanta).toBe(0);
    expect(r.worker.framesOut).toBe(length);
    expect(r.mix[0].length).toBe(length);
  });
});
