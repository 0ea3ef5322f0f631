import { defineConfig } from 'vite';

// SharedArrayBuffer and multi-threaded WASM need cross-origin isolation, so
// both the dev server and `vite preview` send COOP/COEP.
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: 'demo',
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
  build: { outDir: '../dist-demo', emptyOutDir: true, target: 'es2022' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
