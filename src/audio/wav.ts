/**
 * WAV (RIFF/WAVE) reading and writing.
 *
 * Reading: PCM 8/16/24/32-bit integer, IEEE float 32/64, plain or
 * WAVE_FORMAT_EXTENSIBLE headers; unknown chunks (LIST, bext, JUNK, ...) are
 * skipped, odd-sized chunks are followed by their pad byte. Either a whole file
 * in memory (`parseWav`) or frames on demand from disk (`WavFileReader`), with
 * the same checks and numbers.
 *
 * Writing: 16- or 24-bit PCM or 32-bit float, either as one in-memory file
 * (`encodeWav`) or streamed to disk (`WavFileWriter`).
 *
 * This module does not import Node built-ins at load time so it can be bundled
 * for browsers; only `WavFileWriter.open` and `WavFileReader.open` load `node:fs`.
 */
import { StemstreamError } from '../errors.js';
import type { AudioData } from './types.js';
import { fourcc } from './bytes.js';
import { importNodeBuiltin } from '../node-builtin.js';

export type WavOutputFormat = 'pcm16' | 'pcm24' | 'float32';

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Tail shared by the KSDATAFORMAT_SUBTYPE_* GUIDs: xxxxxxxx-0000-0010-8000-00aa00389b71. */
const KSDATAFORMAT_GUID_TAIL = [0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/** Largest number of bytes a RIFF size field (uint32) can describe. */
const UINT32_MAX = 0xffffffff;

const CODEC_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0006: 'A-law',
  0x0007: 'mu-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MPEG Layer III (MP3)',
  0x00ff: 'AAC',
  0x0161: 'WMA',
  0x2000: 'AC-3',
};

/** Describes bytes for error messages: printable ASCII in quotes, plus hex. */
export function describeBytes(bytes: Uint8Array, offset: number, count: number): string {
  const slice = bytes.subarray(offset, Math.min(bytes.length, offset + count));
  if (slice.length === 0) return 'end of file';
  const hex = Array.from(slice, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const printable = slice.every((b) => b >= 0x20 && b < 0x7f);
  return printable ? `"${String.fromCharCode(...slice)}" (${hex})` : hex;
}

function bad(message: string): StemstreamError {
  return new StemstreamError('BAD_AUDIO_FILE', message);
}

interface WavFormat {
  formatTag: number; // PCM or IEEE float after resolving EXTENSIBLE
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number; // container size
  /** WAVE_FORMAT_EXTENSIBLE's dwChannelMask: which speaker each channel is (absent in plain headers). */
  channelMask?: number;
}

function parseFmt(bytes: Uint8Array, view: DataView, offset: number, size: number): WavFormat {
  if (size < 16) throw bad(`not a valid WAV file: 'fmt ' chunk is ${size} bytes, expected at least 16`);
  let formatTag = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const blockAlign = view.getUint16(offset + 12, true);
  const bitsPerSample = view.getUint16(offset + 14, true);
  let channelMask: number | undefined;

  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40) {
      throw bad(`not a valid WAV file: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is ${size} bytes, expected 40`);
    }
    // cbSize(2) validBits(2) channelMask(4) subFormat GUID(16) start at +16.
    const guid = offset + 24;
    const tail = bytes.subarray(guid + 4, guid + 16);
    const isStandard = view.getUint16(guid + 2, true) === 0 && tail.every((b, i) => b === KSDATAFORMAT_GUID_TAIL[i]);
    if (!isStandard) {
      throw new StemstreamError(
        'UNSUPPORTED_AUDIO_FORMAT',
        `WAV uses an unknown WAVE_FORMAT_EXTENSIBLE sub-format (${describeBytes(bytes, guid, 16)}); ` +
          'only PCM and IEEE float are supported; convert it with e.g. `ffmpeg -i in.wav -c:a pcm_s16le out.wav`',
      );
    }
    formatTag = view.getUint16(guid, true);
    channelMask = view.getUint32(offset + 20, true);
  }

  if (formatTag !== WAVE_FORMAT_PCM && formatTag !== WAVE_FORMAT_IEEE_FLOAT) {
    const name = CODEC_NAMES[formatTag] ?? 'unknown codec';
    throw new StemstreamError(
      'UNSUPPORTED_AUDIO_FORMAT',
      `WAV uses format tag 0x${formatTag.toString(16).padStart(4, '0')} (${name}); only PCM and IEEE float ` +
        'WAV are supported; convert it with e.g. `ffmpeg -i in.wav -c:a pcm_s16le out.wav`',
    );
  }
  if (channels === 0) throw bad('not a valid WAV file: the header says 0 channels');
  if (sampleRate === 0) throw bad('not a valid WAV file: the header says sample rate 0');
  const okBits = formatTag === WAVE_FORMAT_PCM ? [8, 16, 24, 32] : [32, 64];
  if (!okBits.includes(bitsPerSample)) {
    throw new StemstreamError(
      'UNSUPPORTED_AUDIO_FORMAT',
      `WAV ${formatTag === WAVE_FORMAT_PCM ? 'PCM' : 'float'} with ${bitsPerSample} bits per sample is not ` +
        `supported (supported: ${okBits.join(', ')}); convert it with e.g. \`ffmpeg -i in.wav -c:a pcm_s16le out.wav\``,
    );
  }
  const expectedAlign = channels * (bitsPerSample / 8);
  if (blockAlign !== expectedAlign) {
    throw bad(
      `not a valid WAV file: block align is ${blockAlign} bytes but ${channels} channel(s) of ` +
        `${bitsPerSample}-bit samples need ${expectedAlign}`,
    );
  }
  return { formatTag, channels, sampleRate, blockAlign, bitsPerSample, channelMask };
}

export interface ParseWavOptions {
  /**
   * Told when the data chunk is cut short (a download or copy that stopped):
   * the frames that are there are returned. Without it, that is an error.
   */
  onWarning?: (message: string) => void;
}

/** A chunk header at `pos` whose chunk ends within the file: 4 printable ASCII bytes and a size that fits. */
function chunkFits(src: ByteSource, pos: number): boolean {
  if (pos + 8 > src.length) return false;
  const header = src.at(pos, 8);
  if (!/^[\x20-\x7e]{4}$/.test(fourcc(header, 0))) return false;
  return pos + 8 + viewOf(header).getUint32(4, true) <= src.length;
}

/**
 * A data size field a streaming writer left unpatched: 0xFFFFFFFF, or 0 with
 * bytes after it that are not another chunk. The audio then runs to the end of the file.
 */
function unpatchedDataSize(src: ByteSource, size: number, body: number): boolean {
  if (size === UINT32_MAX) return true;
  return size === 0 && body < src.length && !chunkFits(src, body);
}

function seconds(frames: number, sampleRate: number): string {
  return `${(frames / sampleRate).toFixed(2)} s`;
}

/** The warning for a data chunk cut short: how much audio is there of how much declared, and where it stops. */
function truncationWarning(fmt: WavFormat, declared: number, available: number, fileBytes: number): string {
  const have = Math.floor(available / fmt.blockAlign);
  const want = Math.floor(declared / fmt.blockAlign);
  return (
    `decoded ${have} of the ${want} samples the WAV header declares ` +
    `(${seconds(have, fmt.sampleRate)} of ${seconds(want, fmt.sampleRate)}, ${want > 0 ? Math.floor((100 * have) / want) : 0} %); ` +
    `the file ends at byte ${fileBytes}, ${seconds(have, fmt.sampleRate)} into the audio: it looks truncated (was the download or copy cut short?)`
  );
}

/**
 * Random access to the bytes of a WAV file: in memory (parseWav) or on disk
 * (WavFileReader). `at` returns up to `n` bytes from `pos` (fewer at the end).
 */
interface ByteSource {
  length: number;
  at(pos: number, n: number): Uint8Array;
}

/** Where a WAV file's samples are and how they are stored. */
interface WavLayout {
  fmt: WavFormat;
  dataOffset: number;
  /** Bytes of audio there are (may be less than declared: a truncated file). */
  dataSize: number;
}

/** A view on `b` (which may be a slice of a larger buffer). */
function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The header bytes parseFmt reads: 'fmt ' chunks are 16, 18 or 40 bytes; anything after is not looked at. */
const FMT_BYTES_READ = 40;

/**
 * Walks a RIFF/WAVE file's chunks to its 'fmt ' and 'data' chunks: the checks,
 * errors and warnings of parseWav, on a file in memory or on disk.
 */
function locateWav(src: ByteSource, opts: ParseWavOptions): WavLayout {
  const total = src.length;
  const head = src.at(0, 12);
  if (total === 0) throw bad('not a WAV file: the file is empty');
  if (total < 12) {
    throw bad(`not a WAV file: only ${total} bytes (${describeBytes(head, 0, 12)}), a WAV header needs 12`);
  }
  const riff = fourcc(head, 0);
  if (riff === 'RF64' || riff === 'BW64') {
    throw new StemstreamError(
      'UNSUPPORTED_AUDIO_FORMAT',
      `${riff} (WAV larger than 4 GiB) is not supported; convert it to FLAC or split it, e.g. \`ffmpeg -i in.wav out.flac\``,
    );
  }
  if (riff !== 'RIFF' || fourcc(head, 8) !== 'WAVE') {
    throw bad(
      `not a WAV file: expected "RIFF....WAVE" at the start, found ${describeBytes(head, 0, 4)} … ` +
        `${describeBytes(head, 8, 4)}`,
    );
  }

  let fmt: WavFormat | undefined;
  let dataOffset = -1;
  let dataSize = 0;
  let declaredDataSize = 0;
  const seen: string[] = [];
  let pos = 12;
  while (pos + 8 <= total && (fmt === undefined || dataOffset < 0)) {
    const header = src.at(pos, 8);
    const id = fourcc(header, 0);
    const size = viewOf(header).getUint32(4, true);
    const body = pos + 8;
    const available = total - body;
    seen.push(id);
    if (id === 'fmt ') {
      if (size > available) {
        throw bad(`truncated WAV file: 'fmt ' chunk at byte ${pos} declares ${size} bytes but only ${available} remain`);
      }
      const chunk = src.at(body, Math.min(size, FMT_BYTES_READ));
      fmt = parseFmt(chunk, viewOf(chunk), 0, size);
    } else if (id === 'data') {
      dataOffset = body;
      if (unpatchedDataSize(src, size, body)) {
        // Written by a streaming recorder that never patched the size: the audio runs to the end of the file.
        dataSize = available;
        pos = total;
        continue;
      } else if (size <= available) {
        dataSize = size;
      } else if (opts.onWarning) {
        dataSize = available;
        declaredDataSize = size;
      } else {
        throw bad(
          `truncated WAV file: the data chunk declares ${size} bytes but only ${available} bytes follow ` +
            `(file is ${total} bytes; was the download or copy cut short?)`,
        );
      }
    } else if (!/^[\x20-\x7e]{4}$/.test(id)) {
      throw bad(
        `corrupt WAV file: expected a chunk header at byte ${pos}, found ${describeBytes(header, 0, 8)}` +
          ` (chunks so far: ${seen.slice(0, -1).join(', ') || 'none'})`,
      );
    }
    // Chunks are word-aligned: an odd-sized chunk is followed by one pad byte.
    pos = body + size + (size & 1);
  }

  if (fmt === undefined) {
    throw bad(
      `not a valid WAV file: no 'fmt ' chunk` +
        (seen.length ? ` (chunks found: ${seen.join(', ')})` : ' (the file ends after the RIFF header)'),
    );
  }
  if (dataOffset < 0) {
    throw bad(`not a valid WAV file: no 'data' chunk (chunks found: ${seen.join(', ')}); the file may be truncated`);
  }
  if (declaredDataSize > 0) opts.onWarning?.(truncationWarning(fmt, declaredDataSize, dataSize, total));
  return { fmt, dataOffset, dataSize };
}

/**
 * Converts `frames` frames of `fmt`'s samples at byte `p0` of `bytes` to float,
 * into out[c][outOffset ...]. One arithmetic for parseWav and WavFileReader.
 */
function decodeFrames(bytes: Uint8Array, view: DataView, p0: number, fmt: WavFormat, frames: number, out: Float32Array[], outOffset: number): void {
  const { channels: nch, blockAlign, bitsPerSample, formatTag } = fmt;
  const bps = bitsPerSample / 8;
  for (let c = 0; c < nch; c++) {
    const ch = out[c];
    let p = p0 + c * bps;
    const end = outOffset + frames;
    if (formatTag === WAVE_FORMAT_IEEE_FLOAT) {
      if (bps === 4) for (let i = outOffset; i < end; i++, p += blockAlign) ch[i] = view.getFloat32(p, true);
      else for (let i = outOffset; i < end; i++, p += blockAlign) ch[i] = view.getFloat64(p, true);
    } else if (bps === 1) {
      for (let i = outOffset; i < end; i++, p += blockAlign) ch[i] = (bytes[p] - 128) / 128;
    } else if (bps === 2) {
      for (let i = outOffset; i < end; i++, p += blockAlign) ch[i] = view.getInt16(p, true) / 32768;
    } else if (bps === 3) {
      for (let i = outOffset; i < end; i++, p += blockAlign) {
        const v = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16);
        ch[i] = ((v << 8) >> 8) / 8388608;
      }
    } else {
      for (let i = outOffset; i < end; i++, p += blockAlign) ch[i] = view.getInt32(p, true) / 2147483648;
    }
  }
}

/**
 * One float sample as a signed integer of `scale` = 2^(bits−1): rounded,
 * clamped to [−scale, scale − 1], NaN → 0. The one rule for every integer
 * output (WAV here, FLAC in src/export/flac-file-writer.ts), so the two decode
 * to the same integers.
 */
export function pcmSample(x: number, scale: number): number {
  const v = Math.round(x * scale);
  return v > scale - 1 ? scale - 1 : v < -scale ? -scale : v | 0;
}

/** Parses a RIFF/WAVE file held in memory into planar float samples. */
export function parseWav(bytes: Uint8Array, opts: ParseWavOptions = {}): AudioData {
  const { fmt, dataOffset, dataSize } = locateWav({ length: bytes.length, at: (pos, n) => bytes.subarray(pos, pos + n) }, opts);
  const frames = Math.floor(dataSize / fmt.blockAlign);
  const out: Float32Array[] = [];
  for (let c = 0; c < fmt.channels; c++) out.push(new Float32Array(frames));
  decodeFrames(bytes, viewOf(bytes), dataOffset, fmt, frames, out, 0);
  return { sampleRate: fmt.sampleRate, channels: out };
}

export interface WavFileReaderOptions {
  /** As parseWav's: told when the data chunk is cut short; without it, that is an error. */
  onWarning?: (message: string) => void;
  /** Bytes read from the file at a time at least (default 256 KiB): small sequential reads come from this buffer. */
  readAheadBytes?: number;
}

/** Read-ahead when none is given: small sequential reads (128 frames) cost one system call per 256 KiB. */
const DEFAULT_READ_AHEAD = 256 * 1024;

type FsSync = typeof import('node:fs');

/**
 * A WAV file on disk read on demand: parseWav's formats, checks, warnings and
 * numbers, but only the frames asked for are read (fs.readSync at their offset),
 * so memory does not grow with the file. Node only. `close()` when done.
 */
export class WavFileReader {
  readonly path: string;
  readonly sampleRate: number;
  readonly channelCount: number;
  /** Frames in the file (as parseWav would return). */
  readonly length: number;
  /** True for IEEE float files (the only ones that can hold NaN or ±Infinity). */
  readonly isFloat: boolean;
  /** "16-bit PCM", "32-bit float", ... */
  readonly encoding: string;
  /** WAVE_FORMAT_EXTENSIBLE's channel mask (which speaker each channel is); undefined for a plain header. */
  readonly channelMask: number | undefined;
  private fd: number | null;
  private readonly fs: FsSync;
  private readonly fmt: WavFormat;
  private readonly dataOffset: number;
  private readonly readAhead: number;
  /** Bytes [cacheStart, cacheStart + cacheLength) of the file are in `cache`. */
  private cache = new Uint8Array(0);
  private cacheView = new DataView(this.cache.buffer);
  private cacheStart = 0;
  private cacheLength = 0;

  private constructor(path: string, fs: FsSync, fd: number, layout: WavLayout, readAhead: number) {
    this.path = path;
    this.fs = fs;
    this.fd = fd;
    this.fmt = layout.fmt;
    this.dataOffset = layout.dataOffset;
    this.sampleRate = layout.fmt.sampleRate;
    this.channelCount = layout.fmt.channels;
    this.length = Math.floor(layout.dataSize / layout.fmt.blockAlign);
    this.isFloat = layout.fmt.formatTag === WAVE_FORMAT_IEEE_FLOAT;
    this.encoding = `${layout.fmt.bitsPerSample}-bit ${this.isFloat ? 'float' : 'PCM'}`;
    this.channelMask = layout.fmt.channelMask;
    this.readAhead = readAhead;
  }

  /** Opens `path` and reads its header (errors as parseWav's; a failure to open is an 'IO' error). */
  static async open(path: string, opts: WavFileReaderOptions = {}): Promise<WavFileReader> {
    // A computed specifier: browser bundlers must not try to resolve node:fs (this path is Node only).
    const fs = await importNodeBuiltin<FsSync>('node:fs');
    let fd: number;
    let size: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      throw new StemstreamError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      size = fs.fstatSync(fd).size;
      const at = (pos: number, n: number): Uint8Array => {
        const want = Math.max(0, Math.min(n, size - pos));
        const buf = new Uint8Array(want);
        readFully(fs, fd, path, buf, 0, want, pos);
        return buf;
      };
      const layout = locateWav({ length: size, at }, { onWarning: opts.onWarning });
      return new WavFileReader(path, fs, fd, layout, Math.max(1, Math.floor(opts.readAheadBytes ?? DEFAULT_READ_AHEAD)));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /**
   * Writes frames [start, start + frames) into dst[c][offset ...], as float
   * (parseWav's numbers); zeros for frames outside [0, length). Reads only those frames.
   */
  read(start: number, frames: number, dst: Float32Array[], offset = 0): void {
    if (this.fd === null) throw new StemstreamError('IO', `WavFileReader(${this.path}): read() after close()`);
    if (dst.length !== this.channelCount) {
      throw new StemstreamError('CHANNEL_MISMATCH', `WavFileReader(${this.path}): got ${dst.length} channel(s) to read into, the file has ${this.channelCount}`);
    }
    if (!Number.isInteger(start) || !Number.isInteger(frames) || !Number.isInteger(offset) || frames < 0 || offset < 0 || dst.some((ch) => ch.length < offset + frames)) {
      throw new StemstreamError('BAD_OPTION', `WavFileReader(${this.path}): cannot read ${frames} frames at ${start} into channels of ${dst[0]?.length} samples from ${offset}`);
    }
    // Frames [from, to) are in the file; the rest of the request is silence.
    const from = Math.max(start, 0);
    const to = Math.min(start + frames, this.length);
    for (const ch of dst) {
      ch.fill(0, offset, offset + Math.min(from, start + frames) - start);
      ch.fill(0, offset + Math.max(to, from) - start, offset + frames);
    }
    const { blockAlign } = this.fmt;
    // At most about a read-ahead's worth per step, so one huge request needs no huge buffer.
    const step = Math.max(1, Math.floor(Math.max(this.readAhead, blockAlign) / blockAlign));
    for (let f = from; f < to; f += step) {
      const n = Math.min(step, to - f);
      const p = this.bytes(this.dataOffset + f * blockAlign, n * blockAlign);
      decodeFrames(this.cache, this.cacheView, p, this.fmt, n, dst, offset + f - start);
    }
  }

  /** Closes the file (reads after this are errors). */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    this.cache = new Uint8Array(0);
    this.cacheView = new DataView(this.cache.buffer);
    this.cacheLength = 0;
    this.fs.closeSync(fd);
  }

  /** Makes file bytes [pos, pos + n) available in the cache; returns their offset there. */
  private bytes(pos: number, n: number): number {
    if (pos >= this.cacheStart && pos + n <= this.cacheStart + this.cacheLength) return pos - this.cacheStart;
    const end = this.dataOffset + this.length * this.fmt.blockAlign;
    const want = Math.max(n, Math.min(this.readAhead, end - pos));
    if (this.cache.length < want) {
      this.cache = new Uint8Array(want);
      this.cacheView = new DataView(this.cache.buffer);
    }
    this.cacheLength = 0;
    readFully(this.fs, this.fd!, this.path, this.cache, 0, want, pos);
    this.cacheStart = pos;
    this.cacheLength = want;
    return 0;
  }
}

/** Reads exactly `n` bytes at `pos` (a file that shrank while being read is an 'IO' error). */
function readFully(fs: FsSync, fd: number, path: string, buf: Uint8Array, offset: number, n: number, pos: number): void {
  let done = 0;
  while (done < n) {
    let got: number;
    try {
      got = fs.readSync(fd, buf, offset + done, n - done, pos + done);
    } catch (err) {
      throw new StemstreamError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (got === 0) throw new StemstreamError('IO', `cannot read ${path}: the file ended at byte ${pos + done}, earlier than when it was opened (did it change while being read?)`);
    done += got;
  }
}

// ---------------------------------------------------------------------------
// Writing

interface HeaderLayout {
  headerBytes: number;
  /** Byte offsets of fields patched once the length is known. */
  riffSizeAt: number;
  dataSizeAt: number;
  factSamplesAt: number; // -1 when there is no fact chunk
  bytesPerSample: number;
}

function layoutFor(format: WavOutputFormat): HeaderLayout {
  if (format === 'pcm16' || format === 'pcm24') {
    // RIFF(12) + fmt(8+16) + data header(8)
    return { headerBytes: 44, riffSizeAt: 4, dataSizeAt: 40, factSamplesAt: -1, bytesPerSample: format === 'pcm16' ? 2 : 3 };
  }
  // RIFF(12) + fmt(8+18) + fact(8+4) + data header(8); non-PCM formats carry cbSize and a fact chunk.
  return { headerBytes: 58, riffSizeAt: 4, dataSizeAt: 54, factSamplesAt: 46, bytesPerSample: 4 };
}

/** Largest data chunk (bytes) a RIFF file with this header can hold. */
function maxDataBytes(layout: HeaderLayout): number {
  // RIFF size = headerBytes - 8 + dataBytes (+ pad) must fit in uint32.
  return UINT32_MAX - (layout.headerBytes - 8) - 1;
}

function checkFormat(format: string): asserts format is WavOutputFormat {
  if (format !== 'pcm16' && format !== 'pcm24' && format !== 'float32') {
    throw new StemstreamError('BAD_OPTION', `unknown WAV output format "${format}"; use "pcm16", "pcm24" or "float32"`);
  }
}

function checkShape(sampleRate: number, channels: number): void {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0 || sampleRate > UINT32_MAX) {
    throw new StemstreamError('BAD_OPTION', `cannot write WAV: sample rate must be a positive integer, got ${sampleRate}`);
  }
  if (!Number.isInteger(channels) || channels <= 0 || channels > 65535) {
    throw new StemstreamError('BAD_OPTION', `cannot write WAV: channel count must be 1..65535, got ${channels}`);
  }
}

function tooBig(frames: number, channels: number, format: WavOutputFormat, limit: number): StemstreamError {
  const bytesPerFrame = channels * layoutFor(format).bytesPerSample;
  return new StemstreamError(
    'IO',
    `cannot write WAV: ${frames} frames × ${channels} channel(s) of ${format} is more than the 4 GiB ` +
      `a WAV file can hold (at most ${Math.floor(limit / bytesPerFrame)} frames); ` +
      'write a shorter excerpt, fewer channels or pcm16',
  );
}

function writeHeader(
  view: DataView,
  layout: HeaderLayout,
  format: WavOutputFormat,
  sampleRate: number,
  channels: number,
  frames: number,
): void {
  const bps = layout.bytesPerSample;
  const dataBytes = frames * channels * bps;
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) view.setUint8(at + i, s.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  view.setUint32(layout.riffSizeAt, layout.headerBytes - 8 + dataBytes + (dataBytes & 1), true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  const isFloat = format === 'float32';
  view.setUint32(16, isFloat ? 18 : 16, true);
  view.setUint16(20, isFloat ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * bps, true);
  view.setUint16(32, channels * bps, true);
  view.setUint16(34, bps * 8, true);
  if (isFloat) {
    view.setUint16(36, 0, true); // cbSize
    ascii(38, 'fact');
    view.setUint32(42, 4, true);
    view.setUint32(layout.factSamplesAt, frames, true);
  }
  ascii(layout.dataSizeAt - 4, 'data');
  view.setUint32(layout.dataSizeAt, dataBytes, true);
}

/**
 * Interleaves `frames` frames starting at `start` of `planar` into `dst`
 * (little-endian), as 16- or 24-bit PCM (clamped, rounded) or 32-bit float.
 */
function interleave(
  planar: Float32Array[],
  start: number,
  frames: number,
  format: WavOutputFormat,
  dst: DataView,
  dstOffset: number,
): void {
  const nch = planar.length;
  if (format === 'pcm16') {
    const stride = nch * 2;
    for (let c = 0; c < nch; c++) {
      const src = planar[c];
      let p = dstOffset + c * 2;
      for (let i = 0; i < frames; i++, p += stride) {
        dst.setInt16(p, pcmSample(src[start + i], 32768), true);
      }
    }
  } else if (format === 'pcm24') {
    const stride = nch * 3;
    for (let c = 0; c < nch; c++) {
      const src = planar[c];
      let p = dstOffset + c * 3;
      for (let i = 0; i < frames; i++, p += stride) {
        const v = pcmSample(src[start + i], 8388608);
        dst.setUint8(p, v & 0xff);
        dst.setUint16(p + 1, (v >> 8) & 0xffff, true);
      }
    }
  } else {
    const stride = nch * 4;
    for (let c = 0; c < nch; c++) {
      const src = planar[c];
      let p = dstOffset + c * 4;
      for (let i = 0; i < frames; i++, p += stride) dst.setFloat32(p, src[start + i], true);
    }
  }
}

function checkPlanar(planar: Float32Array[], channels: number, start: number, frames: number, what: string): void {
  if (planar.length !== channels) {
    throw new StemstreamError('CHANNEL_MISMATCH', `${what}: got ${planar.length} channel(s), expected ${channels}`);
  }
  if (!Number.isInteger(start) || !Number.isInteger(frames) || start < 0 || frames < 0) {
    throw new StemstreamError('BAD_OPTION', `${what}: start (${start}) and frames (${frames}) must be integers ≥ 0`);
  }
  for (let c = 0; c < planar.length; c++) {
    if (planar[c].length < start + frames) {
      throw new StemstreamError(
        'BAD_OPTION',
        `${what}: channel ${c} has ${planar[c].length} samples, fewer than start + frames = ${start + frames}`,
      );
    }
  }
}

/** Encodes planar audio into a complete WAV file in memory. */
export function encodeWav(audio: AudioData, format: WavOutputFormat): Uint8Array {
  checkFormat(format);
  const nch = audio.channels.length;
  checkShape(audio.sampleRate, nch);
  const frames = audio.channels[0].length;
  checkPlanar(audio.channels, nch, 0, frames, 'cannot write WAV');
  const layout = layoutFor(format);
  const dataBytes = frames * nch * layout.bytesPerSample;
  if (dataBytes > maxDataBytes(layout)) throw tooBig(frames, nch, format, maxDataBytes(layout));
  const out = new Uint8Array(layout.headerBytes + dataBytes + (dataBytes & 1));
  const view = new DataView(out.buffer);
  writeHeader(view, layout, format, audio.sampleRate, nch, frames);
  interleave(audio.channels, 0, frames, format, view, layout.headerBytes);
  return out;
}

export interface WavFileWriterOptions {
  sampleRate: number;
  channels: number;
  format: WavOutputFormat;
}

type FileHandle = import('node:fs/promises').FileHandle;

/**
 * Streams a WAV file to disk: the header is written with zero sizes, samples
 * are appended as they come, and `close()` patches the RIFF/data sizes.
 * Await each `write` before the next one.
 */
export class WavFileWriter {
  readonly path: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly format: WavOutputFormat;
  private handle: FileHandle | null;
  private readonly layout: HeaderLayout;
  private framesWritten = 0;
  private buffer = new Uint8Array(0);
  private busy = false;
  private closed = false;

  private constructor(path: string, handle: FileHandle, opts: WavFileWriterOptions) {
    this.path = path;
    this.handle = handle;
    this.sampleRate = opts.sampleRate;
    this.channels = opts.channels;
    this.format = opts.format;
    this.layout = layoutFor(opts.format);
  }

  /** Creates (or truncates) `path` and writes a provisional header. */
  static async open(path: string, opts: WavFileWriterOptions): Promise<WavFileWriter> {
    checkFormat(opts.format);
    checkShape(opts.sampleRate, opts.channels);
    // A computed specifier: browser bundlers must not try to resolve node:fs (this path is Node only).
    const fs = await importNodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
    let handle: FileHandle;
    try {
      handle = await fs.open(path, 'w');
    } catch (err) {
      throw new StemstreamError('IO', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
    }
    const writer = new WavFileWriter(path, handle, opts);
    const header = new Uint8Array(writer.layout.headerBytes);
    writeHeader(new DataView(header.buffer), writer.layout, opts.format, opts.sampleRate, opts.channels, 0);
    try {
      await handle.write(header, 0, header.length, 0);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw new StemstreamError('IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
    return writer;
  }

  /** Frames written so far. */
  get frames(): number {
    return this.framesWritten;
  }

  /** Appends `frames` frames of `planar` starting at frame `start`. */
  async write(planar: Float32Array[], start = 0, frames: number = (planar[0]?.length ?? 0) - start): Promise<void> {
    this.checkOpen('write');
    if (this.busy) {
      throw new StemstreamError('IO', `WavFileWriter(${this.path}): write() called before the previous write finished; await each write`);
    }
    checkPlanar(planar, this.channels, start, frames, `cannot write ${this.path}`);
    if (frames === 0) return;
    const limit = maxDataBytes(this.layout);
    const frameBytes = this.channels * this.layout.bytesPerSample;
    const total = this.framesWritten + frames;
    if (total * frameBytes > limit) throw tooBig(total, this.channels, this.format, limit);

    const nbytes = frames * frameBytes;
    if (this.buffer.length < nbytes) this.buffer = new Uint8Array(nbytes);
    const buf = this.buffer;
    interleave(planar, start, frames, this.format, new DataView(buf.buffer, 0, nbytes), 0);
    const position = this.layout.headerBytes + this.framesWritten * frameBytes;
    this.busy = true;
    try {
      let done = 0;
      while (done < nbytes) {
        const { bytesWritten } = await this.handle!.write(buf, done, nbytes - done, position + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw new StemstreamError('IO', `cannot write ${this.path}: ${(err as Error).message}`, { cause: err });
    } finally {
      this.busy = false;
    }
    this.framesWritten = total;
  }

  /** Patches the header sizes and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.checkOpen('close');
    if (this.busy) {
      throw new StemstreamError('IO', `WavFileWriter(${this.path}): close() called while a write is in progress; await it first`);
    }
    const handle = this.handle!;
    this.closed = true;
    this.handle = null;
    this.buffer = new Uint8Array(0);
    try {
      const dataBytes = this.framesWritten * this.channels * this.layout.bytesPerSample;
      if (dataBytes & 1) await handle.write(new Uint8Array(1), 0, 1, this.layout.headerBytes + dataBytes);
      const header = new Uint8Array(this.layout.headerBytes);
      writeHeader(new DataView(header.buffer), this.layout, this.format, this.sampleRate, this.channels, this.framesWritten);
      await handle.write(header, 0, header.length, 0);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw new StemstreamError('IO', `cannot finish ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      await handle.close();
    } catch (err) {
      throw new StemstreamError('IO', `cannot close ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Closes the file without finishing it and deletes it (e.g. after an error or cancel). */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const handle = this.handle;
    this.handle = null;
    this.buffer = new Uint8Array(0);
    await handle?.close().catch(() => undefined);
    // A computed specifier: browser bundlers must not try to resolve node:fs (this path is Node only).
    const fs = await importNodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
    await fs.rm(this.path, { force: true }).catch(() => undefined);
  }

  private checkOpen(what: string): void {
    if (this.closed || this.handle === null) {
      throw new StemstreamError('IO', `WavFileWriter(${this.path}): ${what}() after close()`);
    }
  }
}
