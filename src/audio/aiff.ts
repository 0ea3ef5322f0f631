/**
 * AIFF and AIFF-C reading (Apple's Audio Interchange File Format).
 *
 * A FORM container of big-endian chunks: COMM (channels, frame count, sample
 * size, the rate as an 80-bit extended float; AIFF-C adds a compression type)
 * and SSND (an offset and block size, then the samples, interleaved). Read
 * here: integer PCM of 1 to 32 bits (big-endian; little-endian for AIFF-C
 * 'sowt'), 32- and 64-bit float, µ-law and A-law. Integer samples are scaled
 * like WAV (parseWav): the container value over 2^(bits−1), so the same PCM
 * decodes to the same floats whichever of the two files holds it. A CHAN
 * chunk (Core Audio's channel layout, as Apple and ffmpeg write it for more
 * than two channels) says which speaker each channel is, in channel order.
 *
 * No Node built-ins: bundles for browsers like wav.ts.
 */
import { StemstreamError } from '../errors.js';
import { fourcc } from './bytes.js';
import { readCoreAudioLayout } from './core-audio-layout.js';
import type { LaidOutAudio, Speaker } from './downmix.js';
import { describeBytes } from './wav.js';

export interface ParseAiffOptions {
  /**
   * Told when the sound data is cut short (a download or copy that stopped):
   * the frames that are there are returned. Without it, that is an error.
   */
  onWarning?: (message: string) => void;
}

/** How the sample bytes are stored, from COMM (and AIFF-C's compression type). */
type Encoding = 'be' | 'le' | 'float' | 'ulaw' | 'alaw' | 'offset';

interface AiffFormat {
  channels: number;
  /** Sample frames COMM declares. */
  frames: number;
  /** Significant bits of a sample. */
  bits: number;
  /** Bytes a sample takes in the file. */
  bytes: number;
  sampleRate: number;
  encoding: Encoding;
}

const CONVERT = 'convert it with e.g. `ffmpeg -i in.aiff -c:a pcm_s16le out.wav`';

/** AIFF-C compression types read here, and how. */
const COMPRESSIONS: Record<string, { encoding: Encoding; bits?: number }> = {
  NONE: { encoding: 'be' },
  twos: { encoding: 'be' },
  in24: { encoding: 'be', bits: 24 },
  in32: { encoding: 'be', bits: 32 },
  sowt: { encoding: 'le' },
  '42ni': { encoding: 'le', bits: 32 },
  fl32: { encoding: 'float', bits: 32 },
  FL32: { encoding: 'float', bits: 32 },
  fl64: { encoding: 'float', bits: 64 },
  FL64: { encoding: 'float', bits: 64 },
  ulaw: { encoding: 'ulaw', bits: 8 },
  ULAW: { encoding: 'ulaw', bits: 8 },
  alaw: { encoding: 'alaw', bits: 8 },
  ALAW: { encoding: 'alaw', bits: 8 },
  'raw ': { encoding: 'offset', bits: 8 },
};

/** Names of AIFF-C codecs not read here, for the message. */
const CODEC_NAMES: Record<string, string> = {
  ima4: 'IMA 4:1 ADPCM',
  MAC3: 'MACE 3:1',
  MAC6: 'MACE 6:1',
  GSM: 'GSM',
  'GSM ': 'GSM',
  Qclp: 'QUALCOMM PureVoice',
  QDMC: 'QDesign Music',
  QDM2: 'QDesign Music 2',
  'ms\x00\x02': 'Microsoft ADPCM',
  'ms\x00\x11': 'IMA ADPCM',
};

function bad(message: string): StemstreamError {
  return new StemstreamError('BAD_AUDIO_FILE', message);
}

/** An IEEE 754 80-bit extended float (big-endian), as AIFF stores the sample rate. */
export function readExtended(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signExp = view.getUint16(offset, false);
  const mantissa = view.getUint32(offset + 2, false) * 2 ** 32 + view.getUint32(offset + 6, false);
  const exp = signExp & 0x7fff;
  if (exp === 0 && mantissa === 0) return 0;
  if (exp === 0x7fff) return Number.NaN;
  const value = mantissa * 2 ** (exp - 16383 - 63);
  return signExp & 0x8000 ? -value : value;
}

function parseComm(bytes: Uint8Array, at: number, size: number, aifc: boolean): AiffFormat {
  const need = aifc ? 22 : 18;
  if (size < need) throw bad(`not a valid ${aifc ? 'AIFF-C' : 'AIFF'} file: its COMM chunk is ${size} bytes, expected at least ${need}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const channels = view.getInt16(at, false);
  const frames = view.getUint32(at + 2, false);
  let bits = view.getInt16(at + 6, false);
  const rate = readExtended(bytes, at + 8);
  let encoding: Encoding = 'be';
  if (aifc) {
    const type = fourcc(bytes, at + 18);
    const known = COMPRESSIONS[type];
    if (!known) {
      const name = CODEC_NAMES[type] ?? 'an unknown codec';
      throw new StemstreamError(
        'UNSUPPORTED_AUDIO_FORMAT',
        `AIFF-C compressed with ${describeBytes(bytes, at + 18, 4)} (${name}); stemstream reads uncompressed AIFF-C ` +
          `(NONE, sowt, fl32, fl64) and µ-law/A-law; ${CONVERT}`,
      );
    }
    encoding = known.encoding;
    if (known.bits !== undefined) bits = known.bits;
  }
  if (!(channels > 0)) throw bad(`not a valid AIFF file: the COMM chunk says ${channels} channels`);
  if (!(rate >= 1) || !Number.isFinite(rate)) throw bad(`not a valid AIFF file: the COMM chunk says sample rate ${rate}`);
  const okBits = encoding === 'float' ? bits === 32 || bits === 64 : bits >= 1 && bits <= 32;
  if (!okBits) {
    throw new StemstreamError('UNSUPPORTED_AUDIO_FORMAT', `AIFF with ${bits}-bit ${encoding === 'float' ? 'float ' : ''}samples is not supported; ${CONVERT}`);
  }
  return { channels, frames, bits, bytes: Math.ceil(bits / 8), sampleRate: Math.round(rate), encoding };
}

/** G.711 µ-law byte to a 16-bit sample (the standard expansion). */
function ulawSample(u: number): number {
  const v = ~u & 0xff;
  const exponent = (v >> 4) & 7;
  const magnitude = ((((v & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return v & 0x80 ? -magnitude : magnitude;
}

/** G.711 A-law byte to a 16-bit sample (the standard expansion). */
function alawSample(a: number): number {
  const v = a ^ 0x55;
  const exponent = (v >> 4) & 7;
  let magnitude = (v & 0x0f) << 4;
  magnitude = exponent === 0 ? magnitude + 8 : (magnitude + 0x108) << (exponent - 1);
  return v & 0x80 ? magnitude : -magnitude;
}

let companding: { ulaw: Float32Array; alaw: Float32Array } | undefined;

function compandingTables(): { ulaw: Float32Array; alaw: Float32Array } {
  if (!companding) {
    const ulaw = new Float32Array(256);
    const alaw = new Float32Array(256);
    for (let i = 0; i < 256; i++) {
      ulaw[i] = ulawSample(i) / 32768;
      alaw[i] = alawSample(i) / 32768;
    }
    companding = { ulaw, alaw };
  }
  return companding;
}

function decodeSamples(bytes: Uint8Array, start: number, fmt: AiffFormat, frames: number): Float32Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { channels: nch, bytes: bps, encoding } = fmt;
  const stride = nch * bps;
  const out: Float32Array[] = [];
  for (let c = 0; c < nch; c++) {
    const ch = new Float32Array(frames);
    let p = start + c * bps;
    if (encoding === 'float') {
      if (bps === 4) for (let i = 0; i < frames; i++, p += stride) ch[i] = view.getFloat32(p, false);
      else for (let i = 0; i < frames; i++, p += stride) ch[i] = view.getFloat64(p, false);
    } else if (encoding === 'ulaw' || encoding === 'alaw') {
      const table = compandingTables()[encoding];
      for (let i = 0; i < frames; i++, p += stride) ch[i] = table[bytes[p]];
    } else if (encoding === 'offset') {
      for (let i = 0; i < frames; i++, p += stride) ch[i] = (bytes[p] - 128) / 128;
    } else if (bps === 1) {
      for (let i = 0; i < frames; i++, p += stride) ch[i] = ((bytes[p] << 24) >> 24) / 128;
    } else if (bps === 2) {
      const le = encoding === 'le';
      for (let i = 0; i < frames; i++, p += stride) ch[i] = view.getInt16(p, le) / 32768;
    } else if (bps === 3) {
      if (encoding === 'le') {
        for (let i = 0; i < frames; i++, p += stride) ch[i] = (((bytes[p + 2] << 24) | (bytes[p + 1] << 16) | (bytes[p] << 8)) >> 8) / 8388608;
      } else {
        for (let i = 0; i < frames; i++, p += stride) ch[i] = (((bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8)) >> 8) / 8388608;
      }
    } else {
      const le = encoding === 'le';
      for (let i = 0; i < frames; i++, p += stride) ch[i] = view.getInt32(p, le) / 2147483648;
    }
    out.push(ch);
  }
  return out;
}

function seconds(frames: number, rate: number): string {
  return `${(frames / rate).toFixed(2)} s`;
}

/** Where an AIFF file's samples are, and how many of the declared ones are there. */
interface AiffLayout {
  fmt: AiffFormat;
  /** Byte where the first sample frame starts. */
  dataOffset: number;
  /** Whole frames present in the file. */
  frames: number;
  /** The speakers of the CHAN chunk, if there is one that names them. */
  chan?: Speaker[];
}

function locateAiff(bytes: Uint8Array, opts: ParseAiffOptions): AiffLayout {
  const total = bytes.length;
  if (total < 12 || fourcc(bytes, 0) !== 'FORM' || (fourcc(bytes, 8) !== 'AIFF' && fourcc(bytes, 8) !== 'AIFC')) {
    throw bad(`not an AIFF file: expected "FORM....AIFF" or "FORM....AIFC" at the start, found ${describeBytes(bytes, 0, 12)}`);
  }
  const aifc = fourcc(bytes, 8) === 'AIFC';
  const kind = aifc ? 'AIFF-C' : 'AIFF';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The chunks end with the FORM chunk: bytes after it (padding, a tag some
  // programs append) are no AIFF chunks. A writer that could not seek back
  // leaves the FORM size 0: then they run to the end of the file.
  const formSize = view.getUint32(4, false);
  const end = formSize === 0 ? total : Math.min(8 + formSize, total);
  let fmt: AiffFormat | undefined;
  let ssnd = -1;
  /** Sound data bytes the SSND chunk declares (after its offset and block size fields), and those present. */
  let declaredData = 0;
  let presentData = 0;
  let chan: Speaker[] | undefined;
  const seen: string[] = [];
  let pos = 12;
  while (pos + 8 <= end) {
    const id = fourcc(bytes, pos);
    const size = view.getUint32(pos + 4, false);
    const body = pos + 8;
    if (!/^[\x20-\x7e]{4}$/.test(id)) {
      throw bad(`corrupt ${kind} file: expected a chunk header at byte ${pos}, found ${describeBytes(bytes, pos, 8)} (chunks so far: ${seen.join(', ') || 'none'})`);
    }
    seen.push(id.trim() || id);
    if (id === 'COMM') {
      if (body + size > end) throw bad(`truncated ${kind} file: the COMM chunk at byte ${pos} declares ${size} bytes but only ${end - body} remain`);
      fmt = parseComm(bytes, body, size, aifc);
    } else if (id === 'CHAN' && body + size <= end) {
      chan = readCoreAudioLayout(bytes, body, size);
    } else if (id === 'SSND') {
      if (body + 8 > end) throw bad(`truncated ${kind} file: the file ends inside the SSND chunk header at byte ${pos}`);
      const offset = view.getUint32(body, false);
      ssnd = body + 8 + offset;
      // A writer that could not seek back leaves the size 0: the data runs to the end of the file.
      declaredData = size === 0 ? end - ssnd : size - 8 - offset;
      presentData = Math.max(0, Math.min(declaredData, end - ssnd));
    }
    // Chunks are word-aligned: an odd-sized chunk is followed by one pad byte.
    pos = body + size + (size & 1);
  }
  if (fmt === undefined) throw bad(`not a valid ${kind} file: no COMM chunk (chunks found: ${seen.join(', ') || 'none'})`);
  if (ssnd < 0) {
    if (fmt.frames === 0) return { fmt, dataOffset: total, frames: 0, chan };
    throw bad(`not a valid ${kind} file: no SSND chunk (chunks found: ${seen.join(', ')}); the file may be truncated`);
  }
  const frameBytes = fmt.channels * fmt.bytes;
  const inChunk = Math.floor(presentData / frameBytes);
  // COMM's frame count is the length; an SSND chunk that holds fewer frames was cut short.
  const declared = fmt.frames > 0 ? fmt.frames : Math.floor(Math.max(0, declaredData) / frameBytes);
  const frames = Math.min(declared, inChunk);
  if (frames < declared) {
    const message =
      `decoded ${frames} of the ${declared} samples the ${kind} header declares ` +
      `(${seconds(frames, fmt.sampleRate)} of ${seconds(declared, fmt.sampleRate)}, ${Math.floor((100 * frames) / declared)} %); ` +
      `the file ends at byte ${total}, ${seconds(frames, fmt.sampleRate)} into the audio: it looks truncated (was the download or copy cut short?)`;
    if (!opts.onWarning) throw bad(`truncated ${kind} file: ${message}`);
    opts.onWarning(message);
  }
  return { fmt, dataOffset: ssnd, frames, chan };
}

/**
 * Parses an AIFF or AIFF-C file held in memory into planar float samples,
 * with the speakers of 3 or more channels when a CHAN chunk names them
 * (without one, the default order for the count applies: FLAC's, which is
 * the AIFF specification's for 3 and 4 channels).
 */
export function parseAiff(bytes: Uint8Array, opts: ParseAiffOptions = {}): LaidOutAudio {
  const { fmt, dataOffset, frames, chan } = locateAiff(bytes, opts);
  const channels = decodeSamples(bytes, dataOffset, fmt, frames);
  return chan && chan.length === channels.length && channels.length >= 3 ? { sampleRate: fmt.sampleRate, channels, layout: { speakers: chan } } : { sampleRate: fmt.sampleRate, channels };
}

/**
 * Sample frames and rate from the COMM chunk of the start of an AIFF file
 * (`head`: as many bytes as were read); undefined when COMM is not in them.
 */
export function aiffHeaderLength(head: Uint8Array): { frames: number; sampleRate: number } | undefined {
  if (head.length < 12 || fourcc(head, 0) !== 'FORM' || (fourcc(head, 8) !== 'AIFF' && fourcc(head, 8) !== 'AIFC')) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let pos = 12;
  while (pos + 26 <= head.length) {
    const size = view.getUint32(pos + 4, false);
    if (fourcc(head, pos) === 'COMM') {
      const rate = readExtended(head, pos + 16);
      return rate > 0 && Number.isFinite(rate) ? { frames: view.getUint32(pos + 10, false), sampleRate: rate } : undefined;
    }
    pos += 8 + size + (size & 1);
  }
  return undefined;
}
