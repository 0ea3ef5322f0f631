/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * Where the engine's two other threads come from, in the source tree: the
 * inference worker and the audio worklet, each bundled by the page's Vite build.
 * The worker through Vite's `new Worker(new URL(…, import.meta.url), { type:
 * 'module' })` pattern; the worklet through a `?worker&url` import (Vite bundles
 * it like a worker and gives its URL: a plain `new URL('….ts', import.meta.url)`
 * handed to addModule would be emitted as raw TypeScript).
 *
 * The prebuilt package (scripts/build-web.mjs) swaps this module for
 * engine-assets-prebuilt.ts, which points at the built files beside it. The
 * one module of src/engine that names a file of worklets/, and only as a URL
 * (.dependency-cruiser.cjs holds the rest of the engine to that);
 * StemEngine's `workerUrl` / `workletUrl` options override both.
 */
/// <reference types="vite/client" />
import workletUrl from '../../../worklets/stem-out-processor.ts?worker&url';
import type { EngineAssets } from './engine-assets-type.js';

export const engineAssets: EngineAssets = {
  workletUrl,
  // The literal options object: Vite reads `type` statically.
  startWorker: () => new Worker(new URL('../worker/inference-worker-web.ts', import.meta.url), { type: 'module', name: 'stemstream-inference' }),
};
