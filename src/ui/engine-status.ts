/**
 * <engine-status>: what the engine runs on and how well it keeps up, as a
 * <dl> polled at 4 Hz. Only a change of backend (e.g. WebGPU lost, fell back to
 * WASM) is announced to screen readers: numbers that move every poll would be noise.
 */
import { LitElement, css, html, type PropertyValues } from 'lit';
import { EnginePollController } from './engine-poll-controller.js';
import type { EngineStatusSnapshot, EngineStatusSource, StemCacheStatus } from './engine-view.js';
import { defineOnce, themeStyles } from './theme.js';

const POLL_MS = 250;

/** Display name of a backend id ('' before the first model). */
export function backendLabel(backend: string): string {
  const known: Record<string, string> = { webgpu: 'WebGPU', wasm: 'WASM', webgl: 'WebGL', webnn: 'WebNN', cpu: 'CPU', node: 'Node' };
  return backend ? known[backend.toLowerCase()] ?? backend : '—';
}

function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms === 0) return '0 ms';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function formatMB(bytes: number): string {
  return bytes > 0 ? `${(bytes / 1e6).toFixed(1)} MB` : '';
}

/** The stem cache in a few words: whether this track came from it, what it holds. */
export function cacheLabel(c: StemCacheStatus): string {
  if (c.state === 'off') return 'Off';
  const state = c.state === 'hit' ? 'Hit' : c.state === 'miss' ? 'Miss' : 'On';
  return `${state} · ${c.entries} track${c.entries === 1 ? '' : 's'}${c.bytes > 0 ? `, ${formatMB(c.bytes)}` : ''}`;
}

export class EngineStatus extends LitElement {
  static override properties = {
    engine: { attribute: false },
  };

  declare engine: EngineStatusSource | null;

  private snap: EngineStatusSnapshot | null = null;
  private readonly poller = new EnginePollController<EngineStatusSource>(this, {
    engine: () => this.engine,
    periodMs: POLL_MS,
    poll: (engine) => this.poll(engine),
  });
  /** Backend of the previous poll; undefined until the first, which sets the baseline silently. */
  private lastBackend: string | undefined;
  private announcement = '';
  /** The outcome of the last "Clear cached stems", shown beside the button. */
  private cleared = '';
  private clearing = false;

  constructor() {
    super();
    this.engine = null;
  }

  // willUpdate, not updated: the poller restarts after it (hostUpdate), so the first poll's
  // state renders in this same update (Lit warns about an update requested from updated()).
  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('engine')) {
      this.lastBackend = undefined;
      if (!this.engine) this.snap = null;
    }
  }

  /** Reads the status; its JSON is the key of what is shown. */
  private poll(engine: EngineStatusSource): string {
    const s = engine.status();
    if (this.lastBackend !== undefined && s.backend !== this.lastBackend && s.backend) {
      const threads = s.backend.toLowerCase() === 'wasm' ? `, ${s.threads} thread${s.threads === 1 ? '' : 's'}` : '';
      this.announcement = `Inference backend: ${backendLabel(s.backend)}${threads}`;
    }
    this.lastBackend = s.backend;
    this.snap = { ...s };
    return JSON.stringify(s);
  }

  private async clearCache(): Promise<void> {
    const engine = this.engine;
    if (!engine?.clearCache || this.clearing) return;
    this.clearing = true;
    this.requestUpdate();
    try {
      const r = await engine.clearCache();
      this.cleared = `${r.entries} cached track${r.entries === 1 ? '' : 's'} removed`;
    } catch (err) {
      this.cleared = `Could not clear: ${(err as Error).message}`;
    } finally {
      this.clearing = false;
      this.poller.pollNow();
      this.requestUpdate();
    }
  }

  protected override render(): unknown {
    const s = this.snap;
    const cache = s?.cache;
    const rtf = s?.realTimeFactor ?? 0;
    // < 0.9 leaves the headroom the engine needs (docs/ARCHITECTURE.md §7); ≥ 1 cannot keep up.
    const rtfClass = !s || rtf <= 0 ? '' : rtf < 0.9 ? 'good' : rtf < 1 ? 'warn' : 'bad';
    const model = s?.modelName ? s.modelName : '—';
    const size = s ? formatMB(s.modelBytes) : '';
    const kind = s ? s.sourceKind.charAt(0).toUpperCase() + s.sourceKind.slice(1) : '—';
    return html`
      <dl>
        <div class="item">
          <dt>Backend</dt>
          <dd class="backend">${s ? backendLabel(s.backend) : '—'}</dd>
        </div>
        <div class="item">
          <dt>Threads</dt>
          <dd class="tabular">${s && s.backend ? s.threads : '—'}</dd>
        </div>
        <div class="item">
          <dt>Latency</dt>
          <dd class="latency tabular">${s ? formatMs(s.latencyMs) : '—'}</dd>
        </div>
        <div class="item">
          <dt title="Inference time over audio time; below 0.9 keeps up with headroom">Real-time factor</dt>
          <dd class="rtf tabular ${rtfClass}">${s && rtf > 0 ? `${rtf.toFixed(2)}×` : '—'}</dd>
        </div>
        <div class="item">
          <dt>Underruns</dt>
          <dd class="underruns tabular ${s && s.underruns > 0 ? 'bad' : ''}">${s ? s.underruns : '—'}</dd>
        </div>
        <div class="item">
          <dt>Ready ahead</dt>
          <dd class="ahead tabular">${s && s.sourceKind !== 'idle' ? `${s.readyAheadSeconds.toFixed(1)} s` : '—'}</dd>
        </div>
        <div class="item">
          <dt>Source</dt>
          <dd class="source-kind">${kind}</dd>
        </div>
        <div class="item wide">
          <dt>Backend choice</dt>
          <dd class="backend-reason">${s?.backendReason ? s.backendReason : '—'}${s && s.backendsTried.length > 1
            ? html` <span class="tried tabular">(measured: ${s.backendsTried.map((b) => `${backendLabel(b.backend)} ${b.realTimeFactor.toFixed(2)}×`).join(', ')})</span>`
            : ''}</dd>
        </div>
        <div class="item wide">
          <dt>Model</dt>
          <dd class="model" title=${model}>${model}${size ? html` <span class="size tabular">${size}</span>` : ''}</dd>
        </div>
        ${cache ? html`<div class="item wide">
          <dt title="Separations kept in this browser: a track opened again plays separated at once">Stem cache</dt>
          <dd class="cache tabular">${cacheLabel(cache)}${this.engine?.clearCache && cache.state !== 'off'
            ? html` <button type="button" class="clear-cache" ?disabled=${this.clearing} @click=${() => void this.clearCache()}>Clear cached stems</button>`
            : ''}${this.cleared ? html` <span class="cleared" role="status">${this.cleared}</span>` : ''}</dd>
        </div>` : ''}
      </dl>
      <div class="visually-hidden live" aria-live="polite">${this.announcement}</div>
    `;
  }

  static override styles = [
    themeStyles,
    css`
      /* Labels and values wrap rather than end in an ellipsis: a narrow column
         (a small screen, a font wider than ours) must still say what it shows. */
      dl {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(104px, 1fr));
        gap: 2px 14px;
        /* The last row's value padding (below) is not a gap. */
        margin: 0 0 -6px;
      }
      /* Each item takes two rows of the list (subgrid), so that the values of a
         row line up even where one label wraps onto two lines. */
      .item {
        min-width: 0;
        display: grid;
        grid-row: span 2;
        grid-template-rows: subgrid;
        align-content: start;
      }
      .wide {
        grid-column: span 2;
      }
      dt,
      dd {
        min-width: 0;
        overflow-wrap: anywhere;
      }
      dt {
        font-size: 10.5px;
        letter-spacing: 0.04em;
        text-transform: uppercase;
        color: var(--_muted);
        align-self: end;
      }
      dd {
        margin: 0;
        padding-bottom: 6px;
        font-weight: 600;
      }
      .clear-cache {
        font: inherit;
        font-size: 11px;
        font-weight: 400;
        margin-left: 6px;
        padding: 1px 6px;
      }
      .cleared,
      .size {
        font-weight: 400;
        color: var(--_muted);
        font-size: 12px;
      }
      .good {
        color: var(--_ready);
      }
      .warn {
        color: var(--_warn);
      }
      .bad {
        color: var(--_mute);
      }
    `,
  ];
}

defineOnce('engine-status', EngineStatus);

declare global {
  interface HTMLElementTagNameMap {
    'engine-status': EngineStatus;
  }
}
