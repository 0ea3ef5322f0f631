/**
 * One writer for a stem file on disk, WAV or FLAC: separate, stream and the
 * library run write through this, so the choice of container and what
 * happens to samples over full scale (--clip-mode) are made in one place.
 */
import { WavFileWriter, type WavOutputFormat } from '../audio/wav.js';
import { StemstreamError } from '../errors.js';
import { ClippingStemWriter, RescalingStemWriter, type StemClipOptions } from './clip-stem-writer.js';
import { FlacFileWriter } from './flac-file-writer.js';
import type { StemFileWriter } from './stem-writer.js';

export type { StemFileWriter } from './stem-writer.js';

export type StemFileType = 'wav' | 'flac';

export interface StemFileOptions {
  sampleRate: number;
  channels: number;
  /** Sample format; FLAC holds integers only (pcm16, pcm24). */
  format: WavOutputFormat;
  fileType: StemFileType;
  /**
   * For integer formats: the clip mode and where to report a stem over full
   * scale (clip.ts). Absent: written as is (over full scale clipped), unreported.
   * Float output ignores it: nothing clips there.
   */
  clip?: StemClipOptions;
}

/** Creates `path` for writing a stem in the given container and sample format. */
export async function openStemFile(path: string, opts: StemFileOptions): Promise<StemFileWriter> {
  if (opts.fileType === 'flac' && opts.format === 'float32') {
    throw new StemstreamError('BAD_OPTION', `cannot write ${path}: FLAC holds integer samples only; write 16- or 24-bit FLAC, or float WAV`);
  }
  const open = (): Promise<StemFileWriter> =>
    opts.fileType === 'wav'
      ? WavFileWriter.open(path, opts)
      : FlacFileWriter.open(path, { sampleRate: opts.sampleRate, channels: opts.channels, bits: opts.format === 'pcm16' ? 16 : 24 });
  const clip = opts.clip;
  if (clip === undefined || opts.format === 'float32') return open();
  if (clip.mode === 'rescale') return RescalingStemWriter.open(path, opts.channels, open, clip);
  return new ClippingStemWriter(await open(), clip);
}
