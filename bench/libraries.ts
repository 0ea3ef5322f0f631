/**
 * Our hand-written parts against the libraries that do the same job, side by
 * side (issue 13, part 5):
 *   zip       src/export/zip.ts     vs fflate (zipSync, level 0) and client-zip
 *   resample  src/audio/resample.ts vs @alexanderolsen/libsamplerate-js
 *   decode    src/audio/decode.ts   vs mediabunny (WAV decode, FLAC demux)
 *
 * The libraries are not dependencies of the project. Install them anywhere
 * and point LIBCMP_DIR at that folder, e.g.
 *   mkdir /tmp/libcmp && cd /tmp/libcmp && npm init -y &&
 *     npm install fflate client-zip @alexanderolsen/libsamplerate-js mediabunny
 *   npx tsc -p tsconfig.build.json && LIBCMP_DIR=/tmp/libcmp node dist/bench/libraries.js [zip|resample|decode]
 * A library that cannot be loaded is reported as such and skipped. LIBCMP_FULL=1
 * adds a ZIP run at full size (4 × 180 s). Also `node dist/bench/bench.js libraries [zip|…]`.
 *
 * Each ZIP writer runs in its own child process so that its peak memory
 * (maxRSS over the input's baseline) is its own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { zipFiles } from '../src/export/zip.js';
import { resample } from '../src/audio/resample.js';
import { decodeAudio } from '../src/audio/decode.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import type { AudioData } from '../src/audio/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');

type Any = any;

/** Loads `name` from the project, or from LIBCMP_DIR; undefined (with a note) when neither has it. */
async function load(name: string): Promise<Any | undefined> {
  try {
    return await import(name);
  } catch {
    const dir = process.env.LIBCMP_DIR;
    if (dir) {
      try {
        const path = createRequire(join(dir, 'package.json')).resolve(name);
        return await import(pathToFileURL(path).href);
      } catch {
        /* fall through */
      }
    }
    console.log(`  (${name} is not installed; skipped. Install it and set LIBCMP_DIR, see the header of bench/libraries.ts)`);
    return undefined;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeMedian(runs: number, fn: () => unknown): Promise<number> {
  const ms: number[] = [];
  await fn(); // warm-up, not counted
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

/** Deterministic noise-like samples (xorshift), so runs are comparable. */
function noise(frames: number, seed: number, amp = 0.3): Float32Array {
  const out = new Float32Array(frames);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < frames; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = amp * (s / 2 ** 32 * 2 - 1);
  }
  return out;
}

function table(rows: string[][]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => '  ' + r.map((x, c) => x.padEnd(w[c])).join('  ')).join('\n');
}

// ---------------------------------------------------------------------------
// ZIP

type ZipImpl = 'ours' | 'fflate' | 'client-zip';

/** 4 WAV files (stereo, 24-bit, 44.1 kHz) of noise bytes, built in place so that making them leaves no garbage behind. */
function zipInputs(seconds: number): { name: string; data: Uint8Array }[] {
  return ['vocals', 'drums', 'bass', 'other'].map((stem, i) => {
    const dataBytes = seconds * 44100 * 6;
    const data = new Uint8Array(44 + dataBytes);
    const v = new DataView(data.buffer);
    const tag = (at: number, s: string) => { for (let k = 0; k < 4; k++) data[at + k] = s.charCodeAt(k); };
    tag(0, 'RIFF'); v.setUint32(4, 36 + dataBytes, true); tag(8, 'WAVE');
    tag(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 2, true);
    v.setUint32(24, 44100, true); v.setUint32(28, 44100 * 6, true); v.setUint16(32, 6, true); v.setUint16(34, 24, true);
    tag(36, 'data'); v.setUint32(40, dataBytes, true);
    let s = 0x9e3779b9 ^ (i + 1);
    for (let k = 44; k < data.length; k++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; data[k] = s & 0xff; }
    return { name: `song-${stem}.wav`, data };
  });
}

/** Child: zips 4 stems with one writer; prints {ms, peakMiB, bytes, file}. */
async function childZip(impl: ZipImpl, seconds: number, runs: number): Promise<void> {
  const files = zipInputs(seconds);
  const baseline = process.resourceUsage().maxRSS;
  let out: Uint8Array = new Uint8Array(0);
  let run: () => Promise<void>;
  if (impl === 'ours') {
    run = async () => { out = zipFiles(files); };
  } else if (impl === 'fflate') {
    const fflate = await load('fflate');
    if (!fflate) return;
    run = async () => {
      const input: Record<string, [Uint8Array, { level: 0 }]> = {};
      for (const f of files) input[f.name] = [f.data, { level: 0 }];
      out = fflate.zipSync(input);
    };
  } else {
    const cz = await load('client-zip');
    if (!cz) return;
    const lastModified = new Date(1980, 0, 1);
    run = async () => {
      out = new Uint8Array(await cz.downloadZip(files.map((f) => ({ name: f.name, input: f.data, lastModified }))).arrayBuffer());
    };
  }
  // The first run alone gives the peak (later runs' garbage would blur it) and
  // the cold time: an export zips once per process, before the JIT has warmed up.
  const t0 = performance.now();
  await run();
  const coldMs = performance.now() - t0;
  const peakMiB = (process.resourceUsage().maxRSS - baseline) / 1024;
  const ms = await timeMedian(runs, run);
  const file = join(mkdtempSync(join(tmpdir(), 'libzip-')), `${impl}.zip`);
  writeFileSync(file, out);
  console.log(JSON.stringify({ ms, coldMs, peakMiB, bytes: out.length, file }));
}

function benchZip(seconds: number, runs: number): void {
  const inputMiB = (4 * (44 + seconds * 44100 * 6)) / 2 ** 20;
  console.log(`\nZIP: 4 stems × ${seconds} s stereo 24-bit WAV of noise (${inputMiB.toFixed(1)} MiB in all), stored; cold = first call in a fresh process, warm = median of ${runs} more`);
  const rows = [['writer', 'cold ms', 'warm ms', 'warm MiB/s', 'peak extra RSS MiB (1 run)', 'archive bytes', 'unzip -t']];
  for (const impl of ['ours', 'fflate', 'client-zip'] as ZipImpl[]) {
    const stdout = execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'zip-child', impl, String(seconds), String(runs)], {
      encoding: 'utf8', env: process.env, maxBuffer: 1 << 20,
    });
    const last = stdout.trim().split('\n').pop() ?? '';
    if (!last.startsWith('{')) { console.log(stdout.trimEnd()); continue; }
    const r = JSON.parse(last) as { ms: number; coldMs: number; peakMiB: number; bytes: number; file: string };
    let check = 'not run';
    try {
      execFileSync('unzip', ['-tq', r.file], { stdio: 'pipe' });
      check = 'OK';
    } catch (err) {
      check = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no unzip' : 'FAILED';
    }
    rmSync(dirname(r.file), { recursive: true, force: true });
    rows.push([impl, r.coldMs.toFixed(0), r.ms.toFixed(0), (inputMiB / (r.ms / 1000)).toFixed(0), r.peakMiB.toFixed(0), String(r.bytes), check]);
  }
  console.log(table(rows));
}

// ---------------------------------------------------------------------------
// Resampling

function sine(frames: number, f: number, fs: number, amp = 0.5): Float32Array {
  const out = new Float32Array(frames);
  for (let n = 0; n < frames; n++) out[n] = amp * Math.sin((2 * Math.PI * f * n) / fs);
  return out;
}

/** Least-squares fit of a·cos + b·sin at f over [from, to): amplitude and residual RMS. */
function fitTone(x: Float32Array, f: number, fs: number, from: number, to: number): { amp: number; residual: number } {
  let cc = 0, ss = 0, cs = 0, xc = 0, xs = 0;
  for (let n = from; n < to; n++) {
    const w = (2 * Math.PI * f * n) / fs;
    const c = Math.cos(w), s = Math.sin(w);
    cc += c * c; ss += s * s; cs += c * s; xc += x[n] * c; xs += x[n] * s;
  }
  const det = cc * ss - cs * cs;
  const a = (xc * ss - xs * cs) / det;
  const b = (xs * cc - xc * cs) / det;
  let e = 0;
  for (let n = from; n < to; n++) {
    const w = (2 * Math.PI * f * n) / fs;
    e += (x[n] - a * Math.cos(w) - b * Math.sin(w)) ** 2;
  }
  return { amp: Math.hypot(a, b), residual: Math.sqrt(e / (to - from)) };
}

const dB = (v: number) => 20 * Math.log10(v);

type Converter = (audio: AudioData, to: number) => Promise<AudioData>;

interface Quality {
  /** 1 kHz sine at 0.5: tone power over everything else (noise, distortion), dB. */
  snr: number;
  /** Gain of a tone at 0.9 × the lower Nyquist, dB. */
  passbandDb: number;
  /** Downsampling: level of the alias of a tone 5 % above the new Nyquist; upsampling: level of the image of a 10 kHz tone. dB re input. */
  rejectDb: number;
}

async function quality(conv: Converter, from: number, to: number): Promise<Quality> {
  const frames = from; // 1 s
  const lo = Math.min(from, to) / 2;
  const edge = (n: number) => [Math.floor(n * 0.1), Math.floor(n * 0.9)] as const;
  const one = async (f: number) => (await conv({ sampleRate: from, channels: [sine(frames, f, from)] }, to)).channels[0];
  const y1 = await one(1000);
  const [a, b] = edge(y1.length);
  const t1 = fitTone(y1, 1000, to, a, b);
  const snr = dB(t1.amp / Math.SQRT2 / t1.residual);
  const fp = 0.9 * lo;
  const yp = await one(fp);
  const passbandDb = dB(fitTone(yp, fp, to, a, b).amp / 0.5);
  let rejectDb: number;
  if (to < from) {
    const f = 1.05 * lo; // folds back to to − f
    const yr = await one(f);
    rejectDb = dB(fitTone(yr, to - f, to, a, b).amp / 0.5);
  } else {
    const f = 10000; // image at from − f
    const yr = await one(f);
    rejectDb = dB(fitTone(yr, from - f, to, a, b).amp / 0.5);
  }
  return { snr, passbandDb, rejectDb };
}

async function benchResample(seconds: number, runs: number): Promise<void> {
  console.log(`\nResampling: speed on ${seconds} s stereo noise (× real time, median of ${runs}); quality on 1 s sines`);
  const converters: [string, Converter][] = [['ours (Kaiser sinc, 100 dB)', async (x, to) => resample(x, to)]];
  const lsr = await load('@alexanderolsen/libsamplerate-js');
  if (lsr) {
    const create = lsr.create ?? lsr.default?.create;
    const types = lsr.ConverterType ?? lsr.default?.ConverterType;
    for (const [label, type] of [['SINC_BEST_QUALITY', types.SRC_SINC_BEST_QUALITY], ['SINC_MEDIUM_QUALITY', types.SRC_SINC_MEDIUM_QUALITY], ['SINC_FASTEST', types.SRC_SINC_FASTEST]] as const) {
      converters.push([`libsamplerate ${label}`, async (x, to) => {
        const ch = x.channels.length;
        const src = await create(ch, x.sampleRate, to, { converterType: type });
        try {
          const n = x.channels[0].length;
          const inter = new Float32Array(n * ch);
          for (let c = 0; c < ch; c++) { const s = x.channels[c]; for (let i = 0; i < n; i++) inter[i * ch + c] = s[i]; }
          const out: Float32Array = src.simple(inter);
          const m = Math.floor(out.length / ch);
          const channels = Array.from({ length: ch }, (_, c) => { const o = new Float32Array(m); for (let i = 0; i < m; i++) o[i] = out[i * ch + c]; return o; });
          return { sampleRate: to, channels };
        } finally {
          src.destroy();
        }
      }]);
    }
  }
  const rows = [['converter', 'rates', '× real time', 'out frames', '1 kHz SNR dB', 'gain @0.9·Nyq dB', 'alias/image dB']];
  for (const [from, to] of [[48000, 44100], [22050, 44100]]) {
    const input: AudioData = { sampleRate: from, channels: [noise(from * seconds, 5), noise(from * seconds, 6)] };
    for (const [label, conv] of converters) {
      let frames = 0;
      const ms = await timeMedian(runs, async () => { frames = (await conv(input, to)).channels[0].length; });
      const q = await quality(conv, from, to);
      rows.push([label, `${from / 1000}k→${to / 1000}k`, (seconds / (ms / 1000)).toFixed(0), `${frames} (exact ${Math.round((from * seconds * to) / from)})`,
        q.snr.toFixed(1), q.passbandDb.toFixed(3), q.rejectDb.toFixed(1)]);
    }
  }
  console.log(table(rows));
}

// ---------------------------------------------------------------------------
// Decoding

async function benchDecode(runs: number): Promise<void> {
  console.log(`\nDecoding: median of ${runs}`);
  const mixture = decodeWavFile(join(repo, 'demo', 'clip', 'mixture.wav'));
  // 60 s of the demo clip, as 16-bit and 24-bit WAV.
  const reps = Math.ceil((60 * mixture.sampleRate) / mixture.channels[0].length);
  const long: AudioData = {
    sampleRate: mixture.sampleRate,
    channels: mixture.channels.map((c) => { const o = new Float32Array(c.length * reps); for (let r = 0; r < reps; r++) o.set(c, r * c.length); return o; }),
  };
  const secs = long.channels[0].length / long.sampleRate;
  const inputs: [string, Uint8Array, number][] = [
    [`WAV 16-bit, ${secs.toFixed(0)} s`, encodeWav(long, 'pcm16'), secs],
    [`WAV 24-bit, ${secs.toFixed(0)} s`, encodeWav(long, 'pcm24'), secs],
  ];
  const flacPath = join(repo, 'demo', 'clip', 'stems', 'drums.flac');
  if (existsSync(flacPath)) inputs.push([`FLAC (demo drums stem, 9 s)`, new Uint8Array(readFileSync(flacPath)), mixture.channels[0].length / mixture.sampleRate]);

  const mb = await load('mediabunny');
  const rows = [['input', 'decoder', 'ms', '× real time', 'frames', 'note']];
  for (const [label, bytes, dur] of inputs) {
    let frames = 0;
    const ours = await timeMedian(runs, async () => { frames = (await decodeAudio(bytes)).channels[0].length; });
    rows.push([label, 'ours (decode.ts)', ours.toFixed(1), (dur / (ours / 1000)).toFixed(0), String(frames), 'full decode to f32 planar']);
    if (!mb) continue;
    const open = () => new mb.Input({ source: new mb.BufferSource(bytes), formats: mb.ALL_FORMATS });
    // Full decode to planar float.
    let note = 'full decode to f32 planar';
    let mbMs = NaN;
    try {
      mbMs = await timeMedian(runs, async () => {
        const input = open();
        const track = await input.getPrimaryAudioTrack();
        const chans = track.numberOfChannels as number;
        const parts: Float32Array[][] = Array.from({ length: chans }, () => []);
        let n = 0;
        for await (const s of new mb.AudioSampleSink(track).samples()) {
          for (let c = 0; c < chans; c++) {
            const dst = new Float32Array(s.numberOfFrames);
            s.copyTo(dst, { planeIndex: c, format: 'f32-planar' });
            parts[c].push(dst);
          }
          n += s.numberOfFrames;
          s.close();
        }
        const channels = parts.map((p) => { const o = new Float32Array(n); let at = 0; for (const q of p) { o.set(q, at); at += q.length; } return o; });
        frames = channels[0]?.length ?? 0;
        input.dispose?.();
      });
    } catch (err) {
      note = `cannot decode here: ${String((err as Error).message ?? err).slice(0, 70)}`;
      frames = 0;
    }
    rows.push([label, 'mediabunny AudioSampleSink', Number.isNaN(mbMs) ? '-' : mbMs.toFixed(1), Number.isNaN(mbMs) ? '-' : (dur / (mbMs / 1000)).toFixed(0), String(frames), note]);
    // Demux only: read every packet (the container parsing alone).
    let packets = 0;
    const demux = await timeMedian(runs, async () => {
      const input = open();
      const track = await input.getPrimaryAudioTrack();
      packets = 0;
      for await (const p of new mb.EncodedPacketSink(track).packets()) { void p; packets++; }
      input.dispose?.();
    });
    rows.push([label, 'mediabunny demux only', demux.toFixed(1), (dur / (demux / 1000)).toFixed(0), '-', `${packets} packets, no decoding`]);
  }
  console.log(table(rows));
}

function decodeWavFile(path: string): AudioData {
  return parseWav(new Uint8Array(readFileSync(path)));
}

// ---------------------------------------------------------------------------

const [mode, ...args] = process.argv.slice(2);
if (mode === 'zip-child') {
  await childZip(args[0] as ZipImpl, Number(args[1]), Number(args[2]));
} else {
  const which = mode ?? 'all';
  if (which === 'all' || which === 'zip') {
    benchZip(30, 5);
    if (process.env.LIBCMP_FULL === '1') benchZip(180, 3);
  }
  if (which === 'all' || which === 'resample') await benchResample(60, 3);
  if (which === 'all' || which === 'decode') await benchDecode(5);
}
