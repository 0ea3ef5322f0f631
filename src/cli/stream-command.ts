/**
 * `stemstream stream <input> -o dir`: runs a file through the real-time engine
 * headless (audio-thread core + inference worker thread over the shared rings)
 * as live input, and writes what the audio thread output: mix.wav and one WAV
 * per stem, unshifted (output n ↔ input n − latencySamples), plus stats.
 *
 * Flags, input and output paths are checked before the engine starts; the
 * files are written under temporary names as the audio thread renders and
 * renamed into place together at the end.
 *
 * Memory: a WAV at the model's rate (mono or stereo) is fed to the engine from
 * disk a quantum at a time and the output is written as it is rendered, so a
 * run holds the engine's rings and history whatever the input's length.
 * Compressed input (FLAC, MP3, Ogg), WAVs to resample and --track (the worker
 * reads the whole track) hold the decoded input for the run.
 */
import { DEFAULT_OVERLAP } from '../constants.js';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { AudioData } from '../audio/types.js';
import { type WavOutputFormat } from '../audio/wav.js';
import type { ClipMode, ClipReport } from '../export/clip.js';
import { openStemFile, type StemFileWriter } from '../export/stem-file-writer.js';
import { RENDER_QUANTUM } from '../constants.js';
import { qualityLatency } from '../engine/host/latency.js';
import { runHeadlessStream, type GeneratedInput } from '../node/node-harness.js';
import { StemstreamError } from '../errors.js';
import { describeModel, type ModelInfo } from '../model/model.js';
import type { RuntimeChoice } from '../model/runtime.js';
import { isAudioSource } from '../separate/audio-source.js';
import { checkLowLatency } from '../separate/segmentation.js';
import { AtomicOutput, checkFilesWritable, checkFolderWritable } from './atomic-output.js';
import { modelOrDefault } from './default-model.js';
import { checkInputFile, openInputAudio } from './input.js';
import { stderrLog } from './messages.js';
import { choiceOption, decimalOption, textOption, threadsOption, usageError } from './options.js';
import { clipModeOption, clipWarning, costWarning, overlapOption } from './separate-command.js';

export interface StreamFlags {
  output?: string;
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
  'clip-mode'?: string;
  strict?: boolean;
  quiet?: boolean;
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
  /** What happens to samples over full scale in the 16-bit files (export/clip.ts). */
  clipMode: ClipMode;
  strict: boolean;
  quiet: boolean;
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
    outDir: textOption('output', flags.output) ?? join('streamed', basename(input, extname(input))),
    model: textOption('model', flags.model),
    mode,
    hop: decimalOption('hop', flags.hop, { min: Number.MIN_VALUE, max: MAX_STREAM_SECONDS, rule: `seconds > 0 (at most ${MAX_STREAM_SECONDS})` }) ?? 1,
    lookahead: decimalOption('lookahead', flags.lookahead, { min: 0, max: MAX_STREAM_SECONDS, rule: `seconds ≥ 0 (at most ${MAX_STREAM_SECONDS})` }) ?? 1,
    overlap: overlapOption(flags.overlap) ?? DEFAULT_OVERLAP,
    realtime: flags.realtime === true,
    track: flags.track === true,
    json: textOption('json', flags.json),
    runtime: choiceOption('runtime', flags.runtime, ['auto', 'node', 'web'] as const, 'auto'),
    threads: threadsOption(flags.threads),
    float: flags.float === true,
    clipMode: clipModeOption(flags['clip-mode'], flags.float === true),
    strict: flags.strict === true,
    quiet: flags.quiet === true,
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
  const log = stderrLog(job.quiet);
  if (job.mode === 'quality') {
    const cost = costWarning(job.overlap, undefined);
    if (cost) log(cost);
  }
  checkInputFile(job.input);
  checkFolderWritable(job.outDir);
  const modelPath = await modelOrDefault(job.model, log);
  const bytes = new Uint8Array(await readFile(modelPath).catch((err: Error) => { throw new StemstreamError('IO', `cannot read the model file ${modelPath}: ${err.message}`); }));
  const info = describeModel(bytes, modelPath);
  const { hopFrames, lookaheadFrames } = checkGeometry(job, info);
  const wavs = ['mix', ...info.sources].map((name) => [name, join(job.outDir, `${name}.wav`)] as const);
  const finals = [...wavs.map(([, path]) => path), ...(job.json !== undefined ? [job.json] : [])];
  checkFilesWritable(finals);
  const opened = await openInputAudio(job.input, { strict: job.strict, log, sampleRate: info.sampleRate, channels: info.channels, whole: job.track });
  try {
    const audio = opened.audio;
    // A file read as the clock goes: each quantum's input frames from disk.
    const feed: GeneratedInput | AudioData = isAudioSource(audio)
      ? { sampleRate: audio.sampleRate, channelCount: audio.channelCount, length: audio.length, fill: (dst, start, frames) => audio.read(start, frames, dst, 0) }
      : audio;
    log(`streaming ${job.input} through the real-time engine (${job.track ? 'track, ' : ''}${job.mode} mode${job.realtime ? ', paced to real time' : ', as fast as possible'}) into ${job.outDir}`);
    const output = AtomicOutput.begin(finals);
    const clipped: ClipReport[] = [];
    const files = new StreamFiles(job.float ? 'float32' : 'pcm16', info.sampleRate, info.channels, info.sources.length, job.clipMode, (r) => clipped.push(r));
    try {
      for (const [name, path] of wavs) await files.open(output.tempPath(path), name);
      const result = await runHeadlessStream(feed, bytes, {
        mode: job.mode,
        track: job.track,
        hopFrames,
        lookaheadFrames,
        overlap: job.overlap,
        realtime: job.realtime,
        runtime: job.runtime,
        threads: job.threads,
        keepOutput: false,
        onQuantum: (_n, frames, mix, stems) => files.add(frames, mix, stems),
        onProgress: (n, total) => !job.quiet && process.stderr.isTTY && process.stderr.write(`\rrendered ${(n / info.sampleRate).toFixed(1)} / ${(total / info.sampleRate).toFixed(1)} s `),
      });
      await files.close();
      const stats = {
        mode: job.mode,
        track: job.track,
        ...(job.mode === 'low-latency' ? { hopSeconds: job.hop, lookaheadSeconds: job.lookahead } : {}),
        latencySamples: result.latencySamples,
        latencySeconds: result.latencySamples / info.sampleRate,
        sampleRate: info.sampleRate,
        inputFrames: opened.frames,
        outputFrames: files.frames,
        underruns: result.worklet.underrunQuanta,
        dryFallbackQuanta: result.worklet.dryFallbackQuanta,
        framesSkipped: result.worklet.framesSkipped,
        segments: result.worker.segments,
        meanRunMs: result.worker.segments ? result.worker.runMsTotal / result.worker.segments : 0,
        wallMs: result.wallMs,
        worklet: result.worklet,
        worker: result.worker,
        clipMode: job.float ? undefined : job.clipMode,
        clipped,
      };
      if (job.json !== undefined) await writeFile(output.tempPath(job.json), `${JSON.stringify(stats, null, 2)}\n`);
      output.commit();
      log(`${process.stderr.isTTY && !job.quiet ? '\n' : ''}done: latency ${result.latencySamples} samples (${stats.latencySeconds.toFixed(2)} s), ${stats.underruns} underruns, ${stats.segments} segments; output n ↔ input n − ${result.latencySamples}`);
      for (const r of clipped) log(clipWarning(r));
    } catch (err) {
      await files.abort();
      output.abort();
      throw err;
    }
  } finally {
    opened.close();
  }
  return 0;
}

/** Output frames gathered per write: 64 Ki frames (a multiple of the quantum), 256 KiB per channel per file. */
const BLOCK_FRAMES = 512 * RENDER_QUANTUM;

/**
 * mix.wav and one WAV per stem, written as the audio thread renders: quanta
 * are gathered into blocks, each written to every file when full. A file over
 * full scale is handled by the clip mode and reported once complete.
 */
class StreamFiles {
  private readonly writers: StemFileWriter[] = [];
  /** Per file (mix, then stems in order): BLOCK_FRAMES frames per channel. */
  private readonly blocks: Float32Array[][];
  private filled = 0;
  /** Frames written or gathered so far. */
  frames = 0;

  constructor(
    private readonly format: WavOutputFormat,
    private readonly sampleRate: number,
    private readonly channels: number,
    sources: number,
    private readonly clipMode: ClipMode,
    private readonly onClip: (report: ClipReport) => void,
  ) {
    this.blocks = Array.from({ length: 1 + sources }, () => Array.from({ length: channels }, () => new Float32Array(BLOCK_FRAMES)));
  }

  async open(path: string, name: string): Promise<void> {
    const clip = { mode: this.clipMode, name, onReport: this.onClip };
    this.writers.push(await openStemFile(path, { sampleRate: this.sampleRate, channels: this.channels, format: this.format, fileType: 'wav', clip }));
  }

  /** One quantum's output; a promise when a full block is being written. */
  add(frames: number, mix: Float32Array[], stems: Float32Array[][]): Promise<void> | undefined {
    for (let f = 0; f < this.blocks.length; f++) {
      const from = f === 0 ? mix : stems[f - 1];
      const block = this.blocks[f];
      for (let c = 0; c < this.channels; c++) block[c].set(from[c].subarray(0, frames), this.filled);
    }
    this.filled += frames;
    this.frames += frames;
    return this.filled + RENDER_QUANTUM > BLOCK_FRAMES ? this.flush() : undefined;
  }

  async close(): Promise<void> {
    await this.flush();
    for (const w of this.writers) await w.close();
  }

  async abort(): Promise<void> {
    for (const w of this.writers) await w.abort();
  }

  private async flush(): Promise<void> {
    const n = this.filled;
    this.filled = 0;
    if (n === 0) return;
    for (let f = 0; f < this.writers.length; f++) await this.writers[f].write(this.blocks[f], 0, n);
  }
}
