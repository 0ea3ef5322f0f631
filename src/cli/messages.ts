/**
 * What the command line prints to stderr besides errors: informational lines
 * (what runs, progress, where the output went), which --quiet silences, and
 * warnings, which it never does. A warning is a line that starts with
 * "warning:" (any case): the one convention every command and input.ts follow.
 */
import { Writable } from 'node:stream';
import { createProgress, type ProgressReporter } from './progress.js';

export type Log = (line: string) => void;

export function isWarning(line: string): boolean {
  return /^warning:/i.test(line);
}

/** Lines to stderr; with `quiet`, only warnings. */
export function stderrLog(quiet: boolean): Log {
  return (line) => {
    if (!quiet || isWarning(line)) process.stderr.write(`${line}\n`);
  };
}

/** A progress bar, or nothing with `quiet`. */
export function progressOrQuiet(label: string, quiet: boolean): ProgressReporter {
  return quiet ? { update: () => undefined, finish: () => undefined } : createProgress(label);
}

/** A stream that drops what is written: where a quiet run's progress goes. */
export function discardStream(): NodeJS.WriteStream {
  return new Writable({ write: (_chunk, _encoding, done) => done() }) as unknown as NodeJS.WriteStream;
}

/** What a run on onnxruntime-web in Node costs and how to avoid it; undefined on onnxruntime-node. */
export function runtimeNote(runtime: { name: string; nativeUnavailable?: string }): string | undefined {
  const why = runtime.nativeUnavailable;
  if (why === undefined) return undefined;
  // onnxruntime-node is an optional peer: say once why it is not used and what it would give.
  const slower = 'so this runs on onnxruntime-web (WebAssembly), about half the speed of native';
  if (/Cannot find (package|module) 'onnxruntime-node'/.test(why)) {
    return `onnxruntime-node is not installed, ${slower}; for native speed: npm install onnxruntime-node --ignore-scripts ` +
      '(its CPU build is in the package; the script only downloads CUDA files)';
  }
  return `onnxruntime-node is installed but failed to load (${why}), ${slower}`;
}
