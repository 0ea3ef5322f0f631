/**
 * Apple Lossless (ALAC) decoding, bit-exact, from the format as Apple
 * published it (Apache 2.0 reference, "ALAC" in the Apple Open Source
 * releases): each packet is a list of elements (a single channel, a channel
 * pair, fill and data elements, an end tag); a channel's residuals are coded
 * with adaptive Golomb-Rice codes (with runs of zeros) and undone by an
 * adaptive LPC predictor; a pair is stored mid/side-like with a mix weight;
 * the low bytes of 24/32-bit samples may be sent verbatim ("shifted" bytes).
 *
 * Written here from that description: no npm ALAC decoder is both
 * maintained and permissively licensed (`alac` for Aurora.js is from 2014;
 * @audio/decode-aac's ALAC is GPL-2.0).
 *
 * No Node built-ins: bundles for browsers.
 */
import { StemstreamError } from '../errors.js';

export interface AlacConfig {
  frameLength: number;
  bitDepth: number;
  /** Rice parameters: history multiplier, initial history, limit on k. */
  pb: number;
  mb: number;
  kb: number;
  channels: number;
  maxRun: number;
  sampleRate: number;
}

function damaged(why: string): StemstreamError {
  return new StemstreamError('BAD_AUDIO_FILE', `an ALAC packet is damaged: ${why}`);
}

/** Reads the 24-byte ALACSpecificConfig ("magic cookie"). */
export function parseAlacConfig(c: Uint8Array): AlacConfig {
  if (c.length < 24) throw new StemstreamError('BAD_AUDIO_FILE', `the ALAC configuration is ${c.length} bytes, expected 24`);
  const v = new DataView(c.buffer, c.byteOffset, c.byteLength);
  const cfg: AlacConfig = {
    frameLength: v.getUint32(0, false),
    bitDepth: c[5],
    pb: c[6],
    mb: c[7],
    kb: c[8],
    channels: c[9],
    maxRun: v.getUint16(10, false),
    sampleRate: v.getUint32(20, false),
  };
  if (![16, 20, 24, 32].includes(cfg.bitDepth)) {
    throw new StemstreamError('UNSUPPORTED_AUDIO_FORMAT', `ALAC with ${cfg.bitDepth}-bit samples is not supported (16, 20, 24 and 32 are)`);
  }
  if (!(cfg.channels >= 1 && cfg.channels <= 8)) throw new StemstreamError('BAD_AUDIO_FILE', `the ALAC configuration says ${cfg.channels} channels (1 to 8 are possible)`);
  if (!(cfg.frameLength >= 1 && cfg.frameLength <= 1 << 16)) throw new StemstreamError('BAD_AUDIO_FILE', `the ALAC configuration says ${cfg.frameLength} samples per packet`);
  return cfg;
}

/**
 * Where each channel of ALAC's element order (Apple's layout for the count:
 * the centre first, the LFE last) goes in the order returned, ffmpeg's: the
 * front pair, the centre, the LFE, then the rest. That is not the WAV/FLAC
 * default order for every count (4 is FL FR FC BC, not quad): the speakers
 * are alacChannelLayout's (downmix.ts).
 */
const CHANNEL_ORDER: Record<number, number[]> = {
  3: [2, 0, 1], // C L R
  4: [2, 0, 1, 3], // C L R Cs
  5: [2, 0, 1, 3, 4], // C L R Ls Rs
  6: [2, 0, 1, 4, 5, 3], // C L R Ls Rs LFE
  7: [2, 0, 1, 4, 5, 6, 3], // C L R Ls Rs Cs LFE
  8: [2, 6, 7, 0, 1, 4, 5, 3], // C Lc Rc L R Ls Rs LFE
};

/** A most-significant-bit-first reader over a packet (padded so that reads past its end see zeros). */
class Bits {
  pos = 0;
  constructor(private readonly b: Uint8Array, readonly limit: number) {}

  /** The 32 bits from the current position. */
  peek32(): number {
    const b = this.b;
    const i = this.pos >>> 3;
    const s = this.pos & 7;
    const hi = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
    return s === 0 ? hi : ((hi << s) | (b[i + 4] >>> (8 - s))) >>> 0;
  }

  read(n: number): number {
    if (n === 0) return 0;
    const v = n === 32 ? this.peek32() : this.peek32() >>> (32 - n);
    this.pos += n;
    return v;
  }

  skip(n: number): void {
    this.pos += n;
  }

  alignByte(): void {
    this.pos = (this.pos + 7) & ~7;
  }

  get overrun(): boolean {
    return this.pos > this.limit;
  }
}

/** Golomb-Rice value with parameter k and modulus m (2^k − 1); 9 or more ones: an escape, `escapeBits` raw bits follow. */
function readRice(bits: Bits, k: number, m: number, escapeBits: number): number {
  const word = bits.peek32();
  const ones = Math.clz32(~word);
  if (ones >= 9) {
    bits.skip(9);
    return bits.read(escapeBits);
  }
  bits.skip(ones + 1);
  if (k === 1) return ones;
  const v = (word << (ones + 1)) >>> (32 - k);
  if (v >= 2) {
    bits.skip(k);
    return ones * m + v - 1;
  }
  bits.skip(k - 1);
  return ones * m;
}

/** floor(log2(x)) for x ≥ 1; 31 − clz. */
function log2(x: number): number {
  return 31 - Math.clz32(x);
}

/** Decodes `n` residuals with the adaptive Golomb-Rice code into `out`. */
function decodeResiduals(bits: Bits, out: Int32Array, n: number, chanBits: number, cfg: AlacConfig, historyMult: number): void {
  let history = cfg.mb;
  const kb = cfg.kb;
  const wb = (1 << kb) - 1;
  let zeroMode = 0;
  let c = 0;
  while (c < n) {
    if (bits.overrun) throw damaged('its residuals run past its end');
    let k = log2((history >>> 9) + 3);
    if (k > kb) k = kb;
    const x = readRice(bits, k, (1 << k) - 1, chanBits) + zeroMode;
    // The least significant bit is the sign.
    out[c++] = x & 1 ? -((x + 1) >>> 1) : x >>> 1;
    const raw = x - zeroMode;
    history = raw > 0xffff ? 0xffff : (history + historyMult * x - ((historyMult * history) >>> 9)) >>> 0;
    zeroMode = 0;
    if (history < 128 && c < n) {
      // A run of zeros follows.
      const kz = (history === 0 ? 32 : Math.clz32(history)) - 24 + ((history + 16) >>> 6);
      const run = readRice(bits, kz, ((1 << kz) - 1) & wb, 16);
      if (c + run > n) throw damaged('a run of zeros runs past the end of the packet');
      for (let j = 0; j < run; j++) out[c++] = 0;
      zeroMode = run >= 65535 ? 0 : 1;
      history = 0;
    }
  }
}

/** Undoes the adaptive LPC predictor (in place when `res` is `out`). */
function unpredict(res: Int32Array, out: Int32Array, n: number, coefs: Int16Array, order: number, chanBits: number, shift: number): void {
  const cs = 32 - chanBits;
  out[0] = res[0];
  if (order === 0) {
    if (res !== out) out.set(res.subarray(1, n), 1);
    return;
  }
  if (order === 31) {
    let prev = out[0];
    for (let j = 1; j < n; j++) {
      prev = ((res[j] + prev) << cs) >> cs;
      out[j] = prev;
    }
    return;
  }
  for (let j = 1; j <= order && j < n; j++) out[j] = ((res[j] + out[j - 1]) << cs) >> cs;
  const half = shift > 0 ? 1 << (shift - 1) : 0;
  const lim = order + 1;
  for (let j = lim; j < n; j++) {
    const top = out[j - lim];
    let sum = 0;
    for (let k = 0; k < order; k++) sum = (sum + Math.imul(coefs[k], (out[j - 1 - k] - top) | 0)) | 0;
    let del = res[j];
    let del0 = del;
    del = (del + top + (((sum + half) | 0) >> shift)) | 0;
    out[j] = (del << cs) >> cs;
    if (del0 > 0) {
      for (let k = order - 1; k >= 0; k--) {
        const dd = (top - out[j - 1 - k]) | 0;
        const sgn = dd > 0 ? 1 : dd < 0 ? -1 : 0;
        coefs[k] -= sgn;
        del0 = (del0 - Math.imul(order - k, (sgn * dd) >> shift)) | 0;
        if (del0 <= 0) break;
      }
    } else if (del0 < 0) {
      for (let k = order - 1; k >= 0; k--) {
        const dd = (top - out[j - 1 - k]) | 0;
        const sgn = dd > 0 ? 1 : dd < 0 ? -1 : 0;
        coefs[k] += sgn;
        del0 = (del0 - Math.imul(order - k, (-sgn * dd) >> shift)) | 0;
        if (del0 >= 0) break;
      }
    }
  }
}

interface ChannelParams {
  mode: number;
  shift: number;
  historyMult: number;
  order: number;
  coefs: Int16Array;
}

function readChannelParams(bits: Bits, pb: number): ChannelParams {
  let h = bits.read(8);
  const mode = h >> 4;
  const shift = h & 0x0f;
  h = bits.read(8);
  const pbFactor = h >> 5;
  const order = h & 0x1f;
  const coefs = new Int16Array(32);
  for (let i = 0; i < order; i++) coefs[i] = bits.read(16);
  return { mode, shift, historyMult: (pb * pbFactor) >> 2, order, coefs };
}

function signExtend(v: number, bitsCount: number): number {
  const s = 32 - bitsCount;
  return s === 0 ? v | 0 : (v << s) >> s;
}

/** Decodes ALAC packets of one stream; reuses its buffers from packet to packet. */
export class AlacDecoder {
  readonly config: AlacConfig;
  private readonly mix: Int32Array[];
  private readonly shiftBuffer: Int32Array;
  private readonly predictor: Int32Array;
  private padded = new Uint8Array(0);

  constructor(cookie: Uint8Array) {
    this.config = parseAlacConfig(cookie);
    const n = this.config.frameLength;
    this.mix = [new Int32Array(n), new Int32Array(n)];
    this.shiftBuffer = new Int32Array(2 * n);
    this.predictor = new Int32Array(n);
  }

  /**
   * Decodes one packet into `out[c]` from `at` on (float, the sample over
   * 2^(bitDepth−1), as WAV); returns the samples per channel it held.
   */
  decode(packet: Uint8Array, out: Float32Array[], at: number): number {
    const cfg = this.config;
    if (this.padded.length < packet.length + 16) this.padded = new Uint8Array(packet.length + 64);
    this.padded.fill(0, packet.length, packet.length + 16);
    this.padded.set(packet);
    const bits = new Bits(this.padded, packet.length * 8);
    const scale = 1 / 2 ** (cfg.bitDepth - 1);
    const order = CHANNEL_ORDER[cfg.channels];
    let channel = 0;
    let frameSamples = -1;
    for (;;) {
      if (bits.overrun) throw damaged('it ends before its end tag');
      const tag = bits.read(3);
      if (tag === 7) break; // end
      if (tag === 0 || tag === 3 || tag === 1) {
        const pair = tag === 1;
        if (channel + (pair ? 2 : 1) > cfg.channels) throw damaged(`it holds more than the ${cfg.channels} channel(s) the configuration declares`);
        const n = this.element(bits, pair);
        if (frameSamples >= 0 && n !== frameSamples) throw damaged('its channels hold different numbers of samples');
        frameSamples = n;
        if (at + n > out[0].length) throw damaged('it holds more samples than the track declares');
        for (let k = 0; k < (pair ? 2 : 1); k++) {
          const src = this.mix[k];
          const dst = out[order ? order[channel + k] : channel + k];
          for (let i = 0; i < n; i++) dst[at + i] = src[i] * scale;
        }
        channel += pair ? 2 : 1;
        // All channels decoded: done, as Apple's decoder does (an end tag may follow, or nothing).
        if (channel === cfg.channels) break;
      } else if (tag === 4) {
        // Data stream element: tag, alignment flag, length; skipped.
        bits.skip(4);
        const aligned = bits.read(1);
        let count = bits.read(8);
        if (count === 255) count += bits.read(8);
        if (aligned) bits.alignByte();
        bits.skip(8 * count);
      } else if (tag === 6) {
        // Fill element: skipped.
        let count = bits.read(4);
        if (count === 15) count += bits.read(8) - 1;
        bits.skip(8 * count);
      } else {
        throw damaged(`it holds an element of type ${tag}, which ALAC streams do not use`);
      }
    }
    if (channel !== cfg.channels) throw damaged(`it holds ${channel} of the ${cfg.channels} channel(s) the configuration declares`);
    if (bits.overrun) throw damaged('it is cut short');
    return frameSamples;
  }

  /** One single-channel (or LFE) element or channel pair, into this.mix[0] (and [1]); returns its sample count. */
  private element(bits: Bits, pair: boolean): number {
    const cfg = this.config;
    bits.skip(4); // element instance tag
    if (bits.read(12) !== 0) throw damaged('an element header has bits set that must be zero');
    const partial = bits.read(1);
    const bytesShifted = bits.read(2);
    const escape = bits.read(1);
    const shift = bytesShifted * 8;
    const n = partial ? bits.read(32) : cfg.frameLength;
    if (n > cfg.frameLength || n === 0) throw damaged(`it declares ${n} samples (at most ${cfg.frameLength})`);
    const channels = pair ? 2 : 1;
    const [u, v] = this.mix;
    if (!escape) {
      const chanBits = cfg.bitDepth - shift + (pair ? 1 : 0);
      if (chanBits > 32 || chanBits < 1) throw damaged(`it shifts ${shift} bits of ${cfg.bitDepth}-bit samples`);
      const mixBits = bits.read(8);
      const mixRes = (bits.read(8) << 24) >> 24;
      const params: ChannelParams[] = [];
      for (let c = 0; c < channels; c++) params.push(readChannelParams(bits, cfg.pb));
      let shiftAt = -1;
      if (shift > 0) {
        shiftAt = bits.pos;
        bits.skip(shift * channels * n);
      }
      for (let c = 0; c < channels; c++) {
        const p = params[c];
        const dst = this.mix[c];
        decodeResiduals(bits, this.predictor, n, chanBits, cfg, p.historyMult);
        if (p.mode === 0) unpredict(this.predictor, dst, n, p.coefs, p.order, chanBits, p.shift);
        else if (p.mode === 15) {
          unpredict(this.predictor, this.predictor, n, p.coefs, 31, chanBits, 0);
          unpredict(this.predictor, dst, n, p.coefs, p.order, chanBits, p.shift);
        } else throw damaged(`it uses prediction mode ${p.mode}, which ALAC does not define`);
      }
      if (pair && mixRes !== 0) {
        for (let i = 0; i < n; i++) {
          const l = (u[i] + v[i] - (Math.imul(mixRes, v[i]) >> mixBits)) | 0;
          v[i] = (l - v[i]) | 0;
          u[i] = l;
        }
      }
      if (shift > 0) {
        const end = bits.pos;
        bits.pos = shiftAt;
        const sb = this.shiftBuffer;
        for (let i = 0; i < n * channels; i++) sb[i] = bits.read(shift);
        bits.pos = end;
        for (let c = 0; c < channels; c++) {
          const dst = this.mix[c];
          for (let i = 0; i < n; i++) dst[i] = (dst[i] << shift) | sb[i * channels + c];
        }
      }
    } else {
      // Stored verbatim, interleaved.
      const size = cfg.bitDepth;
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < channels; c++) {
          this.mix[c][i] = signExtend(bits.read(size), size);
        }
      }
    }
    return n;
  }
}
