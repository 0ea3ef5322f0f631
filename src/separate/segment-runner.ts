/**
 * One segment through the model: STFT (WASM SIMD) → session.run → iSTFT + time
 * branch. All buffers live in the kernel's memory, allocated once here. Where
 * the runtime writes outputs into our buffers (onnxruntime-node), the iSTFT
 * reads the model's output in place; otherwise each stem-channel's planes are
 * copied into a scratch pair first.
 */
import { BINS } from '../constants.js';
import { createSpectrogramKernel, type SpectrogramKernel } from '../dsp/spectrogram-kernel.js';
import { StemstreamError } from '../errors.js';
import type { ModelLayout } from '../model/layout.js';
import type { SeparationModel } from '../model/model.js';
import type { TensorFeed } from '../model/runtime.js';

export interface SegmentTiming {
  /** session.run, ms. */
  runMs: number;
  /** STFT, iSTFT and copies, ms. */
  dspMs: number;
}

/** Byte offsets of stem s, channel c's real and imaginary planes within the spectrogram output. */
function outputPlaneOffsets(layout: ModelLayout, s: number, c: number): { re: number; im: number } {
  const C = layout.channels;
  const S = layout.sources;
  const plane = BINS * layout.frames;
  if (layout.kind === 'canonical') {
    // out_spec_real and out_spec_imag: [1, S, C, 2048, T] each; imag offset counted past the real tensor.
    return { re: (s * C + c) * plane, im: (S * C + s * C + c) * plane };
  }
  // [1, S, 2C, 2048, T], channels re0, im0, re1, im1.
  return { re: (s * 2 * C + 2 * c) * plane, im: (s * 2 * C + 2 * c + 1) * plane };
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
  /** Output tensors in kernel memory, when the runtime writes into them. */
  private readonly fetches: Record<string, TensorFeed> | undefined;
  private readonly inputPtrs: number[];
  private readonly specPtrs: { re: number; im: number }[];
  private readonly outputPtrs: number[];
  /** Where the model's spectrogram output (both tensors, back to back) and wave output live. */
  private readonly outSpecPtr: number;
  private readonly outWavePtr: number;
  private readonly outSpecView: Float32Array;
  private readonly outWaveView: Float32Array;

  constructor(model: SeparationModel, kernel: SpectrogramKernel = createSpectrogramKernel()) {
    const { layout } = model.info;
    const C = layout.channels;
    const S = layout.sources;
    const N = layout.segmentSamples;
    const T = layout.frames;
    const plane = BINS * T;
    this.model = model;
    this.kernel = kernel;
    this.segmentSamples = N;
    const inPlace = model.runtime.writesOutputBuffers;

    const k = kernel;
    const audioPtr = k.alloc(C * N);
    const specPtr = k.alloc(2 * C * plane);
    // In place: the whole output. Otherwise: one stem-channel's planes and wave row as scratch.
    const outSpecFloats = inPlace ? S * 2 * C * plane : 2 * plane;
    const outWaveFloats = inPlace ? S * C * N : N;
    this.outSpecPtr = k.alloc(outSpecFloats);
    this.outWavePtr = k.alloc(outWaveFloats);
    const outPtr = k.alloc(S * C * N);
    // Views only after the last alloc: growing memory detaches earlier views.
    this.inputPtrs = Array.from({ length: C }, (_, c) => audioPtr + c * N * 4);
    this.input = this.inputPtrs.map((p) => k.view(p, N));
    this.outputPtrs = Array.from({ length: S * C }, (_, r) => outPtr + r * N * 4);
    this.output = this.outputPtrs.map((p) => k.view(p, N));
    this.outSpecView = k.view(this.outSpecPtr, outSpecFloats);
    this.outWaveView = k.view(this.outWavePtr, outWaveFloats);
    const audio: TensorFeed = { data: k.view(audioPtr, C * N), dims: [1, C, N] };
    const waveOut: TensorFeed = { data: this.outWaveView, dims: [1, S, C, N] };
    if (layout.kind === 'canonical') {
      // spec_real = planes [0, C), spec_imag = planes [C, 2C).
      this.specPtrs = Array.from({ length: C }, (_, c) => ({ re: specPtr + c * plane * 4, im: specPtr + (C + c) * plane * 4 }));
      this.feeds = {
        [layout.inputs.audio]: audio,
        [layout.inputs.specReal]: { data: k.view(specPtr, C * plane), dims: [1, C, BINS, T] },
        [layout.inputs.specImag]: { data: k.view(specPtr + C * plane * 4, C * plane), dims: [1, C, BINS, T] },
      };
      this.fetches = inPlace
        ? {
            [layout.outputs.specReal]: { data: k.view(this.outSpecPtr, S * C * plane), dims: [1, S, C, BINS, T] },
            [layout.outputs.specImag]: { data: k.view(this.outSpecPtr + S * C * plane * 4, S * C * plane), dims: [1, S, C, BINS, T] },
            [layout.outputs.wave]: waveOut,
          }
        : undefined;
    } else {
      // Complex as channels: re0, im0, re1, im1, ...
      this.specPtrs = Array.from({ length: C }, (_, c) => ({ re: specPtr + 2 * c * plane * 4, im: specPtr + (2 * c + 1) * plane * 4 }));
      this.feeds = {
        [layout.inputs.audio]: audio,
        [layout.inputs.spec]: { data: k.view(specPtr, 2 * C * plane), dims: [1, 2 * C, BINS, T] },
      };
      this.fetches = inPlace
        ? { [layout.outputs.spec]: { data: this.outSpecView, dims: [1, S, 2 * C, BINS, T] }, [layout.outputs.wave]: waveOut }
        : undefined;
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
    const results = await this.model.session.run(this.feeds, this.fetches);
    const t2 = performance.now();
    if (this.fetches) {
      for (let s = 0; s < S; s++) {
        for (let c = 0; c < C; c++) {
          const at = outputPlaneOffsets(layout, s, c);
          const r = s * C + c;
          this.kernel.ispec(this.outSpecPtr + at.re * 4, this.outSpecPtr + at.im * 4, N, this.outputPtrs[r], this.outWavePtr + r * N * 4);
        }
      }
    } else {
      const pick = (name: string, size: number): Float32Array => {
        const t = results[name];
        if (!t || t.length !== size) {
          throw new StemstreamError('UNKNOWN_LAYOUT', `model output "${name}" has ${t ? t.length : 'no'} values, expected ${size}`);
        }
        return t;
      };
      const wave = pick(layout.outputs.wave, S * C * N);
      const specRe = layout.kind === 'canonical' ? pick(layout.outputs.specReal, S * C * plane) : pick(layout.outputs.spec, S * 2 * C * plane);
      const specIm = layout.kind === 'canonical' ? pick(layout.outputs.specImag, S * C * plane) : specRe;
      const imBase = layout.kind === 'canonical' ? S * C * plane : 0;
      for (let s = 0; s < S; s++) {
        for (let c = 0; c < C; c++) {
          const at = outputPlaneOffsets(layout, s, c);
          const r = s * C + c;
          this.outSpecView.set(specRe.subarray(at.re, at.re + plane), 0);
          this.outSpecView.set(specIm.subarray(at.im - imBase, at.im - imBase + plane), plane);
          this.outWaveView.set(wave.subarray(r * N, r * N + N));
          this.kernel.ispec(this.outSpecPtr, this.outSpecPtr + plane * 4, N, this.outputPtrs[r], this.outWavePtr);
        }
      }
    }
    const t3 = performance.now();
    return { runMs: t2 - t1, dspMs: t1 - t0 + (t3 - t2) };
  }
}
