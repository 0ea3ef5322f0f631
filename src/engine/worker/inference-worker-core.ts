/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The inference worker's body, shared by the Node worker (worker_threads,
 * inference-worker-node.ts) and the browser worker (a module Web Worker,
 * inference-worker-web.ts): a dispatcher of the ToWorker messages over a model
 * slot (worker/model-slot.ts) and one session, live (worker/live-session.ts)
 * or track (worker/track-session.ts). Each host only supplies how to post a
 * message and how to load a model.
 *
 * Faults. Every session.run is raced against the watchdog's limit and the GPU
 * device's loss (worker/run-guard.ts); a run that throws, times out or loses
 * its device falls back to the next execution provider (backend-pool.ts), or
 * else the session's loop ends cleanly and the worker answers with a fatal
 * typed error (INFERENCE_FAILED, INFERENCE_TIMEOUT, DEVICE_LOST), so that the
 * main thread starts a fresh worker (WorkerSupervisor). The worker beats a
 * heartbeat in the control block and publishes its stream positions there
 * (CTRL.WORKER_*), which is what lets a fresh worker, started with `resume`,
 * go on from where this one stopped, at the same latency.
 */
import { StemstreamError } from '../../errors.js';
import type { SeparationModel } from '../../model/model.js';
import { attachSharedState } from '../../realtime/shared-state.js';
import { segmentStride } from '../../separate/segmentation.js';
import { NO_WORKER_STATS, type FromWorker, type ToWorker, type WorkerInitOptions } from '../protocol.js';
import { LiveSession } from './live-session.js';
import { ModelSlot } from './model-slot.js';
import { Liveness, type GuardHost } from './run-guard.js';
import type { WorkerSession } from './session.js';
import { TrackSession } from './track-session.js';

export interface InferenceWorkerHost extends GuardHost {
  post(message: FromWorker): void;
  /** Loads the model the init message carries, with the host's runtime. */
  loadModel(bytes: Uint8Array, options: WorkerInitOptions): Promise<SeparationModel>;
}

/** Returns the handler for the messages the main thread sends. */
export function createInferenceWorker(host: InferenceWorkerHost): (msg: ToWorker) => void {
  const { post } = host;
  const live = new Liveness();
  let session: WorkerSession | undefined;
  const slot = new ModelSlot(host, live, post, () => session?.stats() ?? { ...NO_WORKER_STATS, ...slot.backendStats() });
  let initOptions: WorkerInitOptions | undefined;
  /** The model generation: bumped by a swap and by each track loaded. */
  let generation = 0;
  const ended = () => live.stop();

  const track = (): TrackSession => {
    if (session?.kind !== 'track') throw new StemstreamError('BAD_OPTION', 'load-track and export need a worker started with input: track');
    return session as TrackSession;
  };

  async function init(msg: Extract<ToWorker, { type: 'init' }>): Promise<void> {
    initOptions = msg.options;
    // The control block first: the heartbeat and the busy phases cover the model load.
    const state = attachSharedState(msg.buffers);
    live.start(state.controlI32, msg.options.watchdog);
    const m = await slot.loadInit(msg.model, msg.options);
    if (msg.options.sourceKind === 'track') {
      session = new TrackSession(slot, live, msg.options, post, ended);
      post({ type: 'ready', id: msg.id, sources: m.info.sources, segmentSamples: m.info.segmentSamples, stride: segmentStride(m.info.segmentSamples, msg.options.overlap), sampleRate: m.info.sampleRate, runtime: m.runtime.name });
      return;
    }
    session = await LiveSession.start(slot, m, state, msg.buffers, msg.options, msg.id, post, ended);
  }

  async function swap(msg: Extract<ToWorker, { type: 'swap-model' }>): Promise<void> {
    if (!initOptions) throw new StemstreamError('BAD_OPTION', 'swap-model before init');
    const next = await slot.loadSwap(msg.model, initOptions);
    generation++;
    const replaced = session ? await session.swapModel(next, generation) : slot.model;
    slot.model = next;
    await replaced?.dispose().catch(() => undefined);
    post({ type: 'model-swapped', id: msg.id, generation, sources: next.info.sources });
  }

  return (msg: ToWorker) => {
    const fail = (err: unknown) => {
      const code = err instanceof StemstreamError ? err.code : 'RUN_FAILED';
      post({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) });
    };
    try {
      switch (msg.type) {
        case 'init':
          init(msg).catch(fail);
          break;
        case 'load-track': {
          const g = msg.generation ?? generation + 1;
          track().loadTrack(msg, g);
          generation = g;
          break;
        }
        case 'swap-model':
          swap(msg).catch(fail);
          break;
        case 'export':
          track().exportStems(msg);
          break;
        case 'end-of-input':
          if (session?.kind !== 'live') throw new StemstreamError('BAD_OPTION', 'end-of-input needs a live worker after init');
          (session as LiveSession).endOfInput(msg.frames);
          break;
        case 'stop':
          if (session) session.stop(msg.id);
          else {
            ended();
            post({ type: 'stopped', id: msg.id, stats: { ...NO_WORKER_STATS } });
          }
          break;
        default: {
          const never: never = msg;
          void never;
        }
      }
    } catch (err) {
      fail(err);
    }
  };
}
