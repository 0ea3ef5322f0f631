/**
 * What happens to a stem that goes over full scale when it is written as
 * integers (16- or 24-bit WAV, FLAC): Demucs' `--clip-mode`, with its rules
 * (demucs/audio.py prevent_clip):
 *
 *   rescale (default)  the whole stem divided by max(1.01 × peak, 1): nothing
 *                      clips, the stem keeps its shape, 1 % below full scale
 *   clamp              every sample limited to ±0.99
 *   none               written as is: what is over full scale is clipped to
 *                      the largest integer
 *
 * Float output never clips and is written as is (Demucs rescales float too;
 * here --float means "the stem exactly as separated").
 *
 * Whichever the mode, a stem that is changed or clipped is reported (a
 * ClipReport: how many samples were over full scale, the peak, the gain), so
 * the command line can warn and a page can show it: samples outside [−1, 1],
 * and also the quiet changes of Demucs' rules, rescale's 1 % headroom for a
 * peak just under full scale and clamp's limit of ±0.99. Browser-safe.
 */

export type ClipMode = 'rescale' | 'clamp' | 'none';

export const CLIP_MODES: readonly ClipMode[] = ['rescale', 'clamp', 'none'];

/** Demucs' default. */
export const DEFAULT_CLIP_MODE: ClipMode = 'rescale';

/** Demucs' limit for clamp: 1 % under full scale. */
export const CLAMP_LIMIT = 0.99;

/** Demucs' rescale divides by 1.01 × the peak: the loudest sample ends 1 % under full scale. */
const RESCALE_HEADROOM = 1.01;

/** A stem that went over full scale, and what was done about it. */
export interface ClipReport {
  /** The stem (or file) name: vocals, drums, mix, ... */
  name: string;
  /** Samples (all channels) outside [−1, 1] in the stem as separated. */
  clipped: number;
  /** Samples beyond ±CLAMP_LIMIT: what clamp changes (clipped ones included). */
  overClampLimit: number;
  /** Samples in the stem (all channels). */
  samples: number;
  /** Largest |sample| as separated (linear; > 1). */
  peak: number;
  mode: ClipMode;
  /** What the stem was multiplied by (rescale); 1 for clamp and none. */
  gain: number;
}

/** Peak and over-full-scale count of a stem, fed block by block. */
export class ClipMeter {
  peak = 0;
  clipped = 0;
  overClampLimit = 0;
  samples = 0;

  add(planar: readonly Float32Array[], start: number, frames: number): void {
    let peak = this.peak;
    let clipped = 0;
    let over = 0;
    for (const ch of planar) {
      for (let i = start; i < start + frames; i++) {
        const a = Math.abs(ch[i]);
        if (a > peak) peak = a;
        if (a > CLAMP_LIMIT) {
          over++;
          if (a > 1) clipped++;
        }
      }
    }
    this.peak = peak;
    this.clipped += clipped;
    this.overClampLimit += over;
    this.samples += planar.length * frames;
  }

  /** The report for stem `name`, or undefined when `mode` leaves it exactly as separated and nothing clips. */
  report(name: string, mode: ClipMode): ClipReport | undefined {
    const gain = mode === 'rescale' ? rescaleGain(this.peak) : 1;
    const changed = mode === 'rescale' ? gain < 1 : mode === 'clamp' ? this.overClampLimit > 0 : false;
    if (this.clipped === 0 && !changed) return undefined;
    return { name, clipped: this.clipped, overClampLimit: this.overClampLimit, samples: this.samples, peak: this.peak, mode, gain };
  }
}

/** Demucs' rescale: 1 / max(1.01 × peak, 1) (1 when the peak is at most 1/1.01). */
export function rescaleGain(peak: number): number {
  return 1 / Math.max(RESCALE_HEADROOM * peak, 1);
}

/**
 * Frames [start, start + frames) of `planar` with the mode applied, into
 * out[c][0 ...]: × `gain` for rescale (from rescaleGain of the whole stem's
 * peak), limited to ±CLAMP_LIMIT for clamp, copied for none.
 */
export function applyClipMode(mode: ClipMode, gain: number, planar: readonly Float32Array[], start: number, frames: number, out: Float32Array[]): void {
  planar.forEach((ch, c) => {
    const dst = out[c];
    if (mode === 'rescale') {
      for (let i = 0; i < frames; i++) dst[i] = ch[start + i] * gain;
    } else if (mode === 'clamp') {
      for (let i = 0; i < frames; i++) {
        const x = ch[start + i];
        dst[i] = x > CLAMP_LIMIT ? CLAMP_LIMIT : x < -CLAMP_LIMIT ? -CLAMP_LIMIT : x;
      }
    } else {
      dst.set(ch.subarray(start, start + frames));
    }
  });
}

function db(x: number): string {
  const v = 20 * Math.log10(x);
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(2)}`;
}

/**
 * One line for a report: `vocals: 1234 samples over full scale (peak +3.10 dBFS); rescaled by −4.19 dB so that none clips (--clip-mode rescale)`.
 * `bits`: the integer format written (16 or 24).
 */
export function describeClip(r: ClipReport, bits: number): string {
  if (r.clipped === 0) {
    // Nothing over full scale: only Demucs' headroom rules changed the stem, by less than 0.09 dB.
    const near = `${r.name}: peak ${db(r.peak)} dBFS, within 1 % of full scale`;
    if (r.mode === 'rescale') return `${near}; rescaled by ${db(r.gain)} dB as Demucs does (--clip-mode rescale)`;
    return `${near}; ${r.overClampLimit} sample${r.overClampLimit === 1 ? '' : 's'} clamped to ±${CLAMP_LIMIT} (--clip-mode clamp)`;
  }
  const what = `${r.name}: ${r.clipped} sample${r.clipped === 1 ? '' : 's'} over full scale (peak ${db(r.peak)} dBFS)`;
  if (r.mode === 'rescale') return `${what}; rescaled by ${db(r.gain)} dB so that none clips (--clip-mode rescale)`;
  if (r.mode === 'clamp') return `${what}; clamped to ±${CLAMP_LIMIT} (--clip-mode clamp)`;
  return `${what} clipped in the ${bits}-bit file (--clip-mode none); --clip-mode rescale or float output keep them`;
}

/** The reports of an export in one sentence for a page ('' when there are none); `bits` as describeClip. */
export function describeClipping(reports: readonly ClipReport[], bits: number): string {
  return reports.map((r) => describeClip(r, bits)).join('; ');
}
