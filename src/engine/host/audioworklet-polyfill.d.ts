// audioworklet-polyfill ships no types; it is imported for its side effect only.
declare module 'audioworklet-polyfill';
