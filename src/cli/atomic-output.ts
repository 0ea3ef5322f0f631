/**
 * Output that appears complete or not at all. Each file is written under a
 * temporary name in its destination folder (the same file system, so the
 * rename is atomic) and renamed into place by commit(). Until then a file of
 * an earlier run stays byte-identical. abort(), an error or a signal removes
 * the temporaries and the folders this run created (when empty).
 *
 * Everything here is synchronous on purpose: a signal handler can run it, and
 * no signal can land between two renames of one commit.
 */
import { accessSync, constants, mkdirSync, renameSync, rmSync, rmdirSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { StemstreamError } from '../errors.js';

/** Outputs begun and neither committed nor aborted: what a signal must clean up. */
const pending = new Set<AtomicOutput>();

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // not there (a file higher up is reported by the caller)
    throw new StemstreamError('IO', `cannot check ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The folder `dir` exists and is writable, or can be created: its nearest existing ancestor is a writable folder. */
export function checkFolderWritable(dir: string): void {
  let at = resolve(dir);
  let st = statOrUndefined(at);
  while (st === undefined && dirname(at) !== at) {
    at = dirname(at);
    st = statOrUndefined(at);
  }
  if (st === undefined) throw new StemstreamError('IO', `cannot create the folder ${dir}: no part of the path exists`);
  if (!st.isDirectory()) {
    throw new StemstreamError('IO', `cannot write into ${dir}: ${at} is a file, not a folder; choose another output path`);
  }
  try {
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch {
    throw new StemstreamError('IO', `cannot write into ${dir}: ${at} is not writable; choose another output path`);
  }
}

/** Each path can be written: its folder is writable (or creatable) and no folder sits under its name. */
export function checkFilesWritable(paths: readonly string[]): void {
  for (const path of paths) {
    if (statOrUndefined(path)?.isDirectory()) {
      throw new StemstreamError('IO', `cannot write ${path}: a folder of that name is in the way; move it or choose another output path`);
    }
    checkFolderWritable(dirname(path));
  }
}

/** Creates `dir` (and its missing parents); returns the folders it created, outermost first. */
function makeFolder(dir: string): string[] {
  let first: string | undefined;
  try {
    first = mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StemstreamError('IO', `cannot create the folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (first === undefined) return [];
  const created: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    created.unshift(d);
    if (d === resolve(first) || dirname(d) === d) break;
  }
  return created;
}

export class AtomicOutput {
  private readonly temps = new Map<string, string>();
  private readonly createdFolders: string[] = [];

  private constructor(finals: readonly string[]) {
    for (const final of finals) {
      this.temps.set(final, join(dirname(final), `.${basename(final)}.partial-${process.pid}`));
    }
  }

  /**
   * Checks `finals` can be written, creates their folders and registers the
   * output for cleanup on a signal. Write each file to `tempPath(final)`.
   */
  static begin(finals: readonly string[]): AtomicOutput {
    checkFilesWritable(finals);
    const out = new AtomicOutput(finals);
    pending.add(out);
    try {
      for (const dir of new Set(finals.map((f) => dirname(f)))) out.createdFolders.push(...makeFolder(dir));
    } catch (err) {
      out.abort();
      throw err;
    }
    return out;
  }

  /** Where to write `final` until commit(). */
  tempPath(final: string): string {
    const temp = this.temps.get(final);
    if (temp === undefined) throw new Error(`AtomicOutput: ${final} was not declared in begin()`);
    return temp;
  }

  /** Renames every temporary into place. After an error here, the files not yet renamed are removed. */
  commit(): void {
    try {
      for (const [final, temp] of this.temps) {
        try {
          renameSync(temp, final);
        } catch (err) {
          throw new StemstreamError('IO', `cannot put ${final} in place: ${(err as Error).message}`, { cause: err });
        }
        this.temps.delete(final);
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    pending.delete(this);
  }

  /** Removes the temporaries and the folders begin() created (if nothing else is in them). */
  abort(): void {
    for (const temp of this.temps.values()) rmSync(temp, { force: true });
    this.temps.clear();
    for (const dir of [...this.createdFolders].reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        break; // not empty (another program wrote there): keep it and its parents
      }
    }
    this.createdFolders.length = 0;
    pending.delete(this);
  }
}

/** Aborts every output still being written (for signal and exit handlers); returns how many there were. */
export function abortPendingOutputs(): number {
  const n = pending.size;
  for (const out of [...pending]) out.abort();
  return n;
}
