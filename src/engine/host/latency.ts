/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * The declared latency of the real-time engine (docs/ARCHITECTURE.md §6), one formula for the
 * Node harness and the browser engine. No thread or platform dependency.
 */
import { StemstreamError } from '../../errors.js';
import { segmentStride } from '../../separate/segmentation.js';
import { coreLookahead } from '../../realtime/ramp.js';

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

/** What the declared latency depends on. */
export interface LatencyGeometry {
  sourceKind: 'live' | 'track';
  segmentSamples: number;
  overlap: number;
  /** Low-latency mode (frames); quality mode when absent. */
  lowLatency?: { hop: number; lookahead: number };
  computeMarginFrames?: number;
  rampFrames?: number;
}

/**
 * The one latency every part declares (StemEngine, the Node harness, the demo's
 * display): a track plays at latency 0 (its stems are computed ahead of the
 * playhead); live input at the quality or low-latency formula above.
 */
export function declaredLatency(g: LatencyGeometry): number {
  if (g.sourceKind === 'track') return 0;
  return g.lowLatency
    ? lowLatencyLatency(g.lowLatency.hop, g.lowLatency.lookahead, g.computeMarginFrames, g.rampFrames)
    : qualityLatency(g.segmentSamples, g.overlap, g.computeMarginFrames, g.rampFrames);
}
