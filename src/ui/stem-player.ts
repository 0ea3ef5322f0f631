/**
 * <stem-player>: the whole "separate this" in one element. It takes a song (its
 * `src`, a file dropped on it or picked with its Open button), a model (`model`:
 * an .onnx URL or a manifest .json), separates the song in track mode as it
 * plays, and shows the transport, the mixer, the engine's status and an export
 * button. It composes the other components over one TrackStemEngine of its own.
 *
 *   <script type="module" src="…/stemstream/dist/web/stemstream.js"></script>
 *   <stem-player model="models/htdemucs.json" src="song.mp3" mute="vocals"></stem-player>
 *
 * Attributes: `src`, `model`, `mute` and `solo` (stem names, space or comma
 * separated, applied to each track as it loads: `mute="vocals"` is karaoke),
 * `backend` ('auto' | 'webgpu' | 'wasm').
 * Events: the engine's own (ready, progress, underrun, warning, restart,
 * recovered, backend-fallback, backend-switch, ended, error, cache-hit,
 * cache-stored) re-dispatched from
 * the element with the same detail, bubbling out of its shadow root; and
 * `load` (a track is loaded: { name, duration }), `model-progress` (download),
 * `exported` ({ zipName, bytes }).
 * Theming: the --stemstream-* custom properties (theme.ts) reach every part;
 * parts: `drop`, `open`, `title`, `message`, `transport`, `mixer`, `status`,
 * `export`.
 */
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { StemEngine, type TrackStemEngine } from '../engine/host/stem-engine.js';
import type { StemEngineBackend, StemEngineEventMap, TrackStemEngineOptions } from '../engine/host/stem-engine-options.js';
import { describeClipping } from '../export/clip.js';
import { describeModel } from '../model/model.js';
import { engineModelOf, loadModelSource, type LoadedModel } from '../web/model-source.js';
import { assertCrossOriginIsolated } from '../engine/host/isolation-check.js';
import { EnginePollController } from './engine-poll-controller.js';
import type { ModelDownloadProgress } from '../web/model-store.js';
import type { TrackTransportSource } from './engine-view.js';
import './engine-status.js';
import './stem-mixer.js';
import './stem-transport.js';
import { defineOnce, themeStyles } from './theme.js';

/** The engine's events that the element re-dispatches as its own. */
export const STEM_PLAYER_FORWARDED_EVENTS = [
  'ready', 'progress', 'underrun', 'warning', 'restart', 'recovered', 'backend-fallback', 'backend-switch', 'ended', 'error',
  'cache-hit', 'cache-stored',
] as const satisfies readonly (keyof StemEngineEventMap)[];

/** How the element makes its engine: StemEngine.create unless a page or a test passes another. */
export type StemPlayerEngineFactory = (context: AudioContext, options: TrackStemEngineOptions) => Promise<TrackStemEngine>;

type Phase = 'empty' | 'model' | 'decode' | 'separating' | 'ready' | 'error';

const PROGRESS_POLL_MS = 250;
const PROGRESS_BUCKETS = 200;

/** What the element says with no `model` attribute: the command that makes one, and the attribute to set. */
export const STEM_PLAYER_NO_MODEL =
  '<stem-player> has no model: run `npx stemstream model web -o models/` in the page\'s folder, then set <stem-player model="models/default.json">';

/** Stem names from an attribute: "vocals", "vocals drums", "vocals,drums". */
export function stemList(value: string | null | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((s) => s.length > 0);
}

export class StemPlayer extends LitElement {
  static override properties = {
    src: { type: String, reflect: true },
    model: { type: String, reflect: true },
    mute: { type: String, reflect: true },
    solo: { type: String, reflect: true },
    backend: { type: String, reflect: true },
    phase: { state: true },
    message: { state: true },
    separated: { state: true },
    exporting: { state: true },
  };

  declare src: string;
  declare model: string;
  declare mute: string;
  declare solo: string;
  declare backend: StemEngineBackend;
  declare phase: Phase;
  declare message: string;
  declare separated: number;
  declare exporting: boolean;
  /** How the engine is made (default StemEngine.create); set before the first song. */
  engineFactory: StemPlayerEngineFactory = (context, options) => StemEngine.create(context, options);

  private currentEngine: TrackStemEngine | null = null;
  private currentContext: AudioContext | null = null;
  /** The model the engine runs, and the `model` attribute it came from. */
  private loadedModel: { from: string; model: LoadedModel } | null = null;
  /** Bumped by each open(): an older open that is still loading gives way. */
  private openSeq = 0;
  private trackName = '';
  /** The current song's stems came from the stem cache (separated on an earlier visit). */
  private remembered = false;
  /** The separation's progress, read back from the engine's readiness map. */
  private readonly poller = new EnginePollController<TrackStemEngine>(this, {
    engine: () => this.currentEngine,
    periodMs: PROGRESS_POLL_MS,
    poll: (engine) => {
      if (engine.duration === 0) return;
      const map = engine.readyMap(PROGRESS_BUCKETS);
      let sum = 0;
      for (let i = 0; i < map.length; i++) sum += map[i];
      this.separated = sum / map.length;
      if (this.phase === 'separating' && this.separated >= 1) this.setPhase('ready', '');
    },
  });
  private readonly transportSource: TrackTransportSource;

  constructor() {
    super();
    this.src = '';
    this.model = '';
    this.mute = '';
    this.solo = '';
    this.backend = 'auto';
    this.phase = 'empty';
    this.message = '';
    this.separated = 0;
    this.exporting = false;
    // The transport drives the engine through this view, so that Play (a user
    // gesture) also resumes the AudioContext, which browsers start suspended.
    const player = this;
    this.transportSource = {
      get duration() { return player.currentEngine?.duration ?? 0; },
      get playing() { return player.currentEngine?.playing ?? false; },
      get position() { return player.currentEngine?.position ?? 0; },
      get loop() { return player.currentEngine?.loop ?? null; },
      play: () => player.play(),
      pause: () => player.pause(),
      seek: (s) => player.currentEngine?.seek(s),
      setLoop: (r) => player.currentEngine?.setLoop(r),
      readyMap: (n) => player.currentEngine?.readyMap(n) ?? new Float32Array(n),
      waveformPeaks: (n) => player.currentEngine?.waveformPeaks(n) ?? new Float32Array(n),
    };
  }

  /** The engine separating the current song (null before the first song, and after dispose()). */
  get engine(): TrackStemEngine | null {
    return this.currentEngine;
  }

  /** The AudioContext the player plays through (made with the first song, at the model's rate). */
  get context(): AudioContext | null {
    return this.currentContext;
  }

  /** Plays from the playhead (resuming the AudioContext: call it from a user gesture). */
  play(): void {
    if (!this.currentEngine) return;
    void this.currentContext?.resume();
    this.currentEngine.play();
  }

  pause(): void {
    this.currentEngine?.pause();
  }

  /**
   * Opens a song: a URL (relative to the page) or a File/Blob. Loads the model
   * first if needed. Resolves when the track is loaded (it separates on from
   * there, around the playhead); rejects, and shows why, when it cannot be.
   */
  async open(source: string | Blob): Promise<void> {
    const seq = ++this.openSeq;
    const stale = () => seq !== this.openSeq || !this.isConnected;
    try {
      this.trackName = typeof source === 'string' ? decodeURIComponent(source.split(/[?#]/)[0].split('/').pop() ?? source) : 'name' in source && typeof source.name === 'string' ? source.name : 'dropped file';
      const engine = await this.ensureEngine(stale);
      if (!engine || stale()) return;
      this.setPhase('decode', `Decoding ${this.trackName}…`);
      const bytes = typeof source === 'string' ? await this.fetchSong(source) : await source.arrayBuffer();
      if (stale()) return;
      const audio = await this.decode(bytes);
      if (stale()) return;
      if (engine.duration > 0) engine.pause(); // the previous song
      this.remembered = false;
      await engine.loadTrack(audio);
      if (stale()) return;
      this.applyStemAttributes(engine);
      this.setPhase('separating', '');
      this.emit('load', { name: this.trackName, duration: engine.duration });
    } catch (err) {
      if (stale()) return;
      const error = err instanceof Error ? err : new Error(String(err));
      this.setPhase('error', error.message);
      this.emit('error', { error });
      throw error;
    }
  }

  /** Exports the stems of the current song as WAVs in a ZIP and offers it as a download. */
  async exportStems(): Promise<void> {
    const engine = this.currentEngine;
    if (!engine || this.exporting) return;
    this.exporting = true;
    const base = this.trackName.replace(/\.[^.]+$/, '') || 'stemstream';
    try {
      const stems = await engine.exportStems({
        baseName: base,
        onProgress: (p) => { this.message = p.phase === 'separating' ? `Separating the rest for the export: ${Math.round(p.fraction * 100)} %` : 'Writing the stems…'; },
      });
      const url = URL.createObjectURL(new Blob([stems.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = stems.zipName;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      // The export's clip handling changed or clipped these stems: say so (rescale, the default, changes them silently otherwise).
      const clipping = describeClipping(stems.clipping, stems.format === 'wav16' ? 16 : 24);
      this.message = clipping === '' ? '' : `Exported; ${clipping}`;
      this.emit('exported', { zipName: stems.zipName, bytes: stems.zip.length });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.message = `Export failed: ${error.message}`;
      this.emit('error', { error });
    } finally {
      this.exporting = false;
    }
  }

  /** Stops and releases the engine and the AudioContext (also done when the element leaves the page). */
  async dispose(): Promise<void> {
    this.openSeq++;
    this.poller.stop();
    const engine = this.currentEngine;
    const context = this.currentContext;
    this.currentEngine = null;
    this.currentContext = null;
    this.loadedModel = null;
    if (this.isConnected) this.setPhase('empty', '');
    await engine?.dispose();
    await context?.close();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Moved in the page (disconnected, hence disposed, then connected again): the song comes back.
    if (this.hasUpdated && this.src && !this.currentEngine) void this.open(this.src).catch(() => {});
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    void this.dispose();
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('model') && this.loadedModel && this.loadedModel.from !== this.model) {
      // Another model: a fresh engine (its stems, rate or segment may differ), the song reopened.
      void this.dispose().then(() => { if (this.src) void this.open(this.src).catch(() => {}); });
      return;
    }
    if (changed.has('src') && this.src) void this.open(this.src).catch(() => {});
  }

  // ---- loading ----

  private async ensureEngine(stale: () => boolean): Promise<TrackStemEngine | null> {
    if (this.currentEngine && this.loadedModel?.from === this.model) return this.currentEngine;
    if (!this.model) throw new Error(STEM_PLAYER_NO_MODEL);
    // Here, not in loadModelSource: fetching a model without an engine is fine anywhere, but this one would be wasted.
    assertCrossOriginIsolated();
    this.setPhase('model', 'Loading the model…');
    const model = await loadModelSource(this.model, (p) => this.onModelProgress(p));
    if (stale()) return null;
    const info = describeModel(model.bytes, model.name);
    const context = new AudioContext({ sampleRate: info.sampleRate, latencyHint: 'playback' });
    let engine: TrackStemEngine;
    try {
      engine = await this.engineFactory(context, { model: engineModelOf(model), modelName: model.name, sourceKind: 'track', backend: this.backend || 'auto' });
    } catch (err) {
      await context.close();
      throw err;
    }
    if (stale()) {
      await engine.dispose();
      await context.close();
      return null;
    }
    engine.output.connect(context.destination);
    for (const type of STEM_PLAYER_FORWARDED_EVENTS) {
      engine.addEventListener(type, (e: Event) => {
        if (type === 'error') this.setPhase('error', (e as CustomEvent<{ error: Error }>).detail.error.message);
        if (type === 'cache-hit') this.remembered = true;
        this.emit(type, (e as CustomEvent).detail);
      });
    }
    this.currentEngine = engine;
    this.currentContext = context;
    this.loadedModel = { from: this.model, model };
    this.poller.sync();
    return engine;
  }

  private onModelProgress(p: ModelDownloadProgress): void {
    const pct = p.totalBytes ? ` ${Math.round((100 * p.loadedBytes) / p.totalBytes)} %` : ` ${(p.loadedBytes / 1e6).toFixed(1)} MB`;
    this.message = `Loading the model${p.fromCache ? ' (cached)' : ''}…${pct}`;
    this.emit('model-progress', p);
  }

  private async fetchSong(url: string): Promise<ArrayBuffer> {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`could not fetch the song ${url}: HTTP ${res.status} ${res.statusText}`.trim());
    return res.arrayBuffer();
  }

  private async decode(bytes: ArrayBuffer): Promise<AudioBuffer> {
    try {
      return await this.currentContext!.decodeAudioData(bytes);
    } catch (err) {
      throw new Error(`${this.trackName} could not be decoded as audio (${err instanceof Error ? err.message : String(err)}): try a WAV, MP3, FLAC, Ogg or M4A file`, { cause: err });
    }
  }

  /** The `mute` and `solo` attributes, on a freshly loaded track. Unknown names are a warning, not a failure. */
  private applyStemAttributes(engine: TrackStemEngine): void {
    const unknown: string[] = [];
    const muted = new Set(stemList(this.mute));
    const soloed = new Set(stemList(this.solo));
    for (const name of [...muted, ...soloed]) if (!engine.sources.includes(name)) unknown.push(name);
    for (const name of engine.sources) {
      engine.mute(name, muted.has(name));
      engine.solo(name, soloed.has(name));
    }
    if (unknown.length > 0) {
      const message = `<stem-player>: no stem named ${unknown.join(', ')} in this model (its stems: ${engine.sources.join(', ')})`;
      this.emit('warning', { message, nonFiniteSamples: 0 });
      // A typo in mute="…" would otherwise leave the vocals playing without a word: say it where the page's author looks.
      console.warn(message);
      this.message = message;
    }
  }

  // ---- display ----

  private setPhase(phase: Phase, message: string): void {
    this.phase = phase;
    this.message = message;
  }

  private emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  private onDrop(e: DragEvent): void {
    e.preventDefault();
    this.toggleAttribute('dragging', false);
    const file = e.dataTransfer?.files[0];
    if (file) void this.open(file).catch(() => {});
  }

  private onPick(e: Event): void {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (file) void this.open(file).catch(() => {});
  }

  private statusLine(): string {
    if (this.message) return this.message;
    if (this.phase === 'separating') return `Separating: ${Math.floor(this.separated * 100)} %`;
    if (this.phase === 'ready') return this.remembered ? 'Separated (remembered from an earlier visit)' : 'Separated';
    if (this.phase === 'empty') return this.model ? 'Drop a song here, or open one' : STEM_PLAYER_NO_MODEL;
    return '';
  }

  override render() {
    const engine = this.currentEngine;
    const loaded = engine !== null && engine.duration > 0;
    return html`
      <div
        class="drop"
        part="drop"
        @dragover=${(e: DragEvent) => { e.preventDefault(); this.toggleAttribute('dragging', true); }}
        @dragleave=${() => this.toggleAttribute('dragging', false)}
        @drop=${(e: DragEvent) => this.onDrop(e)}
      >
        <div class="head">
          <label class="open" part="open">
            Open…
            <input type="file" accept="audio/*" class="visually-hidden" @change=${(e: Event) => this.onPick(e)} />
          </label>
          <span class="title" part="title">${this.trackName || 'No song'}</span>
          <button part="export" class="export" ?disabled=${!loaded || this.exporting} @click=${() => void this.exportStems()}>
            ${this.exporting ? 'Exporting…' : 'Export stems'}
          </button>
        </div>
        <p class="message ${this.phase === 'error' ? 'error' : ''}" part="message" role=${this.phase === 'error' ? 'alert' : 'status'}>${this.statusLine()}</p>
        ${loaded
          ? html`
              <stem-transport part="transport" .engine=${this.transportSource}></stem-transport>
              <stem-mixer part="mixer" .engine=${engine}></stem-mixer>
              <engine-status part="status" .engine=${engine}></engine-status>
            `
          : nothing}
      </div>
    `;
  }

  static override styles = [
    themeStyles,
    css`
      .drop {
        display: flex;
        flex-direction: column;
        gap: 8px;
      }
      :host([dragging]) {
        outline: 2px dashed var(--_accent);
        outline-offset: -4px;
      }
      .head {
        display: flex;
        align-items: center;
        gap: 8px;
      }
      .title {
        flex: 1;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
        font-weight: 600;
      }
      .open {
        display: inline-flex;
        align-items: center;
        min-height: 28px;
        padding: 4px 10px;
        border: 1px solid var(--_border);
        border-radius: calc(var(--_radius) - 2px);
        background: var(--_surface-2);
        cursor: pointer;
      }
      .open:focus-within {
        outline: 2px solid var(--_focus);
        outline-offset: 2px;
      }
      .export {
        background: var(--_accent);
        color: var(--_accent-fg);
        border-color: var(--_accent);
      }
      .message {
        margin: 0;
        min-height: 1.35em;
        color: var(--_muted);
      }
      .message.error {
        color: var(--_mute);
      }
      stem-transport,
      stem-mixer,
      engine-status {
        border: none;
        padding: 0;
      }
    `,
  ];
}

defineOnce('stem-player', StemPlayer);

declare global {
  interface HTMLElementTagNameMap {
    'stem-player': StemPlayer;
  }
}
