/**
 * Stem files written with a --clip-mode (clip.ts): the writers separate and
 * stream get from openStemFile when the output holds integers.
 *
 * clamp and none stream: each block is measured, clamped (or not) and written
 * through. rescale needs the whole stem's peak before its first sample is
 * written, and the stems arrive block by block as the separation goes, so the
 * stem is first written as raw float32 to the output path itself, then, on
 * close, read back, multiplied by the gain and written in the real format.
 * Memory stays bounded (one block); the cost is disk and one more pass: 4
 * bytes per sample of scratch per stem while the run goes (twice the 16-bit
 * file), then reading it back and writing the file, after the separation.
 *
 * Node only.
 */
import type { FileHandle } from 'node:fs/promises';
import { StemstreamError } from '../errors.js';
import { importNodeBuiltin } from '../node-builtin.js';
import { applyClipMode, ClipMeter, rescaleGain, type ClipMode, type ClipReport } from './clip.js';
import type { StemFileWriter } from './stem-writer.js';

export interface StemClipOptions {
  mode: ClipMode;
  /** The stem's name in the report (vocals, mix, ...). */
  name: string;
  /** Told once the file is complete, when the stem went over full scale. */
  onReport?: (report: ClipReport) => void;
}

/** Frames per block read back from the scratch (64 Ki: 512 KiB per stereo block of float32). */
const BLOCK_FRAMES = 65536;

type FsSync = typeof import('node:fs');
type FsPromises = typeof import('node:fs/promises');

/**
 * Scratch files between a rescale's first and second pass (renamed away from
 * the output's temporary): removed if the process exits in between (a signal
 * handler exits at once), as the temporaries themselves are.
 */
const scratches = new Set<string>();
let exitHook: (() => void) | undefined;

function holdScratch(fs: FsSync, path: string): void {
  if (exitHook === undefined) {
    exitHook = () => {
      for (const p of scratches) fs.rmSync(p, { force: true });
    };
    process.on('exit', exitHook);
  }
  scratches.add(path);
}

/** clamp and none: measured, clamped (clamp) and passed through block by block. */
export class ClippingStemWriter implements StemFileWriter {
  private readonly meter = new ClipMeter();
  private buf: Float32Array[] = [];

  constructor(private readonly inner: StemFileWriter, private readonly clip: StemClipOptions) {}

  async write(planar: Float32Array[], start = 0, frames: number = (planar[0]?.length ?? 0) - start): Promise<void> {
    this.meter.add(planar, start, frames);
    if (this.clip.mode === 'none') return this.inner.write(planar, start, frames);
    if ((this.buf[0]?.length ?? 0) < frames) this.buf = planar.map(() => new Float32Array(frames));
    applyClipMode(this.clip.mode, 1, planar, start, frames, this.buf);
    return this.inner.write(this.buf, 0, frames);
  }

  async close(): Promise<void> {
    await this.inner.close();
    const report = this.meter.report(this.clip.name, this.clip.mode);
    if (report) this.clip.onReport?.(report);
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}

/** rescale: float32 scratch first, the stem × its gain in the real format on close. */
export class RescalingStemWriter implements StemFileWriter {
  private readonly meter = new ClipMeter();
  private handle: FileHandle | null;
  private bytes = 0;
  private interleaved = new Float32Array(0);
  private scratch: string | undefined;
  private inner: StemFileWriter | undefined;
  private done = false;

  private constructor(
    private readonly path: string,
    handle: FileHandle,
    private readonly channels: number,
    private readonly fs: FsSync,
    private readonly fsp: FsPromises,
    private readonly openFinal: () => Promise<StemFileWriter>,
    private readonly clip: StemClipOptions,
  ) {
    this.handle = handle;
  }

  /** `openFinal` creates the real file at `path` (the scratch has moved away by then). */
  static async open(path: string, channels: number, openFinal: () => Promise<StemFileWriter>, clip: StemClipOptions): Promise<RescalingStemWriter> {
    const fs = await importNodeBuiltin<FsSync>('node:fs');
    const fsp = await importNodeBuiltin<FsPromises>('node:fs/promises');
    let handle: FileHandle;
    try {
      handle = await fsp.open(path, 'w');
    } catch (err) {
      throw new StemstreamError('IO', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
    }
    return new RescalingStemWriter(path, handle, channels, fs, fsp, openFinal, clip);
  }

  async write(planar: Float32Array[], start = 0, frames: number = (planar[0]?.length ?? 0) - start): Promise<void> {
    if (this.handle === null) throw new StemstreamError('IO', `cannot write ${this.path}: write() after close()`);
    if (planar.length !== this.channels) throw new StemstreamError('CHANNEL_MISMATCH', `cannot write ${this.path}: got ${planar.length} channel(s), expected ${this.channels}`);
    if (frames === 0) return;
    this.meter.add(planar, start, frames);
    const n = frames * this.channels;
    if (this.interleaved.length < n) this.interleaved = new Float32Array(n);
    const out = this.interleaved;
    planar.forEach((ch, c) => {
      for (let i = 0; i < frames; i++) out[i * this.channels + c] = ch[start + i];
    });
    // Native byte order: the scratch is read back by this process only.
    const view = new Uint8Array(out.buffer, 0, n * 4);
    try {
      let done = 0;
      while (done < view.length) done += (await this.handle.write(view, done, view.length - done, this.bytes + done)).bytesWritten;
    } catch (err) {
      throw new StemstreamError('IO', `cannot write ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.bytes += view.length;
  }

  /** The second pass: the scratch × the gain into the real file at the same path; then the report. */
  async close(): Promise<void> {
    if (this.done) return;
    if (this.handle === null) throw new StemstreamError('IO', `cannot close ${this.path}: already closed`);
    const handle = this.handle;
    this.handle = null;
    const gain = rescaleGain(this.meter.peak);
    const scratch = `${this.path}.f32`;
    try {
      await handle.close();
      holdScratch(this.fs, scratch);
      this.scratch = scratch;
      await this.fsp.rename(this.path, scratch);
      this.inner = await this.openFinal();
      const reader = await this.fsp.open(scratch, 'r');
      try {
        const C = this.channels;
        const frames = this.bytes / (4 * C);
        const block = new Float32Array(Math.min(BLOCK_FRAMES, Math.max(frames, 1)) * C);
        const planar = Array.from({ length: C }, () => new Float32Array(block.length / C));
        for (let at = 0; at < frames; at += BLOCK_FRAMES) {
          const n = Math.min(BLOCK_FRAMES, frames - at);
          const bytes = new Uint8Array(block.buffer, 0, n * C * 4);
          let got = 0;
          while (got < bytes.length) {
            const r = await reader.read(bytes, got, bytes.length - got, at * C * 4 + got);
            if (r.bytesRead === 0) throw new Error(`${scratch} ended early`);
            got += r.bytesRead;
          }
          for (let c = 0; c < C; c++) {
            const ch = planar[c];
            for (let i = 0; i < n; i++) ch[i] = block[i * C + c];
          }
          applyClipMode('rescale', gain, planar, 0, n, planar);
          await this.inner.write(planar, 0, n);
        }
      } finally {
        await reader.close();
      }
      await this.inner.close();
    } catch (err) {
      await this.abort();
      throw err instanceof StemstreamError ? err : new StemstreamError('IO', `cannot finish ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.dropScratch();
    this.done = true;
    const report = this.meter.report(this.clip.name, 'rescale');
    if (report) this.clip.onReport?.(report);
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle?.close().catch(() => undefined);
    this.handle = null;
    await this.inner?.abort().catch(() => undefined);
    this.dropScratch();
    this.fs.rmSync(this.path, { force: true });
  }

  private dropScratch(): void {
    if (this.scratch === undefined) return;
    this.fs.rmSync(this.scratch, { force: true });
    scratches.delete(this.scratch);
    this.scratch = undefined;
  }
}
