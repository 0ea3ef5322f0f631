/**
 * src/engine/host/isolation-check.ts in Node, on fake page environments: which pages
 * pass, the error code, and which fix the message names for where the page is.
 * (test/browser-coi.test.ts checks, in Chromium, that nothing is downloaded.)
 */
import { describe, expect, it } from 'vitest';
import { StemstreamError } from '../src/errors.js';
import { assertCrossOriginIsolated, isLocalPage, isolationFacts, notIsolatedMessage } from '../src/engine/host/isolation-check.js';

const page = (href: string, over: Record<string, unknown> = {}) => ({
  crossOriginIsolated: false,
  isSecureContext: true,
  SharedArrayBuffer,
  location: { href },
  ...over,
});

function refusal(env: object, detail?: string): StemstreamError {
  try {
    assertCrossOriginIsolated({ env, detail });
  } catch (err) {
    return err as StemstreamError;
  }
  throw new Error('assertCrossOriginIsolated did not throw');
}

const SERVE = '`npx stemstream serve <dir>`';
const HEADERS = '`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`';
const SW = 'copy `node_modules/stemstream/dist/web/coi-serviceworker.js` next to the page';
const CALL = "`await ensureCrossOriginIsolation({ serviceWorkerUrl: 'coi-serviceworker.js' })`";

describe('assertCrossOriginIsolated', () => {
  it('passes an isolated page with SharedArrayBuffer, refuses every other combination with NOT_ISOLATED', () => {
    expect(() => assertCrossOriginIsolated({ env: page('https://example.org/', { crossOriginIsolated: true }) })).not.toThrow();
    for (const over of [{}, { crossOriginIsolated: true, SharedArrayBuffer: undefined }, { SharedArrayBuffer: undefined }, { crossOriginIsolated: 'true' }]) {
      const err = refusal(page('https://example.org/', over));
      expect(err, JSON.stringify(over)).toBeInstanceOf(StemstreamError);
      expect(err.code).toBe('NOT_ISOLATED');
    }
    // Node itself is no isolated page.
    expect(refusal(globalThis).code).toBe('NOT_ISOLATED');
  });

  it('facts line: crossOriginIsolated and whether SharedArrayBuffer is there', () => {
    expect(refusal(page('https://example.org/')).message).toMatch(/\(crossOriginIsolated = false, SharedArrayBuffer present\.\)$/);
    expect(refusal(page('https://example.org/', { SharedArrayBuffer: undefined })).message).toMatch(/\(crossOriginIsolated = false, SharedArrayBuffer missing\.\)$/);
    expect(refusal(page('https://example.org/', { crossOriginIsolated: true, SharedArrayBuffer: undefined })).message).toMatch(/\(crossOriginIsolated = true, SharedArrayBuffer missing\.\)$/);
  });

  it('a page on this machine (localhost, 127.x, [::1], *.localhost, file:) is told to use `stemstream serve`', () => {
    for (const href of ['http://localhost:5173/', 'http://127.0.0.1:8080/player.html', 'http://[::1]:3000/', 'http://app.localhost/', 'file:///home/me/site/index.html']) {
      const m = refusal(page(href)).message;
      expect(m, href).toContain(SERVE);
      expect(m, href).not.toContain(SW);
      expect(m, href).toMatch(/^stemstream needs SharedArrayBuffer, which browsers give only to cross-origin isolated pages, and this page is not one, so no model was loaded\. /);
    }
    expect(refusal(page('file:///x/index.html')).message).toContain('A page opened from a file cannot be isolated: serve the folder with `npx stemstream serve <dir>`');
    expect(refusal(page('http://localhost/')).message).toContain('Serve the folder with `npx stemstream serve <dir>`, which sends the headers');
  });

  it('a page elsewhere is told the two headers, or the service worker from the package with the real function name', () => {
    const m = refusal(page('https://music.example.org/app/')).message;
    expect(m).toContain(`Make the server send ${HEADERS} with the page, or, where you cannot set headers (static hosting), ${SW} and call ${CALL}`);
    expect(m).not.toContain(SERVE);
    expect(m).not.toMatch(/vite\.config|this project/);
    // Plain http elsewhere: HTTPS first (no header helps there).
    expect(refusal(page('http://music.example.org/', { isSecureContext: false })).message).toContain('Serve the page over HTTPS');
    expect(m).not.toContain('HTTPS');
    // Hosts that only look local are not.
    for (const href of ['http://localhost.example.org/', 'http://127.0.0.1.nip.io/', 'https://my-localhost.dev/']) expect(isLocalPage(href), href).toBe(false);
    expect(isLocalPage(undefined)).toBe(false);
  });

  it('detail (why isolating failed) goes before the facts', () => {
    const m = refusal(page('https://example.org/'), 'service workers are blocked here.');
    expect(m.message).toMatch(/ Isolating it failed: service workers are blocked here\. \(crossOriginIsolated = false, SharedArrayBuffer present\.\)$/);
  });

  it('isolationFacts reads the page', () => {
    expect(isolationFacts(page('https://a.example/', { crossOriginIsolated: true }))).toEqual({ crossOriginIsolated: true, sharedArrayBuffer: true, secureContext: true, href: 'https://a.example/' });
    expect(notIsolatedMessage({ crossOriginIsolated: false, sharedArrayBuffer: false })).toContain(HEADERS);
  });
});
