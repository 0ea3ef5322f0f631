/**
 * The inference runtime behind one small interface: onnxruntime-node in Node
 * when it is installed (native, 2-3x faster on CPU), otherwise onnxruntime-web
 * (WASM SIMD + threads; WebGPU in browsers that have an adapter).
 */
import { StemstreamError } from '../errors.js';
import { importNodeBuiltin } from '../node-builtin.js';

export type RuntimeChoice = 'auto' | 'node' | 'web';
export type RuntimeName = 'onnxruntime-node' | 'onnxruntime-web';

export interface TensorFeed {
  data: Float32Array;
  dims: readonly number[];
}

export interface RuntimeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the graph. With `outputs` (only where the runtime's `writesOutputBuffers`),
   * the runtime writes into those arrays; otherwise outputs come back as arrays
   * owned by the runtime.
   */
  run(feeds: Record<string, TensorFeed>, outputs?: Record<string, TensorFeed>): Promise<Record<string, Float32Array>>;
  release(): Promise<void>;
}

export interface InferenceRuntime {
  readonly name: RuntimeName;
  /** Execution providers sessions are created with, in order of preference. */
  readonly executionProviders: readonly string[];
  readonly threads: number;
  /**
   * Whether run() can write outputs into caller-owned (non-shared) arrays:
   * onnxruntime-node can, which saves allocating and copying ~55 MB a segment;
   * onnxruntime-web copies through its own heap and ignores them.
   */
  readonly writesOutputBuffers: boolean;
  /**
   * Set when 'auto' in Node wanted onnxruntime-node and could not load it (it is
   * an optional peer): why, so that a command line can say how to get native speed.
   */
  readonly nativeUnavailable?: string;
  createSession(model: Uint8Array): Promise<RuntimeSession>;
}

export interface RuntimeOptions {
  /** 'auto' (default): onnxruntime-node in Node when present, else onnxruntime-web. */
  runtime?: RuntimeChoice;
  /** Intra-op threads; default: all cores (WASM threads need cross-origin isolation in browsers). */
  threads?: number;
  /** onnxruntime-web only: e.g. ['webgpu', 'wasm']. Default: ['wasm']. */
  executionProviders?: string[];
  /**
   * onnxruntime-web only: the module itself (`import * as ort from 'onnxruntime-web'`).
   * A bundled browser worker passes it, so that the bundler sees a static import
   * and serves ort's .mjs/.wasm files; without it, the module is imported by name
   * at run time (Node, or an import map).
   */
  webModule?: unknown;
}

// Minimal structural view of the two ort packages (they share onnxruntime-common's API).
interface OrtTensor {
  data: unknown;
  dims: readonly number[];
  type: string;
}
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>, fetches?: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  env: { wasm: { numThreads?: number; simd?: boolean; proxy?: boolean }; logLevel?: string };
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

async function defaultThreads(): Promise<number> {
  if (isNode) {
    const os = await importNodeBuiltin<typeof import('node:os')>('node:os');
    return Math.max(1, os.availableParallelism());
  }
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

async function importOrt(name: RuntimeName): Promise<OrtModule> {
  // A variable specifier keeps bundlers from pulling the native package into a web build.
  const spec: string = name;
  const mod = (await import(/* @vite-ignore */ spec)) as OrtModule & { default?: OrtModule };
  return mod.InferenceSession ? mod : (mod.default as OrtModule);
}

function wrapSession(ort: OrtModule, session: OrtSession): RuntimeSession {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, OrtTensor> = {};
      for (const [name, f] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', f.data, f.dims);
      if (outputs) {
        const fetches: Record<string, OrtTensor> = {};
        for (const [name, f] of Object.entries(outputs)) fetches[name] = new ort.Tensor('float32', f.data, f.dims);
        await session.run(ortFeeds, fetches);
        const out: Record<string, Float32Array> = {};
        for (const [name, f] of Object.entries(outputs)) out[name] = f.data;
        return out;
      }
      const results = await session.run(ortFeeds);
      const out: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(results)) {
        if (!(t.data instanceof Float32Array)) {
          throw new StemstreamError('UNKNOWN_LAYOUT', `model output "${name}" is ${t.type}, expected float32`);
        }
        out[name] = t.data;
      }
      return out;
    },
    release: () => session.release(),
  };
}

export async function loadRuntime(options: RuntimeOptions = {}): Promise<InferenceRuntime> {
  const choice = options.runtime ?? 'auto';
  const threads = options.threads ?? (await defaultThreads());
  let nativeUnavailable: string | undefined;
  if (choice === 'node' || (choice === 'auto' && isNode)) {
    try {
      const ort = await importOrt('onnxruntime-node');
      return {
        name: 'onnxruntime-node',
        executionProviders: ['cpu'],
        threads,
        writesOutputBuffers: true,
        async createSession(model) {
          // Without the CPU arena and memory patterns, peak RSS on htdemucs drops
          // from about 5.0 GB to 2.6 GB here, at the same speed.
          const s = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, graphOptimizationLevel: 'all', enableCpuMemArena: false, enableMemPattern: false });
          return wrapSession(ort, s);
        },
      };
    } catch (err) {
      if (choice === 'node') {
        throw new StemstreamError('NO_RUNTIME', 'onnxruntime-node is not installed or failed to load; install it (npm install onnxruntime-node --ignore-scripts: its CPU build is in the package) or use --runtime web', { cause: err });
      }
      nativeUnavailable = (err as Error).message.split('\n')[0];
    }
  }
  const given = options.webModule as (OrtModule & { default?: OrtModule }) | undefined;
  const ort = given ? (given.InferenceSession ? given : (given.default as OrtModule)) : await importOrt('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  const eps = options.executionProviders ?? ['wasm'];
  return {
    name: 'onnxruntime-web',
    executionProviders: eps,
    threads,
    writesOutputBuffers: false,
    ...(nativeUnavailable !== undefined ? { nativeUnavailable } : {}),
    async createSession(model) {
      const s = await ort.InferenceSession.create(model, { executionProviders: eps, graphOptimizationLevel: 'all' });
      return wrapSession(ort, s);
    },
  };
}
