/**
 * The test pages' own build (test/browser-*.test.ts build one page each into a
 * temporary folder and serve it with `vite preview`): the product's settings
 * (COOP/COEP for SharedArrayBuffer, ES-module workers), rooted here, so that
 * the demo's build (vite.config.ts, dist-demo) holds the demo and its embed
 * example only.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
  build: { target: 'es2022' },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
