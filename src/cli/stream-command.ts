/**
 * `stemstream stream <input> -o dir`: runs a file through the real-time engine
 * headless (audio-thread core + inference worker thread over the shared rings)
 * as live input, and writes what the audio thread output: mix.wav and one WAV
 * per stem, unshifted (output n ↔ input n − latencySamples), plus stats.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { decodeAudioFile } from '../audio/decode.js';
import { WavFileWriter } from '../audio/wav.js';
import { runHeadlessStream } from '../engine/node-harness.js';
import { StemstreamError } from '../errors.js';
import { defaultModelPath, describeModel } from '../model/model.js';
import type { RuntimeChoice } from '../model/runtime.js';
import { fitAudio } from './fit-audio.js';

export interface StreamFlags {
  out?: string;
  model?: string;
  mode?: string;
  hop?: string;
  lookahead?: string;
  overlap?: string;
  realtime?: boolean;
  track?: boolean;
  json?: string;
  runtime?: string;
  threads?: string;
  float?: boolean;
}

export async function runStream(input: string, flags: StreamFlags): Promise<number> {
  const mode = flags.mode ?? 'quality';
  if (mode !== 'quality' && mode !== 'low-latency') throw new StemstreamError('BAD_OPTION', `--mode ${mode}: must be quality or low-latency`);
  const seconds = (name: string, v: string | undefined, dflt: number) => {
    const x = v === undefined ? dflt : Number(v);
    if (!(x >= 0 && Number.isFinite(x))) throw new StemstreamError('BAD_OPTION', `--${name} ${v}: must be seconds ≥ 0`);
    return x;
  };
  const hop = seconds('hop', flags.hop, 1);
  const lookahead = seconds('lookahead', flags.lookahead, 1);
  const overlap = flags.overlap === undefined ? 0.25 : Number(flags.overlap);
  if (!(overlap >= 0 && overlap < 1)) throw new StemstreamError('BAD_OPTION', `--overlap ${flags.overlap}: must be in [0, 1)`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const modelPath = flags.model ?? (await defaultModelPath());
  const bytes = new Uint8Array(await readFile(modelPath).catch((err: Error) => { throw new StemstreamError('IO', `cannot read the model file ${modelPath}: ${err.message}`); }));
  const info = describeModel(bytes, modelPath);
  const audio = fitAudio(await decodeAudioFile(input), info.sampleRate, info.channels);
  const outDir = flags.out ?? join('streamed', basename(input, extname(input)));
  await mkdir(outDir, { recursive: true });
  if (flags.track && mode !== 'quality') throw new StemstreamError('BAD_OPTION', '--track uses quality mode (the whole track is known, so segments run ahead)');
  log(`streaming ${input} through the real-time engine (${flags.track ? 'track, ' : ''}${mode} mode${flags.realtime ? ', paced to real time' : ', as fast as possible'}) into ${outDir}`);
  const result = await runHeadlessStream(audio, bytes, {
    mode,
    track: flags.track === true,
    hopFrames: Math.round(hop * info.sampleRate),
    lookaheadFrames: Math.round(lookahead * info.sampleRate),
    overlap,
    realtime: flags.realtime === true,
    runtime: (flags.runtime ?? 'auto') as RuntimeChoice,
    threads: flags.threads === undefined ? undefined : Number(flags.threads),
    onProgress: (n, total) => process.stderr.isTTY && process.stderr.write(`\rrendered ${(n / info.sampleRate).toFixed(1)} / ${(total / info.sampleRate).toFixed(1)} s `),
  });
  const format = flags.float ? 'float32' : 'pcm16';
  const write = async (name: string, channels: Float32Array[]) => {
    const w = await WavFileWriter.open(join(outDir, `${name}.wav`), { sampleRate: info.sampleRate, channels: info.channels, format });
    await w.write(channels);
    await w.close();
  };
  await write('mix', result.mix);
  for (const s of result.sources) await write(s, result.stems[s]);
  const stats = {
    mode,
    track: flags.track === true,
    ...(mode === 'low-latency' ? { hopSeconds: hop, lookaheadSeconds: lookahead } : {}),
    latencySamples: result.latencySamples,
    latencySeconds: result.latencySamples / info.sampleRate,
    sampleRate: info.sampleRate,
    inputFrames: audio.channels[0].length,
    outputFrames: result.mix[0].length,
    underruns: result.worklet.underrunQuanta,
    dryFallbackQuanta: result.worklet.dryFallbackQuanta,
    framesSkipped: result.worklet.framesSkipped,
    segments: result.worker.segments,
    meanRunMs: result.worker.segments ? result.worker.runMsTotal / result.worker.segments : 0,
    wallMs: result.wallMs,
    worklet: result.worklet,
    worker: result.worker,
  };
  if (flags.json) await writeFile(flags.json, `${JSON.stringify(stats, null, 2)}\n`);
  log(`${process.stderr.isTTY ? '\n' : ''}done: latency ${result.latencySamples} samples (${stats.latencySeconds.toFixed(2)} s), ${stats.underruns} underruns, ${stats.segments} segments; output n ↔ input n − ${result.latencySamples}`);
  return 0;
}
