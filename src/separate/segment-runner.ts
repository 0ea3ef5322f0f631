/**
 * One segment through the model: STFT (WASM SIMD) → session.run → iSTFT + time
 * branch. All buffers live in the kernel's memory, allocated once here; a run
 * allocates nothing of its own (the runtime returns its output tensors).
 */
import { BINS } from '../constants.js';
import { createSpectrogramKernel, type SpectrogramKernel } from '../dsp/spectrogram-kernel.js';
import { StemstreamError } from '../errors.js';
import type { SeparationModel } from '../model/model.js';
import type { TensorFeed } from '../model/runtime.js';

export interface SegmentTiming {
  /** session.run, ms. */
  runMs: number;
  /** STFT, iSTFT and copies, ms. */
  dspMs: number;
}

export class SegmentRunner {
  /** Fill these (one row of N samples per channel) before run(). */
  readonly input: Float32Array[];
  /** After run(): row s * C + c is stem s, channel c, N samples. */
  readonly output: Float32Array[];
  readonly segmentSamples: number;
  private readonly kernel: SpectrogramKernel;
  private readonly model: SeparationModel;
  private readonly feeds: Record<string, TensorFeed>;
  private readonly inputPtrs: number[];
  private readonly specPtrs: { re: number; im: number }[];
  private readonly outputPtrs: number[];
  private readonly planeRe: number;
  private readonly planeIm: number;
  private readonly planeReView: Float32Array;
  private readonly planeImView: Float32Array;
  private readonly wavePtr: number;
  private readonly waveView: Float32Array;

  constructor(model: SeparationModel, kernel: SpectrogramKernel = createSpectrogramKernel()) {
    const { layout } = model.info;
    const C = layout.channels;
    const S = layout.sources;
    const N = layout.segmentSamples;
    const plane = BINS * layout.frames;
    this.model = model;
    this.kernel = kernel;
    this.segmentSamples = N;

    const k = kernel;
    const audioPtr = k.alloc(C * N);
    const specPtr = k.alloc(2 * C * plane);
    this.planeRe = k.alloc(plane);
    this.planeIm = k.alloc(plane);
    this.wavePtr = k.alloc(N);
    const outPtr = k.alloc(S * C * N);
    // Views only after the last alloc: growing memory detaches earlier views.
    this.inputPtrs = Array.from({ length: C }, (_, c) => audioPtr + c * N * 4);
    this.input = this.inputPtrs.map((p) => k.view(p, N));
    this.outputPtrs = Array.from({ length: S * C }, (_, r) => outPtr + r * N * 4);
    this.output = this.outputPtrs.map((p) => k.view(p, N));
    this.planeReView = k.view(this.planeRe, plane);
    this.planeImView = k.view(this.planeIm, plane);
    this.waveView = k.view(this.wavePtr, N);
    const audio: TensorFeed = { data: k.view(audioPtr, C * N), dims: [1, C, N] };
    if (layout.kind === 'canonical') {
      // spec_real = planes [0, C), spec_imag = planes [C, 2C).
      this.specPtrs = Array.from({ length: C }, (_, c) => ({ re: specPtr + c * plane * 4, im: specPtr + (C + c) * plane * 4 }));
      this.feeds = {
        [layout.inputs.audio]: audio,
        [layout.inputs.specReal]: { data: k.view(specPtr, C * plane), dims: [1, C, BINS, layout.frames] },
        [layout.inputs.specImag]: { data: k.view(specPtr + C * plane * 4, C * plane), dims: [1, C, BINS, layout.frames] },
      };
    } else {
      // Complex as channels: re0, im0, re1, im1, ...
      this.specPtrs = Array.from({ length: C }, (_, c) => ({ re: specPtr + 2 * c * plane * 4, im: specPtr + (2 * c + 1) * plane * 4 }));
      this.feeds = {
        [layout.inputs.audio]: audio,
        [layout.inputs.spec]: { data: k.view(specPtr, 2 * C * plane), dims: [1, 2 * C, BINS, layout.frames] },
      };
    }
  }

  /** Runs the model on `input`; results in `output`. */
  async run(): Promise<SegmentTiming> {
    const { layout } = this.model.info;
    const C = layout.channels;
    const S = layout.sources;
    const N = this.segmentSamples;
    const plane = BINS * layout.frames;
    const t0 = performance.now();
    for (let c = 0; c < C; c++) this.kernel.spec(this.inputPtrs[c], N, this.specPtrs[c].re, this.specPtrs[c].im);
    const t1 = performance.now();
    const results = await this.model.session.run(this.feeds);
    const t2 = performance.now();
    const pick = (name: string, size: number): Float32Array => {
      const t = results[name];
      if (!t || t.length !== size) {
        throw new StemstreamError('UNKNOWN_LAYOUT', `model output "${name}" has ${t ? t.length : 'no'} values, expected ${size}`);
      }
      return t;
    };
    const wave = pick(layout.outputs.wave, S * C * N);
    // Where stem s, channel c's real and imaginary planes start in the output tensors.
    let reOf: (s: number, c: number) => [Float32Array, number];
    let imOf: (s: number, c: number) => [Float32Array, number];
    if (layout.kind === 'canonical') {
      const re = pick(layout.outputs.specReal, S * C * plane);
      const im = pick(layout.outputs.specImag, S * C * plane);
      reOf = (s, c) => [re, (s * C + c) * plane];
      imOf = (s, c) => [im, (s * C + c) * plane];
    } else {
      const spec = pick(layout.outputs.spec, S * 2 * C * plane);
      reOf = (s, c) => [spec, (s * 2 * C + 2 * c) * plane];
      imOf = (s, c) => [spec, (s * 2 * C + 2 * c + 1) * plane];
    }
    for (let s = 0; s < S; s++) {
      for (let c = 0; c < C; c++) {
        const [re, reAt] = reOf(s, c);
        const [im, imAt] = imOf(s, c);
        this.planeReView.set(re.subarray(reAt, reAt + plane));
        this.planeImView.set(im.subarray(imAt, imAt + plane));
        const r = s * C + c;
        this.waveView.set(wave.subarray(r * N, r * N + N));
        this.kernel.ispec(this.planeRe, this.planeIm, N, this.outputPtrs[r], this.wavePtr);
      }
    }
    const t3 = performance.now();
    return { runMs: t2 - t1, dspMs: t1 - t0 + (t3 - t2) };
  }
}
