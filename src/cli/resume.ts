/**
 * When `separate` skips a track: the one rule for a single file and for a
 * library. A run renames all of its stem files into place together at the
 * end (atomic-output.ts), so when every file it would write is there, an
 * earlier run finished it; --force separates it again.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

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

/** Skip the run: not forced, and its output is all there. */
export function alreadySeparated(files: readonly string[], force: boolean): boolean {
  return !force && allOutputsThere(files);
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
    const m = /^\.(.+)\.partial-(\d+)$/.exec(name);
    if (m && finals.has(m[1]) && Number(m[2]) !== process.pid && !processAlive(Number(m[2]))) rmSync(join(dir, name), { force: true });
  }
}
