/**
 * Separated stems → one WAV file per stem, plus a ZIP holding all of them.
 *
 * Formats: 'wav24' (the default: 24-bit PCM, opens everywhere, 144 dB of
 * range, 3/4 the size of float), 'wav16' (16-bit PCM, smallest), 'float32'
 * (32-bit IEEE float, lossless, keeps samples above full scale). In integer
 * formats a stem over full scale is handled by `clipMode` (clip.ts: rescale,
 * Demucs' default, clamp or none); the result reports each such stem (how
 * many samples, the peak) so that a page can say so.
 *
 * Memory: the archive is allocated once (sizes are known from the shapes) and
 * each WAV is encoded, copied into it and dropped, so the peak is the archive
 * plus one WAV (plus one stem's samples while a stem is rescaled or clamped).
 * The returned `files[i].data` are views into the archive's buffer, not
 * copies (slice() one to own it separately).
 */
import type { AudioData } from '../audio/types.js';
import { encodeWav, type WavOutputFormat } from '../audio/wav.js';
import { StemstreamError } from '../errors.js';
import { checkStemName } from '../untrusted-text.js';
import { applyClipMode, CLAMP_LIMIT, CLIP_MODES, ClipMeter, DEFAULT_CLIP_MODE, rescaleGain, type ClipMode, type ClipReport } from './clip.js';
import { ZipWriter } from './zip.js';

export type StemExportFormat = 'wav16' | 'wav24' | 'float32';

export const DEFAULT_STEM_EXPORT_FORMAT: StemExportFormat = 'wav24';

export interface ExportStemsOptions {
  /** Per stem, its channels (planar), all of the same length. */
  stems: Float32Array[][];
  /** One name per stem (e.g. drums, bass, other, vocals). */
  sources: string[];
  sampleRate: number;
  /** File names are `${baseName}-${source}.wav` (characters not allowed in file names become "_"). */
  baseName: string;
  /** Default 'wav24'. */
  format?: StemExportFormat;
  /** Integer formats: what happens to a stem over full scale (default 'rescale', as Demucs); float32 is written as is. */
  clipMode?: ClipMode;
  /** Fraction done, 0..1; reported per stem and while zipping; the last call is 1. */
  onProgress?: (fraction: number) => void;
  /** Modification time stored in the ZIP (default 1980-01-01, reproducible). */
  date?: Date;
}

export interface ExportedFile {
  name: string;
  data: Uint8Array;
}

export interface ExportedStems {
  /** One WAV per stem, in the order of `sources`. */
  files: ExportedFile[];
  /** A stored ZIP of `files`. */
  zip: Uint8Array;
  /** Suggested name for the archive: `${baseName}-stems.zip`. */
  zipName: string;
  format: StemExportFormat;
  /** Sources whose file holds clipped samples: over full scale and written with clipMode 'clamp' or 'none' (empty for float32 and rescale). */
  clipped: string[];
  /** Each stem with samples outside [−1, 1], in an integer format: how many, the peak, what was done (describeClip() words it). */
  clipping: ClipReport[];
}

const WAV_FORMAT: Record<StemExportFormat, WavOutputFormat> = { wav16: 'pcm16', wav24: 'pcm24', float32: 'float32' };
const BYTES_PER_SAMPLE: Record<StemExportFormat, number> = { wav16: 2, wav24: 3, float32: 4 };

/**
 * Replaces what file systems and archive tools reject or misread in a file
 * name: separators, reserved characters, controls (C0, DEL, C1), line
 * separators and bidi overrides (which can disguise an extension).
 */
export function safeFileName(name: string): string {
  const cleaned = name.normalize('NFC').replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069/\\:*?"<>|]/g, '_').trim();
  const noDots = cleaned.replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  return noDots.length > 0 ? noDots.slice(0, 200) : 'stems';
}

function bad(message: string): StemstreamError {
  return new StemstreamError('BAD_OPTION', `cannot export stems: ${message}`);
}

interface Plan {
  format: StemExportFormat;
  clipMode: ClipMode;
  wavFormat: WavOutputFormat;
  names: string[];
  sizes: number[];
  zipName: string;
}

function plan(o: ExportStemsOptions): Plan {
  const format = o.format ?? DEFAULT_STEM_EXPORT_FORMAT;
  if (!Object.hasOwn(WAV_FORMAT, format)) throw bad(`unknown format "${format}"; use "wav16", "wav24" or "float32"`);
  const clipMode = o.clipMode ?? DEFAULT_CLIP_MODE;
  if (!CLIP_MODES.includes(clipMode)) throw bad(`unknown clip mode "${clipMode}"; use ${CLIP_MODES.map((m) => `"${m}"`).join(', ')}`);
  if (!Array.isArray(o.stems) || o.stems.length === 0) throw bad('no stems given');
  if (!Array.isArray(o.sources) || o.sources.length !== o.stems.length) {
    throw bad(`${o.stems.length} stem(s) but ${o.sources?.length ?? 0} source name(s); give one name per stem`);
  }
  // Stem names come from the model: refused, not rewritten, when they are not names (the model loader refuses them too).
  for (const src of o.sources) {
    checkStemName(src, { what: 'cannot export stems: the source list', fix: 'use the names of a model stemstream loaded (e.g. drums, bass, other, vocals)', code: 'BAD_OPTION' });
  }
  const channels = o.stems[0].length;
  const frames = o.stems[0][0]?.length ?? 0;
  if (channels === 0) throw bad(`stem "${o.sources[0]}" has no channels`);
  o.stems.forEach((stem, s) => {
    if (stem.length !== channels) throw bad(`stem "${o.sources[s]}" has ${stem.length} channel(s), stem "${o.sources[0]}" has ${channels}`);
    stem.forEach((ch, c) => {
      if (!(ch instanceof Float32Array)) throw bad(`stem "${o.sources[s]}" channel ${c} is not a Float32Array`);
      if (ch.length !== frames) throw bad(`stem "${o.sources[s]}" channel ${c} has ${ch.length} samples, expected ${frames} like the others`);
    });
  });
  const base = safeFileName(o.baseName);
  const names = o.sources.map((src) => `${base}-${safeFileName(src)}.wav`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw bad(`two stems would both be written as "${dup}"; give the sources distinct names`);
  // The header size comes from the encoder itself (a zero-length file), the data size from the shape.
  const wavFormat = WAV_FORMAT[format];
  const header = encodeWav({ sampleRate: o.sampleRate, channels: Array.from({ length: channels }, () => new Float32Array(0)) }, wavFormat).length;
  const dataBytes = frames * channels * BYTES_PER_SAMPLE[format];
  const size = header + dataBytes + (dataBytes & 1);
  return { format, clipMode, wavFormat, names, sizes: names.map(() => size), zipName: `${base}-stems.zip` };
}

/**
 * The stem as it goes into an integer file: measured, and rescaled or clamped
 * (a copy; the caller's samples stay as they are) when the mode changes it.
 */
function clipHandled(stem: Float32Array[], name: string, mode: ClipMode): { channels: Float32Array[]; report?: ClipReport } {
  const frames = stem[0].length;
  const meter = new ClipMeter();
  meter.add(stem, 0, frames);
  const report = meter.report(name, mode);
  const gain = mode === 'rescale' ? rescaleGain(meter.peak) : 1;
  const changes = (mode === 'rescale' && gain !== 1) || (mode === 'clamp' && meter.peak > CLAMP_LIMIT);
  if (!changes) return { channels: stem, report };
  const out = stem.map(() => new Float32Array(frames));
  applyClipMode(mode, gain, stem, 0, frames, out);
  return { channels: out, report };
}

/**
 * The export as a sequence of steps, so that the async version can yield to
 * the event loop between them (and a page can repaint its progress bar).
 */
function* steps(o: ExportStemsOptions): Generator<void, ExportedStems, void> {
  const p = plan(o);
  const n = o.stems.length;
  // Per stem: encoding ≈ 60 % of its share, copying + CRC into the ZIP ≈ 40 %.
  const progress = (fraction: number) => o.onProgress?.(Math.min(1, Math.max(0, fraction)));
  let stemIndex = 0;
  const zip = new ZipWriter(
    p.names.map((name, i) => ({ name, size: p.sizes[i] })),
    { date: o.date, onProgress: (f) => { if (f < 1) progress((stemIndex + 0.6 + 0.4 * zipShare(f, stemIndex, n)) / n); } },
  );
  const files: ExportedFile[] = [];
  const clipped: string[] = [];
  const clipping: ClipReport[] = [];
  progress(0);
  for (; stemIndex < n; stemIndex++) {
    let channels = o.stems[stemIndex];
    if (p.format !== 'float32') {
      const handled = clipHandled(channels, o.sources[stemIndex], p.clipMode);
      channels = handled.channels;
      if (handled.report) {
        clipping.push(handled.report);
        if (p.clipMode !== 'rescale' && handled.report.clipped > 0) clipped.push(o.sources[stemIndex]);
      }
    }
    const audio: AudioData = { sampleRate: o.sampleRate, channels };
    const wav = encodeWav(audio, p.wavFormat);
    if (wav.length !== p.sizes[stemIndex]) {
      throw new StemstreamError('IO', `cannot export stems: ${p.names[stemIndex]} encoded to ${wav.length} bytes, ${p.sizes[stemIndex]} were expected (internal error)`);
    }
    progress((stemIndex + 0.6) / n);
    yield;
    files.push({ name: p.names[stemIndex], data: zip.add(p.names[stemIndex], wav) });
    progress((stemIndex + 1) / n);
    yield;
  }
  const archive = zip.finish();
  progress(1);
  return { files, zip: archive, zipName: p.zipName, format: p.format, clipped, clipping };
}

/** The ZIP writer reports the fraction of all data written; this turns it into the fraction of stem `i`'s share. */
function zipShare(fraction: number, i: number, n: number): number {
  return Math.min(1, Math.max(0, fraction * n - i));
}

/**
 * Encodes each stem as a WAV and zips them. Yields to the event loop between
 * stems so that progress can be shown on a page; the work itself is
 * synchronous (run it in a worker for long tracks to keep the page responsive).
 */
export async function exportStems(options: ExportStemsOptions): Promise<ExportedStems> {
  const it = steps(options);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
}

/** `exportStems` without yielding (for workers, Node and tests). */
export function exportStemsSync(options: ExportStemsOptions): ExportedStems {
  const it = steps(options);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}
