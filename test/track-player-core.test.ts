/**
 * TrackPlayerCore on the audio thread's terms, as StemOutCore is held to them
 * (test/stem-out-core.test.ts): built before any track, it allocates nothing
 * and never deoptimizes when it meets its rare paths (not ready, seek, loop,
 * mute/solo/gains, bypass, pause, the end, a new track attached) for the first
 * time after V8 has optimized process(). In a fresh process, so that V8's
 * feedback comes from the fixture alone.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runColdStart, type Phase } from './fixtures/cold-start.js';

interface ColdStart {
  prime: boolean;
  phaseQuanta: number;
  constructMs: number;
  baseline: Phase;
  firstRare: Phase;
  attaching: Phase;
}

const fixture = fileURLToPath(new URL('./fixtures/track-player-cold-start.ts', import.meta.url));
const coldStart = (mode: 'prime' | 'noprime', phaseQuanta: number) => runColdStart<ColdStart>(fixture, mode, phaseQuanta);

describe('TrackPlayerCore: the audio thread rules', () => {
  it('after construction (with no track) nothing allocates and process() never deoptimizes: rare paths met late, tracks attached while playing', () => {
    const primed = coldStart('prime', 60_000);
    const cold = coldStart('noprime', 20_000);
    const extra = (p: Phase) => p.bytes - primed.baseline.bytes;
    console.log(
      `TrackPlayerCore cold paths, primed (construction ${primed.constructMs.toFixed(1)} ms): ${primed.deopts} deopts of process(); ` +
        `first rare paths +${extra(primed.firstRare)} bytes/${primed.firstRare.gcs} GCs, attaching tracks +${extra(primed.attaching)} bytes/${primed.attaching.gcs} GCs ` +
        `over ${primed.phaseQuanta} quanta per phase (baseline ${primed.baseline.bytes} bytes/${primed.baseline.gcs} GCs). Not primed: ${cold.deopts} deopts, first rare paths ${cold.firstRare.bytes} bytes/${cold.firstRare.gcs} GCs`,
    );
    expect(primed.deopts).toBe(0);
    // The reference itself must be clean (quietBaseline retries it), else every "extra" is off by a scavenge.
    expect(primed.baseline.gcs).toBe(0);
    // 60k quanta per phase (≈ 3 min of audio): under 8 kB beyond the empty loop, i.e. not one 16-byte object per 100 quanta.
    for (const p of [primed.firstRare, primed.attaching]) {
      expect(p.gcs).toBe(0);
      expect(extra(p)).toBeLessThan(8192);
    }
    // The probe can fail: without priming, V8 meets the rare paths cold and deoptimizes process().
    expect(cold.deopts).toBeGreaterThan(0);
  }, 180_000);
});
