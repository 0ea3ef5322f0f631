/**
 * stemstream/web: the browser side, for pages bundled with Vite — the real-time
 * engine, the UI components, model download and cache, cross-origin isolation.
 *
 * Shipped as TypeScript source: the engine's inference worker and audio worklet
 * are bundled by the page's own Vite build (see stem-engine.ts, "Bundling"; set
 * `worker: { format: 'es' }` in vite.config). The Node entry ('stemstream') is
 * the compiled library and CLI.
 */
export {
  StemEngine,
  chooseExecutionProviders,
  type StemEngineOptions,
  type StemEngineStats,
  type StemEngineEventMap,
  type StemEngineMode,
  type StemEngineSourceKind,
  type StemEngineBackend,
  type ExportStemsRequest,
  type StemEngineModelSet,
  type StemEngineModelSource,
} from './engine/stem-engine.js';
export * from './ui/index.js';
export { fetchModel, loadManifest, loadModelManifest, clearModelCache, listCachedModels, type FetchedModel } from './web/model-store.js';
export { parseManifest, manifestMembers, type Manifest, type ModelManifest, type SetManifest, type SetMemberManifest } from './model/manifest.js';
export { ensureCrossOriginIsolation, type CrossOriginIsolationResult } from './web/cross-origin-isolation.js';
export type { ExportedStems, ExportedFile, StemExportFormat } from './export/stems-export.js';
