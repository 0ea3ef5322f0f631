/**
 * Demucs' spectrogram (`_spec`) and inverse (`_ispec`) as WASM SIMD kernels
 * (wasm/spectrogram.c, embedded by src/dsp/spectrogram-wasm-bytes.ts).
 *
 * Each kernel instance owns one WebAssembly memory. Callers reserve buffers
 * in it with `alloc`, fill them through `view`, run `spec`/`ispec`, and read the
 * results through `view`. Nothing is allocated per call, so a steady-state
 * loop (reset → alloc the same sizes → spec/ispec) never grows the memory.
 *
 * Layouts (one channel, n samples, le = framesFor(n) frames):
 *  - signal: n float32;
 *  - spectrogram: a real plane and an imaginary plane, each BINS × le float32,
 *    bin-major (element (k, f) at k * le + f), already normalised
 *    (torch.stft(..., normalized=True)), bins 0..2047 and frames [2, 2 + le)
 *    of Demucs' STFT of the reflect-padded signal (docs/ARCHITECTURE.md §3). In HT-Demucs'
 *    complex-as-channels tensors ([.., C*2, 2048, le]) channel 2c is audio channel
 *    c's real plane and 2c + 1 its imaginary plane.
 *
 * Note that Demucs' _ispec(_spec(x)) is not x: it drops the Nyquist bin and STFT
 * frames 0, 1 and the last two, so the first 1536 and the last
 * 1536 + le*1024 - n samples come back attenuated (window gain 0.5 at sample 0).
 * The kernels reproduce that exactly (test/spectrogram-kernel.test.ts).
 */
import { BINS, HOP, NFFT, SPEC_PAD, framesFor } from '../constants.js';
import { decodeSpectrogramWasm } from './spectrogram-wasm-bytes.js';

/** Bins of a full real FFT of NFFT samples (DC..Nyquist). */
export const RFFT_BINS = NFFT / 2 + 1;
/**
 * Shortest signal `spec`/`ispec` accept: below it torch's reflect padding by
 * (SPEC_PAD, SPEC_PAD + le*HOP - n) is invalid (a pad must be shorter than the input).
 */
export const MIN_SPEC_SAMPLES = SPEC_PAD + HOP;

export interface SpectrogramKernel {
  /**
   * Reserve `floats` float32 in the module's memory (16-byte aligned; in fact
   * 64-byte, a cache line, which keeps plane rows line-aligned when frames % 16
   * == 0), returns a byte pointer. Grows memory when needed.
   */
  alloc(floats: number): number;
  /** Free everything alloc returned (bump allocator reset). */
  reset(): void;
  /** A Float32Array view of [ptr, ptr + length floats). Views made before a memory growth are stale: call again after alloc. */
  view(ptr: number, length: number): Float32Array;
  /**
   * Demucs `_spec` of one channel: n float32 at xPtr → re/im planes of
   * BINS × framesFor(n) float32 each (see the module comment). n ≥ MIN_SPEC_SAMPLES.
   */
  spec(xPtr: number, n: number, rePtr: number, imPtr: number): void;
  /**
   * Demucs `_ispec` of one stem-channel: re/im planes (BINS × framesFor(n)) →
   * n float32 at outPtr, plus the n float32 at addPtr when addPtr is not 0
   * (the time branch's output; addPtr may equal outPtr). outPtr must not
   * overlap the planes.
   */
  ispec(rePtr: number, imPtr: number, n: number, outPtr: number, addPtr: number /* 0 = none */): void;
  /**
   * For tests/reference: forward real FFT (no window, no scaling) of 4 frames.
   * In: frame-major 4 × NFFT float32 at inPtr (frame j at inPtr + 4*j*NFFT).
   * Out: frame-major 4 × RFFT_BINS float32 each at rePtr/imPtr (bin k of frame j
   * at index j*RFFT_BINS + k).
   */
  rfft4(inPtr: number, rePtr: number, imPtr: number): void;
  /**
   * Inverse of rfft4 including the 1/NFFT (numpy's irfft with n = NFFT; the
   * imaginary parts of DC and Nyquist are ignored). Same layouts, reversed.
   */
  irfft4(rePtr: number, imPtr: number, outPtr: number): void;
  /** Current size of the module's memory, in bytes. */
  readonly memoryBytes: number;
}

interface KernelExports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  spectrogram_init(): void;
  spec_channel(x: number, n: number, re: number, im: number): number;
  ispec_channel(re: number, im: number, n: number, out: number, add: number): number;
  rfft4(input: number, re: number, im: number): void;
  irfft4(re: number, im: number, out: number): void;
}

let compiled: WebAssembly.Module | undefined;

/**
 * The compiled kernel module, shared by all instances; compiled synchronously
 * on first use unless compileSpectrogramKernel() ran first.
 */
function kernelModule(): WebAssembly.Module {
  if (compiled === undefined) compiled = new WebAssembly.Module(decodeSpectrogramWasm());
  return compiled;
}

/**
 * Compiles the kernel module asynchronously and caches it for
 * createSpectrogramKernel(). Use it on a browser main thread: Chrome refuses
 * synchronous compilation of modules over 4 KB there before version ~115 (8 MB
 * since); workers, AudioWorklets and Node have no such limit. The returned
 * module can also be posted to a worker/worklet and passed to
 * createSpectrogramKernel(module) there.
 */
export async function compileSpectrogramKernel(): Promise<WebAssembly.Module> {
  if (compiled === undefined) compiled = await WebAssembly.compile(decodeSpectrogramWasm());
  return compiled;
}

const PAGE = 65536;
/** alloc's alignment in bytes (a cache line). */
const ALIGN = 64;

/** Float32 in each spectrogram plane for a channel of n samples: BINS × framesFor(n). */
export function specPlaneFloats(n: number): number {
  return BINS * framesFor(n);
}

/**
 * A new kernel instance with its own memory (synchronous instantiation).
 * `module`: a module from compileSpectrogramKernel() (e.g. posted from another
 * thread); by default the cached one, compiled now if needed.
 * Needs WebAssembly SIMD (Chrome/Edge 91+, Firefox 89+, Safari 16.4+, Node 16.4+).
 */
export function createSpectrogramKernel(module?: WebAssembly.Module): SpectrogramKernel {
  const instance = new WebAssembly.Instance(module ?? kernelModule(), {});
  const ex = instance.exports as unknown as KernelExports;
  ex.spectrogram_init();
  const memory = ex.memory;
  const alignUp = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;
  const heapBase = alignUp(ex.__heap_base.value as number);
  let top = heapBase;

  const bytes = () => memory.buffer.byteLength;

  function checkRange(name: string, ptr: number, floats: number): void {
    if (!Number.isInteger(ptr) || ptr < heapBase || ptr % 4 !== 0 || ptr + floats * 4 > bytes()) {
      throw new RangeError(`spectrogram kernel: ${name} pointer ${ptr} (+${floats} floats) is not an allocated buffer`);
    }
  }

  function checkN(n: number): number {
    if (!Number.isInteger(n) || n < MIN_SPEC_SAMPLES || n > 0x7fffffff / 4) {
      throw new RangeError(`spectrogram kernel: n must be an integer ≥ ${MIN_SPEC_SAMPLES}, got ${n}`);
    }
    return framesFor(n);
  }

  function overlaps(a: number, aFloats: number, b: number, bFloats: number): boolean {
    return a < b + bFloats * 4 && b < a + aFloats * 4;
  }

  return {
    alloc(floats: number): number {
      if (!Number.isInteger(floats) || floats < 0) {
        throw new RangeError(`spectrogram kernel: alloc of ${floats} floats`);
      }
      const ptr = top;
      const end = ptr + floats * 4;
      if (end > bytes()) memory.grow(Math.ceil((end - bytes()) / PAGE));
      top = alignUp(end);
      return ptr;
    },
    reset(): void {
      top = heapBase;
    },
    view(ptr: number, length: number): Float32Array {
      return new Float32Array(memory.buffer, ptr, length);
    },
    spec(xPtr: number, n: number, rePtr: number, imPtr: number): void {
      const le = checkN(n);
      checkRange('x', xPtr, n);
      checkRange('re', rePtr, BINS * le);
      checkRange('im', imPtr, BINS * le);
      if (overlaps(xPtr, n, rePtr, BINS * le) || overlaps(xPtr, n, imPtr, BINS * le) || overlaps(rePtr, BINS * le, imPtr, BINS * le)) {
        throw new RangeError('spectrogram kernel: spec input and output planes overlap');
      }
      ex.spec_channel(xPtr, n, rePtr, imPtr);
    },
    ispec(rePtr: number, imPtr: number, n: number, outPtr: number, addPtr: number): void {
      const le = checkN(n);
      const plane = BINS * le;
      checkRange('re', rePtr, plane);
      checkRange('im', imPtr, plane);
      checkRange('out', outPtr, n);
      if (addPtr !== 0) {
        checkRange('add', addPtr, n);
        if (addPtr !== outPtr && overlaps(addPtr, n, outPtr, n)) {
          throw new RangeError('spectrogram kernel: ispec add buffer partially overlaps the output');
        }
      }
      if (overlaps(outPtr, n, rePtr, plane) || overlaps(outPtr, n, imPtr, plane)) {
        throw new RangeError('spectrogram kernel: ispec output overlaps its input planes');
      }
      ex.ispec_channel(rePtr, imPtr, n, outPtr, addPtr);
    },
    rfft4(inPtr: number, rePtr: number, imPtr: number): void {
      checkRange('in', inPtr, 4 * NFFT);
      checkRange('re', rePtr, 4 * RFFT_BINS);
      checkRange('im', imPtr, 4 * RFFT_BINS);
      ex.rfft4(inPtr, rePtr, imPtr);
    },
    irfft4(rePtr: number, imPtr: number, outPtr: number): void {
      checkRange('re', rePtr, 4 * RFFT_BINS);
      checkRange('im', imPtr, 4 * RFFT_BINS);
      checkRange('out', outPtr, 4 * NFFT);
      ex.irfft4(rePtr, imPtr, outPtr);
    },
    get memoryBytes(): number {
      return bytes();
    },
  };
}
