/** "Did you mean": the names a mistyped command or option was probably meant to be. */

/**
 * Edits from `a` to `b`: insertions, deletions, substitutions and swaps of
 * two neighbours (Damerau-Levenshtein, optimal string alignment), so that
 * `overlpa` is one edit from `overlap`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Most edits a suggestion may be away. */
const MAX_EDITS = 2;

/**
 * The candidates `typed` most likely meant: the one it is a prefix of when
 * only one starts with it, else the nearest within two edits. Short names
 * allow fewer edits (a third of their length, at least one), so that
 * anything of three letters is not "close" to everything else of three.
 * Empty when nothing is close.
 */
export function suggestNames(typed: string, candidates: readonly string[]): string[] {
  const t = typed.toLowerCase();
  if (t === '') return [];
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(t));
  if (prefixed.length === 1) return prefixed;
  let best = Number.POSITIVE_INFINITY;
  let nearest: string[] = [];
  for (const c of candidates) {
    const d = editDistance(t, c.toLowerCase());
    if (d > Math.min(MAX_EDITS, Math.max(1, Math.floor(c.length / 3)))) continue;
    if (d < best) {
      best = d;
      nearest = [c];
    } else if (d === best) {
      nearest.push(c);
    }
  }
  return nearest;
}

/** `; did you mean X?` (or `X or Y`), or '' when nothing is close. */
export function didYouMean(typed: string, candidates: readonly string[], show: (name: string) => string = (n) => n): string {
  const names = suggestNames(typed, candidates);
  return names.length === 0 ? '' : `; did you mean ${names.map(show).join(' or ')}?`;
}
