/**
 * Multichannel audio (3.0, quad, 5.0, 5.1, 6.1, 7.1, ...) downmixed to stereo
 * with the ITU-R BS.775 coefficients:
 *
 *   L = FL + 0.7071·FC + 0.7071·(BL, SL) + 0.5·BC
 *   R = FR + 0.7071·FC + 0.7071·(BR, SR) + 0.5·BC
 *
 * the LFE left out (BS.775 does not carry it into the stereo mix), then the
 * whole matrix scaled so that it cannot clip (see stereoDownmix).
 *
 * Which channel is which speaker depends on the container: WAV names them in
 * WAVE_FORMAT_EXTENSIBLE's channel mask (bit order FL FR FC LFE BL BR FLC FRC
 * BC SL SR ...), FLAC in its WAVEFORMATEXTENSIBLE_CHANNEL_MASK tag; without
 * either, the FLAC order for the count applies (the WAVE mask order for 3, 6
 * and 8 channels). Vorbis and Opus use their own order (RFC 7845 §5.1.1.2),
 * ALAC its own per count (as alac.ts returns it), MP4 and AIFF may say it in
 * a Core Audio channel layout (core-audio-layout.ts).
 *
 * Browser-safe: no Node built-ins.
 */
import { StemstreamError } from '../errors.js';
import type { AudioData, AudioSource } from './types.js';

/** Speakers in the bit order of WAVE_FORMAT_EXTENSIBLE's dwChannelMask (bit 0 first). */
export const MASK_SPEAKERS = ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'FLC', 'FRC', 'BC', 'SL', 'SR', 'TC', 'TFL', 'TFC', 'TFR', 'TBL', 'TBC', 'TBR'] as const;

export type Speaker = (typeof MASK_SPEAKERS)[number];

/** Which speaker each channel feeds, in channel order. */
export interface ChannelLayout {
  speakers: readonly Speaker[];
}

/** Decoded audio that may say which speaker each of its channels is (absent: the default order for its count). */
export interface LaidOutAudio extends AudioData {
  layout?: ChannelLayout;
}

/**
 * Each codec's channel order by count, 3 to 8: FLAC's (RFC 9639 §9.1.3; also
 * taken for a WAV without a channel mask), Vorbis' (and Opus mapping family
 * 1's), and ALAC's as alac.ts returns it: the speakers of Apple's ALAC
 * layouts (MPEG 3.0 B, 4.0 B, 5.0 D, 5.1 D, AAC 6.1, MPEG 7.1 B) in ffmpeg's
 * order, so 4 channels are 4.0 (FL FR FC BC) and 7 are 6.1 (... BL BR BC).
 */
const ORDERS: Record<number, Record<'flac' | 'vorbis' | 'alac', readonly Speaker[]>> = {
  3: { flac: ['FL', 'FR', 'FC'], vorbis: ['FL', 'FC', 'FR'], alac: ['FL', 'FR', 'FC'] },
  4: { flac: ['FL', 'FR', 'BL', 'BR'], vorbis: ['FL', 'FR', 'BL', 'BR'], alac: ['FL', 'FR', 'FC', 'BC'] },
  5: { flac: ['FL', 'FR', 'FC', 'BL', 'BR'], vorbis: ['FL', 'FC', 'FR', 'BL', 'BR'], alac: ['FL', 'FR', 'FC', 'BL', 'BR'] },
  6: { flac: ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR'], vorbis: ['FL', 'FC', 'FR', 'BL', 'BR', 'LFE'], alac: ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR'] },
  7: { flac: ['FL', 'FR', 'FC', 'LFE', 'BC', 'SL', 'SR'], vorbis: ['FL', 'FC', 'FR', 'SL', 'SR', 'BC', 'LFE'], alac: ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'BC'] },
  8: { flac: ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'SL', 'SR'], vorbis: ['FL', 'FC', 'FR', 'SL', 'SR', 'BL', 'BR', 'LFE'], alac: ['FL', 'FR', 'FC', 'LFE', 'BL', 'BR', 'FLC', 'FRC'] },
};

function orderLayout(order: 'flac' | 'vorbis' | 'alac', count: number): ChannelLayout | undefined {
  const speakers = ORDERS[count]?.[order];
  return speakers ? { speakers } : undefined;
}

/** The FLAC/WAV default layout for `count` channels (3 to 8), or undefined. */
export function defaultChannelLayout(count: number): ChannelLayout | undefined {
  return orderLayout('flac', count);
}

/** Vorbis/Opus layout for `count` channels (3 to 8), or undefined. */
export function vorbisChannelLayout(count: number): ChannelLayout | undefined {
  return orderLayout('vorbis', count);
}

/** The layout of ALAC's `count` channels (3 to 8) as alac.ts decodes them, or undefined. */
export function alacChannelLayout(count: number): ChannelLayout | undefined {
  return orderLayout('alac', count);
}

/** `speakers` in WAVE channel mask order, the order of a layout given as a set of speakers. */
export function inMaskOrder(speakers: readonly Speaker[]): Speaker[] {
  return [...speakers].sort((a, b) => MASK_SPEAKERS.indexOf(a) - MASK_SPEAKERS.indexOf(b));
}

/**
 * The layout a WAVE channel mask gives `count` channels: the speakers of its
 * set bits, lowest first. A mask of 0, or one naming fewer speakers than there
 * are channels, says nothing usable: the default order for the count. A mask
 * naming more is cut to the first `count` (as the WAVE format specifies).
 */
export function maskChannelLayout(count: number, mask: number | undefined): ChannelLayout | undefined {
  const speakers: Speaker[] = [];
  if (mask !== undefined) {
    for (let bit = 0; bit < MASK_SPEAKERS.length && speakers.length < count; bit++) {
      if ((mask >>> bit) & 1) speakers.push(MASK_SPEAKERS[bit]);
    }
  }
  return speakers.length === count ? { speakers } : defaultChannelLayout(count);
}

/** WAVE mask of a layout's speakers (0 if one repeats or is out of mask order). */
function maskOf(speakers: readonly Speaker[]): number {
  let mask = 0;
  let last = -1;
  for (const s of speakers) {
    const bit = MASK_SPEAKERS.indexOf(s);
    if (bit <= last) return 0;
    mask |= 1 << bit;
    last = bit;
  }
  return mask;
}

/** Names of common layouts by their mask; side and back surrounds downmix alike, so they share a name. */
const LAYOUT_NAMES: Record<number, string> = {
  0x007: '3.0', 0x00b: '2.1', 0x103: '3.0 (back centre)', 0x033: 'quad', 0x603: 'quad', 0x107: '4.0', 0x00f: '3.1',
  0x037: '5.0', 0x607: '5.0', 0x03f: '5.1', 0x60f: '5.1', 0x707: '6.0', 0x70f: '6.1', 0x13f: '6.1', 0x637: '7.0', 0x63f: '7.1',
};

/** "5.1", "quad", ...; speakers joined by "+" for a layout without a common name. */
export function layoutName(layout: ChannelLayout): string {
  return LAYOUT_NAMES[maskOf(inMaskOrder(layout.speakers))] ?? layout.speakers.join('+');
}

/** −3 dB: BS.775's gain for the centre and each surround into the side of the stereo pair. */
const MINUS_3_DB = Math.SQRT1_2;

/** Per speaker: [gain into L, gain into R] before normalisation; LFE 0 (left out). */
const TO_STEREO: Partial<Record<Speaker, readonly [number, number]>> = {
  FL: [1, 0],
  FR: [0, 1],
  FC: [MINUS_3_DB, MINUS_3_DB],
  LFE: [0, 0],
  BL: [MINUS_3_DB, 0],
  BR: [0, MINUS_3_DB],
  SL: [MINUS_3_DB, 0],
  SR: [0, MINUS_3_DB],
  // A single back surround is shared by both sides: the surround gain, split at −3 dB (as ATSC A/52 does).
  BC: [MINUS_3_DB * MINUS_3_DB, MINUS_3_DB * MINUS_3_DB],
};

/** A layout's stereo downmix: the (normalised) gain of each channel into L and into R. */
export interface StereoDownmix {
  layout: ChannelLayout;
  left: Float64Array;
  right: Float64Array;
  /** The factor the BS.775 gains were scaled by (1 / the larger row sum). */
  normalisation: number;
  hasLfe: boolean;
}

/**
 * The downmix of `layout` to stereo. The BS.775 gains are scaled by
 * 1 / (the larger of the two rows' sums): the stereo mix then cannot exceed
 * full scale whatever the channels hold, and the ratios the standard sets are
 * kept. This is the overload protection ATSC A/52 §7.8 prescribes for its
 * downmix and what ffmpeg does for integer output; keeping the raw gains
 * would give a mix up to +7.7 dB (5.1) over full scale, which clips wherever
 * it is played or written (the stream command's mix, the --two-stems rest).
 */
export function stereoDownmix(layout: ChannelLayout): StereoDownmix {
  const n = layout.speakers.length;
  const left = new Float64Array(n);
  const right = new Float64Array(n);
  const unsupported = layout.speakers.filter((s) => TO_STEREO[s] === undefined);
  if (unsupported.length > 0) {
    throw new StemstreamError(
      'CHANNEL_MISMATCH',
      `the audio's ${n} channels include ${[...new Set(unsupported)].join(', ')}, speakers ITU-R BS.775 gives no stereo downmix for ` +
        `(it covers FL, FR, FC, LFE and the surrounds); downmix it first, e.g. \`ffmpeg -i in.wav -ac 2 out.wav\``,
    );
  }
  let sumL = 0;
  let sumR = 0;
  layout.speakers.forEach((s, k) => {
    [left[k], right[k]] = TO_STEREO[s]!;
    sumL += left[k];
    sumR += right[k];
  });
  const rowMax = Math.max(sumL, sumR);
  if (rowMax === 0) {
    throw new StemstreamError('CHANNEL_MISMATCH', `the audio's ${n} channels (${layout.speakers.join(', ')}) hold no speaker that goes into a stereo mix; downmix it first, e.g. \`ffmpeg -i in.wav -ac 2 out.wav\``);
  }
  const normalisation = 1 / rowMax;
  for (let k = 0; k < n; k++) {
    left[k] *= normalisation;
    right[k] *= normalisation;
  }
  return { layout, left, right, normalisation, hasLfe: layout.speakers.includes('LFE') };
}

/** The layout audio of `count` channels has: `layout` when it has that many speakers, else the default for the count. */
function layoutFor(count: number, layout: ChannelLayout | undefined): ChannelLayout {
  if (layout !== undefined && layout.speakers.length === count) return layout;
  const fallback = defaultChannelLayout(count);
  if (fallback === undefined) {
    throw new StemstreamError(
      'CHANNEL_MISMATCH',
      `the audio has ${count} channels and no layout that says which speaker each is (3 to 8 channels have a default order); ` +
        'downmix it first, e.g. `ffmpeg -i in.wav -ac 2 out.wav`',
    );
  }
  return fallback;
}

/** The downmix for audio of `count` channels (with its layout when known). */
export function downmixFor(count: number, layout?: ChannelLayout): StereoDownmix {
  return stereoDownmix(layoutFor(count, layout));
}

/** The line the command line prints: `downmixing 5.1 (6 channels) to stereo by ITU-R BS.775 (LFE left out)`. */
export function describeDownmix(mix: StereoDownmix, channels = 2): string {
  const lfe = mix.hasLfe ? ' (LFE left out)' : '';
  const mono = channels === 1 ? ', then to mono (the average of the two)' : '';
  return `downmixing ${layoutName(mix.layout)} (${mix.layout.speakers.length} channels) to stereo by ITU-R BS.775${lfe}${mono}`;
}

/**
 * Frames [from, from + frames) of `src` downmixed into l[at ...] and r[at ...].
 * The one arithmetic of both the decoded and the streamed path, so they give
 * the same samples: per frame, a float64 sum over the channels in order.
 */
export function downmixFrames(mix: StereoDownmix, src: readonly Float32Array[], from: number, frames: number, l: Float32Array, r: Float32Array, at: number): void {
  const { left, right } = mix;
  const n = left.length;
  for (let i = 0; i < frames; i++) {
    let a = 0;
    let b = 0;
    for (let k = 0; k < n; k++) {
      const x = src[k][from + i];
      a += left[k] * x;
      b += right[k] * x;
    }
    l[at + i] = a;
    r[at + i] = b;
  }
}

/**
 * `audio` (3 or more channels) as stereo, or as mono with `channels` 1 (the
 * stereo downmix averaged, as toChannelCount() makes stereo mono).
 */
export function downmixAudio(audio: AudioData, mix: StereoDownmix, channels: 1 | 2 = 2): AudioData {
  checkCount(audio.channels.length, mix);
  const frames = audio.channels[0].length;
  const l = new Float32Array(frames);
  const r = new Float32Array(frames);
  downmixFrames(mix, audio.channels, 0, frames, l, r, 0);
  if (channels === 2) return { sampleRate: audio.sampleRate, channels: [l, r] };
  for (let i = 0; i < frames; i++) l[i] = 0.5 * (l[i] + r[i]);
  return { sampleRate: audio.sampleRate, channels: [l] };
}

/** `source` (3 or more channels) downmixed per read, with downmixAudio()'s samples. */
export function downmixSource(source: AudioSource, mix: StereoDownmix, channels: 1 | 2 = 2): AudioSource {
  checkCount(source.channelCount, mix);
  let buf: Float32Array[] = [];
  let r = new Float32Array(0);
  return {
    sampleRate: source.sampleRate,
    channelCount: channels,
    length: source.length,
    read(start, frames, dst, offset = 0) {
      if ((buf[0]?.length ?? 0) < frames) {
        buf = Array.from({ length: source.channelCount }, () => new Float32Array(frames));
        r = new Float32Array(frames);
      }
      source.read(start, frames, buf, 0);
      if (channels === 2) {
        downmixFrames(mix, buf, 0, frames, dst[0], dst[1], offset);
        return;
      }
      const out = dst[0];
      downmixFrames(mix, buf, 0, frames, out, r, offset);
      for (let i = 0; i < frames; i++) out[offset + i] = 0.5 * (out[offset + i] + r[i]);
    },
  };
}

function checkCount(count: number, mix: StereoDownmix): void {
  if (count !== mix.layout.speakers.length) {
    throw new StemstreamError('CHANNEL_MISMATCH', `a downmix for ${mix.layout.speakers.length} channels cannot take audio of ${count}`);
  }
}
