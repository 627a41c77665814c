/**
 * The voice-pitch cue (PitchJitterDetector): a voice whose pitch glides reads human, one whose pitch
 * steps irregularly reads generated, and it abstains where there is no clear voiced sound. On
 * synthetic voices where the answer is known by construction, then on matched dev/voice clips
 * (a corpus's real speaker against a generator imitating that corpus).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeAudio } from '../../../server/src/analyzer/audio/decode.ts';
import { PitchJitterDetector, PitchTracker, type PitchFrame } from '../../../server/src/analyzer/detectors/PitchJitterDetector.ts';
import { DATA_DIR } from '../../helpers/images.ts';

const RATE = 16_000;

/** A voiced sound: 8 harmonics falling 6 dB per octave, its pitch (Hz) given per sample, phase-continuous. */
function voice(seconds: number, f0At: (t: number) => number, noise = 0, seed = 1): Float32Array {
  const x = new Float32Array(Math.round(seconds * RATE));
  let phase = 0;
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  for (let i = 0; i < x.length; i++) {
    phase += (2 * Math.PI * f0At(i / RATE)) / RATE;
    let v = 0;
    for (let h = 1; h <= 8; h++) v += Math.sin(h * phase) / h;
    x[i] = 0.2 * v + noise * rand();
  }
  return x;
}

/** Pitch that steps to a new random offset (within +-cents) every `everyMs`. */
function stepping(base: number, cents: number, everyMs: number, seed = 7): (t: number) => number {
  let s = seed;
  const offsets = Array.from({ length: 2000 }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1);
  return (t) => base * 2 ** ((cents * offsets[Math.floor((t * 1000) / everyMs)]!) / 1200);
}

/** Feeds `x` in 10 ms blocks, as the analyzer does, and judges at its end. */
function judge(x: Float32Array, d = new PitchJitterDetector()) {
  for (let k = 0; k + 160 <= x.length; k += 160) d.observeSpeech({ at: (k / RATE) * 1000, rms: 0, samples: x.subarray(k, k + 160) });
  return d.evaluate((x.length / RATE) * 1000);
}

describe('PitchTracker', () => {
  // Like any autocorrelation tracker without an octave cost it may pick a multiple of the period
  // on a perfectly periodic tone; a step in cents is the same either way, and jumps between
  // multiples (over 200 cents) are left out of the wobble.
  it('finds the period of a harmonic voice (or a multiple of it) to within a few cents, as clearly periodic', () => {
    const t = new PitchTracker();
    const frames: [PitchFrame, PitchFrame] = [
      { cents: 0, periodicity: 0, rms: 0 },
      { cents: 0, periodicity: 0, rms: 0 },
    ];
    for (const f0 of [90, 150, 240, 380]) {
      const x = voice(0.1, () => f0);
      t.pair(x, 0, 80, frames);
      for (const f of frames) {
        const multiple = Math.round(f0 / 2 ** (f.cents / 1200));
        expect(multiple).toBeGreaterThanOrEqual(1);
        expect(Math.abs(f.cents - 1200 * Math.log2(f0 / multiple))).toBeLessThan(5);
        expect(f.periodicity).toBeGreaterThan(0.95);
      }
    }
  });
});

describe('PitchJitterDetector', () => {
  it('reads a pitch that glides (a slow rise and a 5 Hz vibrato) as human', () => {
    const e = judge(voice(4, (t) => 120 * 2 ** ((200 * t) / 4 / 1200) * 2 ** ((20 * Math.sin(2 * Math.PI * 5 * t)) / 1200)));
    expect(e.score).toBeLessThan(0.2);
    expect(e.confidence).toBe(1);
    expect(e.reason).toMatch(/glides smoothly/);
  });

  it('reads a pitch that steps irregularly every 10 ms (by up to 50 cents) as generated, and says by how much', () => {
    const e = judge(voice(4, stepping(140, 50, 10)));
    expect(e.score).toBeGreaterThan(0.8);
    expect(e.reason).toMatch(/wobbles in small irregular steps \([\d.]+ cents/);
    expect(Number(e.details?.medianWobbleCents)).toBeGreaterThan(3);
  });

  it('abstains on silence, on noise and on a voice too short to measure', () => {
    expect(judge(new Float32Array(4 * RATE)).score).toBeUndefined();
    let s = 3;
    const noise = Float32Array.from({ length: 4 * RATE }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.5);
    const e = judge(noise);
    expect(e.score).toBeUndefined();
    expect(e.reason).toMatch(/Not enough clear voiced speech/);
    expect(judge(voice(0.1, () => 140)).score).toBeUndefined();
  });

  it('forgets what is older than its window', () => {
    const d = new PitchJitterDetector({ windowMs: 5000 });
    const x = voice(4, stepping(140, 50, 10));
    judge(x, d);
    expect(d.evaluate(4000).score).toBeGreaterThan(0.8);
    expect(d.evaluate(10_000).score).toBeUndefined();
  });

  // Matched by corpus: the generator imitates that corpus's speakers (dev/DEV.md).
  it.each([
    ['VCTK', 'real/vallex_vctk_vctk_p233_prompt.wav', 'fake/vallex_vctk_vctk_p262_ours_MS-VALL-E.wav'],
    ['LibriSpeech', 'real/vallex_librispeech_librispeech_1284-1180-0002_prompt.wav', 'fake/vallex_librispeech_librispeech_1089-134686-0004_yourtts_YourTTS.wav'],
  ])('on dev/voice %s: the real speaker reads human, the generated voice generated', async (_corpus, real, fake) => {
    const dir = join(DATA_DIR, 'dev', 'voice');
    const r = judge(await decodeAudio(join(dir, real)));
    const f = judge(await decodeAudio(join(dir, fake)));
    expect(r.score).toBeLessThan(0.5);
    expect(f.score).toBeGreaterThan(0.5);
  });
});
