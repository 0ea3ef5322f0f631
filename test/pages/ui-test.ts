/**
 * The page test/browser-ui.test.ts drives: the four UI components on a fake
 * engine that implements the interfaces of src/ui/engine-view.ts, records every
 * call, and lets the test set what the engine reports (meter levels, status).
 * Everything is deterministic (seeded peaks, a paused transport), so the test
 * can assert exact values and the screenshots are stable.
 */
import { defineStemstreamElements } from '../../src/ui/index.js';
import type { EngineStatusSnapshot, EngineStatusSource, ModelSelectDetail, StemChangeDetail, StemMixerSource, TrackTransportSource } from '../../src/ui/index.js';

export type Call = [method: string, ...args: unknown[]];

/** One object for the three views, as StemEngine will be. */
export class FakeEngine implements StemMixerSource, TrackTransportSource, EngineStatusSource {
  readonly sources: readonly string[] = ['drums', 'bass', 'other', 'vocals', 'guitar', 'piano'];
  readonly calls: Call[] = [];
  readonly states = new Map<string, { gain: number; muted: boolean; soloed: boolean }>();
  levels = new Float32Array([0.5, 0.25, 0.1, 0.8, 0.05, 0]);
  snapshot: EngineStatusSnapshot = {
    backend: 'webgpu',
    backendReason: 'WebGPU adapter nvidia ampere',
    backendsTried: [{ backend: 'webgpu', realTimeFactor: 0.42, runs: 3 }],
    threads: 1,
    latencyMs: 371.5,
    realTimeFactor: 0.42,
    underruns: 0,
    modelName: 'htdemucs_6s',
    modelBytes: 109_000_000,
    readyAheadSeconds: 42.3,
    sourceKind: 'track',
  };
  duration = 180;
  playing = false;
  loop: { start: number; end: number } | null = null;
  /** Stays put while playing, so assertions on seeks are exact (the test checks play() was called). */
  position = 42;
  readyCalls = 0;
  peakCalls = 0;

  constructor() {
    for (const s of this.sources) this.states.set(s, { gain: 1, muted: false, soloed: false });
  }

  private state(name: string) {
    const s = this.states.get(name);
    if (!s) throw new Error(`unknown stem ${name}`);
    return s;
  }

  setGain(name: string, gain: number): void {
    this.calls.push(['setGain', name, gain]);
    // Like the engine: gains are clamped, never negative.
    this.state(name).gain = Math.max(0, Math.min(4, gain));
  }
  mute(name: string, on = true): void {
    this.calls.push(['mute', name, on]);
    this.state(name).muted = on;
  }
  solo(name: string, on = true): void {
    this.calls.push(['solo', name, on]);
    this.state(name).soloed = on;
  }
  stemState(name: string) {
    return { ...this.state(name) };
  }
  meterLevels(): ArrayLike<number> {
    return this.levels;
  }

  play(): void {
    this.calls.push(['play']);
    this.playing = true;
  }
  pause(): void {
    this.calls.push(['pause']);
    this.playing = false;
  }
  seek(seconds: number): void {
    this.calls.push(['seek', seconds]);
    this.position = seconds;
  }
  setLoop(region: { start: number; end: number } | null): void {
    this.calls.push(['setLoop', region]);
    this.loop = region ? { ...region } : null;
  }
  /** Fully separated up to 55 %, a partial bucket after it, and an island at 70–75 % (a seek ahead). */
  readyMap(buckets: number): Float32Array {
    this.readyCalls++;
    const out = new Float32Array(buckets);
    for (let i = 0; i < buckets; i++) {
      const f = (i + 0.5) / buckets;
      out[i] = f < 0.55 ? 1 : f < 0.56 ? 0.5 : f >= 0.7 && f < 0.75 ? 1 : 0;
    }
    return out;
  }
  /** A song-like overview: intro, verses, a loud chorus, a breakdown, an outro; seeded noise. */
  waveformPeaks(buckets: number): Float32Array {
    this.peakCalls++;
    const out = new Float32Array(buckets);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < buckets; i++) {
      const t = (i / buckets) * this.duration;
      const section = t < 12 ? 0.25 + t / 40 : t < 60 ? 0.55 : t < 90 ? 0.9 : t < 105 ? 0.35 : t < 160 ? 0.85 : Math.max(0.05, 0.85 * (1 - (t - 160) / 20));
      const beat = 0.75 + 0.25 * Math.abs(Math.sin(t * Math.PI * 2));
      out[i] = Math.min(1, section * beat * (0.7 + 0.3 * rand()));
    }
    return out;
  }

  status(): EngineStatusSnapshot {
    return { ...this.snapshot };
  }
}

export interface UiTestWindow {
  uiTest: {
    ready: boolean;
    engine: FakeEngine;
    /** stem-change and model-select events as they arrived (files as name and size). */
    events: Array<{ type: string; detail: unknown }>;
  };
}

defineStemstreamElements();
const engine = new FakeEngine();
const events: UiTestWindow['uiTest']['events'] = [];
(window as unknown as UiTestWindow).uiTest = { ready: false, engine, events };

const mixer = document.querySelector('stem-mixer')!;
const transport = document.querySelector('stem-transport')!;
const status = document.querySelector('engine-status')!;
const loader = document.querySelector('model-loader')!;
mixer.engine = engine;
transport.engine = engine;
status.engine = engine;
loader.modelName = engine.snapshot.modelName;

// The events bubble out of the shadow roots (composed), so the document hears them all.
document.addEventListener('stem-change', (e) => events.push({ type: e.type, detail: (e as CustomEvent<StemChangeDetail>).detail }));
document.addEventListener('model-select', (e) => {
  const src = (e as CustomEvent<ModelSelectDetail>).detail.source;
  events.push({ type: e.type, detail: typeof src === 'string' ? { url: src } : { file: src.name, size: src.size } });
});

await Promise.all([mixer.updateComplete, transport.updateComplete, status.updateComplete, loader.updateComplete]);
(window as unknown as UiTestWindow).uiTest.ready = true;
