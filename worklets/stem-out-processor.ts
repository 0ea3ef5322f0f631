/**
 * AudioWorkletProcessor 'stemstream-stem-out': the audio-thread stage of the
 * real-time engine, a thin shell around StemOutCore (stem-out-core.ts, where the
 * logic and its real-time rules are). Runs on the audio thread; process()
 * allocates nothing, logs nothing, posts nothing, never waits.
 *
 * Create it on the main thread with:
 *   new AudioWorkletNode(context, 'stemstream-stem-out', {
 *     numberOfInputs: 1,
 *     numberOfOutputs: 1 + S,                 // output 0: the mix; output 1 + s: stem s
 *     outputChannelCount: Array(1 + S).fill(C),
 *     channelCount: C, channelCountMode: 'explicit', channelInterpretation: 'speakers',
 *     processorOptions: { buffers: state.buffers, latencyFrames, rampFrames },
 *   });
 * where `state = createSharedState({ channels: C, sources: S })`. Message
 * `{ type: 'stop' }` on the node's port ends the processor (process() returns false).
 *
 * Track input (`processorOptions.input = 'track'`): the processor plays a track
 * from shared memory (TrackPlayerCore, track-player-core.ts) instead of its
 * input; `{ type: 'track', track }` on the port loads one (the core is built in
 * the message handler, never in process()); until then it outputs silence.
 */
import { attachSharedState, type SharedState, type SharedStateBuffers } from '../src/engine/shared-layout.js';
import { attachTrackState, type TrackBuffers } from '../src/engine/track-layout.js';
import { StemOutCore } from './stem-out-core.js';
import { TrackPlayerCore } from './track-player-core.js';

// The AudioWorkletGlobalScope, declared here rather than pulled from a lib that
// would clash with the DOM/Node typings of the rest of the project.
declare const sampleRate: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: unknown);
}
declare function registerProcessor(
  name: string,
  processorCtor: new (options: StemOutProcessorNodeOptions) => AudioWorkletProcessor,
): void;

export interface StemOutProcessorOptions {
  buffers: SharedStateBuffers;
  latencyFrames: number;
  rampFrames?: number;
  /** 'live' (default): separate the input; 'track': play tracks loaded through the port. */
  input?: 'live' | 'track';
}

/** Messages to the processor's port. */
export type ToStemOutProcessor = { type: 'stop' } | { type: 'track'; track: TrackBuffers };

interface StemOutProcessorNodeOptions {
  processorOptions: StemOutProcessorOptions;
}

const NO_INPUT: Float32Array[] = [];

class StemOutProcessor extends AudioWorkletProcessor {
  private readonly core: StemOutCore | null;
  private player: TrackPlayerCore | null = null;
  private readonly shared: SharedState;
  private readonly rampFrames: number | undefined;
  private running = true;

  constructor(options: StemOutProcessorNodeOptions) {
    super(options);
    const { buffers, latencyFrames, rampFrames, input } = options.processorOptions;
    const sharedState = attachSharedState(buffers);
    this.shared = sharedState;
    this.rampFrames = rampFrames;
    this.core = input === 'track'
      ? null
      : new StemOutCore({ sharedState, channels: sharedState.channels, sources: sharedState.sources, latencyFrames, rampFrames, sampleRate });
    this.port.onmessage = (event: MessageEvent) => {
      const data = event.data as ToStemOutProcessor | null;
      if (data === null || typeof data !== 'object') return;
      if (data.type === 'stop') this.running = false;
      else if (data.type === 'track') {
        this.player = new TrackPlayerCore({ sharedState: this.shared, track: attachTrackState(data.track), rampFrames: this.rampFrames, sampleRate });
      }
    };
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    if (!this.running) return false;
    if (this.core !== null) {
      const input = inputs.length > 0 ? inputs[0] : NO_INPUT;
      this.core.process(input, outputs[0], outputs, 1);
    } else if (this.player !== null) {
      this.player.process(outputs[0], outputs, 1);
    }
    // else: no track yet; the outputs stay silent (Web Audio zeroes them).
    return true;
  }
}

registerProcessor('stemstream-stem-out', StemOutProcessor);
