/**
 * Where the demo's model comes from: the default manifest (models/default.json,
 * written by `npm run demo:model`), a URL the user types or passes as ?model=
 * (an .onnx file or a manifest .json), or a local file. Downloads go through
 * the model store (progress, sha256, Cache Storage).
 */
import { fetchManifestJson, fetchModel, parseModelManifest, type ModelDownloadProgress } from '../src/web/model-store.js';

export interface DemoModel {
  /** The model, or a set's first member (for its description). */
  bytes: Uint8Array;
  name: string;
  fromCache: boolean;
  /** A model set (Demucs bag): every member with its per-source weights. */
  set?: { model: Uint8Array; weights?: number[] }[];
}

/** A set manifest, as the CLI's model sets (src/model/model-set.ts): { name, models: [{ file | url, weights?, sha256?, bytes? }] }. */
interface SetManifest {
  name?: string;
  models: { file?: string; url?: string; weights?: number[]; sha256?: string; bytes?: number }[];
}

async function loadSet(url: string, manifest: SetManifest, onProgress: (p: ModelDownloadProgress) => void): Promise<DemoModel> {
  const set: { model: Uint8Array; weights?: number[] }[] = [];
  let fromCache = true;
  const total = manifest.models.reduce((a, m) => a + (m.bytes ?? 0), 0) || undefined;
  let done = 0;
  for (const m of manifest.models) {
    const ref = m.url ?? m.file;
    if (!ref) throw new Error(`${url}: each model of a set needs "file" or "url"`);
    const got = await fetchModel({ url: new URL(ref, url).href, sha256: m.sha256, bytes: m.bytes }, {
      onProgress: (p) => onProgress({ loadedBytes: done + p.loadedBytes, totalBytes: total, fromCache: p.fromCache }),
    });
    done += got.bytes.length;
    fromCache &&= got.fromCache;
    set.push({ model: got.bytes, weights: m.weights });
  }
  if (set.length === 0) throw new Error(`${url}: the set lists no models`);
  return { bytes: set[0].model, name: manifest.name ?? 'model set', fromCache, set };
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
    let got;
    try {
      got = await fetchManifestJson(url);
    } catch (err) {
      if (url === DEFAULT_MANIFEST) {
        throw new Error(`the default model is not on this server (${url}): run "npm run demo:model" (or "npm run demo") in the project, or choose a model by URL or file below`, { cause: err });
      }
      throw err;
    }
    const raw = got.json as { models?: unknown } | null;
    if (raw && Array.isArray(raw.models)) return loadSet(got.url, raw as SetManifest, onProgress);
    const manifest = parseModelManifest(got.json, got.url);
    const m = await fetchModel({ url: manifest.url, sha256: manifest.sha256, bytes: manifest.bytes, name: manifest.name }, { onProgress });
    return { bytes: m.bytes, name: manifest.name, fromCache: m.fromCache };
  }
  const m = await fetchModel({ url }, { onProgress });
  return { bytes: m.bytes, name: m.name, fromCache: m.fromCache };
}
