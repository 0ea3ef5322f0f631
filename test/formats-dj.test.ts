/**
 * The formats of DJ libraries (iTunes/Music, rekordbox, Serato): AIFF and
 * AIFF-C, and MP4/M4A with ALAC or AAC, on files Debian's ffmpeg makes at
 * test time from a known signal.
 *
 * Lossless ones must decode to the exact samples ffmpeg read (bit-exact).
 * AAC is refused in Node (no AAC decoder an MIT package can ship) with the
 * conversion to run; browsers decode it (test/browser-formats-dj.test.ts).
 * Cut files are warned about with the true count, or refused with --strict;
 * the built CLI separates them, alone and as a library folder.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeAudio, sniffAudio } from '../src/audio/decode.js';
import { parseAudioSpecificConfig, parseMp4 } from '../src/audio/mp4.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { estimateDuration } from '../src/cli/library-progress.js';
import { isAudioFileName } from '../src/cli/library-tracks.js';
import { readInputAudio } from '../src/cli/input.js';
import { RECEIPT_FILE } from '../src/cli/resume.js';
import { StemstreamError } from '../src/errors.js';
import { decodeWithWarnings as decode, encodedSignalsForTests, encodeWithFfmpeg, withItunSmpb } from './fixtures/encoded-audio.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { exactDifference } from './reference/compare.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const STEMS = ['bass', 'drums', 'other', 'vocals'];

/** 1.3 s and a few samples: no length is a whole number of AAC (1024) or ALAC (4096) frames. */
const framesAt = (rate: number) => Math.round(rate * 1.3) + 7;

const made = encodedSignalsForTests(
  [
    { name: 's16.aiff', format: 'aiff', rate: 44100, channels: 2 },
    { name: 's24.aiff', format: 'aiff-24', rate: 48000, channels: 2, pcm: 'pcm24' },
    { name: 'sowt.aifc', format: 'aifc-sowt', rate: 44100, channels: 2 },
    { name: 'fl32.aifc', format: 'aifc-fl32', rate: 44100, channels: 2, pcm: 'float32' },
    { name: 'ulaw.aifc', format: 'aifc-ulaw', rate: 8000, channels: 1 },
    { name: 'alac16.m4a', format: 'm4a-alac', rate: 44100, channels: 2 },
    { name: 'alac24.m4a', format: 'm4a-alac', rate: 48000, channels: 2, pcm: 'pcm24' },
    { name: 'alac16-mono-faststart.m4a', format: 'm4a-alac-faststart', rate: 44100, channels: 1 },
    { name: 'alac16-5.1.m4a', format: 'm4a-alac', rate: 48000, channels: 6 },
    { name: 'aac256.m4a', format: 'm4a-aac-256k', rate: 44100, channels: 2 },
    { name: 'aac-no-editlist.m4a', format: 'm4a-aac-no-editlist', rate: 44100, channels: 2 },
  ],
  framesAt,
);
const file = (name: string) => made.get(name);

async function expectError(fn: () => Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'it should have failed').toBeInstanceOf(StemstreamError);
  expect((err as StemstreamError).code, (err as Error).message).toBe(code);
  expect((err as Error).message).toMatch(message);
}

function ffprobePackets(path: string): { pos: number; size: number; duration: number }[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'packet=pos,size,duration', '-of', 'json', path], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout).packets as { pos: string; size: string; duration: string }[]).map((p) => ({ pos: Number(p.pos), size: Number(p.size), duration: Number(p.duration) }));
}

describe('AIFF and AIFF-C: bit-exact', () => {
  for (const name of ['s16.aiff', 's24.aiff', 'sowt.aifc', 'fl32.aifc']) {
    it(`${name} decodes to the exact samples ffmpeg read`, async () => {
      const f = file(name);
      expect(sniffAudio(f.bytes)).toBe('aiff');
      const { audio, warnings } = await decode(f.bytes, name);
      expect(warnings).toEqual([]);
      expect(exactDifference(audio, f.pcm)).toBeUndefined();
    });
  }

  it('the header is what the test means: AIFF for 16/24-bit, AIFF-C sowt and fl32 for the others', () => {
    const at = (b: Uint8Array, s: string) => Buffer.from(b).indexOf(s);
    expect(Buffer.from(file('s24.aiff').bytes).toString('latin1', 8, 12)).toBe('AIFF');
    for (const [name, type] of [['sowt.aifc', 'sowt'], ['fl32.aifc', 'fl32'], ['ulaw.aifc', 'ulaw']]) {
      const b = file(name).bytes;
      expect(Buffer.from(b).toString('latin1', 8, 12)).toBe('AIFC');
      expect(at(b, type)).toBeGreaterThan(at(b, 'COMM'));
    }
  });

  it('µ-law AIFF-C decodes to the 16-bit samples ffmpeg expands it to', async () => {
    const f = file('ulaw.aifc');
    const wav = await encodeWithFfmpeg(f.path, join(made.dir, 'ulaw.ref.wav'), ['-c:a', 'pcm_s16le']);
    const { audio } = await decode(f.bytes, 'ulaw.aifc');
    expect(exactDifference(audio, parseWav(new Uint8Array(readFileSync(wav))))).toBeUndefined();
  });

  it('negative control: one byte changed in the sound data changes exactly one sample', async () => {
    const f = file('s16.aiff');
    const bytes = f.bytes.slice();
    const data = Buffer.from(bytes).indexOf('SSND') + 16;
    bytes[data + 4 * 1000] ^= 0x40; // the high byte of frame 1000, left channel
    const { audio } = await decode(bytes, 'x.aiff');
    expect(exactDifference(audio, f.pcm)).toMatch(/^1 sample\(s\) differ, the first at channel 0 sample 1000:/);
  });

  it('bytes after the FORM chunk (16 zeros) are not read as chunks: bit-exact, no warning', async () => {
    const f = file('s16.aiff');
    const form = Buffer.from(f.bytes).readUInt32BE(4);
    expect(8 + form).toBe(f.bytes.length);
    const padded = new Uint8Array(f.bytes.length + 16);
    padded.set(f.bytes);
    const { audio, warnings } = await decode(padded, 'padded.aiff');
    expect(warnings).toEqual([]);
    expect(exactDifference(audio, f.pcm)).toBeUndefined();
    // Negative control: the same zeros inside the FORM chunk are a damaged chunk header.
    const inside = padded.slice();
    new DataView(inside.buffer).setUint32(4, form + 16, false);
    await expectError(() => decodeAudio(inside, 'inside.aiff'), 'BAD_AUDIO_FILE', new RegExp(`expected a chunk header at byte ${f.bytes.length}, found 00 00`));
    // FORM size 0, as ffmpeg leaves it when writing to a pipe: the chunks run to the end of the file.
    const piped = f.bytes.slice();
    new DataView(piped.buffer).setUint32(4, 0, false);
    expect(exactDifference((await decode(piped, 'piped.aiff')).audio, f.pcm)).toBeUndefined();
  });

  it('an unsupported AIFF-C codec is refused by name', async () => {
    const bytes = file('sowt.aifc').bytes.slice();
    bytes.set(new TextEncoder().encode('ima4'), Buffer.from(bytes).indexOf('sowt'));
    await expectError(() => decodeAudio(bytes, 'old.aifc'), 'UNSUPPORTED_AUDIO_FORMAT', /^cannot decode old\.aifc: AIFF-C compressed with "ima4" .*\(IMA 4:1 ADPCM\).*ffmpeg/);
  });
});

describe('ALAC in M4A: bit-exact', () => {
  for (const [name, bits] of [['alac16.m4a', 16], ['alac24.m4a', 24], ['alac16-mono-faststart.m4a', 16], ['alac16-5.1.m4a', 16]] as const) {
    it(`${name} decodes to the exact samples ffmpeg read, at their length`, async () => {
      const f = file(name);
      expect(sniffAudio(f.bytes)).toBe('mp4');
      const track = parseMp4(f.bytes);
      expect([track.codec, track.config[5]]).toEqual(['alac', bits]); // the cookie's bit depth
      const { audio, warnings } = await decode(f.bytes, name);
      expect(warnings).toEqual([]);
      expect(exactDifference(audio, f.pcm)).toBeUndefined();
    });
  }

  it('negative control: a changed byte in an ALAC packet is no longer bit-exact', async () => {
    const f = file('alac16.m4a');
    const [, second] = ffprobePackets(f.path);
    const bytes = f.bytes.slice();
    bytes[second.pos + 100] ^= 0x10;
    const { audio } = await decode(bytes, 'x.m4a');
    expect(exactDifference(audio, f.pcm)).toMatch(/sample\(s\) differ/);
  });
});

describe('AAC in M4A', () => {
  it('Node: refused, naming the conversion, which works', async () => {
    const f = file('aac256.m4a');
    expect(parseMp4(f.bytes).objectType).toBe(2);
    await expectError(() => decodeAudio(f.bytes, 'aac256.m4a'), 'UNSUPPORTED_AUDIO_FORMAT', /^cannot decode aac256\.m4a: it is AAC-LC audio in MP4\/M4A, .*browsers.*`ffmpeg -i "aac256\.m4a" "aac256\.flac"`/);
    const flac = await encodeWithFfmpeg(f.path, join(made.dir, 'aac256.flac'), []);
    const { audio } = await decode(new Uint8Array(readFileSync(flac)), 'aac256.flac');
    // ffmpeg drops the encoder delay but keeps the end of the last AAC frame.
    expect(audio.channels[0].length).toBeGreaterThanOrEqual(framesAt(44100));
    expect(audio.channels[0].length).toBeLessThan(framesAt(44100) + 1024);
  });

  it("the delay and length come from the edit list, else from iTunes' iTunSMPB tag", () => {
    const edited = parseMp4(file('aac256.m4a').bytes);
    expect([edited.skip, edited.length, edited.lengthFrom]).toEqual([1024, framesAt(44100), 'edit list']);
    const plain = file('aac-no-editlist.m4a').bytes;
    const untagged = parseMp4(plain);
    const total = untagged.durations.reduce((a, b) => a + b, 0);
    expect([untagged.skip, untagged.length, untagged.lengthFrom]).toEqual([0, total, 'sample table']);
    const padding = total - 1024 - framesAt(44100);
    const tagged = parseMp4(withItunSmpb(plain, { delay: 1024, padding, length: framesAt(44100) }));
    expect([tagged.skip, tagged.length, tagged.lengthFrom]).toEqual([1024, framesAt(44100), 'iTunSMPB tag']);
    // Negative control: a tag that claims more audio than the file holds is not believed.
    const wrong = parseMp4(withItunSmpb(plain, { delay: 1024, padding: 0, length: total }));
    expect([wrong.skip, wrong.length, wrong.lengthFrom]).toEqual([0, total, 'sample table']);
  });

  it('the AudioSpecificConfig gives the object type and rates (LC; HE-AAC signalled either way)', () => {
    expect(parseAudioSpecificConfig(new Uint8Array([0x12, 0x10]))).toEqual({ objectType: 2, sampleRate: 44100, outputRate: 44100, channels: 2 });
    // Object type 5, core 22 050 Hz, 2 channels, extension 44 100 Hz, then type 2.
    expect(parseAudioSpecificConfig(new Uint8Array([0x2b, 0x92, 0x10, 0x00]))).toEqual({ objectType: 5, sampleRate: 22050, outputRate: 44100, channels: 2 });
    // The same signalled backward-compatibly: an LC config at 22 050 Hz, then sync word 0x2B7, type 5, SBR on, 44 100 Hz.
    expect(parseAudioSpecificConfig(new Uint8Array([0x13, 0x90, 0x56, 0xe5, 0xa0]))).toEqual({ objectType: 5, sampleRate: 22050, outputRate: 44100, channels: 2 });
    // Negative control: without the extension it is plain LC at 22 050 Hz.
    expect(parseAudioSpecificConfig(new Uint8Array([0x13, 0x90]))).toEqual({ objectType: 2, sampleRate: 22050, outputRate: 22050, channels: 2 });
  });
});

describe('damaged files', () => {
  it('a truncated AIFF: the frames that are there, warned with the true count; an error without a listener', async () => {
    const f = file('s24.aiff');
    const data = Buffer.from(f.bytes).indexOf('SSND') + 16;
    const cut = f.bytes.subarray(0, data + 6 * 20000 + 4); // 20 000 frames and part of one
    const { audio, warnings } = await decode(cut, 'cut.aiff');
    const total = framesAt(48000);
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^cut\\.aiff: decoded 20000 of the ${total} samples the AIFF header declares .*truncated`))]);
    const prefix = { sampleRate: 48000, channels: f.pcm.channels.map((c) => c.subarray(0, 20000)) };
    expect(exactDifference(audio, prefix)).toBeUndefined();
    await expectError(() => decodeAudio(cut, 'cut.aiff'), 'BAD_AUDIO_FILE', /^cannot decode cut\.aiff: truncated AIFF file: decoded 20000 of/);
  });

  it('a truncated M4A (index first): the whole packets that are there, warned with the count ffprobe gives', async () => {
    const f = file('alac16-mono-faststart.m4a');
    const packets = ffprobePackets(f.path);
    const cutAt = Math.floor(f.bytes.length * 0.6);
    const whole = packets.filter((p) => p.pos + p.size <= cutAt).reduce((n, p) => n + p.duration, 0);
    expect(whole).toBeGreaterThan(0);
    const { audio, warnings } = await decode(f.bytes.subarray(0, cutAt), 'cut.m4a');
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^cut\\.m4a: decoded ${whole} of the ${framesAt(44100)} samples the MP4 sample table declares .*truncated`))]);
    expect(exactDifference(audio, { sampleRate: 44100, channels: [f.pcm.channels[0].subarray(0, whole)] })).toBeUndefined();
  });

  it('a truncated M4A whose index was at the end: refused, saying why', async () => {
    const f = file('alac16.m4a');
    expect(Buffer.from(f.bytes).indexOf('moov')).toBeGreaterThan(Buffer.from(f.bytes).indexOf('mdat'));
    await expectError(() => decodeAudio(f.bytes.subarray(0, f.bytes.length >> 1), 'cut.m4a'), 'BAD_AUDIO_FILE', /^cannot decode cut\.m4a: the MP4 index .* is missing: the file was cut short/);
  });

  it('--strict refuses both, a plain run warns', async () => {
    const aiff = join(made.dir, 'strict.aiff');
    const m4a = join(made.dir, 'strict.m4a');
    writeFileSync(aiff, file('s16.aiff').bytes.subarray(0, 40000));
    const fast = file('alac16-mono-faststart.m4a').bytes;
    writeFileSync(m4a, fast.subarray(0, Math.floor(fast.length * 0.6)));
    for (const path of [aiff, m4a]) {
      await expectError(() => readInputAudio(path, { strict: true, log: () => undefined }), 'BAD_AUDIO_FILE', /decoded \d+ of the \d+ samples .*--strict refuses damaged input/);
      const logged: string[] = [];
      await readInputAudio(path, { strict: false, log: (l) => logged.push(l) });
      expect(logged).toEqual([expect.stringMatching(/^warning: strict\.(aiff|m4a): decoded \d+ of/)]);
    }
  });
});

describe('the CLI (built: dist/src/cli/main.js)', () => {
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { cwd: ROOT, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
    });
  let model: string;

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it with \`npx tsc -p tsconfig.build.json\` (npm ci does)`);
    model = join(made.dir, 'tiny.onnx');
    writeFileSync(model, makeDemucsLayoutModel());
  });

  it('library mode lists .m4a .mp4 .aif .aiff .aifc as audio', () => {
    for (const name of ['a.m4a', 'a.MP4', 'a.aif', 'a.aiff', 'a.AIFC']) expect(isAudioFileName(name), name).toBe(true);
    expect(isAudioFileName('a.m4p')).toBe(false);
  });

  it('`separate x.m4a` (ALAC) gives the stems of the same audio as WAV, byte for byte', async () => {
    const f = file('alac16.m4a');
    const wav = join(made.dir, 'same.wav');
    writeFileSync(wav, encodeWav(f.pcm, 'pcm16'));
    const a = await run('separate', f.path, '-o', join(made.dir, 'sep-m4a'), '--model', model);
    expect(a.code, a.stderr).toBe(0);
    const b = await run('separate', wav, '-o', join(made.dir, 'sep-wav'), '--model', model);
    expect(b.code, b.stderr).toBe(0);
    for (const s of STEMS) {
      const stem = readFileSync(join(made.dir, 'sep-m4a', `${s}.wav`));
      expect(parseWav(new Uint8Array(stem)).channels[0].length, s).toBe(framesAt(44100));
      expect(stem.equals(readFileSync(join(made.dir, 'sep-wav', `${s}.wav`))), s).toBe(true);
    }
  }, 60_000);

  it('`separate --strict` on a cut M4A exits non-zero before writing anything', async () => {
    const fast = file('alac16-mono-faststart.m4a').bytes;
    const cut = join(made.dir, 'cut-cli.m4a');
    writeFileSync(cut, fast.subarray(0, Math.floor(fast.length * 0.6)));
    const out = join(made.dir, 'sep-cut');
    const r = await run('separate', cut, '-o', out, '--model', model, '--strict');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cut-cli\.m4a: decoded \d+ of the \d+ samples .*--strict refuses/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  }, 60_000);

  it('a library folder of .m4a and .aiff files is separated; AAC fails with the conversion to run; the ETA total is from the headers', async () => {
    const lib = join(made.dir, 'lib');
    mkdirSync(join(lib, 'crate'), { recursive: true });
    const put = (name: string, from: string) => writeFileSync(join(lib, name), file(from).bytes);
    put('a.m4a', 'alac16.m4a');
    put('b.aiff', 's16.aiff');
    put(join('crate', 'c.aifc'), 'sowt.aifc');
    put(join('crate', 'd.m4a'), 'aac256.m4a');
    // Each from its header or index: 1.3 s (and 7 samples) at 44.1 kHz.
    for (const name of ['a.m4a', 'b.aiff', join('crate', 'c.aifc'), join('crate', 'd.m4a')]) {
      expect(await estimateDuration(join(lib, name)), name).toBeCloseTo(framesAt(44100) / 44100, 9);
    }
    const out = join(made.dir, 'lib-out');
    const r = await run('separate', lib, '-o', out, '--model', model);
    expect(r.code, r.stderr).toBe(1); // one track failed
    for (const t of ['a', 'b', join('crate', 'c')]) expect(readdirSync(join(out, t)).sort(), t).toEqual([RECEIPT_FILE, ...STEMS.map((s) => `${s}.wav`)]);
    expect(existsSync(join(out, 'crate', 'd'))).toBe(false);
    expect(r.stderr).toMatch(new RegExp(`of ${((4 * framesAt(44100)) / 44100).toFixed(1)} s\\)`));
    const row = r.stderr.split('\n').find((l) => l.startsWith(join('crate', 'd.m4a'))) ?? '';
    expect(row).toMatch(/failed .*AAC-LC .*ffmpeg -i "d\.m4a" "d\.flac"/);
    expect(r.stderr).toMatch(/done: 3, skipped: 0, failed: 1/);
  }, 120_000);
});
