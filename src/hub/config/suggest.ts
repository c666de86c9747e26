/** "did you mean" for unknown keys and enum values. */

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("Hedaer"). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** snake_case, kebab-case and case differences are the most common JupyterHub-habit mistakes. */
const normalise = (s: string) => s.toLowerCase().replace(/[_-]/g, '');

/** The closest candidate within a length-scaled distance, or undefined. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const n = normalise(input);
  const exact = candidates.find((c) => normalise(c) === n);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(n, normalise(c));
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(n.length, 3) / 3));
  return bestDistance <= limit ? best : undefined;
}
