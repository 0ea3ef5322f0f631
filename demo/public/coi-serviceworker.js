/*
 * stemstream: cross-origin isolation for static hosts that cannot send headers.
 *
 * Registered by ensureCrossOriginIsolation() (src/web/cross-origin-isolation.ts).
 * It passes every same-origin request through to the network and hands the
 * response back with
 *   Cross-Origin-Opener-Policy: same-origin
 *   Cross-Origin-Embedder-Policy: require-corp   (or credentialless, ?coep=credentialless)
 *   Cross-Origin-Resource-Policy: same-origin    (unless the response sets its own)
 * so that pages and workers it serves are cross-origin isolated
 * (SharedArrayBuffer, multi-threaded WASM). Cross-origin requests are left to
 * the browser untouched: under require-corp they need CORP or CORS headers of
 * their own.
 *
 * Remove it with: navigator.serviceWorker.controller.postMessage('deregister').
 */
/* eslint-env serviceworker */

const params = new URL(self.location.href).searchParams;
const EMBEDDER_POLICY = params.get('coep') === 'credentialless' ? 'credentialless' : 'require-corp';

self.addEventListener('install', () => {
  // Take over without waiting for old tabs to close: the page reloads right after.
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('message', (event) => {
  if (event.data === 'deregister') {
    event.waitUntil(self.registration.unregister());
  }
});

/** The response with the isolation headers added (opaque and redirect responses cannot be changed). */
function isolated(response) {
  if (response.status === 0 || response.type === 'opaque' || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', EMBEDDER_POLICY);
  if (!headers.has('Cross-Origin-Resource-Policy')) headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  // Chromium throws on this combination (devtools opening a file); let the browser handle it.
  if (request.cache === 'only-if-cached' && request.mode !== 'same-origin') return;
  if (new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(
    fetch(request).then(isolated, () => Response.error()),
  );
});
