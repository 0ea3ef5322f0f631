/**
 * `bench.js ops`: where session.run's time goes, per ONNX op, on onnxruntime-node
 * (native) and onnxruntime-web (WASM, 2 threads), for the unmodified model
 * (htdemucs.onnx converted to the canonical layout) and for `--optimize native`;
 * then each rewrite (`native`, `web-int8`) against the unmodified model on
 * each runtime, the two sessions in one process (alternating runs, medians),
 * since the machine's load varies more than the rewrites gain.
 *
 * Each profile runs in its own child process: onnxruntime-web writes its
 * profile to stdout, onnxruntime-node to a file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertModel } from '../src/model/convert.js';
import { defaultModelPath } from '../src/model/model.js';
import type { OptimizeLevel } from '../src/model/optimize-web.js';

export type OpsRuntime = 'node' | 'web';

/**
 * ONNX Runtime session options tried on WASM (onnxruntime-web 1.30, 2 threads),
 * each against the unmodified model with the defaults. None measured faster
 * beyond the run-to-run noise (README, "Where session.run's time goes"), so
 * the product keeps the defaults; `bench.js session-options` measures them again.
 */
export const SESSION_TRIALS = {
  /** Without the layout-level ("all") transformers. */
  'opt-extended': { model: 'base', options: { graphOptimizationLevel: 'extended' } },
  /** Pool threads block instead of spinning (a shared 2-core machine). */
  'no-spinning': { model: 'base', options: { extra: { session: { intra_op: { allow_spinning: '0' } } } } },
  /** Attention as MatMul + Transpose + Mul instead of ORT's transBatch FusedMatMul. */
  'no-matmul-fusions': { model: 'base', options: { extra: { optimization: { disable_specified_optimizers: 'MatmulTransposeFusion,MatMulScaleFusion' } } } },
  /** The freq and time branches' independent nodes run concurrently. */
  'parallel': { model: 'base', options: { executionMode: 'parallel' } },
  'no-mem-pattern': { model: 'base', options: { enableMemPattern: false, enableCpuMemArena: false } },
  /** The `native` rewrite without the Conv + Sigmoid fusion that makes it slower on WASM. */
  'native-no-convact': { model: 'native', options: { extra: { optimization: { disable_specified_optimizers: 'ConvActivationFusion' } } } },
} as const satisfies Record<string, { model: 'base' | OptimizeLevel; options: Record<string, unknown> }>;
export type SessionTrial = keyof typeof SESSION_TRIALS;
export type OpsVariant = 'base' | OptimizeLevel | SessionTrial;

function variantModel(v: OpsVariant): 'base' | OptimizeLevel {
  return v in SESSION_TRIALS ? SESSION_TRIALS[v as SessionTrial].model : (v as 'base' | OptimizeLevel);
}
function variantOptions(v: OpsVariant): Record<string, unknown> {
  return v in SESSION_TRIALS ? SESSION_TRIALS[v as SessionTrial].options : {};
}

interface OrtLike {
  env: { wasm: { numThreads?: number } };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  InferenceSession: { create(bytes: Uint8Array, options: Record<string, unknown>): Promise<{ run(feeds: Record<string, unknown>): Promise<unknown>; endProfiling(): unknown }> };
}

const THREADS = 2;

const converted = new Map<string, Promise<Uint8Array>>();
async function modelBytes(variant: OpsVariant): Promise<Uint8Array> {
  const model = variantModel(variant);
  let bytes = converted.get(model);
  if (bytes === undefined) {
    bytes = (async () => (await convertModel(new Uint8Array(readFileSync(await defaultModelPath())), model === 'base' ? {} : { optimize: model })).bytes)();
    converted.set(model, bytes);
  }
  return bytes;
}

async function openSession(runtime: OpsRuntime, bytes: Uint8Array, profile: string | undefined, extraOptions: Record<string, unknown> = {}) {
  const ort = (await import(runtime === 'web' ? 'onnxruntime-web' : 'onnxruntime-node')) as unknown as OrtLike;
  if (runtime === 'web') ort.env.wasm.numThreads = THREADS;
  const options: Record<string, unknown> = { graphOptimizationLevel: 'all', intraOpNumThreads: THREADS, enableProfiling: profile !== undefined };
  if (profile !== undefined && runtime === 'node') options.profileFilePrefix = profile;
  if (runtime === 'web') options.executionProviders = ['wasm'];
  Object.assign(options, extraOptions);
  const session = await ort.InferenceSession.create(bytes, options);
  // Seeded noise: the time does not depend on the values.
  const noise = (n: number, seed: number) => {
    const d = new Float32Array(n);
    let x = seed;
    for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; d[i] = ((x >>> 8) / 16777216 - 0.5) * 0.2; }
    return d;
  };
  const feeds = {
    spec_real: new ort.Tensor('float32', noise(2 * 2048 * 336, 1), [1, 2, 2048, 336]),
    spec_imag: new ort.Tensor('float32', noise(2 * 2048 * 336, 2), [1, 2, 2048, 336]),
    audio: new ort.Tensor('float32', noise(2 * 343980, 3), [1, 2, 343980]),
  };
  return { session, feeds };
}

/** Per-op kernel time (ms) from ONNX Runtime profile text (one event per line, as both runtimes write it). */
export function opTotals(profileText: string): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const line of profileText.split('\n')) {
    const t = line.trim().replace(/,$/, '');
    if (!t.startsWith('{') || !t.includes('"Node"') || !t.includes('_kernel_time')) continue;
    let e: { name?: string; dur?: number; args?: { op_name?: string } };
    try { e = JSON.parse(t); } catch { continue; }
    const op = e.args?.op_name;
    if (!op || !e.name?.endsWith('_kernel_time') || typeof e.dur !== 'number') continue;
    totals[op] = (totals[op] ?? 0) + e.dur / 1000;
  }
  return totals;
}

/** Child: one profiled run. Web: the profile goes to stdout (parsed by the parent); node: read back from its file here. */
export async function childOpsProfile(runtime: OpsRuntime, variant: OpsVariant): Promise<{ runMs: number; ops?: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'stemstream-ops-'));
  try {
    const { session, feeds } = await openSession(runtime, await modelBytes(variant), join(dir, 'prof'));
    const t0 = performance.now();
    await session.run(feeds);
    const runMs = performance.now() - t0;
    session.endProfiling();
    if (runtime === 'web') return { runMs };
    const file = readdirSync(dir).find((f) => f.startsWith('prof'));
    return { runMs, ops: file ? opTotals(readFileSync(join(dir, file), 'utf8')) : {} };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Child: the models in one process, runs alternating; medians and every run. */
export async function childOpsPair(runtime: OpsRuntime, runs: number, variants: OpsVariant[]) {
  const opened = [];
  for (const v of variants) opened.push({ v, ...(await openSession(runtime, await modelBytes(v), undefined, variantOptions(v))), times: [] as number[] });
  // One warm-up run each, not counted (a session's first run packs weights and warms caches).
  for (const o of opened) await o.session.run(o.feeds);
  for (let r = 0; r < runs; r++) {
    for (const o of opened) {
      const t0 = performance.now();
      await o.session.run(o.feeds);
      o.times.push(performance.now() - t0);
    }
  }
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  return opened.map((o) => ({ variant: o.v, medianMs: median(o.times), times: o.times }));
}

function runChild(benchFile: string, args: string[]): { stdout: string; result: unknown } {
  const stdout = execFileSync(process.execPath, [benchFile, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 << 20 });
  const last = stdout.trim().split('\n').pop() ?? '';
  return { stdout, result: JSON.parse(last) };
}

export interface PairRow { variant: OpsVariant; medianMs: number; times: number[] }

export interface OpsReport {
  tables: Record<OpsVariant, { op: string; nativeMs: number; wasmMs: number }[]>;
  profiledRunMs: Record<string, number>;
  /** Per runtime, one pair per rewrite: [unmodified, rewritten], each pair in its own process. */
  pairs: Record<OpsRuntime, PairRow[][]>;
}

/** Parent: profiles, tables, side-by-side runs. `benchFile` is bench.js itself (children run its modes). */
export function opsReport(benchFile: string, runs: number): OpsReport {
  const tables = {} as OpsReport['tables'];
  const profiledRunMs: Record<string, number> = {};
  // The per-op tables: the unmodified model and the exact rewrite (native).
  for (const v of ['base', 'native'] as OpsVariant[]) {
    const native = runChild(benchFile, ['ops-profile', 'node', v]).result as { runMs: number; ops: Record<string, number> };
    const web = runChild(benchFile, ['ops-profile', 'web', v]);
    const wasmOps = opTotals(web.stdout);
    profiledRunMs[`${v} native`] = native.runMs;
    profiledRunMs[`${v} wasm`] = (web.result as { runMs: number }).runMs;
    const ops = new Set([...Object.keys(native.ops), ...Object.keys(wasmOps)]);
    tables[v] = [...ops].map((op) => ({ op, nativeMs: native.ops[op] ?? 0, wasmMs: wasmOps[op] ?? 0 })).sort((a, b) => b.wasmMs - a.wasmMs);
  }
  const pairs = {} as OpsReport['pairs'];
  // Side by side, each runtime against every variant: the rewrite that helps natively can slow WASM down.
  // One process per pair: a third htdemucs session in the same WASM heap slowed the int8 one
  // by 12 % (1.18× against 1.32× alone, 2026-12-03), so sessions are never measured three at a time.
  for (const rt of ['web', 'node'] as OpsRuntime[]) {
    pairs[rt] = (['native', 'web-int8'] as OpsVariant[]).map((v) => runChild(benchFile, ['ops-pair', rt, String(runs), 'base', v]).result as PairRow[]);
  }
  return { tables, profiledRunMs, pairs };
}

/** "5705 ms against 7581 ms unmodified (1.329×)": a pair's medians and the speed-up. */
function againstBase(base: PairRow, other: PairRow): string {
  return `${other.medianMs.toFixed(0)} ms against ${base.medianMs.toFixed(0)} ms unmodified (${(base.medianMs / other.medianMs).toFixed(3)}×)`;
}

export function formatOpsReport(report: OpsReport, top = 16): string {
  const lines: string[] = [];
  for (const [variant, rows] of Object.entries(report.tables)) {
    const total = (k: 'nativeMs' | 'wasmMs') => rows.reduce((a, r) => a + r[k], 0);
    lines.push(`Per op, one segment, ${THREADS} threads, model ${variant === 'base' ? 'unmodified (canonical layout)' : `--optimize ${variant}`} (kernel time, ms):`);
    lines.push(`  ${'op'.padEnd(24)}${'native'.padStart(9)}${'WASM'.padStart(9)}${'WASM/native'.padStart(13)}`);
    for (const r of rows.slice(0, top)) {
      lines.push(`  ${r.op.padEnd(24)}${r.nativeMs.toFixed(0).padStart(9)}${r.wasmMs.toFixed(0).padStart(9)}${(r.nativeMs > 0 ? (r.wasmMs / r.nativeMs).toFixed(2) : '-').padStart(13)}`);
    }
    lines.push(`  ${'total'.padEnd(24)}${total('nativeMs').toFixed(0).padStart(9)}${total('wasmMs').toFixed(0).padStart(9)}${(total('wasmMs') / total('nativeMs')).toFixed(2).padStart(13)}`);
  }
  for (const [rt, pairs] of Object.entries(report.pairs)) {
    const cells = pairs.map(([base, other]) => `--optimize ${other.variant} ${againstBase(base, other)}`);
    lines.push(`session.run side by side on ${rt === 'web' ? `onnxruntime-web WASM (${THREADS} threads)` : `onnxruntime-node (${THREADS} threads)`}, each rewrite against the unmodified model in its own process, alternating, ${pairs[0]?.[0].times.length ?? 0} runs each after a warm-up, medians: ${cells.join('; ')}`);
  }
  return lines.join('\n');
}

/**
 * Parent: each session-option trial against the defaults on WASM, one child
 * per trial (two htdemucs sessions at a time stay well inside WASM's 4 GiB).
 */
export function sessionOptionsReport(benchFile: string, runs: number): string {
  const lines = [`ONNX Runtime session options on onnxruntime-web WASM (${THREADS} threads), each against the defaults in one process, alternating, ${runs} runs after a warm-up, medians:`];
  for (const trial of Object.keys(SESSION_TRIALS) as SessionTrial[]) {
    const rows = runChild(benchFile, ['ops-pair', 'web', String(runs), 'base', trial]).result as PairRow[];
    const [base, other] = rows;
    lines.push(`  ${trial.padEnd(20)} ${againstBase(base, other)}`);
  }
  return lines.join('\n');
}

export const BENCH_FILE = fileURLToPath(new URL('./bench.js', import.meta.url));
