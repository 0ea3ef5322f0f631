/**
 * Decodes audio files into planar float samples.
 *
 * The container is recognised from the bytes, never from the file name:
 *   RIFF/WAVE            → own parser (src/audio/wav.ts)
 *   FORM/AIFF, AIFC      → own parser (src/audio/aiff.ts)
 *   MP4/M4A (ftyp)       → own demuxer (src/audio/mp4.ts), then
 *                          ALAC → own decoder (src/audio/alac.ts, bit-exact)
 *                          AAC  → WebCodecs' AudioDecoder where there is one (browsers);
 *                                 refused in Node, with the conversion to run
 *   fLaC, Ogg FLAC       → @wasm-audio-decoders/flac
 *   ID3 / MPEG frame sync → mpg123-decoder (MPEG-1/2/2.5 layers I–III)
 *   OggS + Vorbis        → @wasm-audio-decoders/ogg-vorbis
 *   OggS + Opus          → ogg-opus-decoder (always 48 kHz)
 * The decoders are WebAssembly builds loaded on first use (dynamic import),
 * so they cost nothing until a file of that kind shows up; each decoder
 * instance is freed after its file.
 *
 * By hand here: only the sniffing (magic numbers, ID3v2 skipping, MPEG frame
 * headers, the Ogg codec, FLAC/Xing lengths and the Ogg page walk for damage
 * reports, an Ogg page cut short rebuilt with its whole packets) and the WAV
 * parser. Not mediabunny: it reads WAV slower, and it only demuxes FLAC, MP3,
 * Vorbis, Opus and MP4, leaving decoding to WebCodecs, absent in Node and audio
 * worklets, so it would not replace the decoders above (docs/benchmarks.md#libraries).
 *
 * AAC in Node: no decoder on npm is both usable and permissively licensed
 * (@audio/decode-aac is FAAD2, GPL-2.0; `aac` for Aurora.js is LGPL, from
 * 2014, AAC-LC only; libav.js is LGPL and none of its published builds has
 * the AAC decoder; Node has no WebCodecs), so Node refuses AAC with the
 * ffmpeg line that converts it. Browsers decode it with WebCodecs.
 */
import { StemstreamError } from '../errors.js';
import { importNodeBuiltin } from '../node-builtin.js';
import { parseAiff } from './aiff.js';
import { AlacDecoder } from './alac.js';
import { alacChannelLayout, inMaskOrder, maskChannelLayout, vorbisChannelLayout, type ChannelLayout, type LaidOutAudio } from './downmix.js';
import { parseMp4, type Mp4Audio } from './mp4.js';
import { describeBytes, parseWav } from './wav.js';

export type AudioContainer = 'wav' | 'aiff' | 'mp4' | 'flac' | 'mp3' | 'ogg-vorbis' | 'ogg-opus' | 'ogg-flac';

export interface DecodeOptions {
  /**
   * Told, in one line, when the file is damaged but some audio could be
   * decoded: how much of how much the header declares, and where the damage
   * is. With it, a WAV or AIFF cut short decodes as far as it goes; without it, that is an error.
   */
  onWarning?: (message: string) => void;
}

const CONVERT_HINT = 'convert it with e.g. `ffmpeg -i INPUT output.wav` (or `sox INPUT output.wav`)';

// ---------------------------------------------------------------------------
// Sniffing

function ascii(bytes: Uint8Array, offset: number, text: string): boolean {
  if (offset + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Size of an ID3v2 tag starting at `offset` (header included), or 0 if there is none. */
function id3v2Size(bytes: Uint8Array, offset: number): number {
  if (!ascii(bytes, offset, 'ID3') || offset + 10 > bytes.length) return 0;
  const s = bytes.subarray(offset + 6, offset + 10);
  if (s.some((b) => b & 0x80)) return 0; // not a syncsafe integer
  const size = (s[0] << 21) | (s[1] << 14) | (s[2] << 7) | s[3];
  const footer = bytes[offset + 5] & 0x10 ? 10 : 0;
  return 10 + size + footer;
}

/** Offset after any ID3v2 tags and zero padding at the start. */
function skipId3(bytes: Uint8Array): number {
  let pos = 0;
  for (let n = id3v2Size(bytes, pos); n > 0; n = id3v2Size(bytes, pos)) pos += n;
  if (pos > 0) while (pos < bytes.length && bytes[pos] === 0) pos++;
  return pos;
}

const MPEG_BITRATES: Record<string, number[]> = {
  // kbit/s for bitrate index 1..14, keyed by version group and layer.
  '1-1': [32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  '1-2': [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  '1-3': [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  '2-1': [32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  '2-2': [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  '2-3': [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};

interface MpegHeader {
  /** Frame length in bytes, or 0 for free-format streams. */
  frameBytes: number;
  mono: boolean;
  sampleRate: number;
  /** 384 (layer I), 1152 (layer II, MPEG-1 layer III) or 576 (MPEG-2/2.5 layer III). */
  samplesPerFrame: number;
  mpeg1: boolean;
  layer: 1 | 2 | 3;
}

/** Parses an MPEG audio frame header at `p`; undefined if it is not one. */
function mpegHeader(bytes: Uint8Array, p: number): MpegHeader | undefined {
  if (p + 4 > bytes.length || bytes[p] !== 0xff || (bytes[p + 1] & 0xe0) !== 0xe0) return undefined;
  const versionBits = (bytes[p + 1] >> 3) & 3; // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
  const layerBits = (bytes[p + 1] >> 1) & 3; // 1: III, 2: II, 3: I, 0: reserved (ADTS AAC)
  const bitrateIndex = bytes[p + 2] >> 4;
  const rateIndex = (bytes[p + 2] >> 2) & 3;
  if (versionBits === 1 || layerBits === 0 || bitrateIndex === 15 || rateIndex === 3) return undefined;
  const layer = (4 - layerBits) as 1 | 2 | 3;
  const baseRate = [44100, 48000, 32000][rateIndex];
  const sampleRate = versionBits === 3 ? baseRate : versionBits === 2 ? baseRate / 2 : baseRate / 4;
  const padding = (bytes[p + 2] >> 1) & 1;
  const mono = bytes[p + 3] >> 6 === 3;
  const mpeg1 = versionBits === 3;
  const samplesPerFrame = layer === 1 ? 384 : layer === 3 && !mpeg1 ? 576 : 1152;
  if (bitrateIndex === 0) return { frameBytes: 0, mono, sampleRate, samplesPerFrame, mpeg1, layer };
  const bitrate = MPEG_BITRATES[`${versionBits === 3 ? 1 : 2}-${layer}`][bitrateIndex - 1] * 1000;
  let frameBytes: number;
  if (layer === 1) frameBytes = (Math.floor((12 * bitrate) / sampleRate) + padding) * 4;
  else if (layer === 3 && versionBits !== 3) frameBytes = Math.floor((72 * bitrate) / sampleRate) + padding;
  else frameBytes = Math.floor((144 * bitrate) / sampleRate) + padding;
  return { frameBytes, mono, sampleRate, samplesPerFrame, mpeg1, layer };
}

/** An MPEG frame at `p` that is followed by another one (or by the end of the file). */
function confirmedMpegFrame(bytes: Uint8Array, p: number): MpegHeader | undefined {
  const h = mpegHeader(bytes, p);
  if (!h) return undefined;
  if (h.frameBytes === 0) return h; // free format: cannot check the next frame
  const next = p + h.frameBytes;
  if (next >= bytes.length - 3) return h;
  return mpegHeader(bytes, next) ? h : undefined;
}

function isAdts(bytes: Uint8Array, p: number): boolean {
  return p + 2 <= bytes.length && bytes[p] === 0xff && (bytes[p + 1] & 0xf6) === 0xf0;
}

/** The codec of the first logical stream of an Ogg file, from its first packet. */
function oggCodec(bytes: Uint8Array): string {
  if (bytes.length < 28) return 'truncated';
  const segments = bytes[26];
  const p = 27 + segments;
  if (ascii(bytes, p, '\x01vorbis')) return 'vorbis';
  if (ascii(bytes, p, 'OpusHead')) return 'opus';
  if (ascii(bytes, p, '\x7fFLAC')) return 'flac';
  if (ascii(bytes, p, 'Speex   ')) return 'Speex';
  if (ascii(bytes, p, '\x80theora')) return 'Theora video';
  if (ascii(bytes, p, 'OpusTags') || ascii(bytes, p, '\x03vorbis')) return 'truncated';
  return 'unknown';
}

/** Names of common formats we do not decode, for a helpful message. */
function knownUnsupported(bytes: Uint8Array, start: number): string | undefined {
  if (ascii(bytes, 0, 'caff')) return 'Core Audio (CAF)';
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return 'Matroska/WebM';
  if (ascii(bytes, 0, '#!AMR')) return 'AMR';
  if (ascii(bytes, 0, 'MAC ')) return "Monkey's Audio (APE)";
  if (ascii(bytes, 0, 'wvpk')) return 'WavPack';
  if (ascii(bytes, 0, '.snd')) return 'Sun/NeXT AU';
  if (bytes[0] === 0x30 && bytes[1] === 0x26 && bytes[2] === 0xb2 && bytes[3] === 0x75) return 'ASF/WMA';
  if (isAdts(bytes, start)) return 'raw AAC (ADTS)';
  if (ascii(bytes, 0, 'RIFF') && !ascii(bytes, 8, 'WAVE')) return `RIFF/${String.fromCharCode(...bytes.subarray(8, 12))}`;
  return undefined;
}

interface Sniffed {
  container: AudioContainer;
  /** Where the decoder input starts (after ID3 tags). */
  offset: number;
  mpeg?: MpegHeader;
}

/**
 * Recognises the container of `bytes`; undefined when it is none we decode.
 * Exported for tests and for callers that want to check a file before reading all of it.
 */
export function sniffAudio(bytes: Uint8Array): AudioContainer | undefined {
  return sniff(bytes)?.container;
}

function sniff(bytes: Uint8Array): Sniffed | undefined {
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WAVE')) return { container: 'wav', offset: 0 };
  if (ascii(bytes, 0, 'RF64') || ascii(bytes, 0, 'BW64')) return { container: 'wav', offset: 0 };
  if (ascii(bytes, 0, 'FORM') && (ascii(bytes, 8, 'AIFF') || ascii(bytes, 8, 'AIFC'))) return { container: 'aiff', offset: 0 };
  if (ascii(bytes, 4, 'ftyp')) return { container: 'mp4', offset: 0 };
  if (ascii(bytes, 0, 'OggS')) {
    const codec = oggCodec(bytes);
    if (codec === 'vorbis') return { container: 'ogg-vorbis', offset: 0 };
    if (codec === 'opus') return { container: 'ogg-opus', offset: 0 };
    if (codec === 'flac') return { container: 'ogg-flac', offset: 0 };
    return undefined;
  }
  const start = skipId3(bytes);
  if (ascii(bytes, start, 'fLaC')) return { container: 'flac', offset: start };
  // A frame header right at the start (or right after ID3) is taken as MP3 even when the
  // next frame does not follow, so a damaged MP3 is reported as damaged, not as unknown.
  const direct = mpegHeader(bytes, start);
  if (direct) return { container: 'mp3', offset: start, mpeg: direct };
  if (start > 0) {
    // After an ID3 tag, tolerate some junk before the first frame.
    const end = Math.min(bytes.length, start + 65536);
    for (let p = start; p < end; p++) {
      if (bytes[p] !== 0xff) continue;
      const h = confirmedMpegFrame(bytes, p);
      if (h) return { container: 'mp3', offset: p, mpeg: h };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Decoding

interface DecodedResult {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  /** `outputSamples`: samples per channel decoded before the error (wasm-audio-decoders' DecodeError). */
  errors: { message: string; outputSamples?: number }[];
}

function fileLabel(nameHint: string | undefined): string {
  return nameHint && nameHint.length > 0 ? nameHint : 'audio data';
}

function unsupported(bytes: Uint8Array, name: string, start: number): StemstreamError {
  const known = knownUnsupported(bytes, start);
  let what: string;
  if (known) {
    what = `it looks like ${known}, which stemstream does not decode`;
  } else if (ascii(bytes, 0, 'OggS')) {
    const codec = oggCodec(bytes);
    what =
      codec === 'truncated'
        ? 'it is an Ogg file whose first page is missing or cut short'
        : `it is an Ogg file with ${codec === 'unknown' ? 'an unknown codec' : codec}, not Vorbis, Opus or FLAC`;
  } else {
    what = `not WAV, AIFF, M4A, FLAC, MP3 or Ogg (first bytes ${describeBytes(bytes, 0, 16)})`;
  }
  return new StemstreamError('UNSUPPORTED_AUDIO_FORMAT', `cannot decode ${name}: ${what}; ${CONVERT_HINT}`);
}

/** FLAC: total samples per channel from STREAMINFO (0 when unknown). */
function flacTotalSamples(bytes: Uint8Array, start: number): number {
  const p = start + 8; // "fLaC" + metadata block header; STREAMINFO is always the first block
  if ((bytes[start + 4] & 0x7f) !== 0 || p + 18 > bytes.length) return 0;
  return (bytes[p + 13] & 0x0f) * 2 ** 32 + ((bytes[p + 14] << 24) >>> 0) + (bytes[p + 15] << 16) + (bytes[p + 16] << 8) + bytes[p + 17];
}

/** mpg123's own layer III decoding delay, which its gapless trimming adds to the encoder's. */
const MPG123_DECODER_DELAY = 529;

/**
 * MP3: samples per channel mpg123-decoder (gapless) returns for the whole
 * file, from the Xing/Info header's frame count and the LAME tag's encoder
 * delay and padding; undefined when there is no such header (nothing is
 * trimmed then, and nothing declares a length).
 *
 * The LAME tag layout is written by LAME, by ffmpeg (encoder string "Lavc…"
 * or "Lavf…") and others. mpg123 takes its delay and padding whenever the
 * tag's first byte is not zero, whatever the string; it checks neither the
 * string nor the tag CRC (which ffmpeg computes over another span than LAME
 * in mono and MPEG-2 files), so neither is checked here: the length must be
 * the one the decoder returns. It skips delay + 529 samples at the start and
 * stops padding − 529 before the end of the last frame, never past that end.
 */
function mp3DeclaredLength(bytes: Uint8Array, start: number, h: MpegHeader): { samples: number; tolerance: number } | undefined {
  if (h.layer !== 3) return undefined; // Xing/Info headers are layer III frames
  const sideInfo = h.mpeg1 ? (h.mono ? 17 : 32) : h.mono ? 9 : 17;
  const p = start + 4 + sideInfo;
  if (!ascii(bytes, p, 'Xing') && !ascii(bytes, p, 'Info')) return undefined;
  if (p + 12 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint32(p + 4, false);
  if (!(flags & 1)) return undefined; // no frame count: mpg123 trims nothing either
  const frames = view.getUint32(p + 8, false);
  // Fields present by flag: frames (4), bytes (4), TOC (100), quality (4); the LAME tag follows.
  const lame = p + 8 + 4 + (flags & 2 ? 4 : 0) + (flags & 4 ? 100 : 0) + (flags & 8 ? 4 : 0);
  const tagged = lame + 24 <= bytes.length && bytes[lame] !== 0;
  let delay = 0;
  let padding = 0;
  if (tagged) {
    const d = lame + 21; // 12 bits encoder delay, 12 bits padding
    delay = (bytes[d] << 4) | (bytes[d + 1] >> 4);
    padding = ((bytes[d + 1] & 0x0f) << 8) | bytes[d + 2];
  }
  const samples = frames * h.samplesPerFrame - delay - Math.max(padding, MPG123_DECODER_DELAY);
  if (!(samples > 0)) return undefined;
  // LAME and ffmpeg, the writers of the tag, leave the Info frame out of the
  // count: the decoder returns exactly this many. Without the tag the writer is
  // unknown, and writers differ on whether the Xing frame counts itself.
  return { samples, tolerance: tagged ? 0 : h.samplesPerFrame };
}

/**
 * mpg123-decoder and the FLAC decoder print each error with console.error;
 * decodeAudio reports them once, in its warning. Only their lines are dropped,
 * and a count keeps concurrent decodes from restoring each other's filter.
 */
const DECODER_LOG_PREFIXES = ['mpg123-decoder:', '@wasm-audio-decoders/flac:'];
let filtering = 0;
let originalConsoleError: typeof console.error = console.error;

async function withoutDecoderLogs<T>(fn: () => Promise<T> | T): Promise<T> {
  if (filtering++ === 0) {
    originalConsoleError = console.error;
    const forward = originalConsoleError;
    console.error = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && DECODER_LOG_PREFIXES.some((p) => (args[0] as string).startsWith(p))) return;
      forward(...args);
    };
  }
  try {
    return await fn();
  } finally {
    if (--filtering === 0) console.error = originalConsoleError;
  }
}

interface OggLayout {
  /** Where the last whole page ends (0 when there is none). */
  end: number;
  /** Where a page that runs past the end of the file starts. */
  partial?: number;
  /**
   * The stream was cut short: it ends in a partial page. A last whole page
   * without the end-of-stream flag is no sign of damage: stream rips end so.
   */
  cut: boolean;
  /** Granule position of the last whole page of the first logical stream that finishes a packet. */
  granule?: number;
}

/**
 * Walks the Ogg pages (each header gives its page's length). Bytes that are
 * no page (damage, a tag appended to the file) are skipped up to the next
 * capture pattern, as decoders do.
 */
function oggLayout(bytes: Uint8Array): OggLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const serial = bytes.length >= 18 ? view.getUint32(14, true) : undefined;
  let end = 0;
  let partial: number | undefined;
  let granule: number | undefined;
  let p = 0;
  while (p + 27 <= bytes.length) {
    if (bytes[p] !== 0x4f || !ascii(bytes, p, 'OggS') || bytes[p + 4] !== 0) {
      p++;
      continue;
    }
    const segments = bytes[p + 26];
    let next = p + 27 + segments;
    if (next <= bytes.length) for (let i = 0; i < segments; i++) next += bytes[p + 27 + i];
    if (next > bytes.length) {
      partial = p;
      break;
    }
    end = next;
    const lo = view.getUint32(p + 6, true);
    const hi = view.getInt32(p + 10, true);
    // −1: no packet finishes on this page.
    if (view.getUint32(p + 14, true) === serial && !(hi === -1 && lo === 0xffffffff)) granule = hi * 4294967296 + lo;
    p = next;
  }
  return { end, partial, cut: partial !== undefined, granule };
}

let oggCrcTable: Uint32Array | undefined;

/** The Ogg page checksum (CRC-32, polynomial 0x04C11DB7, not reflected) of `page` with its checksum field zeroed. */
function oggCrc(page: Uint8Array): number {
  if (!oggCrcTable) {
    oggCrcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let r = i << 24;
      for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
      oggCrcTable[i] = r >>> 0;
    }
  }
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ oggCrcTable[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  return crc;
}

/**
 * The bytes of an Ogg stream cut short as the decoders can take them: the
 * whole pages, then the partial page rebuilt with only the packets that are
 * all there. Given a partial page, the decoders return noise for its missing
 * packets, or many more samples than it holds.
 */
function oggWholePackets(bytes: Uint8Array, layout: OggLayout): Uint8Array {
  const p = layout.partial;
  const table = (p ?? 0) + 27;
  if (p === undefined || table > bytes.length || table + bytes[p + 26] > bytes.length) return bytes.subarray(0, layout.end);
  const segments = bytes[p + 26];
  const body = table + segments;
  let offset = body;
  let keep = 0; // lacing values up to the end of the last whole packet
  let keepEnd = body;
  for (let i = 0; i < segments; i++) {
    offset += bytes[table + i];
    if (offset > bytes.length) break;
    if (bytes[table + i] < 255) {
      keep = i + 1;
      keepEnd = offset;
    }
  }
  if (keep === 0) return bytes.subarray(0, layout.end);
  const out = new Uint8Array(layout.end + 27 + keep + (keepEnd - body));
  out.set(bytes.subarray(0, layout.end));
  const page = out.subarray(layout.end);
  page.set(bytes.subarray(p, table + keep));
  page[5] &= ~4; // not the end of the stream: with this flag the decoders drop the page
  page[26] = keep;
  page.set(bytes.subarray(body, keepEnd), 27 + keep);
  page.fill(0xff, 6, 14); // granule position −1: the page's own belongs to a packet that is gone
  page.fill(0, 22, 26);
  new DataView(page.buffer, page.byteOffset, page.byteLength).setUint32(22, oggCrc(page), true);
  return out;
}

/** Ogg Opus: the pre-skip from the OpusHead packet, undefined when it is not there. */
function opusPreSkip(bytes: Uint8Array): number | undefined {
  const head = 27 + bytes[26];
  if (!ascii(bytes, head, 'OpusHead') || head + 12 > bytes.length) return undefined;
  return bytes[head + 10] | (bytes[head + 11] << 8);
}

/** Frees a decoder's WebAssembly memory; a failure here must not hide the decoding error. */
function release(decoder: { free: () => void }): void {
  try {
    decoder.free();
  } catch {
    // The instance never finished initialising: nothing to free.
  }
}

/**
 * The FLAC decoder divides integer samples by 2^(bits−1) − 1; WAV (parseWav),
 * browsers and Demucs divide by 2^(bits−1). Back to the integer, then the WAV
 * scale, so that the same 16- or 24-bit audio decodes to the same floats
 * whether it came as WAV or FLAC (exactly: both divisions are by a power of two).
 */
function toWavScale(channels: Float32Array[], bitDepth: number): void {
  if (!(bitDepth >= 2 && bitDepth <= 32)) return;
  const max = 2 ** (bitDepth - 1) - 1;
  const scale = 2 ** (bitDepth - 1);
  for (const ch of channels) for (let i = 0; i < ch.length; i++) ch[i] = Math.round(ch[i] * max) / scale;
}

async function runDecoder(container: AudioContainer, data: Uint8Array): Promise<DecodedResult> {
  switch (container) {
    case 'flac':
    case 'ogg-flac': {
      const { FLACDecoder } = await import('@wasm-audio-decoders/flac');
      const decoder = new FLACDecoder();
      try {
        await decoder.ready;
        const result = await decoder.decodeFile(data);
        toWavScale(result.channelData, result.bitDepth);
        return result;
      } finally {
        release(decoder);
      }
    }
    case 'mp3': {
      const { MPEGDecoder } = await import('mpg123-decoder');
      const decoder = new MPEGDecoder({ enableGapless: true });
      try {
        await decoder.ready;
        return decoder.decode(data);
      } finally {
        release(decoder);
      }
    }
    case 'ogg-vorbis': {
      const { OggVorbisDecoder } = await import('@wasm-audio-decoders/ogg-vorbis');
      const decoder = new OggVorbisDecoder();
      try {
        await decoder.ready;
        return await decoder.decodeFile(data);
      } finally {
        release(decoder);
      }
    }
    case 'ogg-opus': {
      const { OggOpusDecoder } = await import('ogg-opus-decoder');
      const decoder = new OggOpusDecoder();
      try {
        await decoder.ready;
        return await decoder.decodeFile(data);
      } finally {
        release(decoder);
      }
    }
    case 'wav':
    case 'aiff':
    case 'mp4':
      throw new Error(`unreachable: ${container} is parsed here, not by a WASM decoder`);
  }
}

const CODEC_LABEL: Record<AudioContainer, string> = {
  wav: 'WAV',
  aiff: 'AIFF',
  mp4: 'MP4',
  flac: 'FLAC',
  'ogg-flac': 'Ogg FLAC',
  mp3: 'MP3',
  'ogg-vorbis': 'Ogg Vorbis',
  'ogg-opus': 'Ogg Opus',
};

// ---------------------------------------------------------------------------
// MP4/M4A: ALAC here, AAC with WebCodecs

function aacProfile(track: Mp4Audio): string {
  return track.objectType === 5 ? 'HE-AAC' : track.objectType === 29 ? 'HE-AAC v2' : track.objectType === 2 ? 'AAC-LC' : 'AAC';
}

/** The ALAC packets that are in the file; a damaged one leaves its length of silence and an error. */
function decodeAlacTrack(bytes: Uint8Array, track: Mp4Audio): DecodedResult {
  const decoder = new AlacDecoder(track.config);
  // A packet holds at most frameLength samples, whatever a damaged time table says.
  const most = decoder.config.frameLength;
  let capacity = 0;
  for (let i = 0; i < track.present; i++) capacity += Math.min(track.durations[i], most);
  const channelData = Array.from({ length: decoder.config.channels }, () => new Float32Array(capacity));
  const errors: DecodedResult['errors'] = [];
  let at = 0;
  for (let i = 0; i < track.present; i++) {
    const start = track.offsets[i];
    try {
      at += decoder.decode(bytes.subarray(start, start + track.sizes[i]), channelData, at);
    } catch (err) {
      if (!(err instanceof StemstreamError)) throw err;
      errors.push({ message: err.message, outputSamples: at });
      const n = Math.min(track.durations[i], most, capacity - at);
      for (const ch of channelData) ch.fill(0, at, at + n);
      at += n;
    }
  }
  return { channelData, samplesDecoded: at, sampleRate: decoder.config.sampleRate || track.sampleRate, errors };
}

/** AAC through WebCodecs' AudioDecoder (browsers); in Node, where there is none, the conversion to run. */
async function decodeAacTrack(bytes: Uint8Array, track: Mp4Audio, name: string): Promise<DecodedResult> {
  const web = globalThis as Partial<Pick<typeof globalThis, 'AudioDecoder' | 'EncodedAudioChunk'>>;
  const profile = aacProfile(track);
  const flac = `${name.replace(/\.[^.]*$/, '') || 'output'}.flac`;
  const convert = `convert it first, e.g. \`ffmpeg -i "${name}" "${flac}"\` (or on a Mac \`afconvert -f WAVE -d LEI16 "${name}" output.wav\`)`;
  if (!web.AudioDecoder || !web.EncodedAudioChunk) {
    throw new StemstreamError(
      'UNSUPPORTED_AUDIO_FORMAT',
      `it is ${profile} audio in MP4/M4A, which stemstream decodes only where WebCodecs is (browsers): Node has no AAC ` +
        `decoder that stemstream can ship (those on npm are GPL); ${convert}`,
    );
  }
  const config: AudioDecoderConfig = {
    codec: `mp4a.40.${track.objectType ?? 2}`,
    sampleRate: track.sampleRate,
    numberOfChannels: track.channels,
    description: track.config,
  };
  const support = await web.AudioDecoder.isConfigSupported(config).catch(() => ({ supported: false }));
  if (!support.supported) {
    throw new StemstreamError('UNSUPPORTED_AUDIO_FORMAT', `it is ${profile} audio in MP4/M4A, which this browser's WebCodecs does not decode; ${convert}`);
  }
  const planes: Float32Array[][] = [];
  const errors: DecodedResult['errors'] = [];
  let frames = 0;
  let sampleRate = 0;
  const decoder = new web.AudioDecoder({
    output: (data) => {
      try {
        const n = data.numberOfFrames;
        const chunk: Float32Array[] = [];
        for (let c = 0; c < data.numberOfChannels; c++) {
          const plane = new Float32Array(n);
          data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
          chunk.push(plane);
        }
        planes.push(chunk);
        frames += n;
        sampleRate = data.sampleRate;
      } finally {
        data.close();
      }
    },
    error: (err) => errors.push({ message: err.message, outputSamples: frames }),
  });
  try {
    decoder.configure(config);
    let time = 0;
    for (let i = 0; i < track.present && decoder.state === 'configured'; i++) {
      const start = track.offsets[i];
      const timestamp = Math.round((time * 1e6) / track.timescale);
      decoder.decode(new web.EncodedAudioChunk({ type: 'key', timestamp, data: bytes.subarray(start, start + track.sizes[i]) }));
      time += track.durations[i];
    }
    if (decoder.state === 'configured') await decoder.flush().catch((err: Error) => errors.push({ message: err.message, outputSamples: frames }));
  } finally {
    if (decoder.state !== 'closed') decoder.close();
  }
  const channels = planes[0]?.length ?? 0;
  const channelData = Array.from({ length: channels }, () => new Float32Array(frames));
  let at = 0;
  for (const chunk of planes) {
    for (let c = 0; c < channels; c++) channelData[c].set(chunk[c] ?? new Float32Array(chunk[0].length), at);
    at += chunk[0].length;
  }
  return { channelData, samplesDecoded: frames, sampleRate: sampleRate || track.sampleRate, errors };
}

/**
 * An MP4/M4A file: its first sound track decoded, less the encoder delay
 * and padding its edit list (or iTunSMPB tag) marks, so that the length is
 * the source's. A file cut short decodes as far as its samples go, with a warning.
 */
async function decodeMp4(bytes: Uint8Array, name: string, opts: DecodeOptions): Promise<LaidOutAudio> {
  const track = parseMp4(bytes);
  const label = track.codec === 'alac' ? 'ALAC' : aacProfile(track);
  let result: DecodedResult;
  try {
    result = track.codec === 'alac' ? decodeAlacTrack(bytes, track) : await decodeAacTrack(bytes, track, name);
  } catch (err) {
    if (err instanceof StemstreamError) throw err;
    throw new StemstreamError('BAD_AUDIO_FILE', `the ${label} decoder failed (the file may be truncated or damaged): ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const rate = result.sampleRate;
  const toFrames = (t: number) => Math.round((t * rate) / track.timescale);
  const skip = Math.min(toFrames(track.skip), result.samplesDecoded);
  const declared = toFrames(track.length);
  const frames = Math.max(0, Math.min(declared, result.samplesDecoded - skip));
  if (frames === 0 || result.channelData.length === 0) {
    const why = result.errors[0] ? `decoder error: ${result.errors[0].message}` : track.present === 0 ? 'none of its audio is in the file: it was cut short' : 'the file may be damaged';
    throw new StemstreamError('BAD_AUDIO_FILE', `it is ${label} in MP4/M4A but no audio could be decoded (${why})`);
  }
  const cut = track.present < track.offsets.length;
  const damage = damageWarning(label, { samples: declared, header: `MP4 ${track.lengthFrom}`, tolerance: 0 }, result, frames, cut);
  if (damage) opts.onWarning?.(damage);
  const channels = result.channelData.map((ch) => ch.slice(skip, skip + frames));
  return track.codec === 'alac' && channels.length >= 3 ? { sampleRate: rate, channels, layout: alacLayout(channels.length, track.chan) } : { sampleRate: rate, channels };
}

/**
 * The speakers of ALAC's decoded channels: ALAC's layout for the count, or
 * those a 'chan' box names for as many channels. The box is taken as the set
 * of speakers, in WAVE order, as ffmpeg writes and reads it (Apple's ALAC
 * layout tags list the same sets in ALAC's element order; alac.ts returns
 * them in WAVE order).
 */
function alacLayout(count: number, chan: Mp4Audio['chan']): ChannelLayout | undefined {
  return chan?.length === count ? { speakers: inMaskOrder(chan) } : alacChannelLayout(count);
}

/**
 * Decodes a whole audio file held in memory. `nameHint` (e.g. the file name)
 * is only used in messages; the format is recognised from the bytes. Three
 * or more channels come with `layout` where the codec or the file says which
 * speaker each is (ALAC, AIFF's CHAN chunk, Vorbis, Opus, FLAC's channel-mask
 * tag), which toChannelCount() then downmixes by; without it (a WAV, whose
 * mask WavFileReader reads, AAC) the default order for the count applies.
 */
export async function decodeAudio(bytes: Uint8Array, nameHint?: string, opts: DecodeOptions = {}): Promise<LaidOutAudio> {
  const name = fileLabel(nameHint);
  if (bytes.length === 0) throw new StemstreamError('BAD_AUDIO_FILE', `cannot decode ${name}: the file is empty`);
  const found = sniff(bytes);
  if (!found) throw unsupported(bytes, name, skipId3(bytes));

  if (found.container === 'wav' || found.container === 'aiff' || found.container === 'mp4') {
    const warn = opts.onWarning;
    const parseOpts = warn ? { onWarning: (m: string) => warn(`${name}: ${m}`) } : {};
    try {
      if (found.container === 'mp4') return await decodeMp4(bytes, name, parseOpts);
      return found.container === 'wav' ? parseWav(bytes, parseOpts) : parseAiff(bytes, parseOpts);
    } catch (err) {
      if (err instanceof StemstreamError) {
        throw new StemstreamError(err.code, `cannot decode ${name}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  const label = CODEC_LABEL[found.container];
  let data = found.offset > 0 ? bytes.subarray(found.offset) : bytes;
  const ogg = found.container.startsWith('ogg-') ? oggLayout(bytes) : undefined;
  // Bytes after the last whole page: a page cut short, or no page at all (a tag appended, damage).
  if (ogg && ogg.end > 0 && ogg.end < bytes.length) data = oggWholePackets(bytes, ogg);
  let result: DecodedResult;
  try {
    result = await withoutDecoderLogs(() => runDecoder(found.container, data));
  } catch (err) {
    throw new StemstreamError(
      'BAD_AUDIO_FILE',
      `cannot decode ${name}: the ${label} decoder failed (the file may be truncated or damaged): ` +
        `${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    );
  }

  const firstError = result.errors[0]?.message;
  if (result.samplesDecoded === 0 || result.channelData.length === 0 || !(result.sampleRate > 0)) {
    throw new StemstreamError(
      'BAD_AUDIO_FILE',
      `cannot decode ${name}: it starts like ${label} but no audio could be decoded` +
        (firstError ? ` (decoder error: ${firstError})` : ' (the file may be truncated or damaged)'),
    );
  }
  let frames = result.samplesDecoded;
  const opus = found.container === 'ogg-opus';
  if ((opus || found.container === 'ogg-vorbis') && ogg?.granule !== undefined && !ogg.cut) {
    // The stream ends at its last granule position (less Opus' pre-skip). The
    // decoders drop the end padding only on a page flagged end-of-stream, which
    // stream rips lack: trim what they kept (at most a second of Opus, one
    // Vorbis block; a granule far off belongs to a stream that did not start at 0).
    const exact = ogg.granule - (opus ? (opusPreSkip(bytes) ?? 0) : 0);
    if (exact > 0 && exact < frames && frames - exact <= (opus ? 48000 : 8192)) frames = exact;
  }
  const damage = damageWarning(label, declaredLength(found, bytes), result, frames, ogg?.cut === true);
  if (damage) opts.onWarning?.(`${name}: ${damage}`);
  let channels = result.channelData;
  // mpg123-decoder always returns two channels; a mono stream gives two identical ones.
  if (found.container === 'mp3' && found.mpeg?.mono) channels = channels.slice(0, 1);
  const out = channels.map((ch) =>
    ch.length === frames && ch.byteLength === ch.buffer.byteLength ? ch : ch.slice(0, frames),
  );
  const layout = out.length >= 3 ? codecLayout(found, bytes, out.length) : undefined;
  return layout ? { sampleRate: result.sampleRate, channels: out, layout } : { sampleRate: result.sampleRate, channels: out };
}

/**
 * The speakers of `count` decoded channels (3 or more) where the codec fixes
 * them (Vorbis, Opus) or a FLAC file tags them; undefined for the default
 * order of the count (FLAC's).
 */
function codecLayout(found: Sniffed, bytes: Uint8Array, count: number): ChannelLayout | undefined {
  if (found.container === 'ogg-vorbis' || found.container === 'ogg-opus') return vorbisChannelLayout(count);
  if (found.container === 'flac') {
    const mask = flacChannelMask(bytes, found.offset);
    return mask === undefined ? undefined : maskChannelLayout(count, mask);
  }
  return undefined;
}

/**
 * FLAC's WAVEFORMATEXTENSIBLE_CHANNEL_MASK tag (ffmpeg and flac write it for
 * a layout that is not FLAC's default for the count), from the VORBIS_COMMENT
 * block; the metadata blocks after "fLaC" at `start` are walked by their headers.
 */
function flacChannelMask(bytes: Uint8Array, start: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start + 4;
  for (let blocks = 0; blocks < 1024 && pos + 4 <= bytes.length; blocks++) {
    const size = (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3];
    if ((bytes[pos] & 0x7f) === 4) {
      const end = Math.min(bytes.length, pos + 4 + size);
      let p = pos + 4;
      if (p + 4 > end) return undefined;
      p += 4 + view.getUint32(p, true); // past the vendor string
      if (p + 4 > end) return undefined;
      const count = view.getUint32(p, true);
      p += 4;
      for (let i = 0; i < count && p + 4 <= end; i++) {
        const len = view.getUint32(p, true);
        const text = new TextDecoder().decode(bytes.subarray(p + 4, Math.min(end, p + 4 + len)));
        const m = /^WAVEFORMATEXTENSIBLE_CHANNEL_MASK=(0x[0-9a-f]+|\d+)$/i.exec(text);
        if (m) return Number(m[1]);
        p += 4 + len;
      }
      return undefined;
    }
    if (bytes[pos] & 0x80) return undefined; // the last block
    pos += 4 + size;
  }
  return undefined;
}

/** Samples per channel the file's header declares, and which header; undefined when it declares none. */
function declaredLength(found: Sniffed, bytes: Uint8Array): { samples: number; header: string; tolerance: number } | undefined {
  if (found.container === 'flac' || found.container === 'ogg-flac') {
    // Ogg FLAC: the first packet is 0x7F "FLAC", version (2), header count (2), then "fLaC" and STREAMINFO.
    const at = found.container === 'flac' ? found.offset : 27 + bytes[26] + 9;
    const samples = ascii(bytes, at, 'fLaC') ? flacTotalSamples(bytes, at) : 0;
    return samples > 0 ? { samples, header: 'FLAC header', tolerance: 0 } : undefined;
  }
  if (found.container === 'mp3' && found.mpeg) {
    const length = mp3DeclaredLength(bytes, found.offset, found.mpeg);
    return length && { ...length, header: 'MP3 Xing/Info header' };
  }
  return undefined;
}

/**
 * One line on what a damaged file lost: how much was decoded of how much the
 * header declares, and where the damage is (the decoder's first error, or
 * where the audio stops). Undefined when nothing points to damage. `cut`: the
 * container shows the file was cut short (an Ogg stream ending in a partial page).
 */
function damageWarning(
  label: string,
  declared: { samples: number; header: string; tolerance: number } | undefined,
  result: DecodedResult,
  frames: number,
  cut: boolean,
): string | undefined {
  const rate = result.sampleRate;
  const secs = (n: number) => `${(n / rate).toFixed(2)} s`;
  const short = declared !== undefined && frames < declared.samples - declared.tolerance;
  const errors = result.errors;
  if (!short && !cut && errors.length === 0) return undefined;
  const parts: string[] = [];
  if (declared && short) {
    const pct = Math.floor((100 * frames) / declared.samples);
    parts.push(`decoded ${frames} of the ${declared.samples} samples the ${declared.header} declares (${secs(frames)} of ${secs(declared.samples)}, ${pct} %)`);
  } else {
    parts.push(`decoded ${frames} samples (${secs(frames)})`);
  }
  if (errors.length > 0) {
    const at = errors[0].outputSamples;
    const where = at !== undefined && at >= 0 ? `, the first about ${secs(Math.min(at, frames))} into the audio` : '';
    parts.push(`the ${label} decoder skipped ${errors.length} damaged part(s)${where} (${errors[0].message}); audio is missing there`);
  }
  if (errors.length === 0 || cut) {
    parts.push(`decoding stops at ${secs(frames)}: the file is truncated or damaged there (was the download or copy cut short?)`);
  }
  return parts.join('; ');
}

/** Reads and decodes an audio file from disk (Node only; decodeAudio itself bundles for browsers). */
export async function decodeAudioFile(path: string, opts: DecodeOptions = {}): Promise<LaidOutAudio> {
  const fs = await importNodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
  const { basename } = await importNodeBuiltin<typeof import('node:path')>('node:path');
  let bytes: Uint8Array;
  try {
    const buf = await fs.readFile(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : code === 'ERR_FS_FILE_TOO_LARGE'
              ? 'the file is too large to load (over 2 GiB); cut it into shorter pieces'
              : (err as Error)?.message ?? String(err);
    throw new StemstreamError('IO', `cannot read ${path}: ${why}`, { cause: err });
  }
  return decodeAudio(bytes, basename(path), opts);
}
