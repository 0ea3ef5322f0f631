/**
 * StemEngine's options resolved against a model (engine-options.ts): the
 * defaults object, the checks, and the one latency formula the engine, the
 * Node harness and the demo share (latency.ts declaredLatency).
 */
import { describe, expect, it } from 'vitest';
import { ENGINE_DEFAULTS, resolveEngineOptions } from '../src/engine/host/engine-options.js';
import { declaredLatency, lowLatencyLatency, qualityLatency } from '../src/engine/host/latency.js';
import { liveBufferSizes } from '../src/engine/host/ring-sizes.js';

const htdemucs = { sampleRate: 44100, segmentSamples: 343980, channels: 2, sources: ['drums', 'bass', 'other', 'vocals'] };

describe('resolveEngineOptions', () => {
  it('defaults: live, quality, overlap 0.25, ramp 512; latency N + stride (601 965 for htdemucs) and buffers from the geometry', () => {
    const o = resolveEngineOptions({}, htdemucs);
    expect(o).toMatchObject({ mode: 'quality', sourceKind: 'live', overlap: ENGINE_DEFAULTS.overlap, rampFrames: 512, latency: 601965, strideFrames: 257985, pollIntervalMs: 250 });
    expect(o.latency).toBe(qualityLatency(343980, 0.25));
    expect(o.sizes).toEqual(liveBufferSizes({ latencyFrames: 601965, segmentFrames: 343980, strideFrames: 257985, channels: 2, sources: 4 }));
    // Outside a cross-origin isolated page (Node here): one WASM thread.
    expect(o.threads).toBe(1);
  });

  it('low latency in seconds becomes frames; track plays at latency 0 with token rings; explicit sizes win', () => {
    const ll = resolveEngineOptions({ mode: 'low-latency', hop: 2, lookahead: 0.5 }, htdemucs);
    expect(ll.lowLatency).toEqual({ hop: 88200, lookahead: 22050 });
    expect(ll.latency).toBe(lowLatencyLatency(88200, 22050));
    expect(ll.strideFrames).toBe(88200);
    const track = resolveEngineOptions({ sourceKind: 'track', inputRingFrames: 4096 }, htdemucs);
    expect(track.latency).toBe(0);
    expect(track.sizes).toEqual({ inputRingFrames: 4096, stemRingFrames: 2048, historyFrames: undefined });
  });

  it('refuses what cannot work, saying what is accepted', () => {
    const bad = (o: Parameters<typeof resolveEngineOptions>[0]) => () => resolveEngineOptions(o, htdemucs);
    expect(bad({ mode: 'fast' as never })).toThrow(/mode must be 'quality' or 'low-latency', got fast/);
    expect(bad({ overlap: 1 })).toThrow(/overlap must be in \[0, 1\), got 1/);
    expect(bad({ sourceKind: 'file' as never })).toThrow(/sourceKind must be 'live' or 'track'/);
    expect(bad({ sourceKind: 'track', mode: 'low-latency' })).toThrow(/low-latency mode is for live input/);
    expect(bad({ mode: 'low-latency', hop: 0 })).toThrow(/hop must be a positive number of seconds, got 0/);
    expect(bad({ computeMargin: 0 })).toThrow(/compute margin must be at least 640 frames/);
  });

  it('declaredLatency is the one formula: track 0, live quality and low latency as latency.ts', () => {
    const g = { segmentSamples: 343980, overlap: 0.25 };
    expect(declaredLatency({ sourceKind: 'track', ...g })).toBe(0);
    expect(declaredLatency({ sourceKind: 'live', ...g })).toBe(601965);
    expect(declaredLatency({ sourceKind: 'live', ...g, lowLatency: { hop: 44100, lookahead: 44100 } })).toBe(132940);
  });
});
