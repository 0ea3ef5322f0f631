/**
 * The declared latency of the real-time engine (DESIGN §6), one formula for the
 * Node harness and the browser engine. No thread or platform dependency.
 */
import { RENDER_QUANTUM } from '../constants.js';
import { segmentStride } from '../separate/segmentation.js';
import { DEFAULT_RAMP_FRAMES } from '../../worklets/stem-out-core.js';

/** Quality mode's declared latency: a segment plus the compute margin (default one stride). */
export function qualityLatency(segmentSamples: number, overlap: number, computeMarginFrames?: number): number {
  return segmentSamples + (computeMarginFrames ?? segmentStride(segmentSamples, overlap));
}

/** The audio thread wants stems this far ahead of playing them: its crossfade
 *  look-ahead (the ramp rounded up to whole quanta) plus a quantum. */
export function coreLookahead(rampFrames = DEFAULT_RAMP_FRAMES): number {
  return Math.ceil(rampFrames / RENDER_QUANTUM) * RENDER_QUANTUM + RENDER_QUANTUM;
}

/** Low-latency mode's declared latency: hop + lookahead + the compute margin
 *  (default one hop) + the audio thread's look-ahead. */
export function lowLatencyLatency(hop: number, lookahead: number, computeMarginFrames?: number, rampFrames?: number): number {
  return hop + lookahead + (computeMarginFrames ?? hop) + coreLookahead(rampFrames);
}
