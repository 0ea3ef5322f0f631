/**
 * Choosing the execution provider: the adapter rules (backend-choice.ts), the
 * pool's fallback and switching by measured speed (backend-pool.ts) on fake
 * models with set run times, and the worker body switching a track from a slow
 * provider to a fast one with stems equal to separate().
 */
import { describe, expect, it } from 'vitest';
import { chooseBackend, judgeAdapter, webgpuNeeds, type GpuAdapterLike, type GpuLike } from '../src/engine/backend-choice.js';
import { createBackendPool, type BackendPoolOptions, type FallbackEvent, type SwitchEvent } from '../src/engine/worker/backend-pool.js';
import { createInferenceWorker } from '../src/engine/worker/inference-worker-core.js';
import { createSharedState } from '../src/realtime/shared-state.js';
import { allReady, createTrackState } from '../src/realtime/track-state.js';
import type { FromWorker, WorkerInitOptions } from '../src/engine/protocol.js';
import { loadModel, type SeparationModel } from '../src/model/model.js';
import { noiseInput } from '../src/model/parity.js';
import type { TensorFeed } from '../src/model/runtime.js';
import { separate } from '../src/separate/separate.js';
import { makeDemucsLayoutModel, TINY_SEGMENT } from './fixtures/tiny-models.js';
import { messageWaiter } from './fixtures/worker-messages.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const htdemucs = webgpuNeeds({ frames: 336, sources: 4, channels: 2 });

describe('adapter choice', () => {
  const hardware: GpuAdapterLike = { info: { vendor: 'nvidia', architecture: 'ampere' }, limits: { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 } };

  it("htdemucs' largest tensor is the frequency attention: 8 × 2688² floats = 231 MB", () => {
    expect(htdemucs.largestTensorBytes).toBe(8 * 2688 * 2688 * 4);
  });

  it('refuses fallback adapters (GPUAdapterInfo or the older GPUAdapter flag), software renderers and small limits; takes a hardware adapter', () => {
    expect(judgeAdapter(hardware, htdemucs)).toEqual({ ok: true, name: 'nvidia ampere' });
    const byInfo = judgeAdapter({ ...hardware, info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true } }, htdemucs);
    expect(byInfo).toMatchObject({ ok: false, reason: expect.stringMatching(/google swiftshader\) is a fallback adapter/) });
    expect(judgeAdapter({ ...hardware, isFallbackAdapter: true })).toMatchObject({ ok: false, reason: expect.stringMatching(/fallback/) });
    expect(judgeAdapter({ ...hardware, info: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' } })).toMatchObject({ ok: false, reason: expect.stringMatching(/software renderer/) });
    const small = judgeAdapter({ ...hardware, limits: { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 } }, htdemucs);
    expect(small).toMatchObject({ ok: false, reason: expect.stringMatching(/allows buffers of 128 MiB; the model needs 221 MiB/) });
    // Without the model's needs, the limits are not judged.
    expect(judgeAdapter({ ...hardware, limits: { maxStorageBufferBindingSize: 1 } }).ok).toBe(true);
  });

  function fakeGpu(adapter: GpuAdapterLike | null): GpuLike & { asked: unknown[] } {
    const asked: unknown[] = [];
    return { asked, requestAdapter: async (o) => (asked.push(o), adapter) };
  }

  it("auto: WebGPU then WASM on a hardware adapter (switching by measurement), WASM alone on SwiftShader or without WebGPU; always asks for 'high-performance'", async () => {
    const good = fakeGpu(hardware);
    expect(await chooseBackend('auto', good, htdemucs)).toMatchObject({ executionProviders: ['webgpu', 'wasm'], switchByMeasurement: true, forceWebgpu: false });
    expect(good.asked).toEqual([{ powerPreference: 'high-performance' }]);
    const swift = fakeGpu({ info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true } });
    const c = await chooseBackend('auto', swift, htdemucs);
    expect(c.executionProviders).toEqual(['wasm']);
    expect(c.reason).toMatch(/fallback adapter.*WASM instead/);
    expect(await chooseBackend('auto', fakeGpu(null))).toMatchObject({ executionProviders: ['wasm'], reason: 'this browser gives no WebGPU adapter' });
    expect(await chooseBackend('auto', undefined)).toMatchObject({ executionProviders: ['wasm'], reason: 'this browser has no WebGPU' });
    const throwing: GpuLike = { requestAdapter: () => Promise.reject(new Error('boom')) };
    expect((await chooseBackend('auto', throwing)).executionProviders).toEqual(['wasm']);
  });

  it("'webgpu' takes even SwiftShader (forced, no switching); with no adapter it has no providers; 'wasm' never asks", async () => {
    const swift = fakeGpu({ info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true } });
    expect(await chooseBackend('webgpu', swift, htdemucs)).toMatchObject({ executionProviders: ['webgpu', 'wasm'], forceWebgpu: true, switchByMeasurement: false });
    expect((await chooseBackend('webgpu', fakeGpu(null))).executionProviders).toEqual([]);
    const none = fakeGpu(hardware);
    expect(await chooseBackend('wasm', none)).toMatchObject({ executionProviders: ['wasm'] });
    expect(none.asked).toEqual([]);
  });
});

/** A fake model whose runs take `ms` (a function of the run index) and return input × gain. */
function fakeModel(provider: string, msOf: (run: number) => number, log: string[], opts: { gain?: number; failAfter?: number } = {}): SeparationModel & { disposed: boolean } {
  let runs = 0;
  const m = {
    disposed: false,
    info: { sampleRate: 44100 } as SeparationModel['info'],
    runtime: { name: 'onnxruntime-web', executionProviders: [provider], threads: 1, writesOutputBuffers: false, createSession: () => Promise.reject(new Error('unused')) },
    session: {
      inputNames: ['x'],
      outputNames: ['y'],
      async run(feeds: Record<string, TensorFeed>) {
        const n = runs++;
        if (opts.failAfter !== undefined && n >= opts.failAfter) throw new Error(`${provider} lost`);
        await sleep(msOf(n));
        log.push(provider);
        return { y: feeds.x.data.map((v) => v * (opts.gain ?? 2)) };
      },
      release: async () => undefined,
    },
    async dispose() {
      m.disposed = true;
    },
  };
  return m as SeparationModel & { disposed: boolean };
}

function poolWith(models: Record<string, SeparationModel>, extra: Partial<BackendPoolOptions> = {}) {
  const fallbacks: FallbackEvent[] = [];
  const switches: SwitchEvent[] = [];
  const loads: string[] = [];
  const providers = Object.keys(models);
  const pool = createBackendPool(models[providers[0]], {
    executionProviders: providers,
    load: async (p) => {
      loads.push(p);
      const m = models[p];
      if (!m) throw new Error(`${p} cannot start`);
      return m;
    },
    onFallback: (e) => fallbacks.push(e),
    onSwitch: (e) => switches.push(e),
    ...extra,
  });
  const x = { data: new Float32Array([1, -2, 3]), dims: [3] };
  const run = async (k: number) => {
    const outs: Float32Array[] = [];
    for (let i = 0; i < k; i++) outs.push((await pool.session.run({ x })).y);
    return outs;
  };
  return { pool, fallbacks, switches, loads, run };
}

describe('backend pool', () => {
  it('a provider far slower than real time (first run > 2×) is left after one run for an untried one that measures faster; the slow one is released', async () => {
    const log: string[] = [];
    const slow = fakeModel('webgpu', () => 120, log);
    const fast = fakeModel('wasm', () => 10, log);
    const { pool, switches, run } = poolWith({ webgpu: slow, wasm: fast }, { realTimeMs: 50, switchByMeasurement: true });
    const outs = await run(4);
    expect(log).toEqual(['webgpu', 'wasm', 'wasm', 'wasm']);
    // The same model on both: the outputs are the same.
    for (const y of outs) expect(Array.from(y)).toEqual([2, -4, 6]);
    expect(switches).toHaveLength(1);
    expect(switches[0]).toMatchObject({ from: 'webgpu', to: 'wasm' });
    expect(switches[0].reason).toMatch(/slower than real time \(webgpu 2\.\d\d× real time\)/);
    expect(pool.provider).toBe('wasm');
    expect(pool.reason).toMatch(/^wasm: measured faster \(wasm 0\.\d\d× real time, webgpu 2\.\d\d×\)/);
    expect(slow.disposed).toBe(true);
    const m = pool.measures();
    expect(m.map((b) => [b.provider, b.runs, b.state])).toEqual([['webgpu', 1, 'left'], ['wasm', 3, 'running']]);
    expect(m[0].realTimeFactor).toBeGreaterThan(2);
    expect(m[1].realTimeFactor).toBeLessThan(1);
  });

  it('a first run within 2× real time counts as warm-up: the provider is left only when its second run is also slow', async () => {
    const log: string[] = [];
    const { switches, run } = poolWith({ webgpu: fakeModel('webgpu', () => 75, log), wasm: fakeModel('wasm', () => 10, log) }, { realTimeMs: 50, switchByMeasurement: true });
    await run(4);
    expect(log).toEqual(['webgpu', 'webgpu', 'wasm', 'wasm']);
    expect(switches.map((s) => s.to)).toEqual(['wasm']);
  });

  it('goes back when the other measures slower, and never tries again (no flapping)', async () => {
    const log: string[] = [];
    const first = fakeModel('webgpu', () => 70, log);
    const second = fakeModel('wasm', () => 140, log);
    const { pool, switches, run } = poolWith({ webgpu: first, wasm: second }, { realTimeMs: 50, switchByMeasurement: true });
    await run(6);
    expect(log).toEqual(['webgpu', 'webgpu', 'wasm', 'webgpu', 'webgpu', 'webgpu']);
    expect(switches.map((s) => `${s.from}→${s.to}`)).toEqual(['webgpu→wasm', 'wasm→webgpu']);
    expect(pool.reason).toMatch(/^webgpu: measured faster/);
    expect(second.disposed).toBe(true);
    expect(first.disposed).toBe(false);
  });

  it('a provider keeping up is never left; without switchByMeasurement a slow one is measured but kept', async () => {
    const log: string[] = [];
    const a = poolWith({ webgpu: fakeModel('webgpu', () => 20, log), wasm: fakeModel('wasm', () => 1, log) }, { realTimeMs: 50, switchByMeasurement: true });
    await a.run(3);
    const b = poolWith({ webgpu: fakeModel('webgpu', () => 120, log), wasm: fakeModel('wasm', () => 1, log) }, { realTimeMs: 50 });
    await b.run(3);
    // Measured all the same (the status shows it), but not acted on.
    expect(b.pool.measures()[0].realTimeFactor).toBeGreaterThan(2);
    expect(log).toEqual(['webgpu', 'webgpu', 'webgpu', 'webgpu', 'webgpu', 'webgpu']);
    expect(a.loads).toEqual([]);
    expect(b.loads).toEqual([]);
  });

  it('an untried provider that cannot start leaves the pool where it was, and says why', async () => {
    const log: string[] = [];
    const { pool, run } = poolWith({ webgpu: fakeModel('webgpu', () => 120, log) }, { realTimeMs: 50, switchByMeasurement: true, executionProviders: ['webgpu', 'wasm'] });
    await run(3);
    expect(log).toEqual(['webgpu', 'webgpu', 'webgpu']);
    expect(pool.reason).toMatch(/slower than real time, but wasm could not start \(wasm cannot start\)/);
    expect(pool.measures().map((m) => m.state)).toEqual(['running', 'failed']);
  });

  it('falls back on a failed run and reruns the same inputs there; with no provider left the error comes through', async () => {
    const log: string[] = [];
    const { pool, fallbacks, run } = poolWith({ webgpu: fakeModel('webgpu', () => 1, log, { failAfter: 1 }), wasm: fakeModel('wasm', () => 1, log, { gain: 2 }) });
    const outs = await run(3);
    expect(log).toEqual(['webgpu', 'wasm', 'wasm']);
    for (const y of outs) expect(Array.from(y)).toEqual([2, -4, 6]);
    expect(fallbacks).toEqual([{ from: 'webgpu', to: 'wasm', reason: 'webgpu lost' }]);
    expect(pool.reason).toBe('wasm: webgpu failed (webgpu lost)');
    const alone = poolWith({ wasm: fakeModel('wasm', () => 1, log, { failAfter: 0 }) });
    await expect(alone.run(1)).rejects.toThrow('wasm lost');
  });
});

describe('inference worker: switching by measurement on a track (onnxruntime-node, a provider slowed on purpose)', () => {
  it("'slow-ep' at 3× real time is left after its first segment; 'cpu' runs the rest; the stems equal separate()", async () => {
    const bytes = makeDemucsLayoutModel({ waveGains: [[1, 0.5], [0.25, -0.5], [0.5, 0.5], [-0.75, 1]] });
    // The tiny model's stride (0.75 × 9426 frames) is 160 ms of audio: 480 ms is 3× real time.
    const strideMs = (Math.round(0.75 * TINY_SEGMENT) / 44100) * 1000;
    const messages: FromWorker[] = [];
    const handle = createInferenceWorker({
      post: (m) => messages.push(m),
      // The model-loading seam: the provider named 'slow-ep' takes 3 strides per run.
      loadModel: async (b, o) => {
        const m = await loadModel(b, { runtime: o.runtime });
        if (o.executionProviders?.[0] !== 'slow-ep') return m;
        const run = m.session.run.bind(m.session);
        return { ...m, session: { ...m.session, inputNames: m.session.inputNames, outputNames: m.session.outputNames, run: async (f, out) => (await sleep(3 * strideMs), run(f, out)), release: () => m.session.release() } };
      },
    });
    const state = createSharedState({ channels: 2, sources: 4, inputRingFrames: 1024, stemRingFrames: 2048 });
    const options: WorkerInitOptions = { overlap: 0.25, runtime: 'node', sourceKind: 'track', executionProviders: ['slow-ep', 'cpu'], switchByMeasurement: true, backendReason: 'test' };
    handle({ type: 'init', id: 1, buffers: state.buffers, model: bytes, options });
    const until = messageWaiter(messages, 4000);
    await until((m) => m.type === 'ready', 'ready');
    const length = 6 * TINY_SEGMENT;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 21).audio };
    const track = createTrackState(audio.channels, 4, 44100);
    handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false });
    await until((m) => m.type === 'segment' && allReady(track, 1), 'all ready');
    const sw = messages.find((m) => m.type === 'backend-switch');
    expect(sw).toMatchObject({ from: 'slow-ep', to: 'cpu' });
    const segs = messages.filter((m) => m.type === 'segment');
    // Each segment's stats name the provider that ran it: the first on slow-ep, every later one on cpu.
    expect(segs.map((m) => (m.type === 'segment' ? m.stats.backend : ''))).toEqual(['onnxruntime-node/slow-ep', ...segs.slice(1).map(() => 'onnxruntime-node/cpu')]);
    const last = segs[segs.length - 1];
    if (last.type !== 'segment') throw new Error('unreachable');
    expect(last.stats.backends.map((b) => [b.provider, b.state])).toEqual([['slow-ep', 'left'], ['cpu', 'running']]);
    expect(last.stats.backends[0].realTimeFactor).toBeGreaterThan(2.5);
    expect(last.stats.backends[1].realTimeFactor).toBeLessThan(last.stats.backends[0].realTimeFactor);
    expect(last.stats.backendReason).toMatch(/^cpu: measured faster/);
    const model = await loadModel(bytes);
    const ref = await separate(audio, model, { normalize: false });
    await model.dispose();
    // Both providers are the same runtime here, so the stems are exactly separate()'s.
    ref.sources.forEach((name, s) => {
      for (let c = 0; c < 2; c++) expect(track.stems[s * 2 + c]).toEqual(ref.stems[name][c]);
    });
    handle({ type: 'stop', id: 9 });
    await until((m) => m.type === 'stopped', 'stopped');
  });
});
