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
 */
import { attachSharedState, type SharedStateBuffers } from '../src/engine/shared-layout.js';
import { StemOutCore } from './stem-out-core.js';

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
}

interface StemOutProcessorNodeOptions {
  processorOptions: StemOutProcessorOptions;
}

const NO_INPUT: Float32Array[] = [];

class StemOutProcessor extends AudioWorkletProcessor {
  private readonly core: StemOutCore;
  private running = true;

  constructor(options: StemOutProcessorNodeOptions) {
    super(options);
    const { buffers, latencyFrames, rampFrames } = options.processorOptions;
    const sharedState = attachSharedState(buffers);
    this.core = new StemOutCore({
      sharedState,
      channels: sharedState.channels,
      sources: sharedState.sources,
      latencyFrames,
      rampFrames,
      sampleRate,
    });
    this.port.onmessage = (event: MessageEvent) => {
      const data = event.data as { type?: string } | null;
      if (data !== null && data.type === 'stop') this.running = false;
    };
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    if (!this.running) return false;
    const input = inputs.length > 0 ? inputs[0] : NO_INPUT;
    this.core.process(input, outputs[0], outputs, 1);
    return true;
  }
}

registerProcessor('stemstream-stem-out', StemOutProcessor);
