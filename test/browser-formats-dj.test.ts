/**
 * M4A in the browser: decodeAudio (src/audio/decode.ts, bundled by esbuild)
 * in Debian's Chromium, where AAC goes to WebCodecs' AudioDecoder after our
 * MP4 demuxer. On files Debian's ffmpeg makes at test time from a known
 * signal: AAC-LC must have the source's length (the edit list's encoder
 * delay and padding dropped), line up with it (lag 0) and be within codec
 * error (SNR printed); ALAC and AIFF decode bit-exact there too.
 *
 * HE-AAC is not tested: Debian's ffmpeg has no HE-AAC encoder (that is
 * libfdk_aac, which Debian does not build).
 */
import { createServer, type Server } from 'node:http';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { decodeAudio } from '../src/audio/decode.js';
import type { AudioData } from '../src/audio/types.js';
import { launchChromium, requireChromium } from './fixtures/demo-site.js';
import { parseMp4 } from '../src/audio/mp4.js';
import { alignment, chirpSignal, encodeSignal, encodedAudioDir, requireFfmpeg, withItunSmpb, type EncodedSignal } from './fixtures/encoded-audio.js';
import { exactDifference } from './reference/compare.js';

const ROOT = join(import.meta.dirname, '..');

/** 1.3 s and a few samples: not a whole number of AAC frames (1024). */
const FRAMES = Math.round(44100 * 1.3) + 7;

const MADE = {
  'aac256.m4a': ['m4a-aac-256k', 'pcm16'], // index first (+faststart)
  'aac128-moov-last.m4a': ['m4a', 'pcm16'], // index after the audio, as ffmpeg writes by default
  'aac-no-editlist.m4a': ['m4a-aac-no-editlist', 'pcm16'], // its delay given by an iTunSMPB tag, added below
  'alac24.m4a': ['m4a-alac', 'pcm24'],
  's16.aiff': ['aiff', 'pcm16'],
} as const;

let dir: string;
const files = new Map<string, EncodedSignal>();
let browser: Browser | undefined;
let server: Server | undefined;
let base = '';

beforeAll(async () => {
  requireFfmpeg();
  requireChromium();
  dir = await encodedAudioDir();
  for (const [name, [format, pcm]] of Object.entries(MADE)) files.set(name, await encodeSignal(chirpSignal(44100, 2, FRAMES), dir, name, format, pcm));
  const bundle = await build({
    entryPoints: [join(ROOT, 'src', 'audio', 'decode.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    // Loaded on first use for their formats only; none is decoded here.
    external: ['@wasm-audio-decoders/*', 'mpg123-decoder', 'ogg-opus-decoder'],
  });
  const served = new Map<string, [string, Uint8Array | string]>([
    ['/', ['text/html', '<!doctype html><script type="module">import { decodeAudio } from "/decode.js"; window.decodeAudio = decodeAudio;</script>']],
    ['/decode.js', ['text/javascript', bundle.outputFiles[0].text]],
  ]);
  for (const [name, f] of files) served.set(`/${name}`, ['application/octet-stream', f.bytes]);
  // iTunes' way: no edit list, the gapless tag. ffmpeg's AAC delay is 1024; the padding is the rest of the last frame.
  const plain = file('aac-no-editlist.m4a').bytes;
  const total = parseMp4(plain).durations.reduce((a, b) => a + b, 0);
  served.set('/aac-itunsmpb.m4a', ['application/octet-stream', withItunSmpb(plain, { delay: 1024, padding: total - 1024 - FRAMES, length: FRAMES })]);
  server = createServer((req, res) => {
    const entry = served.get(req.url ?? '');
    if (!entry) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': entry[0] }).end(entry[1]);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const file = (name: keyof typeof MADE): EncodedSignal => files.get(name)!;

/** decodeAudio in a page (127.0.0.1: a secure context, so WebCodecs is there), on a served file or on `bytes`. */
async function decodeInPage(name: string, bytes?: Uint8Array): Promise<{ audio?: AudioData; warnings: string[]; error?: string }> {
  const page = await browser!.newPage();
  try {
    await page.goto(`${base}/`);
    await page.waitForFunction(() => 'decodeAudio' in window);
    const r = await page.evaluate(
      async ({ name, bytes }) => {
        const decode = (window as unknown as { decodeAudio: typeof decodeAudio }).decodeAudio;
        const data = bytes ? new Uint8Array(bytes) : new Uint8Array(await (await fetch(`/${name}`)).arrayBuffer());
        const warnings: string[] = [];
        // Float32 bytes as base64: far less to carry than a JSON array of numbers.
        const base64 = (c: Float32Array) => {
          const b = new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
          let text = '';
          for (let i = 0; i < b.length; i += 0x8000) text += String.fromCharCode(...b.subarray(i, i + 0x8000));
          return btoa(text);
        };
        try {
          const a = await decode(data, name, { onWarning: (m: string) => warnings.push(m) });
          return { sampleRate: a.sampleRate, channels: a.channels.map(base64), warnings };
        } catch (e) {
          return { warnings, error: String(e) };
        }
      },
      { name, bytes: bytes ? Array.from(bytes) : undefined },
    );
    if (!r.channels) return { warnings: r.warnings, error: r.error };
    const floats = (b64: string) => {
      const b = Buffer.from(b64, 'base64');
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    };
    return { audio: { sampleRate: r.sampleRate!, channels: r.channels.map(floats) }, warnings: r.warnings };
  } finally {
    await page.close();
  }
}

describe('M4A and AIFF in Chromium', () => {
  for (const [name, minSnr] of [['aac256.m4a', 30], ['aac128-moov-last.m4a', 25], ['aac-itunsmpb.m4a', 30]] as const) {
    it(`AAC-LC ${name}: the source's length, in place (lag 0), within codec error`, async () => {
      const f = file(name === 'aac-itunsmpb.m4a' ? 'aac-no-editlist.m4a' : name);
      const { audio, warnings, error } = await decodeInPage(name);
      expect(error).toBeUndefined();
      expect(warnings).toEqual([]);
      expect(audio!.sampleRate).toBe(44100);
      expect(audio!.channels.map((c) => c.length)).toEqual([FRAMES, FRAMES]);
      for (let c = 0; c < 2; c++) {
        // Away from the ends, where the codec's transients are.
        const { lag, snrDb } = alignment(audio!.channels[c], f.pcm.channels[c], 2048, FRAMES - 2048, 1100);
        console.log(`${name} channel ${c}: lag ${lag}, SNR ${snrDb.toFixed(1)} dB against the source`);
        expect(lag).toBe(0);
        expect(snrDb).toBeGreaterThan(minSnr);
      }
    }, 30_000);
  }

  it('negative control: with the edit list zeroed, the encoder delay stays in (1024 samples late) and the length is off', async () => {
    const f = file('aac256.m4a');
    const bytes = f.bytes.slice();
    const elst = Buffer.from(bytes).indexOf('elst');
    const view = new DataView(bytes.buffer);
    expect(view.getInt32(elst + 16, false)).toBe(1024); // media_time: ffmpeg's AAC priming
    view.setInt32(elst + 16, 0, false);
    const { audio, error } = await decodeInPage('patched.m4a', bytes);
    expect(error).toBeUndefined();
    expect(audio!.channels[0].length).not.toBe(FRAMES);
    expect(alignment(audio!.channels[0], f.pcm.channels[0], 2048, FRAMES - 2048, 1100).lag).toBe(1024);
  }, 30_000);

  it('ALAC and AIFF decode bit-exact in the browser too', async () => {
    for (const name of ['alac24.m4a', 's16.aiff'] as const) {
      const { audio, error } = await decodeInPage(name);
      expect(error).toBeUndefined();
      expect(exactDifference(audio!, file(name).pcm), name).toBeUndefined();
    }
  }, 30_000);
});
