/**
 * The page test/browser-stem-cache.test.ts opens, reloads and reloads again in
 * one browser context (so its Origin Private File System persists): a
 * track-mode StemEngine with a tiny model whose stems are each exactly
 * input × gain (?gain=0.25 by default; another gain is another model), a 4 s
 * seeded track loaded, its stems exported as float32 WAVs. At real scale,
 * `?seconds=300&geometry=real`: a 5-minute track and the stand-in with the real
 * htdemucs geometry (makeRealGeometryStandIn: 343 980-sample segments, the real
 * spectrogram shapes; wave gains only, so the stems are still input × gain);
 * `&storeFirst=1` runs a miss's phases one after another to time each alone.
 * Big arrays never leave the page (the exported files are reported by their
 * SHA-256). It publishes on
 * `window.stemCacheTest` whether the stem cache hit, how many segments the
 * worker ran, the exported files' SHA-256, their largest error against input ×
 * gain, the cache's files and the timings. The engine stays open (its
 * <engine-status> shows the cache and the "Clear cached stems" button) until
 * the test calls `stemCacheTest.dispose()`, which answers with the worker's
 * final count of segments.
 */
import { StemEngine } from '../../src/engine/host/stem-engine.js';
import { defineStemstreamElements } from '../../src/ui/index.js';
import type { StemCacheStatus } from '../../src/ui/index.js';
import { STEM_CACHE_DIR } from '../../src/engine/host/stem-cache.js';
import { makeDemucsLayoutModel, makeRealGeometryStandIn } from '../fixtures/tiny-models.js';

const SR = 44100;
const PARAMS = new URLSearchParams(location.search);
const GAIN = Number(PARAMS.get('gain') ?? '0.25');
/** Track length, seconds (default 4). */
const SECONDS = Number(PARAMS.get('seconds') ?? '4');
/** 'tiny' (default: 9 426-sample segments) or 'real' (the real model's geometry, 343 980-sample segments). */
const GEOMETRY = PARAMS.get('geometry') ?? 'tiny';
/** How long a miss waits at most for its cache write, ms (longer for long tracks). */
const STORE_WAIT_MS = Math.max(20_000, SECONDS * 200);
/**
 * ?storeFirst=1: on a miss, wait for the whole track to be separated and written to the cache before exporting,
 * so that the write is timed alone (by default the export starts at once and runs alongside the separation and the write).
 */
const STORE_FIRST = PARAMS.get('storeFirst') === '1';

export interface StemCacheTestResult {
  crossOriginIsolated: boolean;
  /** status().cache once the export (and, on a miss, the cache write) is done. */
  cache: StemCacheStatus | undefined;
  /** Keys of 'cache-hit' and 'cache-stored' events; 'warning' messages. */
  hits: string[];
  stored: string[];
  warnings: string[];
  /** How much of the track was ready the moment loadTrack() resolved (8 parts). */
  readyAfterLoad: number[];
  /** Segments the worker reported while the page ran (stats.worker.segments). */
  segments: number;
  files: { name: string; sha256: string; bytes: number }[];
  /** Largest |stem − input × gain| over every stem, channel and frame. */
  maxError: number;
  /** The cache's directory (name, size) after the run. */
  opfs: { name: string; size: number }[];
  loadMs: number;
  exportMs: number;
  /** The page's parameters. */
  seconds: number;
  geometry: string;
  frames: number;
  /**
   * From loadTrack() resolved to the whole track separated, ms (every block ready with storeFirst, else the export's
   * first 'encoding' progress); 0 on a hit.
   */
  separatedMs: number;
  /** From the whole track separated to the 'cache-stored' event (the write), ms; undefined when none came. */
  storeMs: number | undefined;
  /**
   * Main-thread long tasks (PerformanceObserver 'longtask', ≥ 50 ms), durations in ms: during loadTrack, during the
   * cache write (separated whole → 'cache-stored'), and all of them as [start, duration] from loadTrack's call.
   */
  longTasks: { load: number[]; store: number[]; all: [number, number][] };
  /** When things happened, ms from loadTrack's call: loaded, separated, exportStart, exportEnd, verified, stored. */
  marks: Record<string, number>;
  /** SHA-256 over the exported files' SHA-256s in order (one value to compare across loads). */
  exportSha256: string;
}

interface StemCacheTestState {
  done: boolean;
  error?: string;
  result?: StemCacheTestResult;
  log: string[];
  /** Disposes of the engine; the worker's final counters. */
  dispose?: () => Promise<{ segments: number; runMsTotal: number }>;
  listCache?: () => Promise<{ name: string; size: number }[]>;
  /** setModel() to the tiny model with another gain; the keys stored after the track was separated again by it. */
  swap?: (gain: number) => Promise<{ stored: string[]; warnings: string[]; segments: number }>;
}

declare global {
  interface Window {
    stemCacheTest: StemCacheTestState;
  }
}

window.stemCacheTest = { done: false, log: [] };
const logEl = document.getElementById('log');
function log(line: string): void {
  window.stemCacheTest.log.push(line);
  if (logEl) logEl.textContent += line + '\n';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.slice()));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The cache's directory as the browser has it (name and size of each file). */
async function listCache(): Promise<{ name: string; size: number }[]> {
  const root = await navigator.storage.getDirectory();
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await root.getDirectoryHandle(STEM_CACHE_DIR);
  } catch {
    return [];
  }
  const out: { name: string; size: number }[] = [];
  for await (const [name, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
    if (h.kind === 'file') out.push({ name, size: (await (h as FileSystemFileHandle).getFile()).size });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The same seeded stereo noise on every load (4 s unless ?seconds= says otherwise). */
function track(): Float32Array[] {
  const length = Math.round(SECONDS * SR);
  let seed = 12345;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed / 2 ** 32 - 0.5) * 0.5;
  };
  const channels = [new Float32Array(length), new Float32Array(length)];
  for (let i = 0; i < length; i++) {
    channels[0][i] = noise();
    channels[1][i] = noise();
  }
  return channels;
}

async function run(): Promise<StemCacheTestResult> {
  defineStemstreamElements();
  if (!(Number.isFinite(SECONDS) && SECONDS > 0)) throw new Error(`?seconds must be a positive number, got ${PARAMS.get('seconds')}`);
  if (GEOMETRY !== 'tiny' && GEOMETRY !== 'real') throw new Error(`?geometry must be tiny or real, got ${GEOMETRY}`);
  const tiny = (gain: number) => {
    const gains = {
      specGains: [[0, 0], [0, 0], [0, 0], [0, 0]],
      waveGains: [[gain, gain], [gain, gain], [gain, gain], [gain, gain]],
    };
    return GEOMETRY === 'real' ? makeRealGeometryStandIn(gains) : makeDemucsLayoutModel(gains);
  };
  // Long tasks of the main thread (when the browser reports them), with their start times.
  const longTasks: { start: number; duration: number }[] = [];
  if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  }
  const tasksIn = (from: number, to: number) => longTasks.filter((t) => t.start + t.duration > from && t.start < to).map((t) => Math.round(t.duration));
  const model = tiny(GAIN);
  const ctx = new AudioContext({ sampleRate: SR, latencyHint: 'interactive' });
  const engine = await StemEngine.create(ctx, { model, sourceKind: 'track', pollIntervalMs: 50 });
  document.querySelector('engine-status')!.engine = engine;
  const hits: string[] = [];
  const stored: string[] = [];
  const warnings: string[] = [];
  engine.addEventListener('cache-hit', (e) => hits.push(e.detail.key));
  let storedAt = NaN;
  engine.addEventListener('cache-stored', (e) => {
    if (stored.length === 0) storedAt = performance.now();
    stored.push(e.detail.key);
  });
  engine.addEventListener('warning', (e) => warnings.push(`${e.detail.kind}: ${e.detail.message}`));
  engine.addEventListener('error', (e) => warnings.push(`error: ${e.detail.error.message}`));

  const channels = track();
  await sleep(0); // the track's generation is a task of its own, not part of loadTrack's
  const t0 = performance.now();
  const marks: Record<string, number> = {};
  const mark = (name: string) => (marks[name] = Math.round(performance.now() - t0));
  // normalize: false, so that every stem is exactly input × gain.
  await engine.loadTrack({ sampleRate: SR, channels }, { normalize: false });
  const loaded = performance.now();
  mark('loaded');
  const loadMs = loaded - t0;
  const readyAfterLoad = Array.from(engine.readyMap(8));
  log(`loaded in ${loadMs.toFixed(0)} ms; ready ${readyAfterLoad.join(' ')}; hits ${hits.length}`);

  let separatedAt = NaN;
  // A miss writes the stems in the background once the track is separated whole.
  const waitForStore = async () => {
    const deadline = performance.now() + STORE_WAIT_MS;
    while (hits.length === 0 && stored.length === 0 && warnings.length === 0 && performance.now() < deadline) await sleep(20);
  };
  if (STORE_FIRST && hits.length === 0) {
    // The phases one after another: separated whole (every block ready), the cache write, then the export.
    const deadline = performance.now() + Math.max(60_000, SECONDS * 400);
    while (engine.readyMap(1)[0] < 1 && warnings.length === 0 && performance.now() < deadline) await sleep(20);
    separatedAt = performance.now();
    mark('separated');
    await waitForStore();
  }
  const t1 = performance.now();
  mark('exportStart');
  const out = await engine.exportStems({
    baseName: 'cache', format: 'float32',
    onProgress: (p) => {
      if (p.phase === 'encoding' && Number.isNaN(separatedAt)) {
        separatedAt = performance.now();
        mark('separated');
      }
    },
  });
  const exportMs = performance.now() - t1;
  mark('exportEnd');
  if (Number.isNaN(separatedAt)) separatedAt = t1;
  const separatedMs = hits.length > 0 ? 0 : separatedAt - loaded;
  const length = channels[0].length;
  let maxError = 0;
  const files: StemCacheTestResult['files'] = [];
  for (const f of out.files) {
    files.push({ name: f.name, sha256: await sha256(f.data), bytes: f.data.length });
    // float32 WAV: the samples, interleaved stereo, are the file's last length × 2 × 4 bytes.
    const pcm = new Float32Array(f.data.slice(f.data.length - length * 2 * 4).buffer);
    for (let i = 0; i < length; i++) {
      for (let c = 0; c < 2; c++) maxError = Math.max(maxError, Math.abs(pcm[i * 2 + c] - channels[c][i] * GAIN));
    }
  }
  mark('verified');
  const exportSha256 = await sha256(new TextEncoder().encode(files.map((f) => f.sha256).join('\n')));
  log(`exported in ${exportMs.toFixed(0)} ms (separated whole ${separatedMs.toFixed(0)} ms after load); max error ${maxError}`);
  await waitForStore();
  const segments = engine.stats.worker.segments;
  const storeMs = stored.length > 0 ? storedAt - separatedAt : undefined;
  if (stored.length > 0) marks.stored = Math.round(storedAt - t0);
  log(`stored ${storeMs === undefined ? 'nothing' : `${storeMs.toFixed(0)} ms after the track was separated whole`}`);
  // Let the observer deliver the last entries.
  await sleep(50);
  const longTaskMs = {
    load: tasksIn(t0, loaded),
    store: storeMs === undefined ? [] : tasksIn(separatedAt, storedAt),
    all: longTasks.filter((t) => t.start + t.duration > t0).map((t) => [Math.round(t.start - t0), Math.round(t.duration)] as [number, number]),
  };

  window.stemCacheTest.dispose = async () => {
    await engine.dispose();
    await ctx.close();
    return { segments: engine.stats.worker.segments, runMsTotal: engine.stats.worker.runMsTotal };
  };
  window.stemCacheTest.listCache = listCache;
  window.stemCacheTest.swap = async (gain: number) => {
    const before = stored.length;
    const warned = warnings.length;
    await engine.setModel(tiny(gain));
    const until = performance.now() + 20_000;
    while (stored.length === before && warnings.length === warned && performance.now() < until) await sleep(20);
    return { stored: stored.slice(before), warnings: warnings.slice(warned), segments: engine.stats.worker.segments };
  };
  return {
    crossOriginIsolated, cache: engine.status().cache, hits, stored, warnings, readyAfterLoad, segments, files, maxError, opfs: await listCache(), loadMs, exportMs,
    seconds: SECONDS, geometry: GEOMETRY, frames: length, separatedMs, storeMs, longTasks: longTaskMs, marks, exportSha256,
  };
}

run().then(
  (r) => {
    window.stemCacheTest.result = r;
    window.stemCacheTest.done = true;
    log(JSON.stringify({ cache: r.cache, hits: r.hits.length, stored: r.stored.length, segments: r.segments }));
  },
  (err: unknown) => {
    window.stemCacheTest.error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    window.stemCacheTest.done = true;
    log(window.stemCacheTest.error);
  },
);
