/**
 * The inference worker's body, shared by the Node worker (worker_threads,
 * inference-worker-node.ts) and the browser worker (a module Web Worker,
 * inference-worker-web.ts): answers the ToWorker messages and pumps the input
 * ring through the stream separator into the stem ring until told to stop or
 * the declared input has all come out. Each host only supplies how to post a
 * message and how to load a model.
 */
import { StemstreamError } from '../errors.js';
import { exportStems, type StemExportFormat } from '../export/stems-export.js';
import type { SeparationModel } from '../model/model.js';
import { trackStats } from '../separate/normalize.js';
import { segmentStride } from '../separate/segmentation.js';
import { withBackendFallback } from './backend-fallback.js';
import { SetSegmentRunner } from '../separate/set-runner.js';
import { TRACK, allReady, attachTrackState, readyAhead, type TrackState } from './track-layout.js';
import { TrackRenderer } from './track-renderer.js';
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

/** Tests: the extra ms of each run, a constant or phases timed from the first run (the last phase lasts). */
function extraRunSchedule(spec: NonNullable<WorkerInitOptions['extraRunMs']>): () => number {
  if (typeof spec === 'number') return () => spec;
  let t0: number | undefined;
  return () => {
    const now = performance.now();
    t0 ??= now;
    let end = t0;
    for (const phase of spec) {
      end += phase.forMs ?? Number.POSITIVE_INFINITY;
      if (now < end) return phase.ms;
    }
    return spec[spec.length - 1]?.ms ?? 0;
  };
}

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
  let initOptions: WorkerInitOptions | undefined;
  /** A model set's members beyond the first (the first is `model`), and its runner. */
  let extraMembers: SeparationModel[] = [];
  let setRunner: SetSegmentRunner | undefined;
  // Track input (track-renderer.ts): the renderer and the track it works on.
  let renderer: TrackRenderer | undefined;
  let track: TrackState | undefined;
  let generation = 0;
  let trackLoop = false;
  /** Export requests waiting for the whole track. */
  const exports: { id: number; baseName: string; format?: StemExportFormat }[] = [];

  /** Releases the sessions (the model, and a set's other members). */
  async function disposeModels(): Promise<void> {
    const all = [model, ...extraMembers];
    extraMembers = [];
    await Promise.all(all.map((m) => m?.dispose().catch(() => undefined)));
  }

  /** Loads a model with the host's runtime, with the test hooks and the backend fallback. */
  async function load(bytes: Uint8Array, options: WorkerInitOptions): Promise<SeparationModel> {
    const providers = options.executionProviders ?? ['wasm'];
    const first = await host.loadModel(bytes, options);
    if (options.extraRunMs) {
      const runSession = first.session.run.bind(first.session);
      const extra = extraRunSchedule(options.extraRunMs);
      (first.session as { run: typeof runSession }).run = async (feeds, outputs) => {
        await sleep(extra());
        return runSession(feeds, outputs);
      };
    }
    if (providers.length < 2 && options.failRunsAfter === undefined) return first;
    return withBackendFallback(first, {
      executionProviders: providers,
      failRunsAfter: options.failRunsAfter,
      load: (eps) => host.loadModel(bytes, { ...options, executionProviders: eps }),
      onFallback: (e) => post({ type: 'backend-fallback', ...e, stats: snapshot() }),
    });
  }

  /** The loop's counters plus what the main thread shows: backend, real-time factor, seconds ready ahead. */
  function snapshot(): WorkerStats {
    if (renderer && track && model) {
      const rate = model.info.sampleRate;
      const ahead = readyAhead(track, Atomics.load(track.transport, TRACK.POSITION));
      return {
        segments: renderer.segmentsRun,
        lastRunMs: renderer.lastRunMs,
        runMsTotal: renderer.runMsTotal,
        framesIn: track.length,
        framesOut: 0,
        segmentsSkipped: 0,
        backend: `${model.runtime.name}/${model.runtime.executionProviders.join('+')}`,
        realTimeFactor: renderer.lastRunMs / ((renderer.plan.stride / rate) * 1000),
        readyAheadSeconds: ahead / rate,
      };
    }
    if (!loop || !separator || !model) return { ...NO_WORKER_STATS };
    const rate = model.info.sampleRate;
    const ahead = shared ? loop.stats.framesOut - stemDeadline(shared) : 0;
    return {
      segments: loop.stats.segments,
      lastRunMs: loop.stats.lastRunMs,
      runMsTotal: loop.stats.runMsTotal,
      framesIn: loop.stats.framesIn,
      framesOut: loop.stats.framesOut,
      segmentsSkipped: loop.stats.segmentsSkipped,
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
        await disposeModels();
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
    await disposeModels();
    model = undefined;
  }

  /** Track input: runs the renderer's next segment until everything is done; serves exports. */
  async function runTrack(): Promise<void> {
    trackLoop = true;
    try {
      while (stopRequest === undefined) {
        const r = renderer;
        if (r && !r.finished) {
          await r.step();
          post({ type: 'segment', stats: snapshot() });
          for (const e of exports) post({ type: 'export-progress', id: e.id, phase: 'separating', fraction: r.segmentsDone / r.segmentsTotal });
          continue;
        }
        if (r && track && exports.length > 0 && allReady(track, r.currentGeneration)) {
          const e = exports.shift()!;
          const t = track;
          const stems = model!.info.sources.map((_, s) => t.stems.slice(s * t.channels, (s + 1) * t.channels));
          const out = await exportStems({
            stems,
            sources: [...model!.info.sources],
            sampleRate: t.sampleRate,
            baseName: e.baseName,
            format: e.format,
            onProgress: (fraction) => post({ type: 'export-progress', id: e.id, phase: 'encoding', fraction }),
          });
          post({ type: 'exported', id: e.id, files: out.files, zip: out.zip, zipName: out.zipName, clipped: out.clipped });
          continue;
        }
        await sleep(5);
      }
      const stats = snapshot();
      await disposeModels();
      model = undefined;
      post({ type: 'stopped', id: stopRequest, stats });
    } finally {
      trackLoop = false;
    }
  }

  return (msg: ToWorker) => {
    const fail = (err: unknown) => {
      const code = err instanceof StemstreamError ? err.code : 'INTERNAL';
      post({ type: 'error', id: msg.id, code, message: err instanceof Error ? err.message : String(err) });
    };
    switch (msg.type) {
      case 'init':
        (async () => {
          initOptions = msg.options;
          const members = msg.options.members;
          const m = await load(members ? members[0].model : msg.model, msg.options);
          model = m;
          if (members) {
            for (const member of members.slice(1)) extraMembers.push(await load(member.model, msg.options));
            setRunner = new SetSegmentRunner([m, ...extraMembers].map((model, k) => ({ model, weights: members[k].weights })));
          }
          const state = attachSharedState(msg.buffers);
          stemRing = state.stemRing;
          shared = state;
          if (msg.options.input === 'track') {
            post({ type: 'ready', id: msg.id, sources: m.info.sources, segmentSamples: m.info.segmentSamples, stride: segmentStride(m.info.segmentSamples, msg.options.overlap), sampleRate: m.info.sampleRate, runtime: m.runtime.name });
            void runTrack().catch((err) => post({ type: 'error', id: -1, code: err instanceof StemstreamError ? err.code : 'INTERNAL', message: (err as Error).message }));
            return;
          }
          const length = msg.options.track ? msg.options.track[0].length : msg.options.length;
          separator = new StreamSeparator(m, { overlap: msg.options.overlap, normalization: msg.options.normalization, length, lowLatency: msg.options.lowLatency, runner: setRunner, historyFrames: msg.options.historyFrames });
          const input = msg.options.track ? new TrackInputPort(msg.options.track) : new InputRingPort(state.inputRing);
          loop = new InferenceLoop(separator, input, new StemRingPort(state), {
            catchUp: { deadlineFramesPerMs: msg.options.deadlineFramesPerMs ?? m.info.sampleRate / 1000 },
          });
          post({ type: 'ready', id: msg.id, sources: m.info.sources, segmentSamples: separator.segment, stride: separator.stride, sampleRate: m.info.sampleRate, runtime: m.runtime.name });
          void run().catch((err) => post({ type: 'error', id: -1, code: 'INTERNAL', message: (err as Error).message }));
        })().catch(fail);
        break;
      case 'load-track':
        try {
          if (!model || !initOptions || initOptions.input !== 'track') throw new StemstreamError('BAD_OPTION', 'load-track needs a worker started with input: track');
          const t = attachTrackState(msg.track);
          if (t.channels !== model.info.channels || t.sources !== model.info.sources.length) {
            throw new StemstreamError('CHANNEL_MISMATCH', `the track state has ${t.channels} channels × ${t.sources} stems; the model ${model.info.channels} × ${model.info.sources.length}`);
          }
          track = t;
          generation++;
          renderer = new TrackRenderer(model, t, {
            overlap: initOptions.overlap,
            normalization: msg.normalize ? trackStats({ sampleRate: t.sampleRate, channels: t.audio }) : undefined,
            generation,
            runner: setRunner,
          });
          exports.length = 0;
          post({ type: 'track-loaded', id: msg.id, segments: renderer.segmentsTotal });
        } catch (err) {
          fail(err);
        }
        break;
      case 'swap-model':
        (async () => {
          if (!initOptions) throw new StemstreamError('BAD_OPTION', 'swap-model before init');
          if (setRunner) throw new StemstreamError('BAD_OPTION', 'a model set cannot be swapped: create another engine');
          const next = await load(msg.model, initOptions);
          const old = model;
          if (old && (next.info.sources.join() !== old.info.sources.join() || next.info.channels !== old.info.channels || next.info.segmentSamples !== old.info.segmentSamples)) {
            await next.dispose();
            throw new StemstreamError('BAD_OPTION', `the new model (${next.info.sources.join(', ')}; segment ${next.info.segmentSamples}) does not match the running one (${old.info.sources.join(', ')}; segment ${old.info.segmentSamples}): create another engine`);
          }
          generation++;
          if (renderer) {
            // Track: recompute everything, old stems playing until replaced.
            model = next;
            renderer.swapModel(next, generation);
            await old?.dispose().catch(() => undefined);
          } else if (separator) {
            // Live: the next segments run on the new model; the overlap-add crossfades.
            const replaced = await separator.swapModel(next);
            model = next;
            await replaced.dispose().catch(() => undefined);
          } else {
            model = next;
            await old?.dispose().catch(() => undefined);
          }
          post({ type: 'model-swapped', id: msg.id, generation, sources: next.info.sources });
        })().catch(fail);
        break;
      case 'export':
        if (!renderer) fail(new StemstreamError('BAD_OPTION', 'nothing to export: load a track first'));
        else exports.push({ id: msg.id, baseName: msg.baseName, format: msg.format });
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
        if (!running && !trackLoop) post({ type: 'stopped', id: msg.id, stats: snapshot() });
        break;
      default: {
        const never: never = msg;
        void never;
      }
    }
  };
}
