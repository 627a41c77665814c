import { VoiceActivityDetector, type VoiceActivityOptions } from './VoiceActivity.ts';

/** AASIST's input: 4.0375 s at 16 kHz. */
export const AASIST_WINDOW_SAMPLES = 64600;

export interface AudioWindowerOptions {
  /** Samples per window. Default 64600 (AASIST). */
  windowLength?: number;
  /** Samples from one window start to the next. Default 32000 (2 s at 16 kHz): windows overlap by half. */
  hopLength?: number;
  /** Windows with a smaller fraction of voiced VAD frames are skipped. Default 0.3; 0 emits every window. */
  minVoicedFraction?: number;
  /** The detector to use, or options for a new one. Default: a 16 kHz VoiceActivityDetector with its defaults. */
  vad?: VoiceActivityDetector | VoiceActivityOptions;
  /** Window buffers kept for reuse once released. Default 4. */
  poolSize?: number;
}

export interface AudioWindow {
  /** Exactly windowLength samples, oldest first. Owned by the receiver; see AudioWindower.release. */
  samples: Float32Array;
  /** Index of the first sample in this stream's 16 kHz sample count. */
  startSample: number;
  /**
   * Fraction of the VAD frames lying wholly inside the window that were voiced: frames that sounded
   * like speech (and the hangover after them), not merely loud ones, so a beep or tone counts 0.
   */
  voicedFraction: number;
}

/**
 * Cuts a 16 kHz stream into fixed, overlapping windows for the audio model, skipping those with
 * too little speech: inference on silence costs as much as on speech and says nothing, and on
 * beeps, tones or noise it misleads (AASIST-L reads Chromium's fake-microphone beep as strongly
 * synthetic). The VAD counts only speech-like frames (see VoiceActivityDetector), so such windows
 * are skipped and counted in windowsSkippedNoSpeech.
 *
 * Samples live in a ring of one window; per-frame VAD decisions in a ring of one window's frames.
 * Memory is fixed whatever the input. A trailing partial window is never emitted.
 *
 * Emitted windows are copies, so they survive the ring moving on. They come from a small pool
 * when the consumer hands them back with release(), else from a fresh Float32Array: at one
 * 258 KB window per hop per stream, a forgotten release costs only garbage, never a leak or a
 * stall, while a consumer that does release allocates nothing in the steady state.
 */
export class AudioWindower {
  readonly windowLength: number;
  private hop: number;
  readonly minVoicedFraction: number;
  readonly vad: VoiceActivityDetector;
  private readonly ring: Float32Array;
  private writeAt = 0;
  /** Samples pushed so far; the stream position. */
  private total = 0;
  /** Stream position at which the next window is complete. */
  private nextEnd: number;
  private readonly frameLength: number;
  private readonly voicedFlags: Uint8Array;
  private framesDone = 0;
  private readonly pool: Float32Array[] = [];
  private readonly poolSize: number;
  private emittedCount = 0;
  private skippedCount = 0;
  private readonly onVadFrame = (voiced: boolean): void => {
    this.voicedFlags[this.framesDone % this.voicedFlags.length] = voiced ? 1 : 0;
    this.framesDone++;
  };

  constructor(options: AudioWindowerOptions = {}) {
    this.windowLength = options.windowLength ?? AASIST_WINDOW_SAMPLES;
    this.hop = options.hopLength ?? 32000;
    this.minVoicedFraction = options.minVoicedFraction ?? 0.3;
    this.poolSize = options.poolSize ?? 4;
    if (!Number.isInteger(this.windowLength) || this.windowLength < 1) throw new RangeError(`windowLength must be a positive integer, got ${this.windowLength}`);
    if (!Number.isInteger(this.hop) || this.hop < 1) throw new RangeError(`hopLength must be a positive integer, got ${this.hop}`);
    this.vad = options.vad instanceof VoiceActivityDetector ? options.vad : new VoiceActivityDetector(options.vad);
    this.frameLength = this.vad.frameLength;
    this.ring = new Float32Array(this.windowLength);
    this.voicedFlags = new Uint8Array(Math.ceil(this.windowLength / this.frameLength) + 2);
    this.nextEnd = this.windowLength;
  }

  get hopLength(): number {
    return this.hop;
  }

  /** Changes the hop; the window already due keeps its end, the ones after it use the new hop. */
  setHopLength(hopLength: number): void {
    if (!Number.isInteger(hopLength) || hopLength < 1) throw new RangeError(`hopLength must be a positive integer, got ${hopLength}`);
    this.hop = hopLength;
  }

  get samplesIn(): number {
    return this.total;
  }
  get windowsEmitted(): number {
    return this.emittedCount;
  }
  get windowsSkippedNoSpeech(): number {
    return this.skippedCount;
  }

  /** Appends samples, calling onWindow synchronously for each window they complete. */
  push(samples: Float32Array, onWindow: (window: AudioWindow) => void): void {
    const ring = this.ring;
    const size = ring.length;
    let at = 0;
    while (at < samples.length) {
      // Stop at each window end so the window is taken before its oldest samples are overwritten.
      const end = Math.min(samples.length, at + (this.nextEnd - this.total));
      this.vad.push(samples, this.onVadFrame, at, end);
      let w = this.writeAt;
      for (let i = at; i < end; i++) {
        ring[w] = samples[i] as number;
        if (++w === size) w = 0;
      }
      this.writeAt = w;
      this.total += end - at;
      at = end;
      if (this.total === this.nextEnd) {
        this.nextEnd += this.hop;
        this.emit(onWindow);
      }
    }
  }

  /**
   * Returns a window's buffer for reuse. Only call it once nothing reads the window any more:
   * the buffer will be overwritten by a later window.
   */
  release(samples: Float32Array): void {
    if (samples.length === this.windowLength && this.pool.length < this.poolSize && !this.pool.includes(samples)) this.pool.push(samples);
  }

  private emit(onWindow: (window: AudioWindow) => void): void {
    const end = this.total;
    const start = end - this.windowLength;
    // Every frame wholly inside [start, end) is complete by now: frames end at multiples of frameLength.
    const first = Math.ceil(start / this.frameLength);
    const last = Math.floor(end / this.frameLength);
    let voiced = 0;
    for (let f = first; f < last; f++) voiced += this.voicedFlags[f % this.voicedFlags.length] as number;
    const voicedFraction = last > first ? voiced / (last - first) : 0;
    if (voicedFraction < this.minVoicedFraction) {
      this.skippedCount++;
      return;
    }
    const out = this.pool.pop() ?? new Float32Array(this.windowLength);
    // writeAt is where the oldest sample of the window sits.
    out.set(this.ring.subarray(this.writeAt));
    out.set(this.ring.subarray(0, this.writeAt), this.ring.length - this.writeAt);
    this.emittedCount++;
    onWindow({ samples: out, startSample: start, voicedFraction });
  }
}
