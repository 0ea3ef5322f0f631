/**
 * <stem-transport>: play/pause, time, loop, and a waveform overview of the
 * track on a <canvas> with the separation's progress (a band along the bottom,
 * and the waveform dimmed where stems are not ready yet), the loop region and
 * the playhead. The waveform is a slider: click or drag to seek, Shift+drag to
 * mark a loop region, arrows/Home/End/Space from the keyboard.
 *
 * Everything is polled from the engine (position every frame, readiness at
 * 4 Hz, peaks once per track), so the display follows the engine, never a copy.
 */
import { LitElement, css, html, type PropertyValues } from 'lit';
import { EnginePollController } from './engine-poll-controller.js';
import type { TrackTransportSource } from './engine-view.js';
import { cssColor, defineOnce, formatTime, themeStyles } from './theme.js';

/** Buckets of the overview: fixed, so a resize redraws without asking the engine to scan the track again. */
const PEAK_BUCKETS = 2048;
const READY_BUCKETS = 512;
const READY_POLL_MS = 250;
/** Seconds moved by Left/Right and by PageUp/PageDown. */
export const SEEK_STEP_S = 5;
const SEEK_PAGE_S = 30;
/** The loop toggle's default region length, from the playhead. */
export const DEFAULT_LOOP_S = 8;
/** While dragging, seeks reach the engine at most this often (each one re-prioritises segments). */
const DRAG_SEEK_MS = 60;
/** A Shift+drag shorter than this is a slip, not a region. */
const MIN_LOOP_S = 0.25;
const BAND_PX = 4;
const BAR_STEP_PX = 3;
const BAR_WIDTH_PX = 2;

type Region = { start: number; end: number };
type Drag = { mode: 'seek'; pointer: number; time: number; lastSeek: number } | { mode: 'loop'; pointer: number; anchor: number; time: number };

export class StemTransport extends LitElement {
  static override properties = {
    engine: { attribute: false },
  };

  declare engine: TrackTransportSource | null;

  private readonly poller = new EnginePollController<TrackTransportSource>(this, {
    engine: () => this.engine,
    periodMs: READY_POLL_MS,
    everyFrame: true,
    poll: (engine, _now, due) => this.tick(engine, due),
  });
  private resizeObserver: ResizeObserver | null = null;
  private peaks: Float32Array = new Float32Array(0);
  private peakMax = 1;
  private peaksFor = -1;
  private ready: Float32Array = new Float32Array(0);
  private drag: Drag | null = null;
  /** The last Shift+dragged region: what the loop toggle uses instead of the default 8 s. */
  private userRegion: Region | null = null;
  private colors: Record<string, string> = {};
  private drawKey = '';
  private cssWidth = 0;
  private cssHeight = 0;

  constructor() {
    super();
    this.engine = null;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizeObserver?.disconnect();
    this.resizeObserver = null;
  }

  protected override firstUpdated(): void {
    this.observeSize();
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('engine')) {
      this.peaksFor = -1;
      this.userRegion = null;
    }
    this.readColors();
    this.drawKey = '';
  }

  private get canvas(): HTMLCanvasElement | null {
    return this.renderRoot.querySelector('canvas');
  }

  private get wave(): HTMLElement | null {
    return this.renderRoot.querySelector('.wave');
  }

  private observeSize(): void {
    const wave = this.wave;
    if (!wave || this.resizeObserver) return;
    this.resizeObserver = new ResizeObserver((entries) => {
      const box = entries[entries.length - 1]!.contentRect;
      this.cssWidth = box.width;
      this.cssHeight = box.height;
      this.drawKey = '';
      // Draw now, not on the next frame, so a resize never shows a stretched bitmap.
      this.draw();
    });
    this.resizeObserver.observe(wave);
  }

  private readColors(): void {
    this.colors = {
      bg: cssColor(this, '--_bg', '#15171c'),
      fg: cssColor(this, '--_muted', '#9198a5'),
      accent: cssColor(this, '--_accent', '#5aa9ff'),
      ready: cssColor(this, '--_ready', '#4cc38a'),
      head: cssColor(this, '--_fg', '#e4e7ec'),
      loop: cssColor(this, '--_solo', '#f2c14e'),
    };
  }

  /** One frame: peaks on a new track, readiness when due, the canvas; returns the key of the text parts. */
  private tick(engine: TrackTransportSource, due: boolean): string {
    const duration = engine.duration;
    const newTrack = duration !== this.peaksFor;
    if (newTrack) {
      // A new track (or the first): peaks once, a fresh readiness map, no stale loop region.
      this.peaksFor = duration;
      this.peaks = duration > 0 ? engine.waveformPeaks(PEAK_BUCKETS) : new Float32Array(0);
      let max = 1e-3;
      for (const p of this.peaks) max = Math.max(max, p);
      // Scaled to the loudest peak, like any overview: a quiet master still shows its shape.
      this.peakMax = max;
      this.userRegion = null;
    }
    if (due || newTrack) {
      this.ready = duration > 0 ? engine.readyMap(READY_BUCKETS) : new Float32Array(0);
      this.drawKey = '';
    }
    // Re-render the text parts only when what they show changes (tenths of a second, state).
    const loop = engine.loop;
    const readyPct = this.ready.length ? Math.round((this.ready.reduce((a, b) => a + b, 0) / this.ready.length) * 100) : 0;
    const key = `${Math.floor(this.shownPosition() * 10)}|${engine.playing}|${duration}|${loop?.start}|${loop?.end}|${readyPct}`;
    this.draw();
    return key;
  }

  /** The playhead to show: the engine's, or where a drag is about to seek. */
  private shownPosition(): number {
    const engine = this.engine;
    if (this.drag?.mode === 'seek') return this.drag.time;
    return engine ? Math.min(Math.max(0, engine.position), Math.max(0, engine.duration)) : 0;
  }

  private shownLoop(): { region: Region | null; pending: boolean } {
    if (this.drag?.mode === 'loop') {
      const a = this.drag.anchor;
      const b = this.drag.time;
      return { region: { start: Math.min(a, b), end: Math.max(a, b) }, pending: true };
    }
    return { region: this.engine?.loop ?? null, pending: false };
  }

  private draw(): void {
    const canvas = this.canvas;
    const engine = this.engine;
    if (!canvas || this.cssWidth <= 0 || this.cssHeight <= 0) return;
    const dpr = window.devicePixelRatio || 1;
    const w = this.cssWidth;
    const h = this.cssHeight;
    const duration = engine?.duration ?? 0;
    const pos = this.shownPosition();
    const { region, pending } = this.shownLoop();
    const key = `${w}|${h}|${dpr}|${duration}|${Math.round((pos / (duration || 1)) * w * dpr)}|${region?.start}|${region?.end}|${pending}`;
    if (key === this.drawKey) return;
    this.drawKey = key;

    // Backing store in device pixels (sharp on HiDPI, and again after a zoom changes the ratio).
    const bw = Math.max(1, Math.round(w * dpr));
    const bh = Math.max(1, Math.round(h * dpr));
    if (canvas.width !== bw || canvas.height !== bh) {
      canvas.width = bw;
      canvas.height = bh;
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const c = this.colors;
    ctx.fillStyle = c.bg!;
    ctx.fillRect(0, 0, w, h);
    if (duration <= 0) return;

    const waveH = h - BAND_PX - 2;
    const mid = waveH / 2;
    const headX = (pos / duration) * w;

    // Waveform bars: played part in the accent colour; dimmed where the stems are not ready.
    const peaks = this.peaks;
    const ready = this.ready;
    for (let x = 0; x < w; x += BAR_STEP_PX) {
      const f0 = x / w;
      const f1 = Math.min(1, (x + BAR_STEP_PX) / w);
      let p = 0;
      if (peaks.length) {
        const i0 = Math.floor(f0 * peaks.length);
        const i1 = Math.max(i0 + 1, Math.floor(f1 * peaks.length));
        for (let i = i0; i < i1 && i < peaks.length; i++) p = Math.max(p, peaks[i]!);
      }
      const r = ready.length ? ready[Math.min(ready.length - 1, Math.floor(f0 * ready.length))]! : 1;
      const barH = Math.max(1, (p / this.peakMax) * (waveH - 4));
      ctx.globalAlpha = 0.4 + 0.6 * r;
      ctx.fillStyle = x + BAR_WIDTH_PX <= headX ? c.accent! : c.fg!;
      ctx.fillRect(x, mid - barH / 2, BAR_WIDTH_PX, barH);
    }

    // The readiness band along the bottom: opacity = fraction of each bucket separated.
    ctx.globalAlpha = 0.18;
    ctx.fillStyle = c.fg!;
    ctx.fillRect(0, h - BAND_PX, w, BAND_PX);
    ctx.fillStyle = c.ready!;
    for (let i = 0; i < ready.length; i++) {
      const r = ready[i]!;
      if (r <= 0) continue;
      ctx.globalAlpha = Math.min(1, r);
      const x0 = (i / ready.length) * w;
      ctx.fillRect(x0, h - BAND_PX, w / ready.length + 0.5, BAND_PX);
    }

    if (region) {
      const x0 = (region.start / duration) * w;
      const x1 = (region.end / duration) * w;
      ctx.globalAlpha = pending ? 0.12 : 0.18;
      ctx.fillStyle = c.loop!;
      ctx.fillRect(x0, 0, x1 - x0, waveH);
      ctx.globalAlpha = 1;
      ctx.fillRect(Math.round(x0), 0, 1, waveH);
      ctx.fillRect(Math.round(x1) - 1, 0, 1, waveH);
    }

    ctx.globalAlpha = 1;
    ctx.fillStyle = c.head!;
    const hx = Math.min(w - 1, Math.max(0, Math.round(headX - 1)));
    ctx.fillRect(hx, 0, 2, h);
    ctx.beginPath();
    ctx.moveTo(hx - 4, 0);
    ctx.lineTo(hx + 6, 0);
    ctx.lineTo(hx + 1, 5);
    ctx.closePath();
    ctx.fill();
  }

  // ---- actions ---------------------------------------------------------------

  /** Play or pause, as the button and Space on the waveform do. */
  togglePlay(): void {
    const engine = this.engine;
    if (!engine || engine.duration <= 0) return;
    if (engine.playing) engine.pause();
    else engine.play();
    this.refresh();
  }

  /** Seek, clamped to the track. */
  seek(seconds: number): void {
    const engine = this.engine;
    if (!engine || engine.duration <= 0) return;
    engine.seek(Math.min(Math.max(0, seconds), engine.duration));
    this.refresh();
  }

  /** Loop off, or on: over the last Shift+dragged region, else [position, position + 8 s] kept inside the track. */
  toggleLoop(): void {
    const engine = this.engine;
    if (!engine || engine.duration <= 0) return;
    if (engine.loop) {
      engine.setLoop(null);
    } else {
      const d = engine.duration;
      const len = Math.min(DEFAULT_LOOP_S, d);
      const start = Math.min(Math.max(0, engine.position), d - len);
      engine.setLoop(this.userRegion ?? { start, end: start + len });
    }
    this.refresh();
  }

  private refresh(): void {
    this.poller.shownKey = undefined;
    this.drawKey = '';
    this.requestUpdate();
  }

  private timeAt(clientX: number): number {
    const wave = this.wave;
    const d = this.engine?.duration ?? 0;
    if (!wave || d <= 0) return 0;
    const rect = wave.getBoundingClientRect();
    const f = rect.width > 0 ? (clientX - rect.left) / rect.width : 0;
    return Math.min(1, Math.max(0, f)) * d;
  }

  private onPointerDown(e: PointerEvent): void {
    const engine = this.engine;
    if (e.button !== 0 || !engine || engine.duration <= 0) return;
    const wave = e.currentTarget as HTMLElement;
    wave.focus();
    wave.setPointerCapture(e.pointerId);
    e.preventDefault();
    const t = this.timeAt(e.clientX);
    if (e.shiftKey) {
      this.drag = { mode: 'loop', pointer: e.pointerId, anchor: t, time: t };
    } else {
      this.drag = { mode: 'seek', pointer: e.pointerId, time: t, lastSeek: performance.now() };
      engine.seek(t);
    }
    this.refresh();
  }

  private onPointerMove(e: PointerEvent): void {
    const drag = this.drag;
    if (!drag || drag.pointer !== e.pointerId) return;
    drag.time = this.timeAt(e.clientX);
    if (drag.mode === 'seek' && performance.now() - drag.lastSeek >= DRAG_SEEK_MS) {
      drag.lastSeek = performance.now();
      this.engine?.seek(drag.time);
    }
    this.drawKey = '';
  }

  private onPointerUp(e: PointerEvent): void {
    const drag = this.drag;
    if (!drag || drag.pointer !== e.pointerId) return;
    this.drag = null;
    const engine = this.engine;
    if (!engine) return;
    const t = this.timeAt(e.clientX);
    if (drag.mode === 'seek') {
      engine.seek(t);
    } else if (Math.abs(t - drag.anchor) >= MIN_LOOP_S) {
      this.userRegion = { start: Math.min(t, drag.anchor), end: Math.max(t, drag.anchor) };
      engine.setLoop(this.userRegion);
    }
    this.refresh();
  }

  private onPointerCancel(): void {
    this.drag = null;
    this.refresh();
  }

  private onWaveKey(e: KeyboardEvent): void {
    const engine = this.engine;
    if (!engine || e.ctrlKey || e.metaKey || e.altKey) return;
    const pos = engine.position;
    switch (e.key) {
      case 'ArrowLeft':
      case 'ArrowDown':
        this.seek(pos - SEEK_STEP_S);
        break;
      case 'ArrowRight':
      case 'ArrowUp':
        this.seek(pos + SEEK_STEP_S);
        break;
      case 'PageDown':
        this.seek(pos - SEEK_PAGE_S);
        break;
      case 'PageUp':
        this.seek(pos + SEEK_PAGE_S);
        break;
      case 'Home':
        this.seek(0);
        break;
      case 'End':
        this.seek(engine.duration);
        break;
      case ' ':
        if (!e.repeat) this.togglePlay();
        break;
      case 'l':
      case 'L':
        if (!e.repeat) this.toggleLoop();
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  // ---- rendering -------------------------------------------------------------

  protected override render(): unknown {
    const engine = this.engine;
    const duration = engine?.duration ?? 0;
    const hasTrack = duration > 0;
    const playing = engine?.playing ?? false;
    const pos = this.shownPosition();
    const loop = engine?.loop ?? null;
    const readyFrac = this.ready.length ? this.ready.reduce((a, b) => a + b, 0) / this.ready.length : 0;
    return html`
      <div class="bar">
        <button
          class="play"
          aria-label=${playing ? 'Pause' : 'Play'}
          title=${playing ? 'Pause (Space on the waveform)' : 'Play (Space on the waveform)'}
          ?disabled=${!hasTrack}
          @click=${() => this.togglePlay()}
        >
          ${playing
            ? html`<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="3" y="2" width="3.5" height="12" rx="1" /><rect x="9.5" y="2" width="3.5" height="12" rx="1" /></svg>`
            : html`<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 2.2v11.6a.8.8 0 0 0 1.2.7l9.4-5.8a.8.8 0 0 0 0-1.4L5.2 1.5A.8.8 0 0 0 4 2.2z" /></svg>`}
        </button>
        <button
          class="loop"
          aria-pressed=${loop ? 'true' : 'false'}
          title="Loop: the Shift+dragged region, else 8 s from the playhead (L on the waveform)"
          ?disabled=${!hasTrack}
          @click=${() => this.toggleLoop()}
        >
          <svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 5h7.5L10 3.5M12 11H4.5L6 12.5M4 5a3 3 0 0 0 0 6M12 11a3 3 0 0 0 0-6" fill="none" stroke="currentColor" stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round" /></svg>
          Loop
        </button>
        <span class="time tabular"><span class="now">${formatTime(pos)}</span> / ${formatTime(duration)}</span>
        ${loop
          ? html`<span class="loop-text tabular">${formatTime(loop.start)}–${formatTime(loop.end)}</span>`
          : ''}
        <span class="legend" title="Separated audio, drawn along the bottom of the waveform">
          <span class="swatch" aria-hidden="true"></span>Separated <span class="tabular">${Math.round(readyFrac * 100)} %</span>
        </span>
      </div>
      <div
        class="wave"
        role="slider"
        tabindex=${hasTrack ? '0' : '-1'}
        aria-label="Playback position"
        aria-valuemin="0"
        aria-valuemax=${String(Math.round(duration))}
        aria-valuenow=${String(Math.round(pos))}
        aria-valuetext=${`${formatTime(pos, false)} of ${formatTime(duration, false)}`}
        aria-disabled=${hasTrack ? 'false' : 'true'}
        aria-keyshortcuts="ArrowLeft ArrowRight Home End Space L"
        @pointerdown=${(e: PointerEvent) => this.onPointerDown(e)}
        @pointermove=${(e: PointerEvent) => this.onPointerMove(e)}
        @pointerup=${(e: PointerEvent) => this.onPointerUp(e)}
        @pointercancel=${() => this.onPointerCancel()}
        @keydown=${(e: KeyboardEvent) => this.onWaveKey(e)}
      >
        <canvas aria-hidden="true"></canvas>
        ${hasTrack ? '' : html`<span class="placeholder">No track loaded</span>`}
      </div>
    `;
  }

  static override styles = [
    themeStyles,
    css`
      .bar {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 6px 10px;
        margin-bottom: 8px;
      }
      button {
        display: inline-flex;
        align-items: center;
        gap: 6px;
      }
      svg {
        width: 14px;
        height: 14px;
        fill: currentColor;
      }
      .play {
        width: 36px;
        height: 32px;
        justify-content: center;
        padding: 0;
        background: var(--_accent);
        border-color: var(--_accent);
        color: var(--_accent-fg);
      }
      .loop[aria-pressed='true'] {
        color: var(--_solo);
        border-color: var(--_solo);
      }
      .time {
        font-size: 13px;
        white-space: nowrap;
      }
      .now {
        color: var(--_fg);
      }
      .loop-text {
        font-size: 11px;
        color: var(--_solo);
        white-space: nowrap;
      }
      .legend {
        margin-left: auto;
        display: inline-flex;
        align-items: center;
        gap: 6px;
        font-size: 11px;
        color: var(--_muted);
        white-space: nowrap;
      }
      .swatch {
        width: 12px;
        height: 4px;
        border-radius: 1px;
        background: var(--_ready);
      }
      .wave {
        position: relative;
        height: var(--stemstream-waveform-height, 76px);
        border-radius: calc(var(--_radius) - 2px);
        overflow: hidden;
        cursor: pointer;
        /* No browser panning or zooming while dragging on the waveform. */
        touch-action: none;
        user-select: none;
      }
      .wave[aria-disabled='true'] {
        cursor: default;
      }
      canvas {
        display: block;
        width: 100%;
        height: 100%;
      }
      .placeholder {
        position: absolute;
        inset: 0;
        display: grid;
        place-items: center;
        color: var(--_muted);
      }
    `,
  ];
}

defineOnce('stem-transport', StemTransport);

declare global {
  interface HTMLElementTagNameMap {
    'stem-transport': StemTransport;
  }
}
