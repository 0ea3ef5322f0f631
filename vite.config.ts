import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// SharedArrayBuffer and multi-threaded WASM need cross-origin isolation, so
// both the dev server and `vite preview` send COOP/COEP.
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const page = (name: string) => fileURLToPath(new URL(`./demo/${name}`, import.meta.url));

export default defineConfig({
  root: 'demo',
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
  build: {
    outDir: '../dist-demo',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      // The demo and its embed example; the test pages have their own build (test/pages/vite.config.ts).
      input: { index: page('index.html'), embed: page('embed.html') },
    },
  },
  // The inference worker imports onnxruntime-web, whose code splits (dynamic
  // import of its WASM glue): workers must be ES modules. The audio worklet
  // (a `?worker&url` import in src/engine/host/engine-assets.ts) is bundled the same way.
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
