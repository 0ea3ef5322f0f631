/**
 * The tracks of a library run: the files and folders given on the command
 * line, folders walked in name order, each track mapped to its own output
 * folder `out/<path relative to the folder given, without extension>/`
 * (a file given by itself: `out/<name without extension>/`).
 *
 * Inside folders only audio files (by extension: what the decoder reads) are
 * tracks; other files are counted, hidden files and folders are skipped, the
 * output folder is never walked into (its stems would become tracks), and a
 * folder reached twice through symbolic links is walked once (loops end).
 */
import { readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { StemstreamError } from '../errors.js';

/** Extensions of the containers decode.ts reads (it sniffs the bytes; the walk goes by name). */
export const AUDIO_EXTENSIONS: readonly string[] = ['.wav', '.wave', '.aif', '.aiff', '.aifc', '.m4a', '.mp4', '.flac', '.mp3', '.ogg', '.oga', '.opus'];

export interface LibraryTrack {
  /** The file to separate. */
  input: string;
  /** As shown in progress and the summary: relative to the folder given, or as given. */
  label: string;
  /** Where its stems go. */
  outDir: string;
  /** Set when another track already maps to `outDir`: this one fails with that reason. */
  clash?: string;
}

export interface LibraryListing {
  tracks: LibraryTrack[];
  /** Files in the folders that are not audio (ignored). */
  notAudio: number;
}

export function isAudioFileName(name: string): boolean {
  return AUDIO_EXTENSIONS.includes(extname(name).toLowerCase());
}

function statOf(path: string, what: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StemstreamError('IO', `cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`, { cause: err });
  }
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** True when `path` is `dir` or inside it. */
function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** The output folder of a track: the relative path with its extension dropped. */
function trackOutDir(outRoot: string, rel: string): string {
  return join(outRoot, rel.slice(0, rel.length - extname(rel).length));
}

/**
 * Lists the tracks of `inputs` (files and folders) for output under
 * `outRoot`. A missing input is an error (a typo should not cost a long run);
 * unreadable folders inside the walk are skipped with a warning.
 */
export function listLibrary(inputs: readonly string[], outRoot: string, warn: (line: string) => void): LibraryListing {
  const tracks: LibraryTrack[] = [];
  let notAudio = 0;
  const outReal = realOrSelf(outRoot);
  const visited = new Set<string>();

  const walk = (dir: string, root: string): void => {
    const real = realOrSelf(dir);
    if (visited.has(real) || within(real, outReal)) return;
    visited.add(real);
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (err) {
      warn(`warning: cannot read the folder ${dir} (${(err as Error).message}); its files are left out`);
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue; // hidden, and our own temporaries
      const path = join(dir, name);
      let st: Stats;
      try {
        st = statSync(path); // follows symbolic links; a dangling one is skipped
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(path, root);
      else if (!st.isFile()) continue;
      else if (isAudioFileName(name)) {
        const rel = relative(root, path);
        tracks.push({ input: path, label: rel, outDir: trackOutDir(outRoot, rel) });
      } else notAudio++;
    }
  };

  for (const input of inputs) {
    const st = statOf(input, 'the input');
    if (st.isDirectory()) walk(input, input);
    else tracks.push({ input, label: input, outDir: trackOutDir(outRoot, basename(input)) });
  }

  // Two tracks with one output folder (song.mp3 and song.flac, or the same path under two folders given).
  const owner = new Map<string, LibraryTrack>();
  for (const t of tracks) {
    const key = resolve(t.outDir);
    const first = owner.get(key);
    if (first === undefined) owner.set(key, t);
    else t.clash = `its stems would go to ${t.outDir}, where those of ${first.label} go; rename one of them or separate it on its own`;
  }
  return { tracks, notAudio };
}
