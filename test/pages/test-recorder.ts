/**
 * Test pages only: a recorder on the audio thread that keeps channel 0 of each
 * of its inputs in a SharedArrayBuffer, from its first quantum on. The processor
 * is plain JS (no imports), so it loads from a Blob URL in any build.
 */
const PROCESSOR = 'stemstream-test-recorder';
const SOURCE = `
registerProcessor('${PROCESSOR}', class extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { sab, frames, inputs } = options.processorOptions;
    this.head = new Int32Array(sab, 0, 1);
    this.data = new Float32Array(sab, 4);
    this.frames = frames;
    this.inputsN = inputs;
  }
  process(inputs) {
    const at = this.head[0];
    if (at >= this.frames) return true;
    const n = Math.min(128, this.frames - at);
    for (let i = 0; i < this.inputsN; i++) {
      const ch = inputs[i] && inputs[i][0];
      if (ch) this.data.set(n === 128 ? ch : ch.subarray(0, n), i * this.frames + at);
    }
    Atomics.store(this.head, 0, at + n);
    return true;
  }
});`;

export interface TestRecorder {
  node: AudioWorkletNode;
  /** Frames recorded so far (per input). */
  head: Int32Array;
  /** Input i's frames at [i·frames, (i + 1)·frames). */
  data: Float32Array;
}

/** Adds the recorder (connected to a silent sink so that it runs) with `inputs` inputs of `frames` frames each. */
export async function createTestRecorder(ctx: AudioContext, inputs: number, frames: number): Promise<TestRecorder> {
  const sab = new SharedArrayBuffer(4 + inputs * frames * 4);
  const url = URL.createObjectURL(new Blob([SOURCE], { type: 'text/javascript' }));
  await ctx.audioWorklet.addModule(url);
  URL.revokeObjectURL(url);
  const node = new AudioWorkletNode(ctx, PROCESSOR, {
    numberOfInputs: inputs,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    channelCount: 2,
    channelCountMode: 'explicit',
    processorOptions: { sab, frames, inputs },
  });
  node.connect(new GainNode(ctx, { gain: 0 })).connect(ctx.destination);
  return { node, head: new Int32Array(sab, 0, 1), data: new Float32Array(sab, 4) };
}
