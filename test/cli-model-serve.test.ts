/**
 * `stemstream model web` (a model and its manifest for web pages, on a tiny
 * demucs-layout model) and `stemstream serve` (the cross-origin-isolated static
 * server), both run as a user runs them: the CLI in a child process.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startStaticServer } from '../src/cli/serve-command.js';
import { parseManifest } from '../src/model/manifest.js';
import { describeModel, loadModel } from '../src/model/model.js';
import { separate } from '../src/separate/separate.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { maxAbsDiff, sdr } from './reference/compare.js';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'stemstream-model-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Seeded noise, `frames` long, in [-0.5, 0.5). */
function noise(channels: number, frames: number, seed: number): Float32Array[] {
  let s = seed >>> 0;
  return Array.from({ length: channels }, () => Float32Array.from({ length: frames }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  }));
}

describe('stemstream model web', () => {
  // Both paths of the model carry signal, so that the manifest's model must get both right.
  const gains = { waveGains: [[0.25, 0.5], [0, 0.125], [0.5, 0], [0.25, 0.375]], waveRamp: true };
  const source = join(dir, 'my tiny.onnx');
  writeFileSync(source, makeDemucsLayoutModel(gains));
  const out = join(dir, 'site', 'models');
  const modelPath = join(out, 'my-tiny-fp16.onnx');
  const manifestPath = join(out, 'default.json');

  it('writes <name>-fp16.onnx and default.json; the manifest parses, its sha256 and size are the file\'s, the model separates like its source', async () => {
    const r = cli('model', 'web', '--from', source, '-o', out);
    expect(r.stderr).toMatch(/parity passed/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*my-tiny-fp16\.onnx .* and .*default\.json in [0-9.]+ s; in a page in the folder that holds models\/: <stem-player model="models\/default\.json">\n$/);
    const bytes = new Uint8Array(readFileSync(modelPath));
    const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
    expect(manifest.kind).toBe('model');
    if (manifest.kind !== 'model') return;
    expect(manifest.url).toBe(modelPath);
    expect(manifest.sha256).toBe(sha256(bytes));
    expect(manifest.bytes).toBe(bytes.length);
    expect(manifest.name).toBe('my-tiny (fp16 weights)');
    expect(manifest.sources).toEqual(['drums', 'bass', 'other', 'vocals']);
    // A user's file: no licence is claimed for it.
    expect(manifest.license).toBeUndefined();
    expect(r.stderr).not.toMatch(/licen[cs]e/i);
    const info = describeModel(bytes, modelPath);
    expect(info.layout.kind).toBe('canonical');
    expect(info.metadata.weights).toBe('float16');
    expect(info.metadata.source_sha256).toBe(sha256(new Uint8Array(readFileSync(source))));

    const audio = { sampleRate: 44100, channels: noise(2, 15000, 7) };
    const [web, original] = [await loadModel(modelPath), await loadModel(source)];
    try {
      const got = await separate(audio, web);
      const want = await separate(audio, original);
      for (const stem of info.sources) {
        for (let c = 0; c < 2; c++) {
          // float16 weights: half a float16 ulp of the signal (< 2^-11 relative), far below audibility.
          expect(maxAbsDiff(got.stems[stem][c], want.stems[stem][c])).toBeLessThan(1e-3);
        }
        expect(sdr(want.stems[stem], got.stems[stem])).toBeGreaterThan(60);
      }
      // The control: stems differ from one another, so equal stems above are no accident.
      expect(maxAbsDiff(got.stems.drums[0], got.stems.bass[0])).toBeGreaterThan(0.01);
    } finally {
      await web.dispose();
      await original.dispose();
    }
  });

  it('run again: nothing is converted and nothing rewritten; another source under the same name, or --force, converts again', () => {
    const before = { model: statSync(modelPath).mtimeMs, manifest: readFileSync(manifestPath, 'utf8'), manifestTime: statSync(manifestPath).mtimeMs };
    const again = cli('model', 'web', '--from', source, '-o', out);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/nothing to convert/);
    expect(again.stderr).not.toMatch(/parity/);
    expect(again.stdout).toMatch(/are up to date/);
    expect(statSync(modelPath).mtimeMs).toBe(before.model);
    expect(statSync(manifestPath).mtimeMs).toBe(before.manifestTime);

    const forced = cli('model', 'web', '--from', source, '-o', out, '--force');
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/parity passed/);

    // Same file name, other weights: the model records its source's SHA-256, so this is seen.
    writeFileSync(source, makeDemucsLayoutModel({ ...gains, waveGains: [[1, 1], [0, 0], [0, 0], [0, 0]] }));
    const changed = cli('model', 'web', '--from', source, '-o', out);
    expect(changed.code).toBe(0);
    expect(changed.stderr).toMatch(/converted from another source: converting again/);
    expect(changed.stderr).toMatch(/parity passed/);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { sha256: string };
    expect(manifest.sha256).not.toBe(JSON.parse(before.manifest).sha256);
    expect(manifest.sha256).toBe(sha256(new Uint8Array(readFileSync(modelPath))));

    // A damaged model with an intact manifest is not trusted.
    writeFileSync(modelPath, readFileSync(modelPath).subarray(0, 100));
    const damaged = cli('model', 'web', '--from', source, '-o', out);
    expect(damaged.code).toBe(0);
    expect(damaged.stderr).toMatch(/differs from default\.json.*converting again/);
  });

  it('refuses, before writing anything: a file that is no ONNX model (exit 1), an output folder blocked by a file (exit 1), a wrong subcommand (exit 2)', () => {
    const notModel = join(dir, 'notes.onnx');
    writeFileSync(notModel, 'these are notes, not a model');
    const fresh = join(dir, 'never', 'models');
    const bad = cli('model', 'web', '--from', notModel, '-o', fresh);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^stemstream: .*notes\.onnx is not an ONNX model/m);
    expect(existsSync(join(dir, 'never'))).toBe(false);

    const missing = cli('model', 'web', '--from', join(dir, 'nope.onnx'), '-o', fresh);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.onnx: no such file/);

    writeFileSync(join(dir, 'blocker'), 'a file where the folder would go');
    const blocked = cli('model', 'web', '--from', source, '-o', join(dir, 'blocker', 'models'));
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/blocker is a file, not a folder/);
    expect(blocked.stderr).not.toMatch(/parity|converting/);

    const noSub = cli('model', '--from', source);
    expect(noSub.code).toBe(2);
    expect(noSub.stderr).toMatch(/model takes a subcommand: web/);
  });
});

/** `stemstream serve` in a child process; resolves with its URL once it listens. */
async function startServe(...args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; base: string; said: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', ...args], { cwd: ROOT });
  let said = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL in 20 s: ${said}`)), 20_000);
    const read = (chunk: Buffer) => {
      said += chunk.toString();
      const m = /^serving .* at (http:\/\/127\.0\.0\.1:\d+)\/ \(cross-origin isolated: COOP\/COEP set\)$/m.exec(said);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${said}`));
    });
  });
  return { child, base, said: () => said };
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A GET with the path exactly as written (fetch would normalise `..` away first). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('stemstream serve', () => {
  const site = join(dir, 'www');
  const blob = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
  mkdirSync(join(site, 'sub'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>home</title>');
  writeFileSync(join(site, 'sub', 'index.html'), '<!doctype html><title>sub</title>');
  writeFileSync(join(site, 'app.js'), 'export const x = 1;\n');
  writeFileSync(join(site, 'engine.wasm'), blob);
  writeFileSync(join(site, 'model.onnx'), blob);
  writeFileSync(join(site, 'default.json'), '{}\n');
  writeFileSync(join(site, 'song.wav'), blob);
  writeFileSync(join(dir, 'secret.txt'), 'SECRET');
  symlinkSync(join(dir, 'secret.txt'), join(site, 'out-link.txt'));
  symlinkSync(join(site, 'app.js'), join(site, 'in-link.js'));
  writeFileSync(join(site, '.env'), 'SECRET=1');
  mkdirSync(join(site, '.git'));
  writeFileSync(join(site, '.git', 'config'), '[core]');
  writeFileSync(join(site, 'sub', '.hidden'), 'hidden');
  writeFileSync(join(site, 'sub', 'visible.txt'), 'visible');

  it('closes the file when a client aborts a range request (audio elements do on every seek): no descriptor leaks', async () => {
    if (!existsSync('/proc/self/fd')) return; // Linux: the count of open descriptors
    const big = join(site, 'big.bin');
    writeFileSync(big, new Uint8Array(8 << 20));
    const server = await startStaticServer({ root: site, port: 0 });
    const fds = () => readdirSync('/proc/self/fd').length;
    try {
      const before = fds();
      for (let i = 0; i < 30; i++) {
        await new Promise<void>((done) => {
          const req = request({ host: '127.0.0.1', port: server.port, path: '/big.bin', headers: { Range: 'bytes=0-' } }, (res) => {
            res.once('data', () => { req.destroy(); done(); });
          });
          req.on('error', () => done());
          req.end();
        });
      }
      await new Promise((r) => setTimeout(r, 300)); // the server sees the closes
      expect(fds() - before).toBeLessThan(5); // 30 before the fix
    } finally {
      await server.close();
      rmSync(big);
    }
  });

  it('sends COOP/COEP/CORP and the right types, index.html for folders, 404 for missing files, byte ranges; refuses paths outside the folder', async () => {
    const { child, base, said } = await startServe(site, '--port', '0');
    try {
      const home = await fetch(`${base}/`);
      expect(home.status).toBe(200);
      expect(await home.text()).toBe('<!doctype html><title>home</title>');
      for (const [name, value] of [['cross-origin-opener-policy', 'same-origin'], ['cross-origin-embedder-policy', 'require-corp'], ['cross-origin-resource-policy', 'same-origin']]) {
        expect(home.headers.get(name)).toBe(value);
      }
      expect(home.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const types = { 'engine.wasm': 'application/wasm', 'app.js': 'text/javascript; charset=utf-8', 'default.json': 'application/json', 'model.onnx': 'application/octet-stream', 'song.wav': 'audio/wav' };
      for (const [file, type] of Object.entries(types)) {
        const res = await fetch(`${base}/${file}`);
        expect([file, res.status, res.headers.get('content-type')]).toEqual([file, 200, type]);
        expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(join(site, file)))).toBe(true);
      }
      const folder = await fetch(`${base}/sub`, { redirect: 'manual' });
      expect([folder.status, folder.headers.get('location')]).toEqual([301, '/sub/']);
      expect(await (await fetch(`${base}/sub`)).text()).toBe('<!doctype html><title>sub</title>');

      const missing = await fetch(`${base}/nope.js`);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(said()).toMatch(/404 "\/nope\.js"/);
      // A page without a favicon: the browser's automatic request is answered with no content, not a 404.
      const icon = await fetch(`${base}/favicon.ico`);
      expect([icon.status, await icon.text()]).toEqual([204, '']);

      const part = await fetch(`${base}/engine.wasm`, { headers: { Range: 'bytes=10-19' } });
      expect([part.status, part.headers.get('content-range'), part.headers.get('content-length')]).toEqual([206, 'bytes 10-19/1000', '10']);
      expect([...new Uint8Array(await part.arrayBuffer())]).toEqual([...blob.subarray(10, 20)]);
      const tail = await fetch(`${base}/engine.wasm`, { headers: { Range: 'bytes=-5' } });
      expect([...new Uint8Array(await tail.arrayBuffer())]).toEqual([...blob.subarray(995)]);
      const from = await fetch(`${base}/engine.wasm`, { headers: { Range: 'bytes=990-' } });
      expect([from.status, from.headers.get('content-range')]).toEqual([206, 'bytes 990-999/1000']);
      const beyond = await fetch(`${base}/engine.wasm`, { headers: { Range: 'bytes=1000-' } });
      expect([beyond.status, beyond.headers.get('content-range')]).toEqual([416, 'bytes */1000']);
      const head = await fetch(`${base}/engine.wasm`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-length'), head.headers.get('accept-ranges')]).toEqual([200, '1000', 'bytes']);

      // The control: a link that stays inside the folder is served.
      expect(await rawGet(base, '/in-link.js')).toEqual({ status: 200, body: 'export const x = 1;\n' });
      for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/sub/..%2F..%2Fsecret.txt', '/%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/out-link.txt']) {
        const res = await rawGet(base, path);
        expect([path, res.body.includes('SECRET')]).toEqual([path, false]);
        expect([403, 404]).toContain(res.status);
      }
      // Decoded, these name the file above the folder: refused as such, not merely missing.
      expect((await rawGet(base, '/..%2fsecret.txt')).status).toBe(403);
      // Whether a file exists out there is not told either.
      expect((await rawGet(base, '/..%2fno-such-file.txt')).status).toBe(403);
      expect((await rawGet(base, '/out-link.txt')).status).toBe(403);

      // Hidden files are not served (`serve .` in a project folder must not hand out .env or .git).
      for (const path of ['/.env', '/.git/config', '/sub/.hidden']) expect([path, (await rawGet(base, path)).status]).toEqual([path, 404]);
      expect((await rawGet(base, '/sub/visible.txt')).status).toBe(200); // the control
      // A request naming another host (DNS rebinding: a page elsewhere resolving its name to 127.0.0.1) is refused.
      expect((await rawGet(base, '/app.js', { Host: 'evil.example:8080' })).status).toBe(403);
      expect((await rawGet(base, '/app.js', { Host: `localhost:${new URL(base).port}` })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  it('a port in use is an error naming --port; SIGINT and SIGTERM stop the server and free the port', async () => {
    const first = await startServe(site, '--port', '0');
    const port = new URL(first.base).port;
    const clash = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'serve', site, '--port', port], { encoding: 'utf8', cwd: ROOT });
    expect(clash.status).toBe(1);
    expect(clash.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use.*--port`));
    for (const [server, signal] of [[first, 'SIGINT'], [await startServe(site, '--port', '0'), 'SIGTERM']] as const) {
      expect((await fetch(`${server.base}/`)).status).toBe(200);
      server.child.kill(signal);
      expect(await exited(server.child)).toBe(130);
      await expect(fetch(`${server.base}/`)).rejects.toThrow();
    }
    const badPort = cli('serve', site, '--port', '70000');
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/--port 70000: must be a port number from 0 to 65535/);
    const noDir = cli('serve', join(dir, 'no-such-folder'));
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toMatch(/no-such-folder: no such folder/);
  });
});
