/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The worker's track session: a decoded track in shared memory separated
 * around the playhead (TrackRenderer), segment after segment until all is
 * final; exports answered once every block carries the current model
 * generation.
 */
import { StemstreamError } from '../../errors.js';
import { exportStems, type StemExportFormat } from '../../export/stems-export.js';
import type { ClipMode } from '../../export/clip.js';
import { TRACK, allReady, attachTrackState, readyAhead, type TrackState } from '../../realtime/track-state.js';
import { trackStats } from '../../separate/normalize.js';
import type { BackendPool } from './backend-pool.js';
import { TrackRenderer } from './track-renderer.js';
import { BUSY, NO_WORKER_STATS, type FromWorker, type ToWorker, type WorkerInitOptions, type WorkerStats } from '../protocol.js';
import type { ModelSlot } from './model-slot.js';
import type { Liveness } from './run-guard.js';
import { reportFailure, sleep, type WorkerSession } from './session.js';

export class TrackSession implements WorkerSession {
  readonly kind = 'track';
  private readonly slot: ModelSlot;
  private readonly live: Liveness;
  private readonly options: WorkerInitOptions;
  private readonly post: (m: FromWorker) => void;
  private readonly onEnd: () => void;
  private renderer: TrackRenderer | undefined;
  private track: TrackState | undefined;
  /** Export requests waiting for the whole track. */
  private readonly exports: { id: number; baseName: string; format?: StemExportFormat; clipMode?: ClipMode }[] = [];
  private stopRequest: number | undefined;
  private running = false;

  constructor(slot: ModelSlot, live: Liveness, options: WorkerInitOptions, post: (m: FromWorker) => void, onEnd: () => void) {
    this.slot = slot;
    this.live = live;
    this.options = options;
    this.post = post;
    this.onEnd = onEnd;
    void this.run();
  }

  /** Separate this track (replaces the previous one) as model generation `generation`. */
  loadTrack(msg: Extract<ToWorker, { type: 'load-track' }>, generation: number): void {
    const model = this.slot.model;
    if (!model) throw new StemstreamError('BAD_OPTION', 'load-track before the model is loaded');
    const t = attachTrackState(msg.track);
    if (t.channels !== model.info.channels || t.sources !== model.info.sources.length) {
      throw new StemstreamError('CHANNEL_MISMATCH', `the track state has ${t.channels} channels × ${t.sources} stems; the model ${model.info.channels} × ${model.info.sources.length}`);
    }
    this.track = t;
    this.renderer = new TrackRenderer(model, t, {
      overlap: this.options.overlap,
      normalization: msg.normalize ? trackStats({ sampleRate: t.sampleRate, channels: t.audio }) : undefined,
      generation,
      runner: this.slot.setRunner,
      precomputed: msg.precomputed === true,
    });
    this.exports.length = 0;
    this.post({ type: 'track-loaded', id: msg.id, segments: this.renderer.segmentsTotal });
  }

  /** Answered with 'exported' once the whole track is separated. */
  exportStems(msg: Extract<ToWorker, { type: 'export' }>): void {
    if (!this.renderer) throw new StemstreamError('BAD_OPTION', 'nothing to export: load a track first');
    this.exports.push({ id: msg.id, baseName: msg.baseName, format: msg.format, clipMode: msg.clipMode });
  }

  /** Recomputes everything on `next`; the old stems play until replaced. */
  async swapModel(next: BackendPool, generation: number): Promise<BackendPool | undefined> {
    const old = this.slot.model;
    this.renderer?.swapModel(next, generation);
    return old;
  }

  stats(): WorkerStats {
    const { renderer, track } = this;
    const model = this.slot.model;
    if (!renderer || !track || !model) return { ...NO_WORKER_STATS, ...this.slot.backendStats() };
    const rate = model.info.sampleRate;
    const ahead = readyAhead(track, Atomics.load(track.transport, TRACK.POSITION));
    return {
      segments: renderer.segmentsRun,
      lastRunMs: renderer.lastRunMs,
      runMsTotal: renderer.runMsTotal,
      framesIn: track.length,
      // Frames whose stems are final (the whole track once every job has run).
      framesOut: renderer.finished ? track.length : 0,
      segmentsSkipped: 0,
      nonFiniteSamples: 0,
      ...this.slot.backendStats(),
      realTimeFactor: renderer.lastRunMs / ((renderer.plan.stride / rate) * 1000),
      readyAheadSeconds: ahead / rate,
    };
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
    try {
      await this.loop();
    } catch (err) {
      // As the live session: orphaned exports and the worker answered with the cause.
      const orphans = this.exports.splice(0).map((e) => e.id);
      this.renderer = undefined;
      this.running = false;
      reportFailure(this.post, err, orphans);
      if (this.stopRequest !== undefined) this.post({ type: 'stopped', id: this.stopRequest, stats: { ...NO_WORKER_STATS } });
      return;
    } finally {
      this.running = false;
    }
  }

  private async loop(): Promise<void> {
    const post = this.post;
    while (this.stopRequest === undefined) {
      const r = this.renderer;
      const track = this.track;
      // An export first when every block is final already (a restarted worker's
      // renderer recomputes blocks that are: the same values, written again).
      if (r && track && this.exports.length > 0 && allReady(track, r.currentGeneration)) {
        await this.answerExport(track);
        continue;
      }
      if (r && !r.finished) {
        await r.step();
        post({ type: 'segment', stats: this.stats() });
        for (const e of this.exports) post({ type: 'export-progress', id: e.id, phase: 'separating', fraction: r.segmentsDone / r.segmentsTotal });
        continue;
      }
      await sleep(5);
    }
    const stats = this.stats();
    await this.slot.dispose();
    this.onEnd();
    post({ type: 'stopped', id: this.stopRequest, stats });
  }

  private async answerExport(t: TrackState): Promise<void> {
    const e = this.exports[0];
    const sources = this.slot.model!.info.sources;
    const stems = sources.map((_, s) => t.stems.slice(s * t.channels, (s + 1) * t.channels));
    const done = this.live.busy(BUSY.EXPORT, this.live.limits.firstRunMs);
    let out: Awaited<ReturnType<typeof exportStems>>;
    try {
      out = await exportStems({
        stems,
        sources: [...sources],
        sampleRate: t.sampleRate,
        baseName: e.baseName,
        format: e.format,
        clipMode: e.clipMode,
        onProgress: (fraction) => this.post({ type: 'export-progress', id: e.id, phase: 'encoding', fraction }),
      });
    } finally {
      done();
    }
    this.exports.shift();
    this.post({ type: 'exported', id: e.id, files: out.files, zip: out.zip, zipName: out.zipName, clipped: out.clipped, clipping: out.clipping });
  }
}
