/**
 * The demo: a track engine (the bundled clip, an opened or dropped file) or a
 * live engine (the microphone), the Lit components on top, presets, export.
 *
 * Query parameters (used by the browser tests, handy for anyone):
 *   ?model=URL        an .onnx model or a manifest .json (default models/default.json)
 *   ?backend=wasm|webgpu|auto   (default auto: WebGPU on a hardware adapter that holds the model, else WASM)
 *   ?threads=N        WASM threads (default: min(4, cores) when cross-origin isolated)
 *   ?autoplay=1       play the clip as soon as it is loaded (needs an autoplay policy that allows it)
 */
import clipUrl from './clip/mixture.wav?url';
import { StemEngine, type LiveStemEngine, type StemEngineBackend, type TrackStemEngine } from '../src/engine/host/stem-engine.js';
import { declaredLatency } from '../src/engine/host/latency.js';
import { DEFAULT_OVERLAP } from '../src/constants.js';
import { describeModel } from '../src/model/model.js';
import { defineStemstreamElements, type EngineStatus, type ModelLoader, type StemMixer, type StemTransport } from '../src/ui/index.js';
import { clearModelCache } from '../src/web/model-store.js';
import { ensureCrossOriginIsolation } from '../src/web/cross-origin-isolation.js';
import { assertCrossOriginIsolated } from '../src/engine/host/isolation-check.js';
import { describeClipping } from '../src/export/clip.js';
import type { ExportedStems } from '../src/export/stems-export.js';
import { DEFAULT_MANIFEST, loadDemoModel, type DemoModel } from './model-source.js';
import { engineModelOf } from '../src/web/model-source.js';

defineStemstreamElements();

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const backend = (params.get('backend') ?? 'auto') as StemEngineBackend;
const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
const LIVE_LOW_LATENCY = { hop: 2, lookahead: 1 };

const ui = {
  status: $<EngineStatus>('status'),
  transport: $<StemTransport>('transport'),
  mixer: $<StemMixer>('mixer'),
  loader: $<ModelLoader>('loader'),
  playDemo: $<HTMLButtonElement>('play-demo'),
  file: $<HTMLInputElement>('file'),
  mic: $<HTMLButtonElement>('mic'),
  liveMode: $<HTMLSelectElement>('live-mode'),
  micLatency: $<HTMLSpanElement>('mic-latency'),
  sourceName: $<HTMLParagraphElement>('source-name'),
  message: $<HTMLParagraphElement>('message'),
  guide: $<HTMLInputElement>('guide'),
  soloStem: $<HTMLSelectElement>('solo-stem'),
  exportBtn: $<HTMLButtonElement>('export'),
  exportProgress: $<HTMLProgressElement>('export-progress'),
  exportStatus: $<HTMLSpanElement>('export-status'),
  downloads: $<HTMLUListElement>('downloads'),
  clearCache: $<HTMLButtonElement>('clear-cache'),
  cacheStatus: $<HTMLSpanElement>('cache-status'),
  isolation: $<HTMLSpanElement>('isolation'),
};

/** What the page holds; exposed as window.stemstreamDemo for tests and the console. */
const demo = {
  context: undefined as AudioContext | undefined,
  model: undefined as DemoModel | undefined,
  engine: undefined as StemEngine | undefined,
  source: 'none' as 'none' | 'clip' | 'file' | 'mic',
  micStream: undefined as MediaStream | undefined,
  lastExport: undefined as ExportedStems | undefined,
  events: [] as string[],
  ready: false,
  error: undefined as string | undefined,
};
(window as unknown as { stemstreamDemo: typeof demo }).stemstreamDemo = demo;

function showError(err: unknown): void {
  const text = err instanceof Error ? err.message : String(err);
  demo.error = text;
  ui.message.textContent = text;
  ui.message.hidden = false;
}

function clearError(): void {
  ui.message.hidden = true;
  ui.message.textContent = '';
}

function context(sampleRate: number): AudioContext {
  if (demo.context && demo.context.sampleRate !== sampleRate) {
    void demo.context.close();
    demo.context = undefined;
  }
  demo.context ??= new AudioContext({ sampleRate, latencyHint: 'playback' });
  return demo.context;
}

async function disposeEngine(): Promise<void> {
  const e = demo.engine;
  demo.engine = undefined;
  ui.mixer.engine = null;
  ui.transport.engine = null;
  ui.status.engine = null;
  demo.micStream?.getTracks().forEach((t) => t.stop());
  demo.micStream = undefined;
  await e?.dispose();
}

function attach(engine: StemEngine): void {
  demo.engine = engine;
  ui.mixer.engine = engine;
  ui.status.engine = engine;
  ui.transport.engine = engine.sourceKind === 'track' ? engine : null;
  ui.soloStem.replaceChildren(...engine.sources.map((s) => new Option(s, s, s === 'vocals', s === 'vocals')));
  engine.addEventListener('backend-fallback', (e) => {
    demo.events.push('backend-fallback');
    showError(`The GPU failed (${e.detail.reason}); separation continues on ${e.detail.to}.`);
  });
  // The status line says why (engine-status' "Backend choice"); no alert for a measured choice.
  engine.addEventListener('backend-switch', () => demo.events.push('backend-switch'));
  engine.addEventListener('error', (e) => showError(e.detail.error));
  engine.addEventListener('underrun', () => demo.events.push('underrun'));
  engine.addEventListener('progress', () => {
    if (engine.sourceKind === 'track' && engine.duration > 0 && engine.readyMap(1)[0] === 1) {
      ui.sourceName.textContent = `Track: ${trackLabel}: separated.`;
    }
  });
}

/** The loaded track's name and length, for the status line. */
let trackLabel = '';

/** The engine, if it plays tracks (the transport and export controls act on it). */
function trackEngine(): TrackStemEngine | undefined {
  return demo.engine?.sourceKind === 'track' ? demo.engine : undefined;
}

async function createEngine(sourceKind: 'track'): Promise<TrackStemEngine>;
async function createEngine(sourceKind: 'live', mode: 'quality' | 'low-latency'): Promise<LiveStemEngine>;
async function createEngine(sourceKind: 'track' | 'live', mode: 'quality' | 'low-latency' = 'quality'): Promise<StemEngine> {
  const model = demo.model;
  if (!model) throw new Error('no model loaded yet: wait for the download to finish, or choose a model below');
  const info = describeModel(model.bytes, model.name);
  const ctx = context(info.sampleRate);
  await disposeEngine();
  const common = { model: engineModelOf(model), modelName: model.name, backend, threads };
  const engine: StemEngine = sourceKind === 'track'
    ? await StemEngine.create(ctx, { ...common, sourceKind })
    : await StemEngine.create(ctx, { ...common, sourceKind, mode, ...(mode === 'low-latency' ? LIVE_LOW_LATENCY : {}) });
  engine.output.connect(ctx.destination);
  attach(engine);
  return engine;
}

/** Decodes any format the browser can, at the model's rate (decodeAudioData resamples). */
async function playTrack(bytes: ArrayBuffer, name: string, kind: 'clip' | 'file'): Promise<void> {
  clearError();
  const engine = trackEngine() ?? await createEngine('track');
  let buffer: AudioBuffer;
  try {
    buffer = await engine.context.decodeAudioData(bytes);
  } catch (err) {
    throw new Error(`could not decode "${name}": this browser does not read that format (try WAV, MP3, FLAC or Ogg)`, { cause: err });
  }
  if (engine.duration > 0) engine.pause();
  await engine.loadTrack(buffer);
  demo.source = kind;
  trackLabel = `${name} (${buffer.duration.toFixed(1)} s)`;
  ui.sourceName.textContent = `Track: ${trackLabel}. Separating ahead of the playhead…`;
  ui.exportBtn.disabled = false;
  ui.downloads.replaceChildren();
  ui.transport.requestUpdate();
}

async function loadClip(): Promise<void> {
  const res = await fetch(clipUrl);
  if (!res.ok) throw new Error(`the demo clip did not load (HTTP ${res.status})`);
  await playTrack(await res.arrayBuffer(), 'demo clip', 'clip');
}

function updateMicLatency(): void {
  const model = demo.model;
  if (!model) return;
  const info = describeModel(model.bytes, model.name);
  const sr = info.sampleRate;
  const lowLatency = ui.liveMode.value === 'low-latency' ? { hop: LIVE_LOW_LATENCY.hop * sr, lookahead: LIVE_LOW_LATENCY.lookahead * sr } : undefined;
  // The engine's own formula (what it will declare once created).
  const frames = declaredLatency({ sourceKind: 'live', segmentSamples: info.segmentSamples, overlap: DEFAULT_OVERLAP, lowLatency });
  ui.micLatency.textContent = `live latency: ${(frames / sr).toFixed(2)} s`;
}

async function startMic(): Promise<void> {
  clearError();
  const mode = ui.liveMode.value === 'low-latency' ? 'low-latency' : 'quality';
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  } catch (err) {
    throw new Error(`no microphone: ${(err as Error).message}. Allow the microphone for this page and try again.`, { cause: err });
  }
  const engine = await createEngine('live', mode);
  demo.micStream = stream;
  engine.connectInput(new MediaStreamAudioSourceNode(engine.context as AudioContext, { mediaStream: stream }));
  await (engine.context as AudioContext).resume();
  demo.source = 'mic';
  ui.exportBtn.disabled = true;
  ui.sourceName.textContent = `Microphone, ${mode} mode: you hear it ${(engine.latencySamples / engine.sampleRate).toFixed(2)} s late, separated.`;
}

async function loadModel(source: string | File): Promise<void> {
  ui.loader.busy = true;
  ui.loader.error = '';
  try {
    // Every way to a model (the default, ?model=, the loader) checks first: a model this page cannot run is not downloaded.
    assertCrossOriginIsolated();
    const model = await loadDemoModel(source, (p) => {
      ui.loader.progress = { loadedBytes: p.loadedBytes, totalBytes: p.totalBytes };
    });
    demo.model = model;
    ui.loader.modelName = `${model.name}${model.fromCache ? ' (from cache)' : ''}`;
    demo.events.push(model.fromCache ? 'model-from-cache' : 'model-downloaded');
    updateMicLatency();
    // A new model: start again on what was playing.
    if (demo.source === 'mic') await startMic();
    else await loadClip();
  } catch (err) {
    ui.loader.error = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    ui.loader.busy = false;
  }
}

// ---- presets ----

function preset(name: string): void {
  const e = demo.engine;
  if (!e) return;
  for (const s of e.sources) {
    e.solo(s, false);
    e.mute(s, false);
    e.setGain(s, 1);
  }
  if (name === 'karaoke' && e.sources.includes('vocals')) {
    const guide = Number(ui.guide.value);
    if (guide > 0) e.setGain('vocals', guide);
    else e.mute('vocals', true);
  } else if (name === 'solo') {
    e.solo(ui.soloStem.value, true);
  }
  // 'dj': everything on, the mixer's mute buttons are the kill switches (keys 1–4).
  ui.mixer.requestUpdate();
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-preset]')) b.setAttribute('aria-pressed', String(b.dataset.preset === name));
}

// ---- export ----

async function exportStems(): Promise<void> {
  const e = trackEngine();
  if (!e) return;
  ui.exportBtn.disabled = true;
  ui.exportProgress.hidden = false;
  ui.exportProgress.value = 0;
  ui.exportStatus.textContent = 'Separating the rest of the track…';
  try {
    const out = await e.exportStems({
      baseName: demo.source === 'clip' ? 'demo-clip' : 'stems',
      onProgress: (p) => {
        ui.exportProgress.value = p.phase === 'separating' ? p.fraction * 0.8 : 0.8 + p.fraction * 0.2;
        ui.exportStatus.textContent = p.phase === 'separating' ? `Separating… ${Math.round(p.fraction * 100)} %` : `Writing WAV files… ${Math.round(p.fraction * 100)} %`;
      },
    });
    demo.lastExport = out;
    const link = (name: string, data: Uint8Array, type: string) => {
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([data as BlobPart], { type }));
      a.download = name;
      a.textContent = name;
      const li = document.createElement('li');
      li.append(a);
      return li;
    };
    ui.downloads.replaceChildren(link(out.zipName, out.zip, 'application/zip'), ...out.files.map((f) => link(f.name, f.data, 'audio/wav')));
    const clipping = describeClipping(out.clipping, out.format === 'wav16' ? 16 : 24);
    ui.exportStatus.textContent = `Done: ${out.files.length} stems.${clipping === '' ? '' : ` ${clipping}.`}`;
  } finally {
    ui.exportBtn.disabled = false;
    ui.exportProgress.hidden = true;
  }
}

// ---- wiring ----

const guard = (f: () => Promise<void>) => () => void f().catch(showError);

ui.playDemo.addEventListener('click', guard(async () => {
  if (demo.source !== 'clip' || !demo.engine || demo.engine.sourceKind !== 'track') await loadClip();
  await demo.context?.resume();
  const e = trackEngine()!;
  if (e.playing) e.pause();
  else e.play();
}));
ui.file.addEventListener('change', guard(async () => {
  const f = ui.file.files?.[0];
  if (!f) return;
  await playTrack(await f.arrayBuffer(), f.name, 'file');
  await demo.context?.resume();
  trackEngine()?.play();
}));
ui.mic.addEventListener('click', guard(startMic));
ui.liveMode.addEventListener('change', updateMicLatency);
ui.exportBtn.addEventListener('click', guard(exportStems));
ui.clearCache.addEventListener('click', guard(async () => {
  const n = await clearModelCache();
  ui.cacheStatus.textContent = `${n} cached model${n === 1 ? '' : 's'} removed; the next load downloads again.`;
}));
ui.loader.addEventListener('model-select', (e) => void loadModel((e as CustomEvent<{ source: string | File }>).detail.source).catch(showError));
for (const b of document.querySelectorAll<HTMLButtonElement>('[data-preset]')) b.addEventListener('click', () => preset(b.dataset.preset!));
ui.guide.addEventListener('input', () => preset('karaoke'));
ui.transport.addEventListener('click', () => void demo.context?.resume());

// Drag and drop anywhere: a file becomes the track.
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const f = e.dataTransfer?.files[0];
  if (f) guard(async () => {
    await playTrack(await f.arrayBuffer(), f.name, 'file');
    await demo.context?.resume();
    trackEngine()?.play();
  })();
});

async function start(): Promise<void> {
  const coi = await ensureCrossOriginIsolation({ serviceWorkerUrl: new URL('coi-serviceworker.js', document.baseURI).href });
  if (!coi.isolated && coi.reloading) return;
  ui.isolation.textContent = coi.isolated ? `Cross-origin isolated (${coi.via}).` : `Not cross-origin isolated: ${coi.reason}`;
  if (!coi.isolated) assertCrossOriginIsolated({ detail: coi.reason });
  await loadModel(params.get('model') ?? DEFAULT_MANIFEST);
  ui.playDemo.disabled = false;
  ui.playDemo.textContent = 'Play / pause demo clip';
  demo.ready = true;
  if (params.get('autoplay') === '1') {
    await demo.context?.resume();
    trackEngine()?.play();
  }
}

void start().catch((err) => {
  showError(err);
  ui.playDemo.textContent = 'Play demo clip';
  ui.playDemo.disabled = demo.model === undefined;
});
