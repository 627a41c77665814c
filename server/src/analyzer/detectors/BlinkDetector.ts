/**
 * Blink and eye-movement cue, per stream. Fed eye openness (faceGeometry.eyeOpenness) for each
 * sampled frame; judges the last `windowMs`.
 *
 * What is measurable: a blink lasts 100-400 ms and the lids are well closed for ~150 ms of it, so
 * at the analyzer's 2 fps most blinks fall between samples, and at 6 fps about every second one is
 * caught. Counting blinks would call every live person at 2 fps a non-blinker. Instead:
 *   - any sample with the eyes clearly closing (openness below `blinkDip` of the window's median)
 *     or openness varying beyond landmark jitter is evidence of live eyes (low score);
 *   - openness that never leaves the jitter band over a long, well-sampled window (a photo, a
 *     frozen or looped video, an avatar that does not blink) is mildly suspicious, scaled by how
 *     likely a live person would have let at least one blink be caught at this frame rate.
 * Landmark jitter on a still photo re-captured with noise, measured with the iris model:
 * coefficient of variation 3-4% per eye at an interocular distance of 90 px, 5-6% at 45 px.
 * Thresholds are set above that; they are not tuned on live-call video (none was available).
 *
 * Reset it when the tracked face changes: a new person has a new baseline.
 */
import { abstain, type Detector, type Evidence, type FaceObservation, type WindowDetector } from './Detector.ts';
import { eyeOpenness, interocularDistance } from './faceGeometry.ts';
import { round } from './numbers.ts';

export interface BlinkSample {
  /** ms since epoch */
  at: number;
  /** Eye aspect ratios of the subject's left and right eye (faceGeometry.eyeOpenness). */
  leftOpen: number;
  rightOpen: number;
  /** Interocular distance in source pixels (faceGeometry.interocularDistance): how well the eyes can be seen. */
  faceSize?: number;
  /**
   * What measured the openness (faceGeometry.EyeOpenness.source). The mesh alone hardly registers
   * closed lids, so with 'mesh' samples the "no blink" suspicion is capped and its confidence halved.
   */
  source?: 'iris' | 'mesh';
}

export interface BlinkOptions {
  /** Span judged (default 60 s). */
  windowMs?: number;
  /** Least clear video in the window before judging (default 30 s). */
  minSpanMs?: number;
  /** Least samples in the window (default 40: 20 s at 2 fps is not enough on its own). */
  minSamples?: number;
  /** Gaps between samples longer than this (face lost, stream stalled) do not count as clear video (default 2 s). */
  maxGapMs?: number;
  /** Median interocular distance (px) below which lids cannot be measured (default 60: the lid gap is then ~5 px). */
  minFaceSize?: number;
  /** Median openness below which the eyes are closed or hidden most of the time (default 0.15; iris-measured closed eyes read ~0.14). */
  closedLevel?: number;
  /** Openness below this fraction of the median counts as a (partial) blink (default 0.6). */
  blinkDip?: number;
  /** Coefficient of variation of openness above which the eyes are moving (default 0.08; jitter reaches ~0.06 on small faces). */
  movingCv?: number;
  /** Blink rate assumed for a live person, per minute (default 10: conversation runs 15-25, screen reading as low as 5). */
  blinkRatePerMin?: number;
  /** How long a blink keeps the eyes below `blinkDip`, ms (default 150). */
  blinkClosedMs?: number;
  /** Highest suspicion this cue can give (default 0.5). */
  maxScore?: number;
}

export class BlinkDetector implements Detector<BlinkSample>, WindowDetector {
  readonly id = 'blink' as const;
  private readonly o: Required<BlinkOptions>;
  // Parallel arrays from `start`; compacted when half stale, so pushes are amortised O(1).
  private readonly at: number[] = [];
  private readonly open: number[] = [];
  private readonly size: number[] = [];
  /** 1 when the sample came from the mesh alone, else 0. */
  private readonly coarse: number[] = [];
  private start = 0;
  private scratch = new Float64Array(64);

  constructor(options: BlinkOptions = {}) {
    this.o = {
      windowMs: 60_000,
      minSpanMs: 30_000,
      minSamples: 40,
      maxGapMs: 2_000,
      minFaceSize: 60,
      closedLevel: 0.15,
      blinkDip: 0.6,
      movingCv: 0.08,
      blinkRatePerMin: 10,
      blinkClosedMs: 150,
      maxScore: 0.5,
      ...options,
    };
  }

  /** Records one frame's eye openness. Non-finite values (eyes not measured) are skipped. */
  push(s: BlinkSample): void {
    const open = (s.leftOpen + s.rightOpen) / 2;
    if (!Number.isFinite(open) || !Number.isFinite(s.at)) return;
    // Out-of-order samples would break the gap accounting; a clock step back restarts the window.
    if (this.at.length > this.start && s.at < this.at[this.at.length - 1]!) this.reset();
    this.at.push(s.at);
    this.open.push(open);
    this.size.push(s.faceSize ?? Number.NaN);
    this.coarse.push(s.source === 'mesh' ? 1 : 0);
  }

  /** A usable face frame: its eye openness, when the mesh ran. */
  observeFace(o: FaceObservation): void {
    if (!o.landmarks) return;
    const eyes = eyeOpenness(o.landmarks);
    this.push({ at: o.at, leftOpen: eyes.left, rightOpen: eyes.right, faceSize: interocularDistance(o.landmarks.points), source: eyes.source });
  }

  reset(): void {
    this.at.length = 0;
    this.open.length = 0;
    this.size.length = 0;
    this.coarse.length = 0;
    this.start = 0;
  }

  analyse(sample: BlinkSample): Promise<Evidence> {
    this.push(sample);
    return Promise.resolve(this.evaluate(sample.at));
  }

  /** Evidence over the window ending at `now`. */
  evaluate(now: number): Evidence {
    this.trim(now - this.o.windowMs);
    const n = this.at.length - this.start;
    const clearMs = this.clearMs();
    const seconds = Math.round(clearMs / 1000);
    if (n < this.o.minSamples || clearMs < this.o.minSpanMs) {
      return abstain('blink', now, `Not enough clear video of the eyes yet to judge blinking (${seconds} s, ${n} frames; needs ${Math.round(this.o.minSpanMs / 1000)} s).`, {
        samples: n,
        clearSeconds: seconds,
      });
    }
    const faceSize = this.median(this.size, true);
    if (Number.isFinite(faceSize) && faceSize < this.o.minFaceSize) {
      return abstain('blink', now, 'The face is too small or far from the camera to see the eyelids.', { samples: n, faceSize: round(faceSize, 1) });
    }
    const baseline = this.median(this.open, false);
    if (!(baseline >= this.o.closedLevel)) {
      return abstain('blink', now, `The eyes looked closed or hidden (looking down, glare on glasses) for most of the last ${seconds} s, so blinking cannot be judged.`, {
        samples: n,
        medianOpenness: round(baseline, 3),
      });
    }
    let min = Infinity;
    let sum = 0;
    let sumSq = 0;
    let dips = 0;
    let inDip = false;
    let coarse = 0;
    for (let i = this.start; i < this.at.length; i++) {
      coarse += this.coarse[i]!;
      const v = this.open[i]!;
      min = Math.min(min, v);
      sum += v;
      sumSq += v * v;
      const below = v < this.o.blinkDip * baseline;
      if (below && !inDip) dips++;
      inDip = below;
    }
    const mean = sum / n;
    const cv = Math.sqrt(Math.max(0, sumSq / n - mean * mean)) / mean;
    const fps = (n - 1) / ((this.at[this.at.length - 1]! - this.at[this.start]!) / 1000);
    // Blinks a live person would likely have let us catch: rate x time x chance a sample lands in the closed phase.
    const catchChance = Math.min(1, (fps * this.o.blinkClosedMs) / 1000);
    const expected = (clearMs / 60_000) * this.o.blinkRatePerMin * catchChance;
    const pMissIfLive = Math.exp(-expected);
    const details = {
      samples: n,
      clearSeconds: seconds,
      fps: round(fps, 2),
      medianOpenness: round(baseline, 3),
      deepestDip: round(1 - min / baseline, 3),
      variation: round(cv, 4),
      blinksSeen: dips,
      expectedBlinksCaught: round(expected, 2),
      pMissIfLive: round(pMissIfLive, 3),
      meshOnly: coarse * 2 > n,
    };
    if (dips > 0) {
      return {
        detector: 'blink',
        at: now,
        score: 0.05,
        confidence: 0.3,
        reason: `Eyes blinked or closed ${dips === 1 ? 'once' : `${dips} times`} in ${seconds} s of clear video, as live eyes do.`,
        details,
      };
    }
    if (cv >= this.o.movingCv) {
      return {
        detector: 'blink',
        at: now,
        score: 0.1,
        confidence: 0.2,
        reason: `No full blink was caught in ${seconds} s at ${fmtFps(fps)} (common: most blinks fall between frames), but eye openness varied naturally.`,
        details,
      };
    }
    // Between "clearly moving" and pure jitter the cue fades in; the ceiling rises with the odds that a live person would have been caught blinking.
    const jitterCv = this.o.movingCv * 0.5;
    const stillness = cv <= jitterCv ? 1 : (this.o.movingCv - cv) / (this.o.movingCv - jitterCv);
    const meshOnly = coarse * 2 > n;
    const ceiling = meshOnly ? Math.min(this.o.maxScore, 0.3) : this.o.maxScore;
    const score = 0.1 + (ceiling - 0.1) * (1 - pMissIfLive) * stillness;
    const confidence = (0.1 + 0.2 * stillness * Math.min(1, n / 120)) * (meshOnly ? 0.5 : 1);
    const reason =
      stillness >= 1
        ? `No blink or eye movement in ${seconds} s of clear video. Live people usually blink several times in that time, but at ${fmtFps(fps)} blinks can be missed, so this is weak evidence on its own.`
        : `No blink and little eye movement in ${seconds} s of clear video. At ${fmtFps(fps)} blinks are easily missed, so this is weak evidence.`;
    const caveat = meshOnly ? ' The eyelids were measured only coarsely (no eye model), which can hide blinks.' : '';
    return { detector: 'blink', at: now, score: round(score, 3), confidence: round(confidence, 3), reason: reason + caveat, details };
  }

  private trim(from: number): void {
    while (this.start < this.at.length && this.at[this.start]! < from) this.start++;
    if (this.start > 256 && this.start * 2 > this.at.length) {
      this.at.splice(0, this.start);
      this.open.splice(0, this.start);
      this.size.splice(0, this.start);
      this.coarse.splice(0, this.start);
      this.start = 0;
    }
  }

  /** Time covered by consecutive samples no more than `maxGapMs` apart. */
  private clearMs(): number {
    let total = 0;
    for (let i = this.start + 1; i < this.at.length; i++) {
      const dt = this.at[i]! - this.at[i - 1]!;
      if (dt <= this.o.maxGapMs) total += dt;
    }
    return total;
  }

  private median(values: readonly number[], skipNaN: boolean): number {
    const n = values.length - this.start;
    if (this.scratch.length < n) this.scratch = new Float64Array(Math.max(n, this.scratch.length * 2));
    let k = 0;
    for (let i = this.start; i < values.length; i++) {
      const v = values[i]!;
      if (skipNaN && Number.isNaN(v)) continue;
      this.scratch[k++] = v;
    }
    if (k === 0) return Number.NaN;
    const sorted = this.scratch.subarray(0, k).sort();
    return k % 2 ? sorted[(k - 1) / 2]! : (sorted[k / 2 - 1]! + sorted[k / 2]!) / 2;
  }
}

function fmtFps(fps: number): string {
  return `${fps >= 10 ? Math.round(fps) : round(fps, 1)} frames per second`;
}
