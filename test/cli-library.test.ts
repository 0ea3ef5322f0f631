/**
 * Issue 13 part 4, "a library in one command": `stemstream separate <folder…> -o out/`
 * keeps the folder structure, skips finished tracks, survives a bad file,
 * resumes after an interrupted run, and writes lossless FLAC with --format flac.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeAudio, decodeAudioFile } from '../src/audio/decode.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { FlacFileWriter } from '../src/export/flac-file-writer.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { RECEIPT_FILE } from '../src/cli/resume.js';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const STEMS = ['bass', 'drums', 'other', 'vocals'];

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'stemstream-library-'));
const model = join(dir, 'tiny.onnx');
writeFileSync(model, makeDemucsLayoutModel());

/** Music-like, noise-free: a few harmonics with a slow tremolo, 44.1 kHz. */
function music(seconds: number, f0: number, channels = 2): Float32Array[] {
  const n = Math.round(seconds * 44100);
  return Array.from({ length: channels }, (_, c) => {
    const ch = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const t = i / 44100;
      const env = 0.6 + 0.4 * Math.sin(2 * Math.PI * 2 * t);
      ch[i] = env * (0.3 * Math.sin(2 * Math.PI * f0 * t + c) + 0.15 * Math.sin(2 * Math.PI * 2 * f0 * t) + 0.08 * Math.sin(2 * Math.PI * 3.01 * f0 * t));
    }
    return ch;
  });
}
const wavOf = (ch: Float32Array[]) => encodeWav({ sampleRate: 44100, channels: ch }, 'pcm16');

/**
 * lib/a.wav, lib/rock/b.wav, lib/rock/live/c.wav (mono), lib/notes.txt (not
 * audio), lib/rock/broken.wav (corrupt), lib/.hidden/d.wav (hidden), and a
 * symbolic link lib/rock/loop → lib (a loop).
 */
const lib = join(dir, 'lib');
mkdirSync(join(lib, 'rock', 'live'), { recursive: true });
mkdirSync(join(lib, '.hidden'));
writeFileSync(join(lib, 'a.wav'), wavOf(music(0.6, 220)));
writeFileSync(join(lib, 'rock', 'b.wav'), wavOf(music(0.5, 330)));
writeFileSync(join(lib, 'rock', 'live', 'c.wav'), wavOf(music(0.4, 440, 1)));
writeFileSync(join(lib, 'notes.txt'), 'not audio');
writeFileSync(join(lib, 'rock', 'broken.wav'), Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00WAVEjunk'), Buffer.alloc(64, 7)]));
writeFileSync(join(lib, '.hidden', 'd.wav'), wavOf(music(0.3, 550)));
symlinkSync(lib, join(lib, 'rock', 'loop'));

const GOOD = ['a', join('rock', 'b'), join('rock', 'live', 'c')];
const mtimes = (out: string) => new Map(GOOD.flatMap((t) => STEMS.map((s) => [join(t, s), statSync(join(out, t, `${s}.wav`)).mtimeMs] as const)));
/** A row of the summary table: track, status. */
const row = (stderr: string, track: string) => stderr.split('\n').find((l) => l.startsWith(`${track} `)) ?? '';

describe('stemstream separate <folder> -o out/', () => {
  const out = join(dir, 'out');

  it('keeps the structure, lists the corrupt file as failed with its reason, exits 1', () => {
    const r = cli('separate', lib, '-o', out, '--model', model);
    expect(r.code, r.stderr).toBe(1);
    for (const t of GOOD) expect(readdirSync(join(out, t)).filter((f) => f.endsWith('.wav')).sort()).toEqual(STEMS.map((s) => `${s}.wav`));
    expect(existsSync(join(out, 'rock', 'broken'))).toBe(false); // nothing of it, not even an empty folder
    expect(existsSync(join(out, 'd'))).toBe(false);
    expect(existsSync(join(out, '.hidden'))).toBe(false);
    expect(row(r.stderr, join('rock', 'broken.wav'))).toMatch(/failed .*cannot decode broken\.wav/);
    for (const t of GOOD) expect(row(r.stderr, `${t}.wav`)).toMatch(/ done /);
    expect(r.stderr).toMatch(/done: 3, skipped: 0, failed: 1, not audio: 1/);
    expect(r.stderr).toMatch(/\[1\/4\] a\.wav: \d+% of all audio .* ETA /);
    // The library's stems are the single-file command's, byte for byte.
    const single = join(dir, 'single');
    expect(cli('separate', join(lib, 'rock', 'b.wav'), '-o', single, '--model', model).code).toBe(0);
    for (const s of STEMS) expect(readFileSync(join(out, 'rock', 'b', `${s}.wav`)).equals(readFileSync(join(single, `${s}.wav`))), s).toBe(true);
  });

  it('a second run skips the finished tracks (files untouched) and retries the failed one', () => {
    const before = mtimes(out);
    writeFileSync(join(lib, 'rock', 'broken.wav'), wavOf(music(0.3, 660))); // repaired
    const r = cli('separate', lib, '-o', out, '--model', model);
    expect(r.code, r.stderr).toBe(0);
    expect(mtimes(out)).toEqual(before);
    expect(row(r.stderr, 'a.wav')).toMatch(/ skipped /);
    expect(row(r.stderr, join('rock', 'broken.wav'))).toMatch(/ done /);
    expect(r.stderr).toMatch(/done: 1, skipped: 3, failed: 0, not audio: 1/);
    expect(readdirSync(join(out, 'rock', 'broken')).sort()).toEqual([RECEIPT_FILE, ...STEMS.map((s) => `${s}.wav`)]);
  });

  it('resumes an interrupted run: a track with missing stems and a killed run\'s temporary is separated again', () => {
    // What a run killed between renames (or a hand deleting a stem) leaves: three stems and a stale temporary.
    rmSync(join(out, 'rock', 'b', 'vocals.wav'));
    const stale = join(out, 'rock', 'b', '.vocals.wav.partial-999999');
    writeFileSync(stale, 'half a file');
    const before = statSync(join(out, 'a', 'bass.wav')).mtimeMs;
    const r = cli('separate', lib, '-o', out, '--model', model);
    expect(r.code, r.stderr).toBe(0);
    expect(row(r.stderr, join('rock', 'b.wav'))).toMatch(/ done /);
    expect(r.stderr).toMatch(/done: 1, skipped: 3, failed: 0/);
    expect(existsSync(join(out, 'rock', 'b', 'vocals.wav'))).toBe(true);
    expect(existsSync(stale)).toBe(false);
    expect(statSync(join(out, 'a', 'bass.wav')).mtimeMs).toBe(before);
  });

  it('Ctrl-C after the first track: exit 130, that track kept, no temporaries; the next run does only the rest', async () => {
    const small = join(dir, 'small');
    mkdirSync(small);
    writeFileSync(join(small, '1-short.wav'), wavOf(music(0.3, 250)));
    writeFileSync(join(small, '2-long.wav'), wavOf(music(5, 300))); // with --shifts 10, seconds of work: time to interrupt it
    const o = join(dir, 'out-sigint');
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'separate', small, '-o', o, '--model', model, '--shifts', '10'], { cwd: ROOT });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const t0 = Date.now();
    while (!(existsSync(join(o, '2-long')) && readdirSync(join(o, '2-long')).some((f) => f.includes('.partial-')))) {
      if (Date.now() - t0 > 60_000) throw new Error(`the second track never started: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(readdirSync(join(o, '1-short')).sort()).toEqual([RECEIPT_FILE, ...STEMS.map((s) => `${s}.wav`)]);
    expect(existsSync(join(o, '2-long'))).toBe(false); // its folder was created by the run, and removed with the temporaries
    const kept = statSync(join(o, '1-short', 'vocals.wav')).mtimeMs;
    // The same command again (other options would make other stems: the finished track would run again).
    const r = cli('separate', small, '-o', o, '--model', model, '--shifts', '10');
    expect(r.code, r.stderr).toBe(0);
    expect(row(r.stderr, '1-short.wav')).toMatch(/ skipped /);
    expect(row(r.stderr, '2-long.wav')).toMatch(/ done /);
    expect(statSync(join(o, '1-short', 'vocals.wav')).mtimeMs).toBe(kept);
  });

  it('--force separates every track again', () => {
    const before = mtimes(out);
    const r = cli('separate', lib, '-o', out, '--model', model, '--force');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/done: 4, skipped: 0, failed: 0, not audio: 1/);
    for (const [stem, t] of before) expect(statSync(join(out, `${stem}.wav`)).mtimeMs, stem).toBeGreaterThan(t);
  });

  it('files and folders together: a file goes to out/<its name>, a folder\'s tracks to out/<path inside it>', () => {
    const mixed = join(dir, 'mixed');
    const r = cli('separate', join(lib, 'a.wav'), join(lib, 'rock', 'live'), '-o', mixed, '--model', model, '--stems', 'vocals');
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(mixed).sort()).toEqual(['a', 'c']);
    expect(readdirSync(join(mixed, 'c')).sort()).toEqual([RECEIPT_FILE, 'vocals.wav']);
  });

  it('--format flac: stems decode to exactly the 16-bit WAV stems\' samples, in less space', async () => {
    const flacOut = join(dir, 'flac');
    const r = cli('separate', lib, '-o', flacOut, '--model', model, '--format', 'flac');
    expect(r.code, r.stderr).toBe(0);
    let flacBytes = 0;
    let wavBytes = 0;
    for (const t of GOOD) {
      for (const s of STEMS) {
        const wavPath = join(out, t, `${s}.wav`);
        const flacPath = join(flacOut, t, `${s}.flac`);
        const wav = parseWav(new Uint8Array(readFileSync(wavPath)));
        const flac = await decodeAudioFile(flacPath);
        expect(flac.sampleRate).toBe(wav.sampleRate);
        expect(flac.channels.length).toBe(2);
        for (let c = 0; c < 2; c++) expect(Buffer.from(flac.channels[c].buffer, flac.channels[c].byteOffset, flac.channels[c].byteLength).equals(Buffer.from(wav.channels[c].buffer, wav.channels[c].byteOffset, wav.channels[c].byteLength)), `${t}/${s} channel ${c}`).toBe(true);
        flacBytes += statSync(flacPath).size;
        wavBytes += statSync(wavPath).size;
      }
    }
    expect(flacBytes / wavBytes).toBeLessThan(0.75);
    // The reference decoder checks the stream and its MD5.
    const tool = spawnSync('flac', ['-t', '-s', join(flacOut, 'a', 'vocals.flac')], { encoding: 'utf8' });
    if (tool.error) throw new Error('flac is not installed; install it with `apt-get install -y flac` (.ci/run installs it)');
    expect(tool.status, tool.stderr).toBe(0);
  });

  it('refuses --format flac with --float, and unknown formats, before any work (exit 2)', () => {
    const o = join(dir, 'refused');
    const a = cli('separate', lib, '-o', o, '--model', model, '--format', 'flac', '--float');
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--format flac stores integer samples/);
    const b = cli('separate', join(lib, 'a.wav'), '-o', o, '--model', model, '--format', 'mp3');
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--format mp3: must be wav or flac/);
    expect(existsSync(o)).toBe(false);
  });
});

describe('FlacFileWriter', () => {
  it('24-bit, written in uneven blocks: decodes to the 24-bit WAV\'s samples; smaller than the WAV', async () => {
    const channels = music(1.3, 196);
    const path = join(dir, 'w24.flac');
    const w = await FlacFileWriter.open(path, { sampleRate: 44100, channels: 2, bits: 24 });
    for (let i = 0, n = 1000; i < channels[0].length; i += n, n = n * 3 + 17) await w.write(channels, i, Math.min(n, channels[0].length - i));
    await w.close();
    const bytes = new Uint8Array(readFileSync(path));
    const got = await decodeAudio(bytes, 'w24.flac');
    const wav = encodeWav({ sampleRate: 44100, channels }, 'pcm24');
    const want = parseWav(wav);
    expect(got.channels[0].length).toBe(channels[0].length);
    for (let c = 0; c < 2; c++) expect(Array.from(got.channels[c])).toEqual(Array.from(want.channels[c]));
    expect(bytes.length).toBeLessThan(0.75 * wav.length);
    // STREAMINFO patched at close: the sample count is there (the decoder warns on a short file otherwise).
    expect(Buffer.from(bytes).readUInt32BE(22)).toBe(channels[0].length);
  });
});
