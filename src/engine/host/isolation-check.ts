/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * The one check for cross-origin isolation before anything downloads a model
 * for the real-time engine, and its one message (StemEngine.create,
 * <stem-player> and the demo all say the same). The engine needs
 * SharedArrayBuffer, which browsers give only to cross-origin isolated pages;
 * checking first saves the user a model download that could never run.
 *
 * The check is not in fetchModel or loadModelSource themselves: fetching a
 * model without an engine (to fill the cache for later, to read its metadata,
 * to pass it to a worker of the page's own) is legitimate on any page.
 */
import { StemstreamError } from '../../errors.js';

/** What the message is built from (the page's, by default; tests pass their own). */
export interface IsolationFacts {
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  /** False on a plain-http page of another host than localhost, where the headers alone do not help. */
  secureContext?: boolean;
  /** The page's address (location.href); undefined outside a window. */
  href?: string;
}

export function isolationFacts(env: object = globalThis): IsolationFacts {
  const g = env as { crossOriginIsolated?: unknown; isSecureContext?: unknown; SharedArrayBuffer?: unknown; location?: { href?: unknown } };
  return {
    crossOriginIsolated: g.crossOriginIsolated === true,
    sharedArrayBuffer: typeof g.SharedArrayBuffer === 'function',
    secureContext: typeof g.isSecureContext === 'boolean' ? g.isSecureContext : undefined,
    href: typeof g.location?.href === 'string' ? g.location.href : undefined,
  };
}

export function isIsolated(facts: IsolationFacts): boolean {
  return facts.crossOriginIsolated && facts.sharedArrayBuffer;
}

/** A page on this machine (localhost, a loopback address, a file: URL): a local server is the fix. */
export function isLocalPage(href: string | undefined): boolean {
  if (!href) return false;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return false;
  }
  if (url.protocol === 'file:') return true;
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * What happened and what to do, worded for someone who installed the npm
 * package. `detail` adds why an attempt to isolate the page failed (e.g.
 * ensureCrossOriginIsolation's reason).
 */
export function notIsolatedMessage(facts: IsolationFacts, detail?: string): string {
  const what = 'stemstream needs SharedArrayBuffer, which browsers give only to cross-origin isolated pages, and this page is not one, so no model was loaded.';
  const headers = '`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`';
  let fix: string;
  if (isLocalPage(facts.href)) {
    const lead = facts.href!.startsWith('file:') ? 'A page opened from a file cannot be isolated: serve' : 'Serve';
    fix = `${lead} the folder with \`npx stemstream serve <dir>\`, which sends the headers, and open the page from there (or make your dev server send ${headers}).`;
  } else {
    // Without a secure context neither the headers nor a service worker can help.
    const lead = facts.secureContext === false ? 'Serve the page over HTTPS (plain http from a host other than localhost cannot be isolated) and make' : 'Make';
    fix =
      `${lead} the server send ${headers} with the page, or, where you cannot set headers (static hosting), ` +
      'copy `node_modules/stemstream/dist/web/coi-serviceworker.js` next to the page and call ' +
      "`await ensureCrossOriginIsolation({ serviceWorkerUrl: 'coi-serviceworker.js' })` (from stemstream/web) before loading the model.";
  }
  const why = detail ? ` Isolating it failed: ${detail.replace(/\.$/, '')}.` : '';
  const factsLine = ` (crossOriginIsolated = ${String(facts.crossOriginIsolated)}, SharedArrayBuffer ${facts.sharedArrayBuffer ? 'present' : 'missing'}.)`;
  return `${what} ${fix}${why}${factsLine}`;
}

/** Throws NOT_ISOLATED with the message above unless the page is cross-origin isolated. Call it before downloading a model for an engine. */
export function assertCrossOriginIsolated(options: { env?: object; detail?: string } = {}): void {
  const facts = isolationFacts(options.env);
  if (!isIsolated(facts)) throw new StemstreamError('NOT_ISOLATED', notIsolatedMessage(facts, options.detail));
}
