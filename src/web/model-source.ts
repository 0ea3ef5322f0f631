/**
 * A model from wherever a page names it: a URL of an .onnx file, a URL of a
 * manifest (.json: one model, or a set of models with weights, like Demucs'
 * bags), or a local file the user picked. Downloads go through the model store
 * (progress, sha256 check, Cache Storage). Used by <stem-player> and the demo.
 */
import type { StemEngineModelSet } from '../engine/host/stem-engine-options.js';
import { manifestMembers, type Manifest } from '../model/manifest.js';
import { fetchModel, loadManifest, type ModelDownloadProgress } from './model-store.js';

export interface LoadedModel {
  /** The model, or a set's first member (for its description). */
  bytes: Uint8Array;
  name: string;
  fromCache: boolean;
  /** A model set (Demucs bag): every member with its per-source weights. */
  set?: { model: Uint8Array; weights?: number[] }[];
}

/** What StemEngine.create takes as its `model` for a loaded model or set. */
export function engineModelOf(m: LoadedModel): Uint8Array | StemEngineModelSet {
  return m.set ? { name: m.name, members: m.set } : m.bytes;
}

/** True for a URL that names a manifest rather than a model file. */
export function isManifestUrl(url: string): boolean {
  return /\.json($|[?#])/i.test(url);
}

/** Downloads a manifest's models (one, or a set's members) with one progress over all of them. */
export async function loadFromManifest(manifest: Manifest, onProgress?: (p: ModelDownloadProgress) => void): Promise<LoadedModel> {
  const members = manifestMembers(manifest);
  const declared = members.map((m) => m.bytes);
  const total = declared.every((b) => b !== undefined) ? declared.reduce((a: number, b) => a + b!, 0) : undefined;
  const got: { model: Uint8Array; weights?: number[] }[] = [];
  let fromCache = true;
  let done = 0;
  for (const m of members) {
    const name = manifest.kind === 'model' ? manifest.name : undefined;
    const one = await fetchModel({ url: m.url, sha256: m.sha256, bytes: m.bytes, name }, {
      onProgress: (p) => onProgress?.({ loadedBytes: done + p.loadedBytes, totalBytes: total ?? (members.length === 1 ? p.totalBytes : undefined), fromCache: p.fromCache }),
    });
    done += one.bytes.length;
    fromCache &&= one.fromCache;
    got.push({ model: one.bytes, weights: m.weights });
  }
  const result: LoadedModel = { bytes: got[0].model, name: manifest.name, fromCache };
  if (manifest.kind === 'set') result.set = got;
  return result;
}

/** A model from a URL (relative to the page), a manifest URL, or a File/Blob the user picked. */
export async function loadModelSource(source: string | URL | Blob, onProgress?: (p: ModelDownloadProgress) => void): Promise<LoadedModel> {
  if (source instanceof Blob) {
    const bytes = new Uint8Array(await source.arrayBuffer());
    onProgress?.({ loadedBytes: bytes.length, totalBytes: bytes.length, fromCache: false });
    return { bytes, name: 'name' in source && typeof source.name === 'string' ? source.name : '(file)', fromCache: false };
  }
  const url = new URL(String(source), document.baseURI).href;
  if (isManifestUrl(url)) return loadFromManifest(await loadManifest(url), onProgress);
  const m = await fetchModel({ url }, { onProgress });
  return { bytes: m.bytes, name: m.name, fromCache: m.fromCache };
}
