/**
 * The inference worker for browsers (a module Web Worker): loads the model with
 * onnxruntime-web, then runs the shared worker body (inference-worker-core.ts)
 * over the SharedArrayBuffer rings. Started by StemEngine (stem-engine.ts):
 *
 *   new Worker(new URL('./inference-worker-web.ts', import.meta.url), { type: 'module' })
 *
 * It imports bare packages (onnxruntime-web, ringbuf.js), so it is loaded
 * bundled (Vite bundles a worker referenced that way).
 *
 * onnxruntime-web is imported statically so that the bundler resolves it and
 * serves its .mjs/.wasm files next to this worker; its WASM runs inside this
 * worker (env.wasm.proxy stays off: we already are off the main thread).
 * Threads default to 1 here: more need cross-origin isolation and spawn ort's
 * own workers from inside this one (StemEngine's `threads` option).
 */
import * as ort from 'onnxruntime-web';
import { loadModel } from '../model/model.js';
import { createInferenceWorker } from './inference-worker-core.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

const handle = createInferenceWorker({
  post: (m: FromWorker) => scope.postMessage(m),
  loadModel: (bytes, options) =>
    loadModel(bytes, {
      runtime: 'web',
      threads: options.threads ?? 1,
      executionProviders: options.executionProviders ?? ['wasm'],
      webModule: ort,
    }),
});
scope.addEventListener('message', (event: MessageEvent) => handle(event.data as ToWorker));
