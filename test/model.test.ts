/** The model layer: header reading, layout recognition, the errors a user can meet. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it, vi } from 'vitest';
import { StemstreamError } from '../src/errors.js';
import { describeModel, loadModel } from '../src/model/model.js';
import { readModelFile } from '../src/model/model-file.js';
import { decodeModel, encodeModel } from '../src/model/onnx-proto.js';
import { TINY_SEGMENT, makeBrokenModels, makeCanonicalModel, makeDemucsLayoutModel, REAL_DEMUCS_NAMES, truncate } from './fixtures/tiny-models.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof StemstreamError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'no error';
}

describe('model header and layout', () => {
  it('recognises the demucs layout by shapes, whatever the tensor names', () => {
    const info = describeModel(makeDemucsLayoutModel({ names: REAL_DEMUCS_NAMES, reverseInputs: true, reverseOutputs: true, symbolicWaveOut: true }), 'tiny');
    expect(info.layout.kind).toBe('demucs');
    expect(info.layout.segmentSamples).toBe(TINY_SEGMENT);
    expect(info.layout.frames).toBe(Math.ceil(TINY_SEGMENT / 1024));
    expect(info.layout.inputs).toEqual({ audio: 'input', spec: 'onnx::ReduceMean_1' });
    expect(info.layout.outputs).toEqual({ spec: 'output', wave: '5073' });
    expect(info.sources).toEqual(['drums', 'bass', 'other', 'vocals']);
    expect(info.sampleRate).toBe(44100);
  });

  it('recognises the canonical layout and reads its metadata', () => {
    const info = describeModel(makeCanonicalModel({ sources: 6, metadata: { sources: JSON.stringify(['a', 'b', 'c', 'd', 'e', 'f']), sample_rate: '48000', audio_channels: '2' } }));
    expect(info.layout.kind).toBe('canonical');
    expect(info.sources).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(info.sampleRate).toBe(48000);
    expect(info.layout.inputs).toEqual({ specReal: 'spec_real', specImag: 'spec_imag', audio: 'audio' });
    expect(info.layout.outputs).toEqual({ specReal: 'out_spec_real', specImag: 'out_spec_imag', wave: 'out_wave' });
  });

  it('names 6 sources by default like htdemucs_6s', () => {
    expect(describeModel(makeDemucsLayoutModel({ sources: 6 })).sources).toEqual(['drums', 'bass', 'other', 'vocals', 'guitar', 'piano']);
  });

  it('refuses metadata sources that disagree with the outputs', () => {
    const bytes = makeCanonicalModel({ metadata: { sources: '["a","b"]' } });
    expect(codeOf(() => describeModel(bytes, 'm.onnx'))).toMatch(/^UNKNOWN_LAYOUT: m.onnx: metadata lists 2 sources \(a, b\) but the model outputs 4/);
  });

  it('takes N from metadata when the graph leaves it symbolic, else says why it cannot', () => {
    const { symbolicSegment } = makeBrokenModels();
    expect(codeOf(() => describeModel(symbolicSegment))).toMatch(/^UNKNOWN_LAYOUT: .*segment length .* dynamic/);
  });

  it('errors: not ONNX, empty, truncated, unknown layout, wrong ranks, frames mismatch', () => {
    const broken = makeBrokenModels();
    expect(codeOf(() => describeModel(broken.notOnnx, 'song.mp3'))).toMatch(/^NOT_ONNX: song.mp3 is not an ONNX model/);
    expect(codeOf(() => describeModel(broken.empty, 'empty.onnx'))).toMatch(/^NOT_ONNX/);
    const good = makeDemucsLayoutModel();
    expect(codeOf(() => describeModel(truncate(good, -10), 'cut.onnx'))).toMatch(/^TRUNCATED_MODEL: cut.onnx is truncated/);
    expect(codeOf(() => describeModel(truncate(good, 40), 'cut.onnx'))).toMatch(/^TRUNCATED_MODEL/);
    const unknown = codeOf(() => describeModel(broken.unknownLayout, 'x.onnx'));
    expect(unknown).toMatch(/^UNKNOWN_LAYOUT: unrecognised model layout/);
    // It says what was expected and what was found.
    expect(unknown).toMatch(/expected either the canonical layout .* or the demucs layout/);
    expect(unknown).toMatch(/found inputs x \[1, 3\] and outputs y \[1, 3\]/);
    expect(codeOf(() => describeModel(broken.rankWrongOutputs))).toMatch(/^UNKNOWN_LAYOUT: unrecognised model layout \(2 inputs of ranks \[3,4\] and 2 outputs of ranks \[3,4\]\)/);
    expect(codeOf(() => describeModel(broken.canonicalRankWrongOutputs))).toMatch(/^UNKNOWN_LAYOUT/);
    // A spectrogram input whose T is not ceil(N / 1024).
    const model = decodeModel(makeDemucsLayoutModel());
    model.graph!.input![1].type!.tensor_type!.shape!.dim![3].dim_value = 11;
    expect(codeOf(() => describeModel(encodeModel(model)))).toMatch(/^UNKNOWN_LAYOUT: .*spec has \[1, 4, 2048, 11\], expected \[1, 4, 2048, 10\] for C = 2, N = 9426, S = 4, T = ceil\(N \/ 1024\) = 10/);
  });

  it('loadModel reports a missing file and a failed download clearly', async () => {
    await expect(loadModel('/nonexistent/model.onnx')).rejects.toMatchObject({ code: 'IO', message: expect.stringMatching(/cannot read the model file \/nonexistent\/model.onnx/) });
    await expect(loadModel('http://127.0.0.1:9/model.onnx')).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED' });
  });

  it('reads the real htdemucs.onnx header without decoding the weights', () => {
    const path = createRequire(import.meta.url).resolve('demucs/package.json').replace(/package\.json$/, 'htdemucs.onnx');
    const bytes = new Uint8Array(readFileSync(path));
    // Work count (its time is measured by `node dist/bench/timings.js`): the payloads are
    // skipped by their length prefixes, never read as bytes.
    const skip = vi.spyOn(protobuf.Reader.prototype, 'skip');
    const read = vi.spyOn(protobuf.Reader.prototype, 'bytes');
    let file: ReturnType<typeof readModelFile>;
    try {
      file = readModelFile(bytes);
      const skipped = skip.mock.calls.reduce((n, [len]) => n + (typeof len === 'number' ? len : 0), 0);
      expect(skipped / bytes.length, `skipped ${skipped} of ${bytes.length} bytes`).toBeGreaterThan(0.99);
      expect(read).not.toHaveBeenCalled();
    } finally {
      skip.mockRestore();
      read.mockRestore();
    }
    expect(file.inputs.map((t) => t.dims)).toEqual([[1, 2, 343980], [1, 4, 2048, 336]]);
    expect(file.outputs[0].dims).toEqual([1, 4, 4, 2048, 336]);
    expect(file.producerName).toBe('pytorch');
    const info = describeModel(bytes, path);
    expect(info.layout).toMatchObject({ kind: 'demucs', channels: 2, sources: 4, segmentSamples: 343980, frames: 336 });
  });
});
