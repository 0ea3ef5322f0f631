/**
 * Shared look of the stemstream components: dark, neutral and compact. Every
 * colour and size is a CSS custom property with a default, so a page themes all
 * components at once by setting e.g. `--stemstream-accent` on any ancestor
 * (custom properties inherit through shadow roots).
 */
import { css } from 'lit';

export const themeStyles = css`
  :host {
    --_bg: var(--stemstream-bg, #15171c);
    --_surface: var(--stemstream-surface, #1d2027);
    --_surface-2: var(--stemstream-surface-2, #262a33);
    --_border: var(--stemstream-border, #323743);
    --_fg: var(--stemstream-fg, #e4e7ec);
    --_muted: var(--stemstream-muted-fg, #9198a5);
    --_accent: var(--stemstream-accent, #5aa9ff);
    --_accent-fg: var(--stemstream-accent-fg, #0b1320);
    --_mute: var(--stemstream-mute, #ef5f5f);
    --_solo: var(--stemstream-solo, #f2c14e);
    --_ready: var(--stemstream-ready, #4cc38a);
    --_warn: var(--stemstream-warn, #f2a24e);
    --_focus: var(--stemstream-focus, #8cc4ff);
    --_radius: var(--stemstream-radius, 6px);
    --_font: var(--stemstream-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    --_mono: var(--stemstream-mono, ui-monospace, 'SF Mono', Menlo, Consolas, monospace);

    display: block;
    box-sizing: border-box;
    color: var(--_fg);
    background: var(--_surface);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    font: 13px/1.35 var(--_font);
    padding: 10px 12px;
  }
  :host([hidden]) {
    display: none;
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  button {
    font: inherit;
    color: var(--_fg);
    background: var(--_surface-2);
    border: 1px solid var(--_border);
    border-radius: calc(var(--_radius) - 2px);
    padding: 4px 10px;
    min-height: 28px;
    cursor: pointer;
  }
  button:hover:not(:disabled) {
    border-color: var(--_muted);
  }
  button:disabled,
  input:disabled {
    opacity: 0.5;
    cursor: not-allowed;
  }
  /* Keyboard users must always see where they are (WCAG 2.4.7). */
  :focus-visible {
    outline: 2px solid var(--_focus);
    outline-offset: 2px;
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  .tabular {
    font-family: var(--_mono);
    font-variant-numeric: tabular-nums;
  }
`;

/** Reads a custom property resolved on `el` (for canvas drawing, which cannot use var()). */
export function cssColor(el: Element, name: string, fallback: string): string {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

/** Linear gain → dB, with −Infinity for 0. */
export function toDb(gain: number): number {
  return gain > 0 ? 20 * Math.log10(gain) : -Infinity;
}

/** dB → linear gain. */
export function fromDb(db: number): number {
  return Number.isFinite(db) ? Math.pow(10, db / 20) : 0;
}

/** "−6.0 dB", "+2.5 dB", "−∞ dB". */
export function formatDb(db: number): string {
  if (!Number.isFinite(db)) return '−∞ dB';
  const r = Math.round(db * 10) / 10;
  const sign = r > 0 ? '+' : r < 0 ? '−' : '';
  return `${sign}${Math.abs(r).toFixed(1)} dB`;
}

/** m:ss.t (or h:mm:ss for long tracks). */
export function formatTime(seconds: number, tenths = true): string {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const ss = tenths ? (Math.floor(s * 10) / 10).toFixed(1).padStart(4, '0') : String(Math.floor(s)).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Registers `tag` unless something already did (two bundles, or defineStemstreamElements after the import). */
export function defineOnce(tag: string, ctor: CustomElementConstructor): void {
  if (typeof customElements !== 'undefined' && !customElements.get(tag)) customElements.define(tag, ctor);
}
