// Placeholder: reports whether this page can run the engine (cross-origin isolation for threads).
const status = document.getElementById('status');
if (status) {
  status.textContent += crossOriginIsolated
    ? ' This page is cross-origin isolated: multi-threaded WASM is available.'
    : ' This page is NOT cross-origin isolated: serve it with COOP/COEP headers (vite dev and vite preview do).';
}
