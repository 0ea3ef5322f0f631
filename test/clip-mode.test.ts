/**
 * --clip-mode (src/export/clip.ts, as Demucs' prevent_clip): a tiny model whose
 * gains above 1 make stems go over full scale on a loud input. Each mode's
 * 16-bit stems are checked against the float stems of the same run with
 * --float: rescale = float ÷ max(1.01 × peak, 1), clamp = float limited to
 * ±0.99, none = float clipped to the integer range; the warning names each
 * stem over full scale with the count computed here from the float stems.
 * The browser export reports the same counts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAudioFile } from '../src/audio/decode.js';
import type { AudioData } from '../src/audio/types.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { describeClip, type ClipMode } from '../src/export/clip.js';
import { exportStemsSync } from '../src/export/stems-export.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { maxAbsDiffChannels } from './reference/compare.js';
import { RECEIPT_FILE } from '../src/cli/resume.js';

const ROOT = join(import.meta.dirname, '..');
const RATE = 44100;
const LSB = 1 / 32768;
const dir = mkdtempSync(join(tmpdir(), 'stemstream-clip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** drums 0.2×, bass 1.1× (a little over full scale), other 0.2×, vocals 2.5× (far over) the input. */
const model = join(dir, 'hot.onnx');
writeFileSync(model, makeDemucsLayoutModel({ specGains: [[0.2, 0.2], [1.1, 1.1], [0.2, 0.2], [2.5, 2.5]] }));

/** 1 s of two tones at 0.95 of full scale (16-bit values). */
const input = join(dir, 'loud.wav');
{
  const ch = (f: number) => Float32Array.from({ length: RATE }, (_, i) => Math.round(0.95 * Math.sin((2 * Math.PI * f * i) / RATE) * 32767) / 32768);
  writeFileSync(input, encodeWav({ sampleRate: RATE, channels: [ch(330), ch(440)] }, 'pcm16'));
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stderr: r.stderr };
}

const read = (path: string): AudioData => parseWav(new Uint8Array(readFileSync(path)));

interface Expected {
  clipped: number;
  /** Samples beyond ±0.99, Demucs' clamp limit. */
  overClamp: number;
  peak: number;
}

/** What the warning must say, from the float stem: samples outside [−1, 1] and ±0.99, the peak. */
function overs(stem: AudioData): Expected {
  let clipped = 0;
  let overClamp = 0;
  let peak = 0;
  for (const ch of stem.channels) for (const x of ch) {
    peak = Math.max(peak, Math.abs(x));
    if (Math.abs(x) > 1) clipped++;
    if (Math.abs(x) > 0.99) overClamp++;
  }
  return { clipped, overClamp, peak };
}

/** |a − b(ref)| over all samples. */
function maxDiff(a: AudioData, b: (x: number) => number, ref: AudioData): number {
  return maxAbsDiffChannels(a.channels, ref.channels.map((ch) => Array.from(ch, b)));
}

const STEMS = ['drums', 'bass', 'vocals'];

function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('warning:'));
}

function expectedWarnings(float: Record<string, AudioData>, mode: ClipMode, names = STEMS): string[] {
  return names.flatMap((name) => {
    const e = overs(float[name]);
    const gain = mode === 'rescale' ? 1 / Math.max(1.01 * e.peak, 1) : 1;
    // Told whenever the mode changes the stem (Demucs' headroom rules) or it clips.
    const changed = mode === 'rescale' ? gain < 1 : mode === 'clamp' && e.overClamp > 0;
    if (e.clipped === 0 && !changed) return [];
    return [`warning: ${describeClip({ name, clipped: e.clipped, overClampLimit: e.overClamp, samples: 0, peak: e.peak, mode, gain }, 16)}`];
  });
}

describe('stemstream separate --clip-mode', () => {
  let float: Record<string, AudioData> = {};
  let floatRun: { code: number | null; stderr: string };
  beforeAll(() => {
    const floatOut = join(dir, 'float');
    floatRun = cli('separate', input, '-o', floatOut, '--model', model, '--float', '--no-normalize', '--stems', STEMS.join(','));
    float = Object.fromEntries(STEMS.map((s) => [s, read(join(floatOut, `${s}.wav`))]));
  });

  it('the float run: stems over full scale kept, no warning (nothing clips in float)', () => {
    expect(floatRun.code, floatRun.stderr).toBe(0);
    expect(warnings(floatRun.stderr)).toEqual([]);
    expect(overs(float.vocals).clipped).toBeGreaterThan(10_000);
    expect(overs(float.bass).clipped).toBeGreaterThan(0);
    expect(overs(float.bass).clipped).toBeLessThan(overs(float.vocals).clipped);
    expect(overs(float.drums).peak).toBeLessThan(0.99);
  });

  function run(mode: ClipMode | undefined, ...extra: string[]) {
    const out = join(dir, `${mode ?? 'default'}${extra.join('')}`);
    const res = cli('separate', input, '-o', out, '--model', model, '--no-normalize', '--stems', STEMS.join(','), ...(mode ? ['--clip-mode', mode] : []), ...extra);
    expect(res.code, res.stderr).toBe(0);
    return { out, stderr: res.stderr };
  }

  it('rescale (the default): float ÷ max(1.01 × peak, 1) within 1 LSB, nothing at full scale; warned with the count', () => {
    const { out, stderr } = run(undefined);
    for (const s of STEMS) {
      const got = read(join(out, `${s}.wav`));
      const { peak } = overs(float[s]);
      const d = Math.max(1.01 * peak, 1);
      expect(maxDiff(got, (x) => x / d, float[s]), s).toBeLessThanOrEqual(LSB);
      expect(overs(got).peak, s).toBeLessThan(32767 / 32768);
      if (s === 'drums') expect(d).toBe(1); // under 1/1.01 of full scale: as it was
    }
    expect(warnings(stderr)).toEqual(expectedWarnings(float, 'rescale'));
    expect(warnings(stderr)[1]).toMatch(/^warning: vocals: \d+ samples over full scale \(peak \+\d+\.\d\d dBFS\); rescaled by −\d+\.\d\d dB so that none clips \(--clip-mode rescale\)$/);
    // The float scratch is gone: only the stems are there.
    expect(readdirSync(out).sort()).toEqual([RECEIPT_FILE, 'bass.wav', 'drums.wav', 'vocals.wav']);
  });

  it('clamp: the float stem limited to ±0.99 (Demucs\' limit); warned with the count', () => {
    const { out, stderr } = run('clamp');
    for (const s of STEMS) {
      const got = read(join(out, `${s}.wav`));
      expect(maxDiff(got, (x) => Math.min(0.99, Math.max(-0.99, x)), float[s]), s).toBeLessThanOrEqual(LSB / 2 + 1e-9);
    }
    expect(warnings(stderr)).toEqual(expectedWarnings(float, 'clamp'));
  });

  it('none: what 16-bit output always gave (clipped to the integer range); warned with the count', () => {
    const { out, stderr } = run('none');
    for (const s of STEMS) {
      const got = read(join(out, `${s}.wav`));
      expect(maxDiff(got, (x) => Math.min(32767 / 32768, Math.max(-1, x)), float[s]), s).toBeLessThanOrEqual(LSB / 2 + 1e-9);
    }
    expect(overs(read(join(out, 'vocals.wav'))).peak).toBe(1); // at full scale: clipped
    expect(warnings(stderr)).toEqual(expectedWarnings(float, 'none'));
    expect(warnings(stderr)[0]).toMatch(/^warning: bass: \d+ samples? over full scale \(peak \+\d\.\d\d dBFS\) clipped in the 16-bit file \(--clip-mode none\)/);
  });

  it('FLAC, rescaled: the same integers as the rescaled WAV', async () => {
    const wav = join(dir, 'default');
    const { out } = run(undefined, '--format', 'flac');
    for (const s of STEMS) {
      const flac = await decodeAudioFile(join(out, `${s}.flac`));
      const ref = read(join(wav, `${s}.wav`));
      flac.channels.forEach((ch, c) => expect(Buffer.from(ch.buffer).equals(Buffer.from(ref.channels[c].buffer)), s).toBe(true));
    }
    expect(readdirSync(out).sort()).toEqual([RECEIPT_FILE, 'bass.flac', 'drums.flac', 'vocals.flac']);
  });

  it('refused with --float (nothing clips there) and for an unknown mode: usage errors', () => {
    const both = cli('separate', input, '-o', join(dir, 'never'), '--model', model, '--float', '--clip-mode', 'clamp');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--clip-mode applies to 16-bit output: float keeps samples over full scale/);
    const bad = cli('separate', input, '-o', join(dir, 'never'), '--model', model, '--clip-mode', 'tanh');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--clip-mode tanh: must be one of rescale, clamp, none/);
  });
});

describe('stemstream stream --clip-mode', () => {
  it('rescale: each file (mix and stems) is its float run ÷ max(1.01 × peak, 1); warned with the counts', () => {
    const floatOut = join(dir, 'stream-float');
    const f = cli('stream', input, '-o', floatOut, '--model', model, '--track', '--float');
    expect(f.code, f.stderr).toBe(0);
    expect(warnings(f.stderr)).toEqual([]);
    const out = join(dir, 'stream-rescale');
    const r = cli('stream', input, '-o', out, '--model', model, '--track');
    expect(r.code, r.stderr).toBe(0);
    const names = ['mix', 'drums', 'bass', 'other', 'vocals'];
    const float = Object.fromEntries(names.map((s) => [s, read(join(floatOut, `${s}.wav`))]));
    for (const s of names) {
      const d = Math.max(1.01 * overs(float[s]).peak, 1);
      expect(maxDiff(read(join(out, `${s}.wav`)), (x) => x / d, float[s]), s).toBeLessThanOrEqual(LSB);
    }
    expect(overs(float.mix).clipped).toBeGreaterThan(0);
    expect(warnings(r.stderr)).toEqual(expectedWarnings(float, 'rescale', names));
    expect(readdirSync(out).sort()).toEqual([...names].sort().map((s) => `${s}.wav`));
  });
});

describe('exportStems: the counts the page shows', () => {
  const frames = 1000;
  /** Stem 0: 3 samples over (peak 1.5); stem 1: none over, peak 0.995 (rescale still takes it to 1/1.01, clamp to 0.99: reported); stem 2: quiet. */
  function stems(): Float32Array[][] {
    const s = [0, 1, 2].map(() => [new Float32Array(frames), new Float32Array(frames)]);
    for (let i = 0; i < frames; i++) for (const st of s) for (const ch of st) ch[i] = 0.5 * Math.sin(i / 9);
    s[0][0][10] = 1.5;
    s[0][1][20] = -1.2;
    s[0][0][30] = 1.0000001;
    s[1][1][40] = 0.995;
    for (const ch of s[2]) ch.forEach((_, i) => (ch[i] *= 0.1));
    return s;
  }
  const sources = ['drums', 'bass', 'vocals'];
  const sampleAt = (data: Uint8Array, c: number, i: number) => parseWav(data).channels[c][i];

  it('rescale (default): counts and peaks reported, the stem ÷ 1.01 × peak, the caller\'s samples untouched', () => {
    const input = stems();
    const r = exportStemsSync({ stems: input, sources, sampleRate: RATE, baseName: 'x', format: 'wav24' });
    expect(r.clipping).toEqual([
      { name: 'drums', clipped: 3, overClampLimit: 3, samples: 2 * frames, peak: 1.5, mode: 'rescale', gain: 1 / (1.01 * 1.5) },
      // Nothing over full scale, but Demucs' 1 % headroom turns it down: told too.
      { name: 'bass', clipped: 0, overClampLimit: 1, samples: 2 * frames, peak: Math.fround(0.995), mode: 'rescale', gain: 1 / (1.01 * Math.fround(0.995)) },
    ]);
    expect(r.clipped).toEqual([]);
    expect(sampleAt(r.files[0].data, 0, 10)).toBeCloseTo(1 / 1.01, 6);
    expect(sampleAt(r.files[0].data, 0, 5)).toBeCloseTo((0.5 * Math.sin(5 / 9)) / (1.01 * 1.5), 6);
    expect(sampleAt(r.files[1].data, 1, 40)).toBeCloseTo(1 / 1.01, 6);
    expect(sampleAt(r.files[2].data, 0, 5)).toBeCloseTo(0.05 * Math.sin(5 / 9), 6);
    expect(input[0][0][10]).toBe(1.5);
    expect(describeClip(r.clipping[0], 24)).toBe('drums: 3 samples over full scale (peak +3.52 dBFS); rescaled by −3.61 dB so that none clips (--clip-mode rescale)');
    expect(describeClip(r.clipping[1], 24)).toBe('bass: peak −0.04 dBFS, within 1 % of full scale; rescaled by −0.04 dB as Demucs does (--clip-mode rescale)');
  });

  it('clamp and none: the same counts; clipped lists the stem; float32: nothing to report', () => {
    const clamp = exportStemsSync({ stems: stems(), sources, sampleRate: RATE, baseName: 'x', format: 'wav16', clipMode: 'clamp' });
    expect(clamp.clipping.map((c) => [c.name, c.clipped, c.overClampLimit, c.mode])).toEqual([['drums', 3, 3, 'clamp'], ['bass', 0, 1, 'clamp']]);
    expect(describeClip(clamp.clipping[1], 16)).toBe('bass: peak −0.04 dBFS, within 1 % of full scale; 1 sample clamped to ±0.99 (--clip-mode clamp)');
    expect(clamp.clipped).toEqual(['drums']);
    expect(sampleAt(clamp.files[0].data, 0, 10)).toBe(Math.round(0.99 * 32768) / 32768);
    expect(sampleAt(clamp.files[1].data, 1, 40)).toBe(Math.round(0.99 * 32768) / 32768);
    const none = exportStemsSync({ stems: stems(), sources, sampleRate: RATE, baseName: 'x', format: 'wav16', clipMode: 'none' });
    expect(none.clipping.map((c) => [c.name, c.clipped, c.peak])).toEqual([['drums', 3, 1.5]]);
    expect(sampleAt(none.files[0].data, 0, 10)).toBe(32767 / 32768);
    const float = exportStemsSync({ stems: stems(), sources, sampleRate: RATE, baseName: 'x', format: 'float32' });
    expect(float.clipping).toEqual([]);
    expect(sampleAt(float.files[0].data, 0, 10)).toBe(1.5);
    expect(() => exportStemsSync({ stems: stems(), sources, sampleRate: RATE, baseName: 'x', clipMode: 'tanh' as ClipMode })).toThrow(/unknown clip mode "tanh"/);
  });
});
