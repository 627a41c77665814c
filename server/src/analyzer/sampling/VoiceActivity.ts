export interface VoiceActivityOptions {
  /** Default 16000. */
  sampleRate?: number;
  /** Analysis frame length. Default 20 ms (320 samples at 16 kHz). */
  frameMs?: number;
  /** A frame is speech when its energy is this far above the noise floor. Default 12 dB. */
  thresholdDb?: number;
  /** ...and at least this loud, in dB relative to a full-scale square wave. Default -50 dBFS. */
  minSpeechDb?: number;
  /** The noise floor is the quietest frame over this span. Default 1500 ms. */
  noiseWindowMs?: number;
  /** Lowest noise floor assumed, so digital silence does not make any faint hiss "speech". Default -75 dBFS. */
  floorMinDb?: number;
  /** Frames stay voiced this long after the last loud one, bridging gaps between syllables. Default 200 ms. */
  hangoverMs?: number;
}

/**
 * Energy-based voice-activity detector for 16 kHz mono Float32 audio.
 *
 * Per frame: energy E = 10·log10(mean(x²)) dBFS. The noise floor is the minimum of E over the last
 * `noiseWindowMs` (minimum statistics: speech has pauses between syllables and words, so the
 * minimum over 1.5 s lands on the background, while stationary noise — fan, hum, line hiss — sits
 * at its own minimum and never rises above it by `thresholdDb`). The current frame takes part in
 * the minimum, so a steady sound is never speech, even at the start of a stream.
 * Voiced when E ≥ floor + thresholdDb and E ≥ minSpeechDb, held for `hangoverMs` afterwards.
 *
 * Limits: it measures loudness changes, not voice. Music or knocking counts as speech, a sustained
 * note longer than the noise window does not, and the first word after a stream starts mid-speech
 * is missed until the first pause. Good enough to skip silent windows before expensive inference.
 */
export class VoiceActivityDetector {
  readonly frameLength: number;
  private readonly thresholdDb: number;
  private readonly minSpeechDb: number;
  private readonly floorMinDb: number;
  private readonly hangoverFrames: number;
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
  }

  /** Energy of the last classified frame, dBFS. */
  get energyDb(): number {
    return this.energy;
  }
  /** Noise floor used for the last classified frame, dBFS. */
  get noiseFloorDb(): number {
    return this.floor;
  }

  /** Classifies one frame: the `frameLength` samples of `samples` from `offset` (fewer if it ends first). */
  classify(samples: Float32Array, offset = 0): boolean {
    const end = Math.min(samples.length, offset + this.frameLength);
    let sum = 0;
    for (let i = offset; i < end; i++) {
      const x = samples[i] as number;
      sum += x * x;
    }
    return this.decide(end > offset ? sum / (end - offset) : 0);
  }

  /**
   * Streaming use: feeds `samples[start..end)` and calls `onFrame` for each frame they complete.
   * Frames are cut at multiples of `frameLength` from the first sample ever pushed.
   */
  push(samples: Float32Array, onFrame: (voiced: boolean) => void, start = 0, end = samples.length): void {
    const n = this.frameLength;
    let sum = this.sumSquares;
    let count = this.count;
    for (let i = start; i < end; i++) {
      const x = samples[i] as number;
      sum += x * x;
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
    if (e >= this.floor + this.thresholdDb && e >= this.minSpeechDb) {
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
