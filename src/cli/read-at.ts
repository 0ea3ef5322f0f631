import { readSync } from 'node:fs';

/**
 * Up to `n` bytes at `pos` of an open file: fewer only at its end. readSync
 * may return less than asked before the end, so it is called until the
 * buffer is full or a read returns nothing.
 */
export function readAt(fd: number, pos: number, n: number): Buffer {
  const buf = Buffer.alloc(n);
  let done = 0;
  while (done < n) {
    const got = readSync(fd, buf, done, n - done, pos + done);
    if (got === 0) break;
    done += got;
  }
  return buf.subarray(0, done);
}
