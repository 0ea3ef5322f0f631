/**
 * A Node built-in module, imported only when a Node-only path runs (reading a
 * model or a WAV from disk, the FLAC encoder, the core count) by modules that
 * browsers load too. The name arrives as an argument so that no bundler, ours
 * (scripts/build-web.mjs, whose minifier folds constants) or a consumer's, sees
 * a literal `import('node:…')` to resolve.
 */
export async function importNodeBuiltin<T>(name: `node:${string}`): Promise<T> {
  return (await import(/* @vite-ignore */ name)) as T;
}
