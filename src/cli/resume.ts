/**
 * When `separate` skips a track: the one rule for a single file and for a
 * library. A run renames all of its stem files into place together at the
 * end (atomic-output.ts), then leaves a receipt beside them: the input's and
 * the model's path, size and modification time, and every option that
 * changes the stems. A track is skipped when every file it would write is
 * there and the receipt says they came from this input, model and options:
 * another song of the same name, or other options, are separated again, not
 * silently kept. --force separates it again in any case.
 */
import { readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

/** The receipt's file name in a track's output folder (hidden: library walks skip it). */
export const RECEIPT_FILE = '.stemstream-run.json';

export interface FileIdentity {
  path: string;
  bytes: number;
  mtimeMs: number;
}

/** What made a track's stems; equal receipts mean a re-run would write the same files. */
export interface RunReceipt {
  input: FileIdentity;
  model: FileIdentity;
  /** The options that change what is written (not threads, runtime or --quiet). */
  options: Record<string, string | number | boolean | string[] | null>;
}

export function fileIdentity(path: string): FileIdentity {
  const st = statSync(path);
  return { path: resolve(path), bytes: st.size, mtimeMs: st.mtimeMs };
}

function readReceipt(dir: string): unknown {
  try {
    return JSON.parse(readFileSync(join(dir, RECEIPT_FILE), 'utf8'));
  } catch {
    return undefined; // none, or damaged: the track is separated again
  }
}

/** Written after the stems are in place; a run killed in between leaves none, so the track runs again. */
export function writeReceipt(dir: string, receipt: RunReceipt): void {
  const tmp = join(dir, `${RECEIPT_FILE}.partial-${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(receipt, null, 2)}\n`);
  renameSync(tmp, join(dir, RECEIPT_FILE));
}

/** Every file of `files` is there (a folder of that name does not count). */
export function allOutputsThere(files: readonly string[]): boolean {
  return files.every((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

/** Skip the run: not forced, its output is all there, and the receipt in `dir` is `receipt`. */
export function alreadySeparated(files: readonly string[], force: boolean, dir: string, receipt: RunReceipt): boolean {
  return !force && allOutputsThere(files) && JSON.stringify(readReceipt(dir)) === JSON.stringify(receipt);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temporaries of `files` (in `dir`) left by a run that was killed (SIGKILL, power loss) before it could clean up. */
export function removeStaleTemporaries(dir: string, files: readonly string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // no folder yet
  }
  const finals = new Set(files.map((f) => basename(f)));
  for (const name of names) {
    // Also the rescale pass's float scratch (clip-stem-writer.ts: '.f32' after the temporary's name).
    const m = /^\.(.+)\.partial-(\d+)(?:\.f32)?$/.exec(name);
    if (m && finals.has(m[1]) && Number(m[2]) !== process.pid && !processAlive(Number(m[2]))) rmSync(join(dir, name), { force: true });
  }
}
