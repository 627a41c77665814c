export interface SpeechLikenessOptions {
  /** Default 16000. */
  sampleRate?: number;
  /** Samples per frame. Default 320 (20 ms at 16 kHz). The analysis window is the last two frames. */
  frameLength?: number;
  /** A frame is tonal, not speech, when the two strongest spectral peaks hold more than this share of its power. Default 0.95. */
  maxTonality?: number;
  /** ...and not voiced unless its spectrum repeats at a pitch of 70–400 Hz at least this strongly. Default 0.08. */
  minHarmonicity?: number;
  /** A spectrum this similar to the one 2 frames (40 ms) earlier is a steady sound... Default 0.98. */
  maxSteadiness?: number;
  /** ...which still counts when its power is spread this widely (tonality below this). Default 0.85. */
  steadyMaxTonality?: number;
  /** Frames whose window holds a switch-on or -off steeper than this (10 ms power ratio, dB) are not judged. Default 40. */
  maxEdgeDb?: number;
}

/** What the last judged frame looked like; all 0 for frames that were not judged. */
export interface SpeechFeatures {
  /** Share of the 40 Hz–4 kHz power within ±47 Hz of the two strongest peaks: 1 for one or two pure tones. */
  tonality: number;
  /** Strongest autocorrelation peak at a 70–400 Hz pitch lag of the compressed spectrum: ~0.05 for noise, 0.1–0.5 for voiced speech. */
  harmonicity: number;
  /** Cosine similarity of the magnitude spectrum with the one 2 frames earlier: 1 for a steady sound, 0 after silence. */
  steadiness: number;
  /** Ratio of the loudest to the quietest 10 ms of the window, dB. */
  edgeDb: number;
}

const BAND_LOW_HZ = 40;
const BAND_HIGH_HZ = 4000;
const PEAK_HALF_WIDTH_HZ = 47;
const PITCH_MIN_HZ = 70;
const PITCH_MAX_HZ = 400;

/**
 * Does a frame sound like speech, or like a tone, beep, hum or noise? Meant for frames an energy
 * VAD already found loud: an energy VAD passes anything that switches on and off, and a beeping
 * device (Chromium's fake microphone: a 400 Hz square wave for ~30 ms every 500 ms, which WebRTC's
 * capture high-pass stretches into a ~400 ms low-frequency tail; or a 1 kHz beep once a second)
 * then reached the synthetic-voice model, which reads such a beep as strongly synthetic.
 *
 * Each frame is judged on a 40 ms Hann window (this frame and the one before), zero-padded to a
 * 1024-point FFT (15.6 Hz bins), over 40 Hz–4 kHz (40 Hz keeps deep voices' fundamentals). It is
 * speech-like when all of these hold (numbers: loud frames of 50 LibriSpeech clips, 8 alsa-utils
 * voice prompts and 24 espeak-ng/flite sentences, against synthetic beeps, tones and noise):
 *
 * - **Not tonal**: the two strongest peaks (±47 Hz, the Hann main lobe) hold < 95% of the power.
 *   Steady tones, dual tones (DTMF, busy, ringback), hum and the beep's high-pass tail: 0.99–1.00.
 *   Speech: median 0.63–0.87; 7–30% of its frames (nasals, high vowels) are above 0.95 and are
 *   left to the hangover.
 * - **Voiced**: a harmonic comb at a 70–400 Hz pitch. The autocorrelation of the cube-root
 *   compressed power spectrum (a "generalised autocorrelation", as in Tolonen & Karjalainen's
 *   pitch analysis) must peak at ≥ 0.08 of its zero lag there. Compression flattens spectral tilt,
 *   so white and pink noise stay at 0.03–0.08 while voiced speech sits at 0.2–0.5 (median 0.20–0.30;
 *   13–23% of speech frames, the unvoiced ones, fall below). The plain autocorrelation could not
 *   tell pink noise (0.3–0.7, from its low-frequency weight) from speech.
 * - **Not a steady buzz**: square-wave beeps and buzzers have harmonics (tonality 0.76–0.93) but a
 *   spectrum that does not change: cosine similarity with the frame 40 ms earlier 0.99–1.00, where
 *   only 2–3% of speech frames reach 0.98. A steady spectrum still counts when it is rich
 *   (tonality < 0.85): held vowels, and the synthetic voice-like signals of the unit tests.
 * - **No switching edge**: a window holding a > 40 dB switch-on or -off (loudest to quietest
 *   10 ms) is not judged: the edge smears a beep over the spectrum so that it looks rich and
 *   changing. Speech: 0% of LibriSpeech frames, 3–5% of the prompts and TTS (digital silence).
 *
 * One frame proves little (a beep's switch-on can pass for a frame or two): the caller asks for
 * several speech-like frames within a few hundred milliseconds (VoiceActivityDetector: 4 in
 * 400 ms). Measured windows kept, before and after, in ../README.md. Limits: music, singing and
 * other harmonic, changing sounds count as speech; square-wave beeps over a noise floor can pass
 * for a few frames (at most 16% of a window in our sweep, under the windower's 30%).
 *
 * Cost: two 1024-point FFTs per judged (loud) frame on buffers allocated once, ~50 µs; quiet
 * frames cost nothing.
 */
import { RadixTwoFft } from './fft.ts';

export class SpeechLikeness {
  readonly frameLength: number;
  /** The analysis window: the previous frame, then the current one. Write the current frame at frameLength + i. */
  readonly window: Float32Array;
  /** Features of the last judged frame (the same object, updated in place). */
  readonly features: SpeechFeatures = { tonality: 0, harmonicity: 0, steadiness: 0, edgeDb: 0 };

  private readonly maxTonality: number;
  private readonly minHarmonicity: number;
  private readonly maxSteadiness: number;
  private readonly steadyMaxTonality: number;
  private readonly maxEdgeDb: number;

  private readonly n: number;
  private readonly hann: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly plan: RadixTwoFft;
  private readonly power: Float64Array;
  private readonly lo: number;
  private readonly hi: number;
  private readonly peakHalfWidth: number;
  private readonly lagMin: number;
  private readonly lagMax: number;
  /** Magnitude spectra (band bins) of the last two frames, and their squared norms (0 = not judged). */
  private readonly magnitudes: [Float64Array, Float64Array];
  private readonly norms = new Float64Array(2);
  private frameIndex = 0;

  constructor(options: SpeechLikenessOptions = {}) {
    const sampleRate = options.sampleRate ?? 16000;
    this.frameLength = options.frameLength ?? Math.round(0.02 * sampleRate);
    if (!(this.frameLength >= 8)) throw new RangeError(`frame of ${this.frameLength} samples`);
    this.maxTonality = options.maxTonality ?? 0.95;
    this.minHarmonicity = options.minHarmonicity ?? 0.08;
    this.maxSteadiness = options.maxSteadiness ?? 0.98;
    this.steadyMaxTonality = options.steadyMaxTonality ?? 0.85;
    this.maxEdgeDb = options.maxEdgeDb ?? 40;

    const length = 2 * this.frameLength;
    this.window = new Float32Array(length);
    let n = 1;
    while (n < length) n *= 2;
    this.n = n;
    this.hann = Float64Array.from({ length }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / length));
    this.re = new Float64Array(n);
    this.im = new Float64Array(n);
    this.plan = new RadixTwoFft(n);
    this.power = new Float64Array(n / 2 + 1);
    const hz = sampleRate / n;
    this.lo = Math.max(1, Math.round(BAND_LOW_HZ / hz));
    this.hi = Math.min(n / 2, Math.round(Math.min(BAND_HIGH_HZ, sampleRate / 2) / hz));
    this.peakHalfWidth = Math.max(1, Math.round(PEAK_HALF_WIDTH_HZ / hz));
    this.lagMin = Math.max(2, Math.round(sampleRate / PITCH_MAX_HZ));
    this.lagMax = Math.min(n / 2 - 2, Math.round(sampleRate / PITCH_MIN_HZ));
    this.magnitudes = [new Float64Array(this.hi - this.lo), new Float64Array(this.hi - this.lo)];
  }

  /**
   * Judges the window (call once the current frame is in place) when `judge` is true, then moves
   * the window on by a frame. Returns whether the frame is speech-like; false when not judged.
   */
  next(judge: boolean): boolean {
    const slot = this.frameIndex & 1;
    let speech = false;
    if (judge) {
      speech = this.judge(slot);
    } else {
      this.norms[slot] = 0;
      const f = this.features;
      f.tonality = f.harmonicity = f.steadiness = f.edgeDb = 0;
    }
    this.frameIndex++;
    this.window.copyWithin(0, this.frameLength);
    return speech;
  }

  reset(): void {
    this.window.fill(0);
    this.norms.fill(0);
    this.frameIndex = 0;
    const f = this.features;
    f.tonality = f.harmonicity = f.steadiness = f.edgeDb = 0;
  }

  private judge(slot: number): boolean {
    const { window: x, re, im, power, lo, hi, features } = this;
    const length = x.length;

    // Switching edge: loudest vs quietest quarter (10 ms) of the window.
    const quarter = length >> 2;
    let qMin = Infinity;
    let qMax = 0;
    for (let q = 0; q < 4; q++) {
      let e = 0;
      for (let i = q * quarter; i < (q + 1) * quarter; i++) e += (x[i] as number) * (x[i] as number);
      if (e < qMin) qMin = e;
      if (e > qMax) qMax = e;
    }
    features.edgeDb = 10 * Math.log10((qMax + 1e-12) / (qMin + 1e-12));

    // Power spectrum of the Hann-windowed, zero-padded window.
    for (let i = 0; i < length; i++) re[i] = (x[i] as number) * (this.hann[i] as number);
    re.fill(0, length);
    im.fill(0);
    this.fft();
    let band = 0;
    for (let k = 0; k <= this.n / 2; k++) {
      const p = (re[k] as number) ** 2 + (im[k] as number) ** 2;
      power[k] = p;
      if (k >= lo && k < hi) band += p;
    }
    if (!(band > 0)) {
      this.norms[slot] = 0;
      features.tonality = features.harmonicity = features.steadiness = 0;
      return false;
    }

    // Tonality: power within ±peakHalfWidth of the strongest bin, then of the strongest bin outside that.
    const w = this.peakHalfWidth;
    let k1 = lo;
    for (let k = lo; k < hi; k++) if ((power[k] as number) > (power[k1] as number)) k1 = k;
    const a1 = Math.max(lo, k1 - w);
    const b1 = Math.min(hi - 1, k1 + w);
    let k2 = -1;
    for (let k = lo; k < hi; k++) if ((k < a1 || k > b1) && (k2 < 0 || (power[k] as number) > (power[k2] as number))) k2 = k;
    let peaks = 0;
    for (let k = a1; k <= b1; k++) peaks += power[k] as number;
    if (k2 >= 0) for (let k = Math.max(lo, k2 - w); k <= Math.min(hi - 1, k2 + w); k++) if (k < a1 || k > b1) peaks += power[k] as number;
    features.tonality = peaks / band;

    // Steadiness: cosine similarity of band magnitudes with 2 frames ago (the same slot).
    const mags = this.magnitudes[slot] as Float64Array;
    const before = this.norms[slot] as number;
    let dot = 0;
    let norm = 0;
    for (let k = lo; k < hi; k++) {
      const m = Math.sqrt(power[k] as number);
      dot += m * (mags[k - lo] as number);
      norm += m * m;
      mags[k - lo] = m;
    }
    features.steadiness = before > 0 && norm > 0 ? dot / Math.sqrt(before * norm) : 0;
    this.norms[slot] = norm;

    // Harmonicity: autocorrelation of the band's compressed spectrum (IFFT of a real, even input).
    const n = this.n;
    for (let k = 0; k < n; k++) {
      const kk = k <= n / 2 ? k : n - k;
      re[k] = kk >= lo && kk < hi ? Math.cbrt(power[kk] as number) : 0;
    }
    im.fill(0);
    this.fft();
    const r0 = re[0] as number;
    let best = 0;
    for (let t = this.lagMin; t <= this.lagMax; t++) {
      const r = re[t] as number;
      if (r > best && r >= (re[t - 1] as number) && r >= (re[t + 1] as number)) best = r;
    }
    features.harmonicity = r0 > 0 ? best / r0 : 0;

    if (features.edgeDb > this.maxEdgeDb) return false;
    if (features.tonality >= this.maxTonality) return false;
    if (features.harmonicity < this.minHarmonicity) return false;
    return features.steadiness < this.maxSteadiness || features.tonality < this.steadyMaxTonality;
  }

  /** In-place FFT of (re, im). */
  private fft(): void {
    this.plan.run(this.re, this.im);
  }
}
