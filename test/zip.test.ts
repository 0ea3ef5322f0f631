import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StemstreamError } from '../src/errors.js';
import { crc32, dosDateTime, zipFiles, ZipWriter } from '../src/export/zip.js';

/** CRC-32 computed bit by bit (no table), independent of the writer's. */
function crcBitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface ParsedEntry { name: string; utf8: boolean; crc: number; data: Uint8Array; time: number; date: number }

/**
 * A minimal independent reader: finds the end record, walks the central
 * directory, follows each entry to its local header, and cross-checks the two.
 */
function parseZip(zip: Uint8Array): ParsedEntry[] {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const end = zip.length - 22;
  expect(v.getUint32(end, true)).toBe(0x06054b50);
  const count = v.getUint16(end + 10, true);
  const cdSize = v.getUint32(end + 12, true);
  const cdOffset = v.getUint32(end + 16, true);
  expect(cdOffset + cdSize).toBe(end);
  const out: ParsedEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    expect(v.getUint32(p, true)).toBe(0x02014b50);
    const flags = v.getUint16(p + 8, true);
    expect(v.getUint16(p + 10, true)).toBe(0); // stored
    const crc = v.getUint32(p + 16, true);
    const size = v.getUint32(p + 20, true);
    expect(v.getUint32(p + 24, true)).toBe(size);
    const nameLen = v.getUint16(p + 28, true);
    const extra = v.getUint16(p + 30, true);
    const comment = v.getUint16(p + 32, true);
    const local = v.getUint32(p + 42, true);
    const nameBytes = zip.subarray(p + 46, p + 46 + nameLen);
    // The local header repeats the same fields.
    expect(v.getUint32(local, true)).toBe(0x04034b50);
    expect(v.getUint16(local + 6, true)).toBe(flags);
    expect(v.getUint32(local + 14, true)).toBe(crc);
    expect(v.getUint32(local + 18, true)).toBe(size);
    expect(v.getUint16(local + 26, true)).toBe(nameLen);
    expect(zip.subarray(local + 30, local + 30 + nameLen)).toEqual(nameBytes);
    const dataAt = local + 30 + nameLen + v.getUint16(local + 28, true);
    const data = zip.subarray(dataAt, dataAt + size);
    out.push({ name: new TextDecoder().decode(nameBytes), utf8: (flags & 0x800) !== 0, crc, data, time: v.getUint16(p + 12, true), date: v.getUint16(p + 14, true) });
    p += 46 + nameLen + extra + comment;
  }
  return out;
}

const enc = new TextEncoder();
const files = [
  { name: 'song-drums.wav', data: Uint8Array.from({ length: 70_001 }, (_, i) => (i * 31 + (i >> 7)) & 0xff) },
  { name: 'empty.txt', data: new Uint8Array(0) },
  { name: 'Bjørk – vocals 🎤.wav', data: enc.encode('héllo wörld') },
  { name: 'ascii.bin', data: Uint8Array.from({ length: 256 }, (_, i) => i) },
];

const tmp = mkdtempSync(join(tmpdir(), 'stemstream-zip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tool the test needs: missing, the test fails and names the command that installs it (.ci/run does). */
function need(cmd: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    throw new Error(`${cmd} is not installed; install it with \`apt-get install -y ${cmd}\` (.ci/run installs it)`);
  }
}

describe('crc32', () => {
  it('matches the standard check value and a bitwise implementation', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    for (const f of files) expect(crc32(f.data)).toBe(crcBitwise(f.data));
    const d = files[0].data;
    expect(crc32(d.subarray(1000), crc32(d.subarray(0, 1000)))).toBe(crc32(d));
  });
});

describe('zipFiles', () => {
  const zip = zipFiles(files, { date: new Date(2024, 5, 15, 13, 45, 30) });

  it('round-trips names, contents and CRCs through an independent parser', () => {
    const entries = parseZip(zip);
    expect(entries.map((e) => e.name)).toEqual(files.map((f) => f.name));
    entries.forEach((e, i) => {
      expect(e.data).toEqual(files[i].data);
      expect(e.crc).toBe(crcBitwise(files[i].data));
      expect(e.utf8).toBe(i === 2); // only the non-ASCII name
    });
    expect(entries[0].date).toBe(((2024 - 1980) << 9) | (6 << 5) | 15);
    expect(entries[0].time).toBe((13 << 11) | (45 << 5) | 15);
    expect(zip.length).toBe(files.reduce((n, f) => n + 30 + 46 + 2 * enc.encode(f.name).length + f.data.length, 22));
  });

  it('opens with Python zipfile (testzip, names, bytes, dates)', () => {
    need('python3');
    const path = join(tmp, 'a.zip');
    writeFileSync(path, zip);
    const script = [
      'import zipfile, sys, json, hashlib',
      'z = zipfile.ZipFile(sys.argv[1])',
      'assert z.testzip() is None',
      'print(json.dumps([[i.filename, i.file_size, i.CRC, list(i.date_time), hashlib.sha256(z.read(i)).hexdigest(), i.compress_type] for i in z.infolist()]))',
    ].join('\n');
    const out = JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as [string, number, number, number[], string, number][];
    expect(out.map((e) => e[0])).toEqual(files.map((f) => f.name));
    out.forEach(([, size, crc, date, digest, method], i) => {
      expect(size).toBe(files[i].data.length);
      expect(crc).toBe(crcBitwise(files[i].data));
      expect(date).toEqual([2024, 6, 15, 13, 45, 30]);
      expect(method).toBe(0);
      expect(digest).toBe(execFileSync('python3', ['-c', 'import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'], { input: files[i].data, encoding: 'utf8' }).trim());
    });
  });

  it('passes unzip -t', () => {
    need('unzip');
    const path = join(tmp, 'b.zip');
    writeFileSync(path, zip);
    const out = execFileSync('unzip', ['-t', path], { encoding: 'utf8' });
    expect(out).toMatch(/No errors detected/);
  });

  it('writes an empty archive and uses a fixed date by default', () => {
    const empty = zipFiles([]);
    expect(empty.length).toBe(22);
    expect(parseZip(empty)).toEqual([]);
    const one = parseZip(zipFiles([{ name: 'a', data: new Uint8Array([1]) }]))[0];
    expect(one.date).toBe((0 << 9) | (1 << 5) | 1);
    expect(one.time).toBe(0);
    expect(zipFiles([{ name: 'a', data: new Uint8Array([1]) }])).toEqual(zipFiles([{ name: 'a', data: new Uint8Array([1]) }]));
  });

  it('refuses bad names and archives a ZIP without ZIP64 cannot describe', () => {
    const code = (fn: () => unknown) => {
      try { fn(); } catch (err) { expect(err).toBeInstanceOf(StemstreamError); return (err as StemstreamError).code; }
      return 'no error';
    };
    const d = new Uint8Array(1);
    expect(code(() => zipFiles([{ name: 'a', data: d }, { name: 'a', data: d }]))).toBe('BAD_OPTION');
    expect(code(() => zipFiles([{ name: '/etc/passwd', data: d }]))).toBe('BAD_OPTION');
    expect(code(() => zipFiles([{ name: 'a/../../b', data: d }]))).toBe('BAD_OPTION');
    expect(code(() => zipFiles([{ name: '', data: d }]))).toBe('BAD_OPTION');
    // Sizes are checked before anything is allocated.
    expect(code(() => new ZipWriter([{ name: 'big.wav', size: 2 ** 32 }]))).toBe('IO');
    expect(code(() => new ZipWriter([{ name: 'a.wav', size: 2 ** 31 }, { name: 'b.wav', size: 2 ** 31 }]))).toBe('IO');
    expect(() => new ZipWriter([{ name: 'a.wav', size: 2 ** 31 }, { name: 'b.wav', size: 2 ** 31 }])).toThrow(/4 GiB/);
    expect(code(() => new ZipWriter(Array.from({ length: 65536 }, (_, i) => ({ name: `f${i}`, size: 0 }))))).toBe('BAD_OPTION');
  });

  it('ZipWriter returns views into the archive and checks declared sizes', () => {
    const w = new ZipWriter([{ name: 'x', size: 3 }, { name: 'y', size: 2 }]);
    expect(() => w.add('x', new Uint8Array(2))).toThrow(/declared as 3 bytes/);
    expect(() => w.finish()).toThrow(/before adding x, y/);
    const y = w.add('y', new Uint8Array([4, 5]));
    const x = w.add('x', new Uint8Array([1, 2, 3]));
    const zip = w.finish();
    expect(x.buffer).toBe(zip.buffer);
    expect(y.buffer).toBe(zip.buffer);
    expect(parseZip(zip).map((e) => [e.name, [...e.data]])).toEqual([['x', [1, 2, 3]], ['y', [4, 5]]]);
  });

  it('clamps DOS dates to 1980..2107', () => {
    expect(dosDateTime(new Date(1970, 0, 1))).toEqual({ date: 33, time: 0 });
    expect(dosDateTime(new Date(2200, 0, 1)).date >> 9).toBe(127);
  });
});
