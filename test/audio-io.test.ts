import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIP_STEMS, readClipMixture, readClipStem } from './fixtures/demo-clip.js';
import { toChannelCount } from '../src/audio/channels.js';
import { decodeAudio, decodeAudioFile, sniffAudio } from '../src/audio/decode.js';
import type { AudioData } from '../src/audio/types.js';
import { WavFileWriter, encodeWav, parseWav } from '../src/audio/wav.js';
import { StemstreamError, type StemstreamErrorCode } from '../src/errors.js';
import { snrVsSine } from './reference/compare.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/audio/', import.meta.url));
const figures: string[] = [];

// ---------------------------------------------------------------------------
// helpers

async function expectError(fn: () => unknown, code: StemstreamErrorCode, message?: RegExp): Promise<StemstreamError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StemstreamError);
    const e = err as StemstreamError;
    expect(e.code, e.message).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return e;
  }
  throw new Error('expected an error');
}

/** Least-squares fit of a·cos + b·sin + dc at frequency f over [from, to). */
function fitSine(x: Float32Array, f: number, fs: number, from: number, to: number) {
  // Normal equations for [cos, sin, 1].
  const A = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const y = [0, 0, 0];
  for (let n = from; n < to; n++) {
    const w = (2 * Math.PI * f * n) / fs;
    const v = [Math.cos(w), Math.sin(w), 1];
    for (let i = 0; i < 3; i++) {
      y[i] += v[i] * x[n];
      for (let j = 0; j < 3; j++) A[i][j] += v[i] * v[j];
    }
  }
  // Solve 3×3 by Cramer's rule.
  const det3 = (M: number[][]) =>
    M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) -
    M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
    M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]);
  const d = det3(A);
  const coef = [0, 1, 2].map((k) => det3(A.map((row, i) => row.map((v, j) => (j === k ? y[i] : v)))) / d);
  const [a, b, dc] = coef;
  let sig = 0;
  let err = 0;
  for (let n = from; n < to; n++) {
    const w = (2 * Math.PI * f * n) / fs;
    const fit = a * Math.cos(w) + b * Math.sin(w) + dc;
    sig += fit * fit;
    err += (x[n] - fit) ** 2;
  }
  // a·cos + b·sin = amp · sin(w + phase)
  return { amp: Math.hypot(a, b), phase: Math.atan2(a, b), snr: 10 * Math.log10(sig / err) };
}

function sine(frames: number, f: number, fs: number, amp = 0.5): Float32Array {
  const out = new Float32Array(frames);
  for (let n = 0; n < frames; n++) out[n] = amp * Math.sin((2 * Math.PI * f * n) / fs);
  return out;
}

interface WavSpec {
  formatTag: number; // 1 PCM, 3 float
  bits: number;
  channels: number;
  sampleRate: number;
  extensible?: boolean;
  /** Chunks inserted between 'fmt ' and 'data': [id, body]. */
  extraChunks?: Array<[string, Uint8Array]>;
  /** Overrides the data chunk's size field. */
  dataSizeField?: number;
}

/** Test-only WAV writer for every sample format the parser accepts. */
function buildWav(spec: WavSpec, planar: Float32Array[]): Uint8Array {
  const bps = spec.bits / 8;
  const frames = planar[0].length;
  const data = new Uint8Array(frames * spec.channels * bps);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < spec.channels; c++) {
      const p = (i * spec.channels + c) * bps;
      const v = planar[c][i];
      if (spec.formatTag === 3) {
        if (bps === 4) dv.setFloat32(p, v, true);
        else dv.setFloat64(p, v, true);
      } else if (bps === 1) dv.setUint8(p, Math.round(v * 128) + 128);
      else if (bps === 2) dv.setInt16(p, Math.round(v * 32768), true);
      else if (bps === 3) {
        const q = Math.round(v * 8388608);
        dv.setUint8(p, q & 255);
        dv.setUint8(p + 1, (q >> 8) & 255);
        dv.setUint8(p + 2, (q >> 16) & 255);
      } else dv.setInt32(p, Math.round(v * 2147483648), true);
    }
  }
  const fmt = new Uint8Array(spec.extensible ? 40 : 16);
  const fv = new DataView(fmt.buffer);
  fv.setUint16(0, spec.extensible ? 0xfffe : spec.formatTag, true);
  fv.setUint16(2, spec.channels, true);
  fv.setUint32(4, spec.sampleRate, true);
  fv.setUint32(8, spec.sampleRate * spec.channels * bps, true);
  fv.setUint16(12, spec.channels * bps, true);
  fv.setUint16(14, spec.bits, true);
  if (spec.extensible) {
    fv.setUint16(16, 22, true);
    fv.setUint16(18, spec.bits, true);
    fv.setUint32(20, spec.channels === 2 ? 3 : 4, true);
    // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: tag-0000-0010-8000-00aa00389b71
    fmt.set([spec.formatTag, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71], 24);
  }
  const chunks: Array<[string, Uint8Array, number?]> = [['fmt ', fmt], ...(spec.extraChunks ?? []), ['data', data, spec.dataSizeField]];
  let total = 12;
  for (const [, body] of chunks) total += 8 + body.length + (body.length & 1);
  const out = new Uint8Array(total);
  const ov = new DataView(out.buffer);
  const ascii = (at: number, s: string) => [...s].forEach((ch, i) => (out[at + i] = ch.charCodeAt(0)));
  ascii(0, 'RIFF');
  ov.setUint32(4, total - 8, true);
  ascii(8, 'WAVE');
  let p = 12;
  for (const [id, body, sizeField] of chunks) {
    ascii(p, id);
    ov.setUint32(p + 4, sizeField ?? body.length, true);
    out.set(body, p + 8);
    p += 8 + body.length + (body.length & 1);
  }
  return out;
}

function testSignal(frames: number, channels: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let c = 0; c < channels; c++) {
    const x = sine(frames, 440 * (c + 1), 44100, 0.9);
    x[0] = -1; // full-scale negative is representable in every integer format
    x[1] = 0;
    out.push(x);
  }
  return out;
}

// ---------------------------------------------------------------------------
// WAV

describe('parseWav', () => {
  const formats: Array<[string, number, number, number]> = [
    // name, formatTag, bits, max abs error allowed (quantisation step / 2)
    ['pcm u8', 1, 8, 0.5 / 128],
    ['pcm s16', 1, 16, 0.5 / 32768],
    ['pcm s24', 1, 24, 0.5 / 8388608 + 1e-7],
    ['pcm s32', 1, 32, 1e-7],
    ['float32', 3, 32, 0],
    ['float64', 3, 64, 1e-7],
  ];
  for (const [name, formatTag, bits, tol] of formats) {
    for (const extensible of [false, true]) {
      it(`reads ${name}${extensible ? ' (WAVE_FORMAT_EXTENSIBLE)' : ''}, stereo 44.1 kHz`, () => {
        const planar = testSignal(1000, 2);
        const audio = parseWav(buildWav({ formatTag, bits, channels: 2, sampleRate: 44100, extensible }, planar));
        expect(audio.sampleRate).toBe(44100);
        expect(audio.channels.length).toBe(2);
        for (let c = 0; c < 2; c++) {
          expect(audio.channels[c].length).toBe(1000);
          let maxErr = 0;
          for (let i = 0; i < 1000; i++) maxErr = Math.max(maxErr, Math.abs(audio.channels[c][i] - planar[c][i]));
          expect(maxErr).toBeLessThanOrEqual(tol);
          expect(audio.channels[c][0]).toBe(-1);
        }
      });
    }
  }

  it('skips unknown chunks, including odd-sized ones with their pad byte', () => {
    const planar = testSignal(101, 1);
    const odd = new Uint8Array([1, 2, 3, 4, 5]); // 5 bytes + 1 pad byte
    const list = new TextEncoder().encode('INFOISFT\x07\x00\x00\x00sox 14'); // 19 bytes, odd
    const bytes = buildWav(
      { formatTag: 1, bits: 16, channels: 1, sampleRate: 22050, extraChunks: [['LIST', list], ['junk', odd], ['bext', new Uint8Array(8)]] },
      planar,
    );
    const audio = parseWav(bytes);
    expect(audio.sampleRate).toBe(22050);
    expect(audio.channels[0].length).toBe(101);
    for (let i = 0; i < 101; i++) expect(Math.abs(audio.channels[0][i] - planar[0][i])).toBeLessThanOrEqual(0.5 / 32768);
  });

  it('reads an odd-length 8-bit data chunk followed by a pad byte and another chunk', () => {
    const planar = [new Float32Array([0, 0.5, -0.5])];
    const bytes = buildWav({ formatTag: 1, bits: 8, channels: 1, sampleRate: 8000 }, planar);
    // Append a trailing chunk after the (padded) data chunk.
    const tail = new Uint8Array([...new TextEncoder().encode('id3 '), 2, 0, 0, 0, 9, 9]);
    const all = new Uint8Array(bytes.length + tail.length);
    all.set(bytes);
    all.set(tail, bytes.length);
    new DataView(all.buffer).setUint32(4, all.length - 8, true);
    expect(Array.from(parseWav(all).channels[0])).toEqual([0, 0.5, -0.5]);
  });

  it('accepts a streamed WAV whose data size was never patched (0xFFFFFFFF)', () => {
    const planar = testSignal(50, 2);
    const bytes = buildWav({ formatTag: 3, bits: 32, channels: 2, sampleRate: 48000, dataSizeField: 0xffffffff }, planar);
    const audio = parseWav(bytes);
    expect(audio.channels[0]).toEqual(planar[0]);
    expect(audio.channels[1]).toEqual(planar[1]);
  });

  it('reports a truncated file with what was found', async () => {
    const bytes = encodeWav({ sampleRate: 44100, channels: testSignal(1000, 2) }, 'pcm16');
    const e = await expectError(() => parseWav(bytes.subarray(0, 2000)), 'BAD_AUDIO_FILE', /truncated/);
    expect(e.message).toMatch(/declares 4000 bytes but only 1956 bytes follow/);
    await expectError(() => parseWav(bytes.subarray(0, 30)), 'BAD_AUDIO_FILE', /truncated WAV file: 'fmt ' chunk/);
    await expectError(() => parseWav(bytes.subarray(0, 36)), 'BAD_AUDIO_FILE', /no 'data' chunk \(chunks found: fmt \)/);
    await expectError(() => parseWav(bytes.subarray(0, 12)), 'BAD_AUDIO_FILE', /no 'fmt ' chunk/);
    await expectError(() => parseWav(bytes.subarray(0, 7)), 'BAD_AUDIO_FILE', /only 7 bytes/);
    await expectError(() => parseWav(new Uint8Array(0)), 'BAD_AUDIO_FILE', /empty/);
  });

  it('rejects non-WAV data and garbage chunks, saying what it found', async () => {
    const text = new TextEncoder().encode('<!DOCTYPE html><html>not audio</html>');
    await expectError(() => parseWav(text), 'BAD_AUDIO_FILE', /expected "RIFF....WAVE" at the start, found "<!DO"/);
    const garbage = buildWav({ formatTag: 1, bits: 16, channels: 1, sampleRate: 8000 }, [new Float32Array(4)]);
    garbage.set([0xde, 0xad, 0xbe, 0xef], 36); // clobber the 'data' id
    await expectError(() => parseWav(garbage), 'BAD_AUDIO_FILE', /expected a chunk header at byte 36, found de ad be ef/);
  });

  it('rejects compressed WAV codecs and odd sample sizes as UNSUPPORTED_AUDIO_FORMAT', async () => {
    const bytes = buildWav({ formatTag: 1, bits: 16, channels: 1, sampleRate: 8000 }, [new Float32Array(4)]);
    const mp3InWav = bytes.slice();
    new DataView(mp3InWav.buffer).setUint16(20, 0x55, true);
    await expectError(() => parseWav(mp3InWav), 'UNSUPPORTED_AUDIO_FORMAT', /0x0055 \(MPEG Layer III \(MP3\)\)/);
    const pcm12 = bytes.slice();
    new DataView(pcm12.buffer).setUint16(34, 12, true);
    await expectError(() => parseWav(pcm12), 'UNSUPPORTED_AUDIO_FORMAT', /12 bits/);
    const badAlign = bytes.slice();
    new DataView(badAlign.buffer).setUint16(32, 3, true);
    await expectError(() => parseWav(badAlign), 'BAD_AUDIO_FILE', /block align is 3/);
  });
});

describe('encodeWav', () => {
  it('pcm16: header fields and exact round trip of representable values; clamps and rounds', () => {
    const l = new Float32Array([0, 0.5, -1, 1, 1.5, -2, 0.3, -0.3, 1 / 32768, NaN]);
    const r = new Float32Array(l.length).fill(0.25);
    const bytes = encodeWav({ sampleRate: 44100, channels: [l, r] }, 'pcm16');
    const dv = new DataView(bytes.buffer);
    expect(bytes.length).toBe(44 + l.length * 4);
    expect(dv.getUint32(4, true)).toBe(bytes.length - 8);
    expect(dv.getUint16(20, true)).toBe(1);
    expect(dv.getUint32(40, true)).toBe(l.length * 4);
    const back = parseWav(bytes);
    const expected = [0, 0.5, -1, 32767 / 32768, 32767 / 32768, -1, Math.round(0.3 * 32768) / 32768, Math.round(-0.3 * 32768) / 32768, 1 / 32768, 0];
    expect(Array.from(back.channels[0])).toEqual(expected.map((v) => Math.fround(v)));
    expect(Array.from(back.channels[1])).toEqual(Array(l.length).fill(0.25));
  });

  it('float32: exact round trip with fact chunk; mono and 6 channels', () => {
    for (const n of [1, 6]) {
      const planar = testSignal(777, n);
      const bytes = encodeWav({ sampleRate: 96000, channels: planar }, 'float32');
      const dv = new DataView(bytes.buffer);
      expect(dv.getUint32(4, true)).toBe(bytes.length - 8);
      expect(dv.getUint16(20, true)).toBe(3);
      expect(String.fromCharCode(...bytes.subarray(38, 42))).toBe('fact');
      expect(dv.getUint32(46, true)).toBe(777);
      expect(dv.getUint32(54, true)).toBe(777 * n * 4);
      const back = parseWav(bytes);
      expect(back.sampleRate).toBe(96000);
      back.channels.forEach((ch, c) => expect(ch).toEqual(planar[c]));
    }
  });

  it('refuses more than 4 GiB of data without allocating it', async () => {
    const huge = { length: 600_000_000 } as unknown as Float32Array; // 2 × 600M × 4 bytes > 4 GiB
    await expectError(() => encodeWav({ sampleRate: 44100, channels: [huge, huge] }, 'float32'), 'IO', /4 GiB/);
    await expectError(() => encodeWav({ sampleRate: 44100, channels: [new Float32Array(1)] }, 'mp3' as 'pcm16'), 'BAD_OPTION');
  });
});

describe('WavFileWriter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stemstream-wav-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('streams float32 blocks that parseWav reads back exactly, with correct size fields', async () => {
    const path = join(dir, 'out.wav');
    const planar = testSignal(10_000, 2);
    const w = await WavFileWriter.open(path, { sampleRate: 44100, channels: 2, format: 'float32' });
    await w.write(planar, 0, 4000);
    const buffer = (w as unknown as { buffer: Uint8Array }).buffer;
    await w.write(planar, 4000, 1); // smaller writes reuse the buffer
    await w.write(planar, 4001, 3999);
    expect((w as unknown as { buffer: Uint8Array }).buffer).toBe(buffer);
    await w.write(planar, 8000); // the rest
    expect(w.frames).toBe(10_000);
    await w.close();
    const bytes = new Uint8Array(await readFile(path));
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    expect(bytes.length).toBe(58 + 10_000 * 8);
    expect(dv.getUint32(4, true)).toBe(bytes.length - 8); // RIFF size
    expect(dv.getUint32(46, true)).toBe(10_000); // fact sample count
    expect(dv.getUint32(54, true)).toBe(10_000 * 8); // data size
    const back = parseWav(bytes);
    expect(back.sampleRate).toBe(44100);
    expect(back.channels[0]).toEqual(planar[0]);
    expect(back.channels[1]).toEqual(planar[1]);
    // The same as the in-memory encoder.
    expect(bytes).toEqual(encodeWav({ sampleRate: 44100, channels: planar }, 'float32'));
  });

  it('streams pcm16 identical to encodeWav', async () => {
    const path = join(dir, 'out16.wav');
    const planar = testSignal(3001, 1);
    const w = await WavFileWriter.open(path, { sampleRate: 22050, channels: 1, format: 'pcm16' });
    for (let s = 0; s < 3001; s += 1000) await w.write(planar, s, Math.min(1000, 3001 - s));
    await w.close();
    await w.close(); // idempotent
    const bytes = new Uint8Array(await readFile(path));
    expect(bytes).toEqual(encodeWav({ sampleRate: 22050, channels: planar }, 'pcm16'));
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(40, true)).toBe(3001 * 2);
  });

  it('an empty stream is a valid empty WAV', async () => {
    const path = join(dir, 'empty.wav');
    const w = await WavFileWriter.open(path, { sampleRate: 48000, channels: 2, format: 'float32' });
    await w.close();
    const back = parseWav(new Uint8Array(await readFile(path)));
    expect(back.channels.map((c) => c.length)).toEqual([0, 0]);
  });

  it('refuses to grow past 4 GiB, wrong channel counts, use after close; abort removes the file', async () => {
    const path = join(dir, 'big.wav');
    const w = await WavFileWriter.open(path, { sampleRate: 44100, channels: 2, format: 'float32' });
    // Pretend 4 GiB − 8 KB were written already (writing them for real would take minutes).
    (w as unknown as { framesWritten: number }).framesWritten = Math.floor((0xffffffff - 8192) / 8);
    await expectError(() => w.write(testSignal(2000, 2)), 'IO', /more than the 4 GiB a WAV file can hold/);
    await expectError(() => w.write([new Float32Array(10)]), 'CHANNEL_MISMATCH', /got 1 channel/);
    await expectError(() => w.write(testSignal(10, 2), 5, 10), 'BAD_OPTION', /fewer than start \+ frames/);
    await w.abort();
    await expect(readFile(path)).rejects.toThrow();
    await expectError(() => w.write(testSignal(10, 2)), 'IO', /after close/);
    await expectError(
      () => WavFileWriter.open(join(dir, 'no-such-dir', 'x.wav'), { sampleRate: 44100, channels: 2, format: 'pcm16' }),
      'IO',
      /cannot create/,
    );
  });
});

// ---------------------------------------------------------------------------
// Decoding the fixtures

interface Fixture {
  file: string;
  rate: number;
  channels: number;
  lossless: boolean;
  container: string;
}

const FIXTURE_LIST: Fixture[] = [
  { file: 'tone-44k1-stereo.wav', rate: 44100, channels: 2, lossless: true, container: 'wav' },
  { file: 'tone-44k1-stereo.flac', rate: 44100, channels: 2, lossless: true, container: 'flac' },
  { file: 'tone-48k-stereo.flac', rate: 48000, channels: 2, lossless: true, container: 'flac' },
  { file: 'tone-44k1-stereo.mp3', rate: 44100, channels: 2, lossless: false, container: 'mp3' },
  { file: 'tone-44k1-mono.mp3', rate: 44100, channels: 1, lossless: false, container: 'mp3' },
  { file: 'tone-44k1-stereo.ogg', rate: 44100, channels: 2, lossless: false, container: 'ogg-vorbis' },
  { file: 'tone-48k-stereo.opus', rate: 48000, channels: 2, lossless: false, container: 'ogg-opus' },
];

describe('decodeAudio: fixtures (0.5 s; left 440 Hz, right 1 kHz, amplitude 0.5)', () => {
  for (const fx of FIXTURE_LIST) {
    it(`${fx.file}: rate, channels, length, content, channel order`, async () => {
      const bytes = new Uint8Array(await readFile(join(FIXTURES, fx.file)));
      expect(sniffAudio(bytes)).toBe(fx.container);
      const audio = await decodeAudioFile(join(FIXTURES, fx.file));
      expect(audio.sampleRate).toBe(fx.rate);
      expect(audio.channels.length).toBe(fx.channels);
      // Every decoder here trims encoder delay/padding: WAV/FLAC are exact; mpg123 trims the
      // LAME header's delay+padding (gapless); Vorbis trims by granule position; Opus drops
      // the pre-skip and we cut the end padding at the last granule position.
      const frames = fx.rate / 2;
      for (const ch of audio.channels) expect(ch.length).toBe(frames);

      const from = Math.round(0.05 * fx.rate);
      const to = frames - from;
      const minSnr = fx.lossless ? 40 : 20;
      const freqs = fx.channels === 2 ? [440, 1000] : [440];
      const summary: string[] = [];
      freqs.forEach((f, c) => {
        const x = audio.channels[c];
        const fit = fitSine(x, f, fx.rate, from, to);
        // x ≈ amp · sin(w (n − delay)): the fitted phase gives the delay in samples.
        const delay = -fit.phase / ((2 * Math.PI * f) / fx.rate);
        const gainDb = 20 * Math.log10(fit.amp / 0.5);
        summary.push(
          `${c === 0 ? 'L' : 'R'} ${f} Hz: SNR ${fit.snr.toFixed(1)} dB, gain ${gainDb.toFixed(2)} dB, delay ${delay.toFixed(2)} samples`,
        );
        expect(fit.snr, `${fx.file} channel ${c}`).toBeGreaterThanOrEqual(minSnr);
        // lame's output is 0.45 dB quieter (libmad/sox decode the same level).
        expect(Math.abs(gainDb), `${fx.file} channel ${c} gain`).toBeLessThan(fx.lossless ? 0.01 : 0.6);
        // No delay: encoder delay/priming must be trimmed, so the sine starts at phase 0.
        expect(Math.abs(delay), `${fx.file} channel ${c} delay`).toBeLessThan(fx.lossless ? 0.01 : 0.5);
        if (fx.lossless) expect(snrVsSine(x, f, fx.rate, from, to)).toBeGreaterThanOrEqual(minSnr);
        // The other channel's tone must be (nearly) absent: channels are not swapped or mixed.
        if (fx.channels === 2) {
          const other = fitSine(audio.channels[1 - c], f, fx.rate, from, to).amp;
          expect(20 * Math.log10(other / 0.5), `${fx.file} ${f} Hz leaks into channel ${1 - c}`).toBeLessThan(-30);
        }
      });
      figures.push(`${fx.file}: ${summary.join('; ')}`);
    });
  }

  it('sniffs the content, not the name', async () => {
    const flac = new Uint8Array(await readFile(join(FIXTURES, 'tone-44k1-stereo.flac')));
    const audio = await decodeAudio(flac, 'song.mp3');
    expect(audio.sampleRate).toBe(44100);
    expect(audio.channels[0].length).toBe(22050);
    // An ID3v2 tag in front of FLAC or MP3 is skipped.
    const id3 = new Uint8Array([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 20, ...new Array(20).fill(0)]);
    const mp3 = new Uint8Array(await readFile(join(FIXTURES, 'tone-44k1-stereo.mp3')));
    for (const [inner, kind] of [[flac, 'flac'], [mp3, 'mp3']] as const) {
      const tagged = new Uint8Array(id3.length + inner.length);
      tagged.set(id3);
      tagged.set(inner, id3.length);
      expect(sniffAudio(tagged)).toBe(kind);
      expect((await decodeAudio(tagged, 'tagged')).channels[0].length).toBe(22050);
    }
  });

  it('unknown formats: UNSUPPORTED_AUDIO_FORMAT naming the file and the first bytes', async () => {
    const text = new TextEncoder().encode('hello, this is not audio at all');
    await expectError(
      () => decodeAudio(text, 'notes.mp3'),
      'UNSUPPORTED_AUDIO_FORMAT',
      /^cannot decode notes\.mp3: not WAV, AIFF, M4A, FLAC, MP3 or Ogg \(first bytes "hello, this is n" \(68 65 .*\)\); convert it with/,
    );
    const m4a = new Uint8Array([0, 0, 0, 0x20, ...new TextEncoder().encode('ftypM4A '), 0, 0, 0, 0]);
    // M4A is decoded now (test/formats-dj.test.ts); one cut inside its first box has no index to decode by.
    await expectError(() => decodeAudio(m4a, 'song.m4a'), 'BAD_AUDIO_FILE', /song\.m4a: the MP4 index .* is missing: the file was cut short/);
    const ogg = new Uint8Array(await readFile(join(FIXTURES, 'tone-44k1-stereo.ogg')));
    const speex = ogg.slice();
    speex.set(new TextEncoder().encode('Speex   '), 27 + speex[26]);
    await expectError(() => decodeAudio(speex, 'x.ogg'), 'UNSUPPORTED_AUDIO_FORMAT', /Ogg file with Speex/);
    await expectError(() => decodeAudio(new Uint8Array(0), 'empty.wav'), 'BAD_AUDIO_FILE', /empty\.wav: the file is empty/);
  });

  it('damaged files: BAD_AUDIO_FILE with the file name', async () => {
    const wav = new Uint8Array(await readFile(join(FIXTURES, 'tone-44k1-stereo.wav')));
    await expectError(() => decodeAudio(wav.subarray(0, 1000), 'cut.wav'), 'BAD_AUDIO_FILE', /^cannot decode cut\.wav: truncated WAV/);
    for (const file of ['tone-44k1-stereo.flac', 'tone-44k1-stereo.ogg', 'tone-48k-stereo.opus', 'tone-44k1-stereo.mp3']) {
      const bytes = new Uint8Array(await readFile(join(FIXTURES, file)));
      // Keep the magic / first header, destroy the rest.
      const broken = bytes.slice(0, 4000);
      for (let i = 200; i < broken.length; i++) broken[i] = (i * 31) & 255;
      const headerOnly = bytes.slice(0, 60);
      for (const b of [broken, headerOnly]) {
        try {
          const audio = await decodeAudio(b, `bad-${file}`, { onWarning: () => undefined });
          // A decoder may recover some frames; then we get real audio, never a crash.
          expect(audio.channels[0].length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(StemstreamError);
          expect((err as StemstreamError).code).toBe('BAD_AUDIO_FILE');
          expect((err as StemstreamError).message).toContain(`bad-${file}`);
        }
      }
      await expectError(() => decodeAudio(headerOnly, `short-${file}`), 'BAD_AUDIO_FILE', new RegExp(`^cannot decode short-${file.replace('.', '\\.')}: `));
    }
  });

  it('a truncated FLAC decodes what is there and warns', async () => {
    const flac = new Uint8Array(await readFile(join(FIXTURES, 'tone-44k1-stereo.flac')));
    const warnings: string[] = [];
    const audio = await decodeAudio(flac.subarray(0, flac.length >> 1), 'half.flac', { onWarning: (m) => warnings.push(m) });
    expect(audio.channels[0].length).toBeGreaterThan(0);
    expect(audio.channels[0].length).toBeLessThan(22050);
    expect(warnings.join()).toMatch(/half\.flac: decoded \d+ of the 22050 samples .* truncated/);
  });

  it('decodeAudioFile: missing file is an IO error', async () => {
    await expectError(() => decodeAudioFile(join(FIXTURES, 'does-not-exist.wav')), 'IO', /no such file/);
  });

  // The figures (each already asserted against its bound in the test that measured it) are printed, not tested.
  afterAll(() => {
    if (figures.length > 0) console.log('decode figures:\n  ' + figures.join('\n  '));
  });
});

// ---------------------------------------------------------------------------
// Channels

describe('toChannelCount', () => {
  const audio = (n: number): AudioData => ({ sampleRate: 44100, channels: testSignal(100, n) });

  it('keeps matching audio, duplicates mono, averages stereo', () => {
    const st = audio(2);
    expect(toChannelCount(st, 2)).toBe(st);
    const mono = audio(1);
    const up = toChannelCount(mono, 2);
    expect(up.channels.length).toBe(2);
    expect(up.channels[0]).toEqual(mono.channels[0]);
    expect(up.channels[1]).toEqual(mono.channels[0]);
    expect(up.channels[0]).not.toBe(up.channels[1]); // independent copies
    const down = toChannelCount(st, 1);
    expect(down.channels.length).toBe(1);
    for (let i = 0; i < 100; i++) expect(down.channels[0][i]).toBeCloseTo((st.channels[0][i] + st.channels[1][i]) / 2, 6);
    expect(down.sampleRate).toBe(44100);
  });

  it('other conversions are CHANNEL_MISMATCH (3+ channels to stereo is the BS.775 downmix: test/downmix.test.ts)', async () => {
    await expectError(() => toChannelCount(audio(6), 4), 'CHANNEL_MISMATCH', /6 channels but 4 are needed.*ffmpeg -i in\.wav -ac 4/);
    await expectError(() => toChannelCount(audio(9), 2), 'CHANNEL_MISMATCH', /9 channels and no layout/);
    await expectError(() => toChannelCount(audio(1), 4), 'CHANNEL_MISMATCH');
    await expectError(() => toChannelCount(audio(2), 0), 'BAD_OPTION');
  });
});

describe('FLAC at the WAV scale', () => {
  it('decodes 16-bit FLAC to the floats the same samples have as WAV: the demo clip\'s FLAC stems sum exactly to its WAV mixture', async () => {
    const mix = readClipMixture();
    const stems = await Promise.all(CLIP_STEMS.map((s) => readClipStem(s)));
    for (let c = 0; c < 2; c++) {
      let err = 0;
      for (let i = 0; i < mix.channels[c].length; i++) err = Math.max(err, Math.abs(stems.reduce((a, t) => a + t.channels[c][i], 0) - mix.channels[c][i]));
      expect(err).toBe(0);
    }
  });
});

