/** Signal analysis helpers for asserting on decoded media. */
import type { I420Frame } from '../../server/src/headless/wrtc.ts';

export function meanLuma(frame: I420Frame): number {
  const n = frame.width * frame.height;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += frame.data[i] ?? 0;
  return sum / n;
}

/** Power of one frequency in a PCM buffer (Goertzel), normalised by length. */
export function tonePower(samples: Int16Array | Float32Array, sampleRate: number, hz: number): number {
  const k = (2 * Math.PI * hz) / sampleRate;
  const coeff = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = (samples[i] ?? 0) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.length * samples.length);
}
