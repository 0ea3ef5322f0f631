/**
 * The segmentation and overlap-add stages against a whole-buffer reference
 * written here from Demucs' apply_model (split=True, shifts), in float64.
 */
import { describe, expect, it } from 'vitest';
import { OverlapAdd } from '../src/separate/overlap-add.js';
import { planSegments, segmentStride, segmentWeights } from '../src/separate/segmentation.js';
import { referenceApplyModel } from './reference/apply-model.js';

/** A track whose samples encode their position, so segment outputs depend on where they read. */
function track(length: number): Float32Array[] {
  return [Float32Array.from({ length }, (_, t) => Math.sin(0.0137 * t) + 0.25 * Math.cos(0.0011 * t))];
}

/** A fake model: output depends on the segment's content and on the position in it. */
function fakeModel(rows: number) {
  return (segment: ArrayLike<number>[]): Float64Array[] =>
    Array.from({ length: rows }, (_, r) => {
      const x = segment[0];
      const out = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = Math.sin(3 * x[i] + r) + 0.001 * i;
      return out;
    });
}

/** Track samples [from, from + n), zeros outside the track. */
function slice(ch: Float32Array, from: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) if (from + i >= 0 && from + i < ch.length) out[i] = ch[from + i];
  return out;
}

function reference(length: number, segment: number, overlap: number, rows: number, shiftOffsets: number[], maxShift: number): Float64Array[] {
  return referenceApplyModel(track(length), fakeModel(rows), { segment, overlap, rows, shiftOffsets, maxShift });
}

function runStreaming(length: number, segment: number, overlap: number, rows: number, shiftOffsets: number[], maxShift: number, takeChunk: number) {
  const input = track(length);
  const plan = planSegments(length, segment, overlap, shiftOffsets, maxShift);
  const ola = new OverlapAdd(plan, rows, segmentWeights(segment));
  const out = Array.from({ length: rows }, () => new Float32Array(length));
  const block = Array.from({ length: rows }, () => new Float32Array(takeChunk));
  const readyOrder: number[] = [];
  for (const job of plan.jobs) {
    const outputs = fakeModel(rows)([slice(input[0], job.readStart, segment)]);
    ola.add(job, outputs);
    for (;;) {
      const start = ola.taken;
      const n = ola.take(block, 0, takeChunk);
      if (n === 0) break;
      readyOrder.push(start);
      for (let r = 0; r < rows; r++) out[r].set(block[r].subarray(0, n), start);
    }
  }
  return { out, plan, taken: ola.taken, readyOrder };
}

describe('segment weights', () => {
  it("are Demucs' triangle, divided by the max", () => {
    expect(Array.from(segmentWeights(6))).toEqual([1, 2, 3, 3, 2, 1].map((v) => Math.fround(v / 3)));
    expect(Array.from(segmentWeights(7))).toEqual([1, 2, 3, 4, 3, 2, 1].map((v) => Math.fround(v / 4)));
    const w = segmentWeights(343980);
    expect(w.length).toBe(343980);
    expect(w[0]).toBeCloseTo(1 / 171990, 12);
    expect(w[171989]).toBe(1);
    expect(w[171990]).toBe(1);
    expect(w[343979]).toBeCloseTo(1 / 171990, 12);
  });

  it("stride is int((1 - overlap) * segment), and bad overlaps are refused", () => {
    expect(segmentStride(343980, 0.25)).toBe(257985);
    expect(segmentStride(1000, 0)).toBe(1000);
    expect(() => segmentStride(1000, 1)).toThrow(/overlap/);
    expect(() => segmentStride(1000, -0.1)).toThrow(/overlap/);
    expect(() => segmentStride(1000, Number.NaN)).toThrow(/overlap/);
  });
});

describe('overlap-add stage against the whole-buffer apply_model', () => {
  const cases = [
    { name: 'several segments, short last one', length: 5000, segment: 1024, overlap: 0.25 },
    { name: 'track shorter than a segment', length: 700, segment: 1024, overlap: 0.25 },
    { name: 'exact multiple of the stride', length: 768 * 4, segment: 1024, overlap: 0.25 },
    { name: 'no overlap', length: 4000, segment: 1000, overlap: 0 },
    { name: 'large overlap', length: 3001, segment: 512, overlap: 0.9 },
    { name: 'odd segment', length: 2999, segment: 777, overlap: 0.5 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const rows = 3;
      const ref = reference(c.length, c.segment, c.overlap, rows, [], 0);
      const { out, taken } = runStreaming(c.length, c.segment, c.overlap, rows, [], 0, 333);
      expect(taken).toBe(c.length);
      for (let r = 0; r < rows; r++) {
        let err = 0;
        for (let i = 0; i < c.length; i++) err = Math.max(err, Math.abs(out[r][i] - ref[r][i]));
        expect(err).toBeLessThan(2e-6);
      }
    });
  }

  it('matches with shifts (random offsets, passes interleaved by position)', () => {
    const length = 6000;
    const segment = 1024;
    const maxShift = 400;
    const offsets = [0, 123, 400, 77];
    const ref = reference(length, segment, 0.25, 2, offsets, maxShift);
    const { out, taken } = runStreaming(length, segment, 0.25, 2, offsets, maxShift, 4096);
    expect(taken).toBe(length);
    for (let r = 0; r < 2; r++) {
      let err = 0;
      for (let i = 0; i < length; i++) err = Math.max(err, Math.abs(out[r][i] - ref[r][i]));
      expect(err).toBeLessThan(2e-6);
    }
  });

  it('with maxShift larger than the stride', () => {
    const offsets = [0, 900, 450];
    const ref = reference(3000, 400, 0.25, 1, offsets, 1000);
    const { out } = runStreaming(3000, 400, 0.25, 1, offsets, 1000, 100);
    let err = 0;
    for (let i = 0; i < 3000; i++) err = Math.max(err, Math.abs(out[0][i] - ref[0][i]));
    expect(err).toBeLessThan(2e-6);
  });

  it('hands output out in track order, before the last segment has run', () => {
    const { readyOrder, plan } = runStreaming(20000, 1024, 0.25, 1, [], 0, 256);
    expect(readyOrder).toEqual([...readyOrder].sort((a, b) => a - b));
    // The first final samples are out long before the plan is done.
    expect(plan.jobs.length).toBeGreaterThan(20);
    expect(readyOrder[0]).toBe(0);
  });

  it('applies scale and bias (track normalisation undone)', () => {
    const plan = planSegments(100, 64, 0.25);
    const ola = new OverlapAdd(plan, 1, segmentWeights(64));
    for (const job of plan.jobs) ola.add(job, [new Float64Array(64).fill(2)]);
    const dst = [new Float32Array(100)];
    expect(ola.take(dst, 0, 1000, 3, 0.5)).toBe(100);
    expect(Array.from(dst[0]).every((v) => Math.abs(v - 6.5) < 1e-6)).toBe(true);
  });

  it('refuses a job it cannot hold instead of overwriting', () => {
    const plan = planSegments(10000, 1024, 0.25);
    const ola = new OverlapAdd(plan, 1, segmentWeights(1024));
    const far = { ...plan.jobs[5] };
    expect(() => ola.add(far, [new Float64Array(1024)])).toThrow(/ring/);
  });
});
