/**
 * Lip-sync cue, per stream: does the mouth move with the participant's own speech?
 *
 * Fed mouth opening per sampled video frame (faceGeometry.mouthOpening) and speech energy from
 * the audio path (e.g. VoiceActivityDetector's 20 ms frames). Over the last `windowMs`:
 *   - Common time grid: the mouth sample instants. Video is the sparse signal (2-6 fps);
 *     interpolating it would invent motion, so instead the dense audio energy is averaged (as
 *     power) over +-`energyHalfWindowMs` around each instant, both signals then being snapshots of
 *     the same moments. Syllables (4-5 Hz) alias at 2 fps, but the pointwise relation (mouth
 *     closed in silence, open on loud vowels) survives any sampling rate.
 *   - Pearson correlation of mouth opening with energy (dB), maximised over audio/video offsets
 *     up to +-`maxLagMs` (capture and transport skew). Maximising can only make a fake look
 *     better synchronised, never worse: the safe direction.
 *   - The spread of mouth opening while speech is present.
 * Verdicts: speech with a mouth that never moves is suspicious (a still image or frozen video
 * over live audio, a dubbed voice); a correlation that is absent or negative over a long window is
 * mildly suspicious; clear correlation is evidence of a live, synchronised face. A covered mouth
 * or someone speaking off camera also produces "speech without mouth movement": scores stay
 * moderate and the reasons say so.
 */
import { abstain, type Detector, type Evidence, type FaceObservation, type SpeechEnergy, type WindowDetector } from './Detector.ts';
import { mouthOpening } from './faceGeometry.ts';
import { round } from './numbers.ts';

export interface MouthSample {
  /** ms since epoch, on the same clock as the audio samples */
  at: number;
  /** Mouth opening (faceGeometry.mouthOpening: inner-lip gap over interocular distance; 0 closed, 0.2-0.3 wide open). */
  mouthOpen: number;
}

export interface SpeechEnergySample {
  /** ms since epoch: the centre of the audio frame */
  at: number;
  /** Frame energy in dBFS; or give `rms` (linear, full scale 1). */
  energyDb?: number;
  rms?: number;
  /** The voice-activity decision for the frame, when the audio path made one. */
  voiced?: boolean;
}

export interface LipSyncInput {
  /** End of the window to judge (ms since epoch). */
  at: number;
  mouth?: readonly MouthSample[];
  speech?: readonly SpeechEnergySample[];
}

export interface LipSyncOptions {
  /** Span judged (default 30 s). */
  windowMs?: number;
  /** Audio averaged around each mouth sample, each side (default 60 ms). */
  energyHalfWindowMs?: number;
  /** Largest audio/video offset searched (default 200 ms, in 40 ms steps). */
  maxLagMs?: number;
  /** Least mouth samples with audio around them (default 20). */
  minMouthSamples?: number;
  /** Least speech time at mouth samples before judging at all (default 5 s). */
  minSpeechMs?: number;
  /** Speech time needed before an absent correlation counts against the face (default 15 s). */
  longSpeechMs?: number;
  /** Without `voiced`, a frame is speech when this far above the window's noise floor (default 12 dB) ... */
  speechMarginDb?: number;
  /** ... and at least this loud (default -50 dBFS). */
  minSpeechDb?: number;
  /** Mouth opening spread (10th to 90th percentile) during speech below which the mouth "never moves" (default 0.04; landmark jitter is ~0.01). */
  frozenSpread?: number;
  /**
   * Correlation at or above which the mouth follows speech (default 0.3), raised to 2.5/sqrt(n) for
   * n paired samples: the best of several lags of unrelated signals reaches ~0.27 at n = 60.
   */
  syncR?: number;
  /** Correlation at or below which it does not, over a long window (default 0.05). */
  noSyncR?: number;
}

export class LipSyncDetector implements Detector<LipSyncInput>, WindowDetector {
  readonly id = 'lip-sync' as const;
  private readonly o: Required<LipSyncOptions>;
  private readonly mouthAt: number[] = [];
  private readonly mouthOpen: number[] = [];
  private mouthStart = 0;
  private readonly audioAt: number[] = [];
  /** Frame power (linear, mean square) and the voice decision (1, 0, or NaN when not given). */
  private readonly audioPower: number[] = [];
  private readonly audioVoiced: number[] = [];
  private audioStart = 0;

  constructor(options: LipSyncOptions = {}) {
    this.o = {
      windowMs: 30_000,
      energyHalfWindowMs: 60,
      maxLagMs: 200,
      minMouthSamples: 20,
      minSpeechMs: 5_000,
      longSpeechMs: 15_000,
      speechMarginDb: 12,
      minSpeechDb: -50,
      frozenSpread: 0.04,
      syncR: 0.3,
      noSyncR: 0.05,
      ...options,
    };
  }

  pushMouth(s: MouthSample): void {
    if (!Number.isFinite(s.mouthOpen) || !Number.isFinite(s.at)) return;
    if (this.mouthAt.length > this.mouthStart && s.at < this.mouthAt[this.mouthAt.length - 1]!) {
      this.mouthAt.length = 0;
      this.mouthOpen.length = 0;
      this.mouthStart = 0;
    }
    this.mouthAt.push(s.at);
    this.mouthOpen.push(s.mouthOpen);
  }

  /** A usable face frame: its mouth opening, when the mesh ran. */
  observeFace(o: FaceObservation): void {
    if (o.landmarks) this.pushMouth({ at: o.at, mouthOpen: mouthOpening(o.landmarks.points) });
  }

  observeSpeech(s: SpeechEnergy): void {
    this.pushSpeech(s);
  }

  pushSpeech(s: SpeechEnergySample): void {
    const power = s.energyDb !== undefined ? 10 ** (s.energyDb / 10) : s.rms !== undefined ? s.rms * s.rms : Number.NaN;
    if (!Number.isFinite(power) || !Number.isFinite(s.at)) return;
    if (this.audioAt.length > this.audioStart && s.at < this.audioAt[this.audioAt.length - 1]!) {
      this.audioAt.length = 0;
      this.audioPower.length = 0;
      this.audioVoiced.length = 0;
      this.audioStart = 0;
    }
    this.audioAt.push(s.at);
    this.audioPower.push(power);
    this.audioVoiced.push(s.voiced === undefined ? Number.NaN : s.voiced ? 1 : 0);
  }

  reset(): void {
    for (const a of [this.mouthAt, this.mouthOpen, this.audioAt, this.audioPower, this.audioVoiced]) a.length = 0;
    this.mouthStart = 0;
    this.audioStart = 0;
  }

  analyse(input: LipSyncInput): Promise<Evidence> {
    for (const m of input.mouth ?? []) this.pushMouth(m);
    for (const s of input.speech ?? []) this.pushSpeech(s);
    return Promise.resolve(this.evaluate(input.at));
  }

  /** Evidence over the window ending at `now`. */
  evaluate(now: number): Evidence {
    this.trim(now - this.o.windowMs);
    const { mouthAt, mouthOpen, audioAt, audioPower, audioVoiced } = this;
    const half = this.o.energyHalfWindowMs;
    const lags: number[] = [];
    for (let l = -this.o.maxLagMs; l <= this.o.maxLagMs + 1e-9; l += 40) lags.push(l);
    if (!lags.includes(0)) lags.push(0);

    // Noise floor of the window: 10th percentile of frame energy.
    const nAudio = audioAt.length - this.audioStart;
    const energies: number[] = [];
    for (let i = this.audioStart; i < audioAt.length; i++) energies.push(toDb(audioPower[i]!));
    energies.sort((a, b) => a - b);
    const floorDb = nAudio > 0 ? energies[Math.floor(0.1 * (nAudio - 1))]! : Number.NaN;
    const speechDb = Math.max(floorDb + this.o.speechMarginDb, this.o.minSpeechDb);

    // Per lag: energy (dB) and speech flag at each mouth sample that has audio around it.
    let best: { r: number; lag: number; n: number } | undefined;
    let zero: { mouth: number[]; speech: boolean[]; energy: number[] } | undefined;
    for (const lag of lags) {
      const m: number[] = [];
      const e: number[] = [];
      const sp: boolean[] = [];
      let j = this.audioStart;
      for (let i = this.mouthStart; i < mouthAt.length; i++) {
        const t = mouthAt[i]! + lag;
        while (j < audioAt.length && audioAt[j]! < t - half) j++;
        let p = 0;
        let k = 0;
        let voiced = 0;
        let told = 0;
        for (let q = j; q < audioAt.length && audioAt[q]! <= t + half; q++, k++) {
          p += audioPower[q]!;
          const v = audioVoiced[q]!;
          if (!Number.isNaN(v)) {
            told++;
            voiced += v;
          }
        }
        if (k === 0) continue;
        const db = toDb(p / k);
        m.push(mouthOpen[i]!);
        e.push(db);
        sp.push(told > 0 ? voiced * 2 >= told : db >= speechDb);
      }
      if (lag === 0) zero = { mouth: m, speech: sp, energy: e };
      const r = pearson(m, e);
      if (m.length >= this.o.minMouthSamples && Number.isFinite(r) && (!best || r > best.r)) best = { r, lag, n: m.length };
    }

    const paired = zero?.mouth.length ?? 0;
    const nMouth = mouthAt.length - this.mouthStart;
    if (paired < this.o.minMouthSamples) {
      return abstain('lip-sync', now, `Not enough video of the mouth with audio alongside it yet (${paired} frames; needs ${this.o.minMouthSamples}).`, {
        mouthSamples: nMouth,
        paired,
      });
    }
    const z = zero!;
    const interval = medianInterval(mouthAt, this.mouthStart);
    const speechMouth: number[] = [];
    z.speech.forEach((s, i) => s && speechMouth.push(z.mouth[i]!));
    const speechMs = speechMouth.length * interval;
    const speechS = Math.round(speechMs / 1000);
    if (speechMs < this.o.minSpeechMs) {
      return abstain('lip-sync', now, `Too little speech in the last ${Math.round(this.o.windowMs / 1000)} s to compare with mouth movement (${speechS} s).`, {
        paired,
        speechSeconds: speechS,
      });
    }
    speechMouth.sort((a, b) => a - b);
    const spread = quantile(speechMouth, 0.9) - quantile(speechMouth, 0.1);
    const r = best?.r ?? Number.NaN;
    const details = {
      paired,
      speechSeconds: speechS,
      mouthSpreadDuringSpeech: round(spread, 3),
      correlation: round(r, 3),
      lagMs: best?.lag ?? 0,
      noiseFloorDb: round(floorDb, 1),
    };
    // Confidence grows with the amount of speech seen, up to the long-window length.
    const amount = Math.min(1, speechMs / this.o.longSpeechMs);
    if (spread < this.o.frozenSpread) {
      return {
        detector: 'lip-sync',
        at: now,
        score: round(0.45 + 0.2 * amount, 3),
        confidence: round(0.2 + 0.25 * amount, 3),
        reason: `Clear speech for ${speechS} s, but the mouth did not move. This fits a still or frozen face over live audio or a dubbed voice; a covered mouth or someone speaking off camera looks the same.`,
        details,
      };
    }
    if (r >= Math.max(this.o.syncR, 2.5 / Math.sqrt(best?.n ?? paired))) {
      return {
        detector: 'lip-sync',
        at: now,
        score: 0.1,
        confidence: round(0.15 + 0.2 * amount, 3),
        reason: `Mouth movement follows the speech (correlation ${r.toFixed(2)} over ${speechS} s of speech).`,
        details,
      };
    }
    if (r <= this.o.noSyncR && speechMs >= this.o.longSpeechMs) {
      const negative = r <= -0.2;
      return {
        detector: 'lip-sync',
        at: now,
        score: negative ? 0.45 : 0.35,
        confidence: 0.2,
        reason: `Over ${speechS} s of speech the mouth moved, but ${negative ? 'opposite to' : 'out of step with'} the voice (correlation ${r.toFixed(2)}). Weak evidence: low frame rate, a beard or poor light also blur this.`,
        details,
      };
    }
    return {
      detector: 'lip-sync',
      at: now,
      score: 0.25,
      confidence: 0.05,
      reason: `Mouth movement and speech are only loosely related so far (correlation ${Number.isFinite(r) ? r.toFixed(2) : 'n/a'} over ${speechS} s of speech); not enough to judge.`,
      details,
    };
  }

  private trim(from: number): void {
    while (this.mouthStart < this.mouthAt.length && this.mouthAt[this.mouthStart]! < from) this.mouthStart++;
    // Keep audio reaching back one averaging window plus the largest lag before the first mouth sample.
    const audioFrom = from - this.o.maxLagMs - this.o.energyHalfWindowMs;
    while (this.audioStart < this.audioAt.length && this.audioAt[this.audioStart]! < audioFrom) this.audioStart++;
    if (this.mouthStart > 256 && this.mouthStart * 2 > this.mouthAt.length) {
      this.mouthAt.splice(0, this.mouthStart);
      this.mouthOpen.splice(0, this.mouthStart);
      this.mouthStart = 0;
    }
    if (this.audioStart > 1024 && this.audioStart * 2 > this.audioAt.length) {
      this.audioAt.splice(0, this.audioStart);
      this.audioPower.splice(0, this.audioStart);
      this.audioVoiced.splice(0, this.audioStart);
      this.audioStart = 0;
    }
  }
}

function toDb(power: number): number {
  return 10 * Math.log10(Math.max(power, 1e-12));
}

function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 3) return Number.NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : Number.NaN;
}

/** Quantile of an ascending array, linear interpolation. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function medianInterval(at: readonly number[], start: number): number {
  const d: number[] = [];
  for (let i = start + 1; i < at.length; i++) d.push(at[i]! - at[i - 1]!);
  if (d.length === 0) return 0;
  d.sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)]!;
}
