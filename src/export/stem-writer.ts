/**
 * What every stem writer does (WAV and FLAC files, the clip-mode wrappers),
 * in a module of its own so that the wrappers (clip-stem-writer.ts) and the
 * function choosing among them (stem-file-writer.ts) need not import each other.
 */
export interface StemFileWriter {
  write(planar: Float32Array[], start?: number, frames?: number): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
