/**
 * The demo on a static host that sends no COOP/COEP headers (GitHub Pages and
 * the like), in Chromium: ensureCrossOriginIsolation() (src/web/cross-origin-isolation.ts)
 * registers demo/public/coi-serviceworker.js and reloads the page once; after
 * that reload the page, its workers and the multi-threaded WASM come through
 * the service worker with COOP/COEP added, so the page is cross-origin
 * isolated and the real-time engine runs.
 *
 * `vite build` of the index page into a temporary folder, the tiny model with a
 * manifest next to it, and a minimal node:http static server (no isolation
 * headers at all) in place of `vite preview`. Needs /usr/bin/chromium.
 *
 * And <stem-player> (test/pages/player-test.html) on that plain server: it
 * refuses with the isolation message before it fetches the model or the song;
 * the same page on test/fixtures/static-server.ts (COOP/COEP) loads both.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import type { Browser, BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackStemEngine } from '../src/engine/host/stem-engine.js';
import { buildPage, launchChromium, requireChromium, watchErrors, writeModelWithManifest } from './fixtures/demo-site.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { serveStatic } from './fixtures/static-server.js';
import { encodeWav } from '../src/audio/wav.js';
import { notIsolatedMessage } from '../src/engine/host/isolation-check.js';
import type { PlayerEvent } from './pages/player-test.js';

const QUARTER_GAINS = [[0.25, 0.25], [0.25, 0.25], [0.25, 0.25], [0.25, 0.25]];
const QUERY = '?model=/test-models/tiny.json&backend=wasm';
const ISOLATION_HEADERS = ['cross-origin-opener-policy', 'cross-origin-embedder-policy'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.wasm': 'application/wasm',
  '.wav': 'audio/wav',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface Demo {
  engine?: TrackStemEngine;
  source: string;
  events: string[];
  ready: boolean;
  error?: string;
}
type W = Window & { stemstreamDemo?: Demo };

interface Served {
  path: string;
  status: number;
  /** The Service-Worker request header ('script' for the worker's own script). */
  serviceWorker?: string;
  dest?: string;
}

/** A plain static file server: GET/HEAD of files under `dir`, Content-Type by extension, nothing else (no COOP/COEP/CORP). */
function staticServer(dir: string, log: Served[]): Server {
  const rootDir = normalize(dir + sep);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      let path = decodeURIComponent(url.pathname);
      if (path.endsWith('/')) path += 'index.html';
      const file = normalize(join(rootDir, path));
      const entry: Served = { path, status: 200, serviceWorker: req.headers['service-worker'] as string | undefined, dest: req.headers['sec-fetch-dest'] as string | undefined };
      log.push(entry);
      const info = file.startsWith(rootDir) ? await stat(file).catch(() => undefined) : undefined;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        entry.status = 405;
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      } else if (!info?.isFile()) {
        entry.status = 404;
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found');
      } else {
        res.writeHead(200, {
          'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
          'Content-Length': info.size,
          'Cache-Control': 'no-cache',
        });
        if (req.method === 'HEAD') res.end();
        else createReadStream(file).pipe(res);
      }
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
}

describe('the demo on a static host without COOP/COEP (service-worker fallback), in Chromium', () => {
  let tmp = '';
  let server: Server | undefined;
  let browser: Browser | undefined;
  let base = '';
  const served: Served[] = [];
  const contexts: BrowserContext[] = [];

  /** Navigations of the page's main frame, in order. */
  function countNavigations(page: Page): string[] {
    const navs: string[] = [];
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navs.push(f.url()); });
    return navs;
  }
  /** Every console message, as "type: text" (errors also end up in watchErrors' list). */
  function consoleLog(page: Page): string[] {
    const all: string[] = [];
    page.on('console', (m: ConsoleMessage) => all.push(`${m.type()}: ${m.text()}`));
    return all;
  }
  const demoState = <T>(page: Page, f: (d: Demo) => T): Promise<T> => page.evaluate(`(${f.toString()})(window.stemstreamDemo)`) as Promise<T>;
  const waitReadyOrError = (page: Page, timeout: number) =>
    page.waitForFunction(() => {
      const d = (window as unknown as W).stemstreamDemo;
      return d !== undefined && (d.ready || d.error !== undefined);
    }, undefined, { timeout, polling: 100 });

  beforeAll(async () => {
    requireChromium();
    tmp = await mkdtemp(join(tmpdir(), 'stemstream-coi-'));
    const outDir = join(tmp, 'dist');
    await buildPage('index.html', outDir);
    await writeModelWithManifest(join(outDir, 'test-models'), 'tiny', makeDemucsLayoutModel({ specGains: QUARTER_GAINS }));
    server = staticServer(outDir, served);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
  }, 300_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('the server sends no COOP/COEP headers (a fetch from Node)', async () => {
    for (const path of ['/', '/index.html', '/coi-serviceworker.js']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      for (const h of ISOLATION_HEADERS) expect(res.headers.get(h), `${h} on ${path}`).toBeNull();
      if (path !== '/coi-serviceworker.js') expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      else expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      await res.arrayBuffer();
    }
    expect((await fetch(`${base}/test-models/tiny.onnx`)).headers.get('content-type')).toBe('application/octet-stream');
    expect((await fetch(`${base}/nope.js`)).status).toBe(404);
  });

  it('first visit: the service worker is installed, the page reloads exactly once and is then isolated; the track plays; a second visit is isolated at once', async () => {
    const context = await browser!.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const errors = watchErrors(page);
    const messages = consoleLog(page);
    const navs = countNavigations(page);
    const servedBefore = served.length;

    await page.goto(`${base}/${QUERY}`);
    await waitReadyOrError(page, 45_000);
    expect(await demoState(page, (d) => d.error), 'demo.error').toBeUndefined();
    // The service worker's reload is done by the time the app is ready; nothing more comes after it.
    await page.waitForTimeout(300);
    console.log('coi first visit:', JSON.stringify({ navigations: navs, consoleMessages: messages }));
    expect(navs, 'main-frame navigations: the first load and one reload').toEqual([`${base}/${QUERY}`, `${base}/${QUERY}`]);

    const state = await page.evaluate(() => ({
      isolated: crossOriginIsolated,
      sab: typeof SharedArrayBuffer === 'function',
      controller: navigator.serviceWorker.controller?.scriptURL ?? null,
      reloadFlag: sessionStorage.getItem('stemstream-coi-reloaded'),
      isolation: document.getElementById('isolation')!.textContent,
      message: (document.getElementById('message') as HTMLElement).hidden ? null : document.getElementById('message')!.textContent,
    }));
    expect(state).toEqual({
      isolated: true,
      sab: true,
      controller: `${base}/coi-serviceworker.js`,
      reloadFlag: null, // cleared once isolated
      isolation: 'Cross-origin isolated (service-worker).',
      message: null,
    });
    // What the server saw: the page, the worker's script (fetched as a service worker), then the page again and
    // everything after it (scripts, style, workers, the worklet, the WASM) fetched by the service worker itself
    // (Sec-Fetch-Dest "empty"), which is how they get COOP/COEP.
    const log = served.slice(servedBefore);
    console.log('coi served:', log.map((s) => `${s.path} (${s.dest}${s.serviceWorker ? `, Service-Worker: ${s.serviceWorker}` : ''})`).join(', '));
    expect(log.every((s) => s.status === 200)).toBe(true);
    const swAt = log.findIndex((s) => s.path === '/coi-serviceworker.js' && s.serviceWorker === 'script' && s.dest === 'serviceworker');
    expect(swAt, 'the service worker script request').toBeGreaterThan(0);
    expect(log.filter((s) => s.path === '/index.html').map((s) => s.dest)).toEqual(['document', 'empty']);
    const afterSw = log.slice(swAt + 1);
    expect(afterSw.map((s) => s.path)).toEqual(expect.arrayContaining(['/index.html', '/test-models/tiny.onnx']));
    expect(afterSw.some((s) => /inference-worker.*\.js$/.test(s.path)), 'the inference worker script').toBe(true);
    expect(afterSw.some((s) => s.path.endsWith('.wasm')), 'the WASM').toBe(true);
    // The browser's own update check of the service worker script (dest 'serviceworker') may come at
    // any time and never goes through a service worker: it is not a bypass, whenever it happens.
    const isUpdateCheck = (s: { dest?: string; path: string }) => s.dest === 'serviceworker' && s.path === '/coi-serviceworker.js';
    expect(afterSw.filter((s) => s.dest !== 'empty' && !isUpdateCheck(s)), 'requests after the reload that bypassed the service worker').toEqual([]);

    const engine = await demoState(page, (d) => ({ ready: d.ready, kind: d.engine?.sourceKind, source: d.source, events: d.events, status: d.engine?.status() }));
    expect(engine).toMatchObject({ ready: true, kind: 'track', source: 'clip', events: ['model-downloaded'], status: { backend: 'wasm', sourceKind: 'track' } });
    // Multi-threaded WASM (needs SharedArrayBuffer): min(4, cores) threads, as on an isolated page with headers.
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(engine.status!.threads, 'WASM threads').toBe(Math.max(1, Math.min(4, cores)));

    await page.locator('#play-demo').click();
    await page.waitForFunction(() => (window as unknown as W).stemstreamDemo!.engine!.playing, undefined, { timeout: 10_000, polling: 100 });
    await page.waitForFunction(() => (window as unknown as W).stemstreamDemo!.engine!.position > 0, undefined, { timeout: 15_000, polling: 100 });
    const p0 = await demoState(page, (d) => d.engine!.position);
    await page.waitForFunction((p) => (window as unknown as W).stemstreamDemo!.engine!.position > p, p0, { timeout: 10_000, polling: 100 });
    const p1 = await demoState(page, (d) => d.engine!.position);
    console.log('coi playhead:', JSON.stringify({ p0, p1, context: await page.evaluate(() => ((window as unknown as W).stemstreamDemo!.engine!.context as AudioContext).state) }));
    expect(p1).toBeGreaterThan(p0);
    expect(await demoState(page, (d) => d.error), 'demo.error after play').toBeUndefined();
    expect(navs.length, 'no navigation after the reload').toBe(2);
    expect(errors, 'console errors, page errors, HTTP errors').toEqual([]);

    // A second visit in the same context: the worker is active and controls the page from its first load.
    const second = await context.newPage();
    const errors2 = watchErrors(second);
    const messages2 = consoleLog(second);
    const navs2 = countNavigations(second);
    await second.goto(`${base}/${QUERY}`);
    expect(await second.evaluate(() => crossOriginIsolated), 'isolated on the first load').toBe(true);
    await waitReadyOrError(second, 30_000);
    expect(await demoState(second, (d) => d.error), 'demo.error (second visit)').toBeUndefined();
    await second.waitForTimeout(300);
    console.log('coi second visit:', JSON.stringify({ navigations: navs2, consoleMessages: messages2 }));
    expect(navs2, 'no reload on the second visit').toEqual([`${base}/${QUERY}`]);
    expect(await second.locator('#isolation').textContent()).toBe('Cross-origin isolated (service-worker).');
    expect(await demoState(second, (d) => d.engine?.sourceKind)).toBe('track');
    expect(errors2, 'console errors, page errors, HTTP errors (second visit)').toEqual([]);
    await second.close();
    await page.close();
  }, 60_000);

  it('service workers blocked: the page says it cannot be cross-origin isolated and does not reload in a loop', async () => {
    const context = await browser!.newContext({ serviceWorkers: 'block' });
    contexts.push(context);
    const page = await context.newPage();
    const errors = watchErrors(page);
    const messages = consoleLog(page);
    const navs = countNavigations(page);
    const servedBefore = served.length;
    await page.goto(`${base}/${QUERY}`);
    await waitReadyOrError(page, 20_000);
    await page.waitForTimeout(3000);
    const state = await page.evaluate(() => ({
      isolated: crossOriginIsolated,
      ready: (window as unknown as W).stemstreamDemo!.ready,
      message: (document.getElementById('message') as HTMLElement).hidden ? null : document.getElementById('message')!.textContent,
      isolation: document.getElementById('isolation')!.textContent,
    }));
    console.log('coi blocked:', JSON.stringify({ navigations: navs, state, consoleMessages: messages, errors }));
    expect(navs.length, 'navigations').toBeLessThanOrEqual(1);
    expect(state.isolated).toBe(false);
    expect(state.ready).toBe(false);
    expect(state.message).toMatch(/cross-origin isolat/i);
    expect(state.isolation).toMatch(/^Not cross-origin isolated: /);
    // The shared message (src/engine/host/isolation-check.ts) with the service worker's failure as its detail; the page is on 127.0.0.1.
    const reason = state.isolation!.replace(/^Not cross-origin isolated: /, '');
    expect(state.message).toBe(notIsolatedMessage({ crossOriginIsolated: false, sharedArrayBuffer: false, href: `${base}/${QUERY}` }, reason));
    expect(state.message).toContain('`npx stemstream serve <dir>`');
    // A model chosen in the loader afterwards is refused the same way, before its download.
    await page.getByLabel('Model URL').fill('/test-models/tiny.json');
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    await expect.poll(() => page.locator('model-loader [role=alert]').textContent()).toBe(notIsolatedMessage({ crossOriginIsolated: false, sharedArrayBuffer: false, href: `${base}/${QUERY}` }));
    // Refused before the download: the server saw the page and its code, never the model or its manifest.
    const paths = served.slice(servedBefore).map((s) => s.path);
    expect(paths).toContain('/index.html');
    expect(paths.filter((p) => p.startsWith('/test-models/')), 'model requests').toEqual([]);
    // The demo shows its error; no console errors, page errors or HTTP errors besides.
    expect(errors, 'console errors, page errors, HTTP errors').toEqual([]);
    await page.close();
  }, 30_000);
});

describe('<stem-player> on a page without COOP/COEP, in Chromium: refused before any download', () => {
  let tmp = '';
  let plain: Server | undefined;
  let isolated: Awaited<ReturnType<typeof serveStatic>> | undefined;
  let browser: Browser | undefined;
  let plainBase = '';
  const served: Served[] = [];

  beforeAll(async () => {
    requireChromium();
    tmp = await mkdtemp(join(tmpdir(), 'stemstream-player-coi-'));
    const outDir = join(tmp, 'dist');
    await buildPage('player-test.html', outDir, 'test');
    await writeModelWithManifest(join(outDir, 'test-models'), 'tiny', makeDemucsLayoutModel({ specGains: QUARTER_GAINS }));
    // Half a second of a 441 Hz tone at the tiny model's rate.
    const tone = Float32Array.from({ length: 22050 }, (_, i) => 0.25 * Math.sin((2 * Math.PI * 441 * i) / 44100));
    await writeFile(join(outDir, 'song.wav'), encodeWav({ sampleRate: 44100, channels: [tone, tone] }, 'pcm16'));
    plain = staticServer(outDir, served);
    await new Promise<void>((resolve, reject) => {
      plain!.once('error', reject);
      plain!.listen(0, '127.0.0.1', () => resolve());
    });
    plainBase = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    isolated = await serveStatic(outDir);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (plain ? plain.close(() => resolve()) : resolve()));
    await isolated?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const playerEvents = (page: Page) => page.evaluate(() => (window as unknown as { playerEvents: PlayerEvent[] }).playerEvents);
  const waitSettled = (page: Page, timeout: number) =>
    page.waitForFunction(() => (window as unknown as { playerEvents?: PlayerEvent[] }).playerEvents?.some((e) => e.type === 'load' || e.type === 'error'), undefined, { timeout, polling: 100 });
  const shown = (page: Page) =>
    page.evaluate(() => {
      const m = document.querySelector('stem-player')!.shadowRoot!.querySelector('[part="message"]')!;
      return { text: m.textContent, role: m.getAttribute('role') };
    });

  it('without the headers: the player shows the isolation message (NOT_ISOLATED) and the server never sees the manifest, the .onnx or the song', async () => {
    const page = await browser!.newPage();
    const errors = watchErrors(page);
    const before = served.length;
    await page.goto(`${plainBase}/player-test.html`);
    await waitSettled(page, 20_000);
    // Anything the player would still fetch would come now.
    await page.waitForTimeout(1000);
    const facts = await page.evaluate(() => ({ isolated: crossOriginIsolated, sab: typeof SharedArrayBuffer === 'function', href: location.href }));
    expect(facts.isolated).toBe(false);
    const expected = notIsolatedMessage({ crossOriginIsolated: facts.isolated, sharedArrayBuffer: facts.sab, href: facts.href });
    expect(expected).toContain('`npx stemstream serve <dir>`');
    expect(await shown(page)).toEqual({ text: expected, role: 'alert' });
    expect(await playerEvents(page)).toEqual([{ type: 'error', detail: { code: 'NOT_ISOLATED', message: expected } }]);
    const paths = served.slice(before).map((s) => s.path);
    console.log('player without COOP/COEP, served:', paths.join(', '));
    expect(paths).toContain('/player-test.html');
    expect(paths.some((p) => p.endsWith('.js')), 'the page\'s script').toBe(true);
    expect(paths.filter((p) => p.startsWith('/test-models/') || p.endsWith('.onnx') || p === '/song.wav'), 'model and song requests').toEqual([]);
    expect(await page.evaluate(() => (document.querySelector('stem-player') as unknown as { engine: unknown }).engine)).toBeNull();
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('control, with the headers: the same page downloads the manifest and the model and loads the song', async () => {
    const page = await browser!.newPage();
    const errors = watchErrors(page);
    const before = isolated!.requests.length;
    await page.goto(`${isolated!.base}/player-test.html`);
    await waitSettled(page, 60_000);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const events = await playerEvents(page);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    expect(events.filter((e) => e.type === 'load')).toEqual([{ type: 'load', detail: { name: 'song.wav', duration: 0.5 } }]);
    const paths = isolated!.requests.slice(before);
    expect(paths).toEqual(expect.arrayContaining(['/test-models/tiny.json', '/test-models/tiny.onnx', '/song.wav']));
    expect((await shown(page)).role).toBe('status');
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
