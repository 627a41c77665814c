/**
 * Small numeric helpers the window detectors share: one copy instead of one per detector file.
 */

/** v rounded to `digits` decimals (for details and reasons, never for the score's arithmetic). */
export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The median, NaN for no values (callers check their sample counts first). */
export function median(a: readonly number[]): number {
  if (a.length === 0) return Number.NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median time between consecutive samples (ms), from their `at`. */
export function medianInterval(samples: ReadonlyArray<{ at: number }>): number {
  const d: number[] = [];
  for (let i = 1; i < samples.length; i++) d.push(samples[i]!.at - samples[i - 1]!.at);
  return median(d);
}
