/**
 * Streams a FLAC file to disk with libFLAC (the npm package `libflacjs`, the
 * reference encoder compiled to JavaScript; MIT). Same shape as WavFileWriter:
 * open, write planar float blocks as they come, close (or abort).
 *
 * Samples are quantised exactly as the WAV writer quantises them (round(x·2^(b−1)),
 * clamped), so a FLAC stem decodes to the same integers as the WAV stem of
 * the same bit depth: lossless relative to it, at about 40 % of its size.
 *
 * libFLAC's stream interface cannot seek back, so the STREAMINFO it writes
 * first has no length, frame sizes or MD5; close() patches them in from the
 * metadata libFLAC reports at the end (flac -t then checks the MD5).
 *
 * Node only. The asm.js build is used: the package's WebAssembly build tries
 * to fetch() its .wasm by file path, which Node 20 refuses.
 */
import { pcmSample } from '../audio/wav.js';
import type { FileHandle } from 'node:fs/promises';
import { StemstreamError } from '../errors.js';
import { importNodeBuiltin } from '../node-builtin.js';

export type FlacBits = 16 | 24;

export interface FlacFileWriterOptions {
  sampleRate: number;
  channels: number;
  bits: FlacBits;
}

/** The part of libflacjs' API used here (its own typings need TypeScript < 5.7 shims). */
interface LibFlac {
  isReady(): boolean;
  on(event: 'ready', listener: () => void): void;
  create_libflac_encoder(rate: number, channels: number, bps: number, level: number, totalSamples?: number, verify?: boolean, blockSize?: number): number;
  init_encoder_stream(encoder: number, write: (data: Uint8Array, bytes: number) => void, metadata?: (m: FlacStreamMetadata) => void): number;
  FLAC__stream_encoder_process_interleaved(encoder: number, buffer: Int32Array, frames: number): boolean;
  FLAC__stream_encoder_finish(encoder: number): boolean;
  FLAC__stream_encoder_delete(encoder: number): void;
  FLAC__stream_encoder_get_state(encoder: number): number;
}

interface FlacStreamMetadata {
  min_framesize: number;
  max_framesize: number;
  total_samples: number;
  md5sum: string;
}

/** libFLAC's default: -5, the flac tool's default too; level 8 saves too little to pay (docs/benchmarks.md#libraries). */
const COMPRESSION_LEVEL = 5;
/** Frames handed to libFLAC per call: bounds the copy into its fixed-size heap. */
const CHUNK_FRAMES = 16384;
/** STREAMINFO starts after "fLaC" and the 4-byte block header. */
const STREAMINFO_OFFSET = 8;

let libflac: Promise<LibFlac> | undefined;

/** Loads libflacjs once per process, on first use (its load time: docs/cli.md). */
function loadLibFlac(): Promise<LibFlac> {
  libflac ??= (async () => {
    // Computed specifiers: browser bundlers must not pull this Node-only path in.
    const { createRequire } = await importNodeBuiltin<typeof import('node:module')>('node:module');
    const factory = createRequire(import.meta.url)('libflacjs') as (variant: string) => LibFlac;
    const flac = factory('min');
    if (!flac.isReady()) await new Promise<void>((resolve) => flac.on('ready', resolve));
    return flac;
  })();
  return libflac;
}

export class FlacFileWriter {
  readonly path: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly bits: FlacBits;
  private handle: FileHandle | null;
  private readonly flac: LibFlac;
  private encoder: number;
  /** Encoded bytes libFLAC produced during the current call, written out after it. */
  private pending: Uint8Array[] = [];
  private metadata: FlacStreamMetadata | undefined;
  private position = 0;
  private framesWritten = 0;
  private interleaved = new Int32Array(0);
  private closed = false;

  private constructor(path: string, handle: FileHandle, flac: LibFlac, encoder: number, opts: FlacFileWriterOptions) {
    this.path = path;
    this.handle = handle;
    this.flac = flac;
    this.encoder = encoder;
    this.sampleRate = opts.sampleRate;
    this.channels = opts.channels;
    this.bits = opts.bits;
  }

  /** Creates (or truncates) `path` and starts a libFLAC encoder for it. */
  static async open(path: string, opts: FlacFileWriterOptions): Promise<FlacFileWriter> {
    if (opts.bits !== 16 && opts.bits !== 24) throw new StemstreamError('BAD_OPTION', `cannot write FLAC ${path}: ${opts.bits} bits per sample; use 16 or 24`);
    if (!Number.isInteger(opts.channels) || opts.channels < 1 || opts.channels > 8) {
      throw new StemstreamError('BAD_OPTION', `cannot write FLAC ${path}: ${opts.channels} channels; FLAC holds 1 to 8`);
    }
    if (!Number.isInteger(opts.sampleRate) || opts.sampleRate < 1 || opts.sampleRate > 655350) {
      throw new StemstreamError('BAD_OPTION', `cannot write FLAC ${path}: sample rate ${opts.sampleRate} Hz is outside what FLAC holds`);
    }
    const flac = await loadLibFlac();
    const fs = await importNodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
    let handle: FileHandle;
    try {
      handle = await fs.open(path, 'w+'); // read back too: STREAMINFO is patched at close
    } catch (err) {
      throw new StemstreamError('IO', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
    }
    const encoder = flac.create_libflac_encoder(opts.sampleRate, opts.channels, opts.bits, COMPRESSION_LEVEL, 0, false, 0);
    if (encoder === 0) {
      await handle.close().catch(() => undefined);
      throw new StemstreamError('IO', `cannot write FLAC ${path}: libFLAC could not create an encoder for ${opts.sampleRate} Hz, ${opts.channels} channel(s), ${opts.bits} bit`);
    }
    const writer = new FlacFileWriter(path, handle, flac, encoder, opts);
    const status = flac.init_encoder_stream(encoder, (data) => writer.pending.push(data.slice()), (m) => { writer.metadata = m; });
    if (status !== 0) {
      await writer.abort();
      throw new StemstreamError('IO', `cannot write FLAC ${path}: libFLAC refused to start (init status ${status})`);
    }
    await writer.flush();
    return writer;
  }

  /** Frames written so far. */
  get frames(): number {
    return this.framesWritten;
  }

  /** Appends `frames` frames of `planar` starting at frame `start`. Await each write before the next. */
  async write(planar: Float32Array[], start = 0, frames: number = (planar[0]?.length ?? 0) - start): Promise<void> {
    this.checkOpen('write');
    if (planar.length !== this.channels) {
      throw new StemstreamError('CHANNEL_MISMATCH', `cannot write ${this.path}: got ${planar.length} channel(s), expected ${this.channels}`);
    }
    if (!Number.isInteger(start) || !Number.isInteger(frames) || start < 0 || frames < 0 || planar.some((ch) => ch.length < start + frames)) {
      throw new StemstreamError('BAD_OPTION', `cannot write ${this.path}: frames ${start}..${start + frames} are not all in the given channels`);
    }
    for (let done = 0; done < frames; done += CHUNK_FRAMES) {
      const n = Math.min(CHUNK_FRAMES, frames - done);
      const buf = this.quantise(planar, start + done, n);
      if (!this.flac.FLAC__stream_encoder_process_interleaved(this.encoder, buf, n)) {
        throw new StemstreamError('IO', `cannot write FLAC ${this.path}: libFLAC failed (encoder state ${this.flac.FLAC__stream_encoder_get_state(this.encoder)})`);
      }
      await this.flush();
    }
    this.framesWritten += frames;
  }

  /** Finishes the stream, patches STREAMINFO (length, frame sizes, MD5) and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.checkOpen('close');
    const ok = this.flac.FLAC__stream_encoder_finish(this.encoder);
    this.release();
    const handle = this.handle!;
    try {
      if (!ok || this.metadata === undefined) throw new Error('libFLAC could not finish the stream');
      await this.flush();
      await this.patchStreamInfo(this.metadata);
    } catch (err) {
      this.closed = true;
      this.handle = null;
      await handle.close().catch(() => undefined);
      throw new StemstreamError('IO', `cannot finish ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.closed = true;
    this.handle = null;
    try {
      await handle.close();
    } catch (err) {
      throw new StemstreamError('IO', `cannot close ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Closes the file without finishing it and deletes it (after an error or cancel). */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.release();
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
    const fs = await importNodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
    await fs.rm(this.path, { force: true }).catch(() => undefined);
  }

  /** Interleaved integers, rounded and clamped as the WAV writer does (NaN → 0). */
  private quantise(planar: Float32Array[], start: number, frames: number): Int32Array {
    const C = this.channels;
    if (this.interleaved.length < frames * C) this.interleaved = new Int32Array(CHUNK_FRAMES * C);
    const out = this.interleaved;
    const scale = this.bits === 16 ? 32768 : 8388608;
    for (let c = 0; c < C; c++) {
      const src = planar[c];
      for (let i = 0, p = c; i < frames; i++, p += C) out[p] = pcmSample(src[start + i], scale);
    }
    return out.subarray(0, frames * C);
  }

  /** Writes what libFLAC produced, in order. */
  private async flush(): Promise<void> {
    const chunks = this.pending;
    this.pending = [];
    for (const chunk of chunks) {
      let done = 0;
      try {
        while (done < chunk.length) {
          const { bytesWritten } = await this.handle!.write(chunk, done, chunk.length - done, this.position + done);
          done += bytesWritten;
        }
      } catch (err) {
        throw new StemstreamError('IO', `cannot write ${this.path}: ${(err as Error).message}`, { cause: err });
      }
      this.position += chunk.length;
    }
  }

  private async patchStreamInfo(m: FlacStreamMetadata): Promise<void> {
    const info = Buffer.alloc(34);
    const { bytesRead } = await this.handle!.read(info, 0, 34, STREAMINFO_OFFSET);
    const head = Buffer.alloc(4);
    await this.handle!.read(head, 0, 4, 0);
    if (bytesRead !== 34 || head.toString('latin1') !== 'fLaC') throw new Error('the stream does not start with a STREAMINFO block');
    info.writeUIntBE(m.min_framesize, 4, 3);
    info.writeUIntBE(m.max_framesize, 7, 3);
    // 36-bit sample count: the low 4 bits of byte 13, then bytes 14–17.
    const total = m.total_samples;
    info[13] = (info[13] & 0xf0) | (Math.floor(total / 2 ** 32) & 0x0f);
    info.writeUInt32BE(total % 2 ** 32, 14);
    if (!/^[0-9a-f]{32}$/.test(m.md5sum)) throw new Error(`libFLAC reported an MD5 of "${m.md5sum}"`);
    Buffer.from(m.md5sum, 'hex').copy(info, 18);
    await this.handle!.write(info, 0, 34, STREAMINFO_OFFSET);
  }

  private release(): void {
    if (this.encoder !== 0) this.flac.FLAC__stream_encoder_delete(this.encoder);
    this.encoder = 0;
    this.interleaved = new Int32Array(0);
  }

  private checkOpen(what: string): void {
    if (this.closed || this.handle === null) throw new StemstreamError('IO', `FlacFileWriter(${this.path}): ${what}() after close()`);
  }
}
