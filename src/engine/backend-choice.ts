/**
 * Thread: both, main and inference worker (docs/ARCHITECTURE.md §9).
 * Which WebGPU adapter, if any, a model may run on: asked for with
 * `powerPreference: 'high-performance'`, refused (unless the caller forces
 * WebGPU) when it is a software or fallback adapter, or when its limits are
 * below what the model's largest tensor needs. Used on the main thread to pick
 * the execution providers, and again in the inference worker on the adapter
 * onnxruntime-web is then given (env.webgpu.adapter): a worker's adapter is its
 * own object, and the one probed is the one used.
 *
 * Why software adapters are skipped: on SwiftShader (headless Chromium, a Linux
 * box whose GPU is blocklisted) htdemucs runs tens of times slower than on WASM.
 */

/** The parts of WebGPU's GPUAdapter read here (no @webgpu/types in this project). */
export interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  /** Older browsers: on the adapter itself. */
  isFallbackAdapter?: boolean;
  limits?: { maxStorageBufferBindingSize?: number; maxBufferSize?: number };
}

export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

/** What the model needs from an adapter, bytes. */
export interface WebGpuNeeds {
  /** The largest single tensor (one storage buffer binding). */
  largestTensorBytes: number;
}

/**
 * An estimate from the geometry: HT-Demucs' largest tensor is the frequency
 * branch's attention scores, 8 heads × tokens² floats with tokens = 8 × frames
 * (2048 bins / 4^4 after four encoders); for htdemucs (336 frames) 231 MB, above
 * WebGPU's default 128 MiB binding limit. The model's own output spectrogram is
 * the other candidate.
 */
export function webgpuNeeds(geometry: { frames: number; sources: number; channels: number }): WebGpuNeeds {
  const tokens = 8 * geometry.frames;
  const attention = 8 * tokens * tokens * 4;
  const spectrogram = geometry.sources * geometry.channels * 2 * 2048 * geometry.frames * 4;
  return { largestTensorBytes: Math.max(attention, spectrogram) };
}

/** Software rasterisers that present themselves as WebGPU adapters. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|warp|basic render/i;

/** A short name for messages, e.g. "google swiftshader". */
export function describeAdapter(adapter: GpuAdapterLike): string {
  const i = adapter.info ?? {};
  const words = [i.vendor, i.architecture, i.device, i.description].filter((w): w is string => typeof w === 'string' && w.length > 0);
  return words.length > 0 ? [...new Set(words)].join(' ') : 'unnamed adapter';
}

export type AdapterVerdict = { ok: true; name: string } | { ok: false; name: string; reason: string };

/** Whether `auto` should run a model on this adapter, and if not, why (a sentence for the status). */
export function judgeAdapter(adapter: GpuAdapterLike, needs?: WebGpuNeeds): AdapterVerdict {
  const name = describeAdapter(adapter);
  const i = adapter.info ?? {};
  if (i.isFallbackAdapter === true || adapter.isFallbackAdapter === true) {
    return { ok: false, name, reason: `the only WebGPU adapter (${name}) is a fallback adapter, usually a software renderer` };
  }
  if (SOFTWARE.test(`${i.vendor ?? ''} ${i.architecture ?? ''} ${i.description ?? ''} ${i.device ?? ''}`)) {
    return { ok: false, name, reason: `the only WebGPU adapter (${name}) is a software renderer` };
  }
  if (needs) {
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const binding = adapter.limits?.maxStorageBufferBindingSize;
    const buffer = adapter.limits?.maxBufferSize;
    const short = [binding, buffer].find((v) => typeof v === 'number' && v < needs.largestTensorBytes);
    if (short !== undefined) {
      return { ok: false, name, reason: `the WebGPU adapter (${name}) allows buffers of ${mb(short)}; the model needs ${mb(needs.largestTensorBytes)}` };
    }
  }
  return { ok: true, name };
}

/** Asks for the high-performance adapter; null where there is none (or asking throws). */
export async function requestAdapter(gpu: GpuLike | undefined): Promise<GpuAdapterLike | null> {
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return null;
  }
}

export type BackendRequest = 'auto' | 'webgpu' | 'wasm';

export interface BackendChoice {
  /** Execution providers to try, in order. */
  executionProviders: string[];
  /** Why, in a sentence (shown in the status). */
  reason: string;
  /** Whether the worker may use a fallback/software or too-small adapter (the caller forced WebGPU). */
  forceWebgpu: boolean;
  /** Whether the worker may switch providers by measured speed (auto with more than one candidate). */
  switchByMeasurement: boolean;
}

/**
 * The providers for a requested backend. 'auto': WebGPU first where the
 * adapter passes judgeAdapter (WASM behind it, switched to if WebGPU is slower
 * than real time or fails), else WASM alone. 'webgpu': any adapter, WASM
 * behind it only for failures. 'wasm': WASM.
 */
export async function chooseBackend(request: BackendRequest, gpu: GpuLike | undefined, needs?: WebGpuNeeds): Promise<BackendChoice> {
  if (request === 'wasm') return { executionProviders: ['wasm'], reason: 'WASM was asked for', forceWebgpu: false, switchByMeasurement: false };
  const adapter = await requestAdapter(gpu);
  if (request === 'webgpu') {
    if (!adapter) return { executionProviders: [], reason: 'no WebGPU adapter', forceWebgpu: true, switchByMeasurement: false };
    return { executionProviders: ['webgpu', 'wasm'], reason: `WebGPU was asked for (${describeAdapter(adapter)})`, forceWebgpu: true, switchByMeasurement: false };
  }
  if (!adapter) return { executionProviders: ['wasm'], reason: gpu ? 'this browser gives no WebGPU adapter' : 'this browser has no WebGPU', forceWebgpu: false, switchByMeasurement: false };
  const verdict = judgeAdapter(adapter, needs);
  if (!verdict.ok) return { executionProviders: ['wasm'], reason: `${verdict.reason}: WASM instead`, forceWebgpu: false, switchByMeasurement: false };
  return { executionProviders: ['webgpu', 'wasm'], reason: `WebGPU adapter ${verdict.name}`, forceWebgpu: false, switchByMeasurement: true };
}
