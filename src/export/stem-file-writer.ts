/**
 * One writer for a stem file on disk, WAV or FLAC: separate and the library
 * run write through this, so the choice of container is made in one place.
 */
import { WavFileWriter, type WavOutputFormat } from '../audio/wav.js';
import { StemstreamError } from '../errors.js';
import { FlacFileWriter } from './flac-file-writer.js';

export type StemFileType = 'wav' | 'flac';

export interface StemFileWriter {
  write(planar: Float32Array[], start?: number, frames?: number): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

export interface StemFileOptions {
  sampleRate: number;
  channels: number;
  /** Sample format; FLAC holds integers only (pcm16, pcm24). */
  format: WavOutputFormat;
  fileType: StemFileType;
}

/** Creates `path` for writing a stem in the given container and sample format. */
export async function openStemFile(path: string, opts: StemFileOptions): Promise<StemFileWriter> {
  if (opts.fileType === 'wav') return WavFileWriter.open(path, opts);
  if (opts.format === 'float32') {
    throw new StemstreamError('BAD_OPTION', `cannot write ${path}: FLAC holds integer samples only; write 16- or 24-bit FLAC, or float WAV`);
  }
  return FlacFileWriter.open(path, { sampleRate: opts.sampleRate, channels: opts.channels, bits: opts.format === 'pcm16' ? 16 : 24 });
}
