/**
 * Cross-origin isolation (needed for SharedArrayBuffer, hence for the audio
 * rings and multi-threaded WASM) on hosts that cannot send the headers.
 *
 * The proper fix is two response headers on the page:
 *   Cross-Origin-Opener-Policy: same-origin
 *   Cross-Origin-Embedder-Policy: require-corp
 * (the Vite dev server and `vite preview` send them). Static hosts such as
 * GitHub Pages cannot, so `ensureCrossOriginIsolation` installs a service
 * worker (demo/public/coi-serviceworker.js) that re-serves the site's own
 * responses with those headers, and reloads the page once so that the page
 * itself comes through it. If the page is still not isolated after that one
 * reload, or service workers are unavailable, it says why, and the app runs
 * without SharedArrayBuffer (single-threaded WASM).
 *
 * Limits of the fallback: the first visit costs one reload; a hard reload
 * (Shift+Reload) bypasses service workers, so that page load is not isolated
 * (the next call reloads again, once per session); cross-origin resources
 * (CDNs) must send CORP or CORS headers under `require-corp`, or use
 * `embedderPolicy: 'credentialless'` (Chromium and Firefox only).
 */

export type EmbedderPolicy = 'require-corp' | 'credentialless';

export interface CrossOriginIsolationOptions {
  /** URL of coi-serviceworker.js, e.g. `new URL('coi-serviceworker.js', document.baseURI).href`. Its folder is the largest scope it can control. */
  serviceWorkerUrl: string | URL;
  /** Service worker scope (default: the worker's folder). */
  scope?: string;
  /** COEP the worker sends (default 'require-corp'). */
  embedderPolicy?: EmbedderPolicy;
  /** sessionStorage key marking "already reloaded once for this" (default 'stemstream-coi-reloaded'). */
  reloadFlagKey?: string;
  /** How long to wait for the worker to activate before giving up (default 10 s). */
  activationTimeoutMs?: number;
  /** The page environment; tests pass a fake. Default: globalThis. */
  env?: CoiEnvironment;
}

export type CrossOriginIsolationResult =
  | { isolated: true; via: 'headers' | 'service-worker' }
  | { isolated: false; reloading: true; reason: string }
  | { isolated: false; reloading: false; reason: string };

// Minimal shapes of the DOM objects used, so that the module also type-checks
// and runs (in tests) without a browser.
export interface CoiServiceWorker {
  readonly state: string;
  addEventListener(type: 'statechange', listener: () => void): void;
  removeEventListener(type: 'statechange', listener: () => void): void;
}

export interface CoiRegistration {
  readonly installing: CoiServiceWorker | null;
  readonly waiting: CoiServiceWorker | null;
  readonly active: CoiServiceWorker | null;
}

export interface CoiEnvironment {
  crossOriginIsolated?: boolean;
  isSecureContext?: boolean;
  navigator?: {
    serviceWorker?: {
      readonly controller: unknown;
      register(url: string, options?: { scope?: string }): Promise<CoiRegistration>;
    };
  };
  sessionStorage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
  location?: { readonly href: string; reload(): void };
}

const DEFAULT_FLAG = 'stemstream-coi-reloaded';

function storageGet(env: CoiEnvironment, key: string): string | null {
  try {
    return env.sessionStorage?.getItem(key) ?? null;
  } catch {
    return null; // storage disabled
  }
}

function storageSet(env: CoiEnvironment, key: string, value: string | null): boolean {
  try {
    if (!env.sessionStorage) return false;
    if (value === null) env.sessionStorage.removeItem(key);
    else env.sessionStorage.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once the registration has an activated worker, or rejects after `timeoutMs`. */
function whenActive(reg: CoiRegistration, timeoutMs: number): Promise<void> {
  const worker = reg.installing ?? reg.waiting ?? reg.active;
  if (!worker) return Promise.reject(new Error('the registration has no worker'));
  if (worker.state === 'activated') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      worker.removeEventListener('statechange', onChange);
      if (err) reject(err);
      else resolve();
    };
    const onChange = () => {
      if (worker.state === 'activated') done();
      else if (worker.state === 'redundant') done(new Error('the service worker failed to install (state "redundant")'));
    };
    const timer = setTimeout(() => done(new Error(`the service worker did not activate within ${timeoutMs} ms`)), timeoutMs);
    worker.addEventListener('statechange', onChange);
  });
}

/**
 * Makes the page cross-origin isolated if it can. Returns `{ isolated: true }`
 * when it is; `{ isolated: false, reloading: true }` when it has just started
 * a reload through the service worker (stop starting the app); otherwise
 * `{ isolated: false, reloading: false, reason }`: run without
 * SharedArrayBuffer and show the reason.
 */
export async function ensureCrossOriginIsolation(options: CrossOriginIsolationOptions): Promise<CrossOriginIsolationResult> {
  const env: CoiEnvironment = options.env ?? (globalThis as unknown as CoiEnvironment);
  const flagKey = options.reloadFlagKey ?? DEFAULT_FLAG;
  const reloadedBefore = storageGet(env, flagKey) !== null;

  if (env.crossOriginIsolated === true) {
    // Clear the flag so that, should isolation be lost later in this session, one more reload is allowed.
    if (reloadedBefore) storageSet(env, flagKey, null);
    const controlled = Boolean(env.navigator?.serviceWorker?.controller);
    return { isolated: true, via: controlled ? 'service-worker' : 'headers' };
  }
  const fail = (reason: string): CrossOriginIsolationResult => ({ isolated: false, reloading: false, reason });
  if (env.isSecureContext === false) {
    return fail('the page is not a secure context (serve it over HTTPS or from localhost): SharedArrayBuffer and service workers are unavailable');
  }
  const sw = env.navigator?.serviceWorker;
  if (!sw) {
    return fail('the server does not send COOP/COEP headers and service workers are unavailable here (private browsing, or disabled), so the page cannot be cross-origin isolated');
  }
  if (reloadedBefore) {
    return fail('the page was reloaded once to install the cross-origin-isolation service worker and is still not isolated ' +
      '(a hard reload bypasses service workers, or this browser ignores the headers the worker adds); send COOP/COEP headers from the server instead');
  }
  if (!env.location) return fail('no page to reload (not running in a window)');

  let url: URL;
  try {
    url = new URL(String(options.serviceWorkerUrl), env.location.href);
  } catch {
    return fail(`the service worker URL "${String(options.serviceWorkerUrl)}" is not valid`);
  }
  if (options.embedderPolicy && options.embedderPolicy !== 'require-corp') url.searchParams.set('coep', options.embedderPolicy);
  let reg: CoiRegistration;
  try {
    reg = await sw.register(url.href, options.scope !== undefined ? { scope: options.scope } : undefined);
    // Browsers return a registration or throw; a blocked or stubbed register() may return nothing.
    if (!reg) throw new Error('service workers are blocked here (register() returned no registration)');
    await whenActive(reg, options.activationTimeoutMs ?? 10_000);
  } catch (err) {
    return fail(`the cross-origin-isolation service worker (${url.href}) could not be installed: ${(err as Error).message}`);
  }
  if (!storageSet(env, flagKey, String(Date.now()))) {
    // Without the flag a failed attempt could reload forever: do not reload.
    return fail('sessionStorage is unavailable, so the page will not reload itself to become cross-origin isolated (that could loop); reload it by hand once');
  }
  env.location.reload();
  return { isolated: false, reloading: true, reason: 'reloading once so that the page is served through the cross-origin-isolation service worker' };
}
