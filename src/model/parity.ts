/**
 * The parity check a converted model must pass before it is written: the
 * source and the result run with ONNX Runtime on the same inputs (noise and
 * music, each with its own spectrogram) and their outputs, re-laid to one
 * layout, are compared.
 */
import { BINS } from '../constants.js';
import { createSpectrogramKernel } from '../dsp/spectrogram-kernel.js';
import { StemstreamError } from '../errors.js';
import { convertModel, type ConvertOptions, type ConvertResult } from './convert.js';
import type { OptimizeLevel } from './optimize-web.js';
import type { ModelLayout } from './layout.js';
import { describeModel, loadModel, type SeparationModel } from './model.js';
import type { InferenceRuntime, TensorFeed } from './runtime.js';

/** float32 weights: the outputs must agree to this (max abs diff). */
export const PARITY_MAX_ABS_DIFF = 1e-3;
/** float16 weights: each output's SDR against the float32 model's must reach this. */
export const PARITY_MIN_SDR_DB = 40;
/** Optimized (`--optimize native`, float32 weights): the exact rewrites must also keep every output's SDR at or above this. */
export const PARITY_MIN_SDR_OPTIMIZED_DB = 60;
/**
 * int8 linear layers and attention scores (`--optimize web-int8`): a lossy variant. Its output SDR
 * against the float32 source is held to this; its real test is the SDR of the
 * separated stems against the true ones (a loss of at most 0.05 dB, measured
 * on the demo clip by test/optimize-web-real.test.ts).
 */
export const PARITY_MIN_SDR_INT8_DB = 30;

export interface ParityInput {
  name: string;
  /** One row of N samples per channel. */
  audio: Float32Array[];
}

export interface ParityResult {
  input: string;
  maxAbsDiff: number;
  /** SDR of the result against the source, dB: spectrogram and waveform outputs. */
  specSdrDb: number;
  waveSdrDb: number;
}

export interface ParityReport {
  passed: boolean;
  /** The rule applied, in words. */
  rule: string;
  results: ParityResult[];
}

/** The raw outputs of one run, as (stem, channel) → re plane, im plane, wave row. */
interface RawOutputs {
  re(s: number, c: number): Float32Array;
  im(s: number, c: number): Float32Array;
  wave(s: number, c: number): Float32Array;
}

function feedsFor(layout: ModelLayout, audio: Float32Array[], re: Float32Array[], im: Float32Array[]): Record<string, TensorFeed> {
  const C = layout.channels;
  const N = layout.segmentSamples;
  const plane = BINS * layout.frames;
  const wave = new Float32Array(C * N);
  audio.forEach((ch, c) => wave.set(ch, c * N));
  if (layout.kind === 'canonical') {
    const r = new Float32Array(C * plane);
    const i = new Float32Array(C * plane);
    for (let c = 0; c < C; c++) { r.set(re[c], c * plane); i.set(im[c], c * plane); }
    return {
      [layout.inputs.audio]: { data: wave, dims: [1, C, N] },
      [layout.inputs.specReal]: { data: r, dims: [1, C, BINS, layout.frames] },
      [layout.inputs.specImag]: { data: i, dims: [1, C, BINS, layout.frames] },
    };
  }
  const spec = new Float32Array(2 * C * plane);
  for (let c = 0; c < C; c++) { spec.set(re[c], 2 * c * plane); spec.set(im[c], (2 * c + 1) * plane); }
  return { [layout.inputs.audio]: { data: wave, dims: [1, C, N] }, [layout.inputs.spec]: { data: spec, dims: [1, 2 * C, BINS, layout.frames] } };
}

async function runRaw(model: SeparationModel, feeds: Record<string, TensorFeed>): Promise<RawOutputs> {
  const { layout } = model.info;
  const C = layout.channels;
  const N = layout.segmentSamples;
  const plane = BINS * layout.frames;
  const out = await model.session.run(feeds);
  const wave = out[layout.outputs.wave];
  const row = (t: Float32Array, k: number) => t.subarray(k * plane, (k + 1) * plane);
  if (layout.kind === 'canonical') {
    const re = out[layout.outputs.specReal];
    const im = out[layout.outputs.specImag];
    return { re: (s, c) => row(re, s * C + c), im: (s, c) => row(im, s * C + c), wave: (s, c) => wave.subarray((s * C + c) * N, (s * C + c + 1) * N) };
  }
  const spec = out[layout.outputs.spec];
  return { re: (s, c) => row(spec, s * 2 * C + 2 * c), im: (s, c) => row(spec, s * 2 * C + 2 * c + 1), wave: (s, c) => wave.subarray((s * C + c) * N, (s * C + c + 1) * N) };
}

/** Seeded noise at a music-like level, one row per channel. */
export function noiseInput(channels: number, n: number, seed = 1): ParityInput {
  let s = seed >>> 0;
  const audio = Array.from({ length: channels }, () => {
    const ch = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      ch[i] = (s / 2 ** 32 - 0.5) * 0.5;
    }
    return ch;
  });
  return { name: 'noise', audio };
}

export async function checkParity(
  source: Uint8Array,
  result: Uint8Array,
  options: { inputs: ParityInput[]; fp16: boolean; optimize?: OptimizeLevel; inferenceRuntime?: InferenceRuntime; sources?: string[] },
): Promise<ParityReport> {
  // A repair (convert --sources) replaces the source's own names, which may be the ones refused.
  const a = describeModel(source, 'source', { sources: options.sources });
  const b = describeModel(result, 'result');
  for (const key of ['channels', 'sources', 'segmentSamples', 'frames'] as const) {
    if (a.layout[key] !== b.layout[key]) {
      return { passed: false, rule: `same ${key}`, results: [{ input: `${key}: ${a.layout[key]} vs ${b.layout[key]}`, maxAbsDiff: Number.POSITIVE_INFINITY, specSdrDb: Number.NEGATIVE_INFINITY, waveSdrDb: Number.NEGATIVE_INFINITY }] };
    }
  }
  const { channels: C, sources: S, segmentSamples: N, frames: T } = a.layout;
  const plane = BINS * T;
  const kernel = createSpectrogramKernel();
  const xPtr = kernel.alloc(N);
  const rePtr = kernel.alloc(plane);
  const imPtr = kernel.alloc(plane);
  const srcModel = await loadModel(source, { inferenceRuntime: options.inferenceRuntime, sources: options.sources });
  const results: ParityResult[] = [];
  try {
    const inputs: { name: string; audio: Float32Array[]; re: Float32Array[]; im: Float32Array[] }[] = [];
    for (const input of options.inputs) {
      if (input.audio.length !== C || input.audio.some((ch) => ch.length !== N)) {
        throw new StemstreamError('BAD_OPTION', `parity input ${input.name} must be ${C} rows of ${N} samples`);
      }
      const re: Float32Array[] = [];
      const im: Float32Array[] = [];
      for (const ch of input.audio) {
        kernel.view(xPtr, N).set(ch);
        kernel.spec(xPtr, N, rePtr, imPtr);
        re.push(kernel.view(rePtr, plane).slice());
        im.push(kernel.view(imPtr, plane).slice());
      }
      inputs.push({ name: input.name, audio: input.audio, re, im });
    }
    // Run the source on every input first, keeping copies, so that only one 174 MB model is loaded at a time.
    const expected: { re: Float32Array[]; im: Float32Array[]; wave: Float32Array[] }[] = [];
    for (const input of inputs) {
      const out = await runRaw(srcModel, feedsFor(srcModel.info.layout, input.audio, input.re, input.im));
      const keep = { re: [] as Float32Array[], im: [] as Float32Array[], wave: [] as Float32Array[] };
      for (let s = 0; s < S; s++) for (let c = 0; c < C; c++) { keep.re.push(out.re(s, c).slice()); keep.im.push(out.im(s, c).slice()); keep.wave.push(out.wave(s, c).slice()); }
      expected.push(keep);
    }
    await srcModel.dispose();
    const resModel = await loadModel(result, { inferenceRuntime: options.inferenceRuntime ?? srcModel.runtime });
    try {
      for (let k = 0; k < inputs.length; k++) {
        const out = await runRaw(resModel, feedsFor(resModel.info.layout, inputs[k].audio, inputs[k].re, inputs[k].im));
        let maxAbs = 0;
        let specRef = 0, specErr = 0, waveRef = 0, waveErr = 0;
        for (let s = 0; s < S; s++) {
          for (let c = 0; c < C; c++) {
            const r = s * C + c;
            const pairs: [Float32Array, Float32Array, boolean][] = [[expected[k].re[r], out.re(s, c), true], [expected[k].im[r], out.im(s, c), true], [expected[k].wave[r], out.wave(s, c), false]];
            for (const [want, got, isSpec] of pairs) {
              for (let i = 0; i < want.length; i++) {
                const d = got[i] - want[i];
                // NaN must fail, not slip through a comparison.
                const ad = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.abs(d);
                if (ad > maxAbs) maxAbs = ad;
                if (isSpec) { specRef += want[i] * want[i]; specErr += d * d; } else { waveRef += want[i] * want[i]; waveErr += d * d; }
              }
            }
          }
        }
        // An exact match is +∞ dB even for an all-zero output; NaN anywhere is -∞.
        const db = (ref: number, err: number) => (Number.isNaN(err) ? Number.NEGATIVE_INFINITY : err === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(ref / err));
        results.push({ input: inputs[k].name, maxAbsDiff: maxAbs, specSdrDb: db(specRef, specErr), waveSdrDb: db(waveRef, waveErr) });
      }
    } finally {
      await resModel.dispose();
    }
  } finally {
    kernel.reset();
  }
  const { passed, rule } = parityRule(results, options.fp16, options.optimize);
  return { passed, rule, results };
}

/** The rule a result is held to: by its weights (float16 or not) and its rewrites. */
function parityRule(results: ParityResult[], fp16: boolean, optimize: OptimizeLevel | undefined): { passed: boolean; rule: string } {
  const sdrAtLeast = (db: number) => results.every((r) => r.specSdrDb >= db && r.waveSdrDb >= db);
  if (optimize === 'web-int8') {
    return { passed: sdrAtLeast(PARITY_MIN_SDR_INT8_DB), rule: `int8 linear layers and attention scores: every output's SDR against the float32 source ≥ ${PARITY_MIN_SDR_INT8_DB} dB` };
  }
  if (fp16) {
    // float16 storage costs more than the rewrites' rounding: its own bound applies.
    return { passed: sdrAtLeast(PARITY_MIN_SDR_DB), rule: `every output's SDR against the float32 source ≥ ${PARITY_MIN_SDR_DB} dB` };
  }
  const close = results.every((r) => r.maxAbsDiff <= PARITY_MAX_ABS_DIFF);
  if (optimize) {
    return { passed: close && sdrAtLeast(PARITY_MIN_SDR_OPTIMIZED_DB), rule: `max abs diff ≤ ${PARITY_MAX_ABS_DIFF} and every output's SDR against the source ≥ ${PARITY_MIN_SDR_OPTIMIZED_DB} dB` };
  }
  return { passed: close, rule: `max abs diff ≤ ${PARITY_MAX_ABS_DIFF}` };
}

/**
 * Converts and checks: returns the bytes only when the result matches its source.
 * Throws PARITY_FAILED (with the figures) otherwise.
 */
export async function convertChecked(
  source: Uint8Array,
  options: ConvertOptions & { parityInputs?: ParityInput[]; inferenceRuntime?: InferenceRuntime },
): Promise<ConvertResult & { parity: ParityReport }> {
  const converted = await convertModel(source, options);
  const { layout } = describeModel(source, options.name, { sources: options.sources });
  const inputs = options.parityInputs ?? [noiseInput(layout.channels, layout.segmentSamples)];
  const parity = await checkParity(source, converted.bytes, { inputs, fp16: options.fp16Weights === true, optimize: options.optimize, inferenceRuntime: options.inferenceRuntime, sources: options.sources });
  if (!parity.passed) {
    throw new StemstreamError('PARITY_FAILED', `the converted model does not match its source, nothing written. ${formatParity(parity).replace(/\n/g, ';')}`);
  }
  return { ...converted, parity };
}

export function formatParity(report: ParityReport): string {
  const db = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : v > 0 ? 'exact' : 'broken (NaN)');
  const rows = report.results.map((r) => `  ${r.input}: max abs diff ${r.maxAbsDiff.toExponential(2)}, SDR spec ${db(r.specSdrDb)}, wave ${db(r.waveSdrDb)}`);
  return [`parity ${report.passed ? 'passed' : 'FAILED'} (${report.rule}):`, ...rows].join('\n');
}
