/**
 * InferenceLoop catching up when compute is slower than real time, on a
 * simulated clock (no threads, no wall time): a runner whose runs "take" a
 * scripted time, an input port that has the input up to the clock, and a stem
 * port whose consumer renders frame n − L at clock n, as the audio thread does.
 */
import { describe, expect, it } from 'vitest';
import { InferenceLoop, type InputPort, type StemPort } from '../src/engine/worker/inference-loop.js';
import { StreamSeparator } from '../src/engine/worker/stream-separator.js';
import { liveBufferSizes } from '../src/engine/host/ring-sizes.js';
import { qualityLatency } from '../src/engine/host/latency.js';
import type { SeparationModel } from '../src/model/model.js';
import type { SegmentRunnerLike } from '../src/separate/set-runner.js';
import { segmentStride } from '../src/separate/segmentation.js';

const RATE = 44100;
const N = 343980; // the real geometry
const C = 2;
const S = 4;

/** The simulated world: a clock in frames, advanced by runs and by idle waits. */
class World {
  clock = 0;
  constructor(readonly latency: number) {}
  get deadline(): number {
    return Math.max(0, this.clock - this.latency);
  }
}

/** out[s·C + c] = in[c] / S: stems sum back to the input. Each run advances the clock by runMs(clock). */
class ScriptedRunner implements SegmentRunnerLike {
  readonly input = Array.from({ length: C }, () => new Float32Array(N));
  readonly output = Array.from({ length: S * C }, () => new Float32Array(N));
  readonly segmentSamples = N;
  constructor(private readonly world: World, private readonly runMs: (clock: number) => number) {}
  async run() {
    for (let s = 0; s < S; s++) for (let c = 0; c < C; c++) {
      const o = this.output[s * C + c];
      const x = this.input[c];
      for (let i = 0; i < N; i++) o[i] = x[i] / S;
    }
    const ms = this.runMs(this.world.clock);
    this.world.clock += Math.round((ms / 1000) * RATE);
    return { runMs: ms, dspMs: 0 };
  }
}

function simulate(runMs: (clock: number) => number, seconds: number) {
  const stride = segmentStride(N, 0.25);
  const L = qualityLatency(N, 0.25);
  const world = new World(L);
  const sizes = liveBufferSizes({ latencyFrames: L, segmentFrames: N, strideFrames: stride, channels: C, sources: S });
  const model = { info: { channels: C, sources: ['drums', 'bass', 'other', 'vocals'], segmentSamples: N, sampleRate: RATE } } as unknown as SeparationModel;
  const separator = new StreamSeparator(model, { runner: new ScriptedRunner(world, runMs), historyFrames: sizes.historyFrames });
  const length = seconds * RATE;
  separator.setLength(length); // a stream whose end is known, as the Node harness declares it
  let read = 0;
  const input: InputPort = {
    availableFrames: () => Math.min(world.clock, length) - read,
    readPlanar: (dst, frames) => {
      for (let c = 0; c < C; c++) for (let i = 0; i < frames; i++) dst[c][i] = Math.sin((read + i) * 0.001 * (c + 1));
      read += frames;
      return frames;
    },
  };
  // The stem stream: which frames arrived in time (before the consumer rendered them), which late, which skipped.
  const onTime = new Uint8Array(length);
  let pushed = 0;
  let late = 0;
  let badSkips = 0;
  const output: StemPort = {
    spaceFrames: () => sizes.stemRingFrames,
    writeRows: (_rows, frames) => {
      for (let i = 0; i < frames; i++) {
        const f = pushed + i;
        // On time: before the consumer renders the quantum holding it (at clock f + L − 128).
        if (f < length && f >= world.clock - world.latency + 128) onTime[f] = 1;
        else if (f < length) late++;
      }
      pushed += frames;
      return frames;
    },
    deadlineLead: (p) => world.deadline - p,
    skipFrames: (frames) => {
      if (pushed + frames > world.deadline) badSkips++;
      pushed += frames;
      return frames;
    },
  };
  const loop = new InferenceLoop(separator, input, output, { catchUp: { deadlineFramesPerMs: RATE / 1000 } });
  return { world, loop, length, onTime, stride, L, stats: () => ({ late, badSkips, pushed }), run: async () => {
    while (world.clock < length + L) {
      const r = await loop.pump();
      if (r === 'idle' || r === 'moved') world.clock += 128; // waiting: real time passes
    }
  } };
}

/** First frame from which every frame up to `end` arrived in time. */
function wetFrom(onTime: Uint8Array, end: number): number {
  let f = end;
  while (f > 0 && onTime[f - 1] === 1) f--;
  return f;
}

describe('InferenceLoop catching up (simulated clock, real geometry)', () => {
  it('keeps up when runs are faster than the stride: nothing skipped, every frame on time', async () => {
    const sim = simulate(() => 0.5 * 5850, 120);
    await sim.run();
    expect(sim.loop.stats.segmentsSkipped).toBe(0);
    expect(sim.stats().late).toBe(0);
    expect(wetFrom(sim.onTime, sim.length)).toBe(0);
  });

  it('slower than real time (1.5 × the stride) for a minute, then 0.5 ×: skips jobs it cannot deliver, never skips a frame the consumer still wants, and is wet again within two strides of the speed-up', async () => {
    const strideMs = (segmentStride(N, 0.25) / RATE) * 1000;
    const slowUntil = 60 * RATE + N; // runs that start in the first minute after the first segment are slow
    let speedUp = -1;
    const sim = simulate((clock) => {
      if (clock < slowUntil) return 1.5 * strideMs;
      if (speedUp < 0) speedUp = clock;
      return 0.5 * strideMs;
    }, 150);
    await sim.run();
    const { late, badSkips } = sim.stats();
    expect(badSkips).toBe(0);
    expect(sim.loop.stats.segmentsSkipped).toBeGreaterThan(0);
    expect(speedUp).toBeGreaterThan(0);
    // The consumer renders input frame f at clock f + L: wet again from this input frame on.
    const resume = wetFrom(sim.onTime, sim.length);
    const resumeClock = resume + sim.L;
    console.log(`simulated: ${sim.loop.stats.segments} jobs run, ${sim.loop.stats.segmentsSkipped} skipped, ${late} frames late; speed-up at clock ${speedUp}, wet from clock ${resumeClock} (${((resumeClock - speedUp) / sim.stride).toFixed(2)} strides)`);
    expect(resumeClock - speedUp).toBeLessThanOrEqual(2 * sim.stride);
    // While slow, skipping keeps some output on time (without it, every job would come late).
    let wetWhileSlow = 0;
    for (let f = N; f < 50 * RATE; f++) wetWhileSlow += sim.onTime[f];
    expect(wetWhileSlow).toBeGreaterThan(0);
  });

  it('far slower than real time (2.5 × the stride: nothing can be on time), then 0.5 ×: still notices the speed-up (a job runs after every three skipped) and is wet again within four strides', async () => {
    const strideMs = (segmentStride(N, 0.25) / RATE) * 1000;
    const slowUntil = 60 * RATE + N;
    let speedUp = -1;
    const sim = simulate((clock) => {
      if (clock < slowUntil) return 2.5 * strideMs;
      if (speedUp < 0) speedUp = clock;
      return 0.5 * strideMs;
    }, 150);
    await sim.run();
    expect(sim.stats().badSkips).toBe(0);
    expect(sim.loop.stats.segmentsSkipped).toBeGreaterThan(0);
    const resumeClock = wetFrom(sim.onTime, sim.length) + sim.L;
    console.log(`simulated 2.5×: ${sim.loop.stats.segments} jobs run, ${sim.loop.stats.segmentsSkipped} skipped; wet again ${((resumeClock - speedUp) / sim.stride).toFixed(2)} strides after the speed-up`);
    expect(speedUp).toBeGreaterThan(0);
    expect(resumeClock - speedUp).toBeLessThanOrEqual(4 * sim.stride);
  });

  it('on a clock that waits for the worker (deadlineFramesPerMs 0), skips only jobs already entirely late', async () => {
    const stride = segmentStride(N, 0.25);
    const L = qualityLatency(N, 0.25);
    const world = new World(L);
    const model = { info: { channels: C, sources: ['a', 'b', 'c', 'd'], segmentSamples: N, sampleRate: RATE } } as unknown as SeparationModel;
    const sep = new StreamSeparator(model, { runner: new ScriptedRunner(world, () => 10_000) });
    let read = 0;
    const input: InputPort = { availableFrames: () => 5 * N - read, readPlanar: (_d, f) => { read += f; return f; } };
    let skipped = 0;
    const output: StemPort = { spaceFrames: () => 1 << 30, writeRows: (_r, f) => f, deadlineLead: (p) => world.deadline - p, skipFrames: (f) => { skipped += f; return f; } };
    const loop = new InferenceLoop(sep, input, output, { catchUp: { deadlineFramesPerMs: 0 } });
    world.clock = 0;
    await loop.pump();
    // 10 s runs, but the clock does not move with them here (world.deadline only moves by our hand).
    expect(loop.stats.segmentsSkipped).toBe(0);
    // The consumer jumps three strides past everything pushed: those jobs are entirely late.
    world.clock = L + loop.stats.framesOut + 3 * stride + 1000;
    await loop.pump();
    expect(loop.stats.segmentsSkipped).toBeGreaterThanOrEqual(3);
    expect(skipped).toBeGreaterThan(0);
  });
});
