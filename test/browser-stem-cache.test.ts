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
async function result(page: Page): Promise<StemCacheTestResult> {
  await page.waitForFunction(() => (window as unknown as Partial<W>).stemCacheTest?.done === true, undefined, { timeout: 60_000 });
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
      expect(second.warnings).toEqual([]);
      expect(second.hits).toEqual([key]);
      expect(second.stored).toEqual([]);
      expect(second.cache).toMatchObject({ state: 'hit', entries: 1, bytes: ENTRY_BYTES });
      expect(second.readyAfterLoad).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
      expect(second.segments).toBe(0);
      expect(second.files).toEqual(first.files);
      expect(second.maxError).toBeLessThan(1e-6);
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
});
