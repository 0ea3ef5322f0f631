/**
 * One hour of live input through the headless engine with the real model's
 * geometry (the stand-in: segment 343 980, four stems, stereo, negligible
 * compute), as fast as possible: about 615 segments through rings of the real
 * size. Takes a few minutes. The stand-in's time branch only (each stem = input
 * / 4, the spectrogram branch zeroed), so that the stems sum back to the input
 * and an impulse must come out exactly where the latency says.
 */
import { describe, expect, it } from 'vitest';
import { runHeadlessStream } from '../src/node/node-harness.js';
import { qualityLatency } from '../src/engine/host/latency.js';
import { REAL_SEGMENT } from './fixtures/tiny-models.js';
import { impulsesInNoise, soakStandIn } from './fixtures/long-inputs.js';

const RATE = 44100;

describe('one hour live, real geometry, as fast as possible', () => {
  it('never deadlocks; impulses at 1 s, 30 min and 59 min come out exactly latencySamples late; memory stays flat', async () => {
    const bytes = soakStandIn();
    const length = 60 * 60 * RATE;
    const impulses = [RATE + 13, 30 * 60 * RATE + 17, 59 * 60 * RATE + 29];
    const input = impulsesInNoise(length, impulses);
    const rss: { minute: number; mb: number }[] = [];
    const t0 = performance.now();
    let nextMinute = 0;
    const r = await runHeadlessStream(input, bytes, {
      runtime: 'node',
      keepOutput: false,
      watchFrames: impulses.flatMap((t) => [t - 1, t, t + 1]),
      onProgress: (n) => {
        if (n / RATE / 60 >= nextMinute) {
          rss.push({ minute: nextMinute, mb: process.memoryUsage().rss / 2 ** 20 });
          if (nextMinute % 15 === 0) console.log(`soak: minute ${nextMinute} rendered after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
          nextMinute += 5;
        }
      },
    });
    const L = r.latencySamples;
    expect(L).toBe(qualityLatency(REAL_SEGMENT, 0.25));
    expect(r.worker.framesOut).toBe(length);
    expect(r.worker.segments).toBeGreaterThan(600);
    expect(r.worklet.underrunQuanta).toBe(0);
    expect(r.worklet.inputFramesDropped).toBe(0);
    // Each impulse at exactly +L (to float rounding of the overlap-add), its neighbours noise.
    for (let k = 0; k < impulses.length; k++) {
      expect(Math.abs(r.watched[3 * k + 1] - 0.9)).toBeLessThan(1e-5);
      expect(Math.abs(r.watched[3 * k])).toBeLessThan(0.011);
      expect(Math.abs(r.watched[3 * k + 2])).toBeLessThan(0.011);
    }
    // Memory: from minute 10 on (buffers allocated, the model's first runs done), no
    // growth. RSS swings by tens of MB with the garbage collector (each run's output
    // tensors are new arrays), so compare the floors of the two halves: a leak lifts it.
    const settled = rss.filter((s) => s.minute >= 10).map((s) => s.mb);
    const half = Math.floor(settled.length / 2);
    const growth = Math.min(...settled.slice(half)) - Math.min(...settled.slice(0, half));
    console.log(
      `soak: 60 min in ${(r.wallMs / 1000).toFixed(0)} s, latency ${L}, ${r.worker.segments} segments, ${r.worklet.underrunQuanta} underruns, ` +
        `${r.worklet.dryFallbackQuanta} dry quanta (the fade-in), impulses ${r.watched.filter((_, i) => i % 3 === 1).map((v) => v.toFixed(6)).join(', ')}; ` +
        `RSS by minute ${rss.map((s) => `${s.minute}: ${s.mb.toFixed(0)} MB`).join(', ')}`,
    );
    expect(growth).toBeLessThan(32);
    expect(Math.max(...settled)).toBeLessThan(1024);
  }, 40 * 60_000);
});
