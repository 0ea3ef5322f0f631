/**
 * stemstream/web: the browser side — the real-time engine, the UI components,
 * model download and cache, cross-origin isolation.
 *
 * The package ships it prebuilt (scripts/build-web.mjs → dist/web/stemstream.js,
 * with the inference worker, the audio worklet and onnxruntime-web's WASM as
 * files beside it, found with `new URL('./…', import.meta.url)`): any bundler, or
 * a page with an import map, can load it. Inside this repo the demo and the test
 * pages import the TypeScript source through Vite (src/engine/host/engine-assets.ts).
 * The Node entry ('stemstream') is the compiled library and CLI.
 */
export {
  StemEngine,
  LiveStemEngine,
  TrackStemEngine,
  chooseExecutionProviders,
  type StemEngineOptions,
  type LiveStemEngineOptions,
  type TrackStemEngineOptions,
  type StemEngineCommonOptions,
  type StemEngineStats,
  type StemEngineEventMap,
  type StemEngineMode,
  type StemEngineSourceKind,
  type StemEngineBackend,
  type ExportStemsRequest,
  type StemEngineModelSet,
  type StemEngineModelSource,
} from './engine/host/stem-engine.js';
export * from './ui/index.js';
export { fetchModel, loadManifest, loadModelManifest, clearModelCache, listCachedModels, type FetchedModel } from './web/model-store.js';
export { parseManifest, manifestMembers, type Manifest, type ModelManifest, type SetManifest, type SetMemberManifest } from './model/manifest.js';
export { StemCache, STEM_CACHE_DEFAULT_MAX_BYTES, type StemCacheOptions, type StemCacheUsage } from './engine/host/stem-cache.js';
export { loadModelSource, type LoadedModel } from './web/model-source.js';
// The service worker it registers ships as dist/web/coi-serviceworker.js; a page copies it beside itself (a worker controls only its folder).
export {
  ensureCrossOriginIsolation,
  type CrossOriginIsolationOptions,
  type CrossOriginIsolationResult,
  type EmbedderPolicy,
} from './web/cross-origin-isolation.js';
export type { ExportedStems, ExportedFile, StemExportFormat } from './export/stems-export.js';
