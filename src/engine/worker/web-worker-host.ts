/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The browser worker's host for the worker body (inference-worker-core.ts):
 * onnxruntime-web imported statically (so that the bundler serves its
 * .mjs/.wasm files next to the worker), WebGPU's adapter chosen here and handed
 * to onnxruntime-web, and the GPU device's loss reported. The worker entry
 * (inference-worker-web.ts) and the tests' worker (test/pages/test-worker-web.ts)
 * both build on it.
 */
import * as ort from 'onnxruntime-web';
import { StemstreamError } from '../../errors.js';
import { loadModel } from '../../model/model.js';
import { judgeAdapter, requestAdapter, type GpuLike } from '../backend-choice.js';
import type { SeparationModel } from '../../model/model.js';
import type { InferenceWorkerHost } from './inference-worker-core.js';
import type { FromWorker } from '../protocol.js';

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

/** The host for a browser worker: posts with `post`, loads with onnxruntime-web. */
export function createWebWorkerHost(post: (m: FromWorker) => void): InferenceWorkerHost {
  return {
    post,
    loadModel: async (bytes, options) => {
      const providers = options.executionProviders ?? ['wasm'];
      if (providers.includes('webgpu')) await prepareWebgpu(options.forceWebgpu === true);
      return loadModel(bytes, { runtime: 'web', threads: options.threads ?? 1, executionProviders: providers, webModule: ort });
    },
    deviceLost: (model) => webgpuDeviceLost(model.runtime.executionProviders),
  };
}

/** Destroys the model's WebGPU device (its loss then arrives through deviceLost); false where it runs on none. */
export function destroyWebgpuDevice(model: SeparationModel): boolean {
  if (model.runtime.executionProviders[0] !== 'webgpu') return false;
  void webgpuDevice().then((device) => device?.destroy?.(), () => undefined);
  return true;
}
