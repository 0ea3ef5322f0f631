/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * The track face of the real-time engine (StemEngine.create with
 * sourceKind: 'track'): loads a decoded track, separates it ahead of the
 * playhead, plays it with a transport (play, pause, seek, loop), exports its
 * stems, and remembers separations in the stem cache (stem-cache.ts).
 * latencySamples is 0: the stems are computed before the playhead reaches them.
 */
import { StemstreamError } from '../../errors.js';
import { toChannelCount } from '../../audio/channels.js';
import { describeNonFinite, replaceNonFinite } from '../../audio/finite.js';
import type { ExportedStems } from '../../export/stems-export.js';
import type { EngineStatusSnapshot, StemCacheStatus } from './engine-status.js';
import { TrackTransport } from './track-transport.js';
import type { ToWorker } from '../protocol.js';
import { TRACK, allReady, createTrackState, markAllReady, type TrackState } from '../../realtime/track-state.js';
import { StemCache, audioDigest, modelIdentity, stemCacheKey, type StemCacheUsage } from './stem-cache.js';
import type { ToStemOutProcessor } from '../../realtime/processor-messages.js';
import { StemEngineCore, type ModelSwapHooks, type StemEngineParts } from './stem-engine-core.js';
import type { ExportStemsRequest } from './stem-engine-options.js';

export class TrackStemEngine extends StemEngineCore {
  readonly sourceKind = 'track' as const;
  /** Whether the loaded track is normalised (a restarted worker is told again). */
  private trackNormalize = true;
  /** Quality mode's overlap between segments (it changes the stems, so it is part of a cache key). */
  private readonly overlap: number;
  /** The loaded track's transport (undefined before one). */
  private transport: TrackTransport | undefined;
  private endedSeq = 0;
  /** The model generation the worker separates the loaded track as (mirrors the worker's counter: +1 per track, +1 per swap). */
  private generation = 0;
  /** The stem cache: opening or open; undefined when off or it failed to open. */
  private readonly stemCache: Promise<StemCache | undefined> | undefined;
  /** The identity (SHA-256) of the model the worker runs, for cache keys; a pending swap's once it is done. */
  private modelSha: Promise<string> | undefined;
  /** Bumped when a model swap starts: a key computed across one may name the old model. */
  private modelSerial = 0;
  /** The loaded track's cache identity; `target`: the key to store under once generation `target.generation` is final everywhere. */
  private trackCache: { track: TrackState; audio: string; normalize: boolean; precomputed: boolean; target?: { generation: number; key: string }; storing: boolean } | undefined;
  private cacheState: StemCacheStatus['state'];
  private cacheUsage: StemCacheUsage | undefined;

  /** @internal StemEngine.create makes engines. */
  constructor(parts: StemEngineParts) {
    super(parts);
    this.overlap = parts.overlap;
    this.cacheState = parts.cache ? 'none' : 'off';
    if (parts.cache) {
      // Both in the background: create() does not wait for storage; loadTrack() does.
      this.modelSha = modelIdentity(parts.modelSource);
      // Awaited by loadTrack, which reports a failure; until then it must not surface as unhandled.
      this.modelSha.catch(() => undefined);
      this.stemCache = StemCache.open({ maxBytes: parts.cache.maxBytes }).then(
        (cache) => {
          this.cacheUsage = cache.usage();
          void cache.persistRequest.then(() => (this.cacheUsage = cache.usage()));
          return cache;
        },
        (err: unknown) => {
          this.cacheState = 'off';
          // After 'ready', so that listeners added right after create() hear it.
          setTimeout(() => this.warn('cache', `the stem cache is off: ${(err as Error).message}`), 0);
          return undefined;
        },
      );
    }
  }

  /** What a restarted worker needs before the requests still pending: the track (same shared memory, same generation). */
  protected override replayMessages(): ToWorker[] {
    const t = this.transport?.track;
    if (!t) return [];
    const generation = Atomics.load(t.transport, TRACK.GENERATION);
    // A track filled from the stem cache and still whole for its generation needs no segment again.
    const precomputed = this.trackCache?.track === t && this.trackCache.precomputed && generation > 0 && allReady(t, generation);
    return [{ type: 'load-track', id: 0, track: t.buffers, normalize: this.trackNormalize, generation: generation || undefined, precomputed }];
  }



  /**
   * Track input: loads a decoded track (an AudioBuffer from decodeAudioData, or
   * planar channels at the model's rate) and starts separating it around the
   * playhead (position 0, paused). Resolves when the worker has it. Mono is
   * duplicated, more channels than the model's are down-mixed. `normalize`
   * (default true) applies separate()'s track normalisation. With the stem
   * cache (option `cache`), a track separated before with this model and these
   * options comes from it: all of it ready at once, no segment run
   * ('cache-hit'); any other is written there once separated whole ('cache-stored').
   */
  async loadTrack(buffer: AudioBuffer | { sampleRate: number; channels: Float32Array[] }, options: { normalize?: boolean } = {}): Promise<void> {
    const audio = 'getChannelData' in buffer
      ? { sampleRate: buffer.sampleRate, channels: Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c)) }
      : buffer;
    if (audio.sampleRate !== this.sampleRate) {
      throw new StemstreamError('SAMPLE_RATE_MISMATCH', `the track is at ${audio.sampleRate} Hz and the model runs at ${this.sampleRate} Hz: decode it with an AudioContext at ${this.sampleRate} Hz (decodeAudioData resamples to the context's rate)`);
    }
    if (audio.channels.length === 0 || audio.channels[0].length === 0) throw new StemstreamError('BAD_AUDIO_FILE', 'the track is empty');
    const fitted = toChannelCount(audio, this.channels);
    const track = createTrackState(fitted.channels, this.sources.length, this.sampleRate);
    // NaN or ±Infinity in the track would poison its segments' stems and play as
    // garbage where dry: the shared copy holds 0 there (the caller's buffer is left alone).
    const bad = replaceNonFinite({ sampleRate: this.sampleRate, channels: track.audio });
    if (bad.count > 0) this.warn('non-finite', `in the track, ${describeNonFinite(bad, this.sampleRate)}: they play and separate as silence`, bad.count);
    const normalize = options.normalize ?? true;
    // The stem cache, before the worker has the track: on a hit its stems are all final already.
    const cached = await this.lookUpTrack(track, normalize);
    const generation = this.generation + 1;
    if (cached?.hit) markAllReady(track, generation);
    this.transport = new TrackTransport(track, this.sampleRate);
    this.trackNormalize = normalize;
    this.endedSeq = 0;
    this.trackCache = cached && { track, audio: cached.audio, normalize, precomputed: cached.hit, target: cached.hit ? undefined : { generation, key: cached.key }, storing: false };
    // 'off' stays off (the cache did not open); a lookup that failed is a miss.
    if (this.cacheState !== 'off') this.cacheState = cached?.hit ? 'hit' : 'miss';
    await this.request({ type: 'load-track', id: this.newId(), track: track.buffers, normalize, generation, precomputed: cached?.hit === true });
    this.generation = generation;
    this.node.port.postMessage({ type: 'track', track: track.buffers } satisfies ToStemOutProcessor);
    if (cached?.hit) this.dispatchEvent(new CustomEvent('cache-hit', { detail: { key: cached.key } }));
  }

  /**
   * The track's cache key and whether its stems were read from the cache into
   * the track's shared stems; undefined without a cache or when it failed (a
   * 'warning'), or when a model swap started meanwhile (the key could name the
   * old model). On a miss the stems view may hold a partial read: harmless,
   * nothing reads a block before the worker marks it final.
   */
  private async lookUpTrack(track: TrackState, normalize: boolean): Promise<{ audio: string; key: string; hit: boolean } | undefined> {
    const cache = await this.stemCache;
    if (!cache || !this.modelSha) return undefined;
    const serial = this.modelSerial;
    try {
      const modelSha = await this.modelSha;
      const audio = await audioDigest(track.audio);
      const key = await this.trackKey(audio, modelSha, normalize);
      const hit = await cache.get(key, new Float32Array(track.buffers.stems), { rows: track.sources * track.channels, frames: track.length });
      this.cacheUsage = cache.usage();
      return serial === this.modelSerial ? { audio, key, hit } : undefined;
    } catch (err) {
      this.warn('cache', `the stem cache could not be read, so the track is separated again: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Everything that changes the stems besides the audio and the model: normalisation, the overlap (the worker's segmentation). */
  private trackKey(audio: string, modelSha: string, normalize: boolean): Promise<string> {
    return stemCacheKey({ audio: { digest: audio }, sampleRate: this.sampleRate, modelSha256: modelSha, options: { normalize, overlap: this.overlap } });
  }

  /**
   * Writes the loaded track's stems to the cache once the generation they are
   * to be stored for is final in every block (called on each segment and poll).
   */
  private maybeStore(): void {
    const tc = this.trackCache;
    const target = tc?.target;
    if (!tc || !target || tc.storing || this.disposed) return;
    const t = tc.track.transport;
    if (Atomics.load(t, TRACK.GENERATION) !== target.generation) return;
    if (Atomics.load(t, TRACK.SEGMENTS_DONE) !== Atomics.load(t, TRACK.SEGMENTS_TOTAL)) return;
    if (!allReady(tc.track, target.generation)) return;
    tc.storing = true;
    void this.store(tc, target);
  }

  private async store(tc: NonNullable<TrackStemEngine['trackCache']>, target: { generation: number; key: string }): Promise<void> {
    const track = tc.track;
    try {
      const cache = await this.stemCache;
      if (!cache) return;
      const result = await cache.put(target.key, new Float32Array(track.buffers.stems), {
        rows: track.sources * track.channels, frames: track.length, sampleRate: track.sampleRate, sources: this.sources,
      });
      // A model swap during the write may have replaced blocks under it: such an entry would mix two models.
      const intact = Atomics.load(track.transport, TRACK.GENERATION) === target.generation && allReady(track, target.generation);
      if (result.stored && !intact) await cache.delete(target.key);
      this.cacheUsage = cache.usage();
      if (!result.stored) this.warn('cache', `this separation is not remembered: ${result.message}`);
      else if (intact) this.dispatchEvent(new CustomEvent('cache-stored', { detail: { key: result.key, bytes: result.bytes, evicted: result.evicted } }));
    } catch (err) {
      this.warn('cache', `this separation is not remembered: ${(err as Error).message}`);
    } finally {
      tc.storing = false;
      // Tried once per generation (a full disk does not get better by retrying every poll); a swap sets a new target.
      if (tc.target === target) tc.target = undefined;
    }
  }

  /**
   * Empties the stem cache (the "Clear cached stems" control): every remembered
   * separation, of any track and model. The loaded track keeps its stems in memory.
   */
  async clearCache(): Promise<{ entries: number; bytes: number }> {
    const cache = await this.stemCache;
    if (!cache) return TrackStemEngine.clearStemCache();
    const removed = await cache.clear();
    this.cacheUsage = cache.usage();
    return removed;
  }

  /**
   * Empties the stem cache without an engine (e.g. a settings page). While an
   * engine is open, prefer its clearCache(): its own view of the cache then stays in step.
   */
  static async clearStemCache(): Promise<{ entries: number; bytes: number }> {
    const cache = await StemCache.open({ storage: null });
    return cache.clear();
  }


  /** Track length, seconds (0 before a track is loaded). */
  get duration(): number {
    return this.transport?.duration ?? 0;
  }

  /** Playhead, seconds. */
  get position(): number {
    return this.transport?.position ?? 0;
  }

  get playing(): boolean {
    return this.transport?.playing ?? false;
  }

  get loop(): { start: number; end: number } | null {
    return this.transport?.loop ?? null;
  }

  /** Starts playback (from the start again when at the end). Fades in over rampFrames. */
  play(): void {
    this.requireTransport().play();
  }

  /** Pauses with a fade-out over rampFrames; the playhead stays. */
  pause(): void {
    this.requireTransport().pause();
  }

  /** Moves the playhead (seconds): a short fade out and in; segments around it are separated first. */
  seek(seconds: number): void {
    this.requireTransport().seek(seconds);
  }

  /** Loops [start, end) seconds, or stops looping with null. */
  setLoop(region: { start: number; end: number } | null): void {
    this.requireTransport().setLoop(region);
  }

  /** How much of each of `buckets` parts of the track is separated (0..1), by the current model. */
  readyMap(buckets: number): Float32Array {
    return this.transport?.readyMap(buckets) ?? new Float32Array(buckets);
  }

  /** Peak |sample| of each of `buckets` parts of the track (for an overview). */
  waveformPeaks(buckets: number): Float32Array {
    return this.transport?.waveformPeaks(buckets) ?? new Float32Array(buckets);
  }

  /**
   * Track mode: one WAV per stem and a ZIP of them, rendered in the worker once
   * the whole track is separated (the rest is separated first, reported as
   * progress). The engine keeps playing meanwhile.
   */
  async exportStems(request: ExportStemsRequest = {}): Promise<ExportedStems> {
    this.requireTransport();
    const id = this.newId();
    const reply = await this.request({ type: 'export', id, baseName: request.baseName ?? 'stemstream', format: request.format, clipMode: request.clipMode }, (m) => {
      if (m.type === 'export-progress') request.onProgress?.({ phase: m.phase, fraction: m.fraction });
    });
    if (reply.type !== 'exported') throw new Error(`stemstream: unexpected reply ${reply.type} to an export`);
    return { files: reply.files, zip: reply.zip, zipName: reply.zipName, clipped: reply.clipped, clipping: reply.clipping, format: request.format ?? 'wav24' };
  }

  /** setModel (stem-engine-core.ts) on a track: the cache keys wait for the new model's identity. */
  protected override beginModelSwap(): ModelSwapHooks {
    // Cache keys wait for the swap: a track loaded meanwhile is keyed by the model that separates it.
    this.modelSerial++;
    const previousSha = this.modelSha;
    let settleSha: ((next: Promise<string> | undefined) => void) | undefined;
    if (previousSha) {
      this.modelSha = new Promise<string>((resolve, reject) => (settleSha = (next) => (next ?? previousSha).then(resolve, reject)));
      this.modelSha.catch(() => undefined); // reported where awaited (loadTrack, the swap's key)
    }
    return {
      done: (bytes, generation) => {
        const sha = previousSha ? modelIdentity(bytes) : undefined;
        settleSha?.(sha);
        if (generation !== undefined) this.onModelSwapped(generation, sha);
      },
      failed: () => settleSha?.(undefined),
    };
  }

  /** The worker recomputes the track as `generation` with the new model: store that under the new model's key once final. */
  private onModelSwapped(generation: number, sha: Promise<string> | undefined): void {
    this.generation = generation;
    const tc = this.trackCache;
    if (!tc || !sha) return;
    tc.target = undefined;
    tc.precomputed = false;
    sha.then((s) => this.trackKey(tc.audio, s, tc.normalize)).then(
      (key) => {
        // Unless another swap or track came first.
        if (this.trackCache === tc && this.generation === generation) {
          tc.target = { generation, key };
          this.maybeStore();
        }
      },
      (err: unknown) => this.warn('cache', `the stem cache cannot key the new model: ${(err as Error).message}`),
    );
  }

  protected override statusSourceKind(): EngineStatusSnapshot['sourceKind'] {
    return this.transport ? 'track' : 'idle';
  }

  protected override cacheStatus(): StemCacheStatus {
    const u = this.cacheUsage;
    return { state: this.cacheState, entries: u?.entries ?? 0, bytes: u?.bytes ?? 0, maxBytes: u?.maxBytes ?? 0, persisted: u?.persisted };
  }

  private requireTransport(): TrackTransport {
    if (!this.transport) throw new StemstreamError('INVALID_STATE', 'no track loaded yet: call loadTrack() first');
    return this.transport;
  }

  protected override onDisposed(): void {
    this.transport = undefined;
  }

  protected override onSegment(): void {
    this.maybeStore();
  }

  protected override onPoll(): void {
    this.maybeStore();
    if (this.transport) {
      const e = Atomics.load(this.transport.track.transport, TRACK.ENDED_SEQ);
      if (e !== this.endedSeq) {
        this.endedSeq = e;
        this.dispatchEvent(new Event('ended'));
      }
    }
  }
}

/** JavaScript callers: live-only calls on a track engine say what is wrong (TypeScript refuses them). */
Object.defineProperty(TrackStemEngine.prototype, 'connectInput', {
  value(): never {
    throw new StemstreamError('INVALID_STATE', "this engine plays tracks (sourceKind: 'track'); create one with sourceKind: 'live' to separate a live source");
  },
});
