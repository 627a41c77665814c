/**
 * Removes a microphone's DC offset (and drift below ~13 Hz) from 16 kHz audio, in place, before
 * anything measures it: the one-pole high-pass y[n] = x[n] - x[n-1] + R * y[n-1], R = 0.995.
 *
 * Why: every level downstream is a mean square, so a constant offset of 0.1 (-20 dBFS) sits in the
 * voice gate's noise floor and speech at -30 dBFS never rises 12 dB above it: the caller's speech is
 * skipped as silence and the voice is never judged. The voice model's level normalisation reads
 * the offset as peak too, and the lip-sync energy follows it. Browsers remove it before sending
 * (WebRTC's audio processing high-passes the microphone), but a native client, a raw capture
 * device or a file need not; the analyzer must not depend on the sender for this. At 13 Hz the
 * filter is far below any voice (70 Hz and up) and below the voice model's first filters.
 */
export class DcBlocker {
  private readonly r: number;
  private x1 = 0;
  private y1 = 0;

  /** `cutoffHz` (default 12.7 Hz, R = 0.995 at 16 kHz) sets R = 1 - 2π·cutoff/rate. */
  constructor(sampleRate = 16000, cutoffHz = 12.7) {
    if (!(sampleRate > 0 && cutoffHz > 0 && cutoffHz < sampleRate / 4)) throw new RangeError(`DC blocker at ${cutoffHz} Hz for ${sampleRate} Hz audio`);
    this.r = 1 - (2 * Math.PI * cutoffHz) / sampleRate;
  }

  /** Filters `samples` in place, continuing from the previous block; returns it. */
  process(samples: Float32Array): Float32Array {
    let { x1, y1 } = this;
    const r = this.r;
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i] as number;
      // Non-finite input passes through (the voice model abstains on it) without poisoning the state.
      if (!Number.isFinite(x)) continue;
      const y = x - x1 + r * y1;
      x1 = x;
      y1 = y;
      samples[i] = y;
    }
    this.x1 = x1;
    this.y1 = y1;
    return samples;
  }

  reset(): void {
    this.x1 = 0;
    this.y1 = 0;
  }
}
