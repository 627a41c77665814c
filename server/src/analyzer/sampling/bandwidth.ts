/**
 * Is this speech band-limited? The share of a window's speech energy above 4.5 kHz, in dB.
 *
 * Why: AASIST-L cannot judge narrowband speech (a telephone line, a Bluetooth headset in its call
 * mode, which samples at 8 kHz, or Opus squeezed to its narrowband mode): on
 * ../shared/data/dev/voice the Fisher telephone corpus's real and fake clips score alike (AUC
 * 0.50 within the corpus, 8 real / 8 fake), its reals read synthetic (5 of 8 flagged; bona fide
 * mean -4.9 against -0.8 for wideband reals), and band-limiting every dev clip cost the wideband
 * corpora most of what the model sees in them (VCTK 0.93 -> 0.76, EmoV-DB 0.91 -> 0.64;
 * EVALUATION.md). A reading there is a guess, so the voice check abstains instead.
 *
 * Measure: 512-point Hann frames over the window (no overlap), the frames within 30 dB of the
 * loudest (speech, not the pauses' noise floor) summed, and the power in 4.5-7.6 kHz over the
 * power in 0.1-7.6 kHz. 4.5 kHz, not 4: a telephone channel's filter skirt and the resampler's
 * leave a little just above 4 kHz. Cost: ~126 FFTs of 512 points per 4.04 s window, ~2 ms.
 *
 * Threshold NARROWBAND_DB = -45 dB, from ../shared/data only (not the dev set): 81 LibriSpeech
 * windows at 16 kHz read -27.5 dB at the lowest (median -17.7), and the same windows through a
 * simulated telephone channel (300-3400 Hz, 8 kHz, mu-law) -50.3 dB at the highest (median
 * -63.9); -45 sits 5 dB above that, so only clearly band-limited speech is refused.
 */
import { RadixTwoFft } from './fft.ts';

export const NARROWBAND_DB = -45;
/** The lower edge of the band whose energy wideband speech has and narrowband speech lacks. */
export const HIGH_BAND_HZ = 4500;

const N = 512;
const plan = new RadixTwoFft(N);
const hann = Float64Array.from({ length: N }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / N));
const re = new Float64Array(N);
const im = new Float64Array(N);
/** Per-frame spectra and energies, grown to the longest window seen and reused (a 4.04 s window: 126 x 257). */
let spectra = new Float64Array(0);
let energy = new Float64Array(0);

/**
 * Energy above HIGH_BAND_HZ as a share of the speech band's, in dB (−Infinity: none at all), over
 * the loud frames of `samples`; undefined when the window holds no energy to judge.
 */
export function highBandDb(samples: Float32Array, sampleRate = 16000): number | undefined {
  const frames = Math.floor(samples.length / N);
  if (frames < 1) return undefined;
  const bins = N / 2 + 1;
  if (spectra.length < frames * bins) {
    spectra = new Float64Array(frames * bins);
    energy = new Float64Array(frames);
  }
  let loudest = 0;
  for (let f = 0; f < frames; f++) {
    const at = f * N;
    for (let i = 0; i < N; i++) re[i] = (samples[at + i] as number) * (hann[i] as number);
    im.fill(0);
    plan.run(re, im);
    let e = 0;
    for (let k = 0; k < bins; k++) {
      const p = (re[k] as number) ** 2 + (im[k] as number) ** 2;
      spectra[f * bins + k] = p;
      e += p;
    }
    energy[f] = e;
    if (e > loudest) loudest = e;
  }
  if (!(loudest > 0)) return undefined;
  const hz = sampleRate / N;
  const lo = Math.ceil(100 / hz);
  const split = Math.ceil(HIGH_BAND_HZ / hz);
  const top = Math.min(bins - 1, Math.floor(7600 / hz));
  const floor = loudest * 1e-3; // 30 dB under the loudest frame
  let high = 0;
  let total = 0;
  for (let f = 0; f < frames; f++) {
    if ((energy[f] as number) < floor) continue;
    for (let k = lo; k <= top; k++) {
      const p = spectra[f * bins + k] as number;
      total += p;
      if (k >= split) high += p;
    }
  }
  if (!(total > 0)) return undefined;
  return 10 * Math.log10(high / total);
}
