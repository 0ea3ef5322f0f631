/**
 * The model manifest: one JSON format, one parser, for the CLI (`--model
 * set.json`, loadModelSet), the library and the browser (model download and
 * Cache Storage, the demo). A manifest describes either one model or a set of
 * models combined per source (a Demucs bag):
 *
 *   { "name": "htdemucs (fp16 weights)", "url": "htdemucs-fp16.onnx",
 *     "sha256": "<64 hex>", "bytes": 90561768, "sources": [...], "license": "..." }
 *
 *   { "name": "htdemucs_ft", "sources": ["drums", "bass", "other", "vocals"],
 *     "models": [ { "url": "ft-drums.onnx", "sha256": "...", "bytes": 1, "weights": [1, 0, 0, 0] }, ... ] }
 *
 * `url` is relative to the manifest: a path next to the manifest's file in
 * Node, a URL against the manifest's URL on the web (absolute ones stay as they
 * are). `file` is accepted as the older spelling of `url`.
 *
 * Manifests come from untrusted places (a download, a file someone sent), so
 * everything is checked here before anything is loaded from them: stem names
 * and counts against model-limits.ts, hashes, sizes and weights. No Node or DOM
 * imports: the browser bundle uses this module as it is.
 */
import { StemstreamError } from '../errors.js';
import { checkChannels, checkSampleRate, checkSegmentSamples, checkSetModelCount, checkStemCount, checkStemNames } from './model-limits.js';
import { escapeUnsafe, quoteUntrusted, type LimitContext } from '../untrusted-text.js';

/** A manifest's text is read whole before parsing; real ones are under 10 kB. */
export const MAX_MANIFEST_CHARS = 1 << 20;
/** Largest model a manifest may declare: wasm32 memory is 4 GiB, and a model is read into one buffer. */
export const MAX_MODEL_BYTES = 2 ** 32;
/** Names are shown in the UI and the terminal. */
const MAX_NAME_CHARS = 200;

/** A model file a manifest points at. */
export interface ManifestModelFile {
  /** The manifest's `url` (or `file`) resolved against the manifest: a path in Node, an absolute URL on the web. */
  url: string;
  /** Lowercase hex; when given, the model's bytes must hash to it. */
  sha256?: string;
  /** When given, the model must have exactly this many bytes. */
  bytes?: number;
}

export interface SetMemberManifest extends ManifestModelFile {
  /** One per source, non-negative (default: all 1). Stem k = Σ_m w[m][k]·out_m[k] / Σ_m w[m][k]. */
  weights?: number[];
}

interface ManifestCommon {
  /** The manifest's `name`; else the model's file name, or 'model set'. */
  name: string;
  /** Where the manifest was read from (a path or URL): the base of relative `url`s, and the subject of errors. */
  where: string;
  /** Stem names; a set's members must all separate exactly these. */
  sources?: string[];
  /** What the manifest declares about the model(s), checked against model-limits.ts; the model's own metadata still rules. */
  layout?: string;
  sampleRate?: number;
  channels?: number;
  segmentSamples?: number;
  /** Terms of the weights, as the manifest states them. */
  license?: string;
  /** Where the model came from (prepare-demo-model.mjs writes how it was converted). */
  convertedFrom?: string;
  /** Fields this format does not define, as they were. */
  extra: Record<string, unknown>;
}

export interface ModelManifest extends ManifestCommon, ManifestModelFile {
  kind: 'model';
}

export interface SetManifest extends ManifestCommon {
  kind: 'set';
  members: SetMemberManifest[];
}

export type Manifest = ModelManifest | SetManifest;

const KNOWN = new Set(['name', 'url', 'file', 'sha256', 'bytes', 'models', 'sources', 'layout', 'sampleRate', 'channels', 'segmentSamples', 'license', 'convertedFrom']);
const SHAPES = '{ "url": "model.onnx", "sha256": ..., "bytes": ... } for one model, or { "models": [{ "url": "a.onnx", "weights": [...] }, ...] } for a set';

/** Manifests this module built: a caller may pass them on without checking again (raw JSON could mimic their shape). */
const parsed = new WeakSet<object>();

/** Whether `value` came from parseManifest (and so was checked). */
export function isParsedManifest(value: unknown): value is Manifest {
  return typeof value === 'object' && value !== null && parsed.has(value);
}

function refused(where: string, problem: string): StemstreamError {
  return new StemstreamError('BAD_MODEL', `model manifest ${where}: ${problem}`);
}

/**
 * Parses and checks a manifest. `input` is its text or its parsed JSON (an
 * object a caller built is checked the same way); `where` is the manifest's
 * path or URL, against which relative `url`s are resolved. Every refusal is a
 * StemstreamError 'BAD_MODEL' naming `where` and saying what to fix.
 */
export function parseManifest(input: unknown, where: string): Manifest {
  const json = typeof input === 'string' ? parseJson(input, where) : input;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw refused(where, `must be a JSON object: ${SHAPES}`);
  }
  const m = json as Record<string, unknown>;
  const common = readCommon(m, where);
  if (m.models !== undefined) {
    if (m.url !== undefined || m.file !== undefined) {
      throw refused(where, 'has both "url" (one model) and "models" (a set); keep one: a set lists each model\'s "url" in "models"');
    }
    return remember({ kind: 'set', ...common, name: common.name ?? 'model set', members: readMembers(m.models, common.sources, where) });
  }
  if (m.url === undefined && m.file === undefined) {
    throw refused(where, `has no "url" (the model file, relative to the manifest) and no "models" list; a manifest is ${SHAPES}`);
  }
  const file = readModelFile(m, '', where);
  return remember({ kind: 'model', ...common, name: common.name ?? fileNameOf(file.url), ...file });
}

function remember<T extends Manifest>(manifest: T): T {
  parsed.add(manifest);
  return manifest;
}

/** The models to load: a set's members, or the one model as a set of one (weights all 1). */
export function manifestMembers(manifest: Manifest): SetMemberManifest[] {
  if (manifest.kind === 'set') return manifest.members;
  const { url, sha256, bytes } = manifest;
  return [{ url, sha256, bytes }];
}

function parseJson(text: string, where: string): unknown {
  if (text.length > MAX_MANIFEST_CHARS) {
    throw refused(where, `is ${text.length} characters long, more than a manifest can be (${MAX_MANIFEST_CHARS}); is it the right file?`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StemstreamError('BAD_MODEL', `model manifest ${where} is not valid JSON (${(err as Error).message}); it starts with ${quoteUntrusted(text.slice(0, 40))}`, { cause: err });
  }
}

function readCommon(m: Record<string, unknown>, where: string): Omit<ManifestCommon, 'name'> & { name?: string } {
  const ctx = (key: string, fix: string): LimitContext => ({ what: `model manifest ${where}: "${key}"`, fix: `fix the manifest: ${fix}` });
  const regenerate = 'give the model\'s own value, or leave it out';
  const numeric = (key: string, check: (n: number, c: LimitContext) => number): number | undefined => {
    if (m[key] === undefined) return undefined;
    const c = ctx(key, regenerate);
    // Not Number(...): a string or null must not pass as a number.
    if (typeof m[key] !== 'number') throw new StemstreamError('BAD_MODEL', `${c.what} must be a number; ${c.fix}`);
    return check(m[key] as number, c);
  };
  const sampleRate = numeric('sampleRate', checkSampleRate);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(m)) if (!KNOWN.has(key)) extra[key] = value;
  return {
    name: optionalName(m.name, where),
    where,
    sources: m.sources === undefined
      ? undefined
      : checkStemNames(m.sources, ctx('sources', 'its "sources" must be the model\'s stem names, like ["drums", "bass", "other", "vocals"]')),
    layout: optionalString(m, 'layout', where),
    sampleRate,
    channels: numeric('channels', checkChannels),
    segmentSamples: numeric('segmentSamples', (n, c) => checkSegmentSamples(n, sampleRate, c)),
    license: optionalString(m, 'license', where),
    convertedFrom: optionalString(m, 'convertedFrom', where),
    extra,
  };
}

function optionalString(m: Record<string, unknown>, key: string, where: string): string | undefined {
  if (m[key] !== undefined && typeof m[key] !== 'string') throw refused(where, `"${key}" must be a string`);
  return m[key] as string | undefined;
}

function optionalName(name: unknown, where: string): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string') throw refused(where, '"name" must be a string');
  if (name.length === 0 || name.length > MAX_NAME_CHARS || escapeUnsafe(name) !== name) {
    throw refused(where, `"name" is ${quoteUntrusted(name)}; give 1 to ${MAX_NAME_CHARS} characters without control or bidi characters`);
  }
  return name;
}

/** `url` (or the older `file`), `sha256` and `bytes` of a model entry; `at` is '' or 'models[i].'. */
function readModelFile(m: Record<string, unknown>, at: string, where: string): ManifestModelFile {
  const { url, file } = m;
  if (url !== undefined && file !== undefined && url !== file) {
    throw refused(where, `"${at}url" and "${at}file" name different models; keep "url" ("file" is its older spelling)`);
  }
  const ref = url ?? file;
  if (typeof ref !== 'string' || ref.trim().length === 0) {
    throw refused(where, `"${at}url" must be the model file, relative to the manifest (a non-empty string)`);
  }
  if (/\.json([?#]|$)/i.test(ref)) {
    throw refused(where, `"${at}url" is ${quoteUntrusted(ref)}, a manifest; a set's members are model files: copy that manifest's "url", "sha256" and "bytes" here`);
  }
  const { sha256, bytes } = m;
  if (sha256 !== undefined && (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256))) {
    throw refused(where, `"${at}sha256" is ${quoteUntrusted(sha256)}, it must be 64 hex digits (the model's SHA-256, e.g. from \`sha256sum model.onnx\`)`);
  }
  if (bytes !== undefined && !(typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= MAX_MODEL_BYTES)) {
    throw refused(where, `"${at}bytes" is ${quoteUntrusted(bytes)}, it must be the model's size, a whole number from 0 to ${MAX_MODEL_BYTES}`);
  }
  return { url: resolveManifestUrl(where, ref), sha256: sha256?.toLowerCase(), bytes };
}

function readMembers(models: unknown, sources: string[] | undefined, where: string): SetMemberManifest[] {
  if (!Array.isArray(models) || models.length === 0) {
    throw refused(where, 'a set must have a non-empty "models" list of { "url": ..., "weights": [...] }');
  }
  const fix = 'fix the set manifest';
  checkSetModelCount(models.length, { what: `model manifest ${where}: the number of "models"`, fix });
  return models.map((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw refused(where, `models[${i}] must be an object { "url": "model.onnx", "weights": [...] }`);
    }
    const e = entry as Record<string, unknown>;
    const file = readModelFile(e, `models[${i}].`, where);
    if (e.weights === undefined) return file;
    const w = e.weights;
    if (!Array.isArray(w) || !w.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) {
      throw refused(where, `models[${i}].weights must be a list of non-negative numbers, one per source`);
    }
    const what = `model manifest ${where}: the length of models[${i}].weights`;
    if (sources !== undefined && w.length !== sources.length) {
      throw new StemstreamError('BAD_MODEL', `${what} is ${w.length}, but "sources" names ${sources.length} stems; ${fix}: one weight per stem`);
    }
    checkStemCount(w.length, { what, fix: `${fix}: one weight per stem` });
    return { ...file, weights: [...(w as number[])] };
  });
}

/**
 * `ref` resolved against the manifest at `where`. A URL manifest (any scheme:
 * https, file, blob) resolves as the browser does, so the CLI and the page
 * agree; a path manifest joins by path. Absolute refs stay as they are.
 */
export function resolveManifestUrl(where: string, ref: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:/i;
  if (scheme.test(where) && !/^[a-z]:[\\/]/i.test(where)) {
    try {
      return new URL(ref, where).href;
    } catch {
      throw refused(where, `"url" ${quoteUntrusted(ref)} is not a valid URL relative to the manifest`);
    }
  }
  if (scheme.test(ref) || ref.startsWith('/') || ref.startsWith('\\')) return ref;
  const cut = Math.max(where.lastIndexOf('/'), where.lastIndexOf('\\'));
  return cut < 0 ? ref : `${where.slice(0, cut + 1)}${ref}`;
}

/** The last path segment of a URL or path, decoded: a model's default name. */
export function fileNameOf(url: string): string {
  const path = url.split(/[?#]/)[0];
  const last = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  try {
    return decodeURIComponent(last) || url;
  } catch {
    return last || url;
  }
}
