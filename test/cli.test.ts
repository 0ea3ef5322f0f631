/** The `stemstream` command line, run as a user would, on tiny models and fixture files. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeAudioFile } from '../src/audio/decode.js';
import { resample } from '../src/audio/resample.js';
import { parseWav } from '../src/audio/wav.js';
import { loadModel } from '../src/model/model.js';
import { separate } from '../src/separate/separate.js';
import { makeCanonicalModel, makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { maxAbsDiff, sdr } from './reference/compare.js';

const ROOT = join(import.meta.dirname, '..');
const AUDIO = join(ROOT, 'test', 'fixtures', 'audio');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'stemstream-cli-'));
const demucsModel = join(dir, 'tiny-demucs.onnx');
writeFileSync(demucsModel, makeDemucsLayoutModel());
const canonicalModel = join(dir, 'tiny-canonical.onnx');
writeFileSync(canonicalModel, makeCanonicalModel({ metadata: true }));
const readOut = (d: string, stem: string) => parseWav(new Uint8Array(readFileSync(join(d, `${stem}.wav`))));

describe('stemstream CLI', () => {
  it('separate: one WAV per stem, equal to the library separate() (float output)', async () => {
    const out = join(dir, 'a');
    const r = cli('separate', join(AUDIO, 'tone-44k1-stereo.wav'), '-o', out, '--model', demucsModel, '--float', '--no-normalize');
    expect(r.stderr).toMatch(/done in/);
    expect(r.code).toBe(0);
    const mix = await decodeAudioFile(join(AUDIO, 'tone-44k1-stereo.wav'));
    const model = await loadModel(demucsModel);
    const lib = await separate(mix, model, { normalize: false });
    await model.dispose();
    for (const stem of ['drums', 'bass', 'other', 'vocals']) {
      const got = readOut(out, stem);
      expect(got.sampleRate).toBe(44100);
      expect(got.channels[0].length).toBe(mix.channels[0].length);
      for (let c = 0; c < 2; c++) expect(maxAbsDiff(got.channels[c], lib.stems[stem][c])).toBe(0);
    }
    // The stems are not the mix's copies: each has its own gain.
    expect(sdr(mix.channels, readOut(out, 'vocals').channels)).toBeLessThan(10);
  });

  it('--two-stems vocals writes vocals and accompaniment = mix − vocals; a 48 kHz FLAC is resampled', async () => {
    const out = join(dir, 'b');
    const r = cli('separate', join(AUDIO, 'tone-48k-stereo.flac'), '-o', out, '--model', canonicalModel, '--two-stems', 'vocals', '--float');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/resampling 48000 Hz → 44100 Hz/);
    expect(existsSync(join(out, 'drums.wav'))).toBe(false);
    const vocals = readOut(out, 'vocals');
    const acc = readOut(out, 'accompaniment');
    const mix = resample(await decodeAudioFile(join(AUDIO, 'tone-48k-stereo.flac')), 44100);
    const sum = vocals.channels.map((ch, c) => ch.map((v, i) => v + acc.channels[c][i]));
    expect(sdr(mix.channels, sum)).toBeGreaterThan(100);
    expect(vocals.channels[0].length).toBe(mix.channels[0].length);
  });

  it('--stems picks stems; a mono MP3 becomes stereo; 16-bit by default', () => {
    const out = join(dir, 'c');
    const r = cli('separate', join(AUDIO, 'tone-44k1-mono.mp3'), '-o', out, '--model', demucsModel, '--stems', 'bass,drums');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/converting 1 channel\(s\) → 2/);
    expect(existsSync(join(out, 'bass.wav'))).toBe(true);
    expect(existsSync(join(out, 'vocals.wav'))).toBe(false);
    const bytes = readFileSync(join(out, 'drums.wav'));
    expect(bytes.readUInt16LE(34)).toBe(16);
  });

  it('fails with a one-line reason and a non-zero exit code', () => {
    const notAudio = join(dir, 'notes.txt');
    writeFileSync(notAudio, 'hello, this is not audio at all');
    const bad = cli('separate', notAudio, '--model', demucsModel, '-o', join(dir, 'x'));
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^stemstream: cannot decode .*notes.txt: not WAV, AIFF, M4A, FLAC, MP3 or Ogg/);

    const badModel = cli('separate', join(AUDIO, 'tone-44k1-stereo.wav'), '--model', notAudio, '-o', join(dir, 'y'));
    expect(badModel.code).toBe(1);
    expect(badModel.stderr).toMatch(/^stemstream: .*notes.txt is not an ONNX model/);

    const badStem = cli('separate', join(AUDIO, 'tone-44k1-stereo.wav'), '--model', demucsModel, '--stems', 'kazoo', '-o', join(dir, 'z'));
    expect(badStem.code).toBe(2);
    expect(badStem.stderr).toMatch(/the model has no stem "kazoo"; it has drums, bass, other, vocals/);

    const badOverlap = cli('separate', join(AUDIO, 'tone-44k1-stereo.wav'), '--overlap', '1.5');
    expect(badOverlap.code).toBe(2);
    // The bound is [0, 0.99] since issue 10 (it was [0, 1)): 0.999 ran 1000× the compute.
    expect(badOverlap.stderr).toMatch(/--overlap 1.5: must be in \[0, 0.99\]/);

    const missing = cli('separate', join(dir, 'nope.wav'), '--model', demucsModel);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope.wav/);
  });

  it('a model set manifest: --two-stems vocals runs only the vocals specialist', () => {
    const members = ['drums', 'bass', 'other', 'vocals'].map((stem, m) => {
      const file = join(dir, `ft-${stem}.onnx`);
      writeFileSync(file, makeDemucsLayoutModel({ specGains: [0, 1, 2, 3].map((s) => [(m + 1) / 10 + s / 100, (m + 1) / 10]) }));
      return { file, weights: [0, 1, 2, 3].map((k) => (k === m ? 1 : 0)) };
    });
    const manifestPath = join(dir, 'ft.json');
    writeFileSync(manifestPath, JSON.stringify({ name: 'tiny-ft', models: members }));
    const out = join(dir, 'set');
    const r = cli('separate', join(AUDIO, 'tone-44k1-stereo.wav'), '-o', out, '--model', manifestPath, '--two-stems', 'vocals', '--float');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/with 1 of 4 models/);
    const vocals = readOut(out, 'vocals');
    const acc = readOut(out, 'accompaniment');
    const mix = parseWav(new Uint8Array(readFileSync(join(AUDIO, 'tone-44k1-stereo.wav'))));
    expect(sdr(mix.channels, vocals.channels.map((ch, c) => ch.map((v, i) => v + acc.channels[c][i])))).toBeGreaterThan(100);
  });

  it('convert: writes a checked canonical model; --no-parity-check warns loudly; errors are one line', () => {
    const out = join(dir, 'converted.onnx');
    const r = cli('convert', demucsModel, '-o', out, '--fp16-weights');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/parity passed \(every output's SDR against the float32 source ≥ 40 dB\)/);
    expect(r.stderr).toMatch(/noise: max abs diff [-+.e0-9]+, SDR spec ([0-9.]+ dB|exact), wave ([0-9.]+ dB|exact)/);
    expect(r.stderr).toMatch(/mixture.wav: /);
    expect(cli('info', out).stdout).toMatch(/layout:\s+canonical[\s\S]*weights = float16/);
    const unchecked = cli('convert', demucsModel, '-o', join(dir, 'unchecked.onnx'), '--no-parity-check');
    expect(unchecked.code).toBe(0);
    expect(unchecked.stderr).toMatch(/WARNING: --no-parity-check/);
    const noOut = cli('convert', demucsModel);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/convert needs -o/);
    const notModel = cli('convert', join(AUDIO, 'tone-44k1-stereo.wav'), '-o', join(dir, 'never.onnx'));
    expect(notModel.code).toBe(1);
    expect(notModel.stderr).toMatch(/is not an ONNX model/);
    expect(existsSync(join(dir, 'never.onnx'))).toBe(false);
  });

  it('stream: writes the audio thread output unshifted and the stats, latency included', () => {
    const out = join(dir, 'stream');
    const json = join(dir, 'stream.json');
    const r = cli('stream', join(AUDIO, 'tone-44k1-stereo.wav'), '-o', out, '--model', demucsModel, '--json', json, '--float');
    expect(r.code).toBe(0);
    const stats = JSON.parse(readFileSync(json, 'utf8')) as { latencySamples: number; underruns: number; inputFrames: number; outputFrames: number };
    expect(stats.latencySamples).toBe(9426 + 7069);
    expect(stats.underruns).toBe(0);
    expect(stats.outputFrames).toBe(stats.inputFrames + stats.latencySamples);
    const mix = readOut(out, 'mix');
    const vocals = readOut(out, 'vocals');
    expect(mix.channels[0].length).toBe(stats.outputFrames);
    // Nothing comes out before the declared latency.
    expect(mix.channels[0].subarray(0, stats.latencySamples).every((v) => v === 0)).toBe(true);
    expect(vocals.channels[1].subarray(stats.latencySamples + 1000).some((v) => v !== 0)).toBe(true);
    expect(cli('stream', join(AUDIO, 'tone-44k1-stereo.wav'), '--model', demucsModel, '--mode', 'turbo').code).toBe(2);
  });

  it('info describes a model', () => {
    const r = cli('info', canonicalModel);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layout:\s+canonical/);
    expect(r.stdout).toMatch(/sources:\s+drums, bass, other, vocals/);
    expect(r.stdout).toMatch(/segment:\s+9426 samples/);
    expect(r.stdout).toMatch(/sample_rate = 44100/);
    const json = JSON.parse(cli('info', demucsModel, '--json').stdout) as { layout: { kind: string } };
    expect(json.layout.kind).toBe('demucs');
  });
});
