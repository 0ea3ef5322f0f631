/** The streaming separation stage gives separate()'s samples, bit for bit, whatever the chunking. */
import { describe, expect, it } from 'vitest';
import { StreamSeparator } from '../src/engine/worker/stream-separator.js';
import { InferenceLoop, type InputPort, type StemPort } from '../src/engine/worker/inference-loop.js';
import { loadModel } from '../src/model/model.js';
import { noiseInput } from '../src/model/parity.js';
import { trackStats } from '../src/separate/normalize.js';
import { separate } from '../src/separate/separate.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { maxAbsDiff } from './reference/compare.js';
import { tinyReference } from './reference/tiny-model.js';

const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

async function stream(sep: StreamSeparator, audio: Float32Array[], chunks: () => number, live: boolean): Promise<Float32Array[]> {
  const length = audio[0].length;
  const out = Array.from({ length: sep.rows }, () => new Float32Array(length));
  const block = Array.from({ length: sep.rows }, () => new Float32Array(sep.segment));
  let fed = 0;
  const drain = () => {
    for (;;) {
      const at = sep.framesOut;
      const n = sep.take(block, sep.segment);
      if (n === 0) return;
      for (let r = 0; r < sep.rows; r++) out[r].set(block[r].subarray(0, n), at);
    }
  };
  while (fed < length) {
    const n = Math.min(chunks(), length - fed);
    sep.push(audio, n, fed);
    fed += n;
    while (await sep.step()) drain();
  }
  if (live) sep.end();
  while (await sep.step()) drain();
  drain();
  expect(sep.framesOut).toBe(length);
  return out;
}

describe('StreamSeparator', () => {
  it('live (length unknown, no normalisation): equals separate(normalize: false) exactly', async () => {
    const model = await loadModel(makeDemucsLayoutModel({ waveGains, waveRamp: true }));
    const audio = noiseInput(2, 47111, 4).audio;
    const ref = await separate({ sampleRate: 44100, channels: audio }, model, { normalize: false });
    let seed = 1;
    const chunks = () => ((seed = (seed * 48271) % 2147483647) % 3000) + 1;
    const ours = await stream(new StreamSeparator(model), audio, chunks, true);
    const refRows = ref.sources.flatMap((s) => ref.stems[s]);
    for (let r = 0; r < 8; r++) expect(maxAbsDiff(ours[r], refRows[r])).toBe(0);
    await model.dispose();
  });

  it('track (length known, normalised like separate()): equals separate() exactly, in render-quantum chunks', async () => {
    const model = await loadModel(makeDemucsLayoutModel({ waveGains, waveRamp: true }));
    const audio = noiseInput(2, 30001, 8).audio;
    audio[0].forEach((v, i) => (audio[0][i] = v + 0.1));
    const track = { sampleRate: 44100, channels: audio };
    const ref = await separate(track, model);
    const ours = await stream(new StreamSeparator(model, { length: 30001, normalization: trackStats(track) }), audio, () => 128, false);
    const refRows = ref.sources.flatMap((s) => ref.stems[s]);
    for (let r = 0; r < 8; r++) expect(maxAbsDiff(ours[r], refRows[r])).toBe(0);
    await model.dispose();
  });

  it('runs a segment only once its input is complete, and says when it can', async () => {
    const model = await loadModel(makeDemucsLayoutModel());
    const sep = new StreamSeparator(model);
    const N = sep.segment;
    const audio = noiseInput(2, N, 1).audio;
    sep.push(audio, N - 1);
    expect(sep.canStep).toBe(false);
    expect(await sep.step()).toBe(false);
    sep.push(audio, 1, N - 1);
    expect(sep.canStep).toBe(true);
    expect(await sep.step()).toBe(true);
    expect(sep.framesReady).toBe(sep.stride);
    await model.dispose();
  });
});

describe('StreamSeparator, low-latency mode', () => {
  it('keeps [k·hop, (k+1)·hop) of a window ending lookahead later: equals the float64 reference', async () => {
    const opts = { waveGains, waveRamp: true };
    const model = await loadModel(makeDemucsLayoutModel(opts));
    const N = model.info.segmentSamples;
    const hop = 2048;
    const lookahead = 3000;
    const length = 20000;
    const audio = noiseInput(2, length, 12).audio;
    const sep = new StreamSeparator(model, { lowLatency: { hop, lookahead } });
    expect(sep.stride).toBe(hop);
    const ours = await stream(sep, audio, () => 128, true);
    const trim = N - lookahead - hop;
    const model64 = tinyReference(opts);
    for (let k = 0; k * hop < length; k++) {
      const start = k * hop;
      const window = audio.map((ch) => Float64Array.from({ length: N }, (_, i) => {
        const t = start - trim + i;
        return t >= 0 && t < length ? ch[t] : 0;
      }));
      const out = model64(window);
      for (let r = 0; r < 8; r++) {
        for (let i = 0; i < Math.min(hop, length - start); i++) {
          expect(Math.abs(ours[r][start + i] - out[r][trim + i])).toBeLessThan(2e-5);
        }
      }
    }
    // Output is final hop + lookahead frames after its input.
    const live = new StreamSeparator(model, { lowLatency: { hop, lookahead } });
    live.push(audio, hop + lookahead - 1);
    expect(live.canStep).toBe(false);
    live.push(audio, 1, hop + lookahead - 1);
    expect(await live.step()).toBe(true);
    expect(live.framesReady).toBe(hop);
    expect(() => new StreamSeparator(model, { lowLatency: { hop: N, lookahead: 1 } })).toThrow(/low-latency mode needs/);
    await model.dispose();
  });
});

describe('InferenceLoop', () => {
  it('stops computing while the stem port is full, and resumes without losing or repeating a frame', async () => {
    const model = await loadModel(makeDemucsLayoutModel({ waveGains, waveRamp: true }));
    const length = 60000;
    const audio = noiseInput(2, length, 21).audio;
    const sep = new StreamSeparator(model, { length });
    let read = 0;
    const input: InputPort = {
      availableFrames: () => length - read,
      readPlanar: (dst, frames) => { const n = Math.min(frames, length - read); for (let c = 0; c < 2; c++) dst[c].set(audio[c].subarray(read, read + n)); read += n; return n; },
    };
    const got = Array.from({ length: 8 }, () => new Float32Array(length));
    let written = 0;
    let room = 0; // the "audio thread" consumes nothing until we say so
    const output: StemPort = {
      spaceFrames: () => room,
      writeRows: (rows, frames, offset) => { const n = Math.min(frames, room); for (let r = 0; r < 8; r++) got[r].set(rows[r].subarray(offset, offset + n), written); written += n; room -= n; return n; },
      deadlineLead: () => -(2 ** 30), // a consumer that is never behind
      skipFrames: () => 0,
    };
    const loop = new InferenceLoop(sep, input, output, { chunk: 1000 });
    for (let i = 0; i < 50; i++) await loop.pump();
    // Stalled: at most a couple of jobs ran, nothing overflowed.
    expect(loop.stats.segments).toBeLessThanOrEqual(2);
    while (written < length) {
      room += 3000;
      await loop.pump();
    }
    const ref = await separate({ sampleRate: 44100, channels: audio }, model, { normalize: false });
    const refRows = ref.sources.flatMap((s) => ref.stems[s]);
    for (let r = 0; r < 8; r++) expect(maxAbsDiff(got[r], refRows[r])).toBe(0);
    await model.dispose();
  });
});

describe('StreamSeparator, non-finite input', () => {
  it('stores NaN and ±Infinity as 0 and counts them: the stems stay finite and equal those of the input with zeros there', async () => {
    const model = await loadModel(makeDemucsLayoutModel({ waveGains, waveRamp: true }));
    const length = 40000;
    const clean = noiseInput(2, length, 31).audio;
    const dirty = clean.map((ch) => ch.slice());
    dirty[0][1234] = Number.NaN;
    dirty[1][20000] = Number.POSITIVE_INFINITY;
    dirty[0][39999] = Number.NEGATIVE_INFINITY;
    for (const [c, i] of [[0, 1234], [1, 20000], [0, 39999]]) clean[c][i] = 0;
    const sep = new StreamSeparator(model, { length });
    const rows = Array.from({ length: sep.rows }, () => new Float32Array(length));
    for (let fed = 0; fed < length; fed += 1000) {
      sep.push(dirty, Math.min(1000, length - fed), fed);
      while (await sep.step()) sep.take(rows, length, sep.framesOut);
    }
    while (await sep.step()) sep.take(rows, length, sep.framesOut);
    sep.take(rows, length, sep.framesOut);
    expect(sep.nonFiniteSamples).toBe(3);
    const ref = await separate({ sampleRate: 44100, channels: clean }, model, { normalize: false });
    const refRows = ref.sources.flatMap((s) => ref.stems[s]);
    for (let r = 0; r < sep.rows; r++) {
      expect(rows[r].every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(rows[r], refRows[r])).toBe(0);
    }
    await model.dispose();
  });
});
