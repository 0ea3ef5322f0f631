// Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
// audioworklet-polyfill ships no types; it is imported for its side effect only.
declare module 'audioworklet-polyfill';
