/**
 * The shared-memory rings (src/realtime/frame-ring.ts, shared-state.ts): FrameRing over ringbuf.js,
 * across a real second thread (test/fixtures/ring-producer-worker.mjs, which uses
 * ringbuf.js directly), with a small capacity that is not a power of two so that
 * the indices wrap hundreds of times. Every frame must arrive once, in order,
 * uncorrupted; skipped and zero-filled frames exactly where they were asked for.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it, onTestFinished } from 'vitest';
import { RingBuffer } from 'ringbuf.js';
import { CTRL, readStats, setStemGain, setStemMute, setStemSolo } from '../src/realtime/control-block.js';
import { DEFAULT_INPUT_RING_FRAMES, DEFAULT_STEM_RING_FRAMES, attachSharedState, createSharedState } from '../src/realtime/shared-state.js';
import { FrameRing } from '../src/realtime/frame-ring.js';

const WORKER_URL = new URL('./fixtures/ring-producer-worker.mjs', import.meta.url);

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function frameRingSab(frames: number, width: number): SharedArrayBuffer {
  return RingBuffer.getStorageForCapacity(frames * width, Float32Array);
}

interface WorkerResult {
  done: boolean;
  pushes?: number;
  frames?: number;
  ranges?: [number, number, string][];
}

function startWorker(workerData: Record<string, unknown>): { worker: Worker; result: Promise<WorkerResult> } {
  const worker = new Worker(WORKER_URL, { workerData });
  const result = new Promise<WorkerResult>((resolve, reject) => {
    worker.once('message', (m: WorkerResult) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
    });
  });
  return { worker, result };
}

const value = (frame: number, c: number) => frame + c / 8;

describe('FrameRing, single thread', () => {
  it('moves whole frames, reports partial writes, wraps, reads planar', () => {
    const width = 3;
    const ring = new FrameRing(frameRingSab(10, width), width);
    expect(ring.frames).toBe(10);
    expect(ring.availableWrite()).toBe(10);
    const src = new Float32Array(16 * width);
    for (let f = 0; f < 16; f++) for (let c = 0; c < width; c++) src[f * width + c] = value(f, c);
    // 7 of 16 frames from frame 2 of src, then only 3 more fit.
    expect(ring.write(src, 7, 2)).toBe(7);
    expect(ring.write(src, 7, 9)).toBe(3);
    expect(ring.write(src, 1, 0)).toBe(0);
    expect(ring.availableRead()).toBe(10);
    const dst = new Float32Array(12 * width).fill(-1);
    expect(ring.read(dst, 4, 1)).toBe(4); // into frames 1..4 of dst
    expect(Array.from(dst.subarray(0, 6 * width))).toEqual(
      [-1, -1, -1, ...[2, 3, 4, 5].flatMap((f) => [0, 1, 2].map((c) => value(f, c))), -1, -1, -1],
    );
    expect(ring.skipRead(2)).toBe(2); // frames 6, 7 discarded
    // wrap: write 6 more (frames 12..17 of a new source) over the start of the storage
    const src2 = new Float32Array(6 * width);
    for (let f = 0; f < 6; f++) for (let c = 0; c < width; c++) src2[f * width + c] = value(12 + f, c);
    expect(ring.write(src2, 6)).toBe(6);
    const planar = [new Float32Array(20), new Float32Array(20), new Float32Array(20)];
    const scratch = new Float32Array(2 * width); // small scratch: several blocks
    expect(ring.readPlanar(planar, 5, 20, scratch)).toBe(10);
    const expectedFrames = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
    for (let c = 0; c < width; c++) {
      expect(Array.from(planar[c].subarray(5, 15))).toEqual(expectedFrames.map((f) => value(f, c)));
    }
    // writePlanar: all or nothing
    const chans = [0, 1, 2].map((c) => Float32Array.from({ length: 12 }, (_, f) => value(100 + f, c)));
    expect(ring.writePlanar(chans, 0, 11, scratch)).toBe(false);
    expect(ring.writePlanar(chans, 2, 10, scratch)).toBe(true);
    const back = new Float32Array(10 * width);
    expect(ring.read(back, 10)).toBe(10);
    for (let f = 0; f < 10; f++) for (let c = 0; c < width; c++) expect(back[f * width + c]).toBe(value(102 + f, c));
    // writeZeros / skipWrite
    expect(ring.writeZeros(3)).toBe(3);
    expect(ring.skipWrite(2)).toBe(2);
    expect(ring.availableRead()).toBe(5);
    const z = new Float32Array(3 * width).fill(7);
    expect(ring.read(z, 3)).toBe(3);
    expect(Array.from(z)).toEqual(new Array(9).fill(0));
  });

  it('refuses a storage that is not a whole number of frames', () => {
    expect(() => new FrameRing(RingBuffer.getStorageForCapacity(10, Float32Array), 4)).toThrow(/whole number/);
  });
});

describe('FrameRing across two threads', () => {
  const totalFrames = 400_000;
  const capacity = 1000; // not a power of two: 400 wraparounds, 1200-float storage + 1

  it('worker produces, this thread consumes (read and skipRead): every frame once, in order, intact', async () => {
    const width = 3;
    const sab = frameRingSab(capacity, width);
    const ring = new FrameRing(sab, width);
    const { worker, result } = startWorker({ sab, width, totalFrames, maxChunk: 700, seed: 1234, role: 'produce' });
    onTestFinished(() => void worker.terminate());
    const rand = mulberry32(99);
    const dst = new Float32Array(900 * width);
    let next = 0;
    let reads = 0;
    let skipped = 0;
    let bad = 0;
    let firstBad = '';
    const deadline = Date.now() + 60_000;
    while (next < totalFrames) {
      if (Date.now() > deadline) throw new Error(`consumer stalled at frame ${next}`);
      if (rand() < 0.05) {
        const k = ring.skipRead(1 + Math.floor(rand() * 300));
        next += k;
        skipped += k;
        continue;
      }
      const offset = Math.floor(rand() * 100);
      const got = ring.read(dst, 1 + Math.floor(rand() * 799), offset);
      for (let i = 0; i < got; i++) {
        for (let c = 0; c < width; c++) {
          const v = dst[(offset + i) * width + c];
          if (v !== value(next + i, c)) {
            if (bad === 0) firstBad = `frame ${next + i} channel ${c}: ${v}`;
            bad++;
          }
        }
      }
      if (got > 0) reads++;
      next += got;
    }
    const done = await result;
    expect(firstBad).toBe('');
    expect(bad).toBe(0);
    expect(next).toBe(totalFrames);
    expect(ring.availableRead()).toBe(0);
    // The test exercised what it claims: many reads and skips, and (by
    // construction) 400 wraparounds of the 1000-frame storage.
    expect(reads).toBeGreaterThan(200);
    expect(skipped).toBeGreaterThan(1000);
    expect(done.pushes).toBeGreaterThan(totalFrames / 700);
  }, 120_000);

  it('this thread produces (write, writeZeros, skipWrite), worker consumes: content exactly as scheduled', async () => {
    const width = 2;
    const sab = frameRingSab(capacity, width);
    const ring = new FrameRing(sab, width);
    const { worker, result } = startWorker({ sab, width, totalFrames, maxChunk: 650, seed: 777, role: 'consume' });
    onTestFinished(() => void worker.terminate());
    const rand = mulberry32(4321);
    const src = new Float32Array(1000 * width);
    const zeroRanges: [number, number][] = [];
    const skipRanges: [number, number][] = [];
    let next = 0;
    const deadline = Date.now() + 60_000;
    while (next < totalFrames) {
      if (Date.now() > deadline) throw new Error(`producer stalled at frame ${next}`);
      const r = rand();
      const want = Math.min(1 + Math.floor(rand() * 400), totalFrames - next);
      if (r < 0.04) {
        const n = ring.writeZeros(want);
        if (n > 0) zeroRanges.push([next, next + n]);
        next += n;
      } else if (r < 0.06) {
        const n = ring.skipWrite(want);
        if (n > 0) skipRanges.push([next, next + n]);
        next += n;
      } else {
        const offset = Math.floor(rand() * 500);
        for (let i = 0; i < want; i++) for (let c = 0; c < width; c++) src[(offset + i) * width + c] = value(next + i, c);
        next += ring.write(src, want, offset);
      }
    }
    const done = await result;
    expect(done.frames).toBe(totalFrames);
    const ranges = done.ranges ?? [];
    // Frame 0 written as zeros would read as "zero" too; every zero range must
    // come back as exactly one 'zero' range.
    const merge = (rs: [number, number][]) => {
      const out: [number, number][] = [];
      for (const [a, b] of rs) {
        const last = out[out.length - 1];
        if (last !== undefined && last[1] === a) last[1] = b;
        else out.push([a, b]);
      }
      return out;
    };
    expect(zeroRanges.length).toBeGreaterThan(20);
    expect(skipRanges.length).toBeGreaterThan(10);
    // Every mismatch lies inside a zero or skip range; every zero range reads as zeros.
    const inRanges = (a: number, b: number, rs: [number, number][]) => rs.some(([x, y]) => x <= a && b <= y);
    const mergedZero = merge(zeroRanges);
    const mergedSkip = merge(skipRanges);
    const mergedAll = merge([...zeroRanges, ...skipRanges].sort((p, q) => p[0] - q[0]));
    for (const [a, b, kind] of ranges) {
      expect(inRanges(a, b, mergedAll), `unexpected ${kind} content in frames [${a}, ${b})`).toBe(true);
    }
    for (const [a, b] of mergedZero) {
      // all frames of [a, b) are reported as 'zero' (possibly split by adjacent skip ranges)
      let covered = 0;
      for (const [x, y, kind] of ranges) if (kind === 'zero') covered += Math.max(0, Math.min(b, y) - Math.max(a, x));
      expect(covered, `zero range [${a}, ${b})`).toBe(b - a);
    }
    // Skipped frames hold stale content, never the sequence value of their own index.
    for (const [a, b] of mergedSkip) {
      let covered = 0;
      for (const [x, y] of ranges) covered += Math.max(0, Math.min(b, y) - Math.max(a, x));
      expect(covered, `skip range [${a}, ${b})`).toBe(b - a);
    }
  }, 120_000);
});

describe('shared state', () => {
  it('creates rings of the asked capacities, defaults in the control block, attaches elsewhere', () => {
    const state = createSharedState({ channels: 2, sources: 4 });
    expect(state.inputRing.frames).toBe(DEFAULT_INPUT_RING_FRAMES);
    expect(state.stemRing.frames).toBe(DEFAULT_STEM_RING_FRAMES);
    expect(state.inputRing.width).toBe(2);
    expect(state.stemRing.width).toBe(8);
    const small = createSharedState({ channels: 2, sources: 6, inputRingFrames: 1000, stemRingFrames: 3000 });
    expect(small.inputRing.frames).toBe(1000);
    expect(small.stemRing.frames).toBe(3000);
    const i = small.controlI32;
    const f = small.controlF32;
    expect(i[CTRL.STEMS_ENABLED]).toBe(1);
    expect(i[CTRL.CAPTURE_ENABLED]).toBe(1);
    for (let s = 0; s < 6; s++) expect(f[CTRL.GAIN + s]).toBe(1);
    setStemGain(small, 3, 0.25);
    setStemMute(small, 1, true);
    setStemSolo(small, 5, true);
    // A second view (as the worklet or the worker builds it) sees the same memory.
    const other = attachSharedState(structuredClone(small.buffers));
    expect(other.controlF32[CTRL.GAIN + 3]).toBe(0.25);
    expect(other.controlI32[CTRL.MUTE + 1]).toBe(1);
    expect(other.controlI32[CTRL.SOLO + 5]).toBe(1);
    const buf = new Float32Array(12).fill(0.5);
    expect(small.stemRing.write(buf, 1)).toBe(1);
    expect(other.stemRing.availableRead()).toBe(1);
    expect(() => setStemGain(small, 6, 1)).toThrow(RangeError);
    expect(() => createSharedState({ channels: 2, sources: 9 })).toThrow(RangeError);
    expect(readStats(other).gains).toHaveLength(6);
  });

  it('slots do not overlap', () => {
    const used = new Map<number, string>();
    const widths: Record<string, number> = { GAIN: 8, MUTE: 8, SOLO: 8, GAIN_CURRENT: 8 };
    for (const [name, slot] of Object.entries(CTRL)) {
      if (name === 'SIZE') continue;
      for (let k = 0; k < (widths[name] ?? 1); k++) {
        expect(used.get(slot + k), `${name} overlaps`).toBeUndefined();
        used.set(slot + k, name);
        expect(slot + k).toBeLessThan(CTRL.SIZE);
      }
    }
  });
});
