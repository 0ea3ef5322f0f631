/**
 * Downloads a model with progress, checks its SHA-256, and keeps it in Cache
 * Storage so that the next visit loads it from disk.
 *
 *   const manifest = await loadModelManifest('models/default.json');
 *   const { bytes, fromCache } = await fetchModel(manifest, { onProgress });
 *
 * Manifests are the one format of src/model/manifest.ts (the CLI's too);
 * loadManifest fetches one of either kind (a model, or a set).
 *
 * Cache entries are keyed by the model's absolute URL and carry the verified
 * SHA-256 in a header (`x-stemstream-sha256`): when the manifest names another
 * hash (the model was replaced), the cached entry is dropped and refetched.
 * A download whose hash does not match is never cached.
 *
 * Memory: the body is read into one buffer, preallocated when the size is
 * known (manifest `bytes` or Content-Length). Storing it in the cache hands the
 * browser that buffer as a Response body, which the browser may copy while it
 * writes the entry to disk.
 */
import { StemstreamError } from '../errors.js';
import { fileNameOf, parseManifest, type Manifest, type ModelManifest } from '../model/manifest.js';

/** The subset of the Cache API (`caches.open(...)`) this module uses; tests pass a fake. */
export interface CacheLike {
  match(request: string): Promise<Response | undefined>;
  put(request: string, response: Response): Promise<void>;
  delete(request: string): Promise<boolean>;
  keys(): Promise<ReadonlyArray<{ readonly url: string }>>;
}

export const MODEL_CACHE_NAME = 'stemstream-models-v1';

/** Header holding the SHA-256 (lowercase hex) of a cached model. */
export const SHA256_HEADER = 'x-stemstream-sha256';
const BYTES_HEADER = 'x-stemstream-bytes';
const NAME_HEADER = 'x-stemstream-name';

export interface ModelDownloadSource {
  url: string;
  /** Lowercase or uppercase hex; when given, the download is verified and a cached entry must match it. */
  sha256?: string;
  /** Expected size; used for progress when the server sends no Content-Length, and checked. */
  bytes?: number;
  /** Display name (default: the URL's file name). */
  name?: string;
}

export interface ModelDownloadProgress {
  loadedBytes: number;
  /** Undefined when neither the manifest nor the server says. */
  totalBytes?: number;
  fromCache: boolean;
}

export interface FetchModelOptions {
  /**
   * Where to keep the model. Default: `caches.open('stemstream-models-v1')`
   * where Cache Storage exists (secure contexts), else no caching. `null`: no caching.
   */
  cache?: CacheLike | null;
  fetch?: typeof fetch;
  onProgress?: (p: ModelDownloadProgress) => void;
  signal?: AbortSignal;
}

export interface FetchedModel {
  bytes: Uint8Array;
  fromCache: boolean;
  /** Lowercase hex; '' only when no hash was expected and crypto.subtle is unavailable (insecure context). */
  sha256: string;
  name: string;
}

export interface CachedModel {
  url: string;
  /** Undefined when the entry does not say. */
  bytes?: number;
  /** '' when the entry does not say. */
  sha256: string;
}

// ---------------------------------------------------------------------------

interface CacheStorageLike {
  open(name: string): Promise<CacheLike>;
}

/** The default cache, or null where Cache Storage is missing or refuses (insecure context, some private modes). */
async function defaultCache(): Promise<CacheLike | null> {
  const storage = (globalThis as { caches?: CacheStorageLike }).caches;
  if (!storage) return null;
  try {
    return await storage.open(MODEL_CACHE_NAME);
  } catch {
    return null;
  }
}

async function resolveCache(cache: CacheLike | null | undefined): Promise<CacheLike | null> {
  return cache === undefined ? defaultCache() : cache;
}

/** `url` made absolute against the page (when there is one), so cache keys do not depend on how it was written. */
function absoluteUrl(url: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return base ? new URL(url, base).href : new URL(url).href;
  } catch {
    return url;
  }
}

function normalizeSha(sha: string | undefined, url: string): string | undefined {
  if (sha === undefined) return undefined;
  const s = sha.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(s)) {
    throw new StemstreamError('BAD_OPTION', `the SHA-256 given for ${url} is not 64 hex digits: "${sha}"; fix the model manifest`);
  }
  return s;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

function aborted(url: string, loaded?: number, total?: number): StemstreamError {
  const where = loaded === undefined ? '' : ` after ${mb(loaded)}${total ? ` of ${mb(total)}` : ''}`;
  return new StemstreamError('ABORTED', `the download of ${url} was aborted${where}`);
}

function downloadFailed(url: string, what: string, cause?: unknown): StemstreamError {
  return new StemstreamError('MODEL_LOAD_FAILED', `could not download the model from ${url}: ${what}`, cause === undefined ? undefined : { cause });
}

/** SHA-256 as lowercase hex, or undefined where crypto.subtle is missing. */
export async function sha256Hex(bytes: Uint8Array): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

function declaredLength(res: Response): number | undefined {
  // With a Content-Encoding, Content-Length counts the encoded bytes, not what the reader yields.
  const encoding = res.headers.get('content-encoding');
  if (encoding && encoding.toLowerCase() !== 'identity') return undefined;
  const n = Number(res.headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Reads a body into one buffer. `expected` (manifest size or Content-Length)
 * preallocates; without it, chunks are collected and joined once.
 */
async function readBody(
  res: Response,
  url: string,
  expected: number | undefined,
  signal: AbortSignal | undefined,
  onChunk: (loaded: number) => void,
): Promise<Uint8Array> {
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onChunk(bytes.length);
    return bytes;
  }
  let buffer: Uint8Array | undefined;
  try {
    buffer = expected !== undefined ? new Uint8Array(expected) : undefined;
  } catch (err) {
    await res.body.cancel().catch(() => undefined);
    throw downloadFailed(url, `could not allocate ${mb(expected!)} of memory (${(err as Error).message})`, err);
  }
  const reader = res.body.getReader();
  // Cancelling the reader ends a read that is waiting on the network.
  const onAbort = () => { reader.cancel().catch(() => undefined); };
  signal?.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  try {
    for (;;) {
      if (signal?.aborted) throw aborted(url, loaded, expected);
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (err) {
        if (signal?.aborted) throw aborted(url, loaded, expected);
        throw downloadFailed(url, `the connection failed after ${mb(loaded)}${expected ? ` of ${mb(expected)}` : ''} (${(err as Error).message}); check the network and try again`, err);
      }
      if (r.done) break;
      const chunk = r.value;
      if (buffer) {
        if (loaded + chunk.length > buffer.length) {
          // Larger than announced: keep what we have and continue without preallocation.
          chunks.push(buffer.subarray(0, loaded));
          buffer = undefined;
          chunks.push(chunk);
        } else {
          buffer.set(chunk, loaded);
        }
      } else {
        chunks.push(chunk);
      }
      loaded += chunk.length;
      onChunk(loaded);
    }
    if (signal?.aborted) throw aborted(url, loaded, expected);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
  if (buffer) return loaded === buffer.length ? buffer : buffer.subarray(0, loaded);
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  return bytes;
}

function decodeHeader(value: string | null): string | undefined {
  if (!value) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

async function tryDelete(cache: CacheLike, key: string): Promise<void> {
  try {
    await cache.delete(key);
  } catch { /* a cache that cannot delete cannot serve the entry either */ }
}

async function fromCache(
  cache: CacheLike,
  key: string,
  source: ModelDownloadSource,
  expectedSha: string | undefined,
  options: FetchModelOptions,
): Promise<FetchedModel | undefined> {
  let res: Response | undefined;
  try {
    res = await cache.match(key);
  } catch {
    return undefined;
  }
  if (!res) return undefined;
  const cachedSha = (res.headers.get(SHA256_HEADER) ?? '').toLowerCase();
  const cachedBytes = Number(res.headers.get(BYTES_HEADER) ?? NaN);
  const stale = (expectedSha !== undefined && cachedSha !== expectedSha)
    || (source.bytes !== undefined && Number.isFinite(cachedBytes) && cachedBytes !== source.bytes);
  if (stale) {
    await res.body?.cancel().catch(() => undefined);
    await tryDelete(cache, key);
    return undefined;
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBody(res, key, Number.isSafeInteger(cachedBytes) ? cachedBytes : undefined, options.signal, () => undefined);
  } catch (err) {
    if (err instanceof StemstreamError && err.code === 'ABORTED') throw err;
    await tryDelete(cache, key);
    return undefined;
  }
  if ((source.bytes !== undefined && bytes.length !== source.bytes) || (Number.isFinite(cachedBytes) && bytes.length !== cachedBytes)) {
    await tryDelete(cache, key); // a truncated entry
    return undefined;
  }
  options.onProgress?.({ loadedBytes: bytes.length, totalBytes: bytes.length, fromCache: true });
  const sha256 = cachedSha || (await sha256Hex(bytes)) || '';
  return { bytes, fromCache: true, sha256, name: source.name ?? decodeHeader(res.headers.get(NAME_HEADER)) ?? fileNameOf(key) };
}

/**
 * Returns the model's bytes, from the cache when a matching entry is there,
 * else downloaded (with progress), verified against `source.sha256`, and cached.
 */
export async function fetchModel(source: ModelDownloadSource, options: FetchModelOptions = {}): Promise<FetchedModel> {
  if (!source || typeof source.url !== 'string' || source.url.length === 0) {
    throw new StemstreamError('BAD_OPTION', 'fetchModel needs a model URL ({ url: "..." })');
  }
  const url = absoluteUrl(source.url);
  const expectedSha = normalizeSha(source.sha256, url);
  if (source.bytes !== undefined && !(Number.isSafeInteger(source.bytes) && source.bytes >= 0)) {
    throw new StemstreamError('BAD_OPTION', `the size given for ${url} must be a whole number of bytes, got ${source.bytes}`);
  }
  const name = source.name ?? fileNameOf(url);
  const { signal } = options;
  if (signal?.aborted) throw aborted(url);

  const cache = await resolveCache(options.cache);
  if (cache) {
    const hit = await fromCache(cache, url, source, expectedSha, options);
    if (hit) return hit;
  }

  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new StemstreamError('NO_RUNTIME', `cannot download ${url}: this environment has no fetch()`);
  let res: Response;
  try {
    res = await fetchImpl(url, { signal });
  } catch (err) {
    if (signal?.aborted) throw aborted(url);
    throw downloadFailed(url, `${(err as Error).message || String(err)} (network error: check the connection, the URL, and that the server allows this origin)`, err);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    const hint = res.status === 404 ? ' (no file at that URL: check the manifest\'s "url" and that the model was deployed)' : '';
    throw downloadFailed(url, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${hint}`);
  }

  const headerLength = declaredLength(res);
  if (source.bytes !== undefined && headerLength !== undefined && headerLength !== source.bytes) {
    await res.body?.cancel().catch(() => undefined);
    throw downloadFailed(url, `the server sends ${headerLength} bytes but the manifest says ${source.bytes}; the manifest or the file on the server is out of date — regenerate the manifest for this file`);
  }
  const total = source.bytes ?? headerLength;
  options.onProgress?.({ loadedBytes: 0, totalBytes: total, fromCache: false });
  const bytes = await readBody(res, url, total, signal, (loaded) => options.onProgress?.({ loadedBytes: loaded, totalBytes: total, fromCache: false }));
  if (total !== undefined && bytes.length !== total) {
    throw downloadFailed(url, `got ${bytes.length} bytes, expected ${total}; the download was cut short — try again`);
  }

  const sha256 = await sha256Hex(bytes);
  if (expectedSha !== undefined) {
    if (sha256 === undefined) {
      throw new StemstreamError('NO_RUNTIME', `cannot verify ${url}: crypto.subtle is unavailable (the page is not a secure context); serve the page over HTTPS or from localhost`);
    }
    if (sha256 !== expectedSha) {
      if (cache) await tryDelete(cache, url);
      throw new StemstreamError(
        'CHECKSUM_MISMATCH',
        `the model downloaded from ${url} (${bytes.length} bytes) has SHA-256 ${sha256}, but its manifest expects ${expectedSha}; ` +
          'it was not cached. The download was corrupted, or the file on the server was replaced without updating the manifest: ' +
          'reload to retry, and if it persists make the model and its manifest again (`npx stemstream model web -o <folder> --force`) or fix the file on the server',
      );
    }
  }

  if (cache) {
    const headers = new Headers({
      'content-type': res.headers.get('content-type') || 'application/octet-stream',
      'content-length': String(bytes.length),
      [BYTES_HEADER]: String(bytes.length),
      [NAME_HEADER]: encodeURIComponent(name),
    });
    if (sha256) headers.set(SHA256_HEADER, sha256);
    try {
      await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers }));
    } catch {
      // Quota exceeded or storage disabled: the model still loads, it is only not kept.
    }
  }
  return { bytes, fromCache: false, sha256: sha256 ?? '', name };
}

/** Deletes every cached model; returns how many entries were removed. */
export async function clearModelCache(cache?: CacheLike | null): Promise<number> {
  const c = await resolveCache(cache);
  if (!c) return 0;
  let removed = 0;
  for (const req of await c.keys()) if (await c.delete(req.url)) removed++;
  return removed;
}

/** What the model cache holds. */
export async function listCachedModels(cache?: CacheLike | null): Promise<CachedModel[]> {
  const c = await resolveCache(cache);
  if (!c) return [];
  const out: CachedModel[] = [];
  for (const req of await c.keys()) {
    const res = await c.match(req.url);
    if (!res) continue;
    const n = Number(res.headers.get(BYTES_HEADER) ?? res.headers.get('content-length') ?? NaN);
    out.push({ url: req.url, bytes: Number.isSafeInteger(n) ? n : undefined, sha256: (res.headers.get(SHA256_HEADER) ?? '').toLowerCase() });
    await res.body?.cancel().catch(() => undefined);
  }
  return out;
}

/**
 * Fetches and checks a manifest of either kind (src/model/manifest.ts): a
 * model's or a set's; every `url` in it comes back absolute (relative to the
 * manifest). The manifest is revalidated with the server (it is small; the
 * models are what get cached). Network and HTTP failures are
 * 'MODEL_LOAD_FAILED', a manifest refused by the parser 'BAD_MODEL'; both name the URL.
 */
export async function loadManifest(url: string, options: { fetch?: typeof fetch; signal?: AbortSignal } = {}): Promise<Manifest> {
  const abs = absoluteUrl(url);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await fetchImpl(abs, { signal: options.signal, cache: 'no-cache' });
  } catch (err) {
    if (options.signal?.aborted) throw new StemstreamError('ABORTED', `loading the model manifest ${abs} was aborted`);
    throw new StemstreamError('MODEL_LOAD_FAILED', `could not load the model manifest ${abs}: ${(err as Error).message} (network error)`, { cause: err });
  }
  if (!res.ok) {
    throw new StemstreamError('MODEL_LOAD_FAILED', `could not load the model manifest ${abs}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` +
      (res.status === 404 ? ' (check the path; `npx stemstream model web -o <folder>` makes the model and its manifest default.json)' : ''));
  }
  return parseManifest(await res.text(), abs);
}

/**
 * Fetches a single model's manifest `{ name, url, sha256, bytes, ... }`
 * (as scripts/prepare-demo-model.mjs writes it) for fetchModel; a set's
 * manifest is refused (use loadManifest for either kind).
 */
export async function loadModelManifest(url: string, options: { fetch?: typeof fetch; signal?: AbortSignal } = {}): Promise<ModelManifest> {
  const m = await loadManifest(url, options);
  if (m.kind !== 'model') {
    throw new StemstreamError('BAD_MODEL', `model manifest ${m.where} describes a set of ${m.members.length} models, not one model; load it with loadManifest() and fetch each of its members`);
  }
  return m;
}
