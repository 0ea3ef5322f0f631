/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The worker's live session: captured input from the input ring through the
 * stream separator into the stem ring, job after job (InferenceLoop), until
 * told to stop or the declared input has all come out. A fresh worker started
 * in place of a failed one (`resume`) goes on from where the shared state says
 * the last one left the stream, at the same latency.
 */
import type { SharedState, SharedStateBuffers } from '../../realtime/shared-state.js';
import { CTRL, stemDeadline } from '../../realtime/control-block.js';
import { InferenceLoop } from './inference-loop.js';
import { StreamSeparator } from './stream-separator.js';
import type { BackendPool } from './backend-pool.js';
import { NO_WORKER_STATS, type FromWorker, type WorkerInitOptions, type WorkerStats } from '../protocol.js';
import { exactPosition, publishPosition, PublishingInputPort, readPosition, resync, ResumingStemPort, ringHeader } from './live-ports.js';
import type { ModelSlot } from './model-slot.js';
import { reportFailure, sleep, type WorkerSession } from './session.js';

export class LiveSession implements WorkerSession {
  readonly kind = 'live';
  private readonly slot: ModelSlot;
  private readonly state: SharedState;
  private readonly post: (m: FromWorker) => void;
  private readonly onEnd: () => void;
  private separator!: StreamSeparator;
  private loop: InferenceLoop | undefined;
  private stemPort!: ResumingStemPort;
  /** The stream frame the loop's frame 0 is (a resumed worker's is not 0). */
  private origin = 0;
  private stopRequest: number | undefined;
  private running = false;
  private doneSent = false;

  /** `onEnd`: the loop is over and the models released (the worker may end). */
  private constructor(slot: ModelSlot, state: SharedState, post: (m: FromWorker) => void, onEnd: () => void) {
    this.slot = slot;
    this.state = state;
    this.post = post;
    this.onEnd = onEnd;
  }

  /**
   * Where the stream stands: frame 0, or (a fresh worker after a failure) where
   * the last one left it. Stems go on from what it had pushed; input from what
   * it had read (earlier input is gone with it), so the loop's frame 0 is the
   * later of the two. Posts 'ready' and starts the loop.
   */
  static async start(slot: ModelSlot, model: BackendPool, state: SharedState, buffers: SharedStateBuffers, options: WorkerInitOptions, initId: number, post: (m: FromWorker) => void, onEnd: () => void): Promise<LiveSession> {
    const session = new LiveSession(slot, state, post, onEnd);
    const c = state.controlI32;
    const stemHeader = ringHeader(buffers.stemRing);
    const inHeader = ringHeader(buffers.inputRing);
    const stemsAt = options.resume
      ? exactPosition(readPosition(c, CTRL.WORKER_OUT_LO, CTRL.WORKER_OUT_HI), Atomics.load(stemHeader.indices, 0), state.stemRing.width, stemHeader.storageLength)
      : 0;
    let inputAt = options.resume
      ? exactPosition(readPosition(c, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI), Atomics.load(inHeader.indices, 1), state.inputRing.width, inHeader.storageLength)
      : 0;
    if (options.resume) inputAt = await resync(state, inputAt);
    const origin = Math.max(stemsAt, inputAt);
    session.origin = origin;
    publishPosition(c, CTRL.WORKER_OUT_LO, CTRL.WORKER_OUT_HI, stemsAt);
    publishPosition(c, CTRL.WORKER_IN_LO, CTRL.WORKER_IN_HI, inputAt);
    const total = options.length;
    const length = total === undefined ? undefined : Math.max(0, total - origin);
    session.separator = new StreamSeparator(model, { overlap: options.overlap, length, lowLatency: options.lowLatency, runner: slot.setRunner, historyFrames: options.historyFrames });
    const input = new PublishingInputPort(state.inputRing, c, inputAt, origin - inputAt);
    session.stemPort = new ResumingStemPort(state, stemsAt, origin);
    session.loop = new InferenceLoop(session.separator, input, session.stemPort, {
      catchUp: { deadlineFramesPerMs: options.deadlineFramesPerMs ?? model.info.sampleRate / 1000 },
    });
    post({
      type: 'ready', id: initId, sources: model.info.sources, segmentSamples: session.separator.segment, stride: session.separator.stride, sampleRate: model.info.sampleRate, runtime: model.runtime.name,
      ...(options.resume ? { resumeFrame: origin } : {}),
    });
    void session.run();
    return session;
  }

  stats(): WorkerStats {
    const loop = this.loop;
    const model = this.slot.model;
    if (!loop || !model) return { ...NO_WORKER_STATS };
    const rate = model.info.sampleRate;
    const ahead = this.stemPort ? -this.stemPort.deadlineLead(loop.stats.framesOut) : loop.stats.framesOut - stemDeadline(this.state);
    return {
      segments: loop.stats.segments,
      lastRunMs: loop.stats.lastRunMs,
      runMsTotal: loop.stats.runMsTotal,
      // Stream frames (a resumed worker's loop counts from `origin`).
      framesIn: this.origin + loop.stats.framesIn,
      framesOut: this.origin + loop.stats.framesOut,
      segmentsSkipped: loop.stats.segmentsSkipped,
      nonFiniteSamples: this.separator.nonFiniteSamples,
      ...this.slot.backendStats(),
      realTimeFactor: loop.stats.lastRunMs / ((this.separator.stride / rate) * 1000),
      readyAheadSeconds: Math.max(0, ahead) / rate,
    };
  }

  /** The live stream's end: frames captured after it are not the stream's, unless already taken in. */
  endOfInput(frames: number): void {
    this.separator.setLength(Math.max(frames, this.separator.framesIn));
  }

  /** The next jobs run on `next` (before the next step, never during one); the overlap-add crossfades. */
  async swapModel(next: BackendPool): Promise<BackendPool | undefined> {
    return (await this.separator.swapModel(next)) as BackendPool;
  }

  stop(id: number): void {
    this.stopRequest = id;
    if (!this.running) {
      this.onEnd();
      this.post({ type: 'stopped', id, stats: this.stats() });
    }
  }

  private async run(): Promise<void> {
    this.running = true;
    const post = this.post;
    try {
      while (this.loop) {
        const loop = this.loop;
        if (this.stopRequest !== undefined) {
          // Release the session before saying so: the main thread may terminate this thread next.
          const stats = this.stats();
          await this.slot.dispose();
          this.onEnd();
          post({ type: 'stopped', id: this.stopRequest, stats });
          break;
        }
        if (this.doneSent) {
          // Past the end of the input the stems are silence: keep the audio thread
          // fed so it never fades to dry or counts an underrun after the last frame.
          if (this.stemPort.writeZeros(this.state.stemRing.availableWrite()) === 0) await sleep(1);
          continue;
        }
        const r = await loop.pump();
        if (r === 'ran') post({ type: 'segment', stats: this.stats() });
        if (this.separator.ended && loop.stats.framesOut >= this.separator.framesIn) {
          post({ type: 'done', id: 0, stats: this.stats() });
          this.doneSent = true;
          continue;
        }
        if (r === 'idle') await sleep(1);
      }
    } catch (err) {
      // The last provider failed (or timed out, or lost its device): this worker
      // can do no more. The sessions are left alone (a run may still hang in one);
      // the main thread terminates this worker and starts a fresh one.
      this.loop = undefined;
      this.running = false;
      reportFailure(post, err, []);
      if (this.stopRequest !== undefined) post({ type: 'stopped', id: this.stopRequest, stats: { ...NO_WORKER_STATS } });
      return;
    }
    this.running = false;
    await this.slot.dispose();
  }
}
