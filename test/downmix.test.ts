/**
 * Multichannel input downmixed to stereo by ITU-R BS.775 (src/audio/downmix.ts):
 * the expected stereo is computed here from the standard's coefficients and
 * the decoded input, for WAVs (with and without a channel mask), FLACs, an
 * Ogg Vorbis file, ALAC (M4A, MOV) and AIFF files made by Debian's ffmpeg;
 * the streamed WAV path and the decoded-whole path give the same samples, and
 * toChannelCount() on decodeAudio's result (the browser's path) the same as
 * the CLI's; the CLI says what it did.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toChannelCount } from '../src/audio/channels.js';
import { decodeAudioFile } from '../src/audio/decode.js';
import { readCoreAudioLayout } from '../src/audio/core-audio-layout.js';
import { parseMp4 } from '../src/audio/mp4.js';
import { defaultChannelLayout, stereoDownmix, type Speaker } from '../src/audio/downmix.js';
import type { AudioData } from '../src/audio/types.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { fitAudio } from '../src/cli/fit-audio.js';
import { openInputAudio, readInputAudio } from '../src/cli/input.js';
import { loadModel } from '../src/model/model.js';
import { StemstreamError } from '../src/errors.js';
import { isAudioSource } from '../src/separate/audio-source.js';
import { separate } from '../src/separate/separate.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { maxAbsDiff, sdr } from './reference/compare.js';

const ROOT = join(import.meta.dirname, '..');
const RATE = 44100;
const FRAMES = 6000;
const dir = mkdtempSync(join(tmpdir(), 'stemstream-downmix-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** BS.775's gains into [L, R]; LFE none. */
const H = Math.SQRT1_2;
const GAINS: Record<string, [number, number]> = {
  FL: [1, 0], FR: [0, 1], FC: [H, H], LFE: [0, 0], BL: [H, 0], BR: [0, H], SL: [H, 0], SR: [0, H], BC: [0.5, 0.5],
};

/** The expected stereo: per frame Σ gain·x over the channels, divided by the larger row sum (the normalisation that cannot clip). */
function bs775(audio: AudioData, speakers: readonly string[]): [Float64Array, Float64Array] {
  const sumL = speakers.reduce((s, k) => s + GAINS[k][0], 0);
  const sumR = speakers.reduce((s, k) => s + GAINS[k][1], 0);
  const norm = Math.max(sumL, sumR);
  const n = audio.channels[0].length;
  const l = new Float64Array(n);
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    speakers.forEach((k, c) => {
      l[i] += GAINS[k][0] * audio.channels[c][i];
      r[i] += GAINS[k][1] * audio.channels[c][i];
    });
    l[i] /= norm;
    r[i] /= norm;
  }
  return [l, r];
}

/** Float32 rounding of the result (a few ulps at these levels). */
const EXACT = 2e-7;

/** Channel c: a tone of its own frequency (220·(c+1) Hz) and level; 16-bit values, so every file holds the same samples. */
function tones(channels: number, levels: readonly number[]): AudioData {
  const out = Array.from({ length: channels }, (_, c) => {
    const ch = new Float32Array(FRAMES);
    for (let i = 0; i < FRAMES; i++) ch[i] = Math.round(levels[c] * Math.sin((2 * Math.PI * 220 * (c + 1) * i) / RATE) * 32767) / 32768;
    return ch;
  });
  return { sampleRate: RATE, channels: out };
}

/** 5.1: the LFE loudest, so a downmix that kept it could not pass. */
const LEVELS_51 = [0.5, 0.45, 0.4, 0.95, 0.3, 0.25];

function ffmpeg(...args: string[]): void {
  const r = spawnSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.error) throw new Error('ffmpeg is not installed; install it with `apt-get install -y ffmpeg` (.ci/run installs it)');
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

function file(name: string, audio: AudioData): string {
  const path = join(dir, name);
  writeFileSync(path, encodeWav(audio, 'pcm16'));
  return path;
}

const input = { strict: false, log: () => undefined, sampleRate: RATE, channels: 2 };

/** Both CLI paths: the streamed WAV (when the file is a WAV at the rate) and the decoded whole. */
async function bothPaths(path: string): Promise<{ streamed: Float32Array[]; whole: Float32Array[]; lines: string[] }> {
  const lines: string[] = [];
  const opened = await openInputAudio(path, { ...input, log: (l) => lines.push(l), logFit: true });
  expect(opened.streamed).toBe(true);
  expect(isAudioSource(opened.audio)).toBe(true);
  const streamed = [new Float32Array(FRAMES), new Float32Array(FRAMES)];
  if (isAudioSource(opened.audio)) {
    // Odd-sized reads across the file, as separate() makes them.
    for (let at = 0; at < FRAMES; at += 1777) {
      const n = Math.min(1777, FRAMES - at);
      const part = [new Float32Array(n), new Float32Array(n)];
      opened.audio.read(at, n, part, 0);
      streamed[0].set(part[0], at);
      streamed[1].set(part[1], at);
    }
  }
  opened.close();
  const decoded = await openInputAudio(path, { ...input, whole: true });
  expect(decoded.streamed).toBe(false);
  return { streamed, whole: (decoded.audio as AudioData).channels, lines };
}

describe('BS.775 coefficients', () => {
  it('5.1: L = (FL + 0.7071·FC + 0.7071·BL) / (1 + 2·0.7071), R likewise, LFE 0', () => {
    const mix = stereoDownmix(defaultChannelLayout(6)!);
    const n = 1 + 2 * H;
    expect(Array.from(mix.left)).toEqual([1 / n, 0, H / n, 0, H / n, 0]);
    expect(Array.from(mix.right)).toEqual([0, 1 / n, H / n, 0, 0, H / n]);
    expect(mix.hasLfe).toBe(true);
    // A full-scale constant on every channel (the worst case) lands exactly at full scale: the normalisation cannot clip.
    const loud: AudioData = { sampleRate: RATE, channels: Array.from({ length: 6 }, () => new Float32Array(4).fill(1)) };
    for (const ch of toChannelCount(loud, 2).channels) for (const x of ch) expect(Math.abs(x - 1)).toBeLessThan(EXACT);
    for (const [count, speakers] of [[7, ['FL', 'FR', 'FC', 'LFE', 'BC', 'SL', 'SR']], [8, ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'SL', 'SR']]] as const) {
      const sum = stereoDownmix(defaultChannelLayout(count)!).left.reduce((a, b) => a + b, 0);
      expect(sum, speakers.join(' ')).toBeCloseTo(1, 12);
    }
  });

  it('speakers BS.775 has no gains for are refused with a way out', () => {
    expect(() => stereoDownmix({ speakers: ['FL', 'FR', 'FLC', 'FRC'] as Speaker[] })).toThrow(/FLC, FRC.*ffmpeg -i in\.wav -ac 2/);
    expect(() => toChannelCount({ sampleRate: RATE, channels: Array.from({ length: 9 }, () => new Float32Array(1)) }, 2)).toThrow(/9 channels and no layout/);
  });
});

describe('6-channel WAV: exact expected samples, both paths the same', () => {
  const source = tones(6, LEVELS_51);
  const path = file('six.wav', source);

  it('a plain header (no mask): FLAC/WAV default order FL FR FC LFE BL BR; the note says what was done', async () => {
    const { streamed, whole, lines } = await bothPaths(path);
    const [l, r] = bs775(source, ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR']);
    expect(maxAbsDiff(streamed[0], l)).toBeLessThan(EXACT);
    expect(maxAbsDiff(streamed[1], r)).toBeLessThan(EXACT);
    for (let c = 0; c < 2; c++) expect(Buffer.from(whole[c].buffer).equals(Buffer.from(streamed[c].buffer))).toBe(true);
    expect(lines).toEqual(['downmixing 5.1 (6 channels) to stereo by ITU-R BS.775 (LFE left out)']);
    // Negative control: with the LFE (the loudest channel) mixed in, the result would be far off.
    const withLfe = bs775(source, ['FL', 'FR', 'FC', 'FC', 'BL', 'BR']);
    expect(maxAbsDiff(streamed[0], withLfe[0])).toBeGreaterThan(0.1);
  });

  it('a WAVE_FORMAT_EXTENSIBLE mask is followed: 4.0 (FL FR FC BC) is not quad (FL FR BL BR)', async () => {
    const four = tones(4, [0.5, 0.4, 0.6, 0.3]);
    const plain = file('four-plain.wav', four);
    const masked = join(dir, 'four-40.wav');
    ffmpeg('-i', plain, '-af', 'channelmap=channel_layout=4.0', '-c:a', 'pcm_s16le', masked);
    expect(readFileSync(masked).readUInt16LE(20)).toBe(0xfffe);
    expect(readFileSync(masked).readUInt32LE(40)).toBe(0x107);
    const m = await bothPaths(masked);
    const [l40, r40] = bs775(four, ['FL', 'FR', 'FC', 'BC']);
    expect(maxAbsDiff(m.streamed[0], l40)).toBeLessThan(EXACT);
    expect(maxAbsDiff(m.streamed[1], r40)).toBeLessThan(EXACT);
    expect(m.lines).toEqual(['downmixing 4.0 (4 channels) to stereo by ITU-R BS.775']);
    for (let c = 0; c < 2; c++) expect(Buffer.from(m.whole[c].buffer).equals(Buffer.from(m.streamed[c].buffer))).toBe(true);
    // The same samples with no mask are quad: a different downmix.
    const q = await bothPaths(plain);
    const [lq] = bs775(four, ['FL', 'FR', 'BL', 'BR']);
    expect(maxAbsDiff(q.streamed[0], lq)).toBeLessThan(EXACT);
    expect(maxAbsDiff(q.streamed[0], l40)).toBeGreaterThan(0.05);
    expect(q.lines).toEqual(['downmixing quad (4 channels) to stereo by ITU-R BS.775']);
  });

  it('3.0 and 7.1 WAVs (default order) and 7.1 to a mono model', async () => {
    const three = tones(3, [0.5, 0.4, 0.6]);
    const t = await bothPaths(file('three.wav', three));
    expect(maxAbsDiff(t.streamed[0], bs775(three, ['FL', 'FR', 'FC'])[0])).toBeLessThan(EXACT);
    expect(t.lines).toEqual(['downmixing 3.0 (3 channels) to stereo by ITU-R BS.775']);
    const eight = tones(8, [0.5, 0.4, 0.3, 0.9, 0.2, 0.25, 0.35, 0.45]);
    const path8 = file('eight.wav', eight);
    const e = await bothPaths(path8);
    const [l8, r8] = bs775(eight, ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'SL', 'SR']);
    expect(maxAbsDiff(e.streamed[0], l8)).toBeLessThan(EXACT);
    expect(maxAbsDiff(e.streamed[1], r8)).toBeLessThan(EXACT);
    expect(e.lines).toEqual(['downmixing 7.1 (8 channels) to stereo by ITU-R BS.775 (LFE left out)']);
    // A mono model: the stereo downmix averaged, the same in both paths.
    const mono = await openInputAudio(path8, { ...input, channels: 1 });
    const dst = [new Float32Array(FRAMES)];
    if (isAudioSource(mono.audio)) mono.audio.read(0, FRAMES, dst, 0);
    mono.close();
    const whole = await openInputAudio(path8, { ...input, channels: 1, whole: true });
    expect(Buffer.from((whole.audio as AudioData).channels[0].buffer).equals(Buffer.from(dst[0].buffer))).toBe(true);
    expect(maxAbsDiff(dst[0], l8.map((x, i) => 0.5 * (x + r8[i])))).toBeLessThan(EXACT);
  });

  it('a 48 kHz 5.1 WAV is downmixed, then resampled (the decoded path)', async () => {
    const path48 = join(dir, 'six-48k.wav');
    writeFileSync(path48, encodeWav({ sampleRate: 48000, channels: source.channels }, 'pcm16'));
    const lines: string[] = [];
    const opened = await openInputAudio(path48, { ...input, log: (l) => lines.push(l), logFit: true });
    expect(opened.streamed).toBe(false);
    expect(lines[0]).toBe('downmixing 5.1 (6 channels) to stereo by ITU-R BS.775 (LFE left out)');
    expect(lines[1]).toMatch(/^resampling 48000 Hz → 44100 Hz/);
    expect((opened.audio as AudioData).channels).toHaveLength(2);
  });
});

describe('5.1 FLAC and Ogg Vorbis made by ffmpeg: each container\'s channel order', () => {
  const source = tones(6, LEVELS_51);
  const wav = file('six-src.wav', source);
  const [l, r] = bs775(source, ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR']);

  async function decodedDownmix(path: string, lines: string[] = []): Promise<Float32Array[]> {
    return fitAudio(await readInputAudio(path, input), RATE, 2, (line) => lines.push(line)).channels;
  }

  it('FLAC without a mask tag (ffmpeg\'s 5.1(side), FLAC\'s default) and with one (5.1 back, tag 0x3f): the WAV\'s samples', async () => {
    const side = join(dir, 'six.flac');
    ffmpeg('-i', wav, '-af', 'channelmap=channel_layout=5.1(side)', '-c:a', 'flac', side);
    // ffmpeg takes a 6-channel WAV without a mask for 5.1 with back surrounds, which FLAC tags.
    const back = join(dir, 'six-back.flac');
    ffmpeg('-i', wav, '-c:a', 'flac', back);
    expect(readFileSync(side).includes('WAVEFORMATEXTENSIBLE_CHANNEL_MASK')).toBe(false);
    expect(readFileSync(back).includes('WAVEFORMATEXTENSIBLE_CHANNEL_MASK=0x3f')).toBe(true);
    const fromWav = await bothPaths(wav);
    for (const path of [side, back]) {
      const lines: string[] = [];
      const got = await decodedDownmix(path, lines);
      expect(lines).toEqual(['downmixing 5.1 (6 channels) to stereo by ITU-R BS.775 (LFE left out)']);
      expect(maxAbsDiff(got[0], l)).toBeLessThan(EXACT);
      expect(maxAbsDiff(got[1], r)).toBeLessThan(EXACT);
      for (let c = 0; c < 2; c++) expect(Buffer.from(got[c].buffer).equals(Buffer.from(fromWav.streamed[c].buffer))).toBe(true);
    }
  });

  it('FLAC 4.0 carries its mask in a tag: read, so it is not taken for quad', async () => {
    const four = tones(4, [0.5, 0.4, 0.6, 0.3]);
    const path = join(dir, 'four-40.flac');
    ffmpeg('-i', file('four-src.wav', four), '-af', 'channelmap=channel_layout=4.0', '-c:a', 'flac', path);
    expect(readFileSync(path).includes('WAVEFORMATEXTENSIBLE_CHANNEL_MASK=0x107')).toBe(true);
    const got = await decodedDownmix(path);
    expect(maxAbsDiff(got[0], bs775(four, ['FL', 'FR', 'FC', 'BC'])[0])).toBeLessThan(EXACT);
    expect(maxAbsDiff(got[0], bs775(four, ['FL', 'FR', 'BL', 'BR'])[0])).toBeGreaterThan(0.05);
  });

  it('Ogg Vorbis decodes in Vorbis order (FL FC FR BL BR LFE): the downmix matches the WAV\'s within the codec\'s error', async () => {
    const path = join(dir, 'six.ogg');
    ffmpeg('-i', wav, '-c:a', 'libvorbis', '-q:a', '6', path);
    const decoded = await decodeAudioFile(path);
    const got = await decodedDownmix(path);
    // Away from the ends, where the codec's edges are.
    const snr = (a: ArrayLike<number>, ref: ArrayLike<number>) => sdr([ref], [a], (i) => i >= 1000 && i < FRAMES - 1000);
    expect(snr(got[0], l)).toBeGreaterThan(25);
    expect(snr(got[1], r)).toBeGreaterThan(25);
    // Negative control: the same decoded channels read in the WAV order give a wrong mix.
    const wrong = toChannelCount({ sampleRate: RATE, channels: decoded.channels }, 2).channels;
    expect(snr(wrong[0], l)).toBeLessThan(10);
  });
});

describe("ALAC and AIFF made by ffmpeg: the codec's or the file's channel layout", () => {
  const four = tones(4, [0.5, 0.4, 0.6, 0.3]);
  /** 6.1 (back centre): the LFE loudest, the back centre distinct from the side pair. */
  const seven = tones(7, [0.5, 0.45, 0.4, 0.95, 0.3, 0.25, 0.6]);
  const L40 = ['FL', 'FR', 'FC', 'BC'];
  const L61 = ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'BC'];

  /** `source` relabelled as ffmpeg's `layout` (no samples moved) and encoded with `args` into `name`. */
  function made(name: string, source: AudioData, layout: string, ...args: string[]): string {
    const path = join(dir, name);
    ffmpeg('-i', file(`${name}.src.wav`, source), '-af', `channelmap=channel_layout=${layout}`, ...args, path);
    return path;
  }

  function ffprobeLayout(path: string): string {
    const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=channel_layout', '-of', 'csv=p=0', path], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trim();
  }

  /** The CLI's decoded path (readInputAudio, fitAudio) and the browser's (toChannelCount on decodeAudio's result): the same samples. */
  async function downmixed(path: string, source: AudioData, lines: string[] = []): Promise<Float32Array[]> {
    const decoded = await decodeAudioFile(path);
    // Lossless: every channel is the source's, in the source's order.
    for (let c = 0; c < source.channels.length; c++) expect(maxAbsDiff(decoded.channels[c], source.channels[c]), `channel ${c}`).toBe(0);
    const cli = fitAudio(await readInputAudio(path, input), RATE, 2, (l) => lines.push(l)).channels;
    const browser = toChannelCount(decoded, 2).channels;
    for (let c = 0; c < 2; c++) expect(Buffer.from(browser[c].buffer).equals(Buffer.from(cli[c].buffer)), `browser path, channel ${c}`).toBe(true);
    return cli;
  }

  function expectMix(got: Float32Array[], source: AudioData, speakers: readonly string[]): void {
    const [l, r] = bs775(source, speakers);
    expect(maxAbsDiff(got[0], l)).toBeLessThan(EXACT);
    expect(maxAbsDiff(got[1], r)).toBeLessThan(EXACT);
  }

  it("Core Audio channel layouts (CoreAudioBaseTypes.h): tags, a bitmap, descriptions; those without WAVE names are not guessed", () => {
    /** An AudioChannelLayout: tag, bitmap, then one description (label, flags, 3 coordinates) per label. */
    const acl = (tag: number, bitmap: number, labels: number[] = []) => {
      const b = new DataView(new ArrayBuffer(12 + 20 * labels.length));
      b.setUint32(0, tag);
      b.setUint32(4, bitmap);
      b.setUint32(8, labels.length);
      labels.forEach((l, i) => b.setUint32(12 + 20 * i, l));
      const bytes = new Uint8Array(b.buffer);
      return readCoreAudioLayout(bytes, 0, bytes.length);
    };
    expect(acl((124 << 16) | 6, 0)).toEqual(['FC', 'FL', 'FR', 'BL', 'BR', 'LFE']); // MPEG 5.1 D: C L R Ls Rs LFE
    expect(acl((128 << 16) | 8, 0)).toEqual(['FL', 'FR', 'FC', 'LFE', 'SL', 'SR', 'BL', 'BR']); // MPEG 7.1 C: L R C LFE Ls Rs Rls Rrs
    expect(acl(1 << 16, 0x107)).toEqual(['FL', 'FR', 'FC', 'BC']); // a bitmap: bits in order
    // Descriptions: Center, Left, Right, LFEScreen, LeftSurround, RightSurround, RearSurroundLeft, RearSurroundRight.
    expect(acl(0, 0, [3, 1, 2, 4, 5, 6, 33, 34])).toEqual(['FC', 'FL', 'FR', 'LFE', 'SL', 'SR', 'BL', 'BR']);
    // Octagonal has wide speakers, a label 38 is a matrix-encoded total, DiscreteInOrder names none; a tag's count must match.
    for (const unnamed of [acl((111 << 16) | 8, 0), acl(0, 0, [1, 2, 38]), acl((147 << 16) | 4, 0), acl((124 << 16) | 5, 0), acl(0, 0, [1, 1, 2])]) {
      expect(unnamed).toBeUndefined();
    }
  });

  it('4-channel ALAC is 4.0 (FL FR FC BC), not quad: the expected stereo, in Node and the browser path', async () => {
    const path = made('four.m4a', four, '4.0', '-c:a', 'alac');
    expect(ffprobeLayout(path)).toBe('4.0');
    expect(parseMp4(new Uint8Array(readFileSync(path))).chan).toBeUndefined(); // ffmpeg's M4A has no 'chan' box: ALAC's own order
    const lines: string[] = [];
    const got = await downmixed(path, four, lines);
    expectMix(got, four, L40);
    expect(lines).toEqual(['downmixing 4.0 (4 channels) to stereo by ITU-R BS.775']);
    // Negative control: read in the FLAC/WAV default order (quad), the mix is far off.
    expect(maxAbsDiff(got[0], bs775(four, ['FL', 'FR', 'BL', 'BR'])[0])).toBeGreaterThan(0.05);
  });

  it('7-channel ALAC is 6.1 (FL FR FC LFE BL BR BC): the expected stereo, LFE left out', async () => {
    const path = made('seven.m4a', seven, '6.1(back)', '-c:a', 'alac');
    expect(ffprobeLayout(path)).toBe('6.1(back)');
    const lines: string[] = [];
    const got = await downmixed(path, seven, lines);
    expectMix(got, seven, L61);
    expect(lines).toEqual(['downmixing 6.1 (7 channels) to stereo by ITU-R BS.775 (LFE left out)']);
    // Negative control: FLAC's 7-channel order (FL FR FC LFE BC SL SR) gives another mix.
    expect(maxAbsDiff(got[0], bs775(seven, ['FL', 'FR', 'FC', 'LFE', 'BC', 'SL', 'SR'])[0])).toBeGreaterThan(0.05);
  });

  it("ALAC in MOV: its 'chan' box is read, and followed when it names other speakers", async () => {
    const path = made('four.mov', four, '4.0', '-c:a', 'alac');
    const bytes = new Uint8Array(readFileSync(path));
    // ffmpeg writes Apple's ALAC tag for 4 channels, MPEG 4.0 B: C L R Cs.
    expect(parseMp4(bytes).chan).toEqual(['FC', 'FL', 'FR', 'BC']);
    expectMix(await downmixed(path, four), four, L40);
    // The same file whose 'chan' box says Quadraphonic (L R Ls Rs): the speakers it names.
    const at = Buffer.from(bytes).indexOf('chan') + 8;
    expect(new DataView(bytes.buffer).getUint32(at, false)).toBe((116 << 16) | 4);
    new DataView(bytes.buffer).setUint32(at, (108 << 16) | 4, false);
    const quad = join(dir, 'four-quad.mov');
    writeFileSync(quad, bytes);
    expectMix(await downmixed(quad, four), four, ['FL', 'FR', 'BL', 'BR']);
  });

  it('8-channel ALAC is 7.1 with front centre pairs (FLC FRC): refused, naming them, as BS.775 has no gains for them', async () => {
    const eight = tones(8, [0.5, 0.4, 0.3, 0.9, 0.2, 0.25, 0.35, 0.45]);
    const path = made('eight.m4a', eight, '7.1(wide)', '-c:a', 'alac');
    expect(ffprobeLayout(path)).toBe('7.1(wide)');
    const decoded = await readInputAudio(path, input);
    expect(decoded.layout?.speakers).toEqual(['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'FLC', 'FRC']);
    const err = (() => {
      try {
        fitAudio(decoded, RATE, 2);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StemstreamError);
    expect((err as StemstreamError).code).toBe('CHANNEL_MISMATCH');
    expect((err as Error).message).toMatch(/include FLC, FRC.*ffmpeg -i in\.wav -ac 2/);
  });

  it("AIFF: the CHAN chunk's speakers in its order; without one, the default order", async () => {
    const path40 = made('four.aiff', four, '4.0', '-c:a', 'pcm_s16be');
    const bytes = new Uint8Array(readFileSync(path40));
    const chan = Buffer.from(bytes).indexOf('CHAN');
    expect(chan).toBeGreaterThan(0);
    // ffmpeg writes MPEG 4.0 A (L R C Cs).
    expect(new DataView(bytes.buffer).getUint32(chan + 8, false)).toBe((115 << 16) | 4);
    const lines: string[] = [];
    expectMix(await downmixed(path40, four, lines), four, L40);
    expect(lines).toEqual(['downmixing 4.0 (4 channels) to stereo by ITU-R BS.775']);
    // Negative control: the chunk renamed (an unknown chunk, skipped), the channels are quad.
    bytes.set(new TextEncoder().encode('XCHN'), chan);
    const plain = join(dir, 'four-no-chan.aiff');
    writeFileSync(plain, bytes);
    expectMix(await downmixed(plain, four), four, ['FL', 'FR', 'BL', 'BR']);
    // 6.1 (back centre), which ffmpeg writes as a channel bitmap.
    const path61 = made('seven.aiff', seven, '6.1(back)', '-c:a', 'pcm_s16be');
    expectMix(await downmixed(path61, seven), seven, L61);
    // The order is the layout tag's: MPEG 3.0 B (C L R) makes the first channel the centre.
    const three = tones(3, [0.5, 0.4, 0.6]);
    const b3 = new Uint8Array(readFileSync(made('three.aiff', three, '3.0', '-c:a', 'pcm_s16be')));
    const at = Buffer.from(b3).indexOf('CHAN') + 8;
    expect(new DataView(b3.buffer).getUint32(at, false)).toBe((113 << 16) | 3); // MPEG 3.0 A: L R C
    new DataView(b3.buffer).setUint32(at, (114 << 16) | 3, false);
    const clr = join(dir, 'three-clr.aiff');
    writeFileSync(clr, b3);
    expectMix(await downmixed(clr, three), three, ['FC', 'FL', 'FR']);
  });
});

describe('stemstream separate on a 5.1 WAV', () => {
  it('prints the one downmix note and separates the BS.775 stereo', async () => {
    const model = join(dir, 'tiny.onnx');
    writeFileSync(model, makeDemucsLayoutModel());
    const source = tones(6, LEVELS_51);
    const path = file('song-51.wav', source);
    const out = join(dir, 'out');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'separate', path, '-o', out, '--model', model, '--float', '--no-normalize', '--stems', 'vocals'], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.match(/downmixing.*\n/g)).toEqual(['downmixing 5.1 (6 channels) to stereo by ITU-R BS.775 (LFE left out)\n']);
    expect(r.stderr).not.toMatch(/converting|only mono/);
    const [l, rr] = bs775(source, ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR']);
    const m = await loadModel(model);
    const lib = await separate({ sampleRate: RATE, channels: [Float32Array.from(l), Float32Array.from(rr)] }, m, { normalize: false });
    await m.dispose();
    const got = parseWav(new Uint8Array(readFileSync(join(out, 'vocals.wav'))));
    for (let c = 0; c < 2; c++) expect(maxAbsDiff(got.channels[c], lib.stems.vocals[c])).toBeLessThan(1e-6);
  });
});
