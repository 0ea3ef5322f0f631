/**
 * `stemstream separate`: decode → (resample, channels) → separateStream → one
 * WAV per stem, streamed to disk as the stems become final.
 *
 * Memory: a WAV at the model's rate (mono or stereo) is read from disk segment
 * by segment (input.ts openInputAudio) and the stems are written as they
 * become final, so a run holds a few segments whatever the input's length.
 * Compressed input (FLAC, MP3, Ogg) and WAVs to resample are decoded whole
 * first: their decoded samples are held for the run. Model sets hold the
 * whole input and every stem (their members run one after the other).
 *
 * Every flag, the input and the output paths are checked before any work; the
 * stems are written under temporary names and renamed into place only when
 * the whole run succeeded (atomic-output.ts), so a failed or interrupted run
 * leaves the files of an earlier one as they were. When every stem file the run
 * would write is already there, it is skipped (--force redoes it): the rule of
 * library runs (resume.ts).
 */
import { DEFAULT_OVERLAP } from '../constants.js';
import { basename, extname, join } from 'node:path';
import { type WavOutputFormat } from '../audio/wav.js';
import { StemstreamError } from '../errors.js';
import { describeModel, loadModel, readModelBytes, type SeparationModel } from '../model/model.js';
import type { RuntimeChoice } from '../model/runtime.js';
import { separateStream, type SeparationStats } from '../separate/separate.js';
import { separateWithSet } from '../separate/separate-set.js';
import { loadModelSet, type ModelSet } from '../model/model-set.js';
import { openStemFile, type StemFileType, type StemFileWriter } from '../export/stem-file-writer.js';
import { CLIP_MODES, DEFAULT_CLIP_MODE, describeClip, type ClipMode, type ClipReport } from '../export/clip.js';
import type { AudioData } from '../audio/types.js';
import { isAudioSource, memorySource, type AudioSource } from '../separate/audio-source.js';
import { AtomicOutput, checkFilesWritable, checkFolderWritable } from './atomic-output.js';
import { modelOrDefault } from './default-model.js';
import { fitAudio } from './fit-audio.js';
import { checkInputFile, openInputAudio, readInputAudio } from './input.js';
import { progressOrQuiet, runtimeNote, stderrLog, type Log } from './messages.js';
import { choiceOption, decimalOption, integerOption, nameListOption, textOption, threadsOption, usageError } from './options.js';
import { alreadySeparated, fileIdentity, removeStaleTemporaries, writeReceipt, type RunReceipt } from './resume.js';

export interface SeparateFlags {
  output?: string;
  model?: string;
  overlap?: string;
  shifts?: string;
  seed?: string;
  'no-normalize'?: boolean;
  stems?: string;
  'two-stems'?: string;
  float?: boolean;
  'clip-mode'?: string;
  runtime?: string;
  threads?: string;
  strict?: boolean;
  format?: string;
  force?: boolean;
  quiet?: boolean;
}

/** Largest overlap: 0.99 already runs every sample through the model 100 times. */
export const MAX_OVERLAP = 0.99;
/** Runs per sample (shifts / (1 − overlap)) from which the CLI warns about the cost. */
const COSTLY_RUNS_PER_SAMPLE = 10;

/** The flags of a separation, checked and typed. */
export interface SeparateJob {
  input: string;
  outDir: string;
  model?: string;
  overlap?: number;
  shifts?: number;
  seed?: number;
  threads?: number;
  runtime: RuntimeChoice;
  stems?: string[];
  two?: string;
  normalize: boolean;
  format: WavOutputFormat;
  /** The stem files' container: wav (default) or flac (lossless, integer samples). */
  fileType: StemFileType;
  /** What happens to samples over full scale in integer output (export/clip.ts); float output is written as is. */
  clipMode: ClipMode;
  /** Separate again a track whose stems are all there (resume.ts). */
  force: boolean;
  strict: boolean;
  /** Warnings and errors only. */
  quiet: boolean;
  /** The model file or set manifest the run uses (the default model resolved), for its receipt (resume.ts). */
  modelFile?: string;
}

/** The receipt of `job` (resume.ts): its input, its model and the options that change the stems. */
export function runReceipt(job: SeparateJob): RunReceipt {
  if (job.modelFile === undefined) throw new Error('runReceipt: the job has no resolved model file');
  return {
    input: fileIdentity(job.input),
    model: fileIdentity(job.modelFile),
    options: {
      overlap: job.overlap ?? null, shifts: job.shifts ?? null, seed: job.seed ?? null, normalize: job.normalize,
      stems: job.stems ?? null, twoStems: job.two ?? null, format: job.format, fileType: job.fileType, clipMode: job.clipMode,
    },
  };
}

export function overlapOption(raw: string | undefined): number | undefined {
  return decimalOption('overlap', raw, { min: 0, max: MAX_OVERLAP, rule: `in [0, ${MAX_OVERLAP}]`, why: `${DEFAULT_OVERLAP} is the default; ${MAX_OVERLAP} already runs every sample through the model ${Math.round(1 / (1 - MAX_OVERLAP))} times` });
}

/** Every flag of `separate`, checked before anything is read or written. */
export function parseSeparateFlags(input: string, flags: SeparateFlags): SeparateJob {
  if (flags.stems !== undefined && flags['two-stems'] !== undefined) throw usageError('--stems and --two-stems cannot be used together');
  const two = textOption('two-stems', flags['two-stems']);
  const fileType = choiceOption('format', flags.format, ['wav', 'flac'] as const, 'wav');
  if (fileType === 'flac' && flags.float) throw usageError('--format flac stores integer samples: drop --float (16-bit FLAC, lossless against the 16-bit WAV) or write float WAV');
  return {
    input,
    outDir: textOption('output', flags.output) ?? join('separated', basename(input, extname(input))),
    model: textOption('model', flags.model),
    overlap: overlapOption(flags.overlap),
    shifts: integerOption('shifts', flags.shifts, { min: 1, max: 100 }),
    seed: integerOption('seed', flags.seed, { min: 0, max: 2 ** 32 - 1 }),
    threads: threadsOption(flags.threads),
    runtime: choiceOption('runtime', flags.runtime, ['auto', 'node', 'web'] as const, 'auto'),
    stems: nameListOption('stems', flags.stems, 'vocals,drums'),
    two: two?.trim(),
    normalize: flags['no-normalize'] !== true,
    format: flags.float ? 'float32' : 'pcm16',
    fileType,
    clipMode: clipModeOption(flags['clip-mode'], flags.float === true),
    force: flags.force === true,
    strict: flags.strict === true,
    quiet: flags.quiet === true,
  };
}

/**
 * --clip-mode (rescale, Demucs' default; clamp; none). With --float nothing
 * clips, so asking for a mode there is refused rather than silently ignored.
 */
export function clipModeOption(raw: string | undefined, float: boolean): ClipMode {
  if (raw !== undefined && float) throw usageError('--clip-mode applies to 16-bit output: float keeps samples over full scale as they are, so nothing clips; drop one of --float and --clip-mode');
  return choiceOption('clip-mode', raw, CLIP_MODES, DEFAULT_CLIP_MODE);
}

/** The warning for a stem that went over full scale (16-bit output: the CLI writes pcm16 or float). */
export function clipWarning(report: ClipReport): string {
  return `warning: ${describeClip(report, 16)}`;
}

/** Where a stem over full scale is reported when the caller gives nowhere: a warning on stderr. */
function warnClip(report: ClipReport): void {
  process.stderr.write(`${clipWarning(report)}\n`);
}

/** The clip handling of the file `path` (named in reports by its stem: vocals, accompaniment, ...). */
function clipFor(job: SeparateJob, path: string, onReport: (report: ClipReport) => void) {
  return { mode: job.clipMode, name: basename(path, extname(path)), onReport };
}

/** A warning when overlap and shifts multiply the compute far beyond the default's. */
export function costWarning(overlap: number | undefined, shifts: number | undefined): string | undefined {
  const o = overlap ?? DEFAULT_OVERLAP;
  const s = shifts ?? 1;
  const runs = s / (1 - o);
  if (runs < COSTLY_RUNS_PER_SAMPLE) return undefined;
  const times = runs / (1 / (1 - DEFAULT_OVERLAP));
  const flags = `--overlap ${o}${shifts !== undefined && shifts > 1 ? ` --shifts ${s}` : ''}`;
  return `warning: ${flags} runs every sample through the model ${Math.round(runs)} times, ${times.toFixed(0)}× the default: expect it to take that much longer`;
}

/** The name of the "everything but X" file. */
export function complementName(stem: string): string {
  return stem === 'vocals' ? 'accompaniment' : `no_${stem}`;
}

/** The stems the flags ask for, checked against what the model (or set) has. */
export function wantedStems(job: SeparateJob, sources: readonly string[], what: string): string[] {
  const wanted = job.two !== undefined ? [job.two] : job.stems ?? [...sources];
  for (const s of wanted) {
    if (!sources.includes(s)) throw usageError(`${what} has no stem "${s}"; it has ${sources.join(', ')}`);
  }
  return wanted;
}

/** The files a run writes: one per stem, and with --two-stems the complement. */
export interface OutputFiles {
  stems: Map<string, string>;
  complement?: string;
  all: string[];
}

export function outputFiles(job: SeparateJob, wanted: readonly string[]): OutputFiles {
  const ext = `.${job.fileType}`;
  const stems = new Map(wanted.map((name) => [name, join(job.outDir, `${name}${ext}`)]));
  const complement = job.two !== undefined ? join(job.outDir, `${complementName(job.two)}${ext}`) : undefined;
  return { stems, complement, all: [...stems.values(), ...(complement !== undefined ? [complement] : [])] };
}

/** Folds a failure during the run into one line that says nothing was written. */
export function runFailed(err: unknown): StemstreamError {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  const code = err instanceof StemstreamError ? err.code : 'RUN_FAILED';
  return new StemstreamError(code, `separation failed, nothing was written (earlier files are unchanged): ${message}`, { cause: err });
}

/** The line a skipped single-file run prints (library runs count them in their summary). */
export function skippedLine(job: SeparateJob, files: OutputFiles): string {
  return `skipped ${job.input}: its stems from this file, model and options are already in ${job.outDir} (${files.all.map((f) => basename(f)).join(', ')}); --force separates it again`;
}

/**
 * True (and says so) when the run would only rewrite what is there;
 * otherwise clears what a killed run left and checks the files can be written.
 */
function skipOrPrepare(job: SeparateJob, files: OutputFiles, log: Log): boolean {
  if (alreadySeparated(files.all, job.force, job.outDir, runReceipt(job))) {
    log(skippedLine(job, files));
    return true;
  }
  removeStaleTemporaries(job.outDir, files.all);
  checkFilesWritable(files.all);
  return false;
}

/**
 * The files a run with the model at `modelPath` would write, from the model's
 * description (no session): a finished track is skipped without loading it.
 * The bytes read are dropped on return, not held through the run.
 */
async function plannedFiles(job: SeparateJob, modelPath: string): Promise<OutputFiles> {
  const { bytes, name } = await readModelBytes(modelPath);
  return outputFiles(job, wantedStems(job, describeModel(bytes, name).sources, 'the model'));
}

export async function runSeparate(input: string, flags: SeparateFlags): Promise<number> {
  const job = parseSeparateFlags(input, flags);
  const log = stderrLog(job.quiet);
  const cost = costWarning(job.overlap, job.shifts);
  if (cost) log(cost);
  checkInputFile(job.input);
  checkFolderWritable(job.outDir);
  const modelPath = await modelOrDefault(job.model, log);
  job.modelFile = modelPath;
  if (modelPath.toLowerCase().endsWith('.json')) return runSeparateWithSet(job, modelPath, log);
  const files = await plannedFiles(job, modelPath);
  if (skipOrPrepare(job, files, log)) return 0;
  const model = await loadModel(modelPath, { runtime: job.runtime, threads: job.threads });
  try {
    const input = await openInputAudio(job.input, { strict: job.strict, log, logFit: true, sampleRate: model.info.sampleRate, channels: model.info.channels });
    try {
      const seconds = input.frames / model.info.sampleRate;
      log(`separating ${job.input} (${seconds.toFixed(1)} s) with ${basename(modelPath)} on ${model.runtime.name} (${model.runtime.threads} threads) into ${job.outDir}`);
      const note = runtimeNote(model.runtime);
      if (note) log(note);
      const progress = progressOrQuiet('separating', job.quiet);
      const clipped: ClipReport[] = [];
      const stats = await separateToFiles(input.audio, model, job, files, (p) => progress.update(p.done, p.total, p.etaMs), (r) => clipped.push(r));
      const rtf = stats.wallMs / 1000 / Math.max(seconds, 1e-9);
      progress.finish(`done in ${(stats.wallMs / 1000).toFixed(1)} s (${rtf.toFixed(2)} s per second of audio, ${stats.segments} segments): ${files.all.join(', ')}`);
      for (const r of clipped) log(clipWarning(r));
      return 0;
    } finally {
      input.close();
    }
  } finally {
    await model.dispose();
  }
}

/**
 * Runs the separation into temporaries of `files` and puts them in place when
 * all of it succeeded; on any error they are removed and the error rethrown.
 * A stem over full scale is handled by job.clipMode and told to `onClip` once
 * its file is complete (default: a warning on stderr).
 */
export async function separateToFiles(
  audio: AudioData | AudioSource,
  model: SeparationModel,
  job: SeparateJob,
  files: OutputFiles,
  onProgress: (p: { done: number; total: number; etaMs: number }) => void,
  onClip: (report: ClipReport) => void = warnClip,
): Promise<SeparationStats> {
  const { info } = model;
  const C = info.channels;
  const output = AtomicOutput.begin(files.all);
  const writers: StemFileWriter[] = [];
  const open = async (path: string) => {
    const w = await openStemFile(output.tempPath(path), { sampleRate: info.sampleRate, channels: C, format: job.format, fileType: job.fileType, clip: clipFor(job, path, onClip) });
    writers.push(w);
    return w;
  };
  try {
    const stemWriters: [number, StemFileWriter][] = [];
    for (const [name, path] of files.stems) stemWriters.push([info.sources.indexOf(name), await open(path)]);
    const complement = files.complement !== undefined ? await open(files.complement) : undefined;
    const two = job.two;
    const rest: Float32Array[] = Array.from({ length: C }, () => new Float32Array(info.segmentSamples));
    // The mix under each block, for the complement: read again from the input (a file is not held in memory).
    const mixSource = complement ? (isAudioSource(audio) ? audio : memorySource(audio)) : undefined;
    const mixBlock: Float32Array[] = Array.from({ length: complement ? C : 0 }, () => new Float32Array(info.segmentSamples));
    const stats = await separateStream(
      audio,
      model,
      { overlap: job.overlap, shifts: job.shifts, seed: job.seed, normalize: job.normalize, onProgress: (p) => onProgress({ done: p.segmentsDone, total: p.segmentsTotal, etaMs: p.etaMs }) },
      async (block) => {
        for (const [s, writer] of stemWriters) await writer.write(block.rows.slice(s * C, s * C + C), 0, block.frames);
        if (complement && mixSource && two !== undefined) {
          // Mix minus the stem: exactly what is left, the karaoke track for vocals.
          const s = info.sources.indexOf(two);
          mixSource.read(block.start, block.frames, mixBlock, 0);
          for (let c = 0; c < C; c++) {
            const mix = mixBlock[c];
            const stem = block.rows[s * C + c];
            const out = rest[c];
            for (let i = 0; i < block.frames; i++) out[i] = mix[i] - stem[i];
          }
          await complement.write(rest, 0, block.frames);
        }
      },
    );
    for (const w of writers) await w.close();
    output.commit();
    if (job.modelFile !== undefined) writeReceipt(job.outDir, runReceipt(job));
    return stats;
  } catch (err) {
    for (const w of writers) await w.abort();
    output.abort();
    throw runFailed(err);
  }
}

/** The same job with a model set (manifest .json): members run whole, stems are written at the end. */
async function runSeparateWithSet(job: SeparateJob, manifest: string, log: Log): Promise<number> {
  const set = await loadModelSet(manifest, { runtime: job.runtime, threads: job.threads });
  try {
    const wanted = wantedStems(job, set.sources, 'the model set');
    const files = outputFiles(job, wanted);
    if (skipOrPrepare(job, files, log)) return 0;
    const audio = fitAudio(await readInputAudio(job.input, { strict: job.strict, log }), set.sampleRate, set.channels, log);
    log(`separating ${job.input} with the set ${set.name} (${set.members.length} models) into ${job.outDir}`);
    const progress = progressOrQuiet('separating', job.quiet);
    const t0 = performance.now();
    const clipped: ClipReport[] = [];
    const modelsRun = await separateSetToFiles(audio, set, job, files, (p) => progress.update(p.done, p.total, p.etaMs), (r) => clipped.push(r));
    progress.finish(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s with ${modelsRun} of ${set.members.length} models: ${files.all.join(', ')}`);
    for (const r of clipped) log(clipWarning(r));
    return 0;
  } finally {
    await set.dispose();
  }
}

/**
 * A model set's run on decoded `audio` into `files` (atomically, like
 * separateToFiles); returns how many of the set's models ran.
 */
export async function separateSetToFiles(
  audio: AudioData,
  set: ModelSet,
  job: SeparateJob,
  files: OutputFiles,
  onProgress: (p: { done: number; total: number; etaMs: number }) => void,
  onClip: (report: ClipReport) => void = warnClip,
): Promise<number> {
  const two = job.two;
  const wanted = [...files.stems.keys()];
  let result: Awaited<ReturnType<typeof separateWithSet>>;
  try {
    result = await separateWithSet(audio, set, {
      stems: wanted, overlap: job.overlap, shifts: job.shifts, seed: job.seed, normalize: job.normalize,
      onProgress: (p) => onProgress({ done: p.segmentsDone, total: p.segmentsTotal, etaMs: p.etaMs }),
    });
  } catch (err) {
    throw runFailed(err);
  }
  const contents: [string, Float32Array[]][] = [...files.stems].map(([name, path]) => [path, result.stems[name]]);
  if (files.complement !== undefined && two !== undefined) {
    contents.push([files.complement, audio.channels.map((mix, c) => mix.map((v, t) => v - result.stems[two][c][t]))]);
  }
  const output = AtomicOutput.begin(files.all);
  try {
    for (const [path, channels] of contents) {
      const w = await openStemFile(output.tempPath(path), { sampleRate: set.sampleRate, channels: set.channels, format: job.format, fileType: job.fileType, clip: clipFor(job, path, onClip) });
      try {
        await w.write(channels);
        await w.close();
      } catch (err) {
        await w.abort();
        throw err;
      }
    }
    output.commit();
    if (job.modelFile !== undefined) writeReceipt(job.outDir, runReceipt(job));
  } catch (err) {
    output.abort();
    throw runFailed(err);
  }
  return result.modelsRun.length;
}
