/**
 * Issue 10, "Nothing lost, nothing hangs": fault injection against the command
 * line and the audio input path. Each test breaks something (a model that fails
 * in session.run, a folder in the way, a signal, bad options, damaged or
 * non-finite or empty input) and checks that earlier results survive
 * byte-identical, no temporaries are left, and the user is told in one line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeAudio } from '../src/audio/decode.js';
import { RECEIPT_FILE } from '../src/cli/resume.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { loadModel } from '../src/model/model.js';
import { DataType, encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/model/onnx-proto.js';
import { separate } from '../src/separate/separate.js';
import { makeDemucsLayoutModel, TINY_SEGMENT } from './fixtures/tiny-models.js';

const ROOT = join(import.meta.dirname, '..');
const AUDIO = join(ROOT, 'test', 'fixtures', 'audio');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const STEMS = ['drums', 'bass', 'other', 'vocals'];

interface CliResult {
  code: number | null;
  stderr: string;
}

function cli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stderr: r.stderr };
}

/** The same, without blocking: for many quick runs at once. */
function cliAsync(...args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => done({ code, stderr }));
  });
}

/** The last line a run printed: the CLI's own one-line verdict (ONNX Runtime may log above it). */
const lastLine = (stderr: string) => stderr.trim().split('\n').at(-1) ?? '';

const dir = mkdtempSync(join(tmpdir(), 'stemstream-safety-'));
const model = join(dir, 'tiny.onnx');
writeFileSync(model, makeDemucsLayoutModel());

/**
 * A Demucs-layout model that loads (its segment comes from metadata, the
 * shapes are symbolic) but fails in session.run: its Reshape wants the
 * segment's samples to split into 4 stems, and 9426 does not.
 */
function makeRunFailingModel(): Uint8Array {
  const F = DataType.FLOAT;
  const graph = makeGraph({
    name: 'tiny_fails_in_run',
    nodes: [makeNode('Reshape', ['spec', 'spec_shape'], ['spec_out']), makeNode('Reshape', ['input', 'wave_shape'], ['wave_out'])],
    initializers: [
      makeTensor('spec_shape', [5], new BigInt64Array([1n, 4n, 4n, 2048n, -1n])),
      makeTensor('wave_shape', [4], new BigInt64Array([1n, 4n, 2n, -1n])),
    ],
    inputs: [makeValueInfo('input', F, [1, 2, 'N']), makeValueInfo('spec', F, [1, 4, 2048, 'T'])],
    outputs: [makeValueInfo('spec_out', F, [1, 4, 4, 2048, 'T']), makeValueInfo('wave_out', F, [1, 4, 2, 'N'])],
  });
  return encodeModel(makeModel({ graph, metadata: { segment_samples: String(TINY_SEGMENT) }, producer: 'stemstream-tiny-broken' }));
}
const failingModel = join(dir, 'fails-in-run.onnx');
writeFileSync(failingModel, makeRunFailingModel());

/** Two sines, `seconds` long, 44.1 kHz stereo. */
function tones(seconds: number): Float32Array[] {
  const n = Math.round(seconds * 44100);
  const ch = [new Float32Array(n), new Float32Array(n)];
  for (let i = 0; i < n; i++) {
    ch[0][i] = 0.4 * Math.sin(i * 0.0627);
    ch[1][i] = 0.4 * Math.sin(i * 0.1425);
  }
  return ch;
}
const bigInput = join(dir, 'long.wav');
writeFileSync(bigInput, encodeWav({ sampleRate: 44100, channels: tones(20) }, 'pcm16'));
const wavInput = join(AUDIO, 'tone-44k1-stereo.wav');

/** Every file in `d` (hidden ones included) with its bytes. */
function snapshot(d: string): Map<string, Buffer> {
  return new Map(readdirSync(d).sort().map((f) => [f, readFileSync(join(d, f))]));
}

function expectUnchanged(d: string, before: Map<string, Buffer>): void {
  const after = snapshot(d);
  expect([...after.keys()]).toEqual([...before.keys()]);
  for (const [f, bytes] of before) expect(after.get(f)?.equals(bytes), `${f} changed`).toBe(true);
}

/** A folder holding a complete, good result of `separate`. */
function earlierResult(name: string): { out: string; before: Map<string, Buffer> } {
  const out = join(dir, name);
  const r = cli('separate', wavInput, '--model', model, '-o', out);
  expect(r.code, r.stderr).toBe(0);
  const before = snapshot(out);
  expect([...before.keys()]).toEqual([RECEIPT_FILE, 'bass.wav', 'drums.wav', 'other.wav', 'vocals.wav']);
  for (const bytes of before.values()) expect(bytes.length).toBeGreaterThan(44);
  return { out, before };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('atomic output: an earlier result survives a failed or blocked run', () => {
  it('a model that fails in session.run: exit 1, one line, no temporaries, the earlier stems byte-identical', () => {
    const { out, before } = earlierResult('rerun-fails');
    // --force: without it, a run whose stems are all there is skipped (resume).
    const r = cli('separate', wavInput, '--model', failingModel, '-o', out, '--force');
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toMatch(/^stemstream: separation failed, nothing was written \(earlier files are unchanged\): .*Reshape/);
    expectUnchanged(out, before);

    // Into a new folder: the folder the run created is gone again.
    const fresh = join(dir, 'fails-fresh', 'deeper');
    expect(cli('separate', wavInput, '--model', failingModel, '-o', fresh).code).toBe(1);
    expect(existsSync(join(dir, 'fails-fresh'))).toBe(false);
  });

  it('a folder where the third stem goes: refused before the run, the first two are not created', () => {
    const out = join(dir, 'blocked');
    mkdirSync(join(out, 'other.wav'), { recursive: true });
    const r = cli('separate', wavInput, '--model', model, '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^stemstream: cannot write .*other\.wav: a folder of that name is in the way/);
    expect(r.stderr).not.toMatch(/separating/);
    expect(readdirSync(out)).toEqual(['other.wav']);
  });

  it('an output folder under a file: refused up front', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const r = cli('separate', wavInput, '--model', model, '-o', join(file, 'stems'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^stemstream: cannot write into .*a-file\/stems: .*a-file is a file, not a folder/);
  });
});

describe('signals: exit 130, one line, no temporaries, earlier result unchanged', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`separate interrupted by ${signal} while the stems are being written`, async () => {
      const { out, before } = earlierResult(`signal-${signal}`);
      // 20 s with 10 shifts: about a minute of work on the tiny model, stopped within seconds.
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'separate', bigInput, '--model', model, '-o', out, '--shifts', '10', '--force'], { cwd: ROOT });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
      await waitFor(() => readdirSync(out).some((f) => f.includes('.partial-')) && /separating: /.test(stderr), 'the run to start writing');
      child.kill(signal);
      expect(await exited).toBe(130);
      expect(lastLine(stderr)).toBe(`stemstream: interrupted by ${signal}; the unfinished output was removed, files of earlier runs are unchanged`);
      expect(stderr.match(/interrupted/g)).toHaveLength(1);
      expectUnchanged(out, before);
    });
  }

  it('stream interrupted by SIGTERM during the engine run: exit 130, the earlier result unchanged', async () => {
    const out = join(dir, 'stream-signal');
    expect(cli('stream', wavInput, '--model', model, '-o', out).code).toBe(0);
    const before = snapshot(out);
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'stream', bigInput, '--model', model, '-o', out, '--realtime'], { cwd: ROOT });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    await waitFor(() => /streaming /.test(stderr), 'the engine to start');
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    expect(lastLine(stderr)).toBe('stemstream: interrupted by SIGTERM; the unfinished output was removed, files of earlier runs are unchanged');
    expectUnchanged(out, before);
  });
});

describe('options: checked before any work or file, exit 2, one line', () => {
  const input = wavInput;
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['separate', input, '--overlap', '0.99995'], message: /^--overlap 0\.99995: must be in \[0, 0\.99\]/ },
    { args: ['separate', input, '--overlap', '0.999'], message: /^--overlap 0\.999: must be in \[0, 0\.99\]/ },
    { args: ['separate', input, '--overlap', '-1'], message: /^--overlap -1: must be in \[0, 0\.99\]/ },
    { args: ['separate', input, '--overlap', '0x1'], message: /^--overlap 0x1: must be in/ },
    { args: ['separate', input, '--stems', ''], message: /^--stems "": must be a comma-separated list of names with none empty/ },
    { args: ['separate', input, '--stems', 'vocals,vocals'], message: /^--stems vocals,vocals: must be a list that names each one once/ },
    { args: ['separate', input, '--stems', 'kazoo'], message: /^the model has no stem "kazoo"/ },
    { args: ['separate', input, '--threads', 'abc'], message: /^--threads abc: must be a positive integer/ },
    { args: ['separate', input, '--shifts', '2.5'], message: /^--shifts 2\.5: must be an integer from 1 to 100/ },
    { args: ['separate', input, '--frobnicate'], message: /^separate: unknown option --frobnicate/ },
    { args: ['separate', input, '--overlap'], message: /^separate: --overlap needs a value/ },
    { args: ['stream', input, '--mode', 'low-latency', '--hop', '0'], message: /^--hop 0: must be seconds > 0/ },
    { args: ['stream', input, '--track', '--mode', 'low-latency'], message: /^--track uses quality mode/ },
    { args: ['stream', input, '--threads', 'abc'], message: /^--threads abc: must be a positive integer/ },
    { args: ['stream', input, '--mode', 'low-latency'], message: /^--hop 1 --lookahead 1: .* at most the model's segment/ },
    { args: ['stream', input, '--hop', '0.1'], message: /^--hop applies to --mode low-latency only/ },
    { args: ['stream', input, '--overlap', '0.99'], message: /^--overlap 0\.99: too high for this model's 0\.214 s segment in real time/ },
  ];
  it('each bad option: exit 2, its rule in one line, no output folder', async () => {
    const runs = cases.map((c, i) => {
      const out = join(dir, `usage-${i}`);
      return cliAsync(...c.args, '--model', model, '-o', out).then((r) => ({ ...c, out, r }));
    });
    for (const { args, message, out, r } of await Promise.all(runs)) {
      const line = r.stderr.trim();
      expect(r.code, `${args.join(' ')}: ${line}`).toBe(2);
      expect(line.split('\n').filter((l) => !l.startsWith('warning: '))).toHaveLength(1);
      expect(lastLine(line).replace(/^stemstream: /, ''), args.join(' ')).toMatch(message);
      expect(existsSync(out), `${args.join(' ')} created ${out}`).toBe(false);
    }
  });

  it('an overlap that multiplies the compute is run but warned about', () => {
    const r = cli('separate', wavInput, '--model', model, '-o', join(dir, 'costly'), '--overlap', '0.95');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: --overlap 0\.95 runs every sample through the model 20 times, 15× the default/m);
  });
});

describe('convert: output checked before the conversion, written atomically', () => {
  it('-o an existing folder: refused up front, no temporary left', () => {
    const target = join(dir, 'models');
    mkdirSync(target);
    const r = cli('convert', model, '-o', target, '--no-parity-check');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^stemstream: cannot write .*models: a folder of that name is in the way/);
    expect(r.stderr).not.toMatch(/converting/);
    expect(readdirSync(target)).toEqual([]);
    expect(readdirSync(dir).filter((f) => /tmp-|partial-/.test(f))).toEqual([]);
  });

  it('-o into folders that do not exist yet: created, the model written, nothing else left', () => {
    const target = join(dir, 'new', 'models', 'tiny-canonical.onnx');
    const r = cli('convert', model, '-o', target, '--no-parity-check');
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, 'new', 'models'))).toEqual(['tiny-canonical.onnx']);
  });

  it('a parity clip that cannot be read fails before the conversion', () => {
    const r = cli('convert', model, '-o', join(dir, 'never.onnx'), '--clip', join(dir, 'no-such-clip.wav'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^stemstream: cannot read .*no-such-clip\.wav: no such file$/);
    expect(existsSync(join(dir, 'never.onnx'))).toBe(false);
  });
});

describe('damaged input is reported; --strict refuses it', () => {
  const halfFlac = join(dir, 'half.flac');
  const flac = readFileSync(join(AUDIO, 'tone-44k1-stereo.flac'));
  writeFileSync(halfFlac, flac.subarray(0, flac.length >> 1));
  const garbageMp3 = join(dir, 'garbage.mp3');
  const mp3 = Buffer.from(readFileSync(join(AUDIO, 'tone-44k1-stereo.mp3')));
  for (let i = 0; i < 2048; i++) mp3[(mp3.length >> 1) - 1024 + i] = (i * 97 + 13) & 255;
  writeFileSync(garbageMp3, mp3);
  const cutWav = join(dir, 'cut.wav');
  const wav = readFileSync(wavInput);
  writeFileSync(cutWav, wav.subarray(0, wav.length >> 1));

  const cases = [
    { file: halfFlac, warning: /^warning: half\.flac: decoded 4096 of the 22050 samples the FLAC header declares \(0\.09 s of 0\.50 s, 18 %\); decoding stops at 0\.09 s/m },
    { file: garbageMp3, warning: /^warning: garbage\.mp3: decoded \d+ of the 22050 samples the MP3 Xing\/Info header declares \(0\.\d\d s of 0\.50 s, \d+ %\); the MP3 decoder skipped 1 damaged part\(s\), the first about 0\.\d\d s into the audio/m },
    { file: cutWav, warning: /^warning: cut\.wav: decoded 11019 of the 22050 samples the WAV header declares \(0\.25 s of 0\.50 s, 49 %\); the file ends at byte 44122/m },
  ];
  for (const { file, warning } of cases) {
    const name = file.split('/').at(-1);
    it(`${name}: separated with a warning saying how much of how much; --strict: exit 1, nothing written`, () => {
      const out = join(dir, `damaged-${name}`);
      const r = cli('separate', file, '--model', model, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(warning);
      // The decoder's own console.error lines are folded into that one warning.
      expect(r.stderr).not.toMatch(/mpg123-decoder:|@wasm-audio-decoders/);

      const strictOut = join(dir, `strict-${name}`);
      const s = cli('separate', file, '--model', model, '-o', strictOut, '--strict');
      expect(s.code).toBe(1);
      expect(s.stderr.trim().split('\n')).toHaveLength(1);
      expect(s.stderr).toMatch(/--strict refuses damaged input, nothing was written$/m);
      expect(existsSync(strictOut)).toBe(false);
    });
  }

  it('decodeAudio without onWarning: a WAV cut short is still an error, as before', async () => {
    await expect(decodeAudio(new Uint8Array(wav.subarray(0, 1000)), 'cut.wav')).rejects.toThrow(/truncated WAV file: the data chunk declares/);
  });
});

describe('non-finite samples become silence, counted and warned about', () => {
  const withNaN = (): Float32Array[] => {
    const ch = tones(0.5);
    ch[0][1000] = Number.NaN;
    ch[1][5000] = Number.POSITIVE_INFINITY;
    ch[0][7000] = Number.NEGATIVE_INFINITY;
    return ch;
  };

  it('CLI: a NaN and two Infs in the input: a warning, finite stems with the music in them (16-bit and --float)', () => {
    const input = join(dir, 'nan.wav');
    writeFileSync(input, encodeWav({ sampleRate: 44100, channels: withNaN() }, 'float32'));
    for (const float of [false, true]) {
      const out = join(dir, `nan-out-${float}`);
      const r = cli('separate', input, '--model', model, '-o', out, ...(float ? ['--float'] : []));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^warning: nan\.wav: 3 samples were NaN or infinite \(the first at 0\.02 s, channel 1\); they were replaced by silence$/m);
      for (const stem of STEMS) {
        const { channels } = parseWav(new Uint8Array(readFileSync(join(out, `${stem}.wav`))));
        for (const ch of channels) {
          expect(ch.every(Number.isFinite)).toBe(true);
          expect(Math.max(...ch.map(Math.abs))).toBeGreaterThan(0.01);
        }
      }
    }
    expect(cli('separate', input, '--model', model, '-o', join(dir, 'nan-strict'), '--strict').code).toBe(1);
  });

  it('library: separate() keeps the stems finite, counts the samples, warns, and leaves the caller\'s audio alone', async () => {
    const m = await loadModel(model);
    try {
      const channels = withNaN();
      const warnings: string[] = [];
      const sep = await separate({ sampleRate: 44100, channels }, m, { onWarning: (w) => warnings.push(w) });
      expect(sep.stats.nonFiniteSamples).toBe(3);
      expect(warnings).toEqual(['3 samples were NaN or infinite (the first at 0.02 s, channel 1); they were separated as silence']);
      expect(Number.isFinite(sep.stats.normalization.mean) && Number.isFinite(sep.stats.normalization.std)).toBe(true);
      for (const stem of STEMS) for (const ch of sep.stems[stem]) expect(ch.every(Number.isFinite)).toBe(true);
      expect(Number.isNaN(channels[0][1000])).toBe(true);
      // The rest of the track separates as if those samples were 0.
      const clean = withNaN();
      clean[0][1000] = 0;
      clean[1][5000] = 0;
      clean[0][7000] = 0;
      const ref = await separate({ sampleRate: 44100, channels: clean }, m);
      for (const stem of STEMS) for (let c = 0; c < 2; c++) expect(sep.stems[stem][c]).toEqual(ref.stems[stem][c]);
    } finally {
      await m.dispose();
    }
  });
});

describe('empty and streamed WAV input', () => {
  it('a streamed WAV whose data size is 0 is read to the end of the file', () => {
    const bytes = new Uint8Array(readFileSync(wavInput));
    const streamed = bytes.slice();
    new DataView(streamed.buffer).setUint32(40, 0, true); // data size, as a recorder leaves it
    new DataView(streamed.buffer).setUint32(4, 0, true); // RIFF size too
    const audio = parseWav(streamed);
    expect(audio.channels[0].length).toBe(22050);
    expect(audio.channels[1]).toEqual(parseWav(bytes).channels[1]);
  });

  it('a data chunk of size 0 followed by another chunk is an empty WAV (the next chunk is not audio)', () => {
    const empty = encodeWav({ sampleRate: 44100, channels: [new Float32Array(0)] }, 'pcm16');
    const list = new Uint8Array([...new TextEncoder().encode('LIST'), 4, 0, 0, 0, ...new TextEncoder().encode('INFO')]);
    const bytes = new Uint8Array(empty.length + list.length);
    bytes.set(empty);
    bytes.set(list, empty.length);
    expect(parseWav(bytes).channels[0].length).toBe(0);
  });

  it('CLI: a 0-sample input is an error with a clear message, nothing written', () => {
    const input = join(dir, 'empty.wav');
    writeFileSync(input, encodeWav({ sampleRate: 44100, channels: [new Float32Array(0), new Float32Array(0)] }, 'pcm16'));
    const out = join(dir, 'empty-out');
    const r = cli('separate', input, '--model', model, '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^stemstream: .*empty\.wav holds no audio \(0 samples\): there is nothing to separate$/);
    expect(existsSync(out)).toBe(false);
  });
});
