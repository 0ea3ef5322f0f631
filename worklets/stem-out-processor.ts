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
 * Track input (`processorOptions.sourceKind = 'track'`): the processor plays a track
 * from shared memory (TrackPlayerCore, track-player-core.ts) instead of its
 * input; `{ type: 'track', track }` on the port attaches one (the player is
 * built with the processor; the handler only makes the track's views); until
 * then it outputs silence.
 */
import type { StemOutProcessorOptions, ToStemOutProcessor } from '../src/realtime/processor-messages.js';
import { STEM_OUT_PROCESSOR_NAME } from '../src/realtime/processor-messages.js';
import { attachSharedState } from '../src/realtime/shared-state.js';
import { attachTrackState } from '../src/realtime/track-state.js';
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


interface StemOutProcessorNodeOptions {
  processorOptions: StemOutProcessorOptions;
}

const NO_INPUT: Float32Array[] = [];

class StemOutProcessor extends AudioWorkletProcessor {
  private readonly core: StemOutCore | null;
  private readonly player: TrackPlayerCore | null;
  private running = true;

  constructor(options: StemOutProcessorNodeOptions) {
    super(options);
    const { buffers, latencyFrames, rampFrames, sourceKind } = options.processorOptions;
    const sharedState = attachSharedState(buffers);
    // Both cores are built here, with the node: everything they allocate is allocated before the first quantum.
    this.core = sourceKind === 'track'
      ? null
      : new StemOutCore({ sharedState, channels: sharedState.channels, sources: sharedState.sources, latencyFrames, rampFrames, sampleRate });
    this.player = sourceKind === 'track' ? new TrackPlayerCore({ sharedState, rampFrames, sampleRate }) : null;
    this.port.onmessage = (event: MessageEvent) => {
      const data = event.data as ToStemOutProcessor | null;
      if (data === null || typeof data !== 'object') return;
      if (data.type === 'stop') this.running = false;
      // A new track: only its views are made here (its memory came from the main thread).
      else if (data.type === 'track') this.player?.setTrack(attachTrackState(data.track));
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
    // (A player with no track yet outputs silence.)
    return true;
  }
}

registerProcessor(STEM_OUT_PROCESSOR_NAME, StemOutProcessor);
