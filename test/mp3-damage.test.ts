/**
 * The MP3 damage check against what the decoder really returns, on MP3s made
 * at test time by Debian's ffmpeg (libmp3lame) from a known signal: ffmpeg
 * writes the LAME tag layout with "Lavc…" as the encoder string, and mpg123
 * trims its delay and padding; a whole file must decode to every source
 * sample, in place, without a warning; a cut one must be reported with the
 * right "decoded N of M".
 */
import { join } from 'node:path';
import { MPEGDecoder } from 'mpg123-decoder';
import { describe, expect, it } from 'vitest';
import type { AudioData } from '../src/audio/types.js';
import { readInputAudio } from '../src/cli/input.js';
import { alignment, decodeWithWarnings as decode, encodedSignalsForTests, strictRefusal, type SignalSpec } from './fixtures/encoded-audio.js';

interface Case extends SignalSpec {
  /** Least SNR (dB) of the decoded audio against the source. */
  minSnr: number;
}

const CASES: Case[] = [
  { name: 'cbr-44k1-stereo.mp3', rate: 44100, channels: 2, format: 'mp3-cbr', minSnr: 20 }, // -b:a 192k
  { name: 'vbr-44k1-stereo.mp3', rate: 44100, channels: 2, format: 'mp3-vbr', minSnr: 20 }, // -q:a 2
  { name: 'cbr-44k1-mono.mp3', rate: 44100, channels: 1, format: ['-c:a', 'libmp3lame', '-b:a', '128k'], minSnr: 20 },
  { name: 'vbr-48k-stereo.mp3', rate: 48000, channels: 2, format: 'mp3-vbr', minSnr: 20 },
  // MPEG-2 layer III: 576 samples a frame, and ffmpeg's tag CRC covers another span than LAME's.
  { name: 'cbr-22k05-mono.mp3', rate: 22050, channels: 1, format: ['-c:a', 'libmp3lame', '-b:a', '64k'], minSnr: 20 },
];

/** 2.8 s and a few samples, so that no length is a whole number of frames. */
const framesAt = (rate: number) => Math.round(rate * 2.8) + 7;
const MPG123_DECODER_DELAY = 529;

const encoded = encodedSignalsForTests(CASES, framesAt);

/** Each channel lines up with the source at lag 0 (searched over ±1500) and is within `minSnr` of it, over `[from, to)`. */
function expectInPlace(audio: AudioData, source: AudioData, from: number, to: number, minSnr: number): void {
  for (let c = 0; c < source.channels.length; c++) {
    const { lag, snrDb } = alignment(audio.channels[c], source.channels[c], from, to, 1500);
    expect(lag, `channel ${c} lag`).toBe(0);
    expect(snrDb, `channel ${c} SNR`).toBeGreaterThan(minSnr);
  }
}

/** The Xing/Info frame's fields in an MP3 that ffmpeg wrote (its header is at the start, after the ID3 tag). */
function xingFields(bytes: Uint8Array) {
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, 4096));
  const at = Math.max(text.indexOf('Info'), text.indexOf('Xing'));
  expect(at).toBeGreaterThan(0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect(view.getUint32(at + 4, false)).toBe(15); // frames, bytes, TOC and quality: the LAME tag is 120 bytes on
  const lame = at + 120;
  return {
    frames: view.getUint32(at + 8, false),
    frameCountAt: at + 8,
    lame,
    encoder: text.slice(lame, lame + 9),
    delay: (bytes[lame + 21] << 4) | (bytes[lame + 22] >> 4),
    padding: ((bytes[lame + 22] & 0x0f) << 8) | bytes[lame + 23],
  };
}

function setPadding(bytes: Uint8Array, lame: number, padding: number): void {
  bytes[lame + 22] = (bytes[lame + 22] & 0xf0) | (padding >> 8);
  bytes[lame + 23] = padding & 0xff;
}

const DECLARED = /: decoded (\d+) of the (\d+) samples the MP3 Xing\/Info header declares \(.*\); decoding stops at .*truncated/;

describe('MP3 made by ffmpeg (libmp3lame): the damage check', () => {
  for (const c of CASES) {
    it(`${c.name}: no warning, --strict accepts it, every source sample comes back in place`, async () => {
      const { bytes, source, path } = encoded.get(c.name);
      const frames = source.channels[0].length;
      expect(xingFields(bytes).encoder).toMatch(/^Lav[cf]\d/); // the writer this is about, not "LAME"
      const { audio, warnings } = await decode(bytes, c.name);
      expect(warnings).toEqual([]);
      expect(audio.sampleRate).toBe(c.rate);
      expect(audio.channels.length).toBe(c.channels);
      for (const ch of audio.channels) expect(ch.length).toBe(frames);
      expectInPlace(audio, source, Math.floor(frames * 0.3), Math.floor(frames * 0.3) + 16384, c.minSnr);
      // The last 0.1 s too: the end padding is trimmed, not the audio.
      expectInPlace(audio, source, frames - Math.floor(c.rate / 10), frames, c.minSnr);

      const log: string[] = [];
      const strict = await readInputAudio(path, { strict: true, log: (l) => log.push(l) });
      expect(strict.channels[0].length).toBe(frames);
      expect(log).toEqual([]);
    });

    it(`${c.name} cut to 60 % of its bytes: warned with the decoded and the true sample count, --strict refuses it`, async () => {
      const { bytes, source } = encoded.get(c.name);
      const frames = source.channels[0].length;
      const cut = bytes.slice(0, Math.floor(bytes.length * 0.6));
      const { audio, warnings } = await decode(cut, `cut-${c.name}`);
      expect(warnings.length).toBe(1);
      const m = DECLARED.exec(warnings[0]);
      expect(m, warnings[0]).not.toBeNull();
      const [n, of] = [Number(m![1]), Number(m![2])];
      expect(of).toBe(frames);
      expect(n).toBe(audio.channels[0].length);
      expect(n / of).toBeGreaterThan(0.45);
      expect(n / of).toBeLessThan(0.62);
      // What was decoded is the start of the source, up to its last sample.
      expectInPlace(audio, source, n - 8192, n, c.minSnr);

      const err = await strictRefusal(cut, join(encoded.dir, `cut-${c.name}`));
      expect(err.message).toMatch(new RegExp(`cut-${c.name.replace(/\./g, '\\.')}: decoded ${n} of the ${frames} samples `));
    });
  }

  it('no tolerance hides a lost frame: the last 100 bytes cut, or one frame more declared, is warned', async () => {
    const { bytes, source } = encoded.get('cbr-44k1-stereo.mp3');
    const frames = source.channels[0].length;
    const short = await decode(bytes.subarray(0, bytes.length - 100), 'short.mp3');
    const m = DECLARED.exec(short.warnings.join());
    expect(m, short.warnings.join()).not.toBeNull();
    expect(Number(m![2])).toBe(frames);
    expect(Number(m![1])).toBe(short.audio.channels[0].length);
    expect(frames - Number(m![1])).toBeGreaterThan(0);
    expect(frames - Number(m![1])).toBeLessThanOrEqual(1152);

    const more = bytes.slice();
    const x = xingFields(more);
    new DataView(more.buffer).setUint32(x.frameCountAt, x.frames + 1, false);
    const longer = await decode(more, 'more.mp3');
    // The decoder goes on to the end of the last frame there is, less its own delay.
    const got = x.frames * 1152 - x.delay - MPG123_DECODER_DELAY;
    expect(got).toBeLessThan(frames + 1152);
    expect(longer.audio.channels[0].length).toBe(got);
    expect(longer.warnings.join()).toMatch(new RegExp(`decoded ${got} of the ${frames + 1152} samples`));
  });

  it('the LAME tag is read by its layout, as the decoder reads it, whatever the encoder string', async () => {
    const { bytes, source } = encoded.get('cbr-44k1-stereo.mp3');
    const frames = source.channels[0].length;
    const x = xingFields(bytes);
    expect(x.frames * 1152 - x.delay - x.padding).toBe(frames);

    // Another writer's name: the decoder still trims delay and padding.
    const renamed = bytes.slice();
    renamed.set(new TextEncoder().encode('Xyz1.2.3 '), x.lame);
    const r = await decode(renamed, 'renamed.mp3');
    expect(r.warnings).toEqual([]);
    expect(r.audio.channels[0].length).toBe(frames);

    // A padding below the decoder's own delay: it cannot stop before the end of the last frame.
    const small = bytes.slice();
    setPadding(small, x.lame, 100);
    const s = await decode(small, 'small-padding.mp3');
    expect(s.warnings).toEqual([]);
    expect(s.audio.channels[0].length).toBe(x.frames * 1152 - x.delay - MPG123_DECODER_DELAY);

    // No LAME tag (its first byte zero): the decoder trims only its own delay, and so does the check.
    const untagged = bytes.slice();
    untagged.fill(0, x.lame, x.lame + 36);
    const u = await decode(untagged, 'untagged.mp3');
    expect(u.warnings).toEqual([]);
    expect(u.audio.channels[0].length).toBe(x.frames * 1152 - MPG123_DECODER_DELAY);
    const uc = await decode(untagged.subarray(0, Math.floor(untagged.length * 0.6)), 'untagged-cut.mp3');
    expect(uc.warnings.join()).toMatch(new RegExp(`decoded ${uc.audio.channels[0].length} of the ${x.frames * 1152 - MPG123_DECODER_DELAY} samples`));
  });

  it('negative control: the same file without gapless trimming is late by delay + 529 samples, and the alignment check sees it', async () => {
    const { bytes, source } = encoded.get('cbr-44k1-stereo.mp3');
    const frames = source.channels[0].length;
    const x = xingFields(bytes);
    const decoder = new MPEGDecoder({ enableGapless: false });
    await decoder.ready;
    try {
      const raw = decoder.decode(bytes);
      expect(raw.samplesDecoded).toBe(x.frames * 1152);
      const from = Math.floor(frames * 0.3);
      expect(alignment(raw.channelData[0], source.channels[0], from, from + 16384, 1500).lag).toBe(x.delay + MPG123_DECODER_DELAY);
    } finally {
      decoder.free();
    }
  });
});
