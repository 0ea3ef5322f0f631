import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ensureCrossOriginIsolation, type CoiEnvironment, type CoiRegistration, type CoiServiceWorker } from '../src/web/cross-origin-isolation.js';

class FakeWorker implements CoiServiceWorker {
  state: string;
  private listeners: (() => void)[] = [];
  constructor(state: string) { this.state = state; }
  addEventListener(_: 'statechange', l: () => void): void { this.listeners.push(l); }
  removeEventListener(_: 'statechange', l: () => void): void { this.listeners = this.listeners.filter((x) => x !== l); }
  set(state: string): void { this.state = state; for (const l of [...this.listeners]) l(); }
}

function page(o: { isolated?: boolean; secure?: boolean; sw?: boolean; controller?: boolean; flag?: boolean; storageThrows?: boolean; register?: (url: string) => Promise<CoiRegistration> } = {}) {
  const store = new Map<string, string>();
  if (o.flag) store.set('stemstream-coi-reloaded', '1');
  const log = { registered: [] as string[], reloads: 0, store };
  const worker = new FakeWorker('installing');
  const env: CoiEnvironment = {
    crossOriginIsolated: o.isolated ?? false,
    isSecureContext: o.secure ?? true,
    location: { href: 'https://user.github.io/stemstream/index.html', reload: () => { log.reloads++; } },
    sessionStorage: {
      getItem: (k) => { if (o.storageThrows) throw new Error('denied'); return store.get(k) ?? null; },
      setItem: (k, v) => { if (o.storageThrows) throw new Error('denied'); store.set(k, v); },
      removeItem: (k) => { store.delete(k); },
    },
    navigator: o.sw === false ? {} : {
      serviceWorker: {
        controller: o.controller ? {} : null,
        register: o.register ?? (async (url) => {
          log.registered.push(url);
          setTimeout(() => worker.set('installed'), 1);
          setTimeout(() => worker.set('activated'), 2);
          return { installing: worker, waiting: null, active: null };
        }),
      },
    },
  };
  return { env, log, worker };
}

const SW = 'coi-serviceworker.js';

describe('ensureCrossOriginIsolation', () => {
  it('reports isolation from headers or the service worker, and clears the reload flag', async () => {
    expect(await ensureCrossOriginIsolation({ serviceWorkerUrl: SW, env: page({ isolated: true }).env })).toEqual({ isolated: true, via: 'headers' });
    const p = page({ isolated: true, controller: true, flag: true });
    expect(await ensureCrossOriginIsolation({ serviceWorkerUrl: SW, env: p.env })).toEqual({ isolated: true, via: 'service-worker' });
    expect(p.log.store.size).toBe(0);
  });

  it('registers the worker (relative to the page), waits for activation, sets the flag and reloads once', async () => {
    const p = page();
    const r = await ensureCrossOriginIsolation({ serviceWorkerUrl: SW, env: p.env });
    expect(r).toMatchObject({ isolated: false, reloading: true });
    expect(p.log.registered).toEqual(['https://user.github.io/stemstream/coi-serviceworker.js']);
    expect(p.worker.state).toBe('activated');
    expect(p.log.reloads).toBe(1);
    expect(p.log.store.has('stemstream-coi-reloaded')).toBe(true);
    // After the reload, still not isolated: no second reload.
    const again = await ensureCrossOriginIsolation({ serviceWorkerUrl: SW, env: { ...p.env } });
    expect(again).toMatchObject({ isolated: false, reloading: false });
    expect((again as { reason: string }).reason).toMatch(/reloaded once/);
    expect(p.log.reloads).toBe(1);
    expect(p.log.registered).toHaveLength(1);
  });

  it('passes credentialless COEP to the worker', async () => {
    const p = page();
    await ensureCrossOriginIsolation({ serviceWorkerUrl: '/coi-serviceworker.js', embedderPolicy: 'credentialless', env: p.env });
    expect(p.log.registered).toEqual(['https://user.github.io/coi-serviceworker.js?coep=credentialless']);
  });

  it('says why when it cannot isolate, without reloading', async () => {
    const cases: [Parameters<typeof page>[0], RegExp][] = [
      [{ secure: false }, /secure context/],
      [{ sw: false }, /service workers are unavailable/],
      [{ register: async () => { throw new Error('SecurityError: bad MIME type'); } }, /could not be installed: SecurityError/],
      [{ storageThrows: true }, /sessionStorage is unavailable/],
    ];
    for (const [opts, reason] of cases) {
      const p = page(opts);
      const r = await ensureCrossOriginIsolation({ serviceWorkerUrl: SW, env: p.env });
      expect(r.isolated).toBe(false);
      expect((r as { reloading: boolean }).reloading).toBe(false);
      expect((r as { reason: string }).reason).toMatch(reason);
      expect(p.log.reloads).toBe(0);
    }
  });

  it('gives up when the worker becomes redundant or never activates', async () => {
    const redundant = new FakeWorker('installing');
    const p = page({ register: async () => { setTimeout(() => redundant.set('redundant'), 1); return { installing: redundant, waiting: null, active: null }; } });
    expect(await ensureCrossOriginIsolation({ serviceWorkerUrl: SW, env: p.env })).toMatchObject({ isolated: false, reloading: false, reason: expect.stringMatching(/redundant/) });
    const stuck = new FakeWorker('installing');
    const q = page({ register: async () => ({ installing: stuck, waiting: null, active: null }) });
    expect(await ensureCrossOriginIsolation({ serviceWorkerUrl: SW, env: q.env, activationTimeoutMs: 20 })).toMatchObject({ isolated: false, reason: expect.stringMatching(/did not activate within 20 ms/) });
    expect(p.log.reloads + q.log.reloads).toBe(0);
  });
});

describe('coi-serviceworker.js', () => {
  function loadWorker(scriptUrl: string, upstream: (req: Request) => Promise<Response>) {
    const handlers: Record<string, (event: unknown) => void> = {};
    const self = {
      location: new URL(scriptUrl),
      addEventListener: (type: string, fn: (event: unknown) => void) => { handlers[type] = fn; },
      skipWaiting: () => undefined,
      clients: { claim: async () => undefined },
      registration: { unregister: async () => true },
    };
    const code = readFileSync(new URL('../demo/public/coi-serviceworker.js', import.meta.url), 'utf8');
    runInNewContext(code, { self, URL, Headers, Response, fetch: upstream });
    return async (request: Request): Promise<Response | undefined> => {
      let responded: Promise<Response> | undefined;
      handlers.fetch({ request, respondWith: (p: Promise<Response>) => { responded = p; } });
      return responded;
    };
  }

  it('adds COOP, COEP and CORP to same-origin responses and leaves cross-origin ones alone', async () => {
    const handle = loadWorker('https://site.example/app/coi-serviceworker.js', async () => new Response('<html>', { status: 200, headers: { 'content-type': 'text/html' } }));
    const res = (await handle(new Request('https://site.example/app/index.html')))!;
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(await res.text()).toBe('<html>');
    expect(await handle(new Request('https://cdn.example/lib.js'))).toBeUndefined();
  });

  it('keeps status and an existing CORP, sends credentialless when asked, and turns network failures into network errors', async () => {
    const handle = loadWorker('https://site.example/coi-serviceworker.js?coep=credentialless', async (req) => {
      if (req.url.endsWith('/down')) throw new TypeError('offline');
      return new Response('nope', { status: 404, statusText: 'Not Found', headers: { 'cross-origin-resource-policy': 'cross-origin' } });
    });
    const res = (await handle(new Request('https://site.example/missing')))!;
    expect(res.status).toBe(404);
    expect(res.statusText).toBe('Not Found');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('credentialless');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    const down = (await handle(new Request('https://site.example/down')))!;
    expect(down.type).toBe('error');
  });
});
