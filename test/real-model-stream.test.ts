/**
 * The real-time engine on a song through live quality mode, low-latency mode
 * (hop 2 s, lookahead 2 s) and track mode, as fast as possible (the clock waits
 * for the worker instead of underrunning), each against its offline result
 * shifted by latencySamples. The input is the bundled demo clip tiled (9 s
 * tiles; the model's 7.8 s segments never line up with them, so every job sees
 * different music). Length and network are paid for apart:
 * - the length: 3 min 9 s (21 tiles) through the stand-in with htdemucs.onnx's
 *   exact geometry (real segment, rings, history and latency; negligible
 *   compute): bit for bit the offline result;
 * - the network: the real model on 13.5 s (1.5 tiles: 3 segments in quality
 *   and track mode, 7 jobs in low-latency mode, every one compared) at the dB
 *   floor against the offline result.
 * The figures are printed for docs/realtime.md.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AudioData } from '../src/audio/types.js';
import { defaultModelPath, loadModel, type SeparationModel } from '../src/model/model.js';
import { readSegment, separate } from '../src/separate/separate.js';
import { SegmentRunner } from '../src/separate/segment-runner.js';
import { planLowLatency, segmentStride } from '../src/separate/segmentation.js';
import { IDENTITY_STATS } from '../src/separate/normalize.js';
import { qualityLatency } from '../src/engine/host/latency.js';
import { runHeadlessStream, type HeadlessStreamOptions, type HeadlessStreamResult } from '../src/node/node-harness.js';
import { sdr } from './reference/sdr.js';
import { tiled } from './fixtures/long-inputs.js';
import { readClipMixture } from './fixtures/demo-clip.js';
import { makeRealGeometryStandIn, REAL_SEGMENT } from './fixtures/tiny-models.js';
import { RAMP, maxStreamDiff, offlineRows } from './fixtures/stream-offline.js';

const RATE = 44100;
const MIN_DB = 90;
const HOP = 2 * RATE;
const LOOKAHEAD = 2 * RATE;
const MODES: [string, HeadlessStreamOptions][] = [
  ['live quality', {}],
  ['live low-latency', { mode: 'low-latency', hopFrames: HOP, lookaheadFrames: LOOKAHEAD }],
  ['track', { track: true }],
];

/** SDR of each stem of the stream (shifted back by its latency) against the reference, past the fade-in. */
function parity(r: HeadlessStreamResult, ref: Record<string, Float32Array[]>, length: number): Record<string, number> {
  const L = r.latencySamples;
  const out: Record<string, number> = {};
  for (const s of r.sources) {
    out[s] = sdr(ref[s].map((ch) => ch.subarray(RAMP, length)), r.stems[s].map((ch) => ch.subarray(RAMP + L, length + L)));
  }
  return out;
}

function report(label: string, r: HeadlessStreamResult, length: number, result: string): void {
  const runs = r.segmentLog.map((e) => e.runMs).sort((a, b) => a - b);
  const median = runs[Math.floor(runs.length / 2)] ?? 0;
  console.log(
    `${label}: ${(length / RATE).toFixed(1)} s in ${(r.wallMs / 1000).toFixed(0)} s, latency ${r.latencySamples} frames, ` +
      `${r.worker.segments} segments (session.run median ${median.toFixed(0)} ms), underruns ${r.worklet.underrunQuanta}, ` +
      `input dropped ${r.worklet.inputFramesDropped}, rings ${r.buffers.inputRingFrames}/${r.buffers.stemRingFrames} frames; ${result}`,
  );
}

/** Every frame out, nothing underrun or dropped, every stem sample finite. */
function expectClean(r: HeadlessStreamResult, length: number): void {
  expect(r.worker.framesOut).toBe(length);
  expect(r.worklet.underrunQuanta).toBe(0);
  expect(r.worklet.inputFramesDropped).toBe(0);
  for (const s of r.sources) {
    for (const ch of r.stems[s]) expect(ch.every(Number.isFinite)).toBe(true);
  }
}

describe('the length: stand-in with the real geometry, 3 min 9 s, streamed as fast as possible', () => {
  const bytes = makeRealGeometryStandIn({ waveGains: [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]], waveRamp: true });
  let song: AudioData;
  let length: number;

  beforeAll(() => {
    song = tiled(readClipMixture(), 21);
    length = song.channels[0].length;
    expect(length / RATE).toBeGreaterThanOrEqual(180);
  });

  for (const [label, options] of MODES) {
    it(`${label}: finishes, no underrun, nothing dropped, bit for bit the offline result shifted by latencySamples`, async () => {
      const r = await runHeadlessStream(song, bytes, { runtime: 'node', ...options });
      if (!options.mode && !options.track) expect(r.latencySamples).toBe(qualityLatency(REAL_SEGMENT, 0.25));
      if (!options.track) expect(r.buffers.inputRingFrames).toBeGreaterThanOrEqual(r.latencySamples);
      const diff = maxStreamDiff(r, await offlineRows(bytes, song, options), length);
      report(`stand-in, ${label}`, r, length, `max |stream − offline| ${diff}`);
      expectClean(r, length);
      expect(diff).toBe(0);
    });
  }
});

describe('the network: real model (htdemucs.onnx), 13.5 s, streamed as fast as possible', () => {
  let bytes: Uint8Array;
  let model: SeparationModel;
  let song: AudioData;
  let length: number;

  beforeAll(async () => {
    const path = await defaultModelPath();
    bytes = new Uint8Array(readFileSync(path));
    model = await loadModel(bytes, { runtime: 'node' });
    // 1.5 tiles: more than two strides, so three segments (two strides and a bit would do).
    const two = tiled(readClipMixture(), 2);
    length = (two.channels[0].length * 3) / 4;
    song = { sampleRate: two.sampleRate, channels: two.channels.map((ch) => ch.slice(0, length)) };
    expect(length).toBeGreaterThan(2 * segmentStride(REAL_SEGMENT, 0.25));
    expect(length / RATE).toBeLessThanOrEqual(60);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  function expectParity(r: HeadlessStreamResult, db: Record<string, number>): void {
    expectClean(r, length);
    expect(r.worker.segments).toBeGreaterThanOrEqual(3);
    for (const v of Object.values(db)) expect(v).toBeGreaterThanOrEqual(MIN_DB);
  }
  const dbLine = (db: Record<string, number>) => `parity ${Object.entries(db).map(([s, v]) => `${s} ${v.toFixed(1)}`).join(', ')} dB`;

  it('live, quality mode: equals separate({ normalize: false }) shifted by latencySamples', async () => {
    const r = await runHeadlessStream(song, bytes, { runtime: 'node' });
    expect(r.latencySamples).toBe(343980 + 257985);
    const ref = await separate(song, model, { normalize: false });
    const db = parity(r, ref.stems, length);
    report('real model, live quality', r, length, dbLine(db));
    expectParity(r, db);
  });

  it('live, low-latency mode (hop 2 s, lookahead 2 s): equals the offline low-latency jobs shifted by latencySamples', async () => {
    const r = await runHeadlessStream(song, bytes, { runtime: 'node', mode: 'low-latency', hopFrames: HOP, lookaheadFrames: LOOKAHEAD });
    // The offline result of the same jobs. Low-latency jobs do not overlap (job k
    // alone makes frames [k·hop, (k+1)·hop)), so each job, run on its own, gives
    // the exact reference for its frames.
    const runner = new SegmentRunner(model);
    const ref: Record<string, Float32Array[]> = {};
    for (const s of r.sources) ref[s] = [new Float32Array(length), new Float32Array(length)];
    const plan = planLowLatency(length, model.info.segmentSamples, HOP, LOOKAHEAD);
    expect(plan.jobs.length).toBeGreaterThanOrEqual(3);
    for (const job of plan.jobs) {
      readSegment(song, job.readStart, runner.input, IDENTITY_STATS);
      await runner.run();
      r.sources.forEach((s, i) => {
        for (let c = 0; c < 2; c++) ref[s][c].set(runner.output[i * 2 + c].subarray(job.trim, job.trim + job.length), job.start);
      });
    }
    const db = parity(r, ref, length);
    report(`real model, live low-latency (all ${plan.jobs.length} jobs compared)`, r, length, dbLine(db));
    expectParity(r, db);
  });

  it('track mode: equals separate() (track normalisation) shifted by latencySamples', async () => {
    const r = await runHeadlessStream(song, bytes, { runtime: 'node', track: true });
    const ref = await separate(song, model);
    const db = parity(r, ref.stems, length);
    report('real model, track', r, length, dbLine(db));
    expectParity(r, db);
  });
});
