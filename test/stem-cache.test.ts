/**
 * The stem cache (src/engine/host/stem-cache.ts) against an in-memory OPFS
 * (test/fixtures/fake-opfs.ts): round trip bit for bit and across a reopen,
 * least-recently-used eviction, damaged entries, quota errors, the key, clear;
 * and the worker's side of a cache hit (a 'load-track' with `precomputed`):
 * no segment runs, the export comes at once, a model swap still recomputes.
 */
import { describe, expect, it } from 'vitest';
import { StemstreamError } from '../src/errors.js';
import { StemCache, audioDigest, modelIdentity, stemCacheKey, type StemCacheKeyInput } from '../src/engine/host/stem-cache.js';
import { FakeRoot, type FakeDirectory } from './fixtures/fake-opfs.js';
import { createInferenceWorker } from '../src/engine/worker/inference-worker-core.js';
import type { FromWorker, ToWorker } from '../src/engine/protocol.js';
import { createSharedState } from '../src/realtime/shared-state.js';
import { TRACK, allReady, createTrackState, markAllReady } from '../src/realtime/track-state.js';
import { parseWav } from '../src/audio/wav.js';
import { loadModel } from '../src/model/model.js';
import type { RuntimeSession } from '../src/model/runtime.js';
import { noiseInput } from '../src/model/parity.js';
import { separate } from '../src/separate/separate.js';
import { makeDemucsLayoutModel, TINY_SEGMENT } from './fixtures/tiny-models.js';
import { resolveEngineOptions } from '../src/engine/host/engine-options.js';
import { messageWaiter } from './fixtures/worker-messages.js';
import { sameBits } from './reference/compare.js';

const DIR = 'stemstream-stems';
const HEADER = 64;

/** Rows × frames of seeded values, with the awkward bit patterns a float copy could lose (−0, subnormals, a NaN payload). */
function stems(rows: number, frames: number, seed: number): Float32Array {
  const x = new Float32Array(rows * frames);
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32 - 0.5) * 2;
  }
  const bits = new Uint32Array(x.buffer);
  bits[0] = 0x80000000; // −0
  bits[1] = 0x00000001; // the smallest subnormal
  bits[2] = 0x7fc01234; // a NaN with a payload
  return x;
}

function sharedCopy(a: Float32Array): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

const key = (n: number) => n.toString(16).padStart(64, '0');

async function openCache(root: FakeRoot, options: Parameters<typeof StemCache.open>[0] = {}) {
  const cache = await StemCache.open({ root: async () => root, storage: null, ...options });
  return { cache, dir: root.dirs.get(DIR)! };
}

function entryNames(dir: FakeDirectory): string[] {
  return [...dir.files.keys()].filter((n) => n !== 'index.json').sort();
}

describe('StemCache', () => {
  it('put then get returns the stems bit for bit, into a shared view; a reopened cache (a reload) still has them', async () => {
    const root = new FakeRoot();
    const { cache, dir } = await openCache(root);
    const data = sharedCopy(stems(8, 5000, 1));
    const r = await cache.put(key(1), data, { rows: 8, frames: 5000, sampleRate: 44100, sources: ['drums', 'bass', 'other', 'vocals'] });
    expect(r).toEqual({ stored: true, key: key(1), bytes: HEADER + 8 * 5000 * 4, evicted: [] });
    expect(dir.files.get(`${key(1)}.stems`)!.length).toBe(HEADER + 8 * 5000 * 4);
    expect(cache.usage()).toEqual({ entries: 1, bytes: HEADER + 8 * 5000 * 4, maxBytes: 2 * 1024 ** 3, persisted: undefined });

    const into = new Float32Array(new SharedArrayBuffer(8 * 5000 * 4));
    expect(await cache.get(key(1), into)).toBe(true);
    expect(sameBits(into, data)).toBe(true);

    const again = (await openCache(root)).cache;
    expect(again.keys()).toEqual([key(1)]);
    const into2 = new Float32Array(8 * 5000);
    expect(await again.get(key(1), into2, { rows: 8, frames: 5000 })).toBe(true);
    expect(sameBits(into2, data)).toBe(true);

    // An unknown key is a miss and leaves the view alone.
    const untouched = new Float32Array(8 * 5000).fill(7);
    expect(await again.get(key(2), untouched)).toBe(false);
    expect(untouched.every((v) => v === 7)).toBe(true);
  });

  it('evicts the least recently used entries to stay under maxBytes; a get makes an entry recent (even within one millisecond)', async () => {
    const root = new FakeRoot();
    const entry = HEADER + 1000 * 4;
    // Room for two entries; a clock that never moves, so only the store's own order can tell them apart.
    const { cache, dir } = await openCache(root, { maxBytes: 2 * entry + 100, now: () => 1000 });
    const put = (n: number) => cache.put(key(n), stems(2, 500, n), { rows: 2, frames: 500 });
    expect((await put(1)).evicted).toEqual([]);
    expect((await put(2)).evicted).toEqual([]);
    expect(await cache.get(key(1), new Float32Array(1000))).toBe(true); // 1 is now more recent than 2
    expect(await put(3)).toMatchObject({ stored: true, evicted: [key(2)] });
    expect(cache.keys()).toEqual([key(1), key(3)]);
    expect(entryNames(dir)).toEqual([`${key(1)}.stems`, `${key(3)}.stems`]);
    expect(await put(4)).toMatchObject({ stored: true, evicted: [key(1)] });
    expect(cache.keys()).toEqual([key(3), key(4)]);
    expect(cache.usage().bytes).toBe(2 * entry);
    // The order is kept in the index: a reopened cache evicts the same one next.
    const again = (await openCache(root, { maxBytes: 2 * entry + 100, now: () => 1000 })).cache;
    expect(again.keys()).toEqual([key(3), key(4)]);
    expect(await again.put(key(5), stems(2, 500, 5), { rows: 2, frames: 500 })).toMatchObject({ evicted: [key(3)] });

    // An entry larger than the whole cache is refused without evicting anything.
    const big = await again.put(key(6), stems(2, 3000, 6), { rows: 2, frames: 3000 });
    expect(big).toMatchObject({ stored: false, reason: 'too-large', evicted: [] });
    expect(again.keys()).toEqual([key(4), key(5)]);
  });

  it('a damaged entry (cut short, a bad header, another shape) is a miss and is removed', async () => {
    const root = new FakeRoot();
    const { cache, dir } = await openCache(root);
    for (const n of [1, 2, 3]) await cache.put(key(n), stems(2, 1000, n), { rows: 2, frames: 1000 });
    const name = (n: number) => `${key(n)}.stems`;

    const cut = dir.files.get(name(1))!;
    dir.files.set(name(1), cut.slice(0, cut.length - 4));
    expect(await cache.get(key(1), new Float32Array(2000))).toBe(false);

    const bad = dir.files.get(name(2))!.slice();
    bad[0] ^= 0xff; // the magic
    dir.files.set(name(2), bad);
    expect(await cache.get(key(2), new Float32Array(2000))).toBe(false);

    // The same bytes, asked for as another shape (3 rows × 666 frames would not even fit; 1 × 2000 does).
    expect(await cache.get(key(3), new Float32Array(2000), { rows: 1, frames: 2000 })).toBe(false);

    expect(cache.keys()).toEqual([]);
    expect(entryNames(dir)).toEqual([]);
    expect(cache.usage()).toMatchObject({ entries: 0, bytes: 0 });
    // And the index says so after a reload.
    expect((await openCache(root)).cache.keys()).toEqual([]);
  });

  it('a QuotaExceededError evicts and retries once; when that is not enough, put answers stored: false (quota) and leaves no partial file', async () => {
    const root = new FakeRoot();
    const entry = HEADER + 2000 * 4;
    const { cache, dir } = await openCache(root); // maxBytes far above what the "browser" allows
    await cache.put(key(1), stems(2, 1000, 1), { rows: 2, frames: 1000 });
    // The origin can hold one entry (and the index) but not two.
    dir.quotaBytes = entry + 2000;
    const second = await cache.put(key(2), stems(2, 1000, 2), { rows: 2, frames: 1000 });
    expect(dir.quotaErrors).toBe(1);
    expect(second).toEqual({ stored: true, key: key(2), bytes: entry, evicted: [key(1)] });
    expect(cache.keys()).toEqual([key(2)]);
    const into = new Float32Array(2000);
    expect(await cache.get(key(2), into)).toBe(true);
    expect(sameBits(into, stems(2, 1000, 2))).toBe(true);

    // Now not even one fits: evict, retry, fail cleanly.
    dir.quotaBytes = entry / 2;
    const third = await cache.put(key(3), stems(2, 1000, 3), { rows: 2, frames: 1000 });
    expect(third.stored).toBe(false);
    if (third.stored) throw new Error('unreachable');
    expect(third.reason).toBe('quota');
    expect(third.evicted).toEqual([key(2)]);
    expect(third.message).toMatch(/storage for this site is full .*QuotaExceededError.*after evicting 1 cached separation/);
    expect(dir.quotaErrors).toBe(3);
    expect(entryNames(dir)).toEqual([]);
    expect(cache.keys()).toEqual([]);
    expect(await cache.get(key(3), new Float32Array(2000))).toBe(false);
  });

  it('open removes files its index does not list (a write cut off by a closed tab) and survives a damaged index', async () => {
    const root = new FakeRoot();
    const { cache, dir } = await openCache(root);
    await cache.put(key(1), stems(2, 100, 1), { rows: 2, frames: 100 });
    dir.files.set(`${key(9)}.stems`, new Uint8Array(10));
    dir.files.set(`${key(1)}.stems.crswap`, new Uint8Array(10));
    const again = (await openCache(root)).cache;
    expect(again.keys()).toEqual([key(1)]);
    expect(entryNames(dir)).toEqual([`${key(1)}.stems`]);

    dir.files.set('index.json', new TextEncoder().encode('{ not json'));
    const third = (await openCache(root)).cache;
    expect(third.keys()).toEqual([]);
    expect(entryNames(dir)).toEqual([]);
    expect(JSON.parse(new TextDecoder().decode(dir.files.get('index.json')))).toEqual({ version: 1, entries: {} });
  });

  it('clear() and delete() empty it; the files go too', async () => {
    const root = new FakeRoot();
    const { cache, dir } = await openCache(root);
    for (const n of [1, 2, 3]) await cache.put(key(n), stems(2, 100, n), { rows: 2, frames: 100 });
    expect(await cache.delete(key(2))).toBe(true);
    expect(await cache.delete(key(2))).toBe(false);
    expect(cache.keys()).toEqual([key(1), key(3)]);
    expect(await cache.clear()).toEqual({ entries: 2, bytes: 2 * (HEADER + 800) });
    expect(cache.usage()).toMatchObject({ entries: 0, bytes: 0 });
    expect([...dir.files.keys()]).toEqual(['index.json']);
    expect(await cache.get(key(1), new Float32Array(200))).toBe(false);
    expect((await openCache(root)).cache.keys()).toEqual([]);
  });

  it('asks for persistent storage once on open and records the answer', async () => {
    const root = new FakeRoot();
    let asked = 0;
    const granted = await StemCache.open({ root: async () => root, storage: { persist: async () => (asked++, true) } });
    await granted.persistRequest;
    expect(asked).toBe(1);
    expect(granted.usage().persisted).toBe(true);
    const refused = await StemCache.open({ root: async () => root, storage: { persist: async () => false } });
    await refused.persistRequest;
    expect(refused.persisted).toBe(false);
    const notAsked = await StemCache.open({ root: async () => root, storage: null });
    expect(await notAsked.persistRequest).toBeUndefined();
    expect(notAsked.persisted).toBeUndefined();
  });

  it('refuses bad options and keys with a message that says what is accepted', async () => {
    const root = new FakeRoot();
    await expect(StemCache.open({ root: async () => root, maxBytes: Number.NaN })).rejects.toThrow(/maxBytes must be a positive number of bytes, got NaN/);
    await expect(StemCache.open({ root: async () => root, dirName: '..' })).rejects.toThrow(/dirName must be one plain name/);
    await expect(StemCache.open({ root: async () => Promise.reject(new DOMException('denied', 'SecurityError')) })).rejects.toThrow(/cannot open the stem cache .*SecurityError: denied/);
    const { cache } = await openCache(root);
    await expect(cache.put('abc', new Float32Array(4), { rows: 1, frames: 4 })).rejects.toThrow(/64 lowercase hex digits/);
    await expect(cache.put(key(1), new Float32Array(4), { rows: 2, frames: 4 })).rejects.toThrow(/4 samples but meta says 2 rows × 4 frames/);
  });
});

describe('stemCacheKey', () => {
  // Longer than the 4 MiB hashing slice (1 Mi frames), so the key covers more than one slice per channel.
  const frames = (1 << 20) + 1234;
  const base = (): StemCacheKeyInput => ({
    audio: [stems(1, frames, 11), stems(1, frames, 12)],
    sampleRate: 44100,
    modelSha256: 'ab'.repeat(32),
    options: { normalize: true, overlap: 0.25 },
  });

  it('is stable for the same audio, model and options (option order, shared memory, a digest given instead of the audio), and changes with each', async () => {
    const k = await stemCacheKey(base());
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    const b = base();
    expect(await stemCacheKey({ ...b, options: { overlap: 0.25, normalize: true } })).toBe(k);
    expect(await stemCacheKey({ ...b, audio: (b.audio as Float32Array[]).map(sharedCopy) })).toBe(k);
    expect(await stemCacheKey({ ...b, audio: { digest: await audioDigest(b.audio as Float32Array[]) } })).toBe(k);

    const changed: Record<string, StemCacheKeyInput> = {};
    const lastSample = base();
    (lastSample.audio as Float32Array[])[1][frames - 1] += 1e-6; // in the last slice of the last channel
    changed['last sample'] = lastSample;
    const firstSample = base();
    (firstSample.audio as Float32Array[])[0][0] = 0.5;
    changed['first sample'] = firstSample;
    const swapped = base();
    (swapped.audio as Float32Array[]).reverse();
    changed['channels swapped'] = swapped;
    const shorter = base();
    shorter.audio = (shorter.audio as Float32Array[]).map((c) => c.subarray(0, frames - 1));
    changed['one frame shorter'] = shorter;
    changed['another model'] = { ...base(), modelSha256: 'ab'.repeat(31) + 'ac' };
    changed['normalize off'] = { ...base(), options: { normalize: false, overlap: 0.25 } };
    changed['another overlap'] = { ...base(), options: { normalize: true, overlap: 0.5 } };
    changed['another option'] = { ...base(), options: { normalize: true, overlap: 0.25, shifts: 2 } };
    changed['another rate'] = { ...base(), sampleRate: 48000 };
    const keys = new Set([k]);
    for (const [what, input] of Object.entries(changed)) {
      const c = await stemCacheKey(input);
      expect(keys.has(c), what).toBe(false);
      keys.add(c);
    }
  });

  it('refuses a model hash that is not 64 hex digits and options that are not finite', async () => {
    await expect(stemCacheKey({ ...base(), modelSha256: 'xyz' })).rejects.toBeInstanceOf(StemstreamError);
    await expect(stemCacheKey({ ...base(), options: { overlap: Number.NaN } })).rejects.toThrow(/overlap must be finite, got NaN/);
  });

  it("modelIdentity is the model's SHA-256, and a set's depends on its members and weights", async () => {
    const bytes = new TextEncoder().encode('abc');
    expect(await modelIdentity(bytes)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const a = await modelIdentity({ members: [{ model: bytes, weights: [1, 0] }] });
    const b = await modelIdentity({ members: [{ model: bytes, weights: [0, 1] }] });
    expect(a).not.toBe(b);
    expect(a).not.toBe(await modelIdentity(bytes));
  });
});

describe("the worker's side of a cache hit (load-track precomputed)", () => {
  const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

  async function startWorker(bytes: Uint8Array) {
    const messages: FromWorker[] = [];
    let runs = 0;
    const handle = createInferenceWorker({
      post: (m) => messages.push(m),
      // Every session.run counted: a hit must run none.
      loadModel: async (b, o) => {
        const model = await loadModel(b, { runtime: o.runtime, executionProviders: o.executionProviders });
        const inner = model.session;
        const session: RuntimeSession = {
          inputNames: inner.inputNames,
          outputNames: inner.outputNames,
          run: (feeds, outputs) => {
            runs++;
            return inner.run(feeds, outputs);
          },
          release: () => inner.release(),
        };
        return { info: model.info, runtime: model.runtime, session, dispose: () => model.dispose() };
      },
    });
    const state = createSharedState({ channels: 2, sources: 4, inputRingFrames: 1024, stemRingFrames: 2048 });
    handle({ type: 'init', id: 1, buffers: state.buffers, model: bytes, options: { overlap: 0.25, runtime: 'node', sourceKind: 'track' } });
    const until = messageWaiter(messages);
    await until((m) => m.type === 'ready', 'ready');
    return { handle: (m: ToWorker) => handle(m), messages, until, runs: () => runs };
  }

  it('plans no segment, exports at once the stems it was given; a model swap still recomputes them all', async () => {
    const a = makeDemucsLayoutModel({ waveGains });
    const b = makeDemucsLayoutModel({ waveGains: [[1, 0], [0, 1], [0.5, 0.5], [-0.5, 0.25]] });
    const length = 2 * TINY_SEGMENT + 333;
    const audio = { sampleRate: 44100, channels: noiseInput(2, length, 21).audio.map((c) => c.map((v) => v * 0.2)) };
    const modelA = await loadModel(a);
    const refA = await separate(audio, modelA, { normalize: false });
    await modelA.dispose();

    const w = await startWorker(a);
    // What StemEngine.loadTrack does on a hit: the stems from the cache, every block marked, then the worker told.
    const track = createTrackState(audio.channels, 4, 44100);
    refA.sources.forEach((name, s) => { for (let c = 0; c < 2; c++) track.stems[s * 2 + c].set(refA.stems[name][c]); });
    markAllReady(track, 1);
    w.handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false, generation: 1, precomputed: true });
    w.handle({ type: 'export', id: 3, baseName: 'hit', format: 'float32' });
    const out = await w.until((m) => m.type === 'exported', 'exported');
    if (out.type !== 'exported') throw new Error('unreachable');
    expect(w.messages.find((m) => m.type === 'track-loaded')).toMatchObject({ id: 2 });
    expect(Atomics.load(track.transport, TRACK.SEGMENTS_DONE)).toBe(Atomics.load(track.transport, TRACK.SEGMENTS_TOTAL));
    expect(Atomics.load(track.transport, TRACK.SEGMENTS_TOTAL)).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50)); // the loop idles: nothing to run
    expect(w.runs()).toBe(0);
    expect(w.messages.filter((m) => m.type === 'segment')).toEqual([]);
    const vocals = parseWav(out.files[3].data);
    for (let c = 0; c < 2; c++) expect(vocals.channels[c]).toEqual(refA.stems.vocals[c]);

    // Another model: the generation moves on and every job runs again, on the new model.
    w.handle({ type: 'swap-model', id: 4, model: b });
    await w.until((m) => m.type === 'model-swapped', 'model-swapped');
    for (let i = 0; i < 600 && !allReady(track, 2); i++) await new Promise((r) => setTimeout(r, 5));
    expect(allReady(track, 2)).toBe(true);
    expect(w.runs()).toBeGreaterThan(0);
    const modelB = await loadModel(b);
    const refB = await separate(audio, modelB, { normalize: false });
    await modelB.dispose();
    for (let c = 0; c < 2; c++) expect(track.stems[3 * 2 + c]).toEqual(refB.stems.vocals[c]);
    w.handle({ type: 'stop', id: 9 });
    const stopped = await w.until((m) => m.type === 'stopped', 'stopped');
    if (stopped.type === 'stopped') expect(stopped.stats.segments).toBe(w.runs());
  });

  it('refuses a precomputed track whose blocks were not all marked final', async () => {
    const w = await startWorker(makeDemucsLayoutModel({ waveGains }));
    const track = createTrackState(noiseInput(2, TINY_SEGMENT, 22).audio, 4, 44100);
    w.handle({ type: 'load-track', id: 2, track: track.buffers, normalize: false, generation: 1, precomputed: true });
    for (let i = 0; i < 100 && !w.messages.some((m) => m.type === 'error'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(w.messages.find((m) => m.type === 'error')).toMatchObject({ id: 2, code: 'BAD_OPTION', message: expect.stringMatching(/every block marked final as generation 1/) });
    w.handle({ type: 'stop', id: 9 });
  });
});

describe("StemEngine's cache option (resolveEngineOptions)", () => {
  const tiny = { sampleRate: 44100, segmentSamples: TINY_SEGMENT, channels: 2, sources: ['drums', 'bass', 'other', 'vocals'] };
  it('is on in track mode when asked (2 GiB unless given), off in live mode and when turned off, off by default without OPFS (Node)', () => {
    expect(resolveEngineOptions({ sourceKind: 'track', cache: true }, tiny).cache).toEqual({ maxBytes: 2 * 1024 ** 3 });
    expect(resolveEngineOptions({ sourceKind: 'track', cache: { maxBytes: 1e6 } }, tiny).cache).toEqual({ maxBytes: 1e6 });
    expect(resolveEngineOptions({ sourceKind: 'track', cache: false }, tiny).cache).toBe(false);
    expect(resolveEngineOptions({ sourceKind: 'live', cache: true }, tiny).cache).toBe(false);
    expect(resolveEngineOptions({ sourceKind: 'track' }, tiny).cache).toBe(false);
    expect(() => resolveEngineOptions({ sourceKind: 'track', cache: { maxBytes: Number.NaN } }, tiny)).toThrow(/cache\.maxBytes must be a positive number of bytes, got NaN/);
  });
});
