/**
 * The stem cache in Chromium, across reloads: test/pages/stem-cache-test.ts
 * (built and served as the other test pages are) opened in one browser
 * context, so its Origin Private File System persists from load to load. The
 * first open separates the track and writes it to the cache; the reload finds
 * it (no segment runs, every block ready when loadTrack resolves, the export
 * bit-identical to the first); another model misses; the page's "Clear cached
 * stems" button (in <engine-status>) empties the cache, and the next open
 * separates again.
 *
 * A second case runs at real scale (the rule: speed and memory are measured on
 * full-length input with the real model's geometry): a 5-minute stereo track
 * and the stand-in with htdemucs' geometry (?seconds=300&geometry=real), a miss
 * that writes ~423 MB, then a reload that reads it back. It asserts behaviour
 * (hit, no segment, sizes, identical export) and prints the timings on one line.
 *
 * Needs /usr/bin/chromium (CI installs Debian's chromium); without it this test
 * fails with a message saying so, it does not skip.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPage, launchChromium, previewSite, requireChromium, watchErrors } from './fixtures/demo-site.js';
import type { StemCacheTestResult } from './pages/stem-cache-test.js';

const FRAMES = 4 * 44100;
/** One entry: the 64-byte header, then 4 stems × 2 channels of float32. */
const ENTRY_BYTES = 64 + 4 * 2 * FRAMES * 4;

type W = {
  stemCacheTest: {
    done: boolean;
    error?: string;
    result?: StemCacheTestResult;
    log: string[];
    dispose(): Promise<{ segments: number; runMsTotal: number }>;
    listCache(): Promise<{ name: string; size: number }[]>;
    swap(gain: number): Promise<{ stored: string[]; warnings: string[]; segments: number }>;
  };
};

/** Waits for the page's run; fails with its log if it threw. */
async function result(page: Page, timeout = 60_000): Promise<StemCacheTestResult> {
  await page.waitForFunction(() => (window as unknown as Partial<W>).stemCacheTest?.done === true, undefined, { timeout, polling: 250 });
  const t = await page.evaluate(() => {
    const s = (window as unknown as W).stemCacheTest;
    return { error: s.error, result: s.result, log: s.log };
  });
  expect(t.error, t.log.join('\n')).toBeUndefined();
  const r = t.result!;
  console.log(page.url(), JSON.stringify({ cache: r.cache, hits: r.hits.length, stored: r.stored.length, segments: r.segments, ready: r.readyAfterLoad, loadMs: Math.round(r.loadMs), exportMs: Math.round(r.exportMs), maxError: r.maxError, warnings: r.warnings }));
  return r;
}

const dispose = (page: Page) => page.evaluate(() => (window as unknown as W).stemCacheTest.dispose());
const stemFiles = (r: StemCacheTestResult) => r.opfs.filter((f) => f.name.endsWith('.stems'));

/** A reopen that hit: the one stored entry read back, every block ready at once, no segment run, the miss's files again, stems still input × gain. */
function expectHit(hit: StemCacheTestResult, miss: StemCacheTestResult, key: string, entryBytes: number): void {
  expect(hit.warnings).toEqual([]);
  expect(hit.hits).toEqual([key]);
  expect(hit.stored).toEqual([]);
  expect(hit.cache).toMatchObject({ state: 'hit', entries: 1, bytes: entryBytes });
  expect(hit.readyAfterLoad).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  expect(hit.segments).toBe(0);
  expect(hit.files).toEqual(miss.files);
  expect(hit.maxError).toBeLessThan(1e-6);
}

describe('the stem cache in Chromium', () => {
  let tmp = '';
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;
  let base = '';

  beforeAll(async () => {
    requireChromium();
    tmp = await mkdtemp(join(tmpdir(), 'stemstream-stem-cache-'));
    const outDir = join(tmp, 'dist');
    await buildPage('stem-cache-test.html', outDir, 'test');
    ({ server, base } = await previewSite(outDir, 'test'));
    browser = await launchChromium(['--disable-gpu', '--autoplay-policy=no-user-gesture-required']);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('the second open of a track runs no inference and exports the same stems; another model misses; "Clear cached stems" empties it', async () => {
    // One context for every load: the Origin Private File System lives as long as it does.
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      const errors = watchErrors(page);
      const url = `${base}/stem-cache-test.html`;

      // 1. First open: a miss; separated, exported (stems = input / 4), then written to the cache.
      await page.goto(url);
      const first = await result(page);
      expect(first.crossOriginIsolated).toBe(true);
      expect(first.warnings).toEqual([]);
      expect(first.hits).toEqual([]);
      expect(first.stored).toHaveLength(1);
      const key = first.stored[0];
      expect(key).toMatch(/^[0-9a-f]{64}$/);
      expect(first.cache).toMatchObject({ state: 'miss', entries: 1, bytes: ENTRY_BYTES });
      expect(first.segments).toBeGreaterThan(0);
      expect(first.maxError).toBeLessThan(1e-6);
      expect(first.files.map((f) => f.name)).toEqual(['cache-drums.wav', 'cache-bass.wav', 'cache-other.wav', 'cache-vocals.wav']);
      expect(first.opfs).toEqual([{ name: `${key}.stems`, size: ENTRY_BYTES }, { name: 'index.json', size: expect.any(Number) }]);
      const firstFinal = await dispose(page);
      expect(firstFinal.segments).toBe(first.segments);

      // 2. Reload: a hit. Every block ready as loadTrack resolves, no segment run, the export bit for bit the first's.
      await page.reload();
      const second = await result(page);
      expectHit(second, first, key, ENTRY_BYTES);
      await expect.poll(() => page.locator('engine-status dd.cache').textContent()).toMatch(/^Hit · 1 track, 5\.6 MB/);
      const secondFinal = await dispose(page);
      expect(secondFinal).toEqual({ segments: 0, runMsTotal: 0 }); // the worker's own count: no session.run at all

      // 3. Another model (stems = input / 2): its own key, a miss, separated by it.
      await page.goto(`${url}?gain=0.5`);
      const other = await result(page);
      expect(other.hits).toEqual([]);
      expect(other.stored).toHaveLength(1);
      expect(other.stored[0]).not.toBe(key);
      expect(other.segments).toBe(first.segments);
      expect(other.maxError).toBeLessThan(1e-6);
      expect(other.files.map((f) => f.sha256)).not.toEqual(first.files.map((f) => f.sha256));
      expect(stemFiles(other).map((f) => f.name).sort()).toEqual([`${key}.stems`, `${other.stored[0]}.stems`].sort());
      await dispose(page);

      // 4. The first model again: still a hit. A model swap on it recomputes every segment with the new
      // model and stores the result under that model's key (the one a fresh open with it made in 3).
      await page.goto(url);
      const third = await result(page);
      expect(third.hits).toEqual([key]);
      expect(third.segments).toBe(0);
      expect(third.files).toEqual(first.files);
      const swapped = await page.evaluate(() => (window as unknown as W).stemCacheTest.swap(0.5));
      expect(swapped).toEqual({ stored: [other.stored[0]], warnings: [], segments: first.segments });
      // Then the page's clear control.
      await page.locator('engine-status').getByRole('button', { name: 'Clear cached stems' }).click();
      await expect.poll(() => page.locator('engine-status .cleared').textContent()).toBe('2 cached tracks removed');
      expect(await page.evaluate(() => (window as unknown as W).stemCacheTest.listCache())).toEqual([{ name: 'index.json', size: expect.any(Number) }]);
      await expect.poll(() => page.locator('engine-status dd.cache').textContent()).toMatch(/^Hit · 0 tracks/);
      await dispose(page);

      // 5. Reload: a miss again, separated again, and remembered again.
      await page.reload();
      const fourth = await result(page);
      expect(fourth.hits).toEqual([]);
      expect(fourth.stored).toEqual([key]);
      expect(fourth.segments).toBe(first.segments);
      expect(fourth.files).toEqual(first.files);
      expect(fourth.cache).toMatchObject({ state: 'miss', entries: 1 });
      await dispose(page);

      expect(errors, 'console errors, page errors, HTTP errors').toEqual([]);
    } finally {
      await context.close();
    }
  }, 240_000);

  it('at real scale (5 min stereo, the real model\'s geometry): a miss writes header + 32 B/frame, the reload reads it back, runs no segment and exports the same stems', async () => {
    const SECONDS = 300;
    const frames = SECONDS * 44100;
    // 64-byte header + 4 stems × 2 channels × 4 bytes per frame: 423 360 064 bytes.
    const entryBytes = 64 + 4 * 2 * 4 * frames;
    // Its own context: a fresh Origin Private File System.
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      const errors = watchErrors(page);
      // storeFirst: separated whole, then the cache write, then the export, so each is timed alone.
      const url = `${base}/stem-cache-test.html?seconds=${SECONDS}&geometry=real&storeFirst=1`;

      // Miss: separated whole by the stand-in, written to the cache, then exported (stems = input / 4).
      await page.goto(url);
      const miss = await result(page, 150_000);
      expect(miss.crossOriginIsolated).toBe(true);
      expect(miss).toMatchObject({ seconds: SECONDS, geometry: 'real', frames });
      expect(miss.warnings).toEqual([]);
      expect(miss.hits).toEqual([]);
      expect(miss.stored).toHaveLength(1);
      const key = miss.stored[0];
      expect(miss.cache).toMatchObject({ state: 'miss', entries: 1, bytes: entryBytes });
      expect(miss.segments).toBeGreaterThan(0);
      expect(miss.maxError).toBeLessThan(1e-6);
      // float32 WAV: 2 channels × 4 bytes per frame after the header.
      for (const f of miss.files) expect(f.bytes).toBeGreaterThan(frames * 8);
      expect(miss.opfs).toEqual([{ name: `${key}.stems`, size: entryBytes }, { name: 'index.json', size: expect.any(Number) }]);
      expect(await dispose(page)).toMatchObject({ segments: miss.segments });

      // Hit: every block ready as loadTrack resolves, no segment run, the same export.
      await page.reload();
      const hit = await result(page, 90_000);
      // The figures first, so that they are there to quote even when an assertion below fails.
      const ms = (x: number | undefined) => (x === undefined ? null : Math.round(x));
      console.log(`stem cache, real scale (${SECONDS} s stereo at 44.1 kHz, segment 343980, ${miss.segments} segments, entry ${entryBytes} B): ` + JSON.stringify({
        miss: { loadMs: ms(miss.loadMs), separatedWholeMs: ms(miss.separatedMs), storeMs: ms(miss.storeMs), exportMs: ms(miss.exportMs), fileBytes: miss.opfs.find((f) => f.name.endsWith('.stems'))?.size, longTasksLoad: miss.longTasks.load, longTasksStore: miss.longTasks.store },
        hit: { loadMs: ms(hit.loadMs), exportMs: ms(hit.exportMs), longTasksLoad: hit.longTasks.load },
        timeline: { miss: miss.marks, missLongTasks: miss.longTasks.all, hit: hit.marks, hitLongTasks: hit.longTasks.all },
      }));
      expectHit(hit, miss, key, entryBytes);
      expect(hit.exportSha256).toBe(miss.exportSha256);
      await expect.poll(() => page.locator('engine-status dd.cache').textContent()).toMatch(/^Hit · 1 track, 423\.4 MB/);
      expect(await dispose(page)).toEqual({ segments: 0, runMsTotal: 0 });

      expect(errors, 'console errors, page errors, HTTP errors').toEqual([]);
    } finally {
      await context.close();
    }
    // ~65 s on 2 shared cores (separating 13.5 s, the write 8 s, each export 7 s and its check in the page 6 s): ~3× that.
  }, 210_000);
});
