/** The converter and its parity check, on tiny generated models. */
import { describe, expect, it } from 'vitest';
import { describeModel, loadModel } from '../src/model/model.js';
import { convertModel } from '../src/model/convert.js';
import { decodeModel, DataType } from '../src/model/onnx-proto.js';
import { checkParity, convertChecked, noiseInput } from '../src/model/parity.js';
import { separate } from '../src/separate/separate.js';
import { makeCanonicalModel, makeDemucsLayoutModel, REAL_DEMUCS_NAMES, TINY_SEGMENT } from './fixtures/tiny-models.js';
import { maxAbsDiff } from './reference/compare.js';

const waveGains = [[0.5, -0.25], [0.125, 1], [-1, 0.75], [0.25, 0.5]];

describe('convert (demucs layout → canonical)', () => {
  it('re-lays inputs and outputs, embeds the metadata, and passes parity exactly', async () => {
    const source = makeDemucsLayoutModel({ names: REAL_DEMUCS_NAMES, waveGains, symbolicWaveOut: true });
    const { bytes, metadata } = await convertModel(source, { name: 'tiny.onnx' });
    const info = describeModel(bytes);
    expect(info.layout).toMatchObject({ kind: 'canonical', channels: 2, sources: 4, segmentSamples: TINY_SEGMENT });
    expect(info.layout.inputs).toEqual({ specReal: 'spec_real', specImag: 'spec_imag', audio: 'audio' });
    expect(info.metadata).toEqual(metadata);
    expect(JSON.parse(metadata.sources)).toEqual(['drums', 'bass', 'other', 'vocals']);
    expect(metadata).toMatchObject({ sample_rate: '44100', audio_channels: '2', segment_samples: String(TINY_SEGMENT), nfft: '4096', hop: '1024', weights: 'float32' });
    const digest = Buffer.from(await crypto.subtle.digest('SHA-256', source as Uint8Array<ArrayBuffer>)).toString('hex');
    expect(metadata.source_sha256).toBe(digest);
    const report = await checkParity(source, bytes, { inputs: [noiseInput(2, TINY_SEGMENT, 3)], fp16: false });
    expect(report.passed).toBe(true);
    expect(report.results[0].maxAbsDiff).toBe(0);
  });

  it('the engine separates with the converted model and the source alike', async () => {
    const source = makeDemucsLayoutModel({ waveGains, waveRamp: true });
    const { bytes } = await convertModel(source);
    const a = await loadModel(source);
    const b = await loadModel(bytes);
    const audio = noiseInput(2, 30000, 9).audio;
    const sa = await separate({ sampleRate: 44100, channels: audio }, a);
    const sb = await separate({ sampleRate: 44100, channels: audio }, b);
    for (const s of sa.sources) for (let c = 0; c < 2; c++) expect(maxAbsDiff(sa.stems[s][c], sb.stems[s][c])).toBe(0);
    await a.dispose();
    await b.dispose();
  });

  it('refuses a deliberately broken graph edit (re and im swapped)', async () => {
    const source = makeDemucsLayoutModel({ waveGains });
    await expect(convertChecked(source, { sabotage: 'swap-re-im' })).rejects.toMatchObject({
      code: 'PARITY_FAILED',
      message: expect.stringMatching(/does not match its source, nothing written.*max abs diff/),
    });
    const ok = await convertChecked(source, {});
    expect(ok.parity.passed).toBe(true);
  });

  it('stores weights as float16 with casts back, and checks them by SDR', async () => {
    const source = makeDemucsLayoutModel({ waveGains: [[0.3, 0.1], [0.7, 0.2], [0.11, 0.9], [0.05, 0.4]] });
    const fp16 = await convertChecked(source, { fp16Weights: true, fp16MinElements: 1 });
    expect(fp16.fp16Initializers).toBeGreaterThan(0);
    expect(fp16.metadata.weights).toBe('float16');
    const model = decodeModel(fp16.bytes);
    const halves = (model.graph?.initializer ?? []).filter((t) => t.data_type === DataType.FLOAT16);
    expect(halves.length).toBe(fp16.fp16Initializers);
    expect((model.graph?.node ?? []).filter((n) => n.op_type === 'Cast').length).toBe(fp16.fp16Initializers);
    for (const r of fp16.parity.results) {
      expect(r.waveSdrDb).toBeGreaterThan(40);
      expect(r.maxAbsDiff).toBeGreaterThan(0); // float16 gains are not the float32 ones
    }
    // A canonical model can be converted again, to float16.
    const canonical = makeCanonicalModel({ metadata: true, waveGains });
    const again = await convertChecked(canonical, { fp16Weights: true, fp16MinElements: 1 });
    expect(describeModel(again.bytes).layout.kind).toBe('canonical');
    expect(again.parity.passed).toBe(true);
  });

  it('refuses sources that do not match the stems', async () => {
    await expect(convertModel(makeDemucsLayoutModel(), { sources: ['a', 'b'] })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
});
