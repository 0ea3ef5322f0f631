/**
 * The real-time engine on a song-length input with the real model: the
 * bundled demo clip tiled to 3 min 9 s (21 × 9 s; the model's 7.8 s segments
 * never line up with the tiles, so every job sees different music), through
 * live quality mode, low-latency mode (hop 2 s, lookahead 2 s) and track mode,
 * as fast as possible (the clock waits for the worker instead of underrunning).
 * Each is compared with its offline result, shifted by latencySamples.
 *
 * Slow: about 250 runs of the real model (each side of each comparison), 17–35
 * minutes on this project's 2 cores (4–8 s a run). The figures are printed for the README.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AudioData } from '../src/audio/types.js';
import { defaultModelPath, loadModel, type SeparationModel } from '../src/model/model.js';
import { readSegment, separate } from '../src/separate/separate.js';
import { SegmentRunner } from '../src/separate/segment-runner.js';
import { planLowLatency } from '../src/separate/segmentation.js';
import { IDENTITY_STATS } from '../src/separate/normalize.js';
import { runHeadlessStream, type HeadlessStreamResult } from '../src/node/node-harness.js';
import { sdr } from './reference/sdr.js';
import { tiled } from './fixtures/long-inputs.js';
import { readClipMixture } from './fixtures/demo-clip.js';

const TILES = 21;
/** The audio thread fades in from the dry input over its first 512 frames: the only frames left out. */
const RAMP = 512;
const MIN_DB = 90;

/** SDR of each stem of the stream (shifted back by its latency) against the reference, past the fade-in. */
function parity(r: HeadlessStreamResult, ref: Record<string, Float32Array[]>, length: number): Record<string, number> {
  const L = r.latencySamples;
  const out: Record<string, number> = {};
  for (const s of r.sources) {
    out[s] = sdr(ref[s].map((ch) => ch.subarray(RAMP, length)), r.stems[s].map((ch) => ch.subarray(RAMP + L, length + L)));
  }
  return out;
}

function report(label: string, r: HeadlessStreamResult, db: Record<string, number>, length: number): void {
  const runs = r.segmentLog.map((e) => e.runMs).sort((a, b) => a - b);
  const median = runs[Math.floor(runs.length / 2)] ?? 0;
  console.log(
    `${label}: ${(length / 44100).toFixed(1)} s in ${(r.wallMs / 1000).toFixed(0)} s, latency ${r.latencySamples} frames, ` +
      `${r.worker.segments} segments (session.run median ${median.toFixed(0)} ms), underruns ${r.worklet.underrunQuanta}, ` +
      `input dropped ${r.worklet.inputFramesDropped}, rings ${r.buffers.inputRingFrames}/${r.buffers.stemRingFrames} frames; ` +
      `parity ${Object.entries(db).map(([s, v]) => `${s} ${v.toFixed(1)}`).join(', ')} dB`,
  );
}

function expectClean(r: HeadlessStreamResult, length: number, db: Record<string, number>): void {
  expect(r.worker.framesOut).toBe(length);
  expect(r.worklet.underrunQuanta).toBe(0);
  expect(r.worklet.inputFramesDropped).toBe(0);
  for (const v of Object.values(db)) expect(v).toBeGreaterThanOrEqual(MIN_DB);
  for (const s of r.sources) {
    for (const ch of r.stems[s]) expect(ch.every(Number.isFinite)).toBe(true);
  }
}

describe('real model (htdemucs.onnx), 3 min 9 s, streamed as fast as possible', () => {
  let bytes: Uint8Array;
  let model: SeparationModel;
  let song: AudioData;
  let length: number;

  beforeAll(async () => {
    const path = await defaultModelPath();
    bytes = new Uint8Array(readFileSync(path));
    model = await loadModel(bytes, { runtime: 'node' });
    song = tiled(readClipMixture(), TILES);
    length = song.channels[0].length;
    expect(length / song.sampleRate).toBeGreaterThanOrEqual(180);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('live, quality mode: finishes, no underrun, equals separate({ normalize: false }) shifted by latencySamples', async () => {
    const r = await runHeadlessStream(song, bytes, { runtime: 'node' });
    expect(r.latencySamples).toBe(343980 + 257985);
    const ref = await separate(song, model, { normalize: false });
    const db = parity(r, ref.stems, length);
    report('live quality', r, db, length);
    expectClean(r, length, db);
  }, 40 * 60_000);

  it('live, low-latency mode (hop 2 s, lookahead 2 s): finishes, no underrun, equals the offline low-latency jobs shifted by latencySamples', async () => {
    const hop = 2 * 44100;
    const lookahead = 2 * 44100;
    const r = await runHeadlessStream(song, bytes, { runtime: 'node', mode: 'low-latency', hopFrames: hop, lookaheadFrames: lookahead });
    // The offline result of the same jobs. Low-latency jobs do not overlap (job k
    // alone makes frames [k·hop, (k+1)·hop)), so every third job, run on its own,
    // gives the exact reference for its frames: a third of the model runs, and a
    // misaligned ring or lost input would still show in every later sampled job.
    const runner = new SegmentRunner(model);
    const ref: Record<string, Float32Array[]> = {};
    for (const s of r.sources) ref[s] = [new Float32Array(length), new Float32Array(length)];
    const keep = new Uint8Array(length);
    const plan = planLowLatency(length, model.info.segmentSamples, hop, lookahead);
    for (let k = 0; k < plan.jobs.length; k += 3) {
      const job = plan.jobs[k];
      readSegment(song, job.readStart, runner.input, IDENTITY_STATS);
      await runner.run();
      r.sources.forEach((s, i) => {
        for (let c = 0; c < 2; c++) ref[s][c].set(runner.output[i * 2 + c].subarray(job.trim, job.trim + job.length), job.start);
      });
      keep.fill(1, job.start, job.start + job.length);
    }
    const db: Record<string, number> = {};
    const L = r.latencySamples;
    for (const s of r.sources) {
      db[s] = sdr(ref[s].map((ch) => ch.subarray(RAMP, length)), r.stems[s].map((ch) => ch.subarray(RAMP + L, length + L)), (i) => keep[i + RAMP] === 1);
    }
    report('live low-latency (every third job compared)', r, db, length);
    expectClean(r, length, db);
  }, 60 * 60_000);

  it('track mode: finishes, no underrun, equals separate() (track normalisation) shifted by latencySamples', async () => {
    const r = await runHeadlessStream(song, bytes, { runtime: 'node', track: true });
    const ref = await separate(song, model);
    const db = parity(r, ref.stems, length);
    report('track', r, db, length);
    expectClean(r, length, db);
  }, 40 * 60_000);
});
