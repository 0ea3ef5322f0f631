/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The inference worker for browsers (a module Web Worker): the worker body
 * (inference-worker-core.ts) over the SharedArrayBuffer rings, with the
 * browser host (web-worker-host.ts: onnxruntime-web, WebGPU's adapter).
 * Started by StemEngine (stem-engine.ts):
 *
 *   new Worker(new URL('./inference-worker-web.ts', import.meta.url), { type: 'module' })
 *
 * It imports bare packages (onnxruntime-web, ringbuf.js), so it is loaded
 * bundled (Vite bundles a worker referenced that way). Its WASM runs inside
 * this worker (env.wasm.proxy stays off: we already are off the main thread);
 * threads default to 1 here: more need cross-origin isolation (StemEngine's
 * `threads` option).
 */
import { createInferenceWorker } from './inference-worker-core.js';
import { createWebWorkerHost } from './web-worker-host.js';
import { transferList, type FromWorker, type ToWorker } from '../protocol.js';

interface WorkerScope {
  readonly name?: string;
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

// onnxruntime-web's WASM threads start this same bundle again as workers named
// em-pthread (its glue lives in the bundle): there it runs the thread, not ours.
if (!(scope.name ?? '').startsWith('em-pthread')) {
  const handle = createInferenceWorker(createWebWorkerHost((m: FromWorker) => scope.postMessage(m, transferList(m))));
  scope.addEventListener('message', (event: MessageEvent) => handle(event.data as ToWorker));
}
