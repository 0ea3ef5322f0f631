/**
 * A small ZIP writer: "stored" entries (method 0, no compression — PCM audio
 * barely compresses), written into one preallocated buffer.
 *
 * Layout (APPNOTE 6.3): for each file a local header, its name and its data;
 * then the central directory (one record per file) and the end-of-central-
 * directory record. Sizes and CRC-32s are known before each local header is
 * written, so no data descriptors are needed. Names are UTF-8 (general purpose
 * flag bit 11 is set when a name is not plain ASCII). No ZIP64: archives of
 * 4 GiB or more, or with more than 65535 entries, are refused with an error.
 *
 * `zipFiles` zips files held in memory. `ZipWriter` takes the entries' names
 * and sizes first and the data one file at a time, so a caller that produces
 * large files one by one (the stems export) holds the archive plus one file,
 * not every file twice.
 *
 * Kept over fflate and client-zip: as fast as fflate, and only ours takes the
 * files one at a time and checks names against zip-slip (docs/benchmarks.md#libraries).
 */
import { StemstreamError } from '../errors.js';
import { quoteUntrusted } from '../untrusted-text.js';

export interface ZipInputFile {
  /** A plain file name (e.g. "song-vocals.wav"): no folders, see checkName. */
  name: string;
  data: Uint8Array;
}

export interface ZipOptions {
  /** Modification time stored for every entry (local time, 2 s resolution). Default 1980-01-01 00:00, so archives are reproducible. */
  date?: Date;
  /** Called with the fraction (0..1] of data bytes written so far. */
  onProgress?: (fraction: number) => void;
}

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
/** 2.0: the minimum version for stored entries with directories and UTF-8 names in practice. */
const VERSION = 20;
const FLAG_UTF8 = 0x0800;
const UINT16_MAX = 0xffff;
/** Sizes and offsets of 0xFFFFFFFF mean "see the ZIP64 record", which this writer does not write. */
const ZIP32_LIMIT = 0xffffffff;
/** CRC and copy progress is reported at most once per this many bytes. */
const PROGRESS_STEP = 8 * 1024 * 1024;

let crcTable: Uint32Array | undefined;

function table(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/**
 * CRC-32 (IEEE 802.3, reflected, as in ZIP and PNG) of `data`. Pass the
 * previous result as `crc` to continue over several chunks.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  const t = table();
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** MS-DOS date and time fields of `date` (local time), clamped to 1980..2107. */
export function dosDateTime(date: Date): { date: number; time: number } {
  if (Number.isNaN(date.getTime())) throw new StemstreamError('BAD_OPTION', 'ZIP date is not a valid Date');
  const year = date.getFullYear();
  if (year < 1980) return { date: (1 << 5) | 1, time: 0 };
  if (year > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 };
  return {
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
  };
}

const encoder = new TextEncoder();

/** C0 and C1 controls, DEL, line separators and bidi overrides (which can disguise a name's extension). */
const UNSAFE_NAME_CHARS = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * Entry names are plain file names. Stem names come from model files, so this
 * is the last line of defence against an archive that writes outside the
 * folder it is extracted to (zip-slip) with a naive extractor: no separators
 * of either kind, no "." or "..", no drive letters, no control characters.
 */
function checkName(name: string, seen: Set<string>): Uint8Array {
  if (typeof name !== 'string' || name.length === 0) throw new StemstreamError('BAD_OPTION', 'ZIP entry names must be non-empty strings');
  const bad = (why: string) => new StemstreamError('BAD_OPTION', `ZIP entry name ${quoteUntrusted(name)} ${why}`);
  if (name.startsWith('/') || name.startsWith('\\') || /^[a-zA-Z]:/.test(name)) throw bad('must be relative (no leading "/" or drive letter)');
  if (name.includes('/') || name.includes('\\')) throw bad('must be a plain file name, without "/" or "\\" (the archive has no folders)');
  if (name === '.' || name === '..') throw bad('must be a file name, not "." or ".."');
  if (UNSAFE_NAME_CHARS.test(name)) throw bad('must not contain control, line-separator or bidi-override characters');
  if (seen.has(name)) throw bad('appears twice; names in one archive must be unique');
  seen.add(name);
  const bytes = encoder.encode(name);
  if (bytes.length > UINT16_MAX) throw bad(`is ${bytes.length} bytes long in UTF-8; ZIP allows at most ${UINT16_MAX}`);
  return bytes;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Names and sizes of what a ZipWriter will hold. */
export interface ZipEntrySpec {
  name: string;
  size: number;
}

interface Entry {
  name: string;
  nameBytes: Uint8Array;
  size: number;
  offset: number; // of the local header
  crc: number;
  written: boolean;
}

/**
 * Writes a stored ZIP whose entries (names and sizes) are declared up front;
 * `add` copies each file's data into place. Entries may be added in any order;
 * `finish` needs all of them.
 */
export class ZipWriter {
  /** Total size of the archive in bytes. */
  readonly byteLength: number;
  private readonly out: Uint8Array;
  private readonly view: DataView;
  private readonly entries: Entry[];
  private readonly byName = new Map<string, Entry>();
  private readonly centralOffset: number;
  private readonly dos: { date: number; time: number };
  private readonly onProgress?: (fraction: number) => void;
  private readonly totalData: number;
  private dataWritten = 0;
  private lastReported = 0;
  private finished = false;

  constructor(specs: readonly ZipEntrySpec[], options: ZipOptions = {}) {
    if (specs.length > UINT16_MAX) {
      throw new StemstreamError('BAD_OPTION', `cannot build the ZIP: ${specs.length} files, a ZIP without ZIP64 holds at most ${UINT16_MAX}`);
    }
    this.dos = dosDateTime(options.date ?? new Date(1980, 0, 1, 0, 0, 0));
    this.onProgress = options.onProgress;
    const seen = new Set<string>();
    let offset = 0;
    let centralSize = 0;
    let totalData = 0;
    this.entries = specs.map((spec) => {
      const nameBytes = checkName(spec.name, seen);
      if (!Number.isSafeInteger(spec.size) || spec.size < 0) {
        throw new StemstreamError('BAD_OPTION', `ZIP entry "${spec.name}": size must be an integer ≥ 0, got ${spec.size}`);
      }
      if (spec.size >= ZIP32_LIMIT) {
        throw new StemstreamError('IO', `cannot build the ZIP: "${spec.name}" is ${gib(spec.size)}; a ZIP without ZIP64 holds files under 4 GiB. Export shorter audio or a smaller sample format, or save the files one by one`);
      }
      const entry: Entry = { name: spec.name, nameBytes, size: spec.size, offset, crc: 0, written: false };
      offset += LOCAL_HEADER + nameBytes.length + spec.size;
      centralSize += CENTRAL_HEADER + nameBytes.length;
      totalData += spec.size;
      this.byName.set(spec.name, entry);
      return entry;
    });
    // Every offset and size in the archive is a uint32, the central directory's offset included.
    const total = offset + centralSize + END_RECORD;
    if (offset >= ZIP32_LIMIT || total > ZIP32_LIMIT) {
      throw new StemstreamError('IO', `cannot build the ZIP: it would be ${gib(total)}, and a ZIP without ZIP64 holds at most 4 GiB. Export shorter audio, fewer stems or a smaller sample format, or save the files one by one`);
    }
    this.centralOffset = offset;
    this.totalData = totalData;
    this.byteLength = total;
    try {
      this.out = new Uint8Array(total);
    } catch (err) {
      throw new StemstreamError('IO', `cannot build the ZIP: could not allocate ${gib(total)} of memory (${(err as Error).message}); export fewer stems or shorter audio`, { cause: err });
    }
    this.view = new DataView(this.out.buffer);
  }

  /**
   * Copies the data of the entry called `name` into the archive, writes its
   * local header, and returns the view of the archive holding the data (the
   * caller may drop its own copy).
   */
  add(name: string, data: Uint8Array): Uint8Array {
    if (this.finished) throw new StemstreamError('BAD_OPTION', `ZipWriter: add("${name}") after finish()`);
    const e = this.byName.get(name);
    if (!e) throw new StemstreamError('BAD_OPTION', `ZipWriter: "${name}" was not declared when the writer was created`);
    if (e.written) throw new StemstreamError('BAD_OPTION', `ZipWriter: "${name}" was already added`);
    if (data.length !== e.size) {
      throw new StemstreamError('BAD_OPTION', `ZipWriter: "${name}" was declared as ${e.size} bytes but ${data.length} bytes were added`);
    }
    const start = e.offset + LOCAL_HEADER + e.nameBytes.length;
    // CRC and copy in steps so that progress can be reported on large files.
    let crc = 0;
    for (let at = 0; at < data.length; at += PROGRESS_STEP) {
      const chunk = data.subarray(at, Math.min(data.length, at + PROGRESS_STEP));
      crc = crc32(chunk, crc);
      this.out.set(chunk, start + at);
      this.dataWritten += chunk.length;
      this.report();
    }
    e.crc = crc;
    e.written = true;
    this.writeLocalHeader(e);
    return this.out.subarray(start, start + e.size);
  }

  /** Writes the central directory and the end record; returns the whole archive. */
  finish(): Uint8Array {
    if (this.finished) return this.out;
    const missing = this.entries.filter((e) => !e.written).map((e) => e.name);
    if (missing.length) throw new StemstreamError('BAD_OPTION', `ZipWriter: finish() before adding ${missing.join(', ')}`);
    const v = this.view;
    let p = this.centralOffset;
    for (const e of this.entries) {
      v.setUint32(p, SIG_CENTRAL, true);
      v.setUint16(p + 4, VERSION, true); // version made by: MS-DOS attributes, spec 2.0
      v.setUint16(p + 6, VERSION, true); // version needed to extract
      v.setUint16(p + 8, this.flags(e), true);
      v.setUint16(p + 10, 0, true); // method: stored
      v.setUint16(p + 12, this.dos.time, true);
      v.setUint16(p + 14, this.dos.date, true);
      v.setUint32(p + 16, e.crc, true);
      v.setUint32(p + 20, e.size, true); // compressed size
      v.setUint32(p + 24, e.size, true); // uncompressed size
      v.setUint16(p + 28, e.nameBytes.length, true);
      v.setUint16(p + 30, 0, true); // extra field length
      v.setUint16(p + 32, 0, true); // comment length
      v.setUint16(p + 34, 0, true); // disk number start
      v.setUint16(p + 36, 0, true); // internal attributes
      v.setUint32(p + 38, 0, true); // external attributes
      v.setUint32(p + 42, e.offset, true);
      this.out.set(e.nameBytes, p + CENTRAL_HEADER);
      p += CENTRAL_HEADER + e.nameBytes.length;
    }
    const centralSize = p - this.centralOffset;
    v.setUint32(p, SIG_END, true);
    v.setUint16(p + 4, 0, true); // this disk
    v.setUint16(p + 6, 0, true); // disk with the central directory
    v.setUint16(p + 8, this.entries.length, true);
    v.setUint16(p + 10, this.entries.length, true);
    v.setUint32(p + 12, centralSize, true);
    v.setUint32(p + 16, this.centralOffset, true);
    v.setUint16(p + 20, 0, true); // comment length
    this.finished = true;
    this.onProgress?.(1);
    return this.out;
  }

  private flags(e: Entry): number {
    return /[^\x00-\x7f]/.test(e.name) ? FLAG_UTF8 : 0;
  }

  private writeLocalHeader(e: Entry): void {
    const v = this.view;
    const p = e.offset;
    v.setUint32(p, SIG_LOCAL, true);
    v.setUint16(p + 4, VERSION, true);
    v.setUint16(p + 6, this.flags(e), true);
    v.setUint16(p + 8, 0, true); // method: stored
    v.setUint16(p + 10, this.dos.time, true);
    v.setUint16(p + 12, this.dos.date, true);
    v.setUint32(p + 14, e.crc, true);
    v.setUint32(p + 18, e.size, true);
    v.setUint32(p + 22, e.size, true);
    v.setUint16(p + 26, e.nameBytes.length, true);
    v.setUint16(p + 28, 0, true); // extra field length
    this.out.set(e.nameBytes, p + LOCAL_HEADER);
  }

  private report(): void {
    if (!this.onProgress || this.totalData === 0) return;
    const fraction = this.dataWritten / this.totalData;
    // Leave 1 for finish(): the archive is not usable before the central directory is written.
    if (fraction < 1 && fraction - this.lastReported < 1e-3) return;
    this.lastReported = fraction;
    this.onProgress(Math.min(fraction, 0.999999));
  }
}

/** Zips `files` (stored, no compression) into one archive in memory. */
export function zipFiles(files: readonly ZipInputFile[], options: ZipOptions = {}): Uint8Array {
  const writer = new ZipWriter(files.map((f) => ({ name: f.name, size: f.data.length })), options);
  for (const f of files) writer.add(f.name, f.data);
  return writer.finish();
}
