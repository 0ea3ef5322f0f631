/**
 * Graph rewrites for ONNX Runtime's CPU kernels, applied by the converter with
 * `--optimize native` (an exact rewrite that onnxruntime-node runs faster) or
 * `--optimize web-int8` (the transformer's linear layers and attention scores
 * in int8, faster on onnxruntime-web's WASM: an opt-in variant, it changes the
 * numbers).
 * No exact rewrite tried here made WASM faster, so there is no `web` level.
 *
 * Each rewrite was kept only if it ran faster side by side and passes the
 * converter's parity check. Tried and dropped, for no gain: GroupNorm as one
 * LayerNormalization, attention with contiguous head-major Q, Kᵀ, V, Gemm as
 * MatMul (ORT fuses it back), and session options instead of rewrites. The
 * figures: docs/benchmarks.md#graph-rewrites.
 *
 * Rewrites are pattern matches on the decoded graph; a node that does not fit
 * the pattern exactly (shared outputs, non-constant weights, other attributes)
 * is left as it is.
 */
import { DataType, decodeModel, encodeModel, int64ToNumber, makeNode, makeTensor, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.js';

export type OptimizeLevel = 'native' | 'web-int8';
export const OPTIMIZE_LEVELS: readonly OptimizeLevel[] = ['native', 'web-int8'];

export interface OptimizeReport {
  /** Rewrites applied, by name → sites. */
  rewrites: Record<string, number>;
}

/** Producers, consumers and constants of a graph, rebuilt after each rewrite pass. */
class GraphIndex {
  readonly consumers = new Map<string, OnnxNode[]>();
  readonly initializers = new Map<string, OnnxTensor<number>>();
  readonly graphOutputs: Set<string>;

  constructor(readonly graph: OnnxGraph<number>) {
    for (const n of graph.node ?? []) {
      for (const i of n.input ?? []) {
        if (!i) continue;
        const list = this.consumers.get(i) ?? [];
        list.push(n);
        this.consumers.set(i, list);
      }
    }
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    this.graphOutputs = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  }

  /** The only consumer of a value that is no graph output, or undefined. */
  soleConsumer(value: string): OnnxNode | undefined {
    const list = this.consumers.get(value);
    return list?.length === 1 && !this.graphOutputs.has(value) ? list[0] : undefined;
  }

  /** A float32 initializer's elements and dims (copied), or undefined. */
  floats(name: string): { data: Float32Array; dims: number[] } | undefined {
    const t = this.initializers.get(name);
    if (!t || t.data_type !== DataType.FLOAT || t.data_location === 1) return undefined;
    const dims = (t.dims ?? []).map((d) => int64ToNumber(d));
    const n = dims.reduce((a, b) => a * b, 1);
    if (t.raw_data !== undefined && t.raw_data.length === n * 4) {
      // raw_data is a view into the file, not necessarily 4-byte aligned.
      const view = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
      return { data, dims };
    }
    if (t.float_data !== undefined && t.float_data.length === n) return { data: Float32Array.from(t.float_data), dims };
    return undefined;
  }
}

function attr(node: OnnxNode, name: string): { i?: number; f?: number; ints?: number[] } | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  if (!a) return undefined;
  return { i: a.i === undefined || a.i === null ? undefined : int64ToNumber(a.i), f: a.f ?? undefined, ints: a.ints?.map((v) => int64ToNumber(v)) };
}

/** Names `base`, or `base_1`, `base_2`, … : never one in `taken`, nor one it gave before. */
function namerAvoiding(taken: Set<string>): (base: string) => string {
  return (base) => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };
}

/** A fresh value name that no tensor of the graph uses. */
function freshNamer(graph: OnnxGraph<number>): (base: string) => string {
  const taken = new Set<string>();
  for (const n of graph.node ?? []) for (const v of [...(n.input ?? []), ...(n.output ?? [])]) taken.add(v);
  for (const t of graph.initializer ?? []) taken.add(t.name ?? '');
  for (const v of [...(graph.input ?? []), ...(graph.output ?? [])]) taken.add(v.name ?? '');
  return namerAvoiding(taken);
}

/** A fresh node name (ONNX Runtime refuses two nodes of the same name; unnamed ones are fine). */
function freshNodeNamer(graph: OnnxGraph<number>): (base: string) => string {
  return namerAvoiding(new Set((graph.node ?? []).map((n) => n.name ?? '').filter((n) => n !== '')));
}

/** Declares the com.microsoft operator domain (ONNX Runtime's contrib ops) once. */
function importMicrosoftDomain(model: OnnxModel<number>): void {
  const imports = model.opset_import ?? [];
  if (!imports.some((o) => o.domain === 'com.microsoft')) model.opset_import = [...imports, { domain: 'com.microsoft', version: 1 }];
}

/**
 * GLU after a convolution: Conv(2C out) → Split(axis 1, two halves) becomes two
 * Convs of C outputs each, so the Split's copy of the whole activation goes.
 * Exact: each output channel is the same dot product as before (the outputs
 * are bit-identical on both runtimes). htdemucs has 16 such sites.
 * 'native' only: on WASM, ONNX Runtime fuses the second Conv with the GLU's
 * Sigmoid into a FusedConv that is slower there (docs/benchmarks.md#graph-rewrites).
 */
export function splitConvGlu(graph: OnnxGraph<number>): number {
  const index = new GraphIndex(graph);
  const fresh = freshNamer(graph);
  const replace = new Map<OnnxNode, OnnxNode[]>();
  const drop = new Set<OnnxNode>();
  const newInits: OnnxTensor[] = [];
  for (const conv of graph.node ?? []) {
    if (conv.op_type !== 'Conv' || (conv.domain ?? '') !== '' || (conv.output ?? []).length !== 1) continue;
    if ((attr(conv, 'group')?.i ?? 1) !== 1) continue;
    const split = index.soleConsumer(conv.output![0]);
    if (!split || split.op_type !== 'Split' || (split.domain ?? '') !== '' || (split.output ?? []).length !== 2) continue;
    if ((attr(split, 'axis')?.i ?? 0) !== 1 || (split.input ?? []).filter((x) => x).length !== 1 || attr(split, 'split') || attr(split, 'num_outputs') && attr(split, 'num_outputs')!.i !== 2) continue;
    const [x, wName, bName] = conv.input ?? [];
    const w = index.floats(wName ?? '');
    const b = bName ? index.floats(bName) : undefined;
    if (!w || w.dims[0] % 2 !== 0 || (bName && !b)) continue;
    const half = w.dims[0] / 2;
    const per = w.data.length / w.dims[0];
    const convs: OnnxNode[] = [];
    for (let k = 0; k < 2; k++) {
      const wk = fresh(`${wName}__glu${k}`);
      newInits.push(makeTensor(wk, [half, ...w.dims.slice(1)], w.data.slice(k * half * per, (k + 1) * half * per)));
      const inputs = [x, wk];
      if (b) {
        const bk = fresh(`${bName}__glu${k}`);
        newInits.push(makeTensor(bk, [half], b.data.slice(k * half, (k + 1) * half)));
        inputs.push(bk);
      }
      const node = makeNode('Conv', inputs, [split.output![k]], {}, { name: `${conv.name ?? 'conv'}/stemstream_glu${k}` });
      node.attribute = conv.attribute as OnnxNode['attribute'];
      convs.push(node as OnnxNode);
    }
    replace.set(conv, convs);
    drop.add(split);
  }
  if (replace.size === 0) return 0;
  graph.node = (graph.node ?? []).flatMap((n) => (drop.has(n) ? [] : replace.get(n) ?? [n])) as typeof graph.node;
  graph.initializer = [...(graph.initializer ?? []), ...newInits] as typeof graph.initializer;
  removeUnusedInitializers(graph);
  return replace.size;
}

/** Per-column symmetric int8: scale[n] = max |W[:, n]| / 127. W is [K, N], row-major. */
export function quantizePerColumn(w: Float32Array, k: number, n: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(n);
  for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) scale[c] = Math.max(scale[c], Math.abs(w[r * n + c]));
  for (let c = 0; c < n; c++) scale[c] = scale[c] > 0 ? scale[c] / 127 : 1;
  const q = new Int8Array(k * n);
  for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) q[r * n + c] = Math.max(-127, Math.min(127, Math.round(w[r * n + c] / scale[c])));
  return { q, scale };
}

/**
 * Linear layers with constant weights (MatMul by a [K, N] initializer, its bias
 * Add folded in; Gemm with transB = 1) become com.microsoft DynamicQuantizeMatMul
 * with per-column int8 weights: the activations are quantized to uint8 per
 * tensor at run time, and ONNX Runtime runs its int8 matrix kernels.
 * htdemucs: 40 sites. Faster on WASM, not natively; its outputs cannot meet
 * the 60 dB parity rule, so it is opt-in only (docs/benchmarks.md#graph-rewrites).
 */
export function quantizeLinearInt8(model: OnnxModel<number>, minElements = 65536): number {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const fresh = freshNamer(graph);
  const nodeName = freshNodeNamer(graph);
  const replace = new Map<OnnxNode, OnnxNode>();
  const drop = new Set<OnnxNode>();
  const newInits: OnnxTensor[] = [];
  for (const node of graph.node ?? []) {
    if ((node.domain ?? '') !== '') continue;
    let weight: { data: Float32Array; k: number; n: number } | undefined;
    let bias: string | undefined;
    let output = node.output?.[0];
    const [a, bName, cName] = node.input ?? [];
    if (node.op_type === 'MatMul') {
      const w = index.floats(bName ?? '');
      if (!w || w.dims.length !== 2) continue;
      weight = { data: w.data, k: w.dims[0], n: w.dims[1] };
      // Fold a following bias Add (constant [N]) into the node.
      const add = index.soleConsumer(output ?? '');
      if (add && add.op_type === 'Add' && (add.domain ?? '') === '') {
        const other = (add.input ?? []).find((v) => v !== output);
        const bv = other !== undefined ? index.floats(other) : undefined;
        if (other !== undefined && bv && bv.dims.length === 1 && bv.dims[0] === weight.n && (add.input ?? []).length === 2) {
          bias = other;
          output = add.output?.[0];
          drop.add(add);
        }
      }
    } else if (node.op_type === 'Gemm') {
      const w = index.floats(bName ?? '');
      const transA = attr(node, 'transA')?.i ?? 0;
      const transB = attr(node, 'transB')?.i ?? 0;
      const alpha = attr(node, 'alpha')?.f ?? 1;
      const beta = attr(node, 'beta')?.f ?? 1;
      if (!w || w.dims.length !== 2 || transA !== 0 || alpha !== 1 || beta !== 1) continue;
      const [r, c] = w.dims;
      if (transB === 1) {
        // Stored [N, K]: transpose to [K, N] once, here.
        const t = new Float32Array(r * c);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = w.data[i * c + j];
        weight = { data: t, k: c, n: r };
      } else {
        weight = { data: w.data, k: r, n: c };
      }
      if (cName) {
        const bv = index.floats(cName);
        if (!bv || bv.dims.length !== 1 || bv.dims[0] !== weight.n) continue;
        bias = cName;
      }
    } else {
      continue;
    }
    if (!weight || weight.k * weight.n < minElements || output === undefined) continue;
    const { q, scale } = quantizePerColumn(weight.data, weight.k, weight.n);
    const qName = fresh(`${bName}__int8`);
    const sName = fresh(`${bName}__scale`);
    newInits.push(makeTensor(qName, [weight.k, weight.n], q), makeTensor(sName, [weight.n], scale));
    replace.set(node, makeNode('DynamicQuantizeMatMul', [a, qName, sName, '', ...(bias ? [bias] : [])], [output], {}, { name: nodeName(`${node.name || node.op_type}/stemstream_int8`), domain: 'com.microsoft' }) as OnnxNode);
  }
  if (replace.size === 0) return 0;
  graph.node = (graph.node ?? []).flatMap((n) => (drop.has(n) ? [] : [replace.get(n) ?? n])) as typeof graph.node;
  graph.initializer = [...(graph.initializer ?? []), ...newInits] as typeof graph.initializer;
  removeUnusedInitializers(graph);
  importMicrosoftDomain(model);
  return replace.size;
}

/**
 * Attention scores in int8: a MatMul of two activations whose only consumer is
 * a Softmax (Q·Kᵀ) becomes DynamicQuantizeLinear on each side (uint8, per
 * tensor) and com.microsoft MatMulIntegerToFloat, which scales the int32
 * products back to float32 inside the matrix kernel. The other attention
 * product (softmax · V) stays float: per-tensor uint8 cannot hold a diffuse
 * row's probabilities (≈ 1/L each, under half a step when the largest is near 1).
 * htdemucs: 10 sites (self- and cross-attention of both branches). On top of
 * the int8 linear layers, what brings web-int8 to its WASM speed-up at a stem
 * SDR cost test/optimize-web-real.test.ts bounds (docs/benchmarks.md#graph-rewrites).
 */
export function quantizeAttentionScoresInt8(model: OnnxModel<number>): number {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const fresh = freshNamer(graph);
  const nodeName = freshNodeNamer(graph);
  const replace = new Map<OnnxNode, OnnxNode[]>();
  const constant = (v: string) => index.initializers.has(v);
  for (const node of graph.node ?? []) {
    if (node.op_type !== 'MatMul' || (node.domain ?? '') !== '') continue;
    const [a, b] = node.input ?? [];
    const out = node.output?.[0];
    if (!a || !b || out === undefined || constant(a) || constant(b)) continue;
    const softmax = index.soleConsumer(out);
    if (!softmax || softmax.op_type !== 'Softmax') continue;
    const name = node.name || 'MatMul';
    const side = (v: string, tag: string) => {
      const q = [fresh(`${out}__${tag}_u8`), fresh(`${out}__${tag}_scale`), fresh(`${out}__${tag}_zp`)];
      return { q, node: makeNode('DynamicQuantizeLinear', [v], q, {}, { name: nodeName(`${name}/stemstream_quantize_${tag}`) }) as OnnxNode };
    };
    const qa = side(a, 'a');
    const qb = side(b, 'b');
    const mm = makeNode('MatMulIntegerToFloat', [qa.q[0], qb.q[0], qa.q[1], qb.q[1], qa.q[2], qb.q[2]], [out], {}, { name: nodeName(`${name}/stemstream_int8`), domain: 'com.microsoft' }) as OnnxNode;
    replace.set(node, [qa.node, qb.node, mm]);
  }
  if (replace.size === 0) return 0;
  graph.node = (graph.node ?? []).flatMap((n) => replace.get(n) ?? [n]) as typeof graph.node;
  importMicrosoftDomain(model);
  return replace.size;
}

/** Drops initializers that no node (nor the graph's outputs) reads any more. */
function removeUnusedInitializers(graph: OnnxGraph<number>): void {
  const used = new Set<string>();
  for (const n of graph.node ?? []) for (const i of n.input ?? []) used.add(i);
  // Old models list initializers among the inputs too: dropping one would make it a required input.
  for (const v of [...(graph.output ?? []), ...(graph.input ?? [])]) used.add(v.name ?? '');
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name ?? '')) as typeof graph.initializer;
}

/** Applies the rewrites of `level` to the model, in place. */
export function optimizeModel(model: OnnxModel<number>, level: OptimizeLevel): OptimizeReport {
  const graph = model.graph;
  const rewrites: Record<string, number> = {};
  if (!graph) return { rewrites };
  if (level === 'native') rewrites.splitConvGlu = splitConvGlu(graph);
  if (level === 'web-int8') {
    rewrites.quantizeLinearInt8 = quantizeLinearInt8(model);
    rewrites.quantizeAttentionScoresInt8 = quantizeAttentionScoresInt8(model);
  }
  return { rewrites };
}

/**
 * The model's bytes with the rewrites onnxruntime-node runs faster ('native'),
 * or undefined when none applies. Used when a model is loaded for
 * onnxruntime-node (loadModel), so `separate` gets them without a converted
 * file; the re-encoding costs a few seconds at load (htdemucs: 174 MB).
 */
export function optimizeBytesForNative(bytes: Uint8Array): Uint8Array | undefined {
  const model = decodeModel(bytes);
  if (!model.graph) return undefined;
  const { rewrites } = optimizeModel(model, 'native');
  return Object.values(rewrites).some((n) => n > 0) ? encodeModel(model) : undefined;
}
