/**
 * The damage check of the other compressed formats, on files made at test
 * time by Debian's ffmpeg (libopus, libvorbis, flac) from a known signal: a
 * whole file decodes to every source sample without a warning; a cut one is
 * warned about (Ogg headers declare no length: a cut Ogg stream shows as a
 * partial last page), and what it gives back is the source up to where it
 * stops, never noise. A last page without the end-of-stream flag (stream rips
 * end so) is no damage: no warning, and the length of the complete file.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OggVorbisDecoder } from '@wasm-audio-decoders/ogg-vorbis';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { describe, expect, it } from 'vitest';
import type { AudioData } from '../src/audio/types.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { readInputAudio } from '../src/cli/input.js';
import { alignment, chirpSignal, decodeWithWarnings as decode, encodedSignalsForTests, strictRefusal, type FfmpegFormat, type SignalSpec } from './fixtures/encoded-audio.js';

interface Case extends SignalSpec {
  format: FfmpegFormat;
  /** Lossless: the decoded samples are the 16-bit source's, exactly. Else the least SNR (dB) against the source. */
  minSnr?: number;
}

const CASES: Case[] = [
  { name: 'opus-48k-stereo.opus', rate: 48000, channels: 2, format: 'opus', minSnr: 20 },
  { name: 'vorbis-44k1-stereo.ogg', rate: 44100, channels: 2, format: 'vorbis', minSnr: 20 },
  { name: 'vorbis-48k-mono.ogg', rate: 48000, channels: 1, format: 'vorbis', minSnr: 20 },
  { name: 'flac-44k1-stereo.flac', rate: 44100, channels: 2, format: 'flac' },
  { name: 'flac-48k-mono.flac', rate: 48000, channels: 1, format: 'flac' },
  { name: 'ogg-flac-44k1-stereo.oga', rate: 44100, channels: 2, format: 'ogg-flac' },
];
const isOgg = (c: Case) => c.format !== 'flac';

/** 2.8 s and a few samples: ffmpeg's Ogg pages hold about a second each, so a 60 % cut falls inside a page. */
const framesAt = (rate: number) => Math.round(rate * 2.8) + 7;

const encoded = encodedSignalsForTests(CASES, framesAt);

/** The source as the 16-bit WAV ffmpeg read holds it. */
const asPcm16 = (source: AudioData) => parseWav(encodeWav(source, 'pcm16'));

/** The decoded audio is the source's first samples: exactly when lossless, else in place (lag 0) and within minSnr over its last 0.1 s and a middle stretch. */
function expectSourcePrefix(audio: AudioData, source: AudioData, c: Case): void {
  const n = audio.channels[0].length;
  expect(n).toBeLessThanOrEqual(source.channels[0].length);
  if (c.minSnr === undefined) {
    const exact = asPcm16(source);
    for (let ch = 0; ch < source.channels.length; ch++) {
      const want = exact.channels[ch];
      const got = audio.channels[ch];
      expect(got.findIndex((v, i) => v !== want[i]), `channel ${ch}: first sample that differs`).toBe(-1);
    }
    return;
  }
  for (const [from, to] of [[Math.floor(n * 0.3), Math.floor(n * 0.3) + 8192], [n - Math.floor(c.rate / 10), n]]) {
    for (let ch = 0; ch < source.channels.length; ch++) {
      const { lag, snrDb } = alignment(audio.channels[ch], source.channels[ch], from, to, 1500);
      expect(lag, `channel ${ch} lag over [${from}, ${to})`).toBe(0);
      expect(snrDb, `channel ${ch} SNR over [${from}, ${to})`).toBeGreaterThan(c.minSnr);
    }
  }
}

interface Page {
  start: number;
  end: number;
  granule: number;
}

/** The whole pages of an Ogg file, walked here independently of decode.ts. */
function oggPages(bytes: Uint8Array): Page[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pages: Page[] = [];
  for (let p = 0; p + 27 <= bytes.length; ) {
    expect(new TextDecoder('latin1').decode(bytes.subarray(p, p + 4))).toBe('OggS');
    let end = p + 27 + bytes[p + 26];
    for (let i = 0; i < bytes[p + 26]; i++) end += bytes[p + 27 + i];
    if (end > bytes.length) break;
    pages.push({ start: p, end, granule: Number(view.getBigInt64(p + 6, true)) });
    p = end;
  }
  return pages;
}

/** The Ogg page checksum: CRC-32, polynomial 0x04c11db7, not reflected, initial value 0, over the page with its CRC field zeroed. */
function oggPageCrc(page: Uint8Array): number {
  const zeroed = page.slice();
  zeroed.fill(0, 22, 26);
  let crc = 0;
  for (const byte of zeroed) {
    crc ^= byte << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return crc >>> 0;
}

/** `bytes` with its last page's end-of-stream flag cleared and that page's CRC recomputed, as a stream rip ends. */
function withoutEndOfStream(bytes: Uint8Array): Uint8Array {
  const last = oggPages(bytes).at(-1)!;
  expect(last.end).toBe(bytes.length);
  const out = bytes.slice();
  const page = out.subarray(last.start, last.end);
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  // The CRC computed here is the one ffmpeg wrote: the page is rewritten as a muxer would.
  expect(oggPageCrc(page)).toBe(view.getUint32(22, true));
  expect(page[5] & 4).toBe(4);
  page[5] &= ~4;
  view.setUint32(22, oggPageCrc(page), true);
  return out;
}

/** Samples before a granule position: Opus counts the pre-skip in it. */
function samplesAt(granule: number, bytes: Uint8Array, c: Case): number {
  return c.format === 'opus' ? granule - (bytes[27 + bytes[26] + 10] | (bytes[27 + bytes[26] + 11] << 8)) : granule;
}

const strictError = (bytes: Uint8Array, name: string) => strictRefusal(bytes, join(encoded.dir, name));

const STOPS = /: decoded (\d+) samples \([\d.]+ s\); decoding stops at [\d.]+ s: the file is truncated/;
const DECLARED = /: decoded (\d+) of the (\d+) samples the FLAC header declares .*decoding stops at .*truncated/;

describe('Ogg Opus, Ogg Vorbis, FLAC and Ogg FLAC made by ffmpeg: the damage check', () => {
  for (const c of CASES) {
    it(`${c.name}: no warning, --strict accepts it, every source sample comes back`, async () => {
      const { bytes, source, path } = encoded.get(c.name);
      const frames = source.channels[0].length;
      const { audio, warnings } = await decode(bytes, c.name);
      expect(warnings).toEqual([]);
      expect(audio.sampleRate).toBe(c.rate);
      expect(audio.channels.length).toBe(c.channels);
      for (const ch of audio.channels) expect(ch.length).toBe(frames);
      expectSourcePrefix(audio, source, c);

      const log: string[] = [];
      const strict = await readInputAudio(path, { strict: true, log: (l) => log.push(l) });
      expect(strict.channels[0].length).toBe(frames);
      expect(log).toEqual([]);
    });

    it(`${c.name} cut to 60 % of its bytes: warned, --strict refuses it, what comes back is the source's start`, async () => {
      const { bytes, source } = encoded.get(c.name);
      const frames = source.channels[0].length;
      const cut = bytes.slice(0, Math.floor(bytes.length * 0.6));
      const { audio, warnings } = await decode(cut, `cut-${c.name}`);
      const n = audio.channels[0].length;
      expect(warnings.length).toBe(1);
      if (isOgg(c)) {
        // ffmpeg's Ogg muxer cannot go back to write a length, so none is declared (0 in Ogg FLAC's STREAMINFO).
        expect(Number(STOPS.exec(warnings[0])?.[1]), warnings[0]).toBe(n);
        // Every whole page, and from the cut page no more than it holds.
        const pages = oggPages(cut);
        const cutPage = oggPages(bytes)[pages.length];
        expect(n).toBeGreaterThanOrEqual(samplesAt(pages[pages.length - 1].granule, bytes, c));
        expect(n).toBeLessThanOrEqual(samplesAt(cutPage.granule, bytes, c));
      } else {
        const m = DECLARED.exec(warnings[0]);
        expect(m, warnings[0]).not.toBeNull();
        expect(Number(m![1])).toBe(n);
        expect(Number(m![2])).toBe(frames);
      }
      expect(n).toBeGreaterThan(frames * 0.3);
      expect(n).toBeLessThan(frames * 0.65);
      expectSourcePrefix(audio, source, c);
      expect((await strictError(cut, `cut-${c.name}`)).message).toContain(`cut-${c.name}: decoded ${n} `);
    });
  }

  for (const c of CASES.filter(isOgg)) {
    it(`${c.name} whose last page lacks the end-of-stream flag (a stream rip): no warning, --strict accepts it, the complete file's samples`, async () => {
      const { bytes, source } = encoded.get(c.name);
      const complete = (await decode(bytes, c.name)).audio;
      const rip = withoutEndOfStream(bytes);
      const { audio, warnings } = await decode(rip, `rip-${c.name}`);
      expect(warnings).toEqual([]);
      expect(audio.channels[0].length).toBe(source.channels[0].length);
      for (let ch = 0; ch < c.channels; ch++) expect(Buffer.from(audio.channels[ch].buffer).equals(Buffer.from(complete.channels[ch].buffer)), `channel ${ch}`).toBe(true);
      const path = join(encoded.dir, `rip-${c.name}`);
      await writeFile(path, rip);
      const log: string[] = [];
      expect((await readInputAudio(path, { strict: true, log: (l) => log.push(l) })).channels[0].length).toBe(source.channels[0].length);
      expect(log).toEqual([]);
    });

    it(`${c.name} cut at a page boundary: every sample of the pages kept, and no warning (a rip ends so too)`, async () => {
      const { bytes, source } = encoded.get(c.name);
      const pages = oggPages(bytes);
      const kept = pages[pages.length - 2];
      const { audio, warnings } = await decode(bytes.slice(0, kept.end), `pages-${c.name}`);
      expect(warnings).toEqual([]);
      expect(audio.channels[0].length).toBe(samplesAt(kept.granule, bytes, c));
      expectSourcePrefix(audio, source, c);
    });

    it(`${c.name} with a tag appended after its last page: no warning`, async () => {
      const { bytes, source } = encoded.get(c.name);
      const tagged = new Uint8Array(bytes.length + 128);
      tagged.set(bytes);
      tagged.set(new TextEncoder().encode('TAGsome title'), bytes.length); // an ID3v1 tag
      const { audio, warnings } = await decode(tagged, `tagged-${c.name}`);
      expect(warnings).toEqual([]);
      expect(audio.channels[0].length).toBe(source.channels[0].length);
    });
  }

  /** `bytes` decoded by the Opus or Vorbis decoder alone (no page walk of ours). */
  async function rawDecode(name: string, bytes: Uint8Array) {
    const decoder = name.endsWith('.opus') ? new OggOpusDecoder() : new OggVorbisDecoder();
    await decoder.ready;
    try {
      return await decoder.decodeFile(bytes);
    } finally {
      decoder.free();
    }
  }

  it('negative controls: the Opus and Vorbis decoders alone keep the end padding without the end-of-stream flag, and return noise for a cut page', async () => {
    for (const name of ['opus-48k-stereo.opus', 'vorbis-44k1-stereo.ogg']) {
      const { bytes, source } = encoded.get(name);
      const frames = source.channels[0].length;
      expect((await rawDecode(name, bytes)).samplesDecoded, name).toBe(frames);
      expect((await rawDecode(name, withoutEndOfStream(bytes))).samplesDecoded, name).toBeGreaterThan(frames);
      const raw = await rawDecode(name, bytes.slice(0, Math.floor(bytes.length * 0.6)));
      const end = Math.min(raw.samplesDecoded, frames);
      const { snrDb } = alignment(raw.channelData[0], source.channels[0], end - 4800, end, 0);
      expect(snrDb, name).toBeLessThan(6);
    }
  });

  it('Ogg FLAC by the flac tool declares its length: a cut one says how much of it was decoded', async () => {
    const source = chirpSignal(44100, 2, framesAt(44100));
    const wav = join(encoded.dir, 'flac-tool.wav');
    const oga = join(encoded.dir, 'flac-tool.oga');
    await writeFile(wav, encodeWav(source, 'pcm16'));
    const tool = spawnSync('flac', ['--ogg', '--silent', '--force', '-o', oga, wav], { encoding: 'utf8' });
    if (tool.error) throw new Error('flac is not installed; install it with `apt-get install -y flac` (.ci/run installs it)');
    expect(tool.status, tool.stderr).toBe(0);
    const bytes = new Uint8Array(await readFile(oga));
    const whole = await decode(bytes, 'flac-tool.oga');
    expect(whole.warnings).toEqual([]);
    expect(whole.audio.channels[0].length).toBe(framesAt(44100));
    const { audio, warnings } = await decode(bytes.subarray(0, Math.floor(bytes.length * 0.6)), 'cut.oga');
    const m = DECLARED.exec(warnings.join());
    expect(m, warnings.join()).not.toBeNull();
    expect(Number(m![1])).toBe(audio.channels[0].length);
    expect(Number(m![2])).toBe(framesAt(44100));
    expectSourcePrefix(audio, source, { name: 'cut.oga', rate: 44100, channels: 2, format: 'ogg-flac' });
  });
});
