/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * Where the engine's two other threads come from in the prebuilt package
 * (dist/web/, built by scripts/build-web.mjs, which puts this module in place of
 * engine-assets.ts): the files beside the bundle, found with
 * `new URL('./file.js', import.meta.url)`, the form bundlers recognise (Vite and
 * webpack 5 emit them as assets of the page; with esbuild or no bundler they are
 * served from next to stemstream.js).
 */
import type { EngineAssets } from './engine-assets-type.js';

export const engineAssets: EngineAssets = {
  workletUrl: new URL('./stemstream-worklet.js', import.meta.url).href,
  startWorker: () => new Worker(new URL('./stemstream-worker.js', import.meta.url), { type: 'module', name: 'stemstream-inference' }),
};
