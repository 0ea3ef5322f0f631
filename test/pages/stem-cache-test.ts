/**
 * The page test/browser-stem-cache.test.ts opens, reloads and reloads again in
 * one browser context (so its Origin Private File System persists): a
 * track-mode StemEngine with a tiny model whose stems are each exactly
 * input × gain (?gain=0.25 by default; another gain is another model), a 4 s
 * seeded track loaded, its stems exported as float32 WAVs. It publishes on
 * `window.stemCacheTest` whether the stem cache hit, how many segments the
 * worker ran, the exported files' SHA-256, their largest error against input ×
 * gain, the cache's files and the timings. The engine stays open (its
 * <engine-status> shows the cache and the "Clear cached stems" button) until
 * the test calls `stemCacheTest.dispose()`, which answers with the worker's
 * final count of segments.
 */
import { StemEngine } from '../../src/engine/stem-engine.js';
import { defineStemstreamElements } from '../../src/ui/index.js';
import type { StemCacheStatus } from '../../src/ui/index.js';
import { STEM_CACHE_DIR } from '../../src/web/stem-cache.js';
import { makeDemucsLayoutModel } from '../fixtures/tiny-models.js';

const SR = 44100;
const SECONDS = 4;
const PARAMS = new URLSearchParams(location.search);
const GAIN = Number(PARAMS.get('gain') ?? '0.25');

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

/** The same 4 s of seeded stereo noise on every load. */
function track(): Float32Array[] {
  const length = SECONDS * SR;
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
  const tiny = (gain: number) => makeDemucsLayoutModel({
    specGains: [[0, 0], [0, 0], [0, 0], [0, 0]],
    waveGains: [[gain, gain], [gain, gain], [gain, gain], [gain, gain]],
  });
  const model = tiny(GAIN);
  const ctx = new AudioContext({ sampleRate: SR, latencyHint: 'interactive' });
  const engine = await StemEngine.create(ctx, { model, sourceKind: 'track', pollIntervalMs: 50 });
  document.querySelector('engine-status')!.engine = engine;
  const hits: string[] = [];
  const stored: string[] = [];
  const warnings: string[] = [];
  engine.addEventListener('cache-hit', (e) => hits.push(e.detail.key));
  engine.addEventListener('cache-stored', (e) => stored.push(e.detail.key));
  engine.addEventListener('warning', (e) => warnings.push(`${e.detail.kind}: ${e.detail.message}`));
  engine.addEventListener('error', (e) => warnings.push(`error: ${e.detail.error.message}`));

  const channels = track();
  const t0 = performance.now();
  // normalize: false, so that every stem is exactly input × gain.
  await engine.loadTrack({ sampleRate: SR, channels }, { normalize: false });
  const loadMs = performance.now() - t0;
  const readyAfterLoad = Array.from(engine.readyMap(8));
  log(`loaded in ${loadMs.toFixed(0)} ms; ready ${readyAfterLoad.join(' ')}; hits ${hits.length}`);

  const t1 = performance.now();
  const out = await engine.exportStems({ baseName: 'cache', format: 'float32' });
  const exportMs = performance.now() - t1;
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
  log(`exported in ${exportMs.toFixed(0)} ms; max error ${maxError}`);
  // A miss writes the stems in the background once the track is separated whole.
  const deadline = performance.now() + 20_000;
  while (hits.length === 0 && stored.length === 0 && warnings.length === 0 && performance.now() < deadline) await sleep(20);
  const segments = engine.stats.worker.segments;

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
  return { crossOriginIsolated, cache: engine.status().cache, hits, stored, warnings, readyAfterLoad, segments, files, maxError, opfs: await listCache(), loadMs, exportMs };
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
