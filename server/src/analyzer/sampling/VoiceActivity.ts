import { SpeechLikeness, type SpeechFeatures, type SpeechLikenessOptions } from './speechLikeness.ts';

export interface VoiceActivityOptions {
  /** Default 16000. */
  sampleRate?: number;
  /** Analysis frame length. Default 20 ms (320 samples at 16 kHz). */
  frameMs?: number;
  /** A frame is loud when its energy is this far above the noise floor. Default 12 dB. */
  thresholdDb?: number;
  /** ...and at least this loud, in dB relative to a full-scale square wave. Default -50 dBFS. */
  minSpeechDb?: number;
  /** The noise floor is the quietest frame over this span. Default 1500 ms. */
  noiseWindowMs?: number;
  /** Lowest noise floor assumed, so digital silence does not make any faint hiss "speech". Default -75 dBFS. */
  floorMinDb?: number;
  /** Frames stay voiced this long after the last speech frame, bridging gaps between syllables. Default 200 ms. */
  hangoverMs?: number;
  /**
   * Whether a loud frame must also sound like speech (see speechLikeness.ts), with its thresholds.
   * Default true; false gives the plain energy detector, where every loud frame is speech.
   */
  speech?: boolean | Omit<SpeechLikenessOptions, 'sampleRate' | 'frameLength'>;
  /** A speech-like frame starts voice only with this many speech-like frames within `speechSpanMs`, itself included. Default 4. */
  speechMinFrames?: number;
  /** Default 400 ms. */
  speechSpanMs?: number;
}

/**
 * Voice-activity detector for 16 kHz mono Float32 audio: loud frames that sound like speech.
 *
 * Loud: per frame, energy E = 10·log10(mean(x²)) dBFS. The noise floor is the minimum of E over the
 * last `noiseWindowMs` (minimum statistics: speech has pauses between syllables and words, so the
 * minimum over 1.5 s lands on the background, while stationary noise — fan, hum, line hiss — sits
 * at its own minimum and never rises above it by `thresholdDb`). The current frame takes part in
 * the minimum, so a steady sound is never speech, even at the start of a stream.
 * Loud when E ≥ floor + thresholdDb and E ≥ minSpeechDb.
 *
 * Speech: loudness alone passes anything that switches on and off — beeps, tone sequences, noise
 * bursts — and a beeping device then reached the voice model as "speech". So a loud frame counts
 * only when it also looks like speech (SpeechLikeness: not a tone or two, voiced with a 70–400 Hz
 * pitch, not a steady buzz), and voice starts only once `speechMinFrames` such frames fall within
 * `speechSpanMs` (4 in 400 ms): a beep's switch-on can pass for a frame or three, speech keeps
 * passing. Voiced frames are held for `hangoverMs` afterwards, which also bridges the unvoiced
 * consonants the speech test rejects. The first ~60 ms of each utterance are not voiced.
 *
 * Limits: music or singing counts as speech; a sustained note longer than the noise window does
 * not, and the first word after a stream starts mid-speech is missed until the first pause. Good
 * enough to skip windows with nothing to judge before expensive inference.
 */
export class VoiceActivityDetector {
  readonly frameLength: number;
  private readonly thresholdDb: number;
  private readonly minSpeechDb: number;
  private readonly floorMinDb: number;
  private readonly hangoverFrames: number;
  /** Absent for the plain energy detector. */
  private readonly speech: SpeechLikeness | undefined;
  private readonly speechMinFrames: number;
  /** Ring of recent speech-like flags (1/0) over speechSpanMs, and how many are set. */
  private readonly speechFlags: Uint8Array;
  private speechAt = 0;
  private speechCount = 0;
  private loudFrame = false;
  private speechFrame = false;
  /** Ring of recent frame energies (dB) for the sliding minimum. */
  private readonly history: Float32Array;
  private historyAt = 0;
  private hangover = 0;
  private sumSquares = 0;
  private count = 0;
  private energy = -100;
  private floor = -100;

  constructor(options: VoiceActivityOptions = {}) {
    const sampleRate = options.sampleRate ?? 16000;
    this.frameLength = Math.round(((options.frameMs ?? 20) * sampleRate) / 1000);
    if (!(this.frameLength >= 1)) throw new RangeError(`frame of ${this.frameLength} samples`);
    const frameMs = (this.frameLength * 1000) / sampleRate;
    this.thresholdDb = options.thresholdDb ?? 12;
    this.minSpeechDb = options.minSpeechDb ?? -50;
    this.floorMinDb = options.floorMinDb ?? -75;
    this.hangoverFrames = Math.round((options.hangoverMs ?? 200) / frameMs);
    this.history = new Float32Array(Math.max(1, Math.round((options.noiseWindowMs ?? 1500) / frameMs))).fill(Infinity);
    const speech = options.speech ?? true;
    this.speech = speech === false ? undefined : new SpeechLikeness({ ...(speech === true ? {} : speech), sampleRate, frameLength: this.frameLength });
    this.speechMinFrames = Math.max(1, Math.round(options.speechMinFrames ?? 4));
    this.speechFlags = new Uint8Array(Math.max(this.speechMinFrames, Math.round((options.speechSpanMs ?? 400) / frameMs)));
  }

  /** Energy of the last classified frame, dBFS. */
  get energyDb(): number {
    return this.energy;
  }
  /** Noise floor used for the last classified frame, dBFS. */
  get noiseFloorDb(): number {
    return this.floor;
  }
  /** Whether the last classified frame was loud (energy alone). */
  get loud(): boolean {
    return this.loudFrame;
  }
  /** Whether the last classified frame was loud and sounded like speech (before the frame count and hangover). */
  get speechLike(): boolean {
    return this.speechFrame;
  }
  /** Whether loud frames must also sound like speech. */
  get checksSpeech(): boolean {
    return this.speech !== undefined;
  }
  /** What the speech test saw in the last classified frame (all 0 when it did not run). */
  get speechFeatures(): Readonly<SpeechFeatures> | undefined {
    return this.speech?.features;
  }

  /** Classifies one frame: the `frameLength` samples of `samples` from `offset` (fewer if it ends first). */
  classify(samples: Float32Array, offset = 0): boolean {
    const end = Math.min(samples.length, offset + this.frameLength);
    const win = this.speech?.window;
    const n = this.frameLength;
    let sum = 0;
    for (let i = offset; i < end; i++) {
      const x = samples[i] as number;
      sum += x * x;
      if (win) win[n + i - offset] = x;
    }
    if (win) win.fill(0, n + Math.max(0, end - offset));
    return this.decide(end > offset ? sum / (end - offset) : 0);
  }

  /**
   * Streaming use: feeds `samples[start..end)` and calls `onFrame` for each frame they complete.
   * Frames are cut at multiples of `frameLength` from the first sample ever pushed.
   */
  push(samples: Float32Array, onFrame: (voiced: boolean) => void, start = 0, end = samples.length): void {
    const n = this.frameLength;
    // The speech test reads the current frame from win[n..2n).
    const win = this.speech?.window;
    let sum = this.sumSquares;
    let count = this.count;
    for (let i = start; i < end; i++) {
      const x = samples[i] as number;
      sum += x * x;
      if (win) win[n + count] = x;
      if (++count === n) {
        onFrame(this.decide(sum / n));
        sum = 0;
        count = 0;
      }
    }
    this.sumSquares = sum;
    this.count = count;
  }

  reset(): void {
    this.history.fill(Infinity);
    this.historyAt = 0;
    this.hangover = 0;
    this.sumSquares = 0;
    this.count = 0;
    this.energy = -100;
    this.floor = -100;
    this.speech?.reset();
    this.speechFlags.fill(0);
    this.speechAt = 0;
    this.speechCount = 0;
    this.loudFrame = false;
    this.speechFrame = false;
  }

  private decide(meanSquare: number): boolean {
    // 0 dB is a full-scale square wave; a full-scale sine is -3 dB. The epsilon floors silence at -100.
    const e = 10 * Math.log10(meanSquare + 1e-10);
    this.history[this.historyAt] = e;
    this.historyAt = (this.historyAt + 1) % this.history.length;
    let min = Infinity;
    for (let i = 0; i < this.history.length; i++) min = Math.min(min, this.history[i] as number);
    this.energy = e;
    this.floor = Math.max(min, this.floorMinDb);
    const loud = e >= this.floor + this.thresholdDb && e >= this.minSpeechDb;
    this.loudFrame = loud;
    let start = loud;
    if (this.speech) {
      // Only loud frames are analysed: silence costs no FFT.
      const speech = this.speech.next(loud);
      this.speechFrame = speech;
      const flag = speech ? 1 : 0;
      this.speechCount += flag - (this.speechFlags[this.speechAt] as number);
      this.speechFlags[this.speechAt] = flag;
      this.speechAt = (this.speechAt + 1) % this.speechFlags.length;
      start = speech && this.speechCount >= this.speechMinFrames;
    } else {
      this.speechFrame = loud;
    }
    if (start) {
      this.hangover = this.hangoverFrames;
      return true;
    }
    if (this.hangover > 0) {
      this.hangover--;
      return true;
    }
    return false;
  }
}
