/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * The stem cache: separations kept in the Origin Private File System, so that a
 * track separated once plays separated at once when opened again and exports
 * without running the model (docs/ARCHITECTURE.md §8, "Stem cache").
 *
 *   const cache = await StemCache.open({ maxBytes: 2 ** 30 });
 *   const key = await stemCacheKey({ audio, sampleRate, modelSha256, options: { normalize, overlap } });
 *   if (!(await cache.get(key, stemsView))) { …separate…; await cache.put(key, stemsView, { rows, frames, sampleRate }); }
 *
 * Layout, in one OPFS directory (`stemstream-stems`):
 *   index.json        { version, entries: { <key>: { bytes, lastUsed, meta } } }
 *   <key>.stems       a 64-byte header (magic, version, rows, frames, the key's
 *                     32 bytes), then the stems as float32, rows one after another
 *                     (the track state's layout: row s·C + c, `frames` samples each)
 *
 * An entry exists only once the index lists it: the file is written first (OPFS'
 * createWritable() commits on close, so a torn write never replaces a file),
 * the index after. Files the index does not list (a tab closed mid-write) are
 * removed when the cache opens. A file whose size or header does not match is a
 * miss and is removed. Least recently used entries (put and get both touch) are
 * evicted to keep the total under `maxBytes`; a QuotaExceededError evicts and
 * retries once. Nothing here throws into playback: `put` answers with a result.
 *
 * The store takes its directory as a small interface (CacheRoot), so a Node
 * test can hand it an in-memory one; the default is navigator.storage.getDirectory(),
 * whose async API (createWritable) works on the main thread.
 *
 * Memory: stems move in 4 MiB slices (a 5-minute song's stems are ~400 MB; they
 * are never copied whole). The key hashes the audio in 4 MiB slices too.
 */
import { StemstreamError } from '../../errors.js';

export const STEM_CACHE_DIR = 'stemstream-stems';
export const STEM_CACHE_DEFAULT_MAX_BYTES = 2 * 1024 ** 3;
/** Bumped when the file layout or the key's recipe changes: old entries then never match. */
export const STEM_CACHE_FORMAT = 1;

const INDEX_NAME = 'index.json';
const ENTRY_SUFFIX = '.stems';
const HEADER_BYTES = 64;
const MAGIC = [0x53, 0x54, 0x45, 0x4d, 0x53, 0x54, 0x52, 0x4d]; // "STEMSTRM"
const CHUNK_BYTES = 4 << 20;

// ---- what the store needs of OPFS (FileSystemDirectoryHandle and friends) ----

export interface CacheWritable {
  write(data: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}

export interface CacheFileHandle {
  getFile(): Promise<Blob>;
  createWritable(): Promise<CacheWritable>;
}

export interface CacheDirectory {
  getFileHandle(name: string, options?: { create?: boolean }): Promise<CacheFileHandle>;
  removeEntry(name: string): Promise<void>;
  keys(): AsyncIterable<string>;
}

export interface CacheRoot {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<CacheDirectory>;
}

/** navigator.storage's persistence calls (both optional: not every browser has them). */
export interface PersistentStorage {
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

export interface StemCacheOptions {
  /** Total size the entries may take, bytes (default 2 GiB). Least recently used entries go first. */
  maxBytes?: number;
  /** The directory under the root (default 'stemstream-stems'). */
  dirName?: string;
  /** The OPFS root (default navigator.storage.getDirectory()). */
  root?: () => Promise<CacheRoot>;
  /** Where to ask for persistent storage (default navigator.storage); null: do not ask. */
  storage?: PersistentStorage | null;
  /** Clock for the least-recently-used order (default Date.now). */
  now?: () => number;
}

/** What an entry describes; rows × frames float32 samples follow its header. */
export interface StemCacheMeta {
  rows: number;
  frames: number;
  sampleRate?: number;
  sources?: readonly string[];
  /** Anything shown next to the entry (a file name). */
  label?: string;
}

export type StemCachePutResult =
  | { stored: true; key: string; bytes: number; evicted: string[] }
  | {
    stored: false;
    key: string;
    /** too-large: over maxBytes by itself; quota: the browser's storage is full even after evicting; io: anything else. */
    reason: 'too-large' | 'quota' | 'io';
    message: string;
    evicted: string[];
  };

export interface StemCacheUsage {
  entries: number;
  bytes: number;
  maxBytes: number;
  /** Whether the browser granted persistent storage (undefined: not asked, or no answer yet). */
  persisted: boolean | undefined;
}

interface IndexEntry {
  bytes: number;
  lastUsed: number;
  meta: StemCacheMeta;
}

interface IndexFile {
  version: number;
  entries: Record<string, IndexEntry>;
}

const KEY_RE = /^[0-9a-f]{64}$/;

function storageOf(): (PersistentStorage & { getDirectory?: () => Promise<unknown> }) | undefined {
  return (globalThis.navigator as { storage?: PersistentStorage & { getDirectory?: () => Promise<unknown> } } | undefined)?.storage;
}

/**
 * Whether this browser has the Origin Private File System with the writable
 * streams the store writes through (navigator.storage.getDirectory and
 * FileSystemFileHandle.createWritable; Safari has long had the first only,
 * writing OPFS files from workers alone).
 */
export function hasOriginPrivateFileSystem(): boolean {
  const handle = (globalThis as { FileSystemFileHandle?: { prototype?: { createWritable?: unknown } } }).FileSystemFileHandle;
  return typeof storageOf()?.getDirectory === 'function' && typeof handle?.prototype?.createWritable === 'function';
}

function defaultRoot(): Promise<CacheRoot> {
  const storage = storageOf();
  if (typeof storage?.getDirectory !== 'function') {
    return Promise.reject(new StemstreamError('NO_RUNTIME', 'this browser has no Origin Private File System (navigator.storage.getDirectory), so separations cannot be cached; pass cache: false to the engine to stop trying'));
  }
  return storage.getDirectory() as Promise<CacheRoot>;
}

function isQuotaError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'QuotaExceededError';
}

function message(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new StemstreamError('NO_RUNTIME', 'crypto.subtle is unavailable (the page is not a secure context), so cache keys cannot be computed; serve the page over HTTPS or from localhost');
  return s;
}

/**
 * A non-shared copy only where needed: WebCrypto and OPFS writes refuse views
 * of a SharedArrayBuffer (the track's memory), so those slices are copied.
 */
function unshared(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}

function byteView(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * `bytes` in CHUNK_BYTES slices that WebCrypto and OPFS writes accept: views
 * of `bytes` itself when it is not shared; else copies into one reused scratch
 * buffer, so each slice is only valid until the next is taken (every consumer
 * here awaits its use of a slice first). In Chromium, copying a shared 53 MB
 * channel this way takes ~20 ms, against ~190 ms as slice() (a fresh
 * allocation per slice): hashing a 5-minute stereo track drops from ~770 to
 * ~400 ms, and writing its 423 MB of stems saves ~1.5 s of copying.
 */
function* slices(bytes: Uint8Array): Generator<Uint8Array<ArrayBuffer>> {
  const shared = !(bytes.buffer instanceof ArrayBuffer);
  const scratch = shared ? new Uint8Array(Math.min(CHUNK_BYTES, bytes.length)) : undefined;
  for (let o = 0; o < bytes.length; o += CHUNK_BYTES) {
    const part = bytes.subarray(o, Math.min(bytes.length, o + CHUNK_BYTES));
    if (!scratch) {
      yield part as Uint8Array<ArrayBuffer>;
      continue;
    }
    scratch.set(part);
    yield part.length === scratch.length ? scratch : scratch.subarray(0, part.length);
  }
}

/**
 * Copies `blob` (exactly dst.length bytes) into `dst` (which may be shared
 * memory); throws on a short or long read. Through a BYOB reader with one
 * reused 4 MiB buffer where the blob's stream is a byte stream (Chromium,
 * Firefox, Node): in Chromium 423 MB (a 5-minute song's stems) read this way
 * take ~0.6 s, against 2.6–5 s as 4 MiB blob slices, each an arrayBuffer()
 * round trip and a fresh allocation. Otherwise slice by slice.
 */
async function readPayload(blob: Blob, dst: Uint8Array): Promise<void> {
  const total = dst.length;
  let reader: ReadableStreamBYOBReader | undefined;
  try {
    reader = blob.stream().getReader({ mode: 'byob' });
  } catch {
    reader = undefined; // not a byte stream here
  }
  if (reader) {
    let at = 0;
    let buffer = new ArrayBuffer(Math.min(CHUNK_BYTES, Math.max(1, total)));
    try {
      for (;;) {
        const { done, value } = await reader.read(new Uint8Array(buffer));
        if (done || !value) break;
        if (at + value.length > total) throw new Error(`long read: more than ${total} bytes`);
        dst.set(value, at);
        at += value.length;
        buffer = value.buffer; // the same memory, handed back by the stream
      }
    } catch (err) {
      await reader.cancel(err).catch(() => undefined);
      throw err;
    } finally {
      reader.releaseLock();
    }
    if (at !== total) throw new Error(`short read: ${at} of ${total} bytes`);
    return;
  }
  for (let o = 0; o < total; o += CHUNK_BYTES) {
    const end = Math.min(total, o + CHUNK_BYTES);
    const chunk = new Uint8Array(await blob.slice(o, end).arrayBuffer());
    if (chunk.length !== end - o) throw new Error(`short read at ${o} of ${total} bytes`);
    dst.set(chunk, o);
  }
}

/**
 * SHA-256 (hex) of audio channels, hashed in 4 MiB slices (the digest of the
 * slices' digests, with the channel count and length in front): a 100 MB song
 * is never copied whole, and a shared (SAB) track can be hashed too.
 */
export async function audioDigest(channels: ArrayLike<Float32Array>): Promise<string> {
  const s = subtle();
  const C = channels.length;
  const frames = C > 0 ? channels[0].length : 0;
  const parts: Uint8Array[] = [new TextEncoder().encode(`stemstream-audio ${STEM_CACHE_FORMAT} ${C} ${frames}\n`)];
  for (let c = 0; c < C; c++) {
    if (channels[c].length !== frames) throw new StemstreamError('BAD_OPTION', `audio channel ${c} has ${channels[c].length} frames, channel 0 has ${frames}: give channels of one length`);
    for (const slice of slices(byteView(channels[c]))) parts.push(new Uint8Array(await s.digest('SHA-256', slice)));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return hex(await s.digest('SHA-256', all));
}

export type StemCacheKeyOptions = Record<string, number | boolean | string>;

export interface StemCacheKeyInput {
  /** The audio that is separated (the fitted channels), or its audioDigest() when already computed. */
  audio: ArrayLike<Float32Array> | { digest: string };
  sampleRate: number;
  /** The model's SHA-256 (hex); for a model set, a hash over the members' hashes and weights. */
  modelSha256: string;
  /** Everything else that changes the stems (normalize, overlap, …). */
  options: StemCacheKeyOptions;
}

/** The cache key: hex SHA-256 of the audio's digest, the model's hash and the options (sorted by name). */
export async function stemCacheKey(input: StemCacheKeyInput): Promise<string> {
  const model = input.modelSha256.toLowerCase();
  if (!KEY_RE.test(model)) throw new StemstreamError('BAD_OPTION', `modelSha256 must be 64 hex digits, got ${JSON.stringify(input.modelSha256)}`);
  if (!(Number.isInteger(input.sampleRate) && input.sampleRate > 0)) throw new StemstreamError('BAD_OPTION', `sampleRate must be a positive integer, got ${input.sampleRate}`);
  const options: [string, number | boolean | string][] = [];
  for (const name of Object.keys(input.options).sort()) {
    const v = input.options[name];
    if (typeof v === 'number' && !Number.isFinite(v)) throw new StemstreamError('BAD_OPTION', `cache key option ${name} must be finite, got ${v}`);
    if (!['number', 'boolean', 'string'].includes(typeof v)) throw new StemstreamError('BAD_OPTION', `cache key option ${name} must be a number, boolean or string, got ${typeof v}`);
    options.push([name, v]);
  }
  const audio = 'digest' in input.audio ? input.audio.digest : await audioDigest(input.audio);
  if (!KEY_RE.test(audio)) throw new StemstreamError('BAD_OPTION', `an audio digest must be 64 lowercase hex digits, got ${JSON.stringify(audio)}`);
  const text = JSON.stringify({ format: STEM_CACHE_FORMAT, audio, sampleRate: input.sampleRate, model, options });
  return hex(await subtle().digest('SHA-256', new TextEncoder().encode(text)));
}

/** The model's identity for the key: SHA-256 of its bytes, or of a set's members' hashes and weights. */
export async function modelIdentity(model: Uint8Array | { members: { model: Uint8Array; weights?: readonly number[] }[] }): Promise<string> {
  const s = subtle();
  if (model instanceof Uint8Array) return hex(await s.digest('SHA-256', unshared(model)));
  const members: { sha256: string; weights: readonly number[] | null }[] = [];
  for (const m of model.members) members.push({ sha256: hex(await s.digest('SHA-256', unshared(m.model))), weights: m.weights ?? null });
  return hex(await s.digest('SHA-256', new TextEncoder().encode(JSON.stringify({ set: members }))));
}

function entryName(key: string): string {
  return `${key}${ENTRY_SUFFIX}`;
}

function header(key: string, rows: number, frames: number): Uint8Array<ArrayBuffer> {
  const h = new Uint8Array(HEADER_BYTES);
  const v = new DataView(h.buffer);
  h.set(MAGIC, 0);
  v.setUint32(8, STEM_CACHE_FORMAT, true);
  v.setUint32(12, rows, true);
  v.setUint32(16, frames, true);
  for (let i = 0; i < 32; i++) h[24 + i] = parseInt(key.slice(2 * i, 2 * i + 2), 16);
  return h;
}

/** rows and frames from a header, or undefined when it is not one of ours for `key`. */
function readHeader(h: Uint8Array, key: string): { rows: number; frames: number } | undefined {
  if (h.length !== HEADER_BYTES) return undefined;
  for (let i = 0; i < MAGIC.length; i++) if (h[i] !== MAGIC[i]) return undefined;
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  if (v.getUint32(8, true) !== STEM_CACHE_FORMAT) return undefined;
  for (let i = 0; i < 32; i++) if (h[24 + i] !== parseInt(key.slice(2 * i, 2 * i + 2), 16)) return undefined;
  return { rows: v.getUint32(12, true), frames: v.getUint32(16, true) };
}

function validIndexEntry(e: unknown): e is IndexEntry {
  const x = e as IndexEntry | null;
  return typeof x === 'object' && x !== null && Number.isSafeInteger(x.bytes) && x.bytes > HEADER_BYTES && Number.isFinite(x.lastUsed)
    && typeof x.meta === 'object' && x.meta !== null && Number.isSafeInteger(x.meta.rows) && Number.isSafeInteger(x.meta.frames);
}

export class StemCache {
  readonly maxBytes: number;
  private readonly dir: CacheDirectory;
  private readonly now: () => number;
  private index: IndexFile = { version: STEM_CACHE_FORMAT, entries: {} };
  private queue: Promise<unknown> = Promise.resolve();
  private lastStamp = 0;
  private persistedAnswer: boolean | undefined;
  /** The persistence request made at open (resolves with the answer, or undefined). */
  readonly persistRequest: Promise<boolean | undefined>;

  private constructor(dir: CacheDirectory, maxBytes: number, now: () => number, storage: PersistentStorage | null | undefined) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.now = now;
    // Asked once, not awaited: a browser may take its time (or prompt) and the cache works either way;
    // without it the browser may evict the whole origin's storage under pressure.
    this.persistRequest = typeof storage?.persist === 'function'
      ? storage.persist().then((granted) => (this.persistedAnswer = granted === true), () => undefined)
      : Promise.resolve(undefined);
  }

  /** Opens (creating) the cache directory, reads its index and removes what the index does not list. */
  static async open(options: StemCacheOptions = {}): Promise<StemCache> {
    const maxBytes = options.maxBytes ?? STEM_CACHE_DEFAULT_MAX_BYTES;
    if (!(Number.isFinite(maxBytes) && maxBytes > 0)) throw new StemstreamError('BAD_OPTION', `the stem cache's maxBytes must be a positive number of bytes, got ${maxBytes}`);
    const dirName = options.dirName ?? STEM_CACHE_DIR;
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(dirName) || dirName === '.' || dirName === '..') throw new StemstreamError('BAD_OPTION', `the stem cache's dirName must be one plain name (letters, digits, . _ -), got ${JSON.stringify(dirName)}`);
    let dir: CacheDirectory;
    try {
      const root = await (options.root ?? defaultRoot)();
      dir = await root.getDirectoryHandle(dirName, { create: true });
    } catch (err) {
      if (err instanceof StemstreamError) throw err;
      throw new StemstreamError('IO', `cannot open the stem cache (the Origin Private File System refused: ${message(err)}); separations will not be remembered`, { cause: err });
    }
    const cache = new StemCache(dir, maxBytes, options.now ?? Date.now, options.storage === undefined ? storageOf() : options.storage);
    await cache.serial(() => cache.load());
    return cache;
  }

  /** Whether the browser granted persistent storage (undefined: not asked or not answered yet). */
  get persisted(): boolean | undefined {
    return this.persistedAnswer;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.index.entries, key);
  }

  /** Keys from least to most recently used. */
  keys(): string[] {
    return this.lru();
  }

  usage(): StemCacheUsage {
    let bytes = 0;
    const keys = Object.keys(this.index.entries);
    for (const k of keys) bytes += this.index.entries[k].bytes;
    return { entries: keys.length, bytes, maxBytes: this.maxBytes, persisted: this.persistedAnswer };
  }

  /**
   * Reads entry `key` into `into` (e.g. a view of the track's shared stems);
   * true on a hit. A missing entry is a miss; a damaged one (size or header
   * wrong, or a shape other than `into`'s) is a miss and is removed. `into` is
   * only partly written when a read fails midway (the caller discards it then).
   */
  get(key: string, into: Float32Array, shape?: { rows: number; frames: number }): Promise<boolean> {
    return this.serial(async () => {
      const entry = this.index.entries[key];
      if (!entry) return false;
      let file: Blob;
      try {
        file = await (await this.dir.getFileHandle(entryName(key))).getFile();
      } catch {
        await this.drop(key);
        return false;
      }
      const payload = into.byteLength;
      const h = file.size === HEADER_BYTES + payload ? readHeader(new Uint8Array(await file.slice(0, HEADER_BYTES).arrayBuffer()), key) : undefined;
      const fits = h !== undefined && h.rows * h.frames === into.length && (!shape || (shape.rows === h.rows && shape.frames === h.frames));
      if (!fits) {
        await this.drop(key);
        return false;
      }
      try {
        await readPayload(file.slice(HEADER_BYTES, HEADER_BYTES + payload), byteView(into));
      } catch {
        await this.drop(key);
        return false;
      }
      entry.lastUsed = this.stamp();
      await this.saveIndex().catch(() => undefined); // the order of use is a hint; a failed save loses only that
      return true;
    });
  }

  /**
   * Stores `stems` (rows × frames float32, row after row) under `key`, evicting
   * least recently used entries to fit under maxBytes. Never throws for what
   * storage does: the result says whether it was stored and why not.
   */
  put(key: string, stems: Float32Array, meta: StemCacheMeta): Promise<StemCachePutResult> {
    if (!KEY_RE.test(key)) return Promise.reject(new StemstreamError('BAD_OPTION', `a stem cache key is 64 lowercase hex digits (stemCacheKey()), got ${JSON.stringify(key)}`));
    if (!(Number.isSafeInteger(meta.rows) && meta.rows > 0 && Number.isSafeInteger(meta.frames) && meta.frames > 0 && meta.rows * meta.frames === stems.length)) {
      return Promise.reject(new StemstreamError('BAD_OPTION', `the stems hold ${stems.length} samples but meta says ${meta.rows} rows × ${meta.frames} frames`));
    }
    return this.serial(async () => {
      const bytes = HEADER_BYTES + stems.byteLength;
      const evicted: string[] = [];
      if (this.has(key)) await this.drop(key);
      if (bytes > this.maxBytes) {
        return { stored: false, key, reason: 'too-large', evicted, message: `the stems take ${bytes} bytes, more than the cache's limit of ${this.maxBytes}: raise maxBytes to keep tracks this long` };
      }
      for (const k of this.lru()) {
        if (this.usage().bytes + bytes <= this.maxBytes) break;
        await this.drop(k);
        evicted.push(k);
      }
      let failure = await this.writeEntry(key, stems, meta);
      if (failure !== undefined && isQuotaError(failure)) {
        // The browser's quota is not ours to know in advance: free what this entry needs and try once more.
        let freed = 0;
        for (const k of this.lru()) {
          if (freed >= bytes) break;
          freed += this.index.entries[k].bytes;
          await this.drop(k);
          evicted.push(k);
        }
        failure = await this.writeEntry(key, stems, meta);
      }
      if (failure !== undefined) {
        const quota = isQuotaError(failure);
        return {
          stored: false, key, evicted, reason: quota ? 'quota' : 'io',
          message: quota
            ? `the browser's storage for this site is full (${message(failure)}), even after evicting ${evicted.length} cached separation${evicted.length === 1 ? '' : 's'}: free space, or give the cache a smaller maxBytes`
            : `could not write the separation to the stem cache: ${message(failure)}`,
        };
      }
      const entry: IndexEntry = { bytes, lastUsed: this.stamp(), meta: { ...meta, sources: meta.sources ? [...meta.sources] : undefined } };
      this.index.entries[key] = entry;
      try {
        await this.saveIndex();
      } catch (err) {
        // Without its index line the file is an orphan (removed at the next open); undo now.
        delete this.index.entries[key];
        await this.removeFile(entryName(key));
        return { stored: false, key, evicted, reason: isQuotaError(err) ? 'quota' : 'io', message: `could not record the separation in the stem cache's index: ${message(err)}` };
      }
      return { stored: true, key, bytes, evicted };
    });
  }

  /** Removes one entry; false when there was none. */
  delete(key: string): Promise<boolean> {
    return this.serial(async () => {
      if (!this.has(key)) return false;
      await this.drop(key);
      return true;
    });
  }

  /** Removes every entry (and any stray file in the cache's directory); returns what was removed. */
  clear(): Promise<{ entries: number; bytes: number }> {
    return this.serial(async () => {
      const before = this.usage();
      this.index.entries = {};
      for (const name of await this.names()) if (name !== INDEX_NAME) await this.removeFile(name);
      await this.saveIndex();
      return { entries: before.entries, bytes: before.bytes };
    });
  }

  // ---- inside the queue ----

  /** One operation at a time: the index is read-modify-written by each. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Strictly increasing, so that two uses within one millisecond still have an order. */
  private stamp(): number {
    this.lastStamp = Math.max(this.now(), this.lastStamp + 1);
    return this.lastStamp;
  }

  private lru(): string[] {
    const e = this.index.entries;
    return Object.keys(e).sort((a, b) => e[a].lastUsed - e[b].lastUsed);
  }

  private async names(): Promise<string[]> {
    const out: string[] = [];
    for await (const name of this.dir.keys()) out.push(name);
    return out;
  }

  private async load(): Promise<void> {
    let parsed: unknown;
    try {
      const text = await (await (await this.dir.getFileHandle(INDEX_NAME)).getFile()).text();
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined; // none yet, or unreadable: start empty (the sweep below removes the files)
    }
    const entries: Record<string, IndexEntry> = {};
    const p = parsed as Partial<IndexFile> | undefined;
    if (p && p.version === STEM_CACHE_FORMAT && typeof p.entries === 'object' && p.entries !== null) {
      for (const [k, e] of Object.entries(p.entries)) if (KEY_RE.test(k) && validIndexEntry(e)) entries[k] = e;
    }
    const names = new Set(await this.names());
    for (const k of Object.keys(entries)) if (!names.has(entryName(k))) delete entries[k];
    for (const name of names) {
      if (name === INDEX_NAME) continue;
      const key = name.endsWith(ENTRY_SUFFIX) ? name.slice(0, -ENTRY_SUFFIX.length) : '';
      if (!Object.hasOwn(entries, key)) await this.removeFile(name);
    }
    this.index = { version: STEM_CACHE_FORMAT, entries };
    for (const e of Object.values(entries)) this.lastStamp = Math.max(this.lastStamp, e.lastUsed);
    if (p === undefined || Object.keys(entries).length !== Object.keys(p.entries ?? {}).length) await this.saveIndex().catch(() => undefined);
  }

  private async saveIndex(): Promise<void> {
    await this.writeFile(INDEX_NAME, [new TextEncoder().encode(JSON.stringify(this.index))]);
  }

  /** Writes `<key>.stems`; the error when it failed (the partial file removed), else undefined. */
  private async writeEntry(key: string, stems: Float32Array, meta: StemCacheMeta): Promise<unknown> {
    const src = byteView(stems);
    const chunks = (function* (): Generator<Uint8Array<ArrayBuffer>> {
      yield header(key, meta.rows, meta.frames);
      // Of a shared view, copies in one reused buffer: writeFile awaits each write before taking the next.
      yield* slices(src);
    })();
    try {
      await this.writeFile(entryName(key), chunks);
      return undefined;
    } catch (err) {
      await this.removeFile(entryName(key));
      return err;
    }
  }

  private async writeFile(name: string, chunks: Iterable<Uint8Array<ArrayBuffer>>): Promise<void> {
    const handle = await this.dir.getFileHandle(name, { create: true });
    const w = await handle.createWritable();
    try {
      for (const c of chunks) await w.write(c);
    } catch (err) {
      await w.abort(err).catch(() => undefined);
      throw err;
    }
    await w.close();
  }

  private async drop(key: string): Promise<void> {
    delete this.index.entries[key];
    await this.removeFile(entryName(key));
    await this.saveIndex().catch(() => undefined);
  }

  private async removeFile(name: string): Promise<void> {
    await this.dir.removeEntry(name).catch(() => undefined);
  }
}
