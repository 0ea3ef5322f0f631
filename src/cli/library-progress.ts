/**
 * Overall progress of a library run (to stderr): track k of n, the percent of
 * all the audio to separate that is done, and an ETA from the throughput
 * measured so far (seconds of audio per second of wall time). A bar on a
 * terminal, a line per percent otherwise. Ends with a summary table.
 */
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { aiffHeaderLength } from '../audio/aiff.js';
import { findMoov, mp4MoovSeconds } from '../audio/mp4.js';
import { WavFileReader } from '../audio/wav.js';
import { readAt } from './read-at.js';

export type TrackStatus = 'done' | 'skipped' | 'failed';

export interface TrackOutcome {
  label: string;
  status: TrackStatus;
  /** Wall time spent on it (0 when skipped). */
  ms: number;
  reason?: string;
}

/** Bytes per second of a typical compressed file (128 kbit/s), until the file is decoded and its length known. */
const COMPRESSED_BYTES_PER_SECOND = 16000;

/** Bytes read from the start of a file for its header (an AIFF's COMM chunk is within them). */
const HEAD_BYTES = 4096;

/** Largest MP4 index read for a length estimate: a song's is tens of KB. */
const MAX_MOOV_BYTES = 16 << 20;

/** An MP4's sound track length from its index (the moov box, wherever it is in the file). */
function mp4Seconds(fd: number): number | undefined {
  const size = fstatSync(fd).size;
  const { moov } = findMoov((pos, n) => readAt(fd, pos, n), size);
  if (!moov || moov.end > size || moov.end - moov.start > MAX_MOOV_BYTES) return undefined;
  return mp4MoovSeconds(readAt(fd, moov.start, moov.end - moov.start));
}

/**
 * A track's duration in seconds, cheaply: from the header for WAV, AIFF,
 * FLAC and MP4, from the size for other formats (refined once the track is opened).
 */
export async function estimateDuration(path: string): Promise<number> {
  let head: Buffer = Buffer.alloc(0);
  let fd: number | undefined;
  let fromIndex: number | undefined;
  try {
    fd = openSync(path, 'r');
    head = readAt(fd, 0, HEAD_BYTES);
    if (head.length >= 8 && head.toString('latin1', 4, 8) === 'ftyp') {
      try {
        fromIndex = mp4Seconds(fd);
      } catch {
        fromIndex = undefined; // the size estimate below
      }
    }
  } catch {
    return 0; // unreadable: its run fails and says why
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (fromIndex !== undefined && fromIndex > 0) return fromIndex;
  const aiff = aiffHeaderLength(head);
  if (aiff && aiff.frames > 0) return aiff.frames / aiff.sampleRate;
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WAVE') {
    try {
      const reader = await WavFileReader.open(path);
      const seconds = reader.length / reader.sampleRate;
      reader.close();
      return seconds;
    } catch {
      return 0;
    }
  }
  if (head.length >= 42 && head.toString('latin1', 0, 4) === 'fLaC') {
    // STREAMINFO: 20-bit rate and a 36-bit sample count from byte 18.
    const rate = (head[18] << 12) | (head[19] << 4) | (head[20] >> 4);
    const samples = (head[21] & 0x0f) * 2 ** 32 + head.readUInt32BE(22);
    if (rate > 0 && samples > 0) return samples / rate;
  }
  try {
    return statSync(path).size / COMPRESSED_BYTES_PER_SECOND;
  } catch {
    return 0;
  }
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '--:--';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(h > 0 ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

export class LibraryProgress {
  private readonly durations: number[];
  private readonly labels: string[];
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  /** Seconds of audio of the tracks finished (done or failed). */
  private finished = 0;
  private current = -1;
  private fraction = 0;
  private readonly t0 = performance.now();
  private lastPercent = -1;
  private barShown = false;

  /** `durations[k]` estimates track k's length; only tracks to separate are listed. */
  constructor(labels: string[], durations: number[], stream: NodeJS.WriteStream = process.stderr) {
    this.labels = labels;
    this.durations = [...durations];
    this.stream = stream;
    this.tty = stream.isTTY === true;
  }

  private get total(): number {
    return this.durations.reduce((a, b) => a + b, 0);
  }

  /** Audio seconds done so far, the running track's part included. */
  private get doneSeconds(): number {
    return this.finished + (this.current >= 0 ? this.fraction * this.durations[this.current] : 0);
  }

  start(k: number): void {
    this.current = k;
    this.fraction = 0;
    this.render(true);
  }

  /** The track's real length, once it is decoded (the estimate may have been from the file size). */
  setDuration(k: number, seconds: number): void {
    this.durations[k] = seconds;
  }

  update(fraction: number): void {
    this.fraction = Math.min(1, Math.max(0, fraction));
    this.render(false);
  }

  finish(): void {
    if (this.current >= 0) this.finished += this.durations[this.current];
    this.current = -1;
    this.fraction = 0;
  }

  /** Prints a line (a warning, a failure) without tearing the bar. */
  line(text: string): void {
    this.stream.write(this.tty && this.barShown ? `\r\x1b[K${text}\n` : `${text}\n`);
    this.barShown = false;
  }

  /** Milliseconds left at the throughput measured so far (Infinity before any). */
  etaMs(): number {
    const done = this.doneSeconds;
    const elapsed = performance.now() - this.t0;
    if (done <= 0 || elapsed <= 0) return Number.POSITIVE_INFINITY;
    return ((this.total - done) * elapsed) / done;
  }

  private render(force: boolean): void {
    if (this.current < 0) return;
    const total = this.total;
    const frac = total > 0 ? Math.min(1, this.doneSeconds / total) : 0;
    const percent = Math.floor(frac * 100);
    if (!force && percent === this.lastPercent) return;
    this.lastPercent = percent;
    const k = this.current;
    const head = `[${k + 1}/${this.labels.length}] ${this.labels[k]}`;
    const eta = `ETA ${formatDuration(this.etaMs())}`;
    if (this.tty) {
      const width = 20;
      const fill = Math.round(frac * width);
      this.stream.write(`\r${head} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(percent).padStart(3)}% of all audio, ${eta}\x1b[K`);
      this.barShown = true;
    } else {
      this.stream.write(`${head}: ${percent}% of all audio (${this.doneSeconds.toFixed(1)} s of ${total.toFixed(1)} s), ${eta}\n`);
    }
  }
}

/** The summary: one row per track (status, time, reason for failures) and the counts. */
export function summaryTable(outcomes: readonly TrackOutcome[], notAudio: number): string {
  const header = ['track', 'status', 'time', 'reason'];
  const rows = outcomes.map((o) => [o.label, o.status, o.status === 'skipped' ? '-' : `${(o.ms / 1000).toFixed(1)} s`, o.reason ?? '']);
  const width = [0, 1, 2].map((c) => Math.max(header[c].length, ...rows.map((r) => r[c].length)));
  const fmt = (r: string[]) => `${r[0].padEnd(width[0])}  ${r[1].padEnd(width[1])}  ${r[2].padStart(width[2])}  ${r[3]}`.trimEnd();
  const count = (s: TrackStatus) => outcomes.filter((o) => o.status === s).length;
  const totals = `done: ${count('done')}, skipped: ${count('skipped')}, failed: ${count('failed')}, not audio: ${notAudio}`;
  return [fmt(header), ...rows.map(fmt), totals].join('\n');
}
