/**
 * The real-time engine with real sizes: the stand-in model has htdemucs.onnx's
 * exact geometry (segment 343 980, four stems, stereo; makeRealGeometryStandIn)
 * and negligible compute, so rings, segments and latencies are the real ones.
 * Also: the as-fast-as-possible clock over a matrix of geometries and lengths
 * (it must never deadlock). Paced to the wall clock (input drained during a
 * run, catching up after a stretch slower than real time):
 * test/real-geometry-realtime.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { runHeadlessStream, type HeadlessStreamOptions } from '../src/node/node-harness.js';
import { liveBufferSizes } from '../src/engine/host/ring-sizes.js';
import { qualityLatency } from '../src/engine/host/latency.js';
import { noiseInput } from '../src/model/parity.js';
import { segmentStride } from '../src/separate/segmentation.js';
import { makeDemucsLayoutModel, makeRealGeometryStandIn, REAL_SEGMENT } from './fixtures/tiny-models.js';
import { maxStreamDiff, offlineRows } from './fixtures/stream-offline.js';

const RATE = 44100;
const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

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
      expect(maxStreamDiff(r, await offlineRows(bytes, audio, options), length)).toBe(0);
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

  // 20 s: the length that hung before the rings were sized from the geometry. A
  // song's length (3 min 9 s) in the three modes: test/real-model-stream.test.ts.
  const seconds = 20;
  for (const options of [{}, { mode: 'low-latency', hopFrames: 2 * RATE, lookaheadFrames: 2 * RATE }, { track: true }] as HeadlessStreamOptions[]) {
    it(`${seconds} s, ${options.mode ?? (options.track ? 'track' : 'quality')}: finishes, no underrun, bit for bit the offline result`, async () => {
      const length = seconds * RATE + 311;
      const audio = { sampleRate: RATE, channels: noiseInput(2, length, seconds).audio };
      const r = await runHeadlessStream(audio, bytes, { runtime: 'node', ...options });
      expect(r.worker.framesOut).toBe(length);
      expect(r.worklet.underrunQuanta).toBe(0);
      expect(r.worklet.inputFramesDropped).toBe(0);
      if (!options.track) expect(r.buffers.inputRingFrames).toBeGreaterThanOrEqual(r.latencySamples);
      expect(maxStreamDiff(r, await offlineRows(bytes, audio, options), length)).toBe(0);
    });
  }
});
