/**
 * Remote photoplethysmography (rPPG) liveness cue, per stream: the skin's colour pulses faintly
 * with the heartbeat (~0.1-0.5% of its brightness, mostly in green). This follows the POS method
 * (Wang, den Brinker, Stuijk, de Haan, "Algorithmic principles of remote PPG", IEEE TBME 2017):
 * per 1.6 s window the mean skin RGB is normalised by its own mean, projected onto the plane
 * orthogonal to the skin tone ([0 1 -1] and [-2 1 1]), the two projections are combined with
 * alpha-tuning and overlap-added into a pulse signal.
 *
 * Quality gates, all of which make it abstain (never a false "fake"):
 *   - sampling under `minFps`: the pulse band (0.7-3 Hz, 42-180 bpm) lies above the Nyquist
 *     limit at the analyzer's 2 fps; only boosted sampling (6 fps) can resolve it;
 *   - less than `minWindowMs` of continuous samples, or gaps in them;
 *   - a moving face (box centre or size changing) or brightness changing by more than a few
 *     percent: motion and lighting swamp a 0.3% signal;
 *   - a still image sequence: skin colour that does not change at all carries no pulse to find,
 *     and stillness is the other detectors' business;
 *   - a noisy signal: no spectral peak standing out of the band (SNR below `minSnrDb`).
 * A clear periodic peak is evidence of live skin (low score, moderate confidence; a replayed
 * video of a real person shows one too). A steady, well-lit face whose colour varies only at the
 * noise level, with no peak, is at most mildly suspicious: video compression often erases the pulse.
 * Thresholds are from the literature and synthetic tests, not tuned on live-call video.
 */
import { abstain, type Detector, type Evidence, type FaceObservation, type WindowDetector } from './Detector.ts';
import type { FaceDetection } from '../vision/BlazeFace.ts';
import type { ImageSource } from '../vision/image.ts';
import type { Box } from '../vision/nms.ts';
import { interocularDistance, MESH } from './faceGeometry.ts';
import { round } from './numbers.ts';

export interface PulseSample {
  /** ms since epoch */
  at: number;
  /** Mean skin colour, 0..255 (from `meanSkinColour`). */
  r: number;
  g: number;
  b: number;
  /** Face box of the frame, to detect motion; strongly recommended. */
  box?: Box;
}

export interface PulseOptions {
  /** Span analysed (default 10 s). */
  windowMs?: number;
  /** Least span of continuous samples (default 8 s). */
  minWindowMs?: number;
  /** Least sampling rate (default 5.5 fps: the boosted 6 fps with some jitter). */
  minFps?: number;
  /** Pulse band, Hz (default 0.7-3; the top is cut to 90% of Nyquist). */
  bandHz?: readonly [number, number];
  /**
   * Spectral SNR (de Haan 2013: peak and harmonic power over the rest of the band) needed for a
   * pulse (default 5 dB). On pure noise, 10 s windows score -2 dB typically and 3-3.6 dB at the
   * 99th percentile (6-30 fps, measured), so 5 dB rarely calls noise a pulse.
   */
  minSnrDb?: number;
  /** Face centre movement (std over the window, as a fraction of the box size) above which it abstains (default 0.05). */
  maxMotion?: number;
  /** Box size change (max/min - 1) above which it abstains (default 0.15). */
  maxScaleChange?: number;
  /** Relative brightness change (std/mean of R+G+B) above which it abstains (default 0.02). */
  maxBrightnessChange?: number;
  /** Relative colour variation below which the frames are a still image (default 1e-4: 0.015 levels at 150). */
  stillLevel?: number;
  /** Pulse-signal level (std, relative) below which the colour is "flat" at high quality (default 4e-4). */
  flatLevel?: number;
  /** Mean green (0..255) outside which the skin is too dark or saturated (default 30-235). */
  greenRange?: readonly [number, number];
}

export class PulseDetector implements Detector<PulseSample>, WindowDetector {
  readonly id = 'pulse' as const;
  private readonly o: Required<PulseOptions>;
  private readonly at: number[] = [];
  private readonly rgb: number[] = [];
  /** Box centre x, y and size (sqrt of area), NaN without a box. */
  private readonly geo: number[] = [];
  private start = 0;

  constructor(options: PulseOptions = {}) {
    this.o = {
      windowMs: 10_000,
      minWindowMs: 8_000,
      minFps: 5.5,
      bandHz: [0.7, 3],
      minSnrDb: 5,
      maxMotion: 0.05,
      maxScaleChange: 0.15,
      maxBrightnessChange: 0.02,
      stillLevel: 1e-4,
      flatLevel: 4e-4,
      greenRange: [30, 235],
      ...options,
    };
  }

  /** A usable face frame: the mean colour of its skin regions (the mesh's, else the box's). */
  observeFace(o: FaceObservation): void {
    this.push({ at: o.at, ...meanSkinColour(o.src, pulseRegions(o.face, o.landmarks?.points)), box: o.face.box });
  }

  push(s: PulseSample): void {
    if (![s.at, s.r, s.g, s.b].every(Number.isFinite)) return;
    const last = this.at.length > this.start ? this.at[this.at.length - 1]! : -Infinity;
    if (s.at === last) return; // a repeated timestamp adds nothing
    if (s.at < last) this.reset(); // the clock went back: start over
    this.at.push(s.at);
    this.rgb.push(s.r, s.g, s.b);
    const b = s.box;
    if (b) this.geo.push(b.x + b.width / 2, b.y + b.height / 2, Math.sqrt(b.width * b.height));
    else this.geo.push(Number.NaN, Number.NaN, Number.NaN);
  }

  reset(): void {
    this.at.length = 0;
    this.rgb.length = 0;
    this.geo.length = 0;
    this.start = 0;
  }

  analyse(sample: PulseSample): Promise<Evidence> {
    this.push(sample);
    return Promise.resolve(this.evaluate(sample.at));
  }

  /** Evidence over the window ending at `now`. */
  evaluate(now: number): Evidence {
    this.trim(now - this.o.windowMs);
    const n = this.at.length - this.start;
    const t0 = n > 0 ? this.at[this.start]! : now;
    const spanMs = n > 1 ? this.at[this.at.length - 1]! - t0 : 0;
    const fps = n > 1 ? ((n - 1) * 1000) / spanMs : 0;
    const base = { samples: n, fps: round(fps, 2) };
    if (n > 1 && fps < this.o.minFps) {
      return abstain('pulse', now, `Video is sampled at ${round(fps, 1)} frames per second; a pulse needs at least ${this.o.minFps}, so it is only measured while analysis is boosted.`, base);
    }
    if (spanMs < this.o.minWindowMs) {
      return abstain('pulse', now, `Not enough continuous video yet to look for a pulse (${round(spanMs / 1000, 1)} s; needs ${this.o.minWindowMs / 1000} s).`, base);
    }
    // Uniform grid at the median interval; a gap breaks the signal.
    const dt = this.medianInterval();
    for (let i = this.start + 1; i < this.at.length; i++) {
      if (this.at[i]! - this.at[i - 1]! > 2.5 * dt) {
        return abstain('pulse', now, 'Gaps in the video (dropped or frozen frames) break the pulse signal.', base);
      }
    }
    const motion = this.motion();
    if (motion.move > this.o.maxMotion || motion.scale > this.o.maxScaleChange) {
      return abstain('pulse', now, 'The face moved too much to measure a pulse from skin colour.', { ...base, motion: round(motion.move, 3), scaleChange: round(motion.scale, 3) });
    }

    const fs = 1000 / dt;
    const len = Math.floor(spanMs / dt) + 1;
    const R = new Float64Array(len);
    const G = new Float64Array(len);
    const B = new Float64Array(len);
    this.resample(t0, dt, R, G, B);
    const meanG = mean(G);
    const bright = relStd(R, G, B);
    const colourVar = Math.max(relStdOf(R), relStdOf(G), relStdOf(B));
    if (meanG < this.o.greenRange[0] || meanG > this.o.greenRange[1]) {
      return abstain('pulse', now, meanG < this.o.greenRange[0] ? 'The face is too dark to measure a pulse.' : 'The face is overexposed; a pulse cannot be measured.', { ...base, meanGreen: round(meanG, 1) });
    }
    if (bright > this.o.maxBrightnessChange) {
      return abstain('pulse', now, 'Lighting or exposure changed too much to measure a pulse.', { ...base, brightnessChange: round(bright, 4) });
    }
    if (colourVar < this.o.stillLevel) {
      return abstain(
        'pulse',
        now,
        'The skin colour did not change at all (a still image or frozen video), so there is no pulse signal to judge; other checks cover still images.',
        { ...base, colourVariation: round(colourVar, 6) },
      );
    }

    const h = pos(R, G, B, Math.max(2, Math.round(1.6 * fs)));
    const hStd = Math.sqrt(variance(h));
    const hi = Math.min(this.o.bandHz[1], 0.45 * fs);
    const spec = spectrum(h, fs, this.o.bandHz[0], hi);
    const details = { ...base, bpm: round(spec.peakHz * 60, 1), snrDb: round(spec.snrDb, 2), pulseLevel: round(hStd, 6), windowSeconds: round(spanMs / 1000, 1) };
    const seconds = Math.round(spanMs / 1000);
    if (spec.snrDb >= this.o.minSnrDb) {
      const quality = Math.min(1, (spec.snrDb - this.o.minSnrDb) / 6);
      return {
        detector: 'pulse',
        at: now,
        score: round(0.15 - 0.1 * quality, 3),
        confidence: round(0.3 + 0.2 * quality, 3),
        reason: `A regular pulse-like change in skin colour at about ${Math.round(spec.peakHz * 60)} beats per minute over ${seconds} s, as live skin shows. A replayed video of a real person can show this too.`,
        details,
      };
    }
    if (hStd < this.o.flatLevel && motion.known) {
      return {
        detector: 'pulse',
        at: now,
        score: 0.3,
        confidence: 0.1,
        reason: `The face was steady and well lit for ${seconds} s but its skin colour showed no pulse. Weak evidence: video compression often hides the pulse of live skin.`,
        details,
      };
    }
    return abstain('pulse', now, 'The skin colour signal is too noisy to find a pulse.', details);
  }

  private trim(from: number): void {
    while (this.start < this.at.length && this.at[this.start]! < from) this.start++;
    if (this.start > 256 && this.start * 2 > this.at.length) {
      this.at.splice(0, this.start);
      this.rgb.splice(0, this.start * 3);
      this.geo.splice(0, this.start * 3);
      this.start = 0;
    }
  }

  private medianInterval(): number {
    const d: number[] = [];
    for (let i = this.start + 1; i < this.at.length; i++) d.push(this.at[i]! - this.at[i - 1]!);
    d.sort((a, b) => a - b);
    return d[Math.floor(d.length / 2)]!;
  }

  /** Std of the box centre over the mean box size, and the size's max/min - 1. `known` is false without boxes. */
  private motion(): { move: number; scale: number; known: boolean } {
    let n = 0;
    let sx = 0;
    let sy = 0;
    let ss = 0;
    let min = Infinity;
    let max = 0;
    for (let i = this.start; i < this.at.length; i++) {
      const size = this.geo[i * 3 + 2]!;
      if (Number.isNaN(size)) continue;
      n++;
      sx += this.geo[i * 3]!;
      sy += this.geo[i * 3 + 1]!;
      ss += size;
      min = Math.min(min, size);
      max = Math.max(max, size);
    }
    if (n < 2) return { move: 0, scale: 0, known: false };
    const mx = sx / n;
    const my = sy / n;
    let v = 0;
    for (let i = this.start; i < this.at.length; i++) {
      if (Number.isNaN(this.geo[i * 3 + 2]!)) continue;
      v += (this.geo[i * 3]! - mx) ** 2 + (this.geo[i * 3 + 1]! - my) ** 2;
    }
    return { move: Math.sqrt(v / n) / (ss / n), scale: max / min - 1, known: true };
  }

  /** Linear interpolation of the samples onto t0 + k * dt. */
  private resample(t0: number, dt: number, R: Float64Array, G: Float64Array, B: Float64Array): void {
    let j = this.start;
    for (let k = 0; k < R.length; k++) {
      const t = t0 + k * dt;
      while (j + 1 < this.at.length - 1 && this.at[j + 1]! < t) j++;
      const ta = this.at[j]!;
      const tb = this.at[Math.min(j + 1, this.at.length - 1)]!;
      const w = tb > ta ? Math.min(1, Math.max(0, (t - ta) / (tb - ta))) : 0;
      const a = j * 3;
      const b = Math.min(j + 1, this.at.length - 1) * 3;
      R[k] = this.rgb[a]! + (this.rgb[b]! - this.rgb[a]!) * w;
      G[k] = this.rgb[a + 1]! + (this.rgb[b + 1]! - this.rgb[a + 1]!) * w;
      B[k] = this.rgb[a + 2]! + (this.rgb[b + 2]! - this.rgb[a + 2]!) * w;
    }
  }
}

/**
 * POS (Wang et al. 2017, algorithm 1): for each window of `l` samples, temporally normalise RGB,
 * project S1 = G - B, S2 = -2R + G + B, h = S1 + (std S1 / std S2) S2, overlap-add h - mean(h).
 * Divided by the number of windows covering each sample, so the result is in units of relative
 * colour change (0.002 = 0.2%) whatever the frame rate.
 */
export function pos(R: Float64Array, G: Float64Array, B: Float64Array, l: number): Float64Array {
  const n = R.length;
  const H = new Float64Array(n);
  const s1 = new Float64Array(l);
  const s2 = new Float64Array(l);
  for (let end = l; end <= n; end++) {
    const from = end - l;
    let mr = 0;
    let mg = 0;
    let mb = 0;
    for (let k = from; k < end; k++) {
      mr += R[k]!;
      mg += G[k]!;
      mb += B[k]!;
    }
    mr /= l;
    mg /= l;
    mb /= l;
    if (!(mr > 0 && mg > 0 && mb > 0)) continue;
    for (let k = 0; k < l; k++) {
      const r = R[from + k]! / mr;
      const g = G[from + k]! / mg;
      const b = B[from + k]! / mb;
      s1[k] = g - b;
      s2[k] = -2 * r + g + b;
    }
    const sd2 = Math.sqrt(variance(s2));
    const alpha = sd2 > 0 ? Math.sqrt(variance(s1)) / sd2 : 0;
    let mh = 0;
    for (let k = 0; k < l; k++) mh += s1[k]! + alpha * s2[k]!;
    mh /= l;
    for (let k = 0; k < l; k++) H[from + k] = H[from + k]! + s1[k]! + alpha * s2[k]! - mh;
  }
  for (let k = 0; k < n; k++) H[k] = H[k]! / Math.max(1, Math.min(k + 1, l, n - k, n - l + 1));
  return H;
}

/**
 * Hann-windowed power spectrum of `h` (sampled at `fs`) on a 0.5 bpm grid between `lo` and `hi`
 * Hz; the peak, and de Haan's SNR: power within 0.2 Hz of the peak and of its first harmonic
 * (where in band) over the rest of the band, in dB.
 */
export function spectrum(h: Float64Array, fs: number, lo: number, hi: number): { peakHz: number; snrDb: number } {
  const n = h.length;
  const m = mean(h);
  const step = 0.5 / 60;
  const bins = Math.max(1, Math.floor((hi - lo) / step) + 1);
  const v = new Float64Array(n);
  for (let k = 0; k < n; k++) v[k] = (h[k]! - m) * (0.5 - 0.5 * Math.cos((2 * Math.PI * k) / Math.max(1, n - 1)));
  const power = new Float64Array(bins);
  for (let f = 0; f < bins; f++) {
    // e^{-i w k} by rotation: no trigonometry inside the sample loop.
    const w = (2 * Math.PI * (lo + f * step)) / fs;
    const cw = Math.cos(w);
    const sw = Math.sin(w);
    let c = 1;
    let s = 0;
    let re = 0;
    let im = 0;
    for (let k = 0; k < n; k++) {
      re += v[k]! * c;
      im -= v[k]! * s;
      const c2 = c * cw - s * sw;
      s = s * cw + c * sw;
      c = c2;
    }
    power[f] = re * re + im * im;
  }
  let peak = 0;
  for (let f = 1; f < bins; f++) if (power[f]! > power[peak]!) peak = f;
  const peakHz = lo + peak * step;
  let signal = 0;
  let noise = 0;
  for (let f = 0; f < bins; f++) {
    const hz = lo + f * step;
    if (Math.abs(hz - peakHz) <= 0.2 || Math.abs(hz - 2 * peakHz) <= 0.2) signal += power[f]!;
    else noise += power[f]!;
  }
  const snrDb = noise > 0 ? 10 * Math.log10(signal / noise) : signal > 0 ? Infinity : -Infinity;
  return { peakHz, snrDb };
}

/** An axis-aligned rectangle of skin, source pixels. */
export type SkinRegion = Box;

/**
 * Forehead and cheek patches for rPPG. From landmarks (preferred): the forehead around point 151
 * (mid-forehead) and the cheeks around points 50 and 280 (below the outer eye corners), sized by
 * the interocular distance. Without landmarks, fractions of the BlazeFace box (which runs from the
 * brows to the chin): the upper middle for the forehead, the left and right middle for the cheeks.
 */
export function pulseRegions(face: FaceDetection, points?: Float32Array): SkinRegion[] {
  if (points) {
    const iod = interocularDistance(points);
    const at = (i: number, w: number, h: number): SkinRegion => ({ x: points[i * 3]! - (w * iod) / 2, y: points[i * 3 + 1]! - (h * iod) / 2, width: w * iod, height: h * iod });
    return [at(MESH.forehead, 0.6, 0.25), at(MESH.rightCheek, 0.25, 0.25), at(MESH.leftCheek, 0.25, 0.25)];
  }
  const { x, y, width: w, height: h } = face.box;
  return [
    { x: x + 0.35 * w, y: y + 0.02 * h, width: 0.3 * w, height: 0.13 * h },
    { x: x + 0.15 * w, y: y + 0.45 * h, width: 0.2 * w, height: 0.18 * h },
    { x: x + 0.65 * w, y: y + 0.45 * h, width: 0.2 * w, height: 0.18 * h },
  ];
}

/**
 * Mean RGB (0..255) over `regions` (clipped to the frame), weighted by pixel count. Reads a
 * strided grid of at most ~4k pixels per region. For I420 it averages Y, U and V and converts the
 * means with BT.601 limited range as image.ts does: the conversion is affine, so this equals the
 * mean of converted pixels (up to clamping). Writes into `out` when given; NaN when nothing overlaps.
 */
export function meanSkinColour(src: ImageSource, regions: readonly SkinRegion[], out = { r: 0, g: 0, b: 0 }): { r: number; g: number; b: number } {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let count = 0;
  const w = src.width;
  const h = src.height;
  const d = src.data;
  for (const reg of regions) {
    const x0 = Math.max(0, Math.floor(reg.x));
    const y0 = Math.max(0, Math.floor(reg.y));
    const x1 = Math.min(w, Math.ceil(reg.x + reg.width));
    const y1 = Math.min(h, Math.ceil(reg.y + reg.height));
    if (x1 <= x0 || y1 <= y0) continue;
    const step = Math.max(1, Math.floor(Math.sqrt(((x1 - x0) * (y1 - y0)) / 4096)));
    if (src.format === 'i420') {
      const cw = (w + 1) >> 1;
      const ch = (h + 1) >> 1;
      const uBase = w * h;
      const vBase = uBase + cw * ch;
      for (let y = y0; y < y1; y += step) {
        const crow = (y >> 1) * cw;
        for (let x = x0; x < x1; x += step) {
          s0 += d[y * w + x]!;
          s1 += d[uBase + crow + (x >> 1)]!;
          s2 += d[vBase + crow + (x >> 1)]!;
          count++;
        }
      }
    } else {
      const c = src.format === 'rgba' ? 4 : 3;
      for (let y = y0; y < y1; y += step) {
        for (let x = x0, i = (y * w + x0) * c; x < x1; x += step, i += step * c) {
          s0 += d[i]!;
          s1 += d[i + 1]!;
          s2 += d[i + 2]!;
          count++;
        }
      }
    }
  }
  if (count === 0) {
    out.r = out.g = out.b = Number.NaN;
    return out;
  }
  const a = s0 / count;
  const b = s1 / count;
  const c = s2 / count;
  if (src.format === 'i420') {
    const Y = a - 16;
    const U = b - 128;
    const V = c - 128;
    out.r = clamp255(1.164 * Y + 1.596 * V);
    out.g = clamp255(1.164 * Y - 0.392 * U - 0.813 * V);
    out.b = clamp255(1.164 * Y + 2.017 * U);
  } else {
    out.r = a;
    out.g = b;
    out.b = c;
  }
  return out;
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return a.length ? s / a.length : Number.NaN;
}

function variance(a: Float64Array): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - m) ** 2;
  return a.length ? s / a.length : 0;
}

function relStdOf(a: Float64Array): number {
  const m = mean(a);
  return m > 0 ? Math.sqrt(variance(a)) / m : 0;
}

/** Relative std of R + G + B: overall brightness change. */
function relStd(R: Float64Array, G: Float64Array, B: Float64Array): number {
  const s = new Float64Array(R.length);
  for (let i = 0; i < s.length; i++) s[i] = R[i]! + G[i]! + B[i]!;
  return relStdOf(s);
}
