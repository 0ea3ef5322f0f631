/**
 * `stemstream convert <in.onnx> -o <out.onnx>`: to the canonical layout,
 * optionally with float16 weights; written only after the parity check passes
 * (to a temporary file, renamed into place). The output path and the parity
 * clip are checked before the conversion starts.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AudioData } from '../audio/types.js';
import { StemstreamError } from '../errors.js';
import { convertModel } from '../model/convert.js';
import { describeModel } from '../model/model.js';
import { OPTIMIZE_LEVELS } from '../model/optimize-web.js';
import { checkParity, formatParity, noiseInput, type ParityInput } from '../model/parity.js';
import { AtomicOutput, checkFilesWritable } from './atomic-output.js';
import { fitAudio } from './fit-audio.js';
import { checkInputFile, readInputAudio } from './input.js';
import { stderrLog } from './messages.js';
import { choiceOption, nameListOption, textOption, usageError } from './options.js';

export interface ConvertFlags {
  /** -o, --output. */
  out?: string;
  'fp16-weights'?: boolean;
  optimize?: string;
  sources?: string;
  'no-parity-check'?: boolean;
  clip?: string;
  quiet?: boolean;
}

/** The bundled demo clip, when this is a checkout of the project. */
function defaultClip(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const p = join(here, up, 'demo', 'clip', 'mixture.wav');
    if (existsSync(p)) return p;
  }
  return undefined;
}

function musicInput(name: string, decoded: AudioData, rate: number, channels: number, n: number): ParityInput {
  const audio = fitAudio(decoded, rate, channels);
  // One segment from the middle of the clip (zero-padded if it is shorter).
  const len = audio.channels[0].length;
  const start = Math.max(0, Math.floor((len - n) / 2));
  return { name, audio: audio.channels.map((ch) => { const row = new Float32Array(n); row.set(ch.subarray(start, start + n)); return row; }) };
}

export async function runConvert(input: string, flags: ConvertFlags): Promise<number> {
  const out = textOption('output', flags.out);
  if (out === undefined) throw usageError('convert needs -o <out.onnx> (or --output <out.onnx>)');
  const sources = nameListOption('sources', flags.sources, 'drums,bass,other,vocals');
  const optimize = flags.optimize === undefined ? undefined : choiceOption('optimize', flags.optimize, OPTIMIZE_LEVELS, 'native');
  const explicitClip = textOption('clip', flags.clip);
  if (explicitClip !== undefined && flags['no-parity-check']) throw usageError('--clip is for the parity check; it cannot go with --no-parity-check');
  const log = stderrLog(flags.quiet === true);
  checkInputFile(input, 'the model');
  checkFilesWritable([out]);
  const clip = flags['no-parity-check'] ? undefined : explicitClip ?? defaultClip();
  // Decoded now, so that a bad clip fails before the conversion rather than after it.
  const clipAudio = clip !== undefined ? await readInputAudio(clip, { strict: false, log }) : undefined;
  let source: Uint8Array;
  try {
    source = new Uint8Array(await readFile(input));
  } catch (err) {
    throw new StemstreamError('IO', `cannot read ${input}: ${(err as Error).message}`, { cause: err });
  }
  // Given names replace the model's own (which may be the very ones refused: a repair).
  const info = describeModel(source, input, { sources });
  const fp16 = flags['fp16-weights'] === true;
  log(`converting ${input} (${info.layout.kind} layout, ${(source.length / 1e6).toFixed(1)} MB)${fp16 ? ' with float16 weights' : ''}${optimize ? `, optimized (${optimize})` : ''}`);
  const converted = await convertModel(source, { name: input, fp16Weights: fp16, sources, optimize });
  if (optimize) log(`rewrites: ${Object.entries(converted.rewrites).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  if (flags['no-parity-check']) {
    log('WARNING: --no-parity-check: the converted model is written WITHOUT being compared to its source. It may be wrong. Never use this for a model you ship.');
  } else {
    const { channels, segmentSamples } = info.layout;
    const inputs = [noiseInput(channels, segmentSamples)];
    if (clip !== undefined && clipAudio !== undefined) inputs.push(musicInput(basename(clip), clipAudio, info.sampleRate, channels, segmentSamples));
    log(`parity check: running source and result on ${inputs.map((i) => i.name).join(' and ')} ...`);
    const report = await checkParity(source, converted.bytes, { inputs, fp16, sources, optimize });
    // A quiet run still shows the comparison when it fails: it is the reason.
    if (report.passed) log(formatParity(report));
    else process.stderr.write(`${formatParity(report)}\n`);
    if (!report.passed) {
      throw new StemstreamError('PARITY_FAILED', `the converted model does not match its source (${report.rule}); nothing was written`);
    }
  }
  const output = AtomicOutput.begin([out]);
  try {
    await writeFile(output.tempPath(out), converted.bytes);
    output.commit();
  } catch (err) {
    output.abort();
    throw err instanceof StemstreamError ? err : new StemstreamError('IO', `cannot write ${out}: ${(err as Error).message}`, { cause: err });
  }
  log(`wrote ${out} (${(converted.bytes.length / 1e6).toFixed(1)} MB, ${(100 * converted.bytes.length / source.length).toFixed(0)} % of the source${fp16 ? `, ${converted.fp16Initializers} initializers as float16` : ''})`);
  return 0;
}
