/**
 * The declared latency of the real-time engine (docs/ARCHITECTURE.md §6), one formula for the
 * Node harness and the browser engine. No thread or platform dependency.
 */
import { RENDER_QUANTUM } from '../constants.js';
import { StemstreamError } from '../errors.js';
import { segmentStride } from '../separate/segmentation.js';
import { DEFAULT_RAMP_FRAMES } from '../../worklets/stem-out-core.js';

/**
 * Quality mode's declared latency: a segment plus the compute margin (default
 * one stride). The margin must cover at least the audio thread's look-ahead
 * (coreLookahead: its crossfade look-ahead and a quantum): the stems of frame t need input up to t + N, and the audio thread
 * wants them that much before it plays t (below it, no clock could ever wait
 * long enough: node-harness.ts, "Why the as-fast-as-possible clock cannot deadlock").
 */
export function qualityLatency(segmentSamples: number, overlap: number, computeMarginFrames?: number, rampFrames?: number): number {
  const margin = computeMarginFrames ?? segmentStride(segmentSamples, overlap);
  const least = coreLookahead(rampFrames);
  if (!(margin >= least)) {
    throw new StemstreamError('BAD_OPTION', `the compute margin must be at least ${least} frames (the audio thread's look-ahead and a quantum), got ${margin}`);
  }
  return segmentSamples + margin;
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
