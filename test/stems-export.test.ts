import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseWav } from '../src/audio/wav.js';
import { StemstreamError } from '../src/errors.js';
import { exportStems, exportStemsSync, safeFileName, type StemExportFormat } from '../src/export/stems-export.js';
import { maxAbsDiff } from './reference/compare.js';

const SOURCES = ['drums', 'bass', 'other', 'vocals'];
const RATE = 44100;

function stems(frames: number, channels = 2): Float32Array[][] {
  return SOURCES.map((_, s) =>
    Array.from({ length: channels }, (_, c) => {
      const ch = new Float32Array(frames);
      for (let i = 0; i < frames; i++) ch[i] = 0.9 * Math.sin(0.001 * (i + 1) * (s + 2) * (c + 1)) * Math.cos(0.0003 * i);
      return ch;
    }),
  );
}

/** Entries of a stored ZIP, read from its central directory. */
function zipEntries(zip: Uint8Array): { name: string; data: Uint8Array }[] {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const end = zip.length - 22;
  expect(v.getUint32(end, true)).toBe(0x06054b50);
  const out: { name: string; data: Uint8Array }[] = [];
  let p = v.getUint32(end + 16, true);
  for (let i = 0; i < v.getUint16(end + 10, true); i++) {
    const size = v.getUint32(p + 20, true);
    const nameLen = v.getUint16(p + 28, true);
    const local = v.getUint32(p + 42, true);
    const at = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    out.push({ name: new TextDecoder().decode(zip.subarray(p + 46, p + 46 + nameLen)), data: zip.subarray(at, at + size) });
    p += 46 + nameLen + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
  }
  return out;
}

const TOLERANCE: Record<StemExportFormat, number> = { wav16: 0.5 / 32768 + 1e-9, wav24: 0.5 / 8388608 + 1e-9, float32: 0 };

const tmp = mkdtempSync(join(tmpdir(), 'stemstream-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('exportStems', () => {
  const input = stems(10_001);

  for (const format of ['wav16', 'wav24', 'float32'] as const) {
    it(`${format}: WAVs parse back within the format's quantisation; the ZIP holds one per stem`, async () => {
      const progress: number[] = [];
      const r = await exportStems({ stems: input, sources: SOURCES, sampleRate: RATE, baseName: 'My Song', format, onProgress: (f) => progress.push(f) });
      expect(r.format).toBe(format);
      expect(r.files.map((f) => f.name)).toEqual(SOURCES.map((s) => `My Song-${s}.wav`));
      expect(r.zipName).toBe('My Song-stems.zip');
      r.files.forEach((f, s) => {
        const audio = parseWav(f.data);
        expect(audio.sampleRate).toBe(RATE);
        expect(audio.channels).toHaveLength(2);
        audio.channels.forEach((ch, c) => {
          expect(ch.length).toBe(10_001);
          expect(maxAbsDiff(ch, input[s][c])).toBeLessThanOrEqual(TOLERANCE[format]);
        });
      });
      const entries = zipEntries(r.zip);
      expect(entries.map((e) => e.name)).toEqual(r.files.map((f) => f.name));
      entries.forEach((e, i) => expect(Buffer.from(e.data).equals(r.files[i].data)).toBe(true));
      // Files are views into the archive, not copies.
      expect(r.files.every((f) => f.data.buffer === r.zip.buffer)).toBe(true);
      expect(progress.at(-1)).toBe(1);
      expect(progress[0]).toBe(0);
      for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]);
      expect(progress.length).toBeGreaterThanOrEqual(2 * SOURCES.length + 1);
      expect(r.clipped).toEqual([]);
    });
  }

  it('defaults to 24-bit PCM', async () => {
    const r = await exportStems({ stems: input, sources: SOURCES, sampleRate: RATE, baseName: 'x' });
    expect(r.format).toBe('wav24');
    const v = new DataView(r.files[0].data.buffer, r.files[0].data.byteOffset);
    expect(v.getUint16(20, true)).toBe(1); // PCM
    expect(v.getUint16(34, true)).toBe(24);
    expect(r.files[0].data.length).toBe(44 + 10_001 * 2 * 3);
    // Mono, odd frame count: an odd data chunk gets its pad byte, and the sizes still match the ZIP's plan.
    const mono = exportStemsSync({ stems: stems(5, 1), sources: SOURCES, sampleRate: RATE, baseName: 'm' });
    expect(mono.files[0].data.length).toBe(44 + 5 * 3 + 1);
    expect(Array.from(parseWav(mono.files[1].data).channels[0])).toHaveLength(5);
  });

  it('reports clipping for integer formats and keeps overs in float32 (clip modes: test/clip-mode.test.ts)', () => {
    const hot = stems(100);
    hot[3][0][10] = 1.5;
    const int = exportStemsSync({ stems: hot, sources: SOURCES, sampleRate: RATE, baseName: 'x', format: 'wav16', clipMode: 'none' });
    expect(int.clipped).toEqual(['vocals']);
    expect(int.clipping.map((c) => [c.name, c.clipped])).toEqual([['vocals', 1]]);
    expect(parseWav(int.files[3].data).channels[0][10]).toBeCloseTo(32767 / 32768, 6);
    const float = exportStemsSync({ stems: hot, sources: SOURCES, sampleRate: RATE, baseName: 'x', format: 'float32' });
    expect(float.clipped).toEqual([]);
    expect(parseWav(float.files[3].data).channels[0][10]).toBe(1.5);
  });

  it('the ZIP and its WAVs open with Python (zipfile, wave)', () => {
    if (spawnSync('sh', ['-c', 'command -v python3']).status !== 0) {
      throw new Error('python3 is not installed; install it with `apt-get install -y python3` (.ci/run installs it)');
    }
    const r = exportStemsSync({ stems: stems(2000), sources: SOURCES, sampleRate: RATE, baseName: 'song', format: 'wav24' });
    const path = join(tmp, r.zipName);
    writeFileSync(path, r.zip);
    const script = [
      'import zipfile, wave, io, sys, json',
      'z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None',
      'out = []',
      'for n in z.namelist():',
      '    w = wave.open(io.BytesIO(z.read(n)))',
      '    out.append([n, w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()])',
      'print(json.dumps(out))',
    ].join('\n');
    expect(JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' }))).toEqual(SOURCES.map((s) => [`song-${s}.wav`, 2, 3, RATE, 2000]));
  });

  it('makes safe file names and refuses mismatched input', () => {
    expect(safeFileName('a/b\\c:d*?"<>|e')).toBe('a_b_c_d______e');
    expect(safeFileName('..hidden')).toBe('__hidden');
    expect(safeFileName('   ')).toBe('stems');
    const r = exportStemsSync({ stems: stems(10), sources: SOURCES, sampleRate: RATE, baseName: 'AC/DC – Thunder' });
    expect(r.files[0].name).toBe('AC_DC – Thunder-drums.wav');
    const code = (fn: () => unknown) => {
      try { fn(); } catch (err) { expect(err).toBeInstanceOf(StemstreamError); return (err as StemstreamError).message; }
      return 'no error';
    };
    expect(code(() => exportStemsSync({ stems: stems(10), sources: ['a', 'b'], sampleRate: RATE, baseName: 'x' }))).toMatch(/4 stem\(s\) but 2 source name/);
    const ragged = stems(10);
    ragged[2][1] = new Float32Array(9);
    expect(code(() => exportStemsSync({ stems: ragged, sources: SOURCES, sampleRate: RATE, baseName: 'x' }))).toMatch(/"other" channel 1 has 9 samples/);
    expect(code(() => exportStemsSync({ stems: stems(10), sources: ['a', 'a', 'b', 'c'], sampleRate: RATE, baseName: 'x' }))).toMatch(/both be written as "x-a.wav"/);
    expect(code(() => exportStemsSync({ stems: stems(10), sources: SOURCES, sampleRate: RATE, baseName: 'x', format: 'mp3' as StemExportFormat }))).toMatch(/unknown format "mp3"/);
  });
});
