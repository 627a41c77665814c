/**
 * Synthetic speech (TTS, voice conversion) from AASIST / AASIST-L on one 4.04 s window of 16 kHz
 * speech. The model's bona fide logit s (higher = natural) has no fixed meaning across audio
 * sources, so it is read against a threshold calibrated by scripts/calibrate-voice.ts:
 *   suspicion = 1 / (1 + exp((s - threshold) / scale))   (0.5 at the threshold)
 * Each window is level-normalised first (normalizeLevel: the model's reading moves with volume).
 * It abstains when it cannot judge: too little speech, near silence, clipping, or invalid samples.
 */
import { Tensor } from 'onnxruntime-node';
import { AASIST_WINDOW_SAMPLES } from '../sampling/AudioWindower.ts';
import { abstain, type Detector, type Evidence, type SpeechWindow } from './Detector.ts';

export interface VoiceCalibration {
  model: 'aasist' | 'aasist-l';
  /** Bona fide logit at which the suspicion is 0.5. */
  threshold: number;
  /** Width of the logistic, in logit units: the suspicion is 0.27 / 0.73 one scale either side. */
  scale: number;
  /** Where the numbers came from (data, date, policy). */
  source: string;
}

/**
 * From `node scripts/calibrate-voice.ts --opus 32k` (see the script's header for the policy):
 * filled in below from the run recorded in `source`.
 */
export const DEFAULT_VOICE_CALIBRATION: VoiceCalibration = {
  model: 'aasist-l',
  threshold: -2.72,
  scale: 1.01,
  source: 'placeholder',
};

/**
 * What the detector needs from its runner: a plain onnxruntime session (ModelRunner) or the
 * cross-stream Batcher, whose run() also takes a priority.
 */
export interface VoiceModelRunner {
  run(feeds: Record<string, Tensor>, priority?: number): Promise<Record<string, Tensor>>;
}

export interface SyntheticVoiceOptions {
  /** Below this fraction of voiced frames the window is not judged. Default 0.3 (as AudioWindower). */
  minVoicedFraction?: number;
  /** Voiced fraction from which speech quantity no longer limits confidence. Default 0.7. */
  fullVoicedFraction?: number;
  /** Windows quieter than this RMS level (dBFS) are not judged. Default -55. */
  minLevelDb?: number;
  /** Windows with more than this fraction of flat-topped samples (|x| >= 0.99) are not judged. Default 0.005. */
  maxClippedFraction?: number;
}

/** Minus sign, not hyphen, for the clinician-facing text. */
const fmt = (x: number): string => x.toFixed(1).replace('-', '\u2212');

export class SyntheticVoiceDetector implements Detector<SpeechWindow> {
  readonly id = 'synthetic-voice' as const;
  readonly calibration: VoiceCalibration;
  private readonly runner: VoiceModelRunner;
  private readonly minVoiced: number;
  private readonly fullVoiced: number;
  private readonly minLevelDb: number;
  private readonly maxClipped: number;

  constructor(runner: VoiceModelRunner, calibration: VoiceCalibration, options: SyntheticVoiceOptions = {}) {
    if (!(calibration.scale > 0)) throw new RangeError(`calibration scale must be positive, got ${calibration.scale}`);
    if (!Number.isFinite(calibration.threshold)) throw new RangeError(`calibration threshold must be finite, got ${calibration.threshold}`);
    this.runner = runner;
    this.calibration = calibration;
    this.minVoiced = options.minVoicedFraction ?? 0.3;
    this.fullVoiced = Math.max(this.minVoiced, options.fullVoicedFraction ?? 0.7);
    this.minLevelDb = options.minLevelDb ?? -55;
    this.maxClipped = options.maxClippedFraction ?? 0.005;
  }

  /** Suspicion in [0, 1] for a bona fide logit: the calibrated logistic. */
  suspicion(bonaFide: number): number {
    return 1 / (1 + Math.exp((bonaFide - this.calibration.threshold) / this.calibration.scale));
  }

  async analyse(w: SpeechWindow): Promise<Evidence> {
    if (w.samples.length !== AASIST_WINDOW_SAMPLES) {
      throw new RangeError(`speech window of ${w.samples.length} samples; AASIST takes exactly ${AASIST_WINDOW_SAMPLES}`);
    }
    const pct = (x: number): number => Math.round(x * 100);
    if (!(w.voicedFraction >= this.minVoiced)) {
      return abstain(this.id, w.at, `Too little speech in this stretch to judge the voice (${pct(w.voicedFraction)}% voiced; ${pct(this.minVoiced)}% needed).`, {
        voicedFraction: round(w.voicedFraction),
      });
    }
    const q = signalQuality(w.samples);
    if (q.invalid) return abstain(this.id, w.at, 'The audio contains invalid samples, so the voice cannot be judged.');
    if (q.levelDb < this.minLevelDb) {
      return abstain(this.id, w.at, `The audio is too quiet to judge the voice (${fmt(q.levelDb)} dBFS).`, { levelDb: round(q.levelDb, 1) });
    }
    if (q.clippedFraction > this.maxClipped) {
      // Clipping moves the logit both ways: hard-clipped espeak-ng/flite speech (gain x20) scored
      // +1.3 on average (natural), up from -5, while one real clip fell to -4.6. Nothing to judge by.
      return abstain(this.id, w.at, `The audio is clipped (microphone overloaded), which distorts what the voice model listens to.`, {
        clippedFraction: round(q.clippedFraction, 4),
      });
    }

    const level = normalizeLevel(w.samples);
    const out = await this.runner.run({ waveform: new Tensor('float32', level.samples, [1, AASIST_WINDOW_SAMPLES]) }, w.priority);
    const bonaFide = Number(out.logits?.data[1]);
    if (!Number.isFinite(bonaFide)) throw new Error(`${this.calibration.model} returned no usable logits[0][1]`);

    const { threshold, scale } = this.calibration;
    const score = this.suspicion(bonaFide);
    // Confidence = speech quantity x margin. Speech: linear from the minimum voiced fraction
    // (0.5) to fullVoicedFraction (1), since fewer voiced frames mean less for the model to hear.
    // Margin: |2·score − 1| (0 at the threshold, towards 1 far from it), floored at 0.3 so a
    // borderline reading still counts a little. Model reliability is not in here: the fusion
    // weight carries it (risk-config.json).
    const speech = this.fullVoiced > this.minVoiced ? 0.5 + 0.5 * Math.min(1, (w.voicedFraction - this.minVoiced) / (this.fullVoiced - this.minVoiced)) : 1;
    const margin = Math.abs(2 * score - 1);
    const confidence = speech * (0.3 + 0.7 * margin);

    const reading = `bona fide score ${fmt(bonaFide)}`;
    const reason =
      Math.abs(bonaFide - threshold) < scale
        ? `The voice is borderline between natural and synthetic (${reading}, near the calibrated ${fmt(threshold)}).`
        : bonaFide < threshold
          ? `The voice sounds synthetic (${reading}, below the calibrated ${fmt(threshold)}).`
          : `The voice sounds natural (${reading}, above the calibrated ${fmt(threshold)}).`;
    return {
      detector: this.id,
      at: w.at,
      score,
      confidence,
      reason,
      details: {
        model: this.calibration.model,
        bonaFide: round(bonaFide),
        threshold,
        voicedFraction: round(w.voicedFraction),
        levelDb: round(q.levelDb, 1),
        gainDb: round(level.gainDb, 1),
        clippedFraction: round(q.clippedFraction, 4),
      },
    };
  }
}

/** Level the model input is brought to: see normalizeLevel. */
export const TARGET_PEAK = 0.9;
const PEAK_QUANTILE = 0.999;

/**
 * Scales a window so its robust peak (99.9th percentile of |x|, so one click cannot set the gain)
 * sits at 0.9 of full scale, clamping the few samples above. AASIST's logit depends on level:
 * on the calibration data, attenuating espeak-ng/flite speech by 20 dB raised its bona fide score
 * from about −5 to −1 (past the threshold), and peak-normalised windows separated real from
 * synthetic better (AUC 0.999 vs 0.955 on one window per clip) than raw ones. Normalising makes
 * the reading independent of microphone gain, and turning the volume down no defence.
 */
export function normalizeLevel(samples: Float32Array, out = new Float32Array(samples.length)): { samples: Float32Array; gainDb: number } {
  let max = 0;
  for (let i = 0; i < samples.length; i++) max = Math.max(max, Math.abs(samples[i] as number));
  if (!(max > 0)) return { samples: out.fill(0), gainDb: 0 };
  // Histogram of |x| / max: the quantile to 1/2048 of the peak without sorting 64600 values.
  const bins = 2048;
  const hist = new Uint32Array(bins);
  for (let i = 0; i < samples.length; i++) hist[Math.min(bins - 1, Math.floor((Math.abs(samples[i] as number) / max) * bins))]!++;
  const above = Math.max(1, Math.floor(samples.length * (1 - PEAK_QUANTILE)));
  let count = 0;
  let bin = bins - 1;
  for (; bin > 0; bin--) {
    count += hist[bin] as number;
    if (count >= above) break;
  }
  const peak = Math.max((bin / bins) * max, max / 64); // never more than 36 dB above the true peak
  const gain = TARGET_PEAK / peak;
  for (let i = 0; i < samples.length; i++) out[i] = Math.max(-1, Math.min(1, (samples[i] as number) * gain));
  return { samples: out, gainDb: 20 * Math.log10(gain) };
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface SignalQuality {
  /** RMS level, dBFS (full-scale sine = −3). */
  levelDb: number;
  /** Fraction of samples at |x| >= 0.99 next to another such sample of the same sign: flat tops. */
  clippedFraction: number;
  /** NaN or infinite samples present. */
  invalid: boolean;
}

/** One pass over the window: level, clipping, validity. */
export function signalQuality(samples: Float32Array): SignalQuality {
  let sum = 0;
  let clipped = 0;
  let prev = 0;
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i] as number;
    if (!Number.isFinite(x)) return { levelDb: -Infinity, clippedFraction: 0, invalid: true };
    sum += x * x;
    // Pairs, not single peaks: a clean peak touches 0.99 once, a clipped one stays there.
    if ((x >= 0.99 && prev >= 0.99) || (x <= -0.99 && prev <= -0.99)) clipped++;
    prev = x;
  }
  const ms = samples.length ? sum / samples.length : 0;
  return { levelDb: ms > 0 ? 10 * Math.log10(ms) : -Infinity, clippedFraction: samples.length ? clipped / samples.length : 0, invalid: false };
}
