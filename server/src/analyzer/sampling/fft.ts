/**
 * An in-place iterative radix-2 FFT with its tables built once: the hot path of the voice gate
 * (speechLikeness.ts, two 1024-point transforms per loud 20 ms frame) and of the band check
 * (bandwidth.ts). Small, measured (~50 µs for the two), and allocation-free per call.
 */
export class RadixTwoFft {
  readonly n: number;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly bitReverse: Uint32Array;

  constructor(n: number) {
    if (!(n >= 2 && (n & (n - 1)) === 0)) throw new RangeError(`FFT size must be a power of two, got ${n}`);
    this.n = n;
    this.cos = Float64Array.from({ length: n / 2 }, (_, i) => Math.cos((-2 * Math.PI * i) / n));
    this.sin = Float64Array.from({ length: n / 2 }, (_, i) => Math.sin((-2 * Math.PI * i) / n));
    const bits = Math.log2(n);
    this.bitReverse = Uint32Array.from({ length: n }, (_, i) => {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      return r;
    });
  }

  /** Transforms (re, im), both of length n, in place. */
  run(re: Float64Array, im: Float64Array): void {
    const { n, cos, sin, bitReverse } = this;
    for (let i = 0; i < n; i++) {
      const j = bitReverse[i] as number;
      if (j > i) {
        let t = re[i] as number;
        re[i] = re[j] as number;
        re[j] = t;
        t = im[i] as number;
        im[i] = im[j] as number;
        im[j] = t;
      }
    }
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const c = cos[k * step] as number;
          const s = sin[k * step] as number;
          const a = start + k;
          const b = a + half;
          const br = re[b] as number;
          const bi = im[b] as number;
          const tr = br * c - bi * s;
          const ti = br * s + bi * c;
          const ar = re[a] as number;
          const ai = im[a] as number;
          re[b] = ar - tr;
          im[b] = ai - ti;
          re[a] = ar + tr;
          im[a] = ai + ti;
        }
      }
    }
  }
}
