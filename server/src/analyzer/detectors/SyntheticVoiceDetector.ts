/**
 * Synthetic speech (TTS, voice conversion) from AASIST / AASIST-L on one 4.04 s window of 16 kHz
 * speech. The model's bona fide logit s (higher = natural) has no fixed meaning across audio
 * sources, so it is read against a threshold calibrated by scripts/calibrate-voice.ts:
 *   suspicion = 1 / (1 + exp((s - threshold) / scale))   (0.5 at the threshold)
 * Each window is level-normalised first (normalizeLevel: the model's reading moves with volume).
 * It abstains when it cannot judge: too little speech, near silence, clipping, invalid samples, or
 * band-limited speech (nothing above 4.5 kHz: sampling/bandwidth.ts).
 */
import { Tensor } from 'onnxruntime-node';
import { AASIST_WINDOW_SAMPLES } from '../sampling/AudioWindower.ts';
import { highBandDb, NARROWBAND_DB } from '../sampling/bandwidth.ts';
import { abstain, type Detector, type Evidence, type SpeechWindow } from './Detector.ts';

export interface VoiceCalibration {
  model: 'aasist' | 'aasist-l';
  /** Bona fide logit at which the suspicion is 0.5. */
  threshold: number;
  /** Width of the logistic, in logit units: the suspicion is 0.27 / 0.73 one scale either side. */
  scale: number;
  /**
   * Robust peak each window is normalised to before inference (see normalizeLevel); default 0.9.
   * Part of the calibration: the logit moves with level, so the threshold holds only at this one.
   */
  peak?: number;
  /** Where the numbers came from (data, date, policy). */
  source: string;
}

/**
 * AASIST (the larger model), from `node scripts/calibrate-voice.ts --opus 32k` (policy in the
 * script's header), 2026-11-26, windows normalised to peak 0.9: real LibriSpeech mean +0.39
 * (p5 −2.73), espeak-ng/flite mean −6.03 (p95 −3.81); window AUC 0.995 (clip level 1.0), EER
 * 3.3%; at −2.99: 4.2% of real windows flagged (clean 4.6%, Opus 3.7%), 99.2% of synthetic ones.
 * The better detector here, at about 1.3x AASIST-L's CPU time (237 vs 184 ms per window in the
 * same run). Says nothing about modern neural TTS or voice cloning (none in the data).
 */
export const AASIST_VOICE_CALIBRATION: VoiceCalibration = {
  model: 'aasist',
  threshold: -2.99,
  scale: 1,
  peak: 0.9,
  source:
    'scripts/calibrate-voice.ts --opus 32k, 2026-11-26: AASIST on 108 LibriSpeech test-other windows (50 clips, 5 speakers) vs 60 espeak-ng/flite windows (36 clips, 12 voices), each clean and through Opus 32k, normalised to peak 0.9; AUC 0.995, EER 3.3%; threshold = most detection with <=5% false alarms on real windows per condition: 4.2% false alarms, 99.2% detected; scale = max(ML fit 0.47, 1)',
};

/**
 * AASIST-L, from `node scripts/calibrate-voice.ts --models aasist-l --peak 0.5 --opus 32k`,
 * 2026-11-26, same data. AASIST-L separates better at peak 0.5 than at 0.9 (AUC 0.981 vs 0.960,
 * where it detected only 67.5% within the false-alarm limit). Real mean +0.05, synthetic −5.79,
 * EER 5.9%; at −3.49: 3.7% of real windows flagged (clean 4.6%, Opus 2.8%), 91.7% of synthetic.
 */
export const AASIST_L_VOICE_CALIBRATION: VoiceCalibration = {
  model: 'aasist-l',
  threshold: -3.49,
  scale: 1,
  peak: 0.5,
  source:
    'scripts/calibrate-voice.ts --models aasist-l --peak 0.5 --opus 32k, 2026-11-26: AASIST-L on 108 LibriSpeech test-other windows (50 clips, 5 speakers) vs 60 espeak-ng/flite windows (36 clips, 12 voices), each clean and through Opus 32k, normalised to peak 0.5; AUC 0.981, EER 5.9%; threshold = most detection with <=5% false alarms on real windows per condition: 3.7% false alarms, 91.7% detected; scale = max(ML fit 0.68, 1)',
};

/**
 * Checked on modern voices (../shared/data/dev/voice: VALL-E, VALL-E X, YourTTS, WaveFake
 * vocoders vs LibriSpeech, VCTK, LJSpeech, EmoV-DB, Fisher), 2026-12-01, with
 * scripts/voice-scores.ts + scripts/calibrate-voice-groups.ts, leaving whole generators and whole
 * real corpora out: clip AUC 0.705 (per generator 0.61-0.87; Fisher's telephone-band reals 0.33,
 * they read synthetic). Refitted there (most detection with <= 5% of real clips flagged), the
 * threshold lands at -4.9 to -5.2 and catches 0-11% of each held-out generator, while Fisher
 * held out gets 63% false alarms: no threshold on these scores generalises, so this one stays
 * (on dev it flags 10% of real clips, 5 of Fisher's 8, and 31% of fakes). See the analyzer README.
 *
 * The calibration for the model the analyzer loads (AASIST-L). A calibration only holds for its
 * own model and peak: load `DEFAULT_VOICE_CALIBRATION.model`, or switch both to AASIST together.
 */
export const DEFAULT_VOICE_CALIBRATION: VoiceCalibration = AASIST_L_VOICE_CALIBRATION;

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
    if (calibration.peak !== undefined && !(calibration.peak > 0 && calibration.peak <= 1)) throw new RangeError(`calibration peak must be in (0, 1], got ${calibration.peak}`);
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

  /**
   * The abstention for a window the model should not judge, or undefined when it can: the checks
   * analyse() makes before inference (the calibration script applies the same ones).
   */
  precheck(w: SpeechWindow): Evidence | undefined {
    const s = this.screen(w);
    return 'skip' in s ? s.skip : undefined;
  }

  private screen(w: SpeechWindow): { skip: Evidence } | { q: SignalQuality } {
    if (w.samples.length !== AASIST_WINDOW_SAMPLES) {
      throw new RangeError(`speech window of ${w.samples.length} samples; AASIST takes exactly ${AASIST_WINDOW_SAMPLES}`);
    }
    const pct = (x: number): number => Math.round(x * 100);
    if (!(w.voicedFraction >= this.minVoiced)) {
      const reason = `Too little speech in this stretch to judge the voice (${pct(w.voicedFraction)}% voiced; ${pct(this.minVoiced)}% needed).`;
      return { skip: abstain(this.id, w.at, reason, { voicedFraction: round(w.voicedFraction) }) };
    }
    const q = signalQuality(w.samples);
    if (q.invalid) return { skip: abstain(this.id, w.at, 'The audio contains invalid samples, so the voice cannot be judged.') };
    if (q.levelDb < this.minLevelDb) {
      return { skip: abstain(this.id, w.at, `The audio is too quiet to judge the voice (${fmt(q.levelDb)} dBFS).`, { levelDb: round(q.levelDb, 1) }) };
    }
    if (q.clippedFraction > this.maxClipped) {
      // Clipping moves the logit both ways: hard-clipped espeak-ng/flite speech (gain x20) scored
      // +1.3 on average (natural), up from -5, while one real clip fell to -4.6. Nothing to judge by.
      const reason = 'The audio is clipped (microphone overloaded), which distorts what the voice model listens to.';
      return { skip: abstain(this.id, w.at, reason, { clippedFraction: round(q.clippedFraction, 4) }) };
    }
    // Band-limited speech (bandwidth.ts): the model reads real narrowband voices as synthetic and
    // does not separate narrowband fakes from them, so a reading would be a guess.
    const band = highBandDb(w.samples);
    if (band !== undefined && band < NARROWBAND_DB) {
      const reason = 'The voice is band-limited (almost nothing above 4.5 kHz: a telephone line, a headset in its call mode or a starved connection), and the voice model cannot tell natural from synthetic speech in that band.';
      return { skip: abstain(this.id, w.at, reason, { highBandDb: round(Math.max(band, -120), 1) }) };
    }
    return { q };
  }

  async analyse(w: SpeechWindow): Promise<Evidence> {
    const screened = this.screen(w);
    if ('skip' in screened) return screened.skip;
    const { q } = screened;
    const level = normalizeLevel(w.samples, this.calibration.peak ?? TARGET_PEAK);
    const out = await this.runner.run({ waveform: new Tensor('float32', level.samples, [1, AASIST_WINDOW_SAMPLES]) }, w.priority);
    const bonaFide = Number(out.logits?.data[1]);
    if (!Number.isFinite(bonaFide)) throw new Error(`${this.calibration.model} returned no usable logits[0][1]`);

    const { threshold, scale } = this.calibration;
    const score = this.suspicion(bonaFide);
    // Confidence = speech quantity x margin. Speech: 0.5 at minVoicedFraction rising linearly to 1
    // at fullVoicedFraction, since fewer voiced frames give the model less to hear.
    // Margin: |2·score − 1| (0 at the threshold, towards 1 far from it), floored at 0.3 so a
    // borderline reading still counts a little. Model reliability is not in here: the fusion
    // weight carries it (risk-config.json).
    // A window repeated from shorter speech (2-4 s) holds less to hear than a full one: its speech
    // term scales down with the share of the window that is new audio (2 s: x0.75, 3 s: x0.87).
    const voiced = this.fullVoiced > this.minVoiced ? 0.5 + 0.5 * Math.min(1, (w.voicedFraction - this.minVoiced) / (this.fullVoiced - this.minVoiced)) : 1;
    const repeated = w.speechSamples !== undefined && w.speechSamples < AASIST_WINDOW_SAMPLES;
    const speech = repeated ? voiced * (0.5 + 0.5 * (w.speechSamples! / AASIST_WINDOW_SAMPLES)) : voiced;
    const margin = Math.abs(2 * score - 1);
    const confidence = speech * (0.3 + 0.7 * margin);

    const reading = `bona fide score ${fmt(bonaFide)}${repeated ? `, from ${(w.speechSamples! / 16000).toFixed(1)} s of speech` : ''}`;
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
        ...(repeated ? { speechSeconds: round(w.speechSamples! / 16000, 2) } : {}),
        levelDb: round(q.levelDb, 1),
        gainDb: round(level.gainDb, 1),
        clippedFraction: round(q.clippedFraction, 4),
      },
    };
  }
}

/** Default level the model input is brought to: see normalizeLevel. */
export const TARGET_PEAK = 0.9;
const PEAK_QUANTILE = 0.999;

/**
 * Scales a window so its robust peak (99.9th percentile of |x|, so one click cannot set the gain)
 * sits at `peak` of full scale, clamping the few samples above. AASIST's logit depends on level:
 * attenuating espeak-ng/flite speech by 20 dB raised AASIST-L's bona fide score from about −5 to
 * −0.7, past any usable threshold. Normalising makes the reading independent of microphone gain,
 * and turning the volume down no way past it. On the calibration windows it also separated the
 * classes better than raw input: AASIST AUC 0.994 (at 0.9) vs 0.974 raw; AASIST-L 0.973 (at
 * 0.5) vs 0.956 raw, but 0.960 at 0.9 (scripts/calibrate-voice.ts, 168 clean windows).
 */
export function normalizeLevel(samples: Float32Array, peak = TARGET_PEAK, out = new Float32Array(samples.length)): { samples: Float32Array; gainDb: number } {
  if (!(peak > 0 && peak <= 1)) throw new RangeError(`peak must be in (0, 1], got ${peak}`);
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
  const robustPeak = Math.max((bin / bins) * max, max / 64); // never more than 36 dB above the true peak
  const gain = peak / robustPeak;
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
