/**
 * Small readers of byte buffers shared by the container parsers (WAV, AIFF,
 * MP4). No Node built-ins: bundles for browsers.
 */

/** The four bytes at `offset` as Latin-1 text (a chunk or box type); fewer at the end of `bytes`. */
export function fourcc(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + 4));
}
