/**
 * Model sets: several models whose estimates are combined with per-source
 * weights, like Demucs' bags (htdemucs_ft: four specialists, each keeping its
 * own stem). Described by a JSON manifest:
 *
 *   { "name": "htdemucs_ft", "sources": ["drums", "bass", "other", "vocals"],
 *     "models": [ { "file": "ft-drums.onnx", "weights": [1, 0, 0, 0] }, ... ] }
 *
 * `file` is relative to the manifest. `weights` (default all 1) has one entry
 * per source; stem k = Σ_m w[m][k] · out_m[k] / Σ_m w[m][k], as Demucs does.
 */
import { StemstreamError } from '../errors.js';
import { checkSetModelCount, checkStemCount, checkStemNames } from './model-limits.js';
import { loadModel, readModelBytes, type LoadModelOptions, type SeparationModel } from './model.js';

export interface ModelSetManifest {
  name?: string;
  /** Source names; must match every member's (default: the first member's). */
  sources?: string[];
  models: { file: string; weights?: number[] }[];
}

export interface ModelSetMember {
  file: string;
  model: SeparationModel;
  weights: number[];
}

export interface ModelSet {
  name: string;
  sources: string[];
  sampleRate: number;
  channels: number;
  members: ModelSetMember[];
  dispose(): Promise<void>;
}

function bad(message: string): StemstreamError {
  return new StemstreamError('UNKNOWN_LAYOUT', message);
}

export function parseManifest(text: string, name = 'manifest'): ModelSetManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`${name} is not valid JSON: ${(err as Error).message}`);
  }
  return checkManifest(json, name);
}

/**
 * Checks a manifest (parsed JSON, or an object a caller built): its shape, and
 * against model-limits.ts its stem names (they become file names) and every
 * count (models, weights per model) before anything is loaded from it.
 */
export function checkManifest(json: unknown, name = 'manifest'): ModelSetManifest {
  const m = json as ModelSetManifest;
  if (typeof m !== 'object' || m === null || !Array.isArray(m.models) || m.models.length === 0) {
    throw bad(`${name} must be an object with a non-empty "models" list of { "file": ..., "weights": [...] }`);
  }
  if (m.name !== undefined && typeof m.name !== 'string') throw bad(`${name}: "name" must be a string`);
  const fix = 'fix the set manifest';
  checkSetModelCount(m.models.length, { what: `${name}: the number of "models"`, fix });
  const sources = m.sources === undefined
    ? undefined
    : checkStemNames(m.sources, { what: `${name}: "sources"`, fix: `${fix}: its "sources" must be the members' stem names, like ["drums", "bass", "other", "vocals"]` });
  for (const [i, entry] of m.models.entries()) {
    if (typeof entry?.file !== 'string' || entry.file.length === 0) throw bad(`${name}: models[${i}] has no "file"`);
    if (entry.weights === undefined) continue;
    if (!Array.isArray(entry.weights) || !entry.weights.every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0)) {
      throw bad(`${name}: models[${i}].weights must be a list of non-negative numbers`);
    }
    const what = `${name}: the length of models[${i}].weights`;
    if (sources !== undefined && entry.weights.length !== sources.length) {
      throw new StemstreamError('BAD_MODEL', `${what} is ${entry.weights.length}, but "sources" names ${sources.length} stems; ${fix}: one weight per stem`);
    }
    checkStemCount(entry.weights.length, { what, fix: `${fix}: one weight per stem` });
  }
  return m;
}

function resolveFile(base: string, file: string): string {
  if (/^[a-z]+:/i.test(file) || file.startsWith('/')) return file;
  if (/^[a-z]+:/i.test(base)) return new URL(file, base).href;
  const cut = Math.max(base.lastIndexOf('/'), base.lastIndexOf('\\'));
  return cut < 0 ? file : `${base.slice(0, cut + 1)}${file}`;
}

/** Loads a set from a manifest path or URL (members relative to it), or from a manifest object and a base. */
export async function loadModelSet(manifest: string | ModelSetManifest, options: LoadModelOptions & { base?: string } = {}): Promise<ModelSet> {
  let m: ModelSetManifest;
  let base = options.base ?? '';
  if (typeof manifest === 'string') {
    const { bytes, name } = await readModelBytes(manifest, options);
    m = parseManifest(new TextDecoder().decode(bytes), name);
    base = manifest;
  } else {
    m = checkManifest(manifest, 'the model set manifest');
  }
  const members: ModelSetMember[] = [];
  try {
    for (const entry of m.models) {
      const file = resolveFile(base, entry.file);
      const model = await loadModel(file, { ...options, inferenceRuntime: options.inferenceRuntime ?? members[0]?.model.runtime });
      members.push({ file, model, weights: entry.weights ?? model.info.sources.map(() => 1) });
    }
    const first = members[0].model.info;
    const sources = m.sources ?? first.sources;
    for (const { file, model, weights } of members) {
      const info = model.info;
      if (info.sources.length !== sources.length || info.sources.some((s, i) => s !== sources[i])) {
        throw bad(`${file} separates ${info.sources.join(', ')}, but the set's sources are ${sources.join(', ')}`);
      }
      if (info.sampleRate !== first.sampleRate || info.channels !== first.channels) {
        throw bad(`${file} takes ${info.channels} channels at ${info.sampleRate} Hz, unlike the set's first model (${first.channels} at ${first.sampleRate} Hz)`);
      }
      if (weights.length !== sources.length) throw bad(`${file}: ${weights.length} weights for ${sources.length} sources`);
    }
    sources.forEach((s, k) => {
      if (!members.some((mem) => mem.weights[k] > 0)) throw bad(`no model of the set has a weight for ${s}`);
    });
    return {
      name: m.name ?? 'model set',
      sources: [...sources],
      sampleRate: first.sampleRate,
      channels: first.channels,
      members,
      dispose: async () => {
        for (const mem of members) await mem.model.dispose();
      },
    };
  } catch (err) {
    for (const mem of members) await mem.model.dispose();
    throw err;
  }
}

/** A single model as a set of one. */
export function singleModelSet(model: SeparationModel): ModelSet {
  return {
    name: model.info.name,
    sources: [...model.info.sources],
    sampleRate: model.info.sampleRate,
    channels: model.info.channels,
    members: [{ file: model.info.name, model, weights: model.info.sources.map(() => 1) }],
    dispose: () => model.dispose(),
  };
}
