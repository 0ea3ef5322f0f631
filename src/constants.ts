/**
 * The numbers every stage agrees on, in one place.
 * HT-Demucs' spectrogram: n_fft 4096, hop 1024, Hann, normalized, centre/reflect.
 */
export const NFFT = 4096;
export const HOP = 1024;
/** Frequency bins the model sees: NFFT / 2, the Nyquist bin is dropped. */
export const BINS = NFFT / 2;
/** Demucs' extra reflect padding around a segment: hop / 2 * 3 (not 384). */
export const SPEC_PAD = (HOP / 2) * 3;
/** Web Audio's render quantum, in frames. */
export const RENDER_QUANTUM = 128;
/** Demucs' default overlap between segments. */
export const DEFAULT_OVERLAP = 0.25;
/** Largest random shift of Demucs' `shifts` trick, in seconds. */
export const MAX_SHIFT_SECONDS = 0.5;
/** Source names when a model carries none: Demucs' order. */
export const DEFAULT_SOURCES_4 = ['drums', 'bass', 'other', 'vocals'] as const;
export const DEFAULT_SOURCES_6 = ['drums', 'bass', 'other', 'vocals', 'guitar', 'piano'] as const;

/** Frames of a segment of `n` samples: ceil(n / hop). */
export function framesFor(n: number): number {
  return Math.ceil(n / HOP);
}
