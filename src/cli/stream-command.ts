/**
 * `stemstream stream <input> -o dir`: runs a file through the real-time engine
 * headless (audio-thread core + inference worker thread over the shared rings)
 * as live input, and writes what the audio thread output: mix.wav and one WAV
 * per stem, unshifted (output n ↔ input n − latencySamples), plus stats.
 *
 * Flags, input and output paths are checked before the engine starts; the
 * files are written under temporary names and renamed into place together.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { WavFileWriter } from '../audio/wav.js';
import { qualityLatency } from '../engine/latency.js';
import { runHeadlessStream } from '../engine/node-harness.js';
import { StemstreamError } from '../errors.js';
import { defaultModelPath, describeModel, type ModelInfo } from '../model/model.js';
import type { RuntimeChoice } from '../model/runtime.js';
import { checkLowLatency } from '../separate/segmentation.js';
import { AtomicOutput, checkFilesWritable, checkFolderWritable } from './atomic-output.js';
import { fitAudio } from './fit-audio.js';
import { checkInputFile, readInputAudio } from './input.js';
import { choiceOption, decimalOption, textOption, threadsOption, usageError } from './options.js';
import { costWarning, overlapOption } from './separate-command.js';

export interface StreamFlags {
  out?: string;
  model?: string;
  mode?: string;
  hop?: string;
  lookahead?: string;
  overlap?: string;
  realtime?: boolean;
  track?: boolean;
  json?: string;
  runtime?: string;
  threads?: string;
  float?: boolean;
  strict?: boolean;
}

/** The flags of a stream run, checked and typed. */
interface StreamJob {
  input: string;
  outDir: string;
  model?: string;
  mode: 'quality' | 'low-latency';
  hop: number;
  lookahead: number;
  overlap: number;
  realtime: boolean;
  track: boolean;
  json?: string;
  runtime: RuntimeChoice;
  threads?: number;
  float: boolean;
  strict: boolean;
}

/** Longest hop or look-ahead: far more than any model's segment, so only a typo gets here. */
const MAX_STREAM_SECONDS = 600;

function parseStreamFlags(input: string, flags: StreamFlags): StreamJob {
  const mode = choiceOption('mode', flags.mode, ['quality', 'low-latency'] as const, 'quality');
  if (flags.track && mode !== 'quality') throw usageError('--track uses quality mode (the whole track is known, so segments run ahead); leave out --mode low-latency');
  if (mode !== 'low-latency') {
    for (const name of ['hop', 'lookahead'] as const) {
      if (flags[name] !== undefined) throw usageError(`--${name} applies to --mode low-latency only`);
    }
  }
  return {
    input,
    outDir: textOption('out', flags.out) ?? join('streamed', basename(input, extname(input))),
    model: textOption('model', flags.model),
    mode,
    hop: decimalOption('hop', flags.hop, { min: Number.MIN_VALUE, max: MAX_STREAM_SECONDS, rule: `seconds > 0 (at most ${MAX_STREAM_SECONDS})` }) ?? 1,
    lookahead: decimalOption('lookahead', flags.lookahead, { min: 0, max: MAX_STREAM_SECONDS, rule: `seconds ≥ 0 (at most ${MAX_STREAM_SECONDS})` }) ?? 1,
    overlap: overlapOption(flags.overlap) ?? 0.25,
    realtime: flags.realtime === true,
    track: flags.track === true,
    json: textOption('json', flags.json),
    runtime: choiceOption('runtime', flags.runtime, ['auto', 'node', 'web'] as const, 'auto'),
    threads: threadsOption(flags.threads),
    float: flags.float === true,
    strict: flags.strict === true,
  };
}

/** What the model's geometry allows: low-latency hop/look-ahead within a segment, a quality stride the audio thread can wait for. */
function checkGeometry(job: StreamJob, info: ModelInfo): { hopFrames: number; lookaheadFrames: number } {
  const hopFrames = Math.round(job.hop * info.sampleRate);
  const lookaheadFrames = Math.round(job.lookahead * info.sampleRate);
  const N = info.segmentSamples;
  const seconds = (n: number) => `${(n / info.sampleRate).toFixed(3)} s`;
  if (job.mode === 'low-latency') {
    try {
      checkLowLatency(N, hopFrames, lookaheadFrames);
    } catch {
      throw usageError(`--hop ${job.hop} --lookahead ${job.lookahead}: the hop must be at least one sample and hop + look-ahead at most the model's segment (${seconds(N)}, ${N} samples)`);
    }
  } else if (!job.track) {
    try {
      qualityLatency(N, job.overlap);
    } catch (err) {
      throw usageError(`--overlap ${job.overlap}: too high for this model's ${seconds(N)} segment in real time (${(err as Error).message}); use a lower overlap`);
    }
  }
  return { hopFrames, lookaheadFrames };
}

export async function runStream(input: string, flags: StreamFlags): Promise<number> {
  const job = parseStreamFlags(input, flags);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (job.mode === 'quality') {
    const cost = costWarning(job.overlap, undefined);
    if (cost) log(cost);
  }
  checkInputFile(job.input);
  checkFolderWritable(job.outDir);
  const modelPath = job.model ?? (await defaultModelPath());
  const bytes = new Uint8Array(await readFile(modelPath).catch((err: Error) => { throw new StemstreamError('IO', `cannot read the model file ${modelPath}: ${err.message}`); }));
  const info = describeModel(bytes, modelPath);
  const { hopFrames, lookaheadFrames } = checkGeometry(job, info);
  const wavs = ['mix', ...info.sources].map((name) => [name, join(job.outDir, `${name}.wav`)] as const);
  const finals = [...wavs.map(([, path]) => path), ...(job.json !== undefined ? [job.json] : [])];
  checkFilesWritable(finals);
  const audio = fitAudio(await readInputAudio(job.input, { strict: job.strict, log }), info.sampleRate, info.channels);
  log(`streaming ${job.input} through the real-time engine (${job.track ? 'track, ' : ''}${job.mode} mode${job.realtime ? ', paced to real time' : ', as fast as possible'}) into ${job.outDir}`);
  const result = await runHeadlessStream(audio, bytes, {
    mode: job.mode,
    track: job.track,
    hopFrames,
    lookaheadFrames,
    overlap: job.overlap,
    realtime: job.realtime,
    runtime: job.runtime,
    threads: job.threads,
    onProgress: (n, total) => process.stderr.isTTY && process.stderr.write(`\rrendered ${(n / info.sampleRate).toFixed(1)} / ${(total / info.sampleRate).toFixed(1)} s `),
  });
  const stats = {
    mode: job.mode,
    track: job.track,
    ...(job.mode === 'low-latency' ? { hopSeconds: job.hop, lookaheadSeconds: job.lookahead } : {}),
    latencySamples: result.latencySamples,
    latencySeconds: result.latencySamples / info.sampleRate,
    sampleRate: info.sampleRate,
    inputFrames: audio.channels[0].length,
    outputFrames: result.mix[0].length,
    underruns: result.worklet.underrunQuanta,
    dryFallbackQuanta: result.worklet.dryFallbackQuanta,
    framesSkipped: result.worklet.framesSkipped,
    segments: result.worker.segments,
    meanRunMs: result.worker.segments ? result.worker.runMsTotal / result.worker.segments : 0,
    wallMs: result.wallMs,
    worklet: result.worklet,
    worker: result.worker,
  };
  const output = AtomicOutput.begin(finals);
  try {
    const format = job.float ? 'float32' : 'pcm16';
    for (const [name, path] of wavs) {
      const w = await WavFileWriter.open(output.tempPath(path), { sampleRate: info.sampleRate, channels: info.channels, format });
      try {
        await w.write(name === 'mix' ? result.mix : result.stems[name]);
        await w.close();
      } catch (err) {
        await w.abort();
        throw err;
      }
    }
    if (job.json !== undefined) await writeFile(output.tempPath(job.json), `${JSON.stringify(stats, null, 2)}\n`);
    output.commit();
  } catch (err) {
    output.abort();
    throw err;
  }
  log(`${process.stderr.isTTY ? '\n' : ''}done: latency ${result.latencySamples} samples (${stats.latencySeconds.toFixed(2)} s), ${stats.underruns} underruns, ${stats.segments} segments; output n ↔ input n − ${result.latencySamples}`);
  return 0;
}
