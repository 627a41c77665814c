/**
 * Pitch jitter of the caller's voice: how much the voice's pitch wobbles from one 5 ms step to the
 * next on its cleanest voiced stretches. A human voice's pitch, measured over 40 ms windows, moves
 * in smooth glides; speech generators that build the voice from discrete tokens or frames (neural
 * codec language models such as VALL-E, VITS-style models such as YourTTS) leave small, irregular
 * steps in it, even where the voice sounds clean.
 *
 * Measured: pitch by normalised autocorrelation (Boersma's method: a Hann window's own
 * autocorrelation divided out; 40 ms windows every 5 ms; 70-400 Hz; parabolic peak interpolation).
 * Only frames that are strongly periodic (peak above 0.95) and not silent count, in runs of at
 * least 5 such frames (25 ms); within a run, the wobble is |second difference| of the pitch in
 * cents, steps over 200 cents (octave errors, the tracker's, not the voice's) left out. The verdict
 * is the median wobble over the last 20 s.
 *
 * Why only the cleanest frames: on noisier frames the tracker's own error dominates and follows the
 * recording (LibriSpeech's "other" speakers read rough, VCTK's studio voices smooth), which says
 * nothing about the speaker. At a periodicity of 0.95 the real corpora of ../shared/data/dev/voice
 * sit together (median 1.5-2.3 cents per corpus) and the generators above them (MS VALL-E 2.9,
 * VALL-E X 3.3, YourTTS 3.3); GAN vocoders that resynthesise a real recording's pitch (WaveFake)
 * keep it (2.1): those are the voice model's to catch (AASIST-L reads them at 0.93 AUC), and the two
 * do not correlate (rank correlation -0.03 on the clips both judged). EVALUATION.md has the numbers.
 *
 * Not primary: it adds to the voice model and cannot raise SUSPICIOUS alone (its weight in
 * risk-config.json). It needs about 2 s of clear voiced speech and abstains before.
 *
 * Cost: one 1024-point complex FFT per 5 ms of sound above -60 dBFS (two frames share each
 * forward and each inverse transform), nothing in silence.
 */
import { RadixTwoFft } from '../sampling/fft.ts';
import { abstain, type Detector, type Evidence, type SpeechEnergy, type WindowDetector } from './Detector.ts';
import { median, round } from './numbers.ts';

const RATE = 16_000;
/** 40 ms analysis window and 5 ms hop, at 16 kHz. */
const WIN = 640;
const HOP = 80;
/** Zero-padded transform: at least WIN + the longest lag, so the circular autocorrelation is linear. */
const N = 1024;
/** Lags for 400 Hz down to 70 Hz. */
const LAG_MIN = Math.floor(RATE / 400);
const LAG_MAX = Math.floor(RATE / 70);
/** A run of voiced frames shorter than this does not count (its steps are onsets and offsets). */
const MIN_RUN = 5;
/** Steps larger than this (cents) are the tracker jumping an octave, not the voice. */
const MAX_STEP_CENTS = 200;
/** The analysis window (numpy's symmetric Hann, as in the scratch measurements) and its own autocorrelation, 1 at lag 0. */
const WINDOW = Float64Array.from({ length: WIN }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (WIN - 1)));
const WINDOW_AC = (() => {
  const ac = new Float64Array(WIN);
  for (let lag = 0; lag < WIN; lag++) {
    let s = 0;
    for (let i = 0; i + lag < WIN; i++) s += WINDOW[i]! * WINDOW[i + lag]!;
    ac[lag] = s;
  }
  const a0 = ac[0]!;
  return ac.map((v) => v / a0);
})();

export interface PitchJitterOptions {
  /** Span judged (default 20 s, the voice model's window). */
  windowMs?: number;
  /** Least wobble measurements in the window (default 20: about 2 s of clear voiced speech). */
  minValues?: number;
  /** Normalised autocorrelation peak above which a frame counts as clearly voiced (default 0.95; see the header). */
  minPeriodicity?: number;
  /** Frame RMS (full scale 1) below which it is silence (default 0.001, -60 dBFS). */
  minRms?: number;
  /**
   * Median wobble (cents) at which the score is 0.5 (default 2.85: the 90th percentile of the real
   * clips' medians in ../shared/data/dev/voice, 2.73-2.99 leaving each real corpus out).
   */
  centre?: number;
  /** Cents per unit of logit (default 0.5). */
  scale?: number;
}

/** Pitch and periodicity of one 40 ms frame (exported for tests). */
export interface PitchFrame {
  /** Pitch in cents (1200 log2 Hz); NaN when the frame is silent. */
  cents: number;
  /** Normalised autocorrelation at the pitch lag, 0..1. */
  periodicity: number;
  rms: number;
}

/**
 * Pitch of 40 ms frames, two at a time (one complex FFT carries both). Allocation-free per call.
 */
export class PitchTracker {
  private readonly fft = new RadixTwoFft(N);
  private readonly re = new Float64Array(N);
  private readonly im = new Float64Array(N);
  /** Frames quieter than this (RMS, full scale 1) are not transformed: they cannot count as voiced. */
  private readonly minRms: number;

  constructor(minRms = 0) {
    this.minRms = minRms;
  }


  /** Frames starting at `a` and `b` in `x` (b < 0: only a). */
  pair(x: Float32Array, a: number, b: number, out: [PitchFrame, PitchFrame]): void {
    const { re, im } = this;
    const ra = this.load(x, a, re);
    const rb = b >= 0 ? this.load(x, b, im) : (im.fill(0), 0);
    if (!(ra > this.minRms) && !(rb > this.minRms)) {
      // Silence (or below any voice): nothing to transform.
      for (const f of out) {
        f.cents = Number.NaN;
        f.periodicity = 0;
      }
      out[0].rms = ra;
      out[1].rms = rb;
      return;
    }
    this.fft.run(re, im);
    // Split the two spectra (a real, b imaginary) and pack their power spectra the same way.
    const half = N / 2;
    for (let k = 0; k <= half; k++) {
      const j = (N - k) % N;
      const zr = re[k]!;
      const zi = im[k]!;
      const cr = re[j]!;
      const ci = -im[j]!;
      const ar = (zr + cr) / 2;
      const ai = (zi + ci) / 2;
      const br = (zi - ci) / 2;
      const bi = -(zr - cr) / 2;
      const pa = ar * ar + ai * ai;
      const pb = br * br + bi * bi;
      re[k] = pa;
      im[k] = pb;
      if (j !== k) {
        re[j] = pa;
        im[j] = pb;
      }
    }
    // Both power spectra are real and even, so one forward transform gives both autocorrelations.
    this.fft.run(re, im);
    this.peak(re, ra, out[0]);
    if (b >= 0) this.peak(im, rb, out[1]);
  }

  /** Mean-removed, windowed frame into `dst` (zero-padded); returns its RMS before windowing. */
  private load(x: Float32Array, start: number, dst: Float64Array): number {
    let mean = 0;
    for (let i = 0; i < WIN; i++) mean += x[start + i]!;
    mean /= WIN;
    let sq = 0;
    for (let i = 0; i < WIN; i++) {
      const v = x[start + i]! - mean;
      sq += v * v;
      dst[i] = v * WINDOW[i]!;
    }
    dst.fill(0, WIN);
    return Math.sqrt(sq / WIN);
  }

  private peak(ac: Float64Array, rms: number, out: PitchFrame): void {
    out.rms = rms;
    const a0 = ac[0]!;
    if (!(a0 > 0)) {
      out.cents = Number.NaN;
      out.periodicity = 0;
      return;
    }
    const norm = (lag: number) => ac[lag]! / a0 / (WINDOW_AC[lag]! + 1e-9);
    let best = LAG_MIN;
    let bestV = -Infinity;
    for (let lag = LAG_MIN; lag < LAG_MAX; lag++) {
      const v = norm(lag);
      if (v > bestV) {
        bestV = v;
        best = lag;
      }
    }
    let lag = best;
    if (best > LAG_MIN && best < LAG_MAX - 1) {
      const a = norm(best - 1);
      const c = norm(best + 1);
      const d = (0.5 * (a - c)) / (a - 2 * bestV + c - 1e-12);
      lag += Math.max(-1, Math.min(1, d));
    }
    out.cents = 1200 * Math.log2(RATE / lag);
    out.periodicity = bestV;
  }
}

export class PitchJitterDetector implements Detector<SpeechEnergy>, WindowDetector {
  readonly id = 'pitch-jitter' as const;
  private readonly o: Required<PitchJitterOptions>;
  private readonly tracker: PitchTracker;
  private readonly frames: [PitchFrame, PitchFrame] = [
    { cents: Number.NaN, periodicity: 0, rms: 0 },
    { cents: Number.NaN, periodicity: 0, rms: 0 },
  ];
  /** Unanalysed audio: samples from `head` to `tail`; the next frame starts at `head`. */
  private buf = new Float32Array(8192);
  private head = 0;
  private tail = 0;
  /** The current run of voiced frames: its length, its last two pitches, and its wobbles while it is still too short to count. */
  private run = 0;
  private prev1 = Number.NaN;
  private prev2 = Number.NaN;
  private pending: number[] = [];
  /** Wobble measurements in the window: time and cents, parallel. */
  private readonly at: number[] = [];
  private readonly value: number[] = [];
  private start = 0;

  constructor(options: PitchJitterOptions = {}) {
    this.o = { windowMs: 20_000, minValues: 20, minPeriodicity: 0.95, minRms: 0.001, centre: 2.85, scale: 0.5, ...options };
    this.tracker = new PitchTracker(this.o.minRms);
  }

  /** A block of the caller's speech (16 kHz samples in `s.samples`; blocks without samples are ignored). */
  observeSpeech(s: SpeechEnergy): void {
    const x = s.samples;
    if (!x || x.length === 0) return;
    if (this.tail + x.length > this.buf.length) {
      this.buf.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
      if (this.tail + x.length > this.buf.length) {
        const bigger = new Float32Array(2 * (this.tail + x.length));
        bigger.set(this.buf.subarray(0, this.tail));
        this.buf = bigger;
      }
    }
    this.buf.set(x, this.tail);
    this.tail += x.length;
    // Frames two at a time; a lone last frame waits for the next block (5 ms later).
    while (this.head + HOP + WIN <= this.tail) {
      this.tracker.pair(this.buf, this.head, this.head + HOP, this.frames);
      this.step(this.frames[0], s.at);
      this.step(this.frames[1], s.at);
      this.head += 2 * HOP;
    }
  }

  private step(f: PitchFrame, at: number): void {
    if (!(f.periodicity > this.o.minPeriodicity && f.rms > this.o.minRms)) {
      this.run = 0;
      this.pending.length = 0;
      return;
    }
    this.run++;
    if (this.run >= 3) {
      const d1a = Math.abs(this.prev1 - this.prev2);
      const d1b = Math.abs(f.cents - this.prev1);
      if (d1a < MAX_STEP_CENTS && d1b < MAX_STEP_CENTS) {
        const wobble = Math.abs(f.cents - 2 * this.prev1 + this.prev2);
        if (this.run >= MIN_RUN) this.keep(at, wobble);
        else this.pending.push(wobble);
      }
    }
    if (this.run === MIN_RUN) {
      for (const w of this.pending) this.keep(at, w);
      this.pending.length = 0;
    }
    this.prev2 = this.prev1;
    this.prev1 = f.cents;
  }

  private keep(at: number, wobble: number): void {
    this.at.push(at);
    this.value.push(wobble);
  }

  analyse(s: SpeechEnergy): Promise<Evidence> {
    this.observeSpeech(s);
    return Promise.resolve(this.evaluate(s.at));
  }

  evaluate(now: number): Evidence {
    const cutoff = now - this.o.windowMs;
    while (this.start < this.at.length && this.at[this.start]! < cutoff) this.start++;
    if (this.start > 1024 && this.start * 2 > this.at.length) {
      this.at.splice(0, this.start);
      this.value.splice(0, this.start);
      this.start = 0;
    }
    const n = this.at.length - this.start;
    if (n < this.o.minValues) {
      return abstain(this.id, now, `Not enough clear voiced speech yet to follow the voice's pitch (${n} measurements; needs ${this.o.minValues}).`, { values: n });
    }
    const m = median(this.value.slice(this.start));
    const score = 1 / (1 + Math.exp(-(m - this.o.centre) / this.o.scale));
    const confidence = Math.min(1, n / (3 * this.o.minValues));
    const reason =
      score < 0.5
        ? 'The pitch of the voice glides smoothly, as a human voice does.'
        : `The pitch of the voice wobbles in small irregular steps (${round(m, 1)} cents from one 5 ms step to the next; human voices here stay under ${round(this.o.centre, 1)}), as computer-generated speech does.`;
    return { detector: this.id, at: now, score, confidence, reason, details: { medianWobbleCents: round(m, 3), values: n } };
  }
}
