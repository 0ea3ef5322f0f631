/**
 * Where the demo's model comes from: the default manifest (models/default.json,
 * written by `npm run demo:model`), a URL the user types or passes as ?model=
 * (an .onnx file or a manifest .json), or a local file. Downloads go through
 * the model store (progress, sha256, Cache Storage).
 */
import { StemstreamError } from '../src/errors.js';
import { manifestMembers, type Manifest } from '../src/model/manifest.js';
import { fetchModel, loadManifest, type ModelDownloadProgress } from '../src/web/model-store.js';

export interface DemoModel {
  /** The model, or a set's first member (for its description). */
  bytes: Uint8Array;
  name: string;
  fromCache: boolean;
  /** A model set (Demucs bag): every member with its per-source weights. */
  set?: { model: Uint8Array; weights?: number[] }[];
}

/** Downloads a manifest's models (one, or a set's members) with one progress bar over all of them. */
async function loadFromManifest(manifest: Manifest, onProgress: (p: ModelDownloadProgress) => void): Promise<DemoModel> {
  const members = manifestMembers(manifest);
  const declared = members.map((m) => m.bytes);
  const total = declared.every((b) => b !== undefined) ? declared.reduce((a: number, b) => a + b!, 0) : undefined;
  const got: { model: Uint8Array; weights?: number[] }[] = [];
  let fromCache = true;
  let done = 0;
  for (const m of members) {
    const name = manifest.kind === 'model' ? manifest.name : undefined;
    const one = await fetchModel({ url: m.url, sha256: m.sha256, bytes: m.bytes, name }, {
      onProgress: (p) => onProgress({ loadedBytes: done + p.loadedBytes, totalBytes: total ?? (members.length === 1 ? p.totalBytes : undefined), fromCache: p.fromCache }),
    });
    done += one.bytes.length;
    fromCache &&= one.fromCache;
    got.push({ model: one.bytes, weights: m.weights });
  }
  const result: DemoModel = { bytes: got[0].model, name: manifest.name, fromCache };
  if (manifest.kind === 'set') result.set = got;
  return result;
}

export const DEFAULT_MANIFEST = new URL('models/default.json', document.baseURI).href;

export async function loadDemoModel(source: string | File, onProgress: (p: ModelDownloadProgress) => void): Promise<DemoModel> {
  if (typeof source !== 'string') {
    const bytes = new Uint8Array(await source.arrayBuffer());
    onProgress({ loadedBytes: bytes.length, totalBytes: bytes.length, fromCache: false });
    return { bytes, name: source.name, fromCache: false };
  }
  const url = new URL(source, document.baseURI).href;
  if (/\.json($|\?)/i.test(url)) {
    let manifest;
    try {
      manifest = await loadManifest(url);
    } catch (err) {
      // Only a missing file gets the hint; a manifest that is there but refused says why itself.
      if (url === DEFAULT_MANIFEST && err instanceof StemstreamError && err.code === 'MODEL_LOAD_FAILED') {
        throw new Error(`the default model is not on this server (${url}): run "npm run demo:model" (or "npm run demo") in the project, or choose a model by URL or file below`, { cause: err });
      }
      throw err;
    }
    return loadFromManifest(manifest, onProgress);
  }
  const m = await fetchModel({ url }, { onProgress });
  return { bytes: m.bytes, name: m.name, fromCache: m.fromCache };
}
