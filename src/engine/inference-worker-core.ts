/**
 * The inference worker's body, shared by the Node worker (worker_threads,
 * inference-worker-node.ts) and the browser worker (a module Web Worker,
 * inference-worker-web.ts): answers the ToWorker messages and pumps the input
 * ring through the stream separator into the stem ring until told to stop or
 * the declared input has all come out. Each host only supplies how to post a
 * message and how to load a model.
 */
import { StemstreamError } from '../errors.js';
import type { SeparationModel } from '../model/model.js';
import { InferenceLoop } from './inference-loop.js';
import { InputRingPort, StemRingPort } from './ring-ports.js';
import { TrackInputPort } from './track-port.js';
import { attachSharedState, stemDeadline, type FrameRing, type SharedState } from './shared-layout.js';
import { StreamSeparator } from './stream-separator.js';
import { NO_WORKER_STATS, type FromWorker, type ToWorker, type WorkerInitOptions, type WorkerStats } from './worker-protocol.js';

export interface InferenceWorkerHost {
  post(message: FromWorker): void;
  /** Loads the model the init message carries, with the host's runtime. */
  loadModel(bytes: Uint8Array, options: WorkerInitOptions): Promise<SeparationModel>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Returns the handler for the messages the main thread sends. */
export function createInferenceWorker(host: InferenceWorkerHost): (msg: ToWorker) => void {
  const { post } = host;
  let model: SeparationModel | undefined;
  let separator: StreamSeparator | undefined;
  let loop: InferenceLoop | undefined;
  let stopRequest: number | undefined;
  let running = false;
  let doneSent = false;
  let stemRing: FrameRing | undefined;
  let shared: SharedState | undefined;

  /** The loop's counters plus what the main thread shows: backend, real-time factor, seconds ready ahead. */
  function snapshot(): WorkerStats {
    if (!loop || !separator || !model) return { ...NO_WORKER_STATS };
    const rate = model.info.sampleRate;
    const ahead = shared ? loop.stats.framesOut - stemDeadline(shared) : 0;
    return {
      ...loop.stats,
      backend: `${model.runtime.name}/${model.runtime.executionProviders.join('+')}`,
      realTimeFactor: loop.stats.lastRunMs / ((separator.stride / rate) * 1000),
      readyAheadSeconds: Math.max(0, ahead) / rate,
    };
  }

  async function run(): Promise<void> {
    running = true;
    while (loop && separator) {
      if (stopRequest !== undefined) {
        // Release the session before saying so: the main thread may terminate this thread next.
        const stats = snapshot();
        await model?.dispose();
        model = undefined;
        post({ type: 'stopped', id: stopRequest, stats });
        break;
      }
      if (doneSent) {
        // Past the end of the input the stems are silence: keep the audio thread
        // fed so it never fades to dry or counts an underrun after the last frame.
        if (!stemRing || stemRing.writeZeros(stemRing.availableWrite()) === 0) await sleep(1);
        continue;
      }
      const r = await loop.pump();
      if (r === 'ran') post({ type: 'segment', stats: snapshot() });
      if (separator.ended && loop.stats.framesOut >= separator.framesIn) {
        post({ type: 'done', id: 0, stats: snapshot() });
        doneSent = true;
        continue;
      }
      if (r === 'idle') await sleep(1);
    }
    running = false;
    await model?.dispose();
    model = undefined;
  }

  return (msg: ToWorker) => {
    const fail = (err: unknown) => {
      const code = err instanceof StemstreamError ? err.code : 'INTERNAL';
      post({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) });
    };
    switch (msg.type) {
      case 'init':
        (async () => {
          const m = await host.loadModel(msg.model, msg.options);
          if (msg.options.extraRunMs) {
            const runSession = m.session.run.bind(m.session);
            const extra = msg.options.extraRunMs;
            (m.session as { run: typeof runSession }).run = async (feeds, outputs) => {
              await sleep(extra);
              return runSession(feeds, outputs);
            };
          }
          model = m;
          const state = attachSharedState(msg.buffers);
          stemRing = state.stemRing;
          shared = state;
          const length = msg.options.track ? msg.options.track[0].length : msg.options.length;
          separator = new StreamSeparator(m, { overlap: msg.options.overlap, normalization: msg.options.normalization, length, lowLatency: msg.options.lowLatency });
          const input = msg.options.track ? new TrackInputPort(msg.options.track) : new InputRingPort(state.inputRing);
          loop = new InferenceLoop(separator, input, new StemRingPort(state.stemRing));
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
        if (!running) post({ type: 'stopped', id: msg.id, stats: snapshot() });
        break;
      default: {
        const never: never = msg;
        void never;
      }
    }
  };
}
