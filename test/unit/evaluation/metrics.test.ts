import { describe, expect, it } from 'vitest';
import { eer, median, ratio, rocAuc, rocCurve, tprAtFpr, weightedMean } from '../../../server/src/evaluation/metrics.ts';

/** A fixed pseudo-random sequence (mulberry32), so "random" scores are reproducible. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('rocAuc', () => {
  it('is 1 for perfectly separated scores and 0 when inverted', () => {
    expect(rocAuc([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])).toBe(1);
    expect(rocAuc([0.1, 0.2], [0.8, 0.9, 0.95])).toBe(0);
  });

  it('is about 0.5 for scores drawn from one distribution', () => {
    const r = rng(7);
    const fake = Array.from({ length: 400 }, r);
    const real = Array.from({ length: 400 }, r);
    expect(rocAuc(fake, real)).toBeGreaterThan(0.44);
    expect(rocAuc(fake, real)).toBeLessThan(0.56);
  });

  it('counts ties as half, and equals the pairwise definition', () => {
    expect(rocAuc([0.5], [0.5])).toBe(0.5);
    expect(rocAuc([0.5, 0.5], [0.5, 0.5, 0.5])).toBe(0.5);
    const fake = [0.9, 0.5, 0.5, 0.2];
    const real = [0.5, 0.3, 0.1];
    let wins = 0;
    for (const f of fake) for (const r of real) wins += f > r ? 1 : f === r ? 0.5 : 0;
    expect(rocAuc(fake, real)).toBeCloseTo(wins / (fake.length * real.length), 12);
  });

  it('returns null, not a number, when a class is empty', () => {
    expect(rocAuc([], [0.1])).toBeNull();
    expect(rocAuc([0.9], [])).toBeNull();
    expect(rocAuc([Number.NaN], [0.1])).toBeNull();
  });
});

describe('rocCurve', () => {
  it('runs from (0, 0) to (1, 1) with one point per distinct score', () => {
    const roc = rocCurve([0.9, 0.6, 0.6], [0.6, 0.1])!;
    expect(roc[0]).toEqual({ threshold: Infinity, fpr: 0, tpr: 0 });
    expect(roc.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    expect(roc.map((p) => p.threshold)).toEqual([Infinity, 0.9, 0.6, 0.1]);
    // At 0.6 the tie flags both fakes at 0.6 and the real one at 0.6 together.
    expect(roc[2]).toEqual({ threshold: 0.6, fpr: 0.5, tpr: 1 });
  });
});

describe('eer', () => {
  it('is 0 when separated, 1 when inverted, 0.5 when every score ties', () => {
    expect(eer([0.9, 0.8], [0.1, 0.2])).toBe(0);
    expect(eer([0.1], [0.9])).toBe(1);
    expect(eer([0.5, 0.5], [0.5, 0.5])).toBe(0.5);
  });

  it('interpolates where the false-positive and false-negative rates cross', () => {
    // fake 0.8, 0.4; real 0.6, 0.2. ROC: (0,0) (0,.5) (.5,.5) (.5,1) (1,1): FPR = FNR = 0.5 at (.5,.5).
    expect(eer([0.8, 0.4], [0.6, 0.2])).toBeCloseTo(0.5, 12);
    // fake 0.9, 0.8, 0.3; real 0.5, 0.1: between (0, 2/3) and (1/2, 2/3) FNR = 1/3 meets FPR at 1/3.
    expect(eer([0.9, 0.8, 0.3], [0.5, 0.1])).toBeCloseTo(1 / 3, 12);
  });

  it('is about 0.5 for random scores', () => {
    const r = rng(11);
    const e = eer(Array.from({ length: 400 }, r), Array.from({ length: 400 }, r))!;
    expect(e).toBeGreaterThan(0.43);
    expect(e).toBeLessThan(0.57);
  });

  it('returns null when a class is empty', () => {
    expect(eer([], [0.2])).toBeNull();
    expect(eer([0.2], [])).toBeNull();
  });
});

describe('tprAtFpr', () => {
  it('is the detection rate with false positives held at or under the limit', () => {
    expect(tprAtFpr([0.9, 0.8, 0.7], [0.1, 0.2])).toBe(1);
    // One real clip at 0.85: with 2 reals, any false positive is 50% > 1%, so only fakes above 0.85 count.
    expect(tprAtFpr([0.9, 0.8, 0.7], [0.85, 0.1])).toBeCloseTo(1 / 3, 12);
    expect(tprAtFpr([0.9, 0.8, 0.7], [0.85, 0.1], 0.5)).toBe(1);
  });

  it('cannot split ties: a fake tied with a real one is not detected at 0% false positives', () => {
    expect(tprAtFpr([0.7, 0.7, 0.9], [0.7, 0.1])).toBeCloseTo(1 / 3, 12);
    expect(tprAtFpr([0.5], [0.5])).toBe(0);
  });

  it('is 0 when inverted and null when a class is empty', () => {
    expect(tprAtFpr([0.1], [0.9])).toBe(0);
    expect(tprAtFpr([], [0.9])).toBeNull();
    expect(tprAtFpr([0.9], [])).toBeNull();
  });

  it('allows 1% false positives once there are enough real clips', () => {
    const real = Array.from({ length: 200 }, (_, i) => i / 1000); // 0 .. 0.199
    real[0] = 0.95;
    real[1] = 0.85; // two false positives above most fakes: 1%
    const fake = [0.9, 0.8, 0.3];
    // At 1% two of the 200 reals may be flagged: threshold 0.3 catches every fake.
    expect(tprAtFpr(fake, real)).toBe(1);
    // At 0.5% only the real 0.95: threshold 0.9 catches one fake in three.
    expect(tprAtFpr(fake, real, 0.005)).toBeCloseTo(1 / 3, 12);
    // At 0% nothing above 0.95 is a fake.
    expect(tprAtFpr(fake, real, 0)).toBe(0);
  });
});

describe('helpers', () => {
  it('median, ratio and weightedMean never divide by zero', () => {
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(1, 4)).toBe(0.25);
    expect(weightedMean([])).toBeNull();
    expect(weightedMean([{ score: 1, confidence: 0 }])).toBeNull();
    expect(weightedMean([{ score: 1, confidence: 1 }, { score: 0, confidence: 3 }])).toBe(0.25);
  });
});
