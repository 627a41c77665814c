/** Pure statistics for the benchmarks: quantiles, summaries, least-squares fits. No I/O. */

/**
 * The q-quantile (0..1) of the values, linearly interpolated between closest ranks (the same
 * definition as numpy's default and Excel's PERCENTILE.INC). NaN for no values.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within [0, 1], got ${q}`);
  const s = [...values].sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    p50: quantile(values, 0.5),
    p95: quantile(values, 0.95),
    min: values.length ? Math.min(...values) : NaN,
    max: values.length ? Math.max(...values) : NaN,
    mean: mean(values),
  };
}

export interface LinearFit {
  /** Intercept first, then one coefficient per regressor. */
  coefficients: number[];
  /** Coefficient of determination (1 = every point on the fitted plane; NaN when y is constant). */
  r2: number;
  /** Root mean square of the residuals, in y's unit. */
  rmse: number;
}

/**
 * Ordinary least squares y ≈ b0 + b1·x1 + … + bk·xk, through the normal equations solved by
 * Gaussian elimination with partial pivoting (k is tiny here). `rows[i]` holds point i's
 * regressors (without the constant). Throws when the points cannot determine the coefficients.
 */
export function fitLinear(rows: readonly (readonly number[])[], y: readonly number[]): LinearFit {
  if (rows.length !== y.length) throw new Error('fitLinear: as many rows as y values are needed');
  const k = (rows[0]?.length ?? 0) + 1;
  if (rows.length < k) throw new Error(`fitLinear: ${k} coefficients need at least ${k} points, got ${rows.length}`);
  const design = rows.map((r) => {
    if (r.length !== k - 1) throw new Error('fitLinear: every row needs the same number of regressors');
    return [1, ...r];
  });
  // Normal equations: (XᵀX) b = Xᵀy, as an augmented matrix.
  const a: number[][] = Array.from({ length: k }, (_, i) =>
    Array.from({ length: k + 1 }, (_, j) => {
      let s = 0;
      for (let n = 0; n < design.length; n++) s += design[n]![i]! * (j < k ? design[n]![j]! : y[n]!);
      return s;
    }),
  );
  for (let col = 0; col < k; col++) {
    let pivot = col;
    for (let r = col + 1; r < k; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    const scale = Math.max(1, ...a.map((r) => Math.abs(r[col]!)));
    if (Math.abs(a[pivot]![col]!) < 1e-12 * scale) throw new Error('fitLinear: the points do not determine every coefficient (collinear regressors)');
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = 0; r < k; r++) {
      if (r === col) continue;
      const f = a[r]![col]! / a[col]![col]!;
      for (let j = col; j <= k; j++) a[r]![j]! -= f * a[col]![j]!;
    }
  }
  const coefficients = a.map((r, i) => r[k]! / r[i]!);
  const predict = (row: readonly number[]) => row.reduce((s, x, i) => s + x * coefficients[i]!, 0);
  const yMean = mean(y);
  let ssRes = 0;
  let ssTot = 0;
  design.forEach((row, n) => {
    ssRes += (y[n]! - predict(row)) ** 2;
    ssTot += (y[n]! - yMean) ** 2;
  });
  return { coefficients, r2: ssTot === 0 ? NaN : 1 - ssRes / ssTot, rmse: Math.sqrt(ssRes / y.length) };
}

/** Rounds for display and JSON: NaN and infinities become null (JSON cannot carry them). */
export function round(v: number, digits = 1): number | null {
  if (!Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * Running totals of cumulative counters that can start again from 0 (a rejoined caller's new peer
 * connection, an analyzer stream attached again after its session was replaced): per key, a value
 * below the last one seen is a restart and counts from 0, as Prometheus's rate() treats a counter
 * reset, and a key not seen before counts from 0 too. Without this a restart inside a measuring
 * window made its rates negative (BENCHMARKS.md, the N=8 row of 2 Dec 2026).
 */
export class RestartingCounters {
  private readonly last = new Map<string, number>();
  /** The sum of every key's increases since it was first seen. */
  total = 0;
  /** Keys that went backwards: counters that started again. */
  restarts = 0;

  observe(key: string, value: number): void {
    const prev = this.last.get(key);
    if (prev !== undefined && value < prev) this.restarts++;
    this.total += prev === undefined || value < prev ? value : value - prev;
    this.last.set(key, value);
  }
}
