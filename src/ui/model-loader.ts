/**
 * <model-loader>: choose a model by URL or local file (or drop a file on it).
 * It loads nothing itself: it dispatches `model-select` and the page, which owns
 * the engine, reports back through `progress`, `error`, `busy` and `modelName`.
 */
import { LitElement, css, html, nothing } from 'lit';
import { defineOnce, themeStyles } from './theme.js';

export interface ModelSelectDetail {
  source: string | File;
}

export interface ModelLoadProgress {
  loadedBytes: number;
  /** Unknown (no Content-Length): the bar is indeterminate. */
  totalBytes?: number;
}

const ACCEPT = '.onnx,.json';

function mb(bytes: number): string {
  return `${(Math.max(0, bytes) / 1e6).toFixed(1)} MB`;
}

export class ModelLoader extends LitElement {
  static override properties = {
    progress: { attribute: false },
    error: { type: String },
    busy: { type: Boolean, reflect: true },
    modelName: { type: String, attribute: 'model-name' },
    dragging: { state: true },
  };

  declare progress: ModelLoadProgress | null;
  declare error: string;
  declare busy: boolean;
  declare modelName: string;
  protected declare dragging: boolean;

  constructor() {
    super();
    this.progress = null;
    this.error = '';
    this.busy = false;
    this.modelName = '';
    this.dragging = false;
    // Dropping a model file anywhere on the component is the same as choosing it.
    this.addEventListener('dragover', (e) => {
      if (this.busy || !e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      this.dragging = true;
    });
    this.addEventListener('dragleave', () => (this.dragging = false));
    this.addEventListener('drop', (e) => {
      this.dragging = false;
      const file = e.dataTransfer?.files[0];
      if (!file || this.busy) return;
      e.preventDefault();
      this.select(file);
    });
  }

  private select(source: string | File): void {
    this.dispatchEvent(new CustomEvent<ModelSelectDetail>('model-select', { detail: { source }, bubbles: true, composed: true }));
  }

  private onSubmit(e: SubmitEvent): void {
    e.preventDefault();
    const input = this.renderRoot.querySelector<HTMLInputElement>('#url');
    const url = input?.value.trim() ?? '';
    if (!url || this.busy) return;
    this.select(url);
  }

  private onFile(e: Event): void {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    // Cleared so that choosing the same file again (after an error) fires again.
    input.value = '';
    if (file) this.select(file);
  }

  private renderProgress(): unknown {
    const p = this.progress;
    if (!p) return nothing;
    const total = p.totalBytes !== undefined && p.totalBytes > 0 ? p.totalBytes : undefined;
    const pct = total ? Math.min(100, Math.round((p.loadedBytes / total) * 100)) : undefined;
    // No value attribute = an indeterminate bar, for downloads without a known size.
    return html`<div class="progress">
      <progress aria-label="Model download" max=${total ?? nothing} value=${total ? Math.min(p.loadedBytes, total) : nothing}></progress>
      <span class="progress-text tabular">${total ? `${mb(p.loadedBytes)} of ${mb(total)} (${pct} %)` : `${mb(p.loadedBytes)}`}</span>
    </div>`;
  }

  protected override render(): unknown {
    const busy = this.busy;
    return html`
      <div class="current">
        ${this.modelName
          ? html`<span class="muted">Model</span> <strong class="name" title=${this.modelName}>${this.modelName}</strong>`
          : html`<span class="muted">No model loaded</span>`}
      </div>
      <form class="row ${this.dragging ? 'dragging' : ''}" aria-busy=${busy ? 'true' : 'false'} @submit=${(e: SubmitEvent) => this.onSubmit(e)}>
        <label class="visually-hidden" for="url">Model URL</label>
        <input
          id="url"
          type="text"
          inputmode="url"
          autocomplete="off"
          spellcheck="false"
          required
          placeholder="Model URL (.onnx or .json)"
          ?disabled=${busy}
        />
        <button type="submit" class="load" ?disabled=${busy}>Load</button>
        <span class="alt">
          <span class="or" aria-hidden="true">or</span>
          <button
          type="button"
          class="file"
          ?disabled=${busy}
          @click=${() => this.renderRoot.querySelector<HTMLInputElement>('input[type=file]')?.click()}
          >Open file…</button>
        </span>
        <input type="file" accept=${ACCEPT} class="visually-hidden" tabindex="-1" aria-hidden="true" ?disabled=${busy} @change=${(e: Event) => this.onFile(e)} />
      </form>
      ${this.renderProgress()}
      <div class="error ${this.error ? 'shown' : ''}" role="alert">${this.error}</div>
    `;
  }

  static override styles = [
    themeStyles,
    css`
      .current {
        margin-bottom: 8px;
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .muted,
      .or {
        color: var(--_muted);
      }
      .name {
        margin-left: 4px;
      }
      .row {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 6px 8px;
        border-radius: var(--_radius);
      }
      /* "or Open file…" wraps as one piece, never leaving a dangling "or". */
      .alt {
        display: inline-flex;
        align-items: center;
        gap: 8px;
      }
      .row.dragging {
        outline: 2px dashed var(--_accent);
        outline-offset: 4px;
      }
      #url {
        flex: 1 1 220px;
        min-width: 0;
        min-height: 28px;
        padding: 4px 8px;
        font: inherit;
        color: var(--_fg);
        background: var(--_bg);
        border: 1px solid var(--_border);
        border-radius: calc(var(--_radius) - 2px);
      }
      #url::placeholder {
        color: var(--_muted);
        opacity: 0.8;
      }
      .load {
        background: var(--_accent);
        border-color: var(--_accent);
        color: var(--_accent-fg);
        font-weight: 600;
      }
      .progress {
        display: flex;
        align-items: center;
        gap: 10px;
        margin-top: 10px;
      }
      progress {
        flex: 1;
        min-width: 0;
        height: 6px;
        appearance: none;
        border: none;
        border-radius: 3px;
        background: var(--_surface-2);
        overflow: hidden;
      }
      progress::-webkit-progress-bar {
        background: var(--_surface-2);
      }
      progress::-webkit-progress-value {
        background: var(--_accent);
      }
      progress::-moz-progress-bar {
        background: var(--_accent);
      }
      /* Unknown size: a moving sheen instead of a bar that would claim a fraction. */
      progress:not([value]) {
        background: linear-gradient(90deg, var(--_surface-2) 30%, var(--_accent) 50%, var(--_surface-2) 70%) 0 0 / 300% 100%;
        animation: sheen 1.4s linear infinite;
      }
      progress:not([value])::-webkit-progress-bar {
        background: transparent;
      }
      @keyframes sheen {
        from {
          background-position: 100% 0;
        }
        to {
          background-position: 0 0;
        }
      }
      @media (prefers-reduced-motion: reduce) {
        progress:not([value]) {
          animation: none;
        }
      }
      .progress-text {
        font-size: 12px;
        color: var(--_muted);
        white-space: nowrap;
      }
      .error.shown {
        margin-top: 10px;
        padding: 6px 10px;
        border-left: 3px solid var(--_mute);
        background: color-mix(in srgb, var(--_mute) 12%, transparent);
        border-radius: 0 4px 4px 0;
        color: var(--_fg);
        overflow-wrap: anywhere;
      }
    `,
  ];
}

defineOnce('model-loader', ModelLoader);

declare global {
  interface HTMLElementTagNameMap {
    'model-loader': ModelLoader;
  }
  interface HTMLElementEventMap {
    'model-select': CustomEvent<ModelSelectDetail>;
  }
}
