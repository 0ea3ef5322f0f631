/**
 * The audio thread's ramps (docs/ARCHITECTURE.md §6): one length for the gain ramps, the
 * transport fades and the dry/wet crossfade, the look-ahead that crossfade
 * needs, and the one step both cores (StemOutCore live, TrackPlayerCore track)
 * move their wet position by. No allocation; safe on the audio thread.
 */
import { RENDER_QUANTUM } from '../constants.js';

/** Default ramp length, frames (512: 11.6 ms at 44.1 kHz). */
export const DEFAULT_RAMP_FRAMES = RENDER_QUANTUM * 4;

/**
 * How far ahead of the frame being played the stems must be ready before the
 * crossfade heads to wet: the ramp rounded up to whole quanta, so that a fade
 * back to dry always has stems to fade with.
 */
export function rampLookahead(rampFrames: number = DEFAULT_RAMP_FRAMES): number {
  return Math.ceil(rampFrames / RENDER_QUANTUM) * RENDER_QUANTUM;
}

/** The audio thread wants stems this far ahead of playing them: its crossfade look-ahead plus a quantum. */
export function coreLookahead(rampFrames: number = DEFAULT_RAMP_FRAMES): number {
  return rampLookahead(rampFrames) + RENDER_QUANTUM;
}

/**
 * One frame of a ramp position p ∈ [0, R] toward its goal (0 or R): the wet
 * share is p / R, exactly 0 and exactly 1 at the ends.
 */
export function stepToward(p: number, goal: number): number {
  return p < goal ? p + 1 : p > goal ? p - 1 : p;
}
