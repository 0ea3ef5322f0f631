import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StemstreamError } from '../src/errors.js';
import { parseManifest } from '../src/model/manifest.js';
import {
  clearModelCache,
  fetchModel,
  listCachedModels,
  loadManifest,
  loadModelManifest,
  SHA256_HEADER,
  type CacheLike,
  type ModelDownloadProgress,
} from '../src/web/model-store.js';

const URL_A = 'https://models.example/m/htdemucs-fp16.onnx';

function modelBytes(n = 10_000, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** An in-memory CacheLike: stores bodies and headers, answers with fresh Responses. */
class FakeCache implements CacheLike {
  readonly entries = new Map<string, { body: Uint8Array; headers: [string, string][] }>();
  puts = 0;
  async match(url: string): Promise<Response | undefined> {
    const e = this.entries.get(url);
    return e ? new Response(e.body.slice(), { headers: e.headers }) : undefined;
  }
  async put(url: string, res: Response): Promise<void> {
    this.puts++;
    this.entries.set(url, { body: new Uint8Array(await res.arrayBuffer()), headers: [...res.headers] });
  }
  async delete(url: string): Promise<boolean> {
    return this.entries.delete(url);
  }
  async keys(): Promise<{ url: string }[]> {
    return [...this.entries.keys()].map((url) => ({ url }));
  }
}

interface FakeServerOptions {
  chunk?: number;
  status?: number;
  contentLength?: boolean;
  /** Called before each chunk is handed out (to abort mid-download). */
  beforeChunk?: (index: number) => void;
}

/** A fetch that serves `files` in chunks through a ReadableStream and honours the abort signal. */
function fakeFetch(files: Record<string, Uint8Array>, o: FakeServerOptions = {}) {
  const calls: string[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    calls.push(url);
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) throw new DOMException('The operation was aborted.', 'AbortError');
    const body = files[url];
    if (!body || o.status) return new Response('not found', { status: o.status ?? 404, statusText: 'Not Found' });
    const chunk = o.chunk ?? 1000;
    let at = 0;
    let index = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (signal?.aborted) {
          controller.error(new DOMException('The operation was aborted.', 'AbortError'));
          return;
        }
        o.beforeChunk?.(index++);
        if (at >= body.length) {
          controller.close();
          return;
        }
        controller.enqueue(body.slice(at, at + chunk));
        at += chunk;
      },
    });
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (o.contentLength !== false) headers['content-length'] = String(body.length);
    return new Response(stream, { status: 200, headers });
  };
  return Object.assign(fn as typeof fetch, { calls });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<StemstreamError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StemstreamError);
    expect((err as StemstreamError).code).toBe(code);
    return err as StemstreamError;
  }
  throw new Error(`expected a ${code} error`);
}

describe('fetchModel', () => {
  it('streams with monotonic progress that ends at the total, verifies, and caches', async () => {
    const body = modelBytes(10_500);
    const fetch = fakeFetch({ [URL_A]: body }, { chunk: 1000 });
    const cache = new FakeCache();
    const progress: ModelDownloadProgress[] = [];
    const r = await fetchModel({ url: URL_A, sha256: sha(body) }, { cache, fetch, onProgress: (p) => progress.push(p) });
    expect(r.fromCache).toBe(false);
    expect(r.bytes).toEqual(body);
    expect(r.sha256).toBe(sha(body));
    expect(r.name).toBe('htdemucs-fp16.onnx');
    expect(progress.length).toBeGreaterThan(10);
    for (let i = 1; i < progress.length; i++) expect(progress[i].loadedBytes).toBeGreaterThanOrEqual(progress[i - 1].loadedBytes);
    expect(progress.every((p) => p.totalBytes === body.length && !p.fromCache)).toBe(true);
    expect(progress.at(-1)!.loadedBytes).toBe(body.length);
    // The cached entry carries the verified hash.
    const cached = cache.entries.get(URL_A)!;
    expect(cached.body).toEqual(body);
    expect(new Headers(cached.headers).get(SHA256_HEADER)).toBe(sha(body));
  });

  it('takes the total from the manifest when the server sends no Content-Length, and joins unknown-length bodies', async () => {
    const body = modelBytes(4321);
    const withBytes: ModelDownloadProgress[] = [];
    const a = await fetchModel({ url: URL_A, bytes: body.length }, { cache: null, fetch: fakeFetch({ [URL_A]: body }, { contentLength: false, chunk: 500 }), onProgress: (p) => withBytes.push(p) });
    expect(a.bytes).toEqual(body);
    expect(withBytes.at(-1)).toEqual({ loadedBytes: body.length, totalBytes: body.length, fromCache: false });
    const unknown: ModelDownloadProgress[] = [];
    const b = await fetchModel({ url: URL_A }, { cache: null, fetch: fakeFetch({ [URL_A]: body }, { contentLength: false, chunk: 500 }), onProgress: (p) => unknown.push(p) });
    expect(b.bytes).toEqual(body);
    expect(b.sha256).toBe(sha(body));
    expect(unknown.at(-1)).toEqual({ loadedBytes: body.length, totalBytes: undefined, fromCache: false });
  });

  it('rejects a corrupted download with CHECKSUM_MISMATCH and caches nothing', async () => {
    const body = modelBytes();
    const corrupted = body.slice();
    corrupted[5000] ^= 0x01;
    const cache = new FakeCache();
    const err = await expectCode(fetchModel({ url: URL_A, sha256: sha(body) }, { cache, fetch: fakeFetch({ [URL_A]: corrupted }) }), 'CHECKSUM_MISMATCH');
    expect(err.message).toContain(URL_A);
    expect(err.message).toContain(sha(body));
    expect(err.message).toContain(sha(corrupted));
    expect(err.message).toMatch(/not cached/);
    expect(cache.entries.size).toBe(0);
    expect(cache.puts).toBe(0);
  });

  it('serves the second call from the cache without fetching, reporting progress once as complete', async () => {
    const body = modelBytes();
    const cache = new FakeCache();
    const fetch = fakeFetch({ [URL_A]: body });
    await fetchModel({ url: URL_A, sha256: sha(body), name: 'htdemucs' }, { cache, fetch });
    expect(fetch.calls).toHaveLength(1);
    const progress: ModelDownloadProgress[] = [];
    const r = await fetchModel({ url: URL_A, sha256: sha(body) }, { cache, fetch, onProgress: (p) => progress.push(p) });
    expect(fetch.calls).toHaveLength(1);
    expect(r.fromCache).toBe(true);
    expect(r.bytes).toEqual(body);
    expect(r.sha256).toBe(sha(body));
    expect(r.name).toBe('htdemucs');
    expect(progress).toEqual([{ loadedBytes: body.length, totalBytes: body.length, fromCache: true }]);
    // Without a hash in the request, the cached entry is still used.
    const again = await fetchModel({ url: URL_A }, { cache, fetch });
    expect(again.fromCache).toBe(true);
    expect(fetch.calls).toHaveLength(1);
  });

  it('refetches when the cached entry has another SHA-256 than the manifest', async () => {
    const oldBody = modelBytes(8000, 1);
    const newBody = modelBytes(9000, 2);
    const cache = new FakeCache();
    await fetchModel({ url: URL_A, sha256: sha(oldBody) }, { cache, fetch: fakeFetch({ [URL_A]: oldBody }) });
    const fetch = fakeFetch({ [URL_A]: newBody });
    const r = await fetchModel({ url: URL_A, sha256: sha(newBody) }, { cache, fetch });
    expect(fetch.calls).toEqual([URL_A]);
    expect(r.fromCache).toBe(false);
    expect(r.bytes).toEqual(newBody);
    expect(await listCachedModels(cache)).toEqual([{ url: URL_A, bytes: newBody.length, sha256: sha(newBody) }]);
  });

  it('drops a stale cached entry even when the new download then fails verification', async () => {
    const oldBody = modelBytes(8000, 1);
    const cache = new FakeCache();
    await fetchModel({ url: URL_A, sha256: sha(oldBody) }, { cache, fetch: fakeFetch({ [URL_A]: oldBody }) });
    const wanted = modelBytes(8000, 3);
    await expectCode(fetchModel({ url: URL_A, sha256: sha(wanted) }, { cache, fetch: fakeFetch({ [URL_A]: oldBody }) }), 'CHECKSUM_MISMATCH');
    expect(cache.entries.size).toBe(0);
  });

  it('lists and clears the cache', async () => {
    const cache = new FakeCache();
    const a = modelBytes(3000, 1);
    const b = modelBytes(4000, 2);
    const URL_B = 'https://models.example/m/other.onnx';
    const fetch = fakeFetch({ [URL_A]: a, [URL_B]: b });
    await fetchModel({ url: URL_A, sha256: sha(a) }, { cache, fetch });
    await fetchModel({ url: URL_B }, { cache, fetch });
    const list = await listCachedModels(cache);
    expect(list).toEqual([
      { url: URL_A, bytes: a.length, sha256: sha(a) },
      { url: URL_B, bytes: b.length, sha256: sha(b) },
    ]);
    expect(await clearModelCache(cache)).toBe(2);
    expect(cache.entries.size).toBe(0);
    expect(await listCachedModels(cache)).toEqual([]);
    const r = await fetchModel({ url: URL_A }, { cache, fetch });
    expect(r.fromCache).toBe(false);
  });

  it('names the URL and status on HTTP errors', async () => {
    const err = await expectCode(fetchModel({ url: URL_A }, { cache: new FakeCache(), fetch: fakeFetch({}) }), 'MODEL_LOAD_FAILED');
    expect(err.message).toContain(URL_A);
    expect(err.message).toContain('HTTP 404 Not Found');
    const e500 = await expectCode(fetchModel({ url: URL_A }, { cache: null, fetch: fakeFetch({ [URL_A]: modelBytes() }, { status: 503 }) }), 'MODEL_LOAD_FAILED');
    expect(e500.message).toContain('HTTP 503');
  });

  it('reports network errors and truncated downloads with the URL', async () => {
    const failing = (async () => { throw new TypeError('fetch failed'); }) as unknown as typeof fetch;
    const err = await expectCode(fetchModel({ url: URL_A }, { cache: null, fetch: failing }), 'MODEL_LOAD_FAILED');
    expect(err.message).toContain(URL_A);
    expect(err.message).toContain('fetch failed');
    const body = modelBytes(5000);
    const short = await expectCode(fetchModel({ url: URL_A, bytes: 6000 }, { cache: null, fetch: fakeFetch({ [URL_A]: body }, { contentLength: false }) }), 'MODEL_LOAD_FAILED');
    expect(short.message).toMatch(/got 5000 bytes, expected 6000/);
    const mismatch = await expectCode(fetchModel({ url: URL_A, bytes: 6000 }, { cache: null, fetch: fakeFetch({ [URL_A]: body }) }), 'MODEL_LOAD_FAILED');
    expect(mismatch.message).toMatch(/5000 bytes but the manifest says 6000/);
  });

  it('aborts mid-download and before starting, caching nothing', async () => {
    const body = modelBytes(20_000);
    const cache = new FakeCache();
    const ctrl = new AbortController();
    const fetch = fakeFetch({ [URL_A]: body }, { chunk: 1000, beforeChunk: (i) => { if (i === 3) ctrl.abort(); } });
    const progress: number[] = [];
    const err = await expectCode(fetchModel({ url: URL_A, sha256: sha(body) }, { cache, fetch, signal: ctrl.signal, onProgress: (p) => progress.push(p.loadedBytes) }), 'ABORTED');
    expect(err.message).toContain(URL_A);
    expect(progress.at(-1)).toBeLessThan(body.length);
    expect(cache.entries.size).toBe(0);
    await expectCode(fetchModel({ url: URL_A }, { cache, fetch: fakeFetch({ [URL_A]: body }), signal: AbortSignal.abort() }), 'ABORTED');
  });

  it('abort ends a read that is waiting on a stalled connection', async () => {
    let pulls = 0;
    const stalled = (async () => new Response(new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(new Uint8Array(100));
        else return new Promise<void>(() => undefined); // never delivers again
      },
    }), { headers: { 'content-length': '1000' } })) as unknown as typeof fetch;
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 50);
    const err = await expectCode(fetchModel({ url: URL_A }, { cache: null, fetch: stalled, signal: ctrl.signal }), 'ABORTED');
    expect(err.message).toMatch(/aborted after/);
  });

  it('works without a cache (cache: null) and with the default in Node (no Cache Storage)', async () => {
    const body = modelBytes(2000);
    const fetch = fakeFetch({ [URL_A]: body });
    expect((await fetchModel({ url: URL_A }, { cache: null, fetch })).fromCache).toBe(false);
    expect((await fetchModel({ url: URL_A }, { fetch })).fromCache).toBe(false);
    expect(fetch.calls).toHaveLength(2);
    expect(await listCachedModels()).toEqual([]);
    expect(await clearModelCache()).toBe(0);
  });

  it('refuses a malformed sha256', async () => {
    await expectCode(fetchModel({ url: URL_A, sha256: 'abc' }, { cache: null, fetch: fakeFetch({}) }), 'BAD_OPTION');
  });
});

describe('model manifests', () => {
  it('resolves the model URL against the manifest URL', async () => {
    const manifest = { name: 'htdemucs (fp16 weights)', url: 'htdemucs-fp16.onnx', sha256: 'A'.repeat(64), bytes: 123, sources: ['drums', 'bass', 'other', 'vocals'], license: 'research only' };
    const fetch = fakeFetch({ 'https://site.example/app/models/default.json': new TextEncoder().encode(JSON.stringify(manifest)) });
    const m = await loadModelManifest('https://site.example/app/models/default.json', { fetch });
    expect(m.url).toBe('https://site.example/app/models/htdemucs-fp16.onnx');
    expect(m.sha256).toBe('a'.repeat(64));
    expect(m.bytes).toBe(123);
    expect(m.sources).toEqual(['drums', 'bass', 'other', 'vocals']);
    expect(m.license).toBe('research only');
    expect(m.kind).toBe('model');
    expect(parseManifest({ url: '../x.onnx' }, 'https://h.example/a/b/m.json')).toMatchObject({ kind: 'model', url: 'https://h.example/a/x.onnx' });
    expect(parseManifest({ url: 'x.onnx' }, 'models/default.json')).toMatchObject({ url: 'models/x.onnx', name: 'x.onnx' });
    // Fields the format does not define are kept as they were.
    expect(parseManifest({ url: 'x.onnx', quantized: false }, 'm.json').extra).toEqual({ quantized: false });
  });

  it('loads a set manifest from the web with every member URL absolute; loadModelManifest wants one model', async () => {
    const url = 'https://site.example/app/models/ft.json';
    const set = { name: 'ft', sources: ['drums', 'bass', 'other', 'vocals'], models: [{ url: 'ft-drums.onnx', sha256: 'B'.repeat(64), bytes: 5, weights: [1, 0, 0, 0] }, { file: 'https://cdn.example/ft-bass.onnx', weights: [0, 1, 1, 1] }] };
    const fetch = fakeFetch({ [url]: new TextEncoder().encode(JSON.stringify(set)) });
    const m = await loadManifest(url, { fetch });
    expect(m).toMatchObject({ kind: 'set', name: 'ft', where: url });
    expect(m.kind === 'set' && m.members).toEqual([
      { url: 'https://site.example/app/models/ft-drums.onnx', sha256: 'b'.repeat(64), bytes: 5, weights: [1, 0, 0, 0] },
      { url: 'https://cdn.example/ft-bass.onnx', sha256: undefined, bytes: undefined, weights: [0, 1, 1, 1] },
    ]);
    const err = await expectCode(loadModelManifest(url, { fetch }), 'BAD_MODEL');
    expect(err.message).toMatch(/describes a set of 2 models, not one model; load it with loadManifest\(\)/);
  });

  it('names the manifest in errors', async () => {
    const url = 'https://site.example/models/default.json';
    const e404 = await expectCode(loadModelManifest(url, { fetch: fakeFetch({}) }), 'MODEL_LOAD_FAILED');
    expect(e404.message).toContain(url);
    expect(e404.message).toContain('404');
    // A manifest that is there but refused is BAD_MODEL (the one parser's code), not a load failure.
    const notJson = await expectCode(loadModelManifest(url, { fetch: fakeFetch({ [url]: new TextEncoder().encode('<html>') }) }), 'BAD_MODEL');
    expect(notJson.message).toContain(url);
    expect(notJson.message).toContain('not valid JSON');
    expect(() => parseManifest({ name: 'x' }, url)).toThrow(/no "url"/);
    expect(() => parseManifest({ url: 'a', sha256: 'zz' }, url)).toThrow(/64 hex/);
    expect(() => parseManifest({ url: 'a.onnx', models: [{ url: 'b.onnx' }] }, url)).toThrow(/both "url" \(one model\) and "models" \(a set\)/);
    expect(() => parseManifest({ url: 'a.onnx', file: 'b.onnx' }, url)).toThrow(/"url" and "file" name different models/);
  });
});

describe('one manifest format for the CLI (paths) and the web (URLs)', () => {
  const set = {
    name: 'htdemucs_ft', sources: ['drums', 'bass', 'other', 'vocals'], license: 'research only',
    models: [
      { url: 'ft-drums.onnx', sha256: 'C'.repeat(64), bytes: 7, weights: [1, 0, 0, 0] },
      { file: '../common/ft-rest.onnx', weights: [0, 1, 1, 1] },
      { url: 'https://cdn.example/abs.onnx' },
    ],
  };
  const text = JSON.stringify(set);

  it('the same JSON gives the same manifest, with refs resolved as paths or as URLs', () => {
    const cli = parseManifest(text, '/srv/models/ft.json');
    const web = parseManifest(text, 'https://site.example/models/ft.json');
    const urls = (m: ReturnType<typeof parseManifest>) => (m.kind === 'set' ? m.members.map((e) => e.url) : [m.url]);
    expect(urls(cli)).toEqual(['/srv/models/ft-drums.onnx', '/srv/models/../common/ft-rest.onnx', 'https://cdn.example/abs.onnx']);
    expect(urls(web)).toEqual(['https://site.example/models/ft-drums.onnx', 'https://site.example/common/ft-rest.onnx', 'https://cdn.example/abs.onnx']);
    // Everything but where the files are is identical.
    const strip = (m: ReturnType<typeof parseManifest>) => JSON.parse(JSON.stringify({ ...m, where: '', members: m.kind === 'set' ? m.members.map((e) => ({ ...e, url: '' })) : [] }));
    expect(strip(cli)).toEqual(strip(web));
    expect(cli).toMatchObject({ kind: 'set', name: 'htdemucs_ft', license: 'research only' });
    // Text and parsed JSON are the same input; a Windows path resolves next to the manifest too.
    expect(parseManifest(set, '/srv/models/ft.json')).toEqual(cli);
    expect(urls(parseManifest(text, 'C:\\models\\ft.json'))[0]).toBe('C:\\models\\ft-drums.onnx');
    // file: URLs (a CLI given a URL) resolve as the browser would.
    expect(urls(parseManifest(text, 'file:///srv/models/ft.json'))[1]).toBe('file:///srv/common/ft-rest.onnx');
  });

  it('every manifest shape the project writes still parses: the demo\'s default.json, the test sites\' model and set manifests', async () => {
    const { readFileSync, existsSync } = await import('node:fs');
    const defaultJson = new URL('../demo/public/models/default.json', import.meta.url);
    // As scripts/prepare-demo-model.mjs writes it (the file exists once `npm run demo:model` ran).
    const written = existsSync(defaultJson) ? readFileSync(defaultJson, 'utf8') : JSON.stringify({
      name: 'htdemucs (fp16 weights)', url: 'htdemucs-fp16.onnx', sha256: 'd'.repeat(64), bytes: 90561768, layout: 'canonical',
      sources: ['drums', 'bass', 'other', 'vocals'], sampleRate: 44100, segmentSamples: 343980, convertedFrom: 'x', license: 'y',
    });
    for (const where of ['demo/public/models/default.json', 'http://127.0.0.1:4173/models/default.json']) {
      const m = parseManifest(written, where);
      expect(m.kind).toBe('model');
      expect(m).toMatchObject({ layout: 'canonical', sampleRate: 44100, segmentSamples: 343980, sources: ['drums', 'bass', 'other', 'vocals'], extra: {} });
      expect(m.license).toEqual(expect.any(String));
      expect(m.convertedFrom).toEqual(expect.any(String));
    }
    // test/fixtures/demo-site.ts writeModelWithManifest, and browser-demo's pair.json (the older "file" spelling).
    expect(parseManifest({ name: 'tiny', url: 'tiny.onnx', sha256: 'a'.repeat(64), bytes: 10 }, 'http://h/test-models/tiny.json')).toMatchObject({ kind: 'model', url: 'http://h/test-models/tiny.onnx', bytes: 10 });
    expect(parseManifest({ name: 'pair', models: [{ file: 'distinct.onnx', weights: [1, 0, 1, 1] }, { file: 'second.onnx', weights: [1, 1, 0, 1] }] }, 'http://h/test-models/pair.json')).toMatchObject({
      kind: 'set', name: 'pair', members: [{ url: 'http://h/test-models/distinct.onnx' }, { url: 'http://h/test-models/second.onnx' }],
    });
  });
});
