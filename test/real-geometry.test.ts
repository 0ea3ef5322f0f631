/**
 * The real-time engine with real sizes: the stand-in model has htdemucs.onnx's
 * exact geometry (segment 343 980, four stems, stereo; makeRealGeometryStandIn)
 * and negligible compute, so rings, segments and latencies are the real ones.
 * Also: the as-fast-as-possible clock over a matrix of geometries and lengths
 * (it must never deadlock), input drained during a run, and catching up after
 * a stretch slower than real time.
 */
import { describe, expect, it } from 'vitest';
import { runHeadlessStream, type HeadlessStreamOptions, type HeadlessStreamResult } from '../src/node/node-harness.js';
import { testWorker } from './fixtures/worker-faults.js';
import { StreamSeparator } from '../src/engine/worker/stream-separator.js';
import { liveBufferSizes } from '../src/engine/host/ring-sizes.js';
import { qualityLatency } from '../src/engine/host/latency.js';
import { loadModel } from '../src/model/model.js';
import { noiseInput } from '../src/model/parity.js';
import { separate } from '../src/separate/separate.js';
import { segmentStride } from '../src/separate/segmentation.js';
import type { AudioData } from '../src/audio/types.js';
import { makeDemucsLayoutModel, makeRealGeometryStandIn, REAL_SEGMENT } from './fixtures/tiny-models.js';

const RATE = 44100;
const RAMP = 512;
const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

/** The offline result a stream must equal: separate() for quality mode, the same low-latency jobs run in order otherwise. */
async function offline(bytes: Uint8Array, audio: AudioData, options: HeadlessStreamOptions): Promise<Float32Array[]> {
  const model = await loadModel(bytes, { runtime: 'node' });
  try {
    const length = audio.channels[0].length;
    if (options.mode === 'low-latency') {
      const sep = new StreamSeparator(model, { lowLatency: { hop: options.hopFrames!, lookahead: options.lookaheadFrames! }, length, historyFrames: length });
      const rows = Array.from({ length: sep.rows }, () => new Float32Array(length));
      sep.push(audio.channels, length);
      while (await sep.step()) sep.take(rows, length, sep.framesOut);
      sep.take(rows, length, sep.framesOut);
      return rows;
    }
    const ref = await separate(audio, model, { normalize: options.track === true, overlap: options.overlap });
    return ref.sources.flatMap((s) => ref.stems[s]);
  } finally {
    await model.dispose();
  }
}

/** Largest |stream − offline| over every stem channel, the stream shifted back by its latency, past the fade-in. */
function maxDiff(r: HeadlessStreamResult, rows: Float32Array[], length: number): number {
  const L = r.latencySamples;
  let err = 0;
  r.sources.forEach((s, k) => {
    const C = r.stems[s].length;
    r.stems[s].forEach((ch, c) => {
      const ref = rows[k * C + c];
      for (let t = RAMP; t < length; t++) err = Math.max(err, Math.abs(ch[t + L] - ref[t]));
    });
  });
  return err;
}

describe('as fast as possible: no deadlock, for any input length and geometry', () => {
  // Segment lengths, overlaps, modes and input lengths around every boundary
  // (shorter than a quantum, a segment ± 1, several strides and a remainder).
  const cases: { N: number; length: (N: number) => number; options: HeadlessStreamOptions }[] = [
    { N: 9426, length: () => 1, options: {} },
    { N: 9426, length: () => 127, options: {} },
    { N: 9426, length: (N) => N - 1, options: {} },
    { N: 9426, length: (N) => N, options: {} },
    { N: 9426, length: (N) => N + 1, options: {} },
    { N: 9426, length: (N) => 7 * N + 333, options: {} },
    { N: 4100, length: (N) => 20 * N + 5, options: { overlap: 0 } },
    { N: 4100, length: (N) => 9 * N + 77, options: { overlap: 0.5 } },
    { N: 20000, length: (N) => 6 * N + 1, options: { overlap: 0.9 } },
    { N: 20000, length: (N) => 5 * N, options: { computeMarginFrames: 640 } },
    { N: 9426, length: (N) => 6 * N + 99, options: { mode: 'low-latency', hopFrames: 1000, lookaheadFrames: 3000 } },
    { N: 9426, length: (N) => 4 * N, options: { mode: 'low-latency', hopFrames: 9426, lookaheadFrames: 0 } },
    { N: 9426, length: (N) => 6 * N + 7, options: { track: true } },
    // A capture ring far smaller than the latency: the clock waits for room instead of dropping input.
    { N: 9426, length: (N) => 10 * N + 3, options: { inputRingFrames: 512 } },
  ];
  for (const { N, length: lengthOf, options } of cases) {
    const length = lengthOf(N);
    it(`N ${N}, ${length} frames, ${JSON.stringify(options)}: finishes, nothing dropped, equals the offline result`, async () => {
      const bytes = makeDemucsLayoutModel({ segmentSamples: N, waveGains, waveRamp: true });
      const audio = { sampleRate: RATE, channels: noiseInput(2, length, N + length).audio };
      const r = await runHeadlessStream(audio, bytes, { runtime: 'node', ...options });
      expect(r.worker.framesOut).toBe(length);
      expect(r.worklet.underrunQuanta).toBe(0);
      expect(r.worklet.inputFramesDropped).toBe(0);
      expect(r.worker.segmentsSkipped).toBe(0);
      expect(maxDiff(r, await offline(bytes, audio, options), length)).toBe(0);
    });
  }
});

describe('the real geometry (stand-in model), as fast as possible', () => {
  const bytes = makeRealGeometryStandIn({ waveGains, waveRamp: true });
  const stride = segmentStride(REAL_SEGMENT, 0.25);

  it('sizes every buffer from the geometry: rings of the latency and a margin, history of latency + segment + stride', () => {
    const L = qualityLatency(REAL_SEGMENT, 0.25);
    expect(L).toBe(601965);
    const sizes = liveBufferSizes({ latencyFrames: L, segmentFrames: REAL_SEGMENT, strideFrames: stride, channels: 2, sources: 4 });
    expect(sizes.inputRingFrames).toBeGreaterThanOrEqual(L);
    expect(sizes.stemRingFrames).toBeGreaterThanOrEqual(L);
    expect(sizes.historyFrames).toBeGreaterThanOrEqual(L + REAL_SEGMENT + stride);
    for (const v of Object.values(sizes)) expect(v % 128).toBe(0);
  });

  // 20 s: the length that hung before the rings were sized from the geometry; 3 min 9 s: a song.
  for (const seconds of [20, 189]) {
    for (const options of [{}, { mode: 'low-latency', hopFrames: 2 * RATE, lookaheadFrames: 2 * RATE }, { track: true }] as HeadlessStreamOptions[]) {
      it(`${seconds} s, ${options.mode ?? (options.track ? 'track' : 'quality')}: finishes, no underrun, bit for bit the offline result`, async () => {
        const length = seconds * RATE + 311;
        const audio = { sampleRate: RATE, channels: noiseInput(2, length, seconds).audio };
        const r = await runHeadlessStream(audio, bytes, { runtime: 'node', ...options });
        expect(r.worker.framesOut).toBe(length);
        expect(r.worklet.underrunQuanta).toBe(0);
        expect(r.worklet.inputFramesDropped).toBe(0);
        if (!options.track) expect(r.buffers.inputRingFrames).toBeGreaterThanOrEqual(r.latencySamples);
        expect(maxDiff(r, await offline(bytes, audio, options), length)).toBe(0);
      });
    }
  }
});

describe('real time with the real geometry', () => {
  const stride = segmentStride(REAL_SEGMENT, 0.25);
  const strideMs = (stride / RATE) * 1000;

  it('drains the capture ring while a run is in flight: a 1 s ring loses nothing across 3 s runs', async () => {
    // The slow-down is an asynchronous wait before each run, as an asynchronous
    // backend (WebGPU) leaves the worker's thread free during session.run.
    const bytes = makeRealGeometryStandIn({ waveGains, waveRamp: true });
    const length = 10 * RATE;
    const audio = { sampleRate: RATE, channels: noiseInput(2, length, 77).audio };
    const options: HeadlessStreamOptions = { runtime: 'node', realtime: true, worker: testWorker({ extraRunMs: 3000 }), inputRingFrames: RATE };
    const r = await runHeadlessStream(audio, bytes, options);
    expect(r.buffers.inputRingFrames).toBe(RATE);
    expect(r.worklet.inputFramesDropped).toBe(0);
    expect(r.worklet.underrunQuanta).toBe(0);
    expect(r.worker.segments).toBeGreaterThanOrEqual(2);
    expect(maxDiff(r, await offline(bytes, audio, {}), length)).toBe(0);
  });

  it('slower than real time for a minute (1.5 × the stride), then faster (0.5 ×): latency kept, dry where late, skipped jobs counted, wet again within two strides', async () => {
    const bytes = makeRealGeometryStandIn();
    const length = 100 * RATE;
    // Low noise with a click every second at frames that are not multiples of a quantum.
    const clicks: number[] = [];
    for (let t = RATE + 37; t < length - RATE; t += RATE) clicks.push(t);
    const noise = noiseInput(2, length, 5).audio;
    const channels = noise.map((ch) => {
      const x = ch.map((v) => v * 0.01);
      for (const t of clicks) x[t] = 0.9;
      return x;
    });
    const r = await runHeadlessStream({ sampleRate: RATE, channels }, bytes, {
      runtime: 'node',
      realtime: true,
      keepOutput: false,
      recordWet: true,
      watchFrames: clicks.flatMap((t) => [t - 1, t, t + 1]),
      worker: testWorker({ extraRunMs: [{ ms: 1.5 * strideMs, forMs: 60_000 }, { ms: 0.5 * strideMs }] }),
    });
    const L = r.latencySamples;
    expect(L).toBe(qualityLatency(REAL_SEGMENT, 0.25));
    // Latency held to the sample all along, wet or dry: each click at +L, its neighbours noise.
    for (let k = 0; k < clicks.length; k++) {
      expect(Math.abs(r.watched[3 * k + 1] - 0.9)).toBeLessThan(1e-3);
      expect(Math.abs(r.watched[3 * k])).toBeLessThan(0.05);
      expect(Math.abs(r.watched[3 * k + 2])).toBeLessThan(0.05);
    }
    // Slow: jobs skipped (their stems would have been late), their quanta played dry.
    expect(r.worker.segmentsSkipped).toBeGreaterThan(0);
    expect(r.worklet.underrunQuanta).toBeGreaterThan(0);
    expect(r.worklet.inputFramesDropped).toBe(0);
    // The speed-up: the first run faster than a stride began `runMs` before it was reported.
    const fast = r.segmentLog.find((e) => e.runMs < strideMs);
    expect(fast).toBeDefined();
    const speedUp = fast!.atFrame - Math.round((fast!.runMs / 1000) * RATE);
    // Wet again: from some quantum on, every quantum fully wet to the end.
    const q = r.wet;
    let resume = q.length;
    while (resume > 0 && q[resume - 1] === 1) resume--;
    const resumeFrame = resume * 128;
    const wetShare = q.reduce((a, w) => a + (w === 1 ? 1 : 0), 0) / q.length;
    console.log(
      `catch-up: latency ${L}, ${r.worker.segments} jobs run, ${r.worker.segmentsSkipped} skipped, ${r.worklet.underrunQuanta} dry quanta, ` +
        `speed-up at output frame ${speedUp} (${(speedUp / RATE).toFixed(1)} s), wet from ${resumeFrame} (${((resumeFrame - speedUp) / stride).toFixed(2)} strides later), ` +
        `${(wetShare * 100).toFixed(1)} % of quanta wet`,
    );
    expect(resumeFrame - speedUp).toBeLessThanOrEqual(2 * stride);
    expect(resumeFrame).toBeLessThan(length); // and it stays wet to the end of the input and beyond
  });
});
