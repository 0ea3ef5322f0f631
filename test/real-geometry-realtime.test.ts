/**
 * The real-time engine with the real geometry (the stand-in model of
 * makeRealGeometryStandIn: htdemucs.onnx's segment, rings and latency,
 * negligible compute), paced to the wall clock: the capture ring drained while
 * a slow asynchronous run is in flight, and catching up after a minute slower
 * than real time. Wall-clock bound (about two minutes): in the `real` tier. The
 * same catch-up rules on a simulated clock, in seconds: test/catch-up.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { runHeadlessStream, type HeadlessStreamOptions } from '../src/node/node-harness.js';
import { testWorker } from './fixtures/worker-faults.js';
import { qualityLatency } from '../src/engine/host/latency.js';
import { noiseInput } from '../src/model/parity.js';
import { segmentStride } from '../src/separate/segmentation.js';
import { makeRealGeometryStandIn, REAL_SEGMENT } from './fixtures/tiny-models.js';
import { maxStreamDiff, offlineRows } from './fixtures/stream-offline.js';

const RATE = 44100;
const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

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
    expect(maxStreamDiff(r, await offlineRows(bytes, audio, {}), length)).toBe(0);
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
