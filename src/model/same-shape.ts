/**
 * Whether two models can stand in for each other in one engine or one set:
 * the same stems in the same order, channels, segment length and sample rate.
 * The one check behind model swaps (live and track), the members of a model
 * set, and the worker's swap.
 */
import { StemstreamError } from '../errors.js';

export interface ModelShape {
  name?: string;
  sources: readonly string[];
  channels: number;
  segmentSamples: number;
  sampleRate: number;
}

function describe(m: ModelShape): string {
  return `${m.name ? `${m.name}: ` : ''}${m.sources.join(', ')}; ${m.channels} channels; segment ${m.segmentSamples} at ${m.sampleRate} Hz`;
}

export function sameShape(a: ModelShape, b: ModelShape): boolean {
  return a.sources.join('\0') === b.sources.join('\0') && a.channels === b.channels && a.segmentSamples === b.segmentSamples && a.sampleRate === b.sampleRate;
}

/**
 * Throws BAD_OPTION when `next` cannot replace (or join) `old`. `what` says
 * which: e.g. 'a model swap', 'the models of a set'.
 */
export function assertSameShape(next: ModelShape, old: ModelShape, what: string, fix = 'create another engine'): void {
  if (!sameShape(next, old)) {
    throw new StemstreamError('BAD_OPTION', `${what} needs the same stems, channels, segment and sample rate: (${describe(next)}) does not match (${describe(old)}); ${fix}`);
  }
}
