/**
 * Model sets: several models whose estimates are combined with per-source
 * weights, like Demucs' bags (htdemucs_ft: four specialists, each keeping its
 * own stem). Described by a model manifest (src/model/manifest.ts):
 *
 *   { "name": "htdemucs_ft", "sources": ["drums", "bass", "other", "vocals"],
 *     "models": [ { "url": "ft-drums.onnx", "weights": [1, 0, 0, 0] }, ... ] }
 *
 * A single-model manifest loads as a set of one. `weights` (default all 1) has
 * one entry per source; stem k = Σ_m w[m][k] · out_m[k] / Σ_m w[m][k], as Demucs does.
 */
import { StemstreamError } from '../errors.js';
import { isParsedManifest, manifestMembers, parseManifest, type Manifest, type SetMemberManifest } from './manifest.js';
import { loadModel, readModelBytes, type LoadModelOptions, type SeparationModel } from './model.js';

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

async function sha256Hex(bytes: Uint8Array): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Loads one member. When the manifest declares its size or SHA-256, the bytes
 * are checked before the model is built: the CLI honours them as the browser does.
 */
async function loadMember(entry: SetMemberManifest, options: LoadModelOptions): Promise<SeparationModel> {
  if (entry.sha256 === undefined && entry.bytes === undefined) return loadModel(entry.url, options);
  const { bytes, name } = await readModelBytes(entry.url, options);
  if (entry.bytes !== undefined && bytes.length !== entry.bytes) {
    throw new StemstreamError('CHECKSUM_MISMATCH', `${name} has ${bytes.length} bytes, but its manifest says ${entry.bytes}; the file or the manifest is out of date: regenerate the manifest for this file`);
  }
  if (entry.sha256 !== undefined) {
    const sha = await sha256Hex(bytes);
    if (sha === undefined) throw new StemstreamError('NO_RUNTIME', `cannot verify ${name}: this runtime has no crypto.subtle`);
    if (sha !== entry.sha256) {
      throw new StemstreamError('CHECKSUM_MISMATCH', `${name} has SHA-256 ${sha}, but its manifest expects ${entry.sha256}; the file was replaced or corrupted: restore it, or regenerate the manifest for this file`);
    }
  }
  const model = await loadModel(bytes, options);
  // Loaded from bytes: keep the file's name for messages, as loadModel(path) would.
  return { ...model, info: { ...model.info, name }, dispose: () => model.dispose() };
}

/**
 * Loads a set from a manifest path or URL (members relative to it), or from a
 * manifest object (parsed with parseManifest, or JSON a caller built, checked
 * here; members relative to `options.base`). A single-model manifest is a set of one.
 */
export async function loadModelSet(manifest: string | Manifest | object, options: LoadModelOptions & { base?: string } = {}): Promise<ModelSet> {
  let m: Manifest;
  if (typeof manifest === 'string') {
    const { bytes, name } = await readModelBytes(manifest, options);
    m = parseManifest(new TextDecoder().decode(bytes), name);
  } else if (isParsedManifest(manifest)) {
    m = manifest;
  } else {
    m = parseManifest(manifest, options.base ?? 'the model set manifest');
  }
  const members: ModelSetMember[] = [];
  try {
    for (const entry of manifestMembers(m)) {
      const model = await loadMember(entry, { ...options, inferenceRuntime: options.inferenceRuntime ?? members[0]?.model.runtime });
      members.push({ file: entry.url, model, weights: entry.weights ?? model.info.sources.map(() => 1) });
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
      name: m.name,
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
