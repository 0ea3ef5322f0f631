/**
 * The declared latency of the real-time engine (docs/ARCHITECTURE.md §6), one formula for the
 * Node harness and the browser engine. No thread or platform dependency.
 */
import { StemstreamError } from '../errors.js';
import { segmentStride } from '../separate/segmentation.js';
import { coreLookahead } from '../realtime/ramp.js';

/**
 * Quality mode's declared latency: a segment plus the compute margin (default
 * one stride). The margin must cover at least the audio thread's look-ahead
 * (coreLookahead: its crossfade look-ahead and a quantum): the stems of frame t need input up to t + N, and the audio thread
 * wants them that much before it plays t (below it, no clock could ever wait
 * long enough: src/node/node-harness.ts, "Why the as-fast-as-possible clock cannot deadlock").
 */
export function qualityLatency(segmentSamples: number, overlap: number, computeMarginFrames?: number, rampFrames?: number): number {
  const margin = computeMarginFrames ?? segmentStride(segmentSamples, overlap);
  const least = coreLookahead(rampFrames);
  if (!(margin >= least)) {
    throw new StemstreamError('BAD_OPTION', `the compute margin must be at least ${least} frames (the audio thread's look-ahead and a quantum), got ${margin}`);
  }
  return segmentSamples + margin;
}

/** Low-latency mode's declared latency: hop + lookahead + the compute margin
 *  (default one hop) + the audio thread's look-ahead. */
export function lowLatencyLatency(hop: number, lookahead: number, computeMarginFrames?: number, rampFrames?: number): number {
  return hop + lookahead + (computeMarginFrames ?? hop) + coreLookahead(rampFrames);
}
