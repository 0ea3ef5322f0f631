/**
 * The headless harness: the real audio-thread core and the real inference
 * worker (a worker_threads Worker) in Node, connected by shared memory, driven
 * by a render-quantum clock that runs as fast as the worker allows (virtual
 * time: the clock waits instead of underrunning) or paced to real time
 * (underruns counted, dry fallback heard). Live: StemOutCore over the rings.
 * Track: the browser's own path, TrackRenderer in the worker and
 * TrackPlayerCore on the clock, playing from 0 (latency 0, a fade-in of the
 * ramp's length at the start, as when play() is pressed).
 */
import { Worker } from 'node:worker_threads';
import { DEFAULT_OVERLAP, RENDER_QUANTUM } from '../constants.js';
import { StemstreamError } from '../errors.js';
import type { AudioData } from '../audio/types.js';
import { describeModel } from '../model/model.js';
import type { RuntimeChoice } from '../model/runtime.js';
import { StemOutCore } from '../../worklets/stem-out-core.js';
import { DEFAULT_RAMP_FRAMES } from '../realtime/ramp.js';
import { TrackPlayerCore } from '../../worklets/track-player-core.js';
import { TRACK, createTrackState, readyAhead, setPlaying, type TrackState } from '../realtime/track-state.js';
import { declaredLatency } from '../engine/host/latency.js';
import { liveBufferSizes } from '../engine/host/ring-sizes.js';
import { segmentStride } from '../separate/segmentation.js';
import { CTRL, readStats, setCaptureEnabled, type StemOutStats } from '../realtime/control-block.js';
import { createSharedState, type SharedState } from '../realtime/shared-state.js';
import { NO_WORKER_STATS, type FromWorker, type RecoveryOptions, type WatchdogOptions, type WorkerStats } from '../engine/protocol.js';
import { WorkerSupervisor, type WorkerEndpoint, type WorkerEvents } from '../engine/host/worker-client.js';

export interface HeadlessStreamOptions {
  /** 'quality' (default): Demucs' segmentation, latency N + margin. 'low-latency': see hop/lookahead. */
  mode?: 'quality' | 'low-latency';
  /** Low-latency mode: frames between windows (default 1 s). */
  hopFrames?: number;
  /** Low-latency mode: frames of context after the kept region (default 1 s). */
  lookaheadFrames?: number;
  overlap?: number;
  /** Pace the clock to real time (default: as fast as possible, never underrunning). */
  realtime?: boolean;
  runtime?: RuntimeChoice;
  threads?: number;
  /** Frames of compute time allowed per job (plus the core's 640-frame look-ahead in low-latency mode). Default: one stride / hop. */
  computeMarginFrames?: number;
  /** Ring capacities, frames (default: from the geometry, ring-sizes.ts). Tests make them small on purpose. */
  inputRingFrames?: number;
  stemRingFrames?: number;
  /** Record the wet weight at the end of every quantum (result.wet). */
  recordWet?: boolean;
  /** Execution providers in order of preference (onnxruntime-node runs all on its CPU provider). */
  executionProviders?: string[];
  /** Swap to this model (same segment, sources, channels) once `atFrame` frames are rendered. */
  swapModel?: { atFrame: number; model: Uint8Array };
  onProgress?: (framesRendered: number, totalFrames: number) => void;
  /**
   * Track mode: the input is a decoded track in shared memory, separated by the
   * worker around the playhead (normalised like separate()) and played by
   * TrackPlayerCore from frame 0: latency 0, as in the browser.
   */
  track?: boolean;
  /** Called before each render quantum with the frame about to be rendered (transport and control events for tests). */
  beforeQuantum?: (frame: number, state: SharedState) => void;
  /** Keep the rendered output (default true). Off for long soak runs: only `watchFrames` are kept. */
  keepOutput?: boolean;
  /**
   * Called after each render quantum with what the audio thread output:
   * output frames [frame, frame + frames) (frames < 128 only at the end) in
   * mix[c] and stems[s][c], from index 0; the arrays are reused. The clock waits
   * for a returned promise. With `keepOutput: false`, output streamed to disk.
   */
  onQuantum?: (frame: number, frames: number, mix: Float32Array[], stems: Float32Array[][]) => void | Promise<void>;
  /** Input frames whose mix output (channel 0, at frame + latency) is recorded in `watched`. */
  watchFrames?: number[];
  /**
   * The inference worker's module and its workerData (default: the product's,
   * inference-worker-node.ts). The seam tests use to wrap the worker's model
   * loading (test/fixtures/test-worker-node.ts: slow models, faults).
   */
  worker?: { module: URL; data?: unknown };
  /** The watchdog's limits and the restart budget (protocol.ts; tests shorten them). */
  watchdog?: WatchdogOptions & RecoveryOptions;
  /**
   * When the worker fails for good (its restart budget spent), keep rendering
   * (dry, at the same latency) and return the error as `failure` instead of
   * throwing it at the end.
   */
  continueAfterFailure?: boolean;
}

/** One worker failure during a run (protocol.ts WorkerRestart), in frames rendered. */
export interface HeadlessRestart {
  code: string;
  message: string;
  /** Frames rendered when the failure was noticed, and when the fresh worker was ready. */
  atFrame: number;
  readyAtFrame?: number;
  /** Wall time from the failure noticed to the fresh worker ready, ms. */
  restartMs?: number;
  /** The stream frame the fresh worker's first stems are for. */
  resumeFrame?: number;
}

/** A long input made on the fly (a soak test's hour), instead of an AudioData in memory. */
export interface GeneratedInput {
  sampleRate: number;
  channelCount: number;
  length: number;
  /** Writes input frames [start, start + frames) into dst[c][0..frames). */
  fill(dst: Float32Array[], start: number, frames: number): void;
}

export interface HeadlessStreamResult {
  latencySamples: number;
  sampleRate: number;
  sources: string[];
  /** Output as rendered, unshifted: frame n ↔ input frame n − latencySamples. Length = input + latency. */
  mix: Float32Array[];
  stems: Record<string, Float32Array[]>;
  worklet: StemOutStats;
  worker: WorkerStats;
  /** Mix channel 0 at each watched input frame + latency. */
  watched: number[];
  wallMs: number;
  runtime: string;
  /** Backend fallbacks the worker reported. */
  fallbacks: { from: string; to: string; reason: string }[];
  /** Model generations the worker reported swapping to. */
  swaps: number[];
  /** One entry per job the worker ran: frames rendered when it reported, its session.run time, jobs skipped so far. */
  segmentLog: { atFrame: number; runMs: number; skipped: number }[];
  /** With recordWet: the wet weight (0 dry … 1 stems) at the end of each quantum. */
  wet: Float32Array;
  /** The buffer sizes this run used, frames. */
  buffers: { inputRingFrames: number; stemRingFrames: number; historyFrames?: number };
  /** Worker failures and restarts, in order. */
  restarts: HeadlessRestart[];
  /** With continueAfterFailure: the error the worker was given up with. */
  failure?: StemstreamError;
}

// The latency formulas live in latency.ts (shared with the browser engine).
export { lowLatencyLatency, qualityLatency } from '../engine/host/latency.js';

/** A worker_threads Worker as the supervisor sees it. */
function spawnWorker(events: WorkerEvents, module?: URL, data?: unknown): WorkerEndpoint {
  const worker = startWorker(module ?? new URL(import.meta.url.endsWith('.ts') ? '../engine/worker/inference-worker-node.ts' : '../engine/worker/inference-worker-node.js', import.meta.url), data);
  worker.on('message', (m: FromWorker) => events.message(m));
  worker.on('error', (err: unknown) => events.error(err instanceof Error ? err.message : String(err)));
  worker.on('messageerror', () => events.messageerror());
  worker.on('exit', (code: number) => events.exit(code));
  return { post: (m) => worker.postMessage(m), terminate: () => worker.terminate() };
}

function startWorker(module: URL, workerData: unknown): Worker {
  if (!module.pathname.endsWith('.ts')) return new Worker(module, { workerData });
  // A TypeScript module (tests, tsx): the worker registers tsx first.
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(module.href)}); });`, { eval: true, workerData });
}

/**
 * Why the as-fast-as-possible clock cannot deadlock, for any input length and
 * model geometry. The clock waits for two things only, before rendering frame n:
 * (a) room for a quantum in the capture ring, and (b) the stems of input frames
 * up to n − L + Q + look-ahead. The worker waits for one thing only: input.
 * - The worker never waits for room in the stem ring: it holds at most L frames
 *   (the worker has no stems of input it has not received, and the clock has
 *   consumed those below n − L), and its capacity is over L (ring-sizes.ts).
 * - (a) ends: the worker reads input whenever its history has room, and it has
 *   room for everything up to the next job's input (history ≥ L + N + stride).
 * - (b) ends: those stems come from jobs whose input ends at most
 *   L − Q − look-ahead frames after them (that is what the latency declares:
 *   quality L = N + margin with margin ≥ coreLookahead = Q + look-ahead, checked
 *   by qualityLatency; low-latency adds coreLookahead to hop + lookahead +
 *   margin), i.e. from input below n, which the clock has already written.
 * - Past the end of the input the clock writes no capture (a no longer holds)
 *   and the worker writes silent stems (b always holds).
 * So each wait ends by the other side's progress, and neither side's progress
 * waits on the first. The clock also never lets the capture ring overflow, so
 * no input is ever dropped here and the stems equal the offline result.
 */

export async function runHeadlessStream(audio: AudioData | GeneratedInput, modelBytes: Uint8Array, options: HeadlessStreamOptions = {}): Promise<HeadlessStreamResult> {
  const info = describeModel(modelBytes);
  const C = info.channels;
  const S = info.sources.length;
  const input: GeneratedInput = 'fill' in audio ? audio : {
    sampleRate: audio.sampleRate,
    channelCount: audio.channels.length,
    length: audio.channels[0]?.length ?? 0,
    fill: (dst, start, frames) => {
      for (let c = 0; c < dst.length; c++) {
        const src = audio.channels[c];
        for (let i = 0; i < frames; i++) dst[c][i] = start + i < src.length ? src[start + i] : 0;
      }
    },
  };
  if (input.sampleRate !== info.sampleRate || input.channelCount !== C) {
    throw new StemstreamError('SAMPLE_RATE_MISMATCH', `the stream must be ${C} channels at ${info.sampleRate} Hz, got ${input.channelCount} at ${input.sampleRate} Hz`);
  }
  const overlap = options.overlap ?? DEFAULT_OVERLAP;
  const lowLatency = options.mode === 'low-latency'
    ? { hop: options.hopFrames ?? info.sampleRate, lookahead: options.lookaheadFrames ?? info.sampleRate }
    : undefined;
  const L = declaredLatency({ sourceKind: options.track ? 'track' : 'live', segmentSamples: info.segmentSamples, overlap, lowLatency, computeMarginFrames: options.computeMarginFrames });
  if (options.track && 'fill' in audio) throw new StemstreamError('BAD_OPTION', 'track mode needs the track in memory');
  const length = input.length;
  const total = length + L;
  const keep = options.keepOutput !== false;
  const watch = [...(options.watchFrames ?? [])].sort((a, b) => a - b);
  const watched: number[] = [];
  let nextWatch = 0;
  const stride = lowLatency ? lowLatency.hop : segmentStride(info.segmentSamples, overlap);
  // Track: the rings are unused (the track and its stems live in shared memory), token sizes as in StemEngine.
  const sizes = options.track
    ? { inputRingFrames: 8 * RENDER_QUANTUM, stemRingFrames: 16 * RENDER_QUANTUM, historyFrames: undefined }
    : liveBufferSizes({ latencyFrames: L, segmentFrames: info.segmentSamples, strideFrames: stride, channels: C, sources: S });
  const buffers = {
    inputRingFrames: options.inputRingFrames ?? sizes.inputRingFrames,
    stemRingFrames: options.stemRingFrames ?? sizes.stemRingFrames,
    historyFrames: sizes.historyFrames,
  };
  const state = createSharedState({ channels: C, sources: S, inputRingFrames: buffers.inputRingFrames, stemRingFrames: buffers.stemRingFrames });
  const track: TrackState | undefined = options.track && !('fill' in audio) ? createTrackState(audio.channels, S, info.sampleRate) : undefined;
  const core = track ? undefined : new StemOutCore({ sharedState: state, channels: C, sources: S, latencyFrames: L, sampleRate: info.sampleRate });
  let player: TrackPlayerCore | undefined;
  /** Quanta rendered so far, frames (what the audio thread has played). */
  let rendered = 0;
  let finished: WorkerStats | undefined;
  let failure: Error | undefined;
  let lastStats: WorkerStats = { ...NO_WORKER_STATS };
  const fallbacks: HeadlessStreamResult['fallbacks'] = [];
  const swaps: number[] = [];
  const segmentLog: HeadlessStreamResult['segmentLog'] = [];
  // Recovery (worker-client.ts WorkerSupervisor): a failed worker is replaced by a
  // fresh one that resumes the stream; the clock goes on meanwhile (real time: dry;
  // virtual time: it waits for the fresh worker, then plays dry what it cannot have).
  const restarts: HeadlessRestart[] = [];
  let gaveUp: StemstreamError | undefined;
  /** The stream frame the last resumed worker's stems start at (those before play dry). */
  let resumeFrom = 0;
  const supervisor = new WorkerSupervisor({
    state,
    init: { type: 'init', id: 1, buffers: state.buffers, model: modelBytes, options: { overlap, runtime: options.runtime ?? 'auto', threads: options.threads,
      executionProviders: options.executionProviders, watchdog: options.watchdog,
      ...(track ? { sourceKind: 'track' as const } : { sourceKind: 'live' as const, length, lowLatency, historyFrames: buffers.historyFrames, deadlineFramesPerMs: options.realtime ? info.sampleRate / 1000 : 0 }) } },
    spawn: (events) => spawnWorker(events, options.worker?.module, options.worker?.data),
    // A restarted worker gets the same track (same shared memory, same model generation).
    replay: () => (track ? [{ type: 'load-track', id: 0, track: track.buffers, normalize: true, generation: Atomics.load(track.transport, TRACK.GENERATION) || undefined }] : []),
    onMessage: (m: FromWorker) => {
      if (m.type === 'segment') {
        lastStats = m.stats;
        segmentLog.push({ atFrame: rendered, runMs: m.stats.lastRunMs, skipped: m.stats.segmentsSkipped });
      }
      else if (m.type === 'done') lastStats = m.stats;
      else if (m.type === 'stopped') { finished = m.stats; lastStats = m.stats; }
      else if (m.type === 'error') failure = new StemstreamError(m.code, m.message);
      else if (m.type === 'backend-fallback') { fallbacks.push({ from: m.from, to: m.to, reason: m.reason }); lastStats = m.stats; }
    },
    onRestart: (r) => restarts.push({ code: r.cause.code, message: r.cause.message, atFrame: rendered }),
    onRecovered: (r) => {
      const last = restarts[restarts.length - 1];
      if (last) Object.assign(last, { readyAtFrame: rendered, restartMs: (r.readyAt ?? r.at) - r.at, resumeFrame: r.resumeFrame });
      resumeFrom = r.resumeFrame ?? 0;
    },
    onGiveUp: (e) => {
      gaveUp = e;
      if (!options.continueAfterFailure) failure = e;
    },
    watchdog: options.watchdog,
    recovery: options.watchdog,
  });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Virtual time: the clock waits for a worker being restarted (the one before failed). */
  const waitForRestart = async () => {
    while (supervisor.restarting) await sleep(1);
  };
  try {
    if (track) setCaptureEnabled(state, false);
    await supervisor.start();
    if (track) {
      await supervisor.request({ type: 'load-track', id: 2, track: track.buffers, normalize: true });
      player = new TrackPlayerCore({ sharedState: state, track, sampleRate: info.sampleRate });
      setPlaying(track, true);
    }
    const lookahead = player ? player.lookaheadFrames : core!.lookaheadFrames;
    const Q = RENDER_QUANTUM;
    const size = keep ? total + Q : 0;
    const mix = Array.from({ length: C }, () => new Float32Array(size));
    const stemOut = Array.from({ length: S }, () => Array.from({ length: C }, () => new Float32Array(size)));
    const inQ = Array.from({ length: C }, () => new Float32Array(Q));
    const mixQ = Array.from({ length: C }, () => new Float32Array(Q));
    const stemQ = Array.from({ length: S }, () => Array.from({ length: C }, () => new Float32Array(Q)));
    const wet = new Float32Array(options.recordWet ? Math.ceil(total / Q) : 0);
    const t0 = performance.now();
    let endSent = false;
    let swapSent = false;
    if (track && options.realtime) {
      // Pre-roll: play only once the worker is a stride (plus the core's look-ahead) ahead.
      const want = Math.min(length, stride + DEFAULT_RAMP_FRAMES + Q);
      while (readyAhead(track, 0) < want) {
        if (failure) throw failure;
        await sleep(2);
      }
    }
    const tStart = performance.now();
    for (let n = 0; n < total; n += Q) {
      if (failure) throw failure;
      options.beforeQuantum?.(n, state);
      if (options.swapModel && !swapSent && n >= options.swapModel.atFrame) {
        swapSent = true;
        const bytes = options.swapModel.model;
        supervisor.request({ type: 'swap-model', id: 3, model: bytes }).then(
          (m) => {
            if (m.type === 'model-swapped') {
              swaps.push(m.generation);
              supervisor.setModel(bytes);
            }
          },
          (err: unknown) => { if (!gaveUp) failure = err instanceof Error ? err : new Error(String(err)); },
        );
      }
      if (options.realtime) {
        // Render in bursts, never ahead of the wall clock.
        while ((n / info.sampleRate) * 1000 > performance.now() - tStart) await sleep(2);
      } else {
        // Virtual time (see "Why the as-fast-as-possible clock cannot deadlock" above).
        // After a worker failure: the clock waits while a fresh worker starts; the stems
        // before the frame it resumes at never come (they play dry), so it does not wait
        // for those; the skip debt of the quanta played dry is paid from the ring first.
        // Given up on: nothing to wait for.
        await waitForRestart();
        // Track: the blocks this quantum and the player's look-ahead play (the renderer
        // separates the whole track, never waiting for the clock, so this ends).
        if (track) {
          while (readyAhead(track, n) < Math.min(Q + lookahead, length - n) && !gaveUp) {
            if (failure) throw failure;
            await sleep(1);
            await waitForRestart();
          }
        }
        // (a) Room in the capture ring, so that no input is dropped.
        if (n < length && !track) {
          while (state.inputRing.availableWrite() < Q && !gaveUp) {
            if (failure) throw failure;
            await sleep(1);
            await waitForRestart();
          }
        }
        // (b) The stems this quantum and the core's look-ahead need.
        if (core && n + Q > L && !(resumeFrom > 0 && n - L < resumeFrom)) {
          const needUpTo = n + Q - L + lookahead;
          while (Math.max(0, n - L) - core.skipDebt + state.stemRing.availableRead() < needUpTo && !gaveUp) {
            if (failure) throw failure;
            await sleep(1);
            await waitForRestart();
            if (resumeFrom > 0 && n - L < resumeFrom) break;
          }
        }
      }
      if (n < length) input.fill(inQ, n, Math.min(Q, length - n));
      if (n + Q > length) for (let c = 0; c < C; c++) inQ[c].fill(0, Math.max(0, length - n));
      if (player) player.process(mixQ, stemQ, 0);
      else core!.process(inQ, mixQ, stemQ);
      rendered = n + Q;
      if (options.recordWet) wet[n / Q] = state.controlF32[CTRL.WET];
      if (options.onQuantum) {
        const pending = options.onQuantum(n, Math.min(Q, total - n), mixQ, stemQ);
        if (pending) await pending;
      }
      if (keep) {
        for (let c = 0; c < C; c++) {
          mix[c].set(mixQ[c], n);
          for (let s = 0; s < S; s++) stemOut[s][c].set(stemQ[s][c], n);
        }
      }
      while (nextWatch < watch.length && watch[nextWatch] + L < n + Q) {
        const at = watch[nextWatch] + L - n;
        watched.push(at >= 0 ? mixQ[0][at] : Number.NaN);
        nextWatch++;
      }
      if (!endSent && n + Q >= length) {
        // The worker knows the length; the capture after it is not needed.
        setCaptureEnabled(state, false);
        endSent = true;
      }
      if (options.onProgress && (n / Q) % 256 === 0) options.onProgress(n, total);
    }
    const wallMs = performance.now() - t0;
    if (failure) throw failure;
    finished = (await supervisor.stop(10_000)) ?? finished;
    const stems: Record<string, Float32Array[]> = {};
    info.sources.forEach((name, s) => { stems[name] = stemOut[s].map((ch) => ch.subarray(0, keep ? total : 0)); });
    return {
      latencySamples: L,
      sampleRate: info.sampleRate,
      sources: [...info.sources],
      mix: mix.map((ch) => ch.subarray(0, keep ? total : 0)),
      stems,
      worklet: readStats(state),
      worker: finished ?? lastStats,
      watched,
      wallMs,
      runtime: options.runtime ?? 'auto',
      fallbacks,
      swaps,
      segmentLog,
      wet,
      buffers,
      restarts,
      failure: gaveUp,
    };
  } finally {
    await supervisor.stop(0);
  }
}
