/**
 * Detection metrics over clip scores. Convention everywhere: a higher score means "more likely
 * fake", fake is the positive class, and a clip is flagged when its score is at or above a
 * threshold. Every function returns null rather than a number it cannot support (an empty class,
 * no values): with the tiny shared data, "no answer" must stay visible as such.
 */
import { seededRandom } from './random.ts';

export interface RocPoint {
  /** Flag when score >= threshold. Infinity for the (0, 0) corner. */
  threshold: number;
  fpr: number;
  tpr: number;
}

function finite(xs: readonly number[]): number[] {
  return xs.filter((x) => Number.isFinite(x));
}

/**
 * ROC AUC: the probability that a random fake clip scores above a random real one, ties counting
 * half (Mann-Whitney U / (n_fake x n_real)). 1 = perfect, 0.5 = chance, 0 = inverted.
 */
export function rocAuc(fake: readonly number[], real: readonly number[]): number | null {
  const f = finite(fake);
  const r = finite(real);
  if (f.length === 0 || r.length === 0) return null;
  // Rank-sum with midranks for ties: O(n log n).
  const all = [...f.map((s) => ({ s, fake: true })), ...r.map((s) => ({ s, fake: false }))].sort((a, b) => a.s - b.s);
  let rankSumFake = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const midrank = (i + 1 + j) / 2; // ranks i+1..j
    for (let k = i; k < j; k++) if (all[k]!.fake) rankSumFake += midrank;
    i = j;
  }
  const u = rankSumFake - (f.length * (f.length + 1)) / 2;
  return u / (f.length * r.length);
}

/**
 * The ROC curve, one point per distinct score (flag when score >= it), from (0, 0) to (1, 1).
 * Tied scores are one point: a threshold cannot split them.
 */
export function rocCurve(fake: readonly number[], real: readonly number[]): RocPoint[] | null {
  const f = finite(fake);
  const r = finite(real);
  if (f.length === 0 || r.length === 0) return null;
  const thresholds = [...new Set([...f, ...r])].sort((a, b) => b - a);
  const points: RocPoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0 }];
  for (const t of thresholds) {
    points.push({ threshold: t, fpr: r.filter((s) => s >= t).length / r.length, tpr: f.filter((s) => s >= t).length / f.length });
  }
  return points;
}

/**
 * Equal error rate: where the false-positive rate equals the false-negative rate (1 - TPR),
 * interpolated linearly between the two ROC points that straddle it. 0 = perfect separation,
 * 0.5 = chance, 1 = inverted.
 */
export function eer(fake: readonly number[], real: readonly number[]): number | null {
  const roc = rocCurve(fake, real);
  if (!roc) return null;
  // d = FPR - FNR rises from -1 at (0, 0) to +1 at (1, 1) along the curve.
  let prev = roc[0]!;
  let dPrev = prev.fpr - (1 - prev.tpr);
  for (let i = 1; i < roc.length; i++) {
    const p = roc[i]!;
    const d = p.fpr - (1 - p.tpr);
    if (d >= 0) {
      const a = d === dPrev ? 0 : -dPrev / (d - dPrev);
      const fpr = prev.fpr + a * (p.fpr - prev.fpr);
      const fnr = 1 - (prev.tpr + a * (p.tpr - prev.tpr));
      return (fpr + fnr) / 2;
    }
    prev = p;
    dPrev = d;
  }
  return null; // unreachable: the last point is (1, 1)
}

/**
 * The highest true-positive rate at a threshold whose false-positive rate is at most `maxFpr`
 * (default 1%). Tied scores cannot be split: when a fake clip ties a real one, both are flagged
 * or neither. With fewer than 1/maxFpr real clips this is the TPR at zero false positives.
 */
export function tprAtFpr(fake: readonly number[], real: readonly number[], maxFpr = 0.01): number | null {
  const roc = rocCurve(fake, real);
  if (!roc) return null;
  let best = 0;
  for (const p of roc) if (p.fpr <= maxFpr + 1e-12) best = Math.max(best, p.tpr);
  return best;
}

/** The median, or null for no values. */
export function median(xs: readonly number[]): number | null {
  const s = finite(xs).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** a / b, or null when b is 0 (or either is not a number). */
export function ratio(a: number, b: number): number | null {
  return b > 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : null;
}

/** The confidence-weighted mean of scored readings (as fusion averages a detector's window), or null. */
export function weightedMean(readings: readonly { score: number; confidence: number }[]): number | null {
  let cs = 0;
  let c = 0;
  for (const r of readings) {
    if (!Number.isFinite(r.score) || !(r.confidence > 0)) continue;
    cs += r.confidence * r.score;
    c += r.confidence;
  }
  return c > 0 ? cs / c : null;
}

export interface Interval {
  lo: number;
  hi: number;
}

/**
 * A bootstrap percentile interval (default 95%) for the ROC AUC: fake and real clips are resampled
 * with replacement separately (each class keeps its size, as the data was collected per class),
 * `samples` times with the project's seeded PRNG, so the same scores always give the same interval.
 * Null when either class is empty. With a handful of clips the interval is wide, which is the point.
 */
export function bootstrapAucCi(
  fake: readonly number[],
  real: readonly number[],
  { samples = 1000, level = 0.95, seed = 20240601 }: { samples?: number; level?: number; seed?: number } = {},
): Interval | null {
  const f = finite(fake);
  const r = finite(real);
  if (f.length === 0 || r.length === 0) return null;
  const random = seededRandom(seed);
  const draw = (xs: number[]) => Array.from({ length: xs.length }, () => xs[Math.floor(random() * xs.length)]!);
  const aucs: number[] = [];
  for (let i = 0; i < samples; i++) aucs.push(rocAuc(draw(f), draw(r))!);
  aucs.sort((a, b) => a - b);
  const q = (p: number) => aucs[Math.min(aucs.length - 1, Math.max(0, Math.round(p * (aucs.length - 1))))]!;
  return { lo: q((1 - level) / 2), hi: q(1 - (1 - level) / 2) };
}
