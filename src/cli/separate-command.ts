/**
 * `stemstream separate`: decode → (resample, channels) → separateStream → one
 * WAV per stem, streamed to disk as the stems become final.
 */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { decodeAudioFile } from '../audio/decode.js';
import { WavFileWriter } from '../audio/wav.js';
import { StemstreamError } from '../errors.js';
import { defaultModelPath, loadModel } from '../model/model.js';
import type { RuntimeChoice } from '../model/runtime.js';
import { separateStream } from '../separate/separate.js';
import { separateWithSet } from '../separate/separate-set.js';
import { loadModelSet } from '../model/model-set.js';
import type { AudioData } from '../audio/types.js';
import { fitAudio } from './fit-audio.js';
import { createProgress } from './progress.js';

export interface SeparateFlags {
  out?: string;
  model?: string;
  overlap?: string;
  shifts?: string;
  seed?: string;
  'no-normalize'?: boolean;
  stems?: string;
  'two-stems'?: string;
  float?: boolean;
  runtime?: string;
  threads?: string;
}

function numberFlag(name: string, value: string | undefined, check: (n: number) => boolean, rule: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new StemstreamError('BAD_OPTION', `--${name} ${value}: must be ${rule}`);
  return n;
}

/** The name of the "everything but X" file. */
export function complementName(stem: string): string {
  return stem === 'vocals' ? 'accompaniment' : `no_${stem}`;
}

/** The stems the flags ask for, checked against what the model (or set) has. */
function wantedStems(flags: SeparateFlags, sources: readonly string[], what: string): string[] {
  const wanted = flags['two-stems'] !== undefined ? [flags['two-stems']] : flags.stems?.split(',').map((s) => s.trim()).filter(Boolean) ?? [...sources];
  for (const s of wanted) {
    if (!sources.includes(s)) throw new StemstreamError('BAD_OPTION', `${what} has no stem "${s}"; it has ${sources.join(', ')}`);
  }
  return wanted;
}

export async function runSeparate(input: string, flags: SeparateFlags): Promise<number> {
  const overlap = numberFlag('overlap', flags.overlap, (n) => n >= 0 && n < 1, 'in [0, 1)');
  const shifts = numberFlag('shifts', flags.shifts, (n) => Number.isInteger(n) && n >= 1 && n <= 100, 'an integer from 1 to 100');
  const seed = numberFlag('seed', flags.seed, Number.isInteger, 'an integer');
  const threads = numberFlag('threads', flags.threads, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
  const runtime = (flags.runtime ?? 'auto') as RuntimeChoice;
  if (!['auto', 'node', 'web'].includes(runtime)) throw new StemstreamError('BAD_OPTION', `--runtime ${flags.runtime}: must be auto, node or web`);
  if (flags.stems !== undefined && flags['two-stems'] !== undefined) throw new StemstreamError('BAD_OPTION', '--stems and --two-stems cannot be used together');

  const modelPath = flags.model ?? (await defaultModelPath());
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const decoded = await decodeAudioFile(input);
  if (modelPath.toLowerCase().endsWith('.json')) return runSeparateWithSet(input, decoded, modelPath, flags, { overlap, shifts, seed, runtime, threads });
  const model = await loadModel(modelPath, { runtime, threads });
  try {
    const { info } = model;
    const wanted = wantedStems(flags, info.sources, 'the model');
    const audio = fitAudio(decoded, info.sampleRate, info.channels, log);

    const outDir = flags.out ?? join('separated', basename(input, extname(input)));
    await mkdir(outDir, { recursive: true });
    const format = flags.float ? 'float32' : 'pcm16';
    const C = info.channels;
    const writers = new Map<string, WavFileWriter>();
    for (const s of wanted) writers.set(s, await WavFileWriter.open(join(outDir, `${s}.wav`), { sampleRate: info.sampleRate, channels: C, format }));
    const two = flags['two-stems'];
    const complement = two !== undefined ? await WavFileWriter.open(join(outDir, `${complementName(two)}.wav`), { sampleRate: info.sampleRate, channels: C, format }) : undefined;
    const rest: Float32Array[] = Array.from({ length: C }, () => new Float32Array(info.segmentSamples));

    const seconds = (audio.channels[0]?.length ?? 0) / info.sampleRate;
    log(`separating ${input} (${seconds.toFixed(1)} s) with ${basename(modelPath)} on ${model.runtime.name} (${model.runtime.threads} threads) into ${outDir}`);
    const progress = createProgress('separating');
    const stats = await separateStream(
      audio,
      model,
      { overlap, shifts, seed, normalize: flags['no-normalize'] !== true, onProgress: (p) => progress.update(p.segmentsDone, p.segmentsTotal, p.etaMs) },
      async (block) => {
        for (const [name, writer] of writers) {
          const s = info.sources.indexOf(name);
          await writer.write(block.rows.slice(s * C, s * C + C), 0, block.frames);
        }
        if (complement && two !== undefined) {
          // Mix minus the stem: exactly what is left, the karaoke track for vocals.
          const s = info.sources.indexOf(two);
          for (let c = 0; c < C; c++) {
            const mix = audio.channels[c];
            const stem = block.rows[s * C + c];
            const out = rest[c];
            for (let i = 0; i < block.frames; i++) out[i] = mix[block.start + i] - stem[i];
          }
          await complement.write(rest, 0, block.frames);
        }
      },
    );
    for (const w of writers.values()) await w.close();
    await complement?.close();
    const rtf = stats.wallMs / 1000 / Math.max(seconds, 1e-9);
    progress.finish(`done in ${(stats.wallMs / 1000).toFixed(1)} s (${rtf.toFixed(2)} s per second of audio, ${stats.segments} segments): ${[...writers.keys(), ...(two !== undefined ? [complementName(two)] : [])].map((s) => join(outDir, `${s}.wav`)).join(', ')}`);
    return 0;
  } finally {
    await model.dispose();
  }
}

/** The same job with a model set (manifest .json): members run whole, stems are written at the end. */
async function runSeparateWithSet(
  input: string,
  decoded: AudioData,
  manifest: string,
  flags: SeparateFlags,
  o: { overlap?: number; shifts?: number; seed?: number; runtime: RuntimeChoice; threads?: number },
): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const set = await loadModelSet(manifest, { runtime: o.runtime, threads: o.threads });
  try {
    const two = flags['two-stems'];
    const wanted = wantedStems(flags, set.sources, 'the model set');
    const audio = fitAudio(decoded, set.sampleRate, set.channels, log);
    const outDir = flags.out ?? join('separated', basename(input, extname(input)));
    await mkdir(outDir, { recursive: true });
    const format = flags.float ? 'float32' : 'pcm16';
    log(`separating ${input} with the set ${set.name} (${set.members.length} models) into ${outDir}`);
    const progress = createProgress('separating');
    const t0 = performance.now();
    const result = await separateWithSet(audio, set, {
      stems: wanted, overlap: o.overlap, shifts: o.shifts, seed: o.seed, normalize: flags['no-normalize'] !== true,
      onProgress: (p) => progress.update(p.segmentsDone, p.segmentsTotal, p.etaMs),
    });
    const written: string[] = [];
    const write = async (name: string, channels: Float32Array[]) => {
      const path = join(outDir, `${name}.wav`);
      const w = await WavFileWriter.open(path, { sampleRate: set.sampleRate, channels: set.channels, format });
      await w.write(channels);
      await w.close();
      written.push(path);
    };
    for (const name of wanted) await write(name, result.stems[name]);
    if (two !== undefined) await write(complementName(two), audio.channels.map((mix, c) => mix.map((v, t) => v - result.stems[two][c][t])));
    progress.finish(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s with ${result.modelsRun.length} of ${set.members.length} models: ${written.join(', ')}`);
    return 0;
  } finally {
    await set.dispose();
  }
}
