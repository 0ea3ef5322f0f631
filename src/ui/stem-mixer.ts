/**
 * <stem-mixer>: one strip per stem (name, level meter, gain fader in dB, mute
 * and solo). The engine is the only state: every action calls it, then reads
 * `stemState()` back, so the strip shows what the engine really does (clamped
 * gains, a mute that won, another UI's change).
 *
 * Keyboard: 1..9 toggle mute of stem N, Shift+1..9 its solo, while focus is in
 * the mixer (or anywhere, with the `global-keys` attribute); keys typed into a
 * text field are never taken.
 */
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { EnginePollController } from './engine-poll-controller.js';
import type { StemMixerSource } from './engine-view.js';
import { defineOnce, formatDb, fromDb, themeStyles, toDb } from './theme.js';

/** Fader range in dB; the bottom position means silence (gain 0). */
export const FADER_MIN_DB = -60;
export const FADER_MAX_DB = 6;
export const FADER_STEP_DB = 0.5;
/** Meter scale: the bar spans −60..0 dBFS. */
const METER_FLOOR_DB = -60;
/** Accessible meter values change at most this often (screen readers would drown at 60 Hz). */
const ARIA_METER_INTERVAL_MS = 200;
/** How often the strips re-read stemState() to pick up changes made elsewhere. */
const STATE_POLL_MS = 250;

export interface StemChangeDetail {
  name: string;
  gain: number;
  muted: boolean;
  soloed: boolean;
}

/** Fader position (dB, on the step grid) for a linear gain. */
export function gainToFader(gain: number): number {
  const db = toDb(gain);
  if (!Number.isFinite(db) || db <= FADER_MIN_DB) return FADER_MIN_DB;
  return Math.min(FADER_MAX_DB, Math.round(db / FADER_STEP_DB) * FADER_STEP_DB);
}

/** Linear gain for a fader position; the bottom is silence. */
export function faderToGain(db: number): number {
  return db <= FADER_MIN_DB ? 0 : fromDb(Math.min(FADER_MAX_DB, db));
}

/** True when a key event was typed into a field where digits are text. */
function isTextEntry(target: EventTarget | undefined): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['range', 'checkbox', 'radio', 'button', 'submit', 'reset', 'file', 'color'].includes(target.type);
  }
  return false;
}

export class StemMixer extends LitElement {
  static override properties = {
    engine: { attribute: false },
    globalKeys: { type: Boolean, attribute: 'global-keys', reflect: true },
  };

  declare engine: StemMixerSource | null;
  declare globalKeys: boolean;

  private lastAria = 0;
  private listeningOnWindow = false;
  /** Meters every frame; stemState() at STATE_POLL_MS, against what the last render showed. */
  private readonly poller = new EnginePollController<StemMixerSource>(this, {
    engine: () => this.engine,
    periodMs: STATE_POLL_MS,
    everyFrame: true,
    poll: (engine, now, due) => {
      this.drawMeters(engine.meterLevels(), now);
      return due ? this.currentStateKey(engine) : undefined;
    },
  });

  constructor() {
    super();
    this.engine = null;
    this.globalKeys = false;
    this.addEventListener('keydown', (e) => {
      if (!this.globalKeys) this.onKey(e);
    });
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.hasAttribute('role')) this.setAttribute('role', 'group');
    if (!this.hasAttribute('aria-label')) this.setAttribute('aria-label', 'Stem mixer');
    this.syncWindowListener();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.syncWindowListener();
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('globalKeys')) this.syncWindowListener();
  }

  private readonly onWindowKey = (e: KeyboardEvent): void => this.onKey(e);

  private syncWindowListener(): void {
    const want = this.globalKeys && this.isConnected;
    if (want === this.listeningOnWindow) return;
    if (want) window.addEventListener('keydown', this.onWindowKey);
    else window.removeEventListener('keydown', this.onWindowKey);
    this.listeningOnWindow = want;
  }

  private onKey(e: KeyboardEvent): void {
    if (e.defaultPrevented || e.repeat || e.ctrlKey || e.metaKey || e.altKey) return;
    if (isTextEntry(e.composedPath()[0])) return;
    // `code`, not `key`: Shift+2 is '@' (or '"') depending on the layout.
    const m = /^(?:Digit|Numpad)([1-9])$/.exec(e.code);
    const engine = this.engine;
    if (!m || !engine) return;
    const name = engine.sources[Number(m[1]) - 1];
    if (name === undefined) return;
    e.preventDefault();
    if (e.shiftKey) this.toggleSolo(name);
    else this.toggleMute(name);
  }

  /** Mute or unmute a stem, as the M button does. */
  toggleMute(name: string): void {
    const engine = this.engine;
    if (!engine) return;
    engine.mute(name, !engine.stemState(name).muted);
    this.afterAction(name);
  }

  /** Solo or unsolo a stem, as the S button does. */
  toggleSolo(name: string): void {
    const engine = this.engine;
    if (!engine) return;
    engine.solo(name, !engine.stemState(name).soloed);
    this.afterAction(name);
  }

  private onFader(name: string, input: HTMLInputElement): void {
    const engine = this.engine;
    if (!engine) return;
    engine.setGain(name, faderToGain(Number(input.value)));
    const truth = String(gainToFader(engine.stemState(name).gain));
    // Lit would not rewrite a value it thinks is unchanged: put the truth back by hand.
    if (input.value !== truth) input.value = truth;
    this.afterAction(name);
  }

  private resetFader(name: string): void {
    this.engine?.setGain(name, 1);
    this.afterAction(name);
  }

  private afterAction(name: string): void {
    const engine = this.engine;
    if (!engine) return;
    const s = engine.stemState(name);
    const detail: StemChangeDetail = { name, gain: s.gain, muted: s.muted, soloed: s.soloed };
    this.dispatchEvent(new CustomEvent<StemChangeDetail>('stem-change', { detail, bubbles: true, composed: true }));
    this.requestUpdate();
  }

  /** Meters are written straight to the DOM each frame: no Lit render at 60 Hz. */
  private drawMeters(levels: ArrayLike<number>, now: number): void {
    const meters = this.renderRoot.querySelectorAll<HTMLElement>('.meter');
    const aria = now - this.lastAria >= ARIA_METER_INTERVAL_MS;
    if (aria) this.lastAria = now;
    meters.forEach((el, i) => {
      const level = Math.max(0, Number(levels[i] ?? 0) || 0);
      const db = toDb(level);
      const frac = Number.isFinite(db) ? Math.min(1, Math.max(0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB)) : 0;
      el.style.setProperty('--level', frac.toFixed(4));
      el.classList.toggle('clip', level >= 1);
      if (aria) {
        el.setAttribute('aria-valuenow', String(Math.round(Math.min(level, 1) * 1000) / 1000));
        el.setAttribute('aria-valuetext', level >= 1 ? 'clipping' : db < METER_FLOOR_DB ? 'silent' : `${formatDb(db)}FS`);
      }
    });
  }

  private currentStateKey(engine: StemMixerSource): string {
    return engine.sources
      .map((n) => {
        const s = engine.stemState(n);
        return `${n}:${s.gain}:${+s.muted}:${+s.soloed}`;
      })
      .join('|');
  }

  protected override render(): unknown {
    const engine = this.engine;
    if (!engine || engine.sources.length === 0) {
      this.poller.shownKey = '';
      return html`<p class="empty">No stems yet: load a model.</p>`;
    }
    this.poller.shownKey = this.currentStateKey(engine);
    const states = engine.sources.map((n) => engine.stemState(n));
    const anySolo = states.some((s) => s.soloed);
    // tabindex -1 on the wrapper (not the host: a host with tabindex -1 drops its whole shadow tree from
    // the Tab order): a click on a strip's name or background focuses the mixer, so the number keys work.
    return html`<div class="strips" tabindex="-1">
      ${engine.sources.map((name, i) => {
        const s = states[i]!;
        // Audible only if not muted and (no solo anywhere or this one is soloed): dim the rest.
        const silent = s.muted || (anySolo && !s.soloed);
        const fader = gainToFader(s.gain);
        const db = toDb(s.gain);
        const key = i < 9 ? String(i + 1) : '';
        return html`<div class="strip ${silent ? 'silent' : ''}" part="strip">
          <div class="name" title=${name}>
            ${key ? html`<span class="key" aria-hidden="true">${key}</span>` : nothing}<span class="label">${name}</span>
          </div>
          <div class="body">
            <div class="meter" role="meter" aria-label=${`${name} level`} aria-valuemin="0" aria-valuemax="1" aria-valuenow="0" aria-valuetext="silent">
              <div class="fill"></div>
            </div>
            <input
              class="fader"
              type="range"
              min=${FADER_MIN_DB}
              max=${FADER_MAX_DB}
              step=${FADER_STEP_DB}
              .value=${String(fader)}
              aria-label=${`${name} gain`}
              aria-valuetext=${fader <= FADER_MIN_DB ? 'off' : formatDb(db)}
              title="Gain (double-click: 0 dB)"
              @input=${(e: Event) => this.onFader(name, e.target as HTMLInputElement)}
              @dblclick=${() => this.resetFader(name)}
            />
          </div>
          <div class="db tabular" aria-hidden="true">${fader <= FADER_MIN_DB ? '−∞ dB' : formatDb(db)}</div>
          <div class="buttons">
            <button
              class="mute"
              aria-pressed=${s.muted ? 'true' : 'false'}
              aria-label=${`Mute ${name}`}
              aria-keyshortcuts=${key || nothing}
              title=${key ? `Mute ${name} (${key})` : `Mute ${name}`}
              @click=${() => this.toggleMute(name)}
            >M</button>
            <button
              class="solo"
              aria-pressed=${s.soloed ? 'true' : 'false'}
              aria-label=${`Solo ${name}`}
              aria-keyshortcuts=${key ? `Shift+${key}` : nothing}
              title=${key ? `Solo ${name} (Shift+${key})` : `Solo ${name}`}
              @click=${() => this.toggleSolo(name)}
            >S</button>
          </div>
        </div>`;
      })}
    </div>`;
  }

  static override styles = [
    themeStyles,
    css`
      /* The layout follows the mixer's own width (container query), not the viewport's. */
      :host {
        container-type: inline-size;
      }
      .strips:focus {
        outline: none;
      }
      .empty {
        margin: 0;
        color: var(--_muted);
      }
      /* Wide: vertical channel strips side by side, wrapping onto more rows when needed. */
      .strips {
        display: grid;
        grid-template-columns: repeat(auto-fill, var(--stemstream-strip-width, 84px));
        gap: 8px;
      }
      .strip {
        display: grid;
        grid-template-areas: 'name' 'body' 'db' 'buttons';
        justify-items: center;
        gap: 6px;
        padding: 8px 6px;
        background: var(--_bg);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        min-width: 0;
      }
      /* Silenced (muted, or another stem soloed): dimmed, but never the focus ring of a focused fader. */
      .strip.silent .meter,
      .strip.silent .db,
      .strip.silent .fader:not(:focus-visible) {
        opacity: 0.45;
      }
      .name {
        grid-area: name;
        display: flex;
        align-items: center;
        gap: 4px;
        max-width: 100%;
        min-width: 0;
        font-weight: 600;
        text-transform: capitalize;
      }
      .label {
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .key {
        flex: none;
        font: 10px/14px var(--_mono);
        min-width: 14px;
        text-align: center;
        color: var(--_muted);
        border: 1px solid var(--_border);
        border-radius: 3px;
      }
      .body {
        grid-area: body;
        display: flex;
        gap: 8px;
        height: var(--stemstream-fader-height, 132px);
        align-items: stretch;
      }
      .meter {
        --level: 0;
        position: relative;
        width: 8px;
        border-radius: 2px;
        background: var(--_surface-2);
        overflow: hidden;
      }
      /* The full-length gradient is clipped, so each colour stays at its dB mark. */
      .fill {
        position: absolute;
        inset: 0;
        background: linear-gradient(to top, var(--_ready) 0%, var(--_ready) 70%, var(--_solo) 85%, var(--_mute) 100%);
        clip-path: inset(calc((1 - var(--level)) * 100%) 0 0 0);
      }
      .meter.clip {
        box-shadow: inset 0 2px 0 var(--_mute);
      }
      .fader {
        margin: 0;
        width: 20px;
        height: 100%;
        /* A vertical range input; bottom = −∞, top = +6 dB; arrow keys as usual. */
        writing-mode: vertical-lr;
        direction: rtl;
        appearance: none;
        background: transparent;
        cursor: ns-resize;
      }
      .fader::-webkit-slider-runnable-track {
        width: 4px;
        margin: 0 auto;
        background: var(--_surface-2);
        border-radius: 2px;
      }
      .fader::-webkit-slider-thumb {
        appearance: none;
        width: 20px;
        height: 10px;
        margin-left: -8px;
        border-radius: 2px;
        background: var(--_fg);
        border: 1px solid var(--_border);
      }
      .fader::-moz-range-track {
        width: 4px;
        background: var(--_surface-2);
        border-radius: 2px;
      }
      .fader::-moz-range-thumb {
        width: 18px;
        height: 10px;
        border-radius: 2px;
        background: var(--_fg);
      }
      .fader:focus-visible {
        outline-offset: 0;
      }
      .db {
        grid-area: db;
        font-size: 11px;
        color: var(--_muted);
        white-space: nowrap;
      }
      .buttons {
        grid-area: buttons;
        display: flex;
        gap: 4px;
      }
      .buttons button {
        width: 28px;
        padding: 0;
        font-weight: 700;
      }
      .mute[aria-pressed='true'] {
        background: var(--_mute);
        border-color: var(--_mute);
        color: #1a0b0b;
      }
      .solo[aria-pressed='true'] {
        background: var(--_solo);
        border-color: var(--_solo);
        color: #1c1606;
      }

      /* Narrow (a phone): the strips stack as rows, with horizontal faders and meters. */
      @container (max-width: 480px) {
        .strips {
          grid-template-columns: minmax(0, 1fr);
          gap: 6px;
        }
        .strip {
          grid-template-columns: 76px minmax(0, 1fr) auto;
          grid-template-areas: 'name body buttons' 'db body buttons';
          justify-items: stretch;
          align-items: center;
          gap: 0 10px;
          padding: 6px 8px;
        }
        .db {
          padding-left: 18px;
        }
        .body {
          height: auto;
          flex-direction: column;
          gap: 4px;
        }
        .meter {
          order: 1;
          width: 100%;
          height: 5px;
        }
        .fill {
          background: linear-gradient(to right, var(--_ready) 0%, var(--_ready) 70%, var(--_solo) 85%, var(--_mute) 100%);
          clip-path: inset(0 calc((1 - var(--level)) * 100%) 0 0);
        }
        .meter.clip {
          box-shadow: inset -2px 0 0 var(--_mute);
        }
        .fader {
          width: 100%;
          height: 22px;
          writing-mode: horizontal-tb;
          direction: ltr;
          cursor: ew-resize;
        }
        .fader::-webkit-slider-runnable-track {
          width: auto;
          height: 4px;
          margin: 0;
        }
        .fader::-webkit-slider-thumb {
          width: 10px;
          height: 20px;
          margin-left: 0;
          margin-top: -8px;
        }
        .fader::-moz-range-track {
          width: auto;
          height: 4px;
        }
        .fader::-moz-range-thumb {
          width: 10px;
          height: 18px;
        }
        .buttons button {
          width: 32px;
          min-height: 32px;
        }
      }
    `,
  ];
}

defineOnce('stem-mixer', StemMixer);

declare global {
  interface HTMLElementTagNameMap {
    'stem-mixer': StemMixer;
  }
  interface HTMLElementEventMap {
    'stem-change': CustomEvent<StemChangeDetail>;
  }
}
