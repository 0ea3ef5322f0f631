/**
 * The inference worker for Node (worker_threads): loads the model, then pumps
 * the input ring through the stream separator into the stem ring until told
 * to stop or the declared input has all come out.
 */
import { parentPort } from 'node:worker_threads';
import { StemstreamError } from '../errors.js';
import { loadModel, type SeparationModel } from '../model/model.js';
import { InferenceLoop } from './inference-loop.js';
import { InputRingPort, StemRingPort } from './ring-ports.js';
import { attachSharedState, type FrameRing } from './shared-layout.js';
import { StreamSeparator } from './stream-separator.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker-node must run in a worker thread');
const post = (m: FromWorker) => port.postMessage(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let model: SeparationModel | undefined;
let separator: StreamSeparator | undefined;
let loop: InferenceLoop | undefined;
let stopRequest: number | undefined;
let running = false;
let doneSent = false;
let stemRing: FrameRing | undefined;

async function run(): Promise<void> {
  running = true;
  while (loop && separator) {
    if (stopRequest !== undefined) {
      // Release the session before saying so: the main thread may terminate this thread next.
      await model?.dispose();
      model = undefined;
      post({ type: 'stopped', id: stopRequest, stats: { ...loop.stats } });
      break;
    }
    if (doneSent) {
      // Past the end of the input the stems are silence: keep the audio thread
      // fed so it never fades to dry or counts an underrun after the last frame.
      if (!stemRing || stemRing.writeZeros(stemRing.availableWrite()) === 0) await sleep(1);
      continue;
    }
    const r = await loop.pump();
    if (r === 'ran') post({ type: 'segment', stats: { ...loop.stats } });
    if (separator.ended && loop.stats.framesOut >= separator.framesIn) {
      post({ type: 'done', id: 0, stats: { ...loop.stats } });
      doneSent = true;
      continue;
    }
    if (r === 'idle') await sleep(1);
  }
  running = false;
  await model?.dispose();
  model = undefined;
}

port.on('message', (msg: ToWorker) => {
  const fail = (err: unknown) => {
    const code = err instanceof StemstreamError ? err.code : 'INTERNAL';
    post({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) });
  };
  switch (msg.type) {
    case 'init':
      (async () => {
        const m = await loadModel(msg.model, { runtime: msg.options.runtime, threads: msg.options.threads });
        if (msg.options.extraRunMs) {
          const run = m.session.run.bind(m.session);
          const extra = msg.options.extraRunMs;
          (m.session as { run: typeof run }).run = async (feeds, outputs) => {
            await sleep(extra);
            return run(feeds, outputs);
          };
        }
        model = m;
        const state = attachSharedState(msg.buffers);
        stemRing = state.stemRing;
        separator = new StreamSeparator(m, { overlap: msg.options.overlap, normalization: msg.options.normalization, length: msg.options.length, lowLatency: msg.options.lowLatency });
        loop = new InferenceLoop(separator, new InputRingPort(state.inputRing), new StemRingPort(state.stemRing));
        post({ type: 'ready', id: msg.id, sources: m.info.sources, segmentSamples: separator.segment, stride: separator.stride, sampleRate: m.info.sampleRate, runtime: m.runtime.name });
        void run().catch((err) => post({ type: 'error', id: -1, code: 'INTERNAL', message: (err as Error).message }));
      })().catch(fail);
      break;
    case 'end-of-input':
      try {
        if (!separator) throw new StemstreamError('BAD_OPTION', 'end-of-input before init');
        // Frames captured after the stop are not the stream's, unless already taken in.
        separator.setLength(Math.max(msg.frames, separator.framesIn));
      } catch (err) {
        fail(err);
      }
      break;
    case 'stop':
      stopRequest = msg.id;
      if (!running) post({ type: 'stopped', id: msg.id, stats: loop ? { ...loop.stats } : { segments: 0, lastRunMs: 0, runMsTotal: 0, framesIn: 0, framesOut: 0 } });
      break;
    default: {
      const never: never = msg;
      void never;
    }
  }
});
