/**
 * What the main thread tells the audio thread's processor
 * (worklets/stem-out-processor.ts): its construction options and the messages
 * on its port. Shared here so that neither side imports the other.
 */
import type { SharedStateBuffers } from './shared-state.js';
import type { TrackBuffers } from './track-state.js';

export const STEM_OUT_PROCESSOR_NAME = 'stemstream-stem-out';

export interface StemOutProcessorOptions {
  buffers: SharedStateBuffers;
  latencyFrames: number;
  rampFrames?: number;
  /** 'live' (default): separate the input; 'track': play tracks loaded through the port. */
  sourceKind?: 'live' | 'track';
}

/** Messages to the processor's port. */
export type ToStemOutProcessor = { type: 'stop' } | { type: 'track'; track: TrackBuffers };
