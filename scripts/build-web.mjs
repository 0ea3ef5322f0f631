#!/usr/bin/env node
/**
 * The prebuilt browser package, dist/web/ (`stemstream/web`): ready ES modules
 * that any bundler, or a page with no bundler, can load.
 *
 *   stemstream.js          the engine, the UI components and <stem-player>
 *                          (lit bundled in: a page needs no import map for it)
 *   stemstream-worker.js   the inference worker, onnxruntime-web bundled in
 *   stemstream-worklet.js  the audio worklet module
 *   ort-wasm-simd-threaded.jsep.wasm   onnxruntime-web's WASM, which its code
 *                          finds with new URL('…', import.meta.url) beside the worker
 *   stemstream.d.ts        the types (re-exported from dist/src/web.d.ts, tsc's output)
 *   coi-serviceworker.js   the cross-origin-isolation fallback for hosts that cannot send
 *                          COOP/COEP (ensureCrossOriginIsolation registers it); a page copies
 *                          it beside itself, since a service worker controls only its own folder
 *
 * Each file finds the next with `new URL('./file', import.meta.url)`
 * (src/engine/host/engine-assets-prebuilt.ts, put here in place of engine-assets.ts).
 * Run by `npm run build:web` and by `prepare` (so `npm pack` and `npm ci` make it).
 */
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/web');
const ORT_WASM = 'ort-wasm-simd-threaded.jsep.wasm';

/** Puts engine-assets-prebuilt.ts where the source imports engine-assets.js. */
const prebuiltAssets = {
  name: 'prebuilt-engine-assets',
  setup(b) {
    b.onResolve({ filter: /\/engine-assets\.js$/ }, () => ({ path: join(root, 'src/engine/host/engine-assets-prebuilt.ts') }));
  },
};

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  absWorkingDir: root,
};

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: { stemstream: 'src/web.ts' }, outdir: out, plugins: [prebuiltAssets] }),
  build({ ...common, entryPoints: { 'stemstream-worker': 'src/engine/worker/inference-worker-web.ts' }, outdir: out }),
  build({ ...common, entryPoints: { 'stemstream-worklet': 'worklets/stem-out-processor.ts' }, outdir: out }),
]);
const require = createRequire(import.meta.url);
await copyFile(require.resolve(`onnxruntime-web/${ORT_WASM}`), join(out, ORT_WASM));
await writeFile(join(out, 'stemstream.d.ts'), "export * from '../src/web.js';\n");
await copyFile(join(root, 'demo/public/coi-serviceworker.js'), join(out, 'coi-serviceworker.js'));

const sizes = [];
for (const f of ['stemstream.js', 'stemstream-worker.js', 'stemstream-worklet.js', ORT_WASM, 'coi-serviceworker.js']) {
  sizes.push(`${f} ${((await stat(join(out, f))).size / 1024).toFixed(0)} KiB`);
}
console.log(`dist/web: ${sizes.join(', ')}`);
