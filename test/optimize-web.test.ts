/**
 * The converter's graph rewrites (src/model/optimize-web.ts) on a tiny model
 * that holds each pattern: the rewritten graph must compute what the original
 * does, on onnxruntime-node and on onnxruntime-web, and the patterns must
 * really have been rewritten (op counts), or the comparison proves nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, DataType } from '../src/model/onnx-proto.js';
import { optimizeModel, quantizePerColumn } from '../src/model/optimize-web.js';
import { loadRuntime, type RuntimeChoice } from '../src/model/runtime.js';
import { maxAbsDiff, sdr } from './reference/compare.js';

const F = DataType.FLOAT;
const K = 256;
const N = 256;

function noise(n: number, seed: number, scale = 1): Float32Array {
  const d = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; d[i] = (x / 2 ** 32 - 0.5) * scale; }
  return d;
}

/**
 * x [1, 4, 8, 6] → Conv(8 out) → Split → a · sigmoid(b)    (GLU: rewritten)
 * x → Conv(8 out, also an output) → Split                  (shared: left alone)
 * v [5, K] → MatMul(W [K, N]) → Add(bias) → Gemm(W2ᵀ, transB = 1, bias)   (linear layers: int8 only)
 * q [2, 4, 16] · k [2, 16, 6] → MatMul → Softmax               (attention scores: int8 only)
 * q · k → MatMul, a graph output                               (no Softmax after it: left alone)
 */
function patternModel(): Uint8Array {
  const nodes = [
    makeNode('Conv', ['x', 'w', 'b'], ['c'], { kernel_shape: [1, 3], pads: [0, 1, 0, 1] }),
    makeNode('Split', ['c'], ['ga', 'gb'], { axis: 1 }),
    makeNode('Sigmoid', ['gb'], ['gs']),
    makeNode('Mul', ['ga', 'gs'], ['glu']),
    makeNode('Conv', ['x', 'w', 'b'], ['shared'], { kernel_shape: [1, 3], pads: [0, 1, 0, 1] }),
    makeNode('Split', ['shared'], ['sa', 'sb'], { axis: 1 }),
    makeNode('Add', ['sa', 'sb'], ['split_sum']),
    makeNode('MatMul', ['v', 'wl'], ['mm']),
    makeNode('Add', ['bl', 'mm'], ['lin1']),
    makeNode('Gemm', ['lin1', 'wg', 'bg'], ['lin2'], { transB: 1 }),
    makeNode('MatMul', ['q', 'k'], ['scores']),
    makeNode('Softmax', ['scores'], ['attn'], { axis: -1 }),
    makeNode('MatMul', ['q', 'k'], ['qk']),
  ];
  const inits = [
    makeTensor('w', [8, 4, 1, 3], noise(96, 1)),
    makeTensor('b', [8], noise(8, 2)),
    makeTensor('wl', [K, N], noise(K * N, 3, 0.1)),
    makeTensor('bl', [N], noise(N, 4)),
    makeTensor('wg', [N, K], noise(K * N, 5, 0.1)),
    makeTensor('bg', [N], noise(N, 6)),
  ];
  const graph = makeGraph({
    nodes,
    initializers: inits,
    inputs: [makeValueInfo('x', F, [1, 4, 8, 6]), makeValueInfo('v', F, [5, K]), makeValueInfo('q', F, [2, 4, 16]), makeValueInfo('k', F, [2, 16, 6])],
    outputs: [
      makeValueInfo('glu', F, [1, 4, 8, 6]), makeValueInfo('shared', F, [1, 8, 8, 6]), makeValueInfo('split_sum', F, [1, 4, 8, 6]), makeValueInfo('lin2', F, [5, N]),
      makeValueInfo('attn', F, [2, 4, 6]), makeValueInfo('qk', F, [2, 4, 6]),
    ],
  });
  return encodeModel(makeModel({ graph }));
}

function opCounts(bytes: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of decodeModel(bytes).graph?.node ?? []) counts[n.op_type ?? ''] = (counts[n.op_type ?? ''] ?? 0) + 1;
  return counts;
}

function optimized(level: 'native' | 'web-int8'): Uint8Array {
  const model = decodeModel(patternModel());
  optimizeModel(model, level);
  return encodeModel(model);
}

const feeds = {
  x: { data: noise(4 * 8 * 6, 7), dims: [1, 4, 8, 6] },
  v: { data: noise(5 * K, 8), dims: [5, K] },
  q: { data: noise(2 * 4 * 16, 9, 2), dims: [2, 4, 16] },
  k: { data: noise(2 * 16 * 6, 10, 2), dims: [2, 16, 6] },
};

async function runOn(runtime: RuntimeChoice, bytes: Uint8Array): Promise<Record<string, Float32Array>> {
  const rt = await loadRuntime({ runtime, threads: 1 });
  const session = await rt.createSession(bytes);
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.slice()]));
  } finally {
    await session.release();
  }
}

describe('optimize web: rewrites', () => {
  it('splits a GLU convolution into two, leaves a shared one alone, and touches no linear layer', () => {
    const before = opCounts(patternModel());
    const after = opCounts(optimized('native'));
    expect(before).toMatchObject({ Conv: 2, Split: 2, MatMul: 3, Gemm: 1 });
    expect(after).toMatchObject({ Conv: 3, Split: 1, MatMul: 3, Gemm: 1 });
    expect(after.DynamicQuantizeMatMul).toBeUndefined();
  });

  it('web-int8 turns MatMul + bias Add and Gemm (transB) into DynamicQuantizeMatMul and the MatMul before a Softmax into MatMulIntegerToFloat, and leaves the convolutions (the GLU split slows WASM) and the other activation MatMul', () => {
    const model = decodeModel(patternModel());
    const { rewrites } = optimizeModel(model, 'web-int8');
    expect(rewrites).toEqual({ quantizeLinearInt8: 2, quantizeAttentionScoresInt8: 1 });
    const after = opCounts(encodeModel(model));
    expect(after).toMatchObject({ Conv: 2, Split: 2, DynamicQuantizeMatMul: 2, DynamicQuantizeLinear: 2, MatMulIntegerToFloat: 1, Softmax: 1, MatMul: 1 });
    expect(after.Gemm).toBeUndefined();
    expect(model.opset_import?.some((o) => o.domain === 'com.microsoft')).toBe(true);
  });

  it('per-column int8: each column is within half a step of its weights, and its largest weight maps to ±127', () => {
    const w = new Float32Array([0.5, -2, 0, -0.25, 1, 0, 0.125, 0.5, 0]);
    const { q, scale } = quantizePerColumn(w, 3, 3);
    expect(Array.from(scale)).toEqual([0.5 / 127, 2 / 127, 1].map((v) => Math.fround(v)));
    expect(Array.from(q)).toEqual([127, -127, 0, -64, 64, 0, 32, 32, 0]);
    for (let i = 0; i < w.length; i++) expect(Math.abs(q[i] * scale[i % 3] - w[i])).toBeLessThanOrEqual(scale[i % 3] / 2 + 1e-9);
  });

  for (const runtime of ['node', 'web'] as const) {
    it(`onnxruntime-${runtime}: the optimized graph gives the original's outputs (int8 within its error)`, async () => {
      const ref = await runOn(runtime, patternModel());
      const web = await runOn(runtime, optimized('native'));
      for (const name of ['glu', 'shared', 'split_sum', 'lin2']) expect(maxAbsDiff(ref[name], web[name]), name).toBeLessThanOrEqual(1e-5);
      const int8 = await runOn(runtime, optimized('web-int8'));
      expect(maxAbsDiff(ref.glu, int8.glu)).toBeLessThanOrEqual(1e-5);
      // Quantized: close (8-bit weights and activations), and not the float result, or nothing was quantized.
      const db = sdr([ref.lin2], [int8.lin2]);
      expect(db).toBeGreaterThan(30);
      expect(maxAbsDiff(ref.lin2, int8.lin2)).toBeGreaterThan(1e-5);
      // The attention scores likewise (batched, both sides quantized per tensor); the MatMul with no Softmax after it untouched.
      expect(sdr([ref.attn], [int8.attn])).toBeGreaterThan(30);
      expect(maxAbsDiff(ref.attn, int8.attn)).toBeGreaterThan(1e-6);
      expect(maxAbsDiff(ref.qk, int8.qk)).toBe(0);
    });
  }
});

describe('convert --optimize (CLI)', () => {
  const ROOT = join(import.meta.dirname, '..');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  it('refuses an unknown level with a usage error (exit 2) and writes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stemstream-opt-'));
    const model = join(dir, 'm.onnx');
    writeFileSync(model, patternModel());
    const out = join(dir, 'out.onnx');
    const r = cli('convert', model, '-o', out, '--optimize', 'fast');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--optimize fast: must be native or web-int8/);
    expect(existsSync(out)).toBe(false);
    const empty = cli('convert', model, '-o', out, '--optimize');
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/--optimize needs a value/);
  });
  it('the help names the option', () => {
    expect(cli('--help').stdout).toMatch(/--optimize native\|web-int8/);
  });
});
