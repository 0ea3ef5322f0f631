/*
 * stemstream — Demucs spectrogram kernels for WebAssembly SIMD (wasm32 + simd128).
 *
 * Built by wasm/build.sh (Debian clang 14, -nostdlib, no libc). See docs/ARCHITECTURE.md §3.
 *
 * What is computed
 * ----------------
 * spec_channel: Demucs' `_spec` for one channel of n samples (n >= 2560):
 *   le = ceil(n / 1024), x_p = reflect_pad(x, 1536, 1536 + le*1024 - n)
 *   (torch reflect: x_p[1536 - k] = x[k], x_p[1536 + n - 1 + k] = x[n - 1 - k]);
 *   kept frame f (0 <= f < le) = rfft(hann * x_p[f*1024 .. f*1024 + 4095]) / 64,
 *   bins 0..2047 (Nyquist dropped). Output planes re/im are [2048][le] row-major
 *   (element (k, f) at k*le + f).
 * ispec_channel: Demucs' `_ispec`: out[i] = istft(...)[1536 + i] (+ add[i]),
 *   i.e. sum over kept frames f of
 *   hann[t] * 64 * irfft(frame f)[t] / 1.5, t = i + 1536 - f*1024 in [0, 4096).
 *   1.5 is the window-square envelope of the periodic Hann at hop n_fft/4; every
 *   kept sample is covered by exactly 4 frames (of the le + 4 of torch.istft).
 *
 * How
 * ---
 * A real FFT of 4096 is a complex FFT of 2048 on z[m] = x[2m] + i x[2m+1]
 * followed by the real-split post-processing (the inverse: pre-processing then
 * a complex inverse FFT of 2048). Four frames are transformed at once, one per
 * lane of a v128: the scratch array z holds, for every index, the 4 frames'
 * values, so all butterflies are plain lane-wise f32x4 arithmetic with splatted
 * twiddles; the only shuffles are the 4x4 transposes between time samples
 * (frame-major) and lanes. Lane j is frame f + j; for a bin k the 4 frames
 * f..f+3 are contiguous in an output plane.
 * Forward: radix-4 decimation-in-frequency passes (natural order in), the last
 * radix-2 stage fused into the post-processing, which reads the bit-reversed
 * result through a table. Inverse: the pre-processing writes bit-reversed
 * positions and does the first radix-2 stage, then radix-4
 * decimation-in-time passes give natural order. The L = 8 passes use their
 * constant twiddles.
 * Planes are read/written 16 frames (64 bytes) per bin row at a time through a
 * staging buffer (blk_re/blk_im), instead of 16 bytes per row per group of 4.
 * ispec's overlap-add is fused with the windowing and with the `add` input.
 *
 * Constant factors are folded into the windows: the forward window carries the
 * 1/sqrt(4096) normalisation and the 1/2 of the real-split step; the inverse
 * window carries sqrt(4096) / 4096 / 1.5 (the pre-processing works on doubled
 * values, so an unnormalised inverse FFT of 2048 gives 4096 * irfft).
 *
 * Tables and scratch are static and built once by spectrogram_init(); nothing is
 * allocated per call. All arithmetic is float32 (tables are computed in double).
 */

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name), visibility("default")))

#define NFFT 4096          /* real FFT size */
#define HALF 2048          /* complex FFT size M = NFFT / 2 */
#define HOP 1024
#define PAD 1536           /* Demucs' reflect pad: HOP / 2 * 3 */
#define NBINS 2048         /* bins kept by Demucs (Nyquist dropped) */
#define RBINS 2049         /* bins of a real FFT of 4096 */
#define MIN_SAMPLES 2560   /* smallest n for which torch's reflect pad is valid */

typedef unsigned short u16;

/* cos / sin of 2*pi*k/4096, k = 0..4095. W_4096^k = cos - i sin; W_2048^k = index 2k. */
static float tw_c[NFFT] __attribute__((aligned(16)));
static float tw_s[NFFT] __attribute__((aligned(16)));
/* Windows with folded constants (see header). */
static float win_spec[NFFT] __attribute__((aligned(16)));  /* hann / 128 */
static float win_ispec[NFFT] __attribute__((aligned(16))); /* hann / 96 */
static float win_half[NFFT] __attribute__((aligned(16)));  /* 0.5 (raw forward) */
static float win_inv[NFFT] __attribute__((aligned(16)));   /* 1/4096 (raw inverse) */
static u16 bitrev[HALF];
/*
 * 4-lane complex scratch of the FFT of 2048: element i (4 frames' real and
 * imaginary parts, adjacent) lives at zbuf[i + i/32]. The padding breaks the
 * power-of-two strides of the large butterflies, which otherwise map every
 * operand to the same L1 set (measured: 2.5x slower).
 */
typedef struct {
  v128_t re, im;
} cplx4;
static cplx4 zbuf[HALF + HALF / 32];
#define Z(i) zbuf[(i) + ((i) >> 5)]
/*
 * Staging of a block of BLOCK frames (spec/ispec) in groups of 4: group g's
 * bins k = 0..2048 at blk_re/blk_im + g*GROUP + 4*k (4 lanes = frames
 * f0 + 4g .. f0 + 4g + 3). Planes are read and written BLOCK frames per bin row
 * (a few whole cache lines), the FFT side reads each group contiguously.
 * rfft4/irfft4 use group 0.
 */
#define BLOCK 16
#define GROUP (4 * RBINS)
static float blk_re[(BLOCK / 4) * GROUP] __attribute__((aligned(16)));
static float blk_im[(BLOCK / 4) * GROUP] __attribute__((aligned(16)));
/* 4 frames of time samples (edges, partial groups, raw transforms). */
static float stage[4 * NFFT] __attribute__((aligned(16)));
static int initialised = 0;

/* ---------------------------------------------------------------- tables -- */

/* sin and cos of |x| <= pi/4 by their Taylor series (error < 1e-17). */
static double sin_small(double x) {
  double x2 = x * x, term = x, sum = x;
  for (int i = 1; i < 12; i++) {
    term *= -x2 / (double)((2 * i) * (2 * i + 1));
    sum += term;
  }
  return sum;
}

static double cos_small(double x) {
  double x2 = x * x, term = 1.0, sum = 1.0;
  for (int i = 1; i < 12; i++) {
    term *= -x2 / (double)((2 * i - 1) * (2 * i));
    sum += term;
  }
  return sum;
}

static const double PI = 3.14159265358979323846;

/* cos and sin of 2*pi*k/4096 in double, exact at multiples of pi/2. */
static void unit_root(int k, double *c, double *s) {
  k &= NFFT - 1;
  int quadrant = k >> 10, r = k & 1023;
  double c0, s0;
  if (r <= 512) {
    double a = 2.0 * PI * (double)r / (double)NFFT;
    c0 = cos_small(a);
    s0 = sin_small(a);
  } else {
    double a = 2.0 * PI * (double)(1024 - r) / (double)NFFT;
    c0 = sin_small(a);
    s0 = cos_small(a);
  }
  switch (quadrant) {
    case 0: *c = c0; *s = s0; break;
    case 1: *c = -s0; *s = c0; break;
    case 2: *c = -c0; *s = -s0; break;
    default: *c = s0; *s = -c0; break;
  }
}

EXPORT(spectrogram_init) void spectrogram_init(void) {
  if (initialised) return;
  for (int k = 0; k < NFFT; k++) {
    double c, s;
    unit_root(k, &c, &s);
    tw_c[k] = (float)c;
    tw_s[k] = (float)s;
    /* torch.hann_window(4096) (periodic): 0.5 - 0.5 cos(2 pi k / 4096). */
    double hann = 0.5 - 0.5 * c;
    win_spec[k] = (float)(hann / 128.0);
    win_ispec[k] = (float)(hann / 96.0);
    win_half[k] = 0.5f;
    win_inv[k] = 1.0f / 4096.0f;
  }
  for (int i = 0; i < HALF; i++) {
    int r = 0;
    for (int b = 0; b < 11; b++) r |= ((i >> b) & 1) << (10 - b);
    bitrev[i] = (u16)r;
  }
  initialised = 1;
}

/* ---------------------------------------------------------------- helpers -- */

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul
#define SPLAT(p) wasm_v128_load32_splat(p)

/* 4x4 transpose: rows a..d -> columns. */
#define TRANSPOSE4(a, b, c, d)                                   \
  do {                                                           \
    v128_t t0_ = wasm_i32x4_shuffle((a), (b), 0, 4, 1, 5);       \
    v128_t t1_ = wasm_i32x4_shuffle((a), (b), 2, 6, 3, 7);       \
    v128_t t2_ = wasm_i32x4_shuffle((c), (d), 0, 4, 1, 5);       \
    v128_t t3_ = wasm_i32x4_shuffle((c), (d), 2, 6, 3, 7);       \
    (a) = wasm_i32x4_shuffle(t0_, t2_, 0, 1, 4, 5);              \
    (b) = wasm_i32x4_shuffle(t0_, t2_, 2, 3, 6, 7);              \
    (c) = wasm_i32x4_shuffle(t1_, t3_, 0, 1, 4, 5);              \
    (d) = wasm_i32x4_shuffle(t1_, t3_, 2, 3, 6, 7);              \
  } while (0)

/*
 * Load 4 frames of 4096 samples (frame j at src + j*stride floats), multiply by
 * `win` and transpose into the lanes of z: z[m] = x[2m] + i x[2m+1].
 */
static void load_frames(const float *src, int stride, const float *win) {
  const float *p0 = src, *p1 = src + stride, *p2 = src + 2 * stride, *p3 = src + 3 * stride;
  for (int q = 0; q < NFFT / 4; q++) {
    v128_t w = LD(win + 4 * q);
    v128_t a = MUL(LD(p0 + 4 * q), w);
    v128_t b = MUL(LD(p1 + 4 * q), w);
    v128_t c = MUL(LD(p2 + 4 * q), w);
    v128_t d = MUL(LD(p3 + 4 * q), w);
    TRANSPOSE4(a, b, c, d);
    cplx4 *z = &Z(2 * q); /* 2q and 2q + 1 are in the same 32-element run */
    z[0].re = a;
    z[0].im = b;
    z[1].re = c;
    z[1].im = d;
  }
}

/* Offset of element i + k*q from element i inside a pass (no run boundary is crossed
   between the 4 operands of a butterfly, and for q >= 32 runs are whole). */
#define ZOFF(x) ((x) + ((x) >> 5))

/*
 * One radix-4 decimation-in-frequency pass with block size L (>= 32), always
 * inlined with a constant L so that operand offsets are immediates. Block of
 * size L, quarter q, j < q, W = W_L:
 *   a = x0 + x2, b = x1 + x3, c = x0 - x2, d = -i (x1 - x3)
 *   x0 = a + b, x1 = (a - b) W^2j, x2 = (c + d) W^j, x3 = (c - d) W^3j.
 */
static inline __attribute__((always_inline)) void dif_pass(const int L) {
  const int q = L >> 2;
  const int s = (2 * HALF) / L; /* W_L^j = W_4096^(j*s) */
  for (int j = 0; j < q; j++) {
    const v128_t c1 = SPLAT(&tw_c[j * s]), s1 = SPLAT(&tw_s[j * s]);
    const v128_t c2 = SPLAT(&tw_c[2 * j * s]), s2 = SPLAT(&tw_s[2 * j * s]);
    const v128_t c3 = SPLAT(&tw_c[3 * j * s]), s3 = SPLAT(&tw_s[3 * j * s]);
    cplx4 *z = &Z(j);
    for (int t = 0; t < HALF / L; t++, z += ZOFF(L)) {
      cplx4 *z0 = z, *z1 = z + ZOFF(q), *z2 = z + ZOFF(2 * q), *z3 = z + ZOFF(3 * q);
      v128_t x0r = z0->re, x0i = z0->im;
      v128_t x1r = z1->re, x1i = z1->im;
      v128_t x2r = z2->re, x2i = z2->im;
      v128_t x3r = z3->re, x3i = z3->im;
      v128_t ar = ADD(x0r, x2r), ai = ADD(x0i, x2i);
      v128_t br = ADD(x1r, x3r), bi = ADD(x1i, x3i);
      v128_t cr = SUB(x0r, x2r), ci = SUB(x0i, x2i);
      v128_t dr = SUB(x1i, x3i), di = SUB(x3r, x1r); /* -i (x1 - x3) */
      z0->re = ADD(ar, br);
      z0->im = ADD(ai, bi);
      /* (u + iv)(c - is) = (uc + vs) + i(vc - us) */
      v128_t ur = SUB(ar, br), ui = SUB(ai, bi);
      z1->re = ADD(MUL(ur, c2), MUL(ui, s2));
      z1->im = SUB(MUL(ui, c2), MUL(ur, s2));
      ur = ADD(cr, dr);
      ui = ADD(ci, di);
      z2->re = ADD(MUL(ur, c1), MUL(ui, s1));
      z2->im = SUB(MUL(ui, c1), MUL(ur, s1));
      ur = SUB(cr, dr);
      ui = SUB(ci, di);
      z3->re = ADD(MUL(ur, c3), MUL(ui, s3));
      z3->im = SUB(MUL(ui, c3), MUL(ur, s3));
    }
  }
}

/* sqrt(2)/2 */
#define RSQRT2 0.70710678118654752440f

/*
 * The last radix-4 DIF pass (L = 8, q = 2) with its constant twiddles:
 * j = 0: all 1; j = 1: W_8 = r(1 - i), W_8^2 = -i, W_8^3 = r(-1 - i), r = sqrt(2)/2.
 */
static void dif_pass8(void) {
  const v128_t r = wasm_f32x4_const_splat(RSQRT2);
  for (int run = 0; run < HALF / 32; run++) {
    cplx4 *z = zbuf + 33 * run;
    for (int t = 0; t < 4; t++, z += 8) {
      {
        cplx4 *z0 = z, *z1 = z + 2, *z2 = z + 4, *z3 = z + 6;
        v128_t ar = ADD(z0->re, z2->re), ai = ADD(z0->im, z2->im);
        v128_t br = ADD(z1->re, z3->re), bi = ADD(z1->im, z3->im);
        v128_t cr = SUB(z0->re, z2->re), ci = SUB(z0->im, z2->im);
        v128_t dr = SUB(z1->im, z3->im), di = SUB(z3->re, z1->re);
        z0->re = ADD(ar, br);
        z0->im = ADD(ai, bi);
        z1->re = SUB(ar, br);
        z1->im = SUB(ai, bi);
        z2->re = ADD(cr, dr);
        z2->im = ADD(ci, di);
        z3->re = SUB(cr, dr);
        z3->im = SUB(ci, di);
      }
      {
        cplx4 *z0 = z + 1, *z1 = z + 3, *z2 = z + 5, *z3 = z + 7;
        v128_t ar = ADD(z0->re, z2->re), ai = ADD(z0->im, z2->im);
        v128_t br = ADD(z1->re, z3->re), bi = ADD(z1->im, z3->im);
        v128_t cr = SUB(z0->re, z2->re), ci = SUB(z0->im, z2->im);
        v128_t dr = SUB(z1->im, z3->im), di = SUB(z3->re, z1->re);
        z0->re = ADD(ar, br);
        z0->im = ADD(ai, bi);
        /* (a - b)(-i) */
        z1->re = SUB(ai, bi);
        z1->im = SUB(br, ar);
        /* (u)(r(1 - i)) = r((ur + ui) + i(ui - ur)) */
        v128_t ur = ADD(cr, dr), ui = ADD(ci, di);
        z2->re = MUL(r, ADD(ur, ui));
        z2->im = MUL(r, SUB(ui, ur));
        /* (u)(r(-1 - i)) = r((ui - ur) - i(ur + ui)) */
        ur = SUB(cr, dr);
        ui = SUB(ci, di);
        z3->re = MUL(r, SUB(ui, ur));
        z3->im = wasm_f32x4_neg(MUL(r, ADD(ur, ui)));
      }
    }
  }
}

/*
 * Forward complex FFT of 2048 (4 lanes), in place, natural order in: radix-4
 * DIF passes with block sizes 2048, 512, 128, 32, 8 (the last radix-2 stage is
 * fused into post_forward). Afterwards position p holds the radix-2 pair whose
 * sum/difference are Z[rev(p)] and Z[rev(p) + 1024] for even p (rev: 11-bit
 * reversal).
 */
static void fft_forward(void) {
  dif_pass(2048);
  dif_pass(512);
  dif_pass(128);
  dif_pass(32);
  dif_pass8();
}

/*
 * The first radix-4 DIT pass (L = 8, q = 2) with its constant twiddles:
 * j = 0: all 1; j = 1: U = r(1 + i), U^2 = i, U^3 = r(-1 + i).
 * y0 = x0 + x1', y1 = x0 - x1', p = x2' + x3', m = x2' - x3';
 * x0 = y0 + p, x2 = y0 - p, x1 = y1 + i m, x3 = y1 - i m.
 */
static void dit_pass8(void) {
  const v128_t r = wasm_f32x4_const_splat(RSQRT2);
  for (int run = 0; run < HALF / 32; run++) {
    cplx4 *z = zbuf + 33 * run;
    for (int t = 0; t < 4; t++, z += 8) {
      {
        cplx4 *z0 = z, *z1 = z + 2, *z2 = z + 4, *z3 = z + 6;
        v128_t y0r = ADD(z0->re, z1->re), y0i = ADD(z0->im, z1->im);
        v128_t y1r = SUB(z0->re, z1->re), y1i = SUB(z0->im, z1->im);
        v128_t pr = ADD(z2->re, z3->re), pi = ADD(z2->im, z3->im);
        v128_t mr = SUB(z2->re, z3->re), mi = SUB(z2->im, z3->im);
        z0->re = ADD(y0r, pr);
        z0->im = ADD(y0i, pi);
        z2->re = SUB(y0r, pr);
        z2->im = SUB(y0i, pi);
        z1->re = SUB(y1r, mi);
        z1->im = ADD(y1i, mr);
        z3->re = ADD(y1r, mi);
        z3->im = SUB(y1i, mr);
      }
      {
        cplx4 *z0 = z + 1, *z1 = z + 3, *z2 = z + 5, *z3 = z + 7;
        /* x1 i = (-x1i, x1r); x2 r(1 + i) = r(x2r - x2i, x2r + x2i); x3 r(-1 + i) = r(-x3r - x3i, x3r - x3i) */
        v128_t t1r = wasm_f32x4_neg(z1->im), t1i = z1->re;
        v128_t t2r = MUL(r, SUB(z2->re, z2->im)), t2i = MUL(r, ADD(z2->re, z2->im));
        v128_t t3r = wasm_f32x4_neg(MUL(r, ADD(z3->re, z3->im))), t3i = MUL(r, SUB(z3->re, z3->im));
        v128_t y0r = ADD(z0->re, t1r), y0i = ADD(z0->im, t1i);
        v128_t y1r = SUB(z0->re, t1r), y1i = SUB(z0->im, t1i);
        v128_t pr = ADD(t2r, t3r), pi = ADD(t2i, t3i);
        v128_t mr = SUB(t2r, t3r), mi = SUB(t2i, t3i);
        z0->re = ADD(y0r, pr);
        z0->im = ADD(y0i, pi);
        z2->re = SUB(y0r, pr);
        z2->im = SUB(y0i, pi);
        z1->re = SUB(y1r, mi);
        z1->im = ADD(y1i, mr);
        z3->re = ADD(y1r, mi);
        z3->im = SUB(y1i, mr);
      }
    }
  }
}

/*
 * One radix-4 decimation-in-time pass (inverse, e^{+i}) with block size L
 * (>= 32), inlined with a constant L. Block L, quarter q, j < q, U = e^{2 pi i/L}:
 *   x1' = x1 U^2j, x2' = x2 U^j, x3' = x3 U^3j
 *   y0 = x0 + x1', y1 = x0 - x1', p = x2' + x3', m = x2' - x3'
 *   x0 = y0 + p, x2 = y0 - p, x1 = y1 + i m, x3 = y1 - i m.
 */
static inline __attribute__((always_inline)) void dit_pass(const int L) {
  const int q = L >> 2;
  const int s = (2 * HALF) / L;
  for (int j = 0; j < q; j++) {
    const v128_t c1 = SPLAT(&tw_c[j * s]), s1 = SPLAT(&tw_s[j * s]);
    const v128_t c2 = SPLAT(&tw_c[2 * j * s]), s2 = SPLAT(&tw_s[2 * j * s]);
    const v128_t c3 = SPLAT(&tw_c[3 * j * s]), s3 = SPLAT(&tw_s[3 * j * s]);
    cplx4 *z = &Z(j);
    for (int t = 0; t < HALF / L; t++, z += ZOFF(L)) {
      cplx4 *z0 = z, *z1 = z + ZOFF(q), *z2 = z + ZOFF(2 * q), *z3 = z + ZOFF(3 * q);
      /* Ordered to keep few values live (V8 has 15 xmm registers for all of this). */
      /* (u + iv)(c + is) = (uc - vs) + i(us + vc) */
      v128_t x1r = z1->re, x1i = z1->im;
      v128_t t1r = SUB(MUL(x1r, c2), MUL(x1i, s2)), t1i = ADD(MUL(x1r, s2), MUL(x1i, c2));
      v128_t x0r = z0->re, x0i = z0->im;
      v128_t y0r = ADD(x0r, t1r), y0i = ADD(x0i, t1i);
      v128_t y1r = SUB(x0r, t1r), y1i = SUB(x0i, t1i);
      v128_t x2r = z2->re, x2i = z2->im;
      v128_t t2r = SUB(MUL(x2r, c1), MUL(x2i, s1)), t2i = ADD(MUL(x2r, s1), MUL(x2i, c1));
      v128_t x3r = z3->re, x3i = z3->im;
      v128_t t3r = SUB(MUL(x3r, c3), MUL(x3i, s3)), t3i = ADD(MUL(x3r, s3), MUL(x3i, c3));
      v128_t pr = ADD(t2r, t3r), pi = ADD(t2i, t3i);
      z0->re = ADD(y0r, pr);
      z0->im = ADD(y0i, pi);
      z2->re = SUB(y0r, pr);
      z2->im = SUB(y0i, pi);
      v128_t mr = SUB(t2r, t3r), mi = SUB(t2i, t3i);
      /* i m = -mi + i mr */
      z1->re = SUB(y1r, mi);
      z1->im = ADD(y1i, mr);
      z3->re = ADD(y1r, mi);
      z3->im = SUB(y1i, mr);
    }
  }
}

/*
 * Inverse (unnormalised, e^{+i}) complex FFT of 2048 (4 lanes), in place,
 * bit-reversed order in (the first radix-2 stage is fused into pre_inverse),
 * natural order out: radix-4 DIT passes with block sizes 8, 32, 128, 512, 2048.
 */
static void fft_inverse(void) {
  dit_pass8();
  dit_pass(32);
  dit_pass(128);
  dit_pass(512);
  dit_pass(2048);
}

/*
 * One real-split output pair: from A = Z[k] and Zm = Z[M-k] (B = conj Zm),
 * with W_4096^k = c - is, writes X[k] to (re, im)[k*stride] and X[M-k] to
 * (re, im)[km*stride] (km = M - k; skipped when km >= nbins).
 *   E = A + B, D = A - B, P = c Di - s Dr, Q = -(c Dr + s Di)
 *   X[k] = (Er + P, Ei + Q), X[M-k] = (Er - P, Q - Ei)
 * (Z carries a factor 1/2 from the window, so no halving here.)
 */
static inline void split_pair(v128_t ar, v128_t ai, v128_t br, v128_t bi, v128_t c, v128_t s, float *re,
                              float *im, int k, int km, int stride, int nbins) {
  v128_t er = ADD(ar, br), ei = SUB(ai, bi);
  v128_t dr = SUB(ar, br), di = ADD(ai, bi);
  v128_t p = SUB(MUL(c, di), MUL(s, dr));
  v128_t qn = ADD(MUL(c, dr), MUL(s, di)); /* -Q */
  ST(re + k * stride, ADD(er, p));
  ST(im + k * stride, SUB(ei, qn));
  if (km < nbins) {
    ST(re + km * stride, SUB(er, p));
    ST(im + km * stride, wasm_f32x4_neg(ADD(qn, ei)));
  }
}

/*
 * Last radix-2 DIF stage + real-split post-processing, from z (after
 * fft_forward) to X[k], k = 0..nbins-1 (nbins 2048 or 2049), stored as v128
 * (4 frames) at re + k*stride, im + k*stride. Iteration k (1..511) handles the
 * bins k, M-k, M/2-k, M/2+k: Z[k], Z[k + M/2] are the radix-2 pair at rev(k),
 * Z[M/2 - k], Z[M - k] the pair at rev(M/2 - k); W^(M/2-k) = s - ic.
 */
static void post_forward(float *re, float *im, int stride, int nbins) {
  const v128_t one = wasm_f32x4_const_splat(1.0f), zero = wasm_f32x4_const_splat(0.0f);
  {
    /* Z[0], Z[1024] at positions 0, 1: bins 0 and 2048 (c = 1, s = 0), bin 1024 (c = 0, s = 1). */
    cplx4 *u = &Z(0);
    v128_t z0r = ADD(u[0].re, u[1].re), z0i = ADD(u[0].im, u[1].im);
    v128_t zhr = SUB(u[0].re, u[1].re), zhi = SUB(u[0].im, u[1].im);
    split_pair(z0r, z0i, z0r, z0i, one, zero, re, im, 0, HALF, stride, nbins);
    split_pair(zhr, zhi, zhr, zhi, zero, one, re, im, HALF / 2, HALF / 2, stride, nbins);
  }
  {
    /* Z[512], Z[1536] at positions rev(512) = 2, 3: bins 512 and 1536. */
    cplx4 *u = &Z(2);
    v128_t ar = ADD(u[0].re, u[1].re), ai = ADD(u[0].im, u[1].im);
    v128_t br = SUB(u[0].re, u[1].re), bi = SUB(u[0].im, u[1].im);
    split_pair(ar, ai, br, bi, SPLAT(&tw_c[512]), SPLAT(&tw_s[512]), re, im, 512, HALF - 512, stride, nbins);
  }
  for (int k = 1; k < HALF / 4; k++) {
    cplx4 *u = &Z(bitrev[k]);             /* Z[k], Z[k + 1024] */
    cplx4 *v = &Z(bitrev[HALF / 2 - k]);  /* Z[1024 - k], Z[2048 - k] */
    v128_t zkr = ADD(u[0].re, u[1].re), zki = ADD(u[0].im, u[1].im);
    v128_t zk2r = SUB(u[0].re, u[1].re), zk2i = SUB(u[0].im, u[1].im);
    v128_t zhr = ADD(v[0].re, v[1].re), zhi = ADD(v[0].im, v[1].im);
    v128_t zmr = SUB(v[0].re, v[1].re), zmi = SUB(v[0].im, v[1].im);
    v128_t c = SPLAT(&tw_c[k]), s = SPLAT(&tw_s[k]);
    split_pair(zkr, zki, zmr, zmi, c, s, re, im, k, HALF - k, stride, nbins);
    split_pair(zhr, zhi, zk2r, zk2i, s, c, re, im, HALF / 2 - k, HALF / 2 + k, stride, nbins);
  }
}

/*
 * One inverse real-split pair: from U = X[k], V = X[M-k] and W_4096^k = c - is,
 * the doubled Z[k], Z[M-k] (an unnormalised inverse FFT of 2048 then gives
 * 4096 * irfft):
 *   Er = Ur + Vr, P = Ur - Vr, Ei = Ui - Vi, Q = Ui + Vi, O = (c + is)(P + iQ)
 *   Z[k] = (Er - Oi, Ei + Or), Z[M-k] = (Er + Oi, Or - Ei)
 */
#define INVERSE_PAIR(ur, ui, vr, vi, c, s, zkr, zki, zmr, zmi)   \
  do {                                                          \
    v128_t er_ = ADD(ur, vr), p_ = SUB(ur, vr);                 \
    v128_t ei_ = SUB(ui, vi), q_ = ADD(ui, vi);                 \
    v128_t or_ = SUB(MUL(c, p_), MUL(s, q_));                   \
    v128_t oi_ = ADD(MUL(s, p_), MUL(c, q_));                   \
    zkr = SUB(er_, oi_);                                        \
    zki = ADD(ei_, or_);                                        \
    zmr = ADD(er_, oi_);                                        \
    zmi = SUB(or_, ei_);                                        \
  } while (0)

/* Writes the first radix-2 DIT stage of the pair Z[k], Z[k + 1024] at rev(k), rev(k) + 1. */
static inline void put_pair(int pos, v128_t ar, v128_t ai, v128_t br, v128_t bi) {
  cplx4 *u = &Z(pos);
  u[0].re = ADD(ar, br);
  u[0].im = ADD(ai, bi);
  u[1].re = SUB(ar, br);
  u[1].im = SUB(ai, bi);
}

/*
 * Inverse real-split pre-processing + the first radix-2 DIT stage: from X[k]
 * (k = 0..2047 at re/im + k*stride; the Nyquist bin's real part at nyq_re, or 0
 * if null) into z, ready for fft_inverse. Imaginary parts of DC and Nyquist
 * are ignored (as in C2R FFTs and torch).
 */
static void pre_inverse(const float *re, const float *im, int stride, const float *nyq_re) {
  {
    v128_t x0 = LD(re);
    v128_t xm = nyq_re ? LD(nyq_re) : wasm_f32x4_const_splat(0.0f);
    /* Z[0] = (X0 + XM, X0 - XM); Z[1024] = (2 Re X[1024], -2 Im X[1024]). */
    v128_t hr = LD(re + (HALF / 2) * stride), hi = LD(im + (HALF / 2) * stride);
    put_pair(0, ADD(x0, xm), SUB(x0, xm), ADD(hr, hr), wasm_f32x4_neg(ADD(hi, hi)));
  }
  {
    v128_t ur = LD(re + 512 * stride), ui = LD(im + 512 * stride);
    v128_t vr = LD(re + (HALF - 512) * stride), vi = LD(im + (HALF - 512) * stride);
    v128_t c = SPLAT(&tw_c[512]), s = SPLAT(&tw_s[512]);
    v128_t zkr, zki, zmr, zmi;
    INVERSE_PAIR(ur, ui, vr, vi, c, s, zkr, zki, zmr, zmi);
    put_pair(2, zkr, zki, zmr, zmi); /* rev(512) = 2; Z[1536] is Z[512 + 1024] */
  }
  for (int k = 1; k < HALF / 4; k++) {
    const int kh = HALF / 2 - k; /* 1024 - k */
    v128_t c = SPLAT(&tw_c[k]), s = SPLAT(&tw_s[k]);
    v128_t zkr, zki, zmr, zmi, zhr, zhi, zk2r, zk2i;
    {
      v128_t ur = LD(re + k * stride), ui = LD(im + k * stride);
      v128_t vr = LD(re + (HALF - k) * stride), vi = LD(im + (HALF - k) * stride);
      INVERSE_PAIR(ur, ui, vr, vi, c, s, zkr, zki, zmr, zmi); /* Z[k], Z[2048 - k] */
    }
    {
      v128_t ur = LD(re + kh * stride), ui = LD(im + kh * stride);
      v128_t vr = LD(re + (HALF / 2 + k) * stride), vi = LD(im + (HALF / 2 + k) * stride);
      INVERSE_PAIR(ur, ui, vr, vi, s, c, zhr, zhi, zk2r, zk2i); /* Z[1024 - k], Z[1024 + k] */
    }
    put_pair(bitrev[k], zkr, zki, zk2r, zk2i);
    put_pair(bitrev[kh], zhr, zhi, zmr, zmi);
  }
}

/* How store_frames writes frame j's samples at dst + j*stride. */
enum {
  STORE = 0,       /* all 4 frames: store */
  ACCUMULATE = 1,  /* frames 0-2: add to dst; frame 3: store */
  ACCUMULATE_ADD = 2 /* frames 0-2: add to dst; frame 3: store plus add3[t] */
};

/*
 * After fft_inverse: z[m] = (x[2m], x[2m+1]) per lane. Multiply by `win` and
 * transpose back so that frame j's samples 4q..4q+3 come out together, then
 * write them at dst + j*stride + 4q as `mode` says.
 * In ispec's overlap-add (stride = hop) frame 3 of a group is the first to
 * reach its samples (frames 0-2 reach them at later q), and none of the
 * earlier groups did: it initialises them, with the time branch's `add`.
 */
static inline __attribute__((always_inline)) void store_frames(float *dst, int stride, const float *win,
                                                               const int mode, const float *add3) {
  float *p0 = dst, *p1 = dst + stride, *p2 = dst + 2 * stride, *p3 = dst + 3 * stride;
  for (int q = 0; q < NFFT / 4; q++) {
    const cplx4 *z = &Z(2 * q);
    v128_t a = z[0].re, b = z[0].im, c = z[1].re, d = z[1].im;
    TRANSPOSE4(a, b, c, d);
    v128_t w = LD(win + 4 * q);
    a = MUL(a, w);
    b = MUL(b, w);
    c = MUL(c, w);
    d = MUL(d, w);
    if (mode != STORE) {
      a = ADD(a, LD(p0 + 4 * q));
      b = ADD(b, LD(p1 + 4 * q));
      c = ADD(c, LD(p2 + 4 * q));
    }
    if (mode == ACCUMULATE_ADD) d = ADD(d, LD(add3 + 4 * q));
    ST(p0 + 4 * q, a);
    ST(p1 + 4 * q, b);
    ST(p2 + 4 * q, c);
    ST(p3 + 4 * q, d);
  }
}

/* ------------------------------------------------------------ Demucs spec -- */

static int frames_for(int n) { return (n + HOP - 1) / HOP; }

/* torch reflect padding index into x for x_p index i - PAD (valid for n >= MIN_SAMPLES). */
static inline int reflect_index(int i, int n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

/*
 * Demucs _spec of one channel x[0..n) into re/im planes [2048][le], le = ceil(n/1024).
 * Frames go in blocks of 16 (4 groups of 4): each block's bins are gathered in
 * blk_re/blk_im and written to the planes 16 frames (a cache line) per bin at a
 * time, instead of 16 bytes per line per group.
 * Returns le, or -1 if n < 2560 (torch's reflect pad would be invalid).
 */
EXPORT(spec_channel) int spec_channel(const float *x, int n, float *re, float *im) {
  if (n < MIN_SAMPLES) return -1;
  spectrogram_init();
  const int le = frames_for(n);
  for (int f0 = 0; f0 < le; f0 += BLOCK) {
    const int nb = le - f0 < BLOCK ? le - f0 : BLOCK;
    for (int g = 0; 4 * g < nb; g++) {
      const int f = f0 + 4 * g;
      const int valid = le - f < 4 ? le - f : 4;
      /* Frame j reads x[(f+j)*1024 - 1536 .. + 4096). */
      const int first = f * HOP - PAD;
      const int last_end = (f + 3) * HOP - PAD + NFFT;
      if (valid == 4 && first >= 0 && last_end <= n) {
        load_frames(x + first, HOP, win_spec);
      } else {
        for (int j = 0; j < 4; j++) {
          float *dst = stage + j * NFFT;
          if (j < valid) {
            const int start = (f + j) * HOP - PAD;
            for (int t = 0; t < NFFT; t++) dst[t] = x[reflect_index(start + t, n)];
          } else {
            for (int t = 0; t < NFFT; t++) dst[t] = 0.0f;
          }
        }
        load_frames(stage, NFFT, win_spec);
      }
      fft_forward();
      post_forward(blk_re + g * GROUP, blk_im + g * GROUP, 4, NBINS);
    }
    if (nb == BLOCK) {
      for (int k = 0; k < NBINS; k++) {
        float *dr = re + k * le + f0, *di = im + k * le + f0;
        for (int g = 0; g < BLOCK / 4; g++) {
          ST(dr + 4 * g, LD(blk_re + g * GROUP + 4 * k));
          ST(di + 4 * g, LD(blk_im + g * GROUP + 4 * k));
        }
      }
    } else {
      for (int k = 0; k < NBINS; k++)
        for (int i = 0; i < nb; i++) {
          re[k * le + f0 + i] = blk_re[(i >> 2) * GROUP + 4 * k + (i & 3)];
          im[k * le + f0 + i] = blk_im[(i >> 2) * GROUP + 4 * k + (i & 3)];
        }
    }
  }
  return le;
}

/*
 * Demucs _ispec of one stem-channel: planes re/im [2048][le] (le = ceil(n/1024))
 * to out[0..n), out[i] = ispec[i] + (add ? add[i] : 0). `add` may equal `out`;
 * `out` must not overlap the planes. Frames go in blocks of 16 as in
 * spec_channel (frames past le read as zero). Returns le, or -1 if n < 2560.
 */
EXPORT(ispec_channel) int ispec_channel(const float *re, const float *im, int n, float *out, const float *add) {
  if (n < MIN_SAMPLES) return -1;
  spectrogram_init();
  const int le = frames_for(n);
  int ready = 0; /* out[0..ready) holds add (or 0) plus the frames so far; add == out: add */
  for (int f0 = 0; f0 < le; f0 += BLOCK) {
    const int nb = le - f0 < BLOCK ? le - f0 : BLOCK;
    if (nb == BLOCK) {
      for (int k = 0; k < NBINS; k++) {
        const float *sr = re + k * le + f0, *si = im + k * le + f0;
        for (int g = 0; g < BLOCK / 4; g++) {
          ST(blk_re + g * GROUP + 4 * k, LD(sr + 4 * g));
          ST(blk_im + g * GROUP + 4 * k, LD(si + 4 * g));
        }
      }
    } else {
      for (int k = 0; k < NBINS; k++)
        for (int i = 0; i < ((nb + 3) & ~3); i++) {
          blk_re[(i >> 2) * GROUP + 4 * k + (i & 3)] = i < nb ? re[k * le + f0 + i] : 0.0f;
          blk_im[(i >> 2) * GROUP + 4 * k + (i & 3)] = i < nb ? im[k * le + f0 + i] : 0.0f;
        }
    }
    for (int g = 0; 4 * g < nb; g++) {
      const int f = f0 + 4 * g;
      const int valid = le - f < 4 ? le - f : 4;
      pre_inverse(blk_re + g * GROUP, blk_im + g * GROUP, 4, 0);
      fft_inverse();
      /* Frame j adds its sample t to out[(f+j)*1024 - 1536 + t]; the group
         reaches out[.. end), of which out[ready ..) is not initialised yet. */
      const int first = f * HOP - PAD;
      const int last_end = (f + 3) * HOP - PAD + NFFT;
      const int end = last_end < n ? last_end : n;
      if (valid == 4 && first >= 0 && last_end <= n && ready == first + 3 * HOP) {
        /* out[first + 3072 ..) is frame 3's alone so far: it stores (plus add). */
        if (add)
          store_frames(out + first, HOP, win_ispec, ACCUMULATE_ADD, add + first + 3 * HOP);
        else
          store_frames(out + first, HOP, win_ispec, ACCUMULATE, 0);
        ready = end;
      } else {
        if (add == out) {
          ready = end;
        } else {
          for (; ready < end; ready++) out[ready] = add ? add[ready] : 0.0f;
        }
        store_frames(stage, NFFT, win_ispec, STORE, 0);
        for (int j = 0; j < valid; j++) {
          const int start = (f + j) * HOP - PAD;
          const int t0 = start < 0 ? -start : 0;
          const int t1 = n - start < NFFT ? n - start : NFFT;
          const float *src = stage + j * NFFT;
          for (int t = t0; t < t1; t++) out[start + t] += src[t];
        }
      }
    }
  }
  /* Samples no frame reaches (none for n >= 2560, kept for safety). */
  if (add != out)
    for (; ready < n; ready++) out[ready] = add ? add[ready] : 0.0f;
  return le;
}

/* ------------------------------------------------------- raw transforms -- */

/*
 * Forward real FFT of 4 frames, no window, no normalisation.
 * in: frame-major, 4 x 4096 floats (frame j at in + j*4096).
 * re/im: frame-major, 4 x 2049 floats (bin k of frame j at j*2049 + k).
 */
EXPORT(rfft4) void rfft4(const float *in, float *re, float *im) {
  spectrogram_init();
  load_frames(in, NFFT, win_half);
  fft_forward();
  post_forward(blk_re, blk_im, 4, RBINS);
  for (int j = 0; j < 4; j++)
    for (int k = 0; k < RBINS; k++) {
      re[j * RBINS + k] = blk_re[4 * k + j];
      im[j * RBINS + k] = blk_im[4 * k + j];
    }
}

/*
 * Inverse real FFT of 4 frames including the 1/4096 (numpy irfft, n = 4096);
 * imaginary parts of bins 0 and 2048 are ignored.
 * re/im: frame-major 4 x 2049; out: frame-major 4 x 4096.
 */
EXPORT(irfft4) void irfft4(const float *re, const float *im, float *out) {
  spectrogram_init();
  for (int j = 0; j < 4; j++)
    for (int k = 0; k < RBINS; k++) {
      blk_re[4 * k + j] = re[j * RBINS + k];
      blk_im[4 * k + j] = im[j * RBINS + k];
    }
  pre_inverse(blk_re, blk_im, 4, blk_re + 4 * NBINS);
  fft_inverse();
  store_frames(out, NFFT, win_inv, STORE, 0);
}
