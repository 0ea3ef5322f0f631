/**
 * Bounded memory at length: `separate` and `stream` on a WAV of minutes take
 * about the peak RSS they take on 10 s, because they read the input from disk
 * as the run goes and write the output as it becomes final (the same numbers
 * as the whole-file path: test/bounded-memory.test.ts). Minutes of input
 * through the CLI's process: in the `real` tier.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { WavFileReader } from '../src/audio/wav.js';
import { writeNoiseWav } from './fixtures/long-inputs.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'stemstream-bounded-long-'));
const modelPath = join(dir, 'tiny.onnx');
writeFileSync(modelPath, makeDemucsLayoutModel());
// The long inputs and their outputs take a few hundred MB: not left behind.
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Reports the process's peak RSS (kB) on stderr when it exits; loaded with --import into the CLI's process. */
const rssReporter = join(dir, 'report-peak-rss.mjs');
writeFileSync(rssReporter, "process.on('exit', () => process.stderr.write(`\\npeak-rss-kb ${process.resourceUsage().maxRSS}\\n`));\n");

/** The CLI in its own process; its peak RSS in MB (NaN if it did not report one). */
function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(rssReporter).href, MAIN, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 24 });
  const rss = /peak-rss-kb (\d+)/.exec(r.stderr ?? '');
  return { code: r.status, stderr: r.stderr, peakRssMb: rss ? Number(rss[1]) / 1024 : Number.NaN };
}

describe('peak memory does not grow with the length of a WAV input', () => {
  // Growth allowed from a 10 s input to a long one: what a whole-file read would hold is far more.
  const BOUND_MB = 100;

  it('separate: 10 min of noise take < 100 MB more peak RSS than 10 s (decoded, the input alone is 202 MiB)', { timeout: 240_000 }, async () => {
    const short = join(dir, 'noise-10s.wav');
    const long = join(dir, 'noise-10min.wav');
    await writeNoiseWav(short, 10 / 60, 5);
    const frames = await writeNoiseWav(long, 10, 5);
    const decodedMb = (frames * 2 * 4) / 2 ** 20;
    expect(decodedMb).toBeGreaterThan(2 * BOUND_MB);
    // One stem (less to write), overlap 0 and one thread: the shortest run that still reads all of the input.
    const args = (input: string, out: string) => ['separate', input, '--model', modelPath, '-o', join(dir, out), '--stems', 'vocals', '--overlap', '0', '--threads', '1'];
    const base = cli(args(short, 'mem-short'));
    const big = cli(args(long, 'mem-long'));
    expect(base.code, base.stderr).toBe(0);
    expect(big.code, big.stderr).toBe(0);
    const out = await WavFileReader.open(join(dir, 'mem-long', 'vocals.wav'));
    expect(out.length).toBe(frames);
    out.close();
    console.log(`separate peak RSS: 10 s ${base.peakRssMb.toFixed(0)} MB, 10 min ${big.peakRssMb.toFixed(0)} MB (decoded input ${decodedMb.toFixed(0)} MB)`);
    expect(big.peakRssMb - base.peakRssMb).toBeLessThan(BOUND_MB);
  });

  it('stream: 2 min take < 100 MB more peak RSS than 10 s (the whole-file path held the input and the 5 outputs: 242 MiB)', { timeout: 180_000 }, async () => {
    const short = join(dir, 'noise-10s-b.wav');
    const long = join(dir, 'noise-2min.wav');
    await writeNoiseWav(short, 10 / 60, 5);
    const frames = await writeNoiseWav(long, 2, 5);
    expect((frames * 2 * 4 * 6) / 2 ** 20).toBeGreaterThan(2 * BOUND_MB);
    const args = (input: string, out: string) => ['stream', input, '--model', modelPath, '-o', join(dir, out), '--threads', '1'];
    const base = cli(args(short, 'mem-stream-short'));
    const big = cli(args(long, 'mem-stream-long'));
    expect(base.code, base.stderr).toBe(0);
    expect(big.code, big.stderr).toBe(0);
    console.log(`stream peak RSS: 10 s ${base.peakRssMb.toFixed(0)} MB, 2 min ${big.peakRssMb.toFixed(0)} MB`);
    expect(big.peakRssMb - base.peakRssMb).toBeLessThan(BOUND_MB);
  });
});
