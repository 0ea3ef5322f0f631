/**
 * StemEngine's two faces (src/engine/host/live-stem-engine.ts,
 * track-stem-engine.ts): TypeScript refuses the other face's calls
 * (test/consumer/check.ts); a JavaScript caller gets INVALID_STATE, with the
 * track face's async calls rejecting as its own do. No engine is started:
 * the run-time checks live on the prototypes.
 */
import { describe, expect, it } from 'vitest';
import { LiveStemEngine } from '../src/engine/host/live-stem-engine.js';
import { TrackStemEngine } from '../src/engine/host/track-stem-engine.js';
import { StemstreamError } from '../src/errors.js';

type Loose = Record<string, (...args: unknown[]) => unknown>;
const live = LiveStemEngine.prototype as unknown as Loose;
const track = TrackStemEngine.prototype as unknown as Loose;

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("a face called with the other face's methods (JavaScript)", () => {
  it('connectInput on a track engine throws INVALID_STATE', () => {
    const err = thrown(() => track.connectInput.call({}, {}));
    expect(err).toBeInstanceOf(StemstreamError);
    expect(err).toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining("sourceKind: 'live'") });
  });

  it('loadTrack and exportStems on a live engine reject with INVALID_STATE; the transport throws it', async () => {
    await expect(live.loadTrack.call({}, {}) as Promise<void>).rejects.toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('loadTrack() needs') });
    await expect(live.exportStems.call({}) as Promise<void>).rejects.toMatchObject({ code: 'INVALID_STATE' });
    for (const name of ['play', 'pause', 'seek', 'setLoop']) {
      expect(thrown(() => live[name].call({}, 0)), name).toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('transport controls') });
    }
  });

  it('control: each face keeps its own calls (a live engine connects its input)', () => {
    const connected: unknown[] = [];
    const input = { tag: 'engine input' };
    live.connectInput.call({ input }, { connect: (to: unknown) => connected.push(to) });
    expect(connected).toEqual([input]);
    // The track face's loadTrack is its own method, not the live face's refusal.
    expect(track.loadTrack).not.toBe(live.loadTrack);
    expect(track.loadTrack.toString()).not.toContain('INVALID_STATE');
  });
});
