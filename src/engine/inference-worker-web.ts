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
import { StemstreamError } from '../errors.js';
import { loadModel } from '../model/model.js';
import { judgeAdapter, requestAdapter, type GpuLike } from './backend-choice.js';
import { createInferenceWorker } from './inference-worker-core.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

/** The part of WebGPU's GPUDevice used here (no @webgpu/types in this project). */
interface GpuDeviceLike {
  lost?: Promise<{ reason?: string; message?: string }>;
  destroy?(): void;
}

function webgpuDevice(): Promise<GpuDeviceLike | undefined> {
  const webgpu = (ort.env as { webgpu?: { device?: unknown } }).webgpu;
  return Promise.resolve(webgpu?.device as GpuDeviceLike | Promise<GpuDeviceLike> | undefined);
}

/**
 * GPUDevice.lost for a model on WebGPU: onnxruntime-web exposes its device as
 * `env.webgpu.device` (a promise) once a WebGPU session exists. A lost device
 * fails the run in flight and every later one (inference-worker-core.ts), so
 * the worker falls back to the next provider or is replaced by a fresh one.
 */
function webgpuDeviceLost(providers: readonly string[]): Promise<string> | undefined {
  if (providers[0] !== 'webgpu') return undefined;
  try {
    return webgpuDevice().then((device) => {
      const lost = device?.lost;
      if (!lost) return new Promise<string>(() => undefined);
      return lost.then((info) => `${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''}`);
    });
  } catch {
    return undefined;
  }
}

/**
 * The adapter onnxruntime-web will use, chosen here: the high-performance one,
 * refused when it is a software or fallback adapter unless WebGPU was forced.
 * Set once (onnxruntime-web creates its device from it once per worker).
 */
async function prepareWebgpu(force: boolean): Promise<void> {
  const env = ort.env as { webgpu?: { adapter?: unknown } };
  if (env.webgpu?.adapter) return;
  const adapter = await requestAdapter((globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu);
  if (!adapter) throw new StemstreamError('NO_RUNTIME', 'the inference worker gets no WebGPU adapter');
  const verdict = judgeAdapter(adapter);
  if (!verdict.ok && !force) throw new StemstreamError('NO_RUNTIME', verdict.reason);
  if (env.webgpu) env.webgpu.adapter = adapter;
}

const handle = createInferenceWorker({
  post: (m: FromWorker) => scope.postMessage(m),
  loadModel: async (bytes, options) => {
    const providers = options.executionProviders ?? ['wasm'];
    if (providers.includes('webgpu')) await prepareWebgpu(options.forceWebgpu === true);
    return loadModel(bytes, { runtime: 'web', threads: options.threads ?? 1, executionProviders: providers, webModule: ort });
  },
  deviceLost: (model) => webgpuDeviceLost(model.runtime.executionProviders),
  exit: () => scope.close(),
  // Test hook: a real loss (GPUDevice.destroy() resolves device.lost with reason 'destroyed').
  loseDevice: (model) => {
    if (model.runtime.executionProviders[0] !== 'webgpu') return false;
    void webgpuDevice().then((device) => device?.destroy?.(), () => undefined);
    return true;
  },
});
scope.addEventListener('message', (event: MessageEvent) => handle(event.data as ToWorker));
