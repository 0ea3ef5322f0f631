/**
 * The whole-clip SDR (the MDX "new SDR", as the workspace's test data scorer computes it), over
 * all channels, on samples in [-1, 1): 10 log10((Σ s² + ε) / (Σ (s - ŝ)² + ε)).
 * Tests import it from compare.ts, with the other comparisons.
 * `mask(i)` can leave samples out (returns false to skip sample i).
 */
export function sdr(reference: readonly ArrayLike<number>[], estimate: readonly ArrayLike<number>[], mask?: (i: number) => boolean): number {
  const eps = 1e-7;
  let num = eps;
  let den = eps;
  for (let c = 0; c < reference.length; c++) {
    const s = reference[c];
    const e = estimate[c];
    for (let i = 0; i < s.length; i++) {
      if (mask && !mask(i)) continue;
      num += s[i] * s[i];
      const d = s[i] - e[i];
      den += d * d;
    }
  }
  return 10 * Math.log10(num / den);
}
