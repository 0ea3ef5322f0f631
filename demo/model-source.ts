/**
 * Where the demo's model comes from: the default manifest (models/default.json,
 * written by `npm run demo:model`), a URL the user types or passes as ?model=
 * (an .onnx file or a manifest .json), or a local file. Downloads go through
 * the model store (progress, sha256, Cache Storage).
 */
import { fetchModel, loadModelManifest, type ModelDownloadProgress } from '../src/web/model-store.js';

export interface DemoModel {
  bytes: Uint8Array;
  name: string;
  fromCache: boolean;
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
      manifest = await loadModelManifest(url);
    } catch (err) {
      if (url === DEFAULT_MANIFEST) {
        throw new Error(`the default model is not on this server (${url}): run "npm run demo:model" (or "npm run demo") in the project, or choose a model by URL or file below`, { cause: err });
      }
      throw err;
    }
    const m = await fetchModel({ url: manifest.url, sha256: manifest.sha256, bytes: manifest.bytes, name: manifest.name }, { onProgress });
    return { bytes: m.bytes, name: manifest.name, fromCache: m.fromCache };
  }
  const m = await fetchModel({ url }, { onProgress });
  return { bytes: m.bytes, name: m.name, fromCache: m.fromCache };
}
