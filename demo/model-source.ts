/**
 * Where the demo's model comes from: the default manifest (models/default.json,
 * written by `npm run demo:model`), a URL the user types or passes as ?model=
 * (an .onnx file or a manifest .json), or a local file. Downloads go through
 * the model store (progress, sha256, Cache Storage), by src/web/model-source.ts.
 */
import { StemstreamError } from '../src/errors.js';
import { isManifestUrl, loadFromManifest, loadModelSource, type LoadedModel } from '../src/web/model-source.js';
import { loadManifest, type ModelDownloadProgress } from '../src/web/model-store.js';

export type DemoModel = LoadedModel;

export const DEFAULT_MANIFEST = new URL('models/default.json', document.baseURI).href;

/** src/web/model-source.ts's loadModelSource, with a hint when the demo's own default model was never prepared. */
export async function loadDemoModel(source: string | File, onProgress: (p: ModelDownloadProgress) => void): Promise<DemoModel> {
  if (typeof source !== 'string') return loadModelSource(source, onProgress);
  const url = new URL(source, document.baseURI).href;
  if (!isManifestUrl(url)) return loadModelSource(url, onProgress);
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
