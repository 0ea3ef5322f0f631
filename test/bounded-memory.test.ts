/**
 * Issue 10, bounded memory: `separate` and `stream` read a WAV input from disk
 * as the run goes (WavFileReader, AudioSource) and write the output as it
 * becomes final, with the same numbers as the whole-file path. That peak
 * memory does not grow with the input's length (10-minute and 2-minute
 * inputs): test/bounded-memory-long.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChannelCount } from '../src/audio/channels.js';
import { countNonFinite } from '../src/audio/finite.js';
import type { AudioData } from '../src/audio/types.js';
import { WavFileReader, encodeWav, parseWav } from '../src/audio/wav.js';
import { runHeadlessStream } from '../src/node/node-harness.js';
import { loadModel, type SeparationModel } from '../src/model/model.js';
import { SCAN_FRAMES, channelSource, finiteSource, memorySource, scanSource } from '../src/separate/audio-source.js';
import { IDENTITY_STATS, trackStats } from '../src/separate/normalize.js';
import { separate, type SeparateOptions } from '../src/separate/separate.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'stemstream-bounded-'));
const modelPath = join(dir, 'tiny.onnx');
writeFileSync(modelPath, makeDemucsLayoutModel());
const STEMS = ['drums', 'bass', 'other', 'vocals'];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 24 });
  return { code: r.status, stderr: r.stderr };
}

/** Deterministic test signal: a tone per channel, noise, an offset (so the mean and std matter). */
function signal(channels: number, frames: number, seed = 1): Float32Array[] {
  let s = seed >>> 0;
  return Array.from({ length: channels }, (_, c) => {
    const ch = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      ch[i] = 0.4 * Math.sin(i / (17 + 5 * c)) + (s / 2 ** 32 - 0.5) * 0.6 + 0.03;
    }
    return ch;
  });
}

type Encoding = { name: string; tag: 1 | 3; bits: 8 | 16 | 24 | 32 | 64; extensible?: boolean };
const ENCODINGS: Encoding[] = [
  { name: 'PCM 8-bit', tag: 1, bits: 8 },
  { name: 'PCM 16-bit', tag: 1, bits: 16 },
  { name: 'PCM 24-bit', tag: 1, bits: 24 },
  { name: 'PCM 32-bit', tag: 1, bits: 32 },
  { name: 'float 32-bit', tag: 3, bits: 32 },
  { name: 'float 64-bit', tag: 3, bits: 64 },
  { name: 'PCM 24-bit, WAVE_FORMAT_EXTENSIBLE', tag: 1, bits: 24, extensible: true },
];

/**
 * A WAV of any format parseWav reads, built by hand: an odd-sized LIST chunk
 * (with its pad byte) between 'fmt ' and 'data'. Float files get NaN and ±Infinity.
 */
function wavBytes(enc: Encoding, channels: Float32Array[], opts: { dataSize?: number; cutTo?: number } = {}): Uint8Array {
  const C = channels.length;
  const frames = channels[0].length;
  const bps = enc.bits / 8;
  const fmtSize = enc.extensible ? 40 : 16;
  const list = 'INFOjunk!'; // 9 bytes: odd, padded
  const dataBytes = frames * C * bps;
  const total = 12 + 8 + fmtSize + 8 + list.length + 1 + 8 + dataBytes;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  const ascii = (at: number, s: string) => { for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i); };
  ascii(0, 'RIFF');
  v.setUint32(4, total - 8, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, fmtSize, true);
  v.setUint16(20, enc.extensible ? 0xfffe : enc.tag, true);
  v.setUint16(22, C, true);
  v.setUint32(24, 44100, true);
  v.setUint32(28, 44100 * C * bps, true);
  v.setUint16(32, C * bps, true);
  v.setUint16(34, enc.bits, true);
  if (enc.extensible) {
    v.setUint16(36, 22, true);
    v.setUint16(38, enc.bits, true);
    v.setUint32(40, 0, true);
    v.setUint16(44, enc.tag, true);
    out.set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 46);
  }
  let p = 20 + fmtSize;
  ascii(p, 'LIST');
  v.setUint32(p + 4, list.length, true);
  ascii(p + 8, list);
  p += 8 + list.length + 1;
  ascii(p, 'data');
  v.setUint32(p + 4, opts.dataSize ?? dataBytes, true);
  p += 8;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < C; c++, p += bps) {
      const x = channels[c][i];
      const int = (scale: number) => Math.max(-scale, Math.min(scale - 1, Math.round(x * scale)));
      if (enc.tag === 3) {
        const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][(i * C + c) % 997];
        const y = special ?? x;
        if (enc.bits === 32) v.setFloat32(p, y, true);
        else v.setFloat64(p, y + 1e-12 * i, true);
      } else if (enc.bits === 8) out[p] = int(128) + 128;
      else if (enc.bits === 16) v.setInt16(p, int(32768), true);
      else if (enc.bits === 24) {
        const n = int(8388608);
        out[p] = n & 0xff;
        out[p + 1] = (n >> 8) & 0xff;
        out[p + 2] = (n >> 16) & 0xff;
      } else v.setInt32(p, int(2147483648), true);
    }
  }
  return opts.cutTo !== undefined ? out.slice(0, opts.cutTo) : out;
}

/** The bits of two sample arrays are the same (NaN payloads included). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** What reading [start, start + frames) must give: the decoded samples, zeros outside the track. */
function expected(audio: AudioData, start: number, frames: number): Float32Array[] {
  return audio.channels.map((ch) => {
    const out = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      const t = start + i;
      out[i] = t >= 0 && t < ch.length ? ch[t] : 0;
    }
    return out;
  });
}

let counter = 0;
function writeTemp(bytes: Uint8Array, name = `in-${counter++}.wav`): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('WavFileReader reads exactly what parseWav gives', () => {
  const frames = 3001;
  for (const enc of ENCODINGS) {
    for (const C of [1, 2]) {
      it(`${enc.name}, ${C} channel(s): any range, across both ends, with a small and the default read-ahead`, async () => {
        const bytes = wavBytes(enc, signal(C, frames, 7 + C));
        const decoded = parseWav(bytes);
        const path = writeTemp(bytes);
        for (const readAheadBytes of [1000, undefined]) {
          const reader = await WavFileReader.open(path, { readAheadBytes });
          try {
            expect([reader.sampleRate, reader.channelCount, reader.length, reader.isFloat]).toEqual([44100, C, frames, enc.tag === 3]);
            const ranges: [number, number][] = [[0, frames], [-37, 100], [frames - 50, 110], [frames + 3, 7], [-20, 15], [1234, 1], [500, 0], [-5, frames + 10]];
            // A sweep of odd-sized reads, as segments and quanta come.
            for (let s = -13; s < frames + 40; s += 97) ranges.push([s, 97]);
            for (const [start, n] of ranges) {
              const offset = 5;
              const dst = Array.from({ length: C }, () => new Float32Array(n + offset + 3).fill(9));
              reader.read(start, n, dst, offset);
              const want = expected(decoded, start, n);
              for (let c = 0; c < C; c++) {
                expect(sameBits(dst[c].subarray(offset, offset + n), want[c]), `${start} +${n} ch ${c}`).toBe(true);
                expect([...dst[c].subarray(0, offset), ...dst[c].subarray(offset + n)].every((x) => x === 9)).toBe(true);
              }
            }
          } finally {
            reader.close();
          }
        }
      });
    }
  }

  it('a truncated file: the same warning as parseWav (or the same error without onWarning); a size of 0 reads to the end', async () => {
    const full = wavBytes(ENCODINGS[1], signal(2, 2000));
    const cut = full.slice(0, full.length - 1001);
    const path = writeTemp(cut, 'cut.wav');
    const ours: string[] = [];
    const theirs: string[] = [];
    const reader = await WavFileReader.open(path, { onWarning: (m) => ours.push(m) });
    const decoded = parseWav(cut, { onWarning: (m) => theirs.push(m) });
    expect(ours).toEqual(theirs);
    expect(ours[0]).toMatch(/decoded 1749 of the 2000 samples the WAV header declares/);
    expect(reader.length).toBe(decoded.channels[0].length);
    const dst = [new Float32Array(reader.length), new Float32Array(reader.length)];
    reader.read(0, reader.length, dst);
    reader.close();
    for (let c = 0; c < 2; c++) expect(sameBits(dst[c], decoded.channels[c])).toBe(true);
    let message = 'no error';
    try {
      parseWav(cut);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^truncated WAV file: the data chunk declares/);
    await expect(WavFileReader.open(path)).rejects.toThrow(message);

    const unpatched = wavBytes(ENCODINGS[1], signal(2, 2000), { dataSize: 0 });
    const r2 = await WavFileReader.open(writeTemp(unpatched));
    expect(r2.length).toBe(parseWav(unpatched).channels[0].length);
    expect(r2.length).toBe(2000);
    r2.close();
  });

  it('header errors are parseWav\'s, code and message', async () => {
    const good = encodeWav({ sampleRate: 44100, channels: signal(2, 100) }, 'pcm16');
    const adpcm = good.slice();
    new DataView(adpcm.buffer).setUint16(20, 0x0002, true);
    const rf64 = good.slice();
    rf64.set([0x52, 0x46, 0x36, 0x34], 0);
    const cases = [new TextEncoder().encode('hello, not audio'), new Uint8Array(0), adpcm, rf64, good.slice(0, 30)];
    for (const bytes of cases) {
      let want: { code?: string; message?: string } = {};
      try {
        parseWav(bytes);
      } catch (err) {
        want = { code: (err as { code?: string }).code, message: (err as Error).message };
      }
      expect(want.message).toBeDefined();
      await expect(WavFileReader.open(writeTemp(bytes))).rejects.toMatchObject(want);
    }
  });
});

describe('scanSource: trackStats and countNonFinite in streamed passes', () => {
  it('the same numbers as on the whole buffer, across scan blocks, NaN and ±Infinity counted as 0', async () => {
    const n = 2 * SCAN_FRAMES + 12345;
    const channels = signal(2, n, 3);
    channels[1][SCAN_FRAMES + 5] = Number.NaN;
    channels[0][SCAN_FRAMES + 5] = Number.POSITIVE_INFINITY;
    channels[0][n - 1] = Number.NEGATIVE_INFINITY;
    channels[1][70] = Number.NaN;
    const audio = { sampleRate: 44100, channels };
    const scan = scanSource(memorySource(audio), { stats: true });
    expect(scan.stats).toEqual(trackStats(audio));
    expect(scan.nonFinite).toEqual(countNonFinite(audio));
    expect(scan.nonFinite).toEqual({ count: 4, firstFrame: 70, firstChannel: 1 });
    expect(scanSource(memorySource(audio), { stats: false })).toEqual({ stats: IDENTITY_STATS, nonFinite: countNonFinite(audio) });

    // From a float WAV on disk (its NaN and ±Infinity included).
    const bytes = wavBytes(ENCODINGS[4], signal(2, n, 4));
    const decoded = parseWav(bytes);
    const reader = await WavFileReader.open(writeTemp(bytes));
    try {
      const fromFile = scanSource(reader, { stats: true });
      expect(fromFile.stats).toEqual(trackStats(decoded));
      expect(fromFile.nonFinite).toEqual(countNonFinite(decoded));
      expect(fromFile.nonFinite.count).toBeGreaterThan(100);
    } finally {
      reader.close();
    }

    // Edge cases trackStats has: silence, one frame, no frames.
    for (const len of [0, 1, 5000]) {
      const silent = { sampleRate: 44100, channels: [new Float32Array(len), new Float32Array(len)] };
      expect(scanSource(memorySource(silent), { stats: true }).stats).toEqual(trackStats(silent));
    }
  });

  it('channelSource and finiteSource equal toChannelCount and replaceNonFinite on the decoded buffer', () => {
    const stereo = { sampleRate: 44100, channels: signal(2, 1000) };
    stereo.channels[0][10] = Number.NaN;
    const clean = { sampleRate: 44100, channels: stereo.channels.map((ch) => ch.map((x) => (Number.isFinite(x) ? x : 0))) };
    const mono = toChannelCount(clean, 1);
    const dst = [new Float32Array(1100)];
    channelSource(finiteSource(memorySource(stereo)), 1).read(-50, 1100, dst);
    expect(sameBits(dst[0], expected(mono, -50, 1100)[0])).toBe(true);
    const up = toChannelCount({ sampleRate: 44100, channels: [mono.channels[0]] }, 2);
    const two = [new Float32Array(900), new Float32Array(900)];
    channelSource(memorySource(mono), 2).read(300, 900, two);
    for (let c = 0; c < 2; c++) expect(sameBits(two[c], expected(up, 300, 900)[c])).toBe(true);
    // 5.1 → stereo: the BS.775 downmix, per read, as toChannelCount() on the buffer.
    const surround = { sampleRate: 44100, channels: signal(6, 1000) };
    const down = [new Float32Array(700), new Float32Array(700)];
    channelSource(memorySource(surround), 2).read(400, 700, down);
    for (let c = 0; c < 2; c++) expect(sameBits(down[c], expected(toChannelCount(surround, 2), 400, 700)[c])).toBe(true);
    expect(() => channelSource(memorySource({ sampleRate: 44100, channels: signal(6, 10) }), 4)).toThrow(/only mono ↔ stereo and multichannel → stereo or mono are converted/);
  });
});

describe('separate() from a WAV file on disk equals separate() of the decoded buffer, bit for bit', () => {
  let model: SeparationModel;
  beforeAll(async () => {
    model = await loadModel(modelPath, { threads: 1 });
  });
  afterAll(async () => {
    await model.dispose();
  });

  const variants: [string, SeparateOptions][] = [
    ['defaults (track normalisation)', {}],
    ['no normalisation', { normalize: false }],
    ['overlap 0.5, 2 shifts', { overlap: 0.5, shifts: 2, seed: 3 }],
  ];
  for (const [name, options] of variants) {
    it(`24-bit stereo, ${name}`, async () => {
      const bytes = wavBytes(ENCODINGS[2], signal(2, 44100 + 333, 11));
      const decoded = parseWav(bytes);
      const reader = await WavFileReader.open(writeTemp(bytes));
      try {
        const fromFile = await separate(reader, model, options);
        const inMemory = await separate(decoded, model, options);
        expect(fromFile.stats.normalization).toEqual(inMemory.stats.normalization);
        for (const stem of STEMS) for (let c = 0; c < 2; c++) expect(sameBits(fromFile.stems[stem][c], inMemory.stems[stem][c]), `${stem} ${c}`).toBe(true);
      } finally {
        reader.close();
      }
    });
  }

  it('a float WAV with NaN/±Infinity (counted and warned about the same way), and a mono WAV made stereo per read', async () => {
    const floatBytes = wavBytes(ENCODINGS[4], signal(2, 30000, 12));
    const reader = await WavFileReader.open(writeTemp(floatBytes));
    try {
      const warnings: string[][] = [[], []];
      const fromFile = await separate(reader, model, { onWarning: (w) => warnings[0].push(w) });
      const inMemory = await separate(parseWav(floatBytes), model, { onWarning: (w) => warnings[1].push(w) });
      expect(warnings[0]).toEqual(warnings[1]);
      expect(fromFile.stats.nonFiniteSamples).toBe(inMemory.stats.nonFiniteSamples);
      expect(fromFile.stats.nonFiniteSamples).toBeGreaterThan(0);
      for (const stem of STEMS) for (let c = 0; c < 2; c++) expect(sameBits(fromFile.stems[stem][c], inMemory.stems[stem][c])).toBe(true);
    } finally {
      reader.close();
    }

    const monoBytes = wavBytes(ENCODINGS[1], signal(1, 30000, 13));
    const monoReader = await WavFileReader.open(writeTemp(monoBytes));
    try {
      const fromFile = await separate(channelSource(monoReader, 2), model);
      const inMemory = await separate(toChannelCount(parseWav(monoBytes), 2), model);
      for (const stem of STEMS) for (let c = 0; c < 2; c++) expect(sameBits(fromFile.stems[stem][c], inMemory.stems[stem][c])).toBe(true);
    } finally {
      monoReader.close();
    }
  });
});

describe('CLI on a WAV: the same bytes as the whole-file path', () => {
  const stereo16 = join(dir, 'stereo16.wav');
  const mono24 = join(dir, 'mono24.wav');
  writeFileSync(stereo16, encodeWav({ sampleRate: 44100, channels: signal(2, 3 * 44100 + 111, 21) }, 'pcm16'));
  writeFileSync(mono24, encodeWav({ sampleRate: 44100, channels: signal(1, 2 * 44100 + 7, 22) }, 'pcm24'));
  const bytesOf = (path: string) => new Uint8Array(readFileSync(path));

  it('separate: 16-bit stems of a stereo WAV; --two-stems vocals --float of a mono 24-bit WAV (mix − vocals)', async () => {
    const model = await loadModel(modelPath, { threads: 1 });
    try {
      const out = join(dir, 'sep-a');
      const r = cli(['separate', stereo16, '--model', modelPath, '-o', out, '--threads', '1']);
      expect(r.code, r.stderr).toBe(0);
      const lib = await separate(parseWav(bytesOf(stereo16)), model);
      for (const stem of STEMS) expect(Buffer.compare(bytesOf(join(out, `${stem}.wav`)), encodeWav({ sampleRate: 44100, channels: lib.stems[stem] }, 'pcm16')), stem).toBe(0);

      const out2 = join(dir, 'sep-b');
      const r2 = cli(['separate', mono24, '--model', modelPath, '-o', out2, '--two-stems', 'vocals', '--float', '--threads', '1']);
      expect(r2.code, r2.stderr).toBe(0);
      expect(r2.stderr).toMatch(/^converting 1 channel\(s\) → 2$/m);
      const mix = toChannelCount(parseWav(bytesOf(mono24)), 2);
      const lib2 = await separate(mix, model);
      const vocals = lib2.stems.vocals;
      const rest = mix.channels.map((ch, c) => ch.map((x, i) => x - vocals[c][i]));
      expect(Buffer.compare(bytesOf(join(out2, 'vocals.wav')), encodeWav({ sampleRate: 44100, channels: vocals }, 'float32'))).toBe(0);
      expect(Buffer.compare(bytesOf(join(out2, 'accompaniment.wav')), encodeWav({ sampleRate: 44100, channels: rest }, 'float32'))).toBe(0);
    } finally {
      await model.dispose();
    }
  });

  it('stream: mix and stems written as rendered equal the whole-file run of the engine; the stats count the same frames', async () => {
    const out = join(dir, 'stream-a');
    const json = join(dir, 'stream-a.json');
    const r = cli(['stream', stereo16, '--model', modelPath, '-o', out, '--json', json, '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const stats = JSON.parse(readFileSync(json, 'utf8')) as { latencySamples: number; inputFrames: number; outputFrames: number; underruns: number };
    const ref = await runHeadlessStream(parseWav(bytesOf(stereo16)), new Uint8Array(readFileSync(modelPath)), { threads: 1 });
    expect(stats.inputFrames).toBe(3 * 44100 + 111);
    expect(stats.outputFrames).toBe(ref.mix[0].length);
    expect(stats.latencySamples).toBe(ref.latencySamples);
    expect(stats.underruns).toBe(0);
    expect(Buffer.compare(bytesOf(join(out, 'mix.wav')), encodeWav({ sampleRate: 44100, channels: ref.mix }, 'pcm16'))).toBe(0);
    for (const stem of STEMS) expect(Buffer.compare(bytesOf(join(out, `${stem}.wav`)), encodeWav({ sampleRate: 44100, channels: ref.stems[stem] }, 'pcm16')), stem).toBe(0);
  });
});
