/**
 * `stemstream separate <folders and files…> -o out/`: a whole library in one
 * run. The model is loaded once; each track is separated into
 * `out/<relative path without extension>/<stem>.<wav|flac>` exactly as a
 * single-file `separate -o` would write that folder.
 *
 * Resumable: a track whose stem files are all there is skipped (--force
 * separates it again; resume.ts, the single-file command's rule too).
 * Stems are renamed into place only when a track's run
 * succeeded (atomic-output.ts), so a track stopped half-way (Ctrl-C, a crash)
 * has none of its files and is separated again on the next run.
 *
 * One bad track does not stop the others: it is listed as failed with its
 * reason, and the run exits 1 at the end. A single file argument keeps the
 * single-file command (separate-command.ts) and its exact behaviour.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { loadModelSet, type ModelSet } from '../model/model-set.js';
import { loadModel, type SeparationModel } from '../model/model.js';
import { checkFilesWritable, checkFolderWritable } from './atomic-output.js';
import { modelOrDefault } from './default-model.js';
import { fitAudio } from './fit-audio.js';
import { openInputAudio, readInputAudio } from './input.js';
import { estimateDuration, LibraryProgress, summaryTable, type TrackOutcome } from './library-progress.js';
import { listLibrary, type LibraryTrack } from './library-tracks.js';
import { discardStream, isWarning, runtimeNote, stderrLog } from './messages.js';
import { alreadySeparated, removeStaleTemporaries } from './resume.js';
import {
  costWarning, outputFiles, parseSeparateFlags, runReceipt, runSeparate, separateSetToFiles, separateToFiles, wantedStems,
  type OutputFiles, type SeparateFlags, type SeparateJob,
} from './separate-command.js';

/** Where a library run writes when -o is not given. */
export const DEFAULT_LIBRARY_OUT = 'separated';

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** `separate` with its inputs: one file → the single-file command; folders or several inputs → a library run. */
export async function runSeparateInputs(inputs: readonly string[], flags: SeparateFlags): Promise<number> {
  if (inputs.length === 1 && !isDirectory(inputs[0])) return runSeparate(inputs[0], flags);
  return runLibrary(inputs, flags);
}

/** What loads once and runs per track: a model or a model set. */
interface Separator {
  sources: readonly string[];
  what: string;
  describe: string;
  /** A line on the runtime's cost, when there is one to say (runtimeNote). */
  note?: string;
  run(track: LibraryTrack, job: SeparateJob, files: OutputFiles, progress: LibraryProgress, k: number, log: (l: string) => void): Promise<void>;
  dispose(): Promise<void>;
}

function modelSeparator(model: SeparationModel, path: string): Separator {
  const { info } = model;
  return {
    sources: info.sources,
    what: 'the model',
    describe: `${basename(path)} on ${model.runtime.name} (${model.runtime.threads} threads)`,
    note: runtimeNote(model.runtime),
    async run(track, job, files, progress, k, log) {
      const input = await openInputAudio(track.input, { strict: job.strict, log, sampleRate: info.sampleRate, channels: info.channels });
      try {
        progress.setDuration(k, input.frames / info.sampleRate);
        await separateToFiles(input.audio, model, job, files, (p) => progress.update(p.total > 0 ? p.done / p.total : 0));
      } finally {
        input.close();
      }
    },
    dispose: () => model.dispose(),
  };
}

function setSeparator(set: ModelSet): Separator {
  return {
    sources: set.sources,
    what: 'the model set',
    describe: `the set ${set.name} (${set.members.length} models)`,
    async run(track, job, files, progress, k, log) {
      const audio = fitAudio(await readInputAudio(track.input, { strict: job.strict, log }), set.sampleRate, set.channels);
      progress.setDuration(k, audio.channels[0].length / set.sampleRate);
      await separateSetToFiles(audio, set, job, files, (p) => progress.update(p.total > 0 ? p.done / p.total : 0));
    },
    dispose: () => set.dispose(),
  };
}

/** The first line of an error, as the reason in the summary. */
function reasonOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

export async function runLibrary(inputs: readonly string[], flags: SeparateFlags): Promise<number> {
  const job = parseSeparateFlags(inputs[0], { ...flags, output: flags.output ?? DEFAULT_LIBRARY_OUT });
  const log = stderrLog(job.quiet);
  const cost = costWarning(job.overlap, job.shifts);
  if (cost) log(cost);
  checkFolderWritable(job.outDir);
  const { tracks, notAudio } = listLibrary(inputs, job.outDir, log);

  const modelPath = await modelOrDefault(job.model, log);
  const separator = modelPath.toLowerCase().endsWith('.json')
    ? setSeparator(await loadModelSet(modelPath, { runtime: job.runtime, threads: job.threads }))
    : modelSeparator(await loadModel(modelPath, { runtime: job.runtime, threads: job.threads }), modelPath);
  try {
    const wanted = wantedStems(job, separator.sources, separator.what);
    const outcomes: TrackOutcome[] = [];
    const todo: { track: LibraryTrack; files: OutputFiles; at: number }[] = [];
    for (const track of tracks) {
      const trackJob = { ...job, input: track.input, outDir: track.outDir, modelFile: modelPath };
      const files = outputFiles(trackJob, wanted);
      if (track.clash !== undefined) {
        outcomes.push({ label: track.label, status: 'failed', ms: 0, reason: track.clash });
        continue;
      }
      outcomes.push({ label: track.label, status: 'skipped', ms: 0 }); // until it is run
      if (!alreadySeparated(files.all, job.force, track.outDir, runReceipt(trackJob))) todo.push({ track, files, at: outcomes.length - 1 });
    }
    const skipped = outcomes.filter((o) => o.status === 'skipped').length - todo.length;
    log(`separating ${todo.length} of ${tracks.length} track(s) with ${separator.describe} into ${job.outDir}` +
      (skipped > 0 ? ` (${skipped} skipped: their stems are already there; --force separates them again)` : ''));
    if (separator.note) log(separator.note);

    const durations = await Promise.all(todo.map((t) => estimateDuration(t.track.input)));
    const progress = new LibraryProgress(todo.map((t) => t.track.label), durations, job.quiet ? discardStream() : process.stderr);
    // Failures and warnings are never quiet; a quiet run has no bar to print them around.
    const loud = (text: string) => (job.quiet ? process.stderr.write(`${text}\n`) : progress.line(text));
    for (let k = 0; k < todo.length; k++) {
      const { track, files, at } = todo[k];
      const t0 = performance.now();
      progress.start(k);
      try {
        removeStaleTemporaries(track.outDir, files.all);
        checkFilesWritable(files.all);
        await separator.run(track, { ...job, input: track.input, outDir: track.outDir, modelFile: modelPath }, files, progress, k, (l) => (isWarning(l) ? loud(`${track.label}: ${l}`) : progress.line(`${track.label}: ${l}`)));
        outcomes[at] = { label: track.label, status: 'done', ms: performance.now() - t0 };
      } catch (err) {
        // Whatever went wrong is this track's: the others still run.
        const reason = reasonOf(err);
        outcomes[at] = { label: track.label, status: 'failed', ms: performance.now() - t0, reason };
        loud(`failed: ${track.label}: ${reason}`);
      }
      progress.finish();
    }
    progress.line('');
    log(summaryTable(outcomes, notAudio));
    const failed = outcomes.filter((o) => o.status === 'failed').length;
    if (failed > 0) loud(`${failed} track(s) failed; run the same command again to retry them (finished tracks are skipped)`);
    return failed > 0 ? 1 : 0;
  } finally {
    await separator.dispose();
  }
}
