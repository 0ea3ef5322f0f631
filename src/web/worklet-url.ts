/**
 * Where the audio thread's module is served from: the worklet entry built by
 * the bundler (Vite's `?worker&url` bundles it with its imports and gives its
 * URL). Kept apart from the engine so that src/engine imports nothing from
 * worklets/; StemEngine's `workletUrl` option replaces it.
 */
/// <reference types="vite/client" />
import url from '../../worklets/stem-out-processor.ts?worker&url';

export const defaultWorkletUrl: string = url;
