/**
 * The converter: a model of the demucs layout (complex as channels) becomes a
 * canonical one (spec_real, spec_imag, audio → out_spec_real, out_spec_imag,
 * out_wave) by a few graph nodes in front and behind, with the metadata
 * embedded; optionally its weights stored as float16 and cast back at load.
 * It only edits the graph: checking the result is parity.ts's job.
 */
import { BINS, HOP, NFFT } from '../constants.js';
import { StemstreamError } from '../errors.js';
import { toFloat16Bits } from './float16.js';
import { describeModel } from './model.js';
import { checkStemNames } from './model-limits.js';
import { optimizeModel, type OptimizeLevel } from './optimize-web.js';
import {
  DataType,
  decodeModel,
  encodeModel,
  int64ToNumber,
  makeNode,
  makeTensor,
  makeValueInfo,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from './onnx-proto.js';

export interface ConvertOptions {
  /** Store float32 initializers as float16, cast back to float32 in the graph. */
  fp16Weights?: boolean;
  /** Source names to embed (default: the model's, from metadata or Demucs' defaults). */
  sources?: string[];
  /** Initializers with fewer elements (epsilons, shape constants) stay float32. Default 1024. */
  fp16MinElements?: number;
  /** Graph rewrites for ONNX Runtime's CPU kernels (optimize-web.ts); 'web-int8' also quantizes the linear layers. */
  optimize?: OptimizeLevel;
  /** Name of the source file, for messages. */
  name?: string;
  /** What to record as the converter in the metadata. */
  converter?: string;
  /**
   * Tests only: make a deliberately wrong edit (re and im swapped at the
   * output) so the parity check can be shown to refuse it.
   */
  sabotage?: 'swap-re-im';
}

export interface ConvertResult {
  bytes: Uint8Array;
  /** Initializers stored as float16. */
  fp16Initializers: number;
  /** Rewrites applied by `optimize`, by name → sites (empty without it). */
  rewrites: Record<string, number>;
  metadata: Record<string, string>;
}

export const CANONICAL_NAMES = {
  inputs: { specReal: 'spec_real', specImag: 'spec_imag', audio: 'audio' },
  outputs: { specReal: 'out_spec_real', specImag: 'out_spec_imag', wave: 'out_wave' },
} as const;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Elements of a tensor by its dims, or undefined when the dims are no real shape (negative, fractional, product beyond 2^53). */
function elementCount(t: OnnxTensor<number>): number | undefined {
  let n = 1;
  for (const d of t.dims ?? []) {
    const v = int64ToNumber(d);
    if (!Number.isSafeInteger(v) || v < 0) return undefined;
    n *= v;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
}

/** Replaces float32 initializers by float16 ones plus a Cast node each. Returns the Cast nodes and the count. */
function storeWeightsAsFloat16(model: OnnxModel<number>, minElements: number): { casts: OnnxNode[]; count: number } {
  const graph = model.graph!;
  const taken = new Set<string>((graph.initializer ?? []).map((t) => t.name ?? ''));
  const casts: OnnxNode[] = [];
  let count = 0;
  for (const t of graph.initializer ?? []) {
    if (t.data_type !== DataType.FLOAT || t.data_location === 1) continue;
    const n = elementCount(t);
    if (n === undefined || n < minElements) continue;
    // The dims come from the file: allocate only once the data present holds exactly that many elements.
    const raw = t.raw_data !== undefined && t.raw_data.length === n * 4 ? t.raw_data : undefined;
    const floats = raw === undefined && t.float_data !== undefined && t.float_data.length === n ? t.float_data : undefined;
    if (raw === undefined && floats === undefined) continue;
    const half = new Uint16Array(n);
    if (raw) {
      // raw_data is a view into the file, not necessarily 4-byte aligned.
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < n; i++) half[i] = toFloat16Bits(view.getFloat32(i * 4, true));
    } else if (floats) {
      for (let i = 0; i < n; i++) half[i] = toFloat16Bits(floats[i]);
    }
    const original = t.name ?? '';
    let stored = `${original}__fp16`;
    while (taken.has(stored)) stored += '_';
    taken.add(stored);
    const bytes = new Uint8Array(n * 2);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) dv.setUint16(i * 2, half[i], true);
    t.name = stored;
    t.data_type = DataType.FLOAT16;
    t.raw_data = bytes;
    delete t.float_data;
    casts.push(makeNode('Cast', [stored], [original], { to: DataType.FLOAT }, { name: `stemstream/cast/${original}` }));
    count++;
  }
  return { casts, count };
}

function opsetOf(model: OnnxModel<number>): number {
  const op = (model.opset_import ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return op ? int64ToNumber(op.version) : 0;
}

export async function convertModel(source: Uint8Array, options: ConvertOptions = {}): Promise<ConvertResult> {
  const name = options.name ?? '(model)';
  // Refused before anything is converted: the names are written into the model, and become file names wherever it is used.
  const given = options.sources === undefined ? undefined : checkStemNames(options.sources, {
    what: '--sources',
    fix: 'give one name per stem of the model, separated by commas, e.g. --sources drums,bass,other,vocals',
    code: 'BAD_OPTION',
  });
  // Given names replace the model's own, so that convert can also repair a model whose names are refused.
  const info = describeModel(source, name, { sources: given });
  const { layout } = info;
  const sources = info.sources;
  const model = decodeModel(source);
  const graph = model.graph;
  if (!graph) throw new StemstreamError('NOT_ONNX', `${name} has no graph`);
  const opset = opsetOf(model);
  if (opset < 13) throw new StemstreamError('UNKNOWN_LAYOUT', `${name} uses opset ${opset}; the converter needs opset 13 or newer`);

  const C = layout.channels;
  const S = layout.sources;
  const N = layout.segmentSamples;
  const T = layout.frames;
  const front: OnnxNode[] = [];
  const back: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  const F = DataType.FLOAT;

  if (layout.kind === 'demucs') {
    const names = new Set<string>();
    for (const n of graph.node ?? []) for (const v of [...(n.input ?? []), ...(n.output ?? [])]) names.add(v);
    for (const t of graph.initializer ?? []) names.add(t.name ?? '');
    for (const v of [...Object.values(CANONICAL_NAMES.inputs), ...Object.values(CANONICAL_NAMES.outputs)]) {
      if (names.has(v)) throw new StemstreamError('UNKNOWN_LAYOUT', `${name} already has a tensor named ${v}; cannot convert it`);
    }
    const p = (s: string) => `stemstream/${s}`;
    inits.push(
      makeTensor(p('axis2'), [1], new BigInt64Array([2n])),
      makeTensor(p('spec_shape'), [4], new BigInt64Array([1n, BigInt(2 * C), BigInt(BINS), BigInt(T)])),
      makeTensor(p('out_shape'), [6], new BigInt64Array([1n, BigInt(S), BigInt(C), 2n, BigInt(BINS), BigInt(T)])),
      makeTensor(p('re'), [], new BigInt64Array([options.sabotage === 'swap-re-im' ? 1n : 0n])),
      makeTensor(p('im'), [], new BigInt64Array([options.sabotage === 'swap-re-im' ? 0n : 1n])),
    );
    // In: [1, C, 2048, T] × 2 → [1, C, 2, 2048, T] → [1, 2C, 2048, T] = re0, im0, re1, im1.
    front.push(
      makeNode('Unsqueeze', [CANONICAL_NAMES.inputs.specReal, p('axis2')], [p('re5')], {}, { name: p('unsqueeze_re') }),
      makeNode('Unsqueeze', [CANONICAL_NAMES.inputs.specImag, p('axis2')], [p('im5')], {}, { name: p('unsqueeze_im') }),
      makeNode('Concat', [p('re5'), p('im5')], [p('reim')], { axis: 2 }, { name: p('concat') }),
      makeNode('Reshape', [p('reim'), p('spec_shape')], [layout.inputs.spec], {}, { name: p('reshape_in') }),
      makeNode('Identity', [CANONICAL_NAMES.inputs.audio], [layout.inputs.audio], {}, { name: p('audio_in') }),
    );
    // Out: [1, S, 2C, 2048, T] → [1, S, C, 2, 2048, T] → re and im halves.
    back.push(
      makeNode('Reshape', [layout.outputs.spec, p('out_shape')], [p('out6')], {}, { name: p('reshape_out') }),
      makeNode('Gather', [p('out6'), p('re')], [CANONICAL_NAMES.outputs.specReal], { axis: 3 }, { name: p('gather_re') }),
      makeNode('Gather', [p('out6'), p('im')], [CANONICAL_NAMES.outputs.specImag], { axis: 3 }, { name: p('gather_im') }),
      makeNode('Identity', [layout.outputs.wave], [CANONICAL_NAMES.outputs.wave], {}, { name: p('wave_out') }),
    );
    const oldInputs = new Set([layout.inputs.spec, layout.inputs.audio]);
    graph.input = [
      makeValueInfo(CANONICAL_NAMES.inputs.specReal, F, [1, C, BINS, T]),
      makeValueInfo(CANONICAL_NAMES.inputs.specImag, F, [1, C, BINS, T]),
      makeValueInfo(CANONICAL_NAMES.inputs.audio, F, [1, C, N]),
      ...(graph.input ?? []).filter((v) => !oldInputs.has(v.name ?? '')),
    ] as typeof graph.input;
    graph.output = [
      makeValueInfo(CANONICAL_NAMES.outputs.specReal, F, [1, S, C, BINS, T]),
      makeValueInfo(CANONICAL_NAMES.outputs.specImag, F, [1, S, C, BINS, T]),
      makeValueInfo(CANONICAL_NAMES.outputs.wave, F, [1, S, C, N]),
    ] as typeof graph.output;
  }

  // Before the float16 storage, so that the rewrites read (and split, transpose, quantize) float32 weights.
  const rewrites = options.optimize ? optimizeModel(model, options.optimize).rewrites : {};
  let fp16Initializers = 0;
  if (options.fp16Weights) {
    const { casts, count } = storeWeightsAsFloat16(model, options.fp16MinElements ?? 1024);
    front.unshift(...casts);
    fp16Initializers = count;
  }
  graph.node = [...front, ...(graph.node ?? []), ...back] as typeof graph.node;
  graph.initializer = [...(graph.initializer ?? []), ...inits] as typeof graph.initializer;

  const metadata: Record<string, string> = {
    ...info.metadata,
    sources: JSON.stringify(sources),
    sample_rate: String(info.sampleRate),
    audio_channels: String(C),
    segment_samples: String(N),
    nfft: String(NFFT),
    hop: String(HOP),
    producer: `${info.file.producerName} ${info.file.producerVersion}`.trim(),
    converter: options.converter ?? 'stemstream convert',
    source_sha256: await sha256Hex(source),
    weights: options.fp16Weights || info.metadata.weights === 'float16' ? 'float16' : 'float32',
  };
  if (options.optimize) metadata.optimized = options.optimize;
  model.metadata_props = Object.entries(metadata).map(([key, value]) => ({ key, value }));
  return { bytes: encodeModel(model), fp16Initializers, rewrites, metadata };
}
