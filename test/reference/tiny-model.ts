/** What a tiny generated model computes, in float64 (see tiny-models.ts). */
import { resolveTinyOptions, type TinyModelOptions } from '../fixtures/tiny-models.js';
import { specRoundTrip64 } from './demucs-dsp.js';

/**
 * What a tiny model's segment comes out as, in float64: spec gain × Demucs'
 * ispec(spec(x)) (not quite x near the segment's edges) + wave gain × ramp × x.
 */
export function tinyReference(opts: TinyModelOptions) {
  const cfg = resolveTinyOptions(opts);
  return (segment: Float64Array[]) => {
    const roundTrip = segment.map((x) => specRoundTrip64(x));
    const rows: Float64Array[] = [];
    for (let s = 0; s < cfg.S; s++) {
      for (let c = 0; c < cfg.C; c++) {
        rows.push(segment[c].map((v, i) => cfg.specGains[s][c] * roundTrip[c][i] + cfg.waveGains[s][c] * (cfg.ramp ? cfg.ramp[i] : 1) * v));
      }
    }
    return rows;
  };
}

