/**
 * The synthetic-voice path with the real AASIST models: real LibriSpeech speech against espeak-ng
 * and flite speech made on the spot. What it proves: the models, the decoding, the level
 * normalisation and the calibrated threshold separate read human speech from old-style TTS, and
 * the detector abstains where there is nothing to judge. What it cannot prove: anything about
 * modern neural TTS or voice cloning (none here), which the model card says often passes as real.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AASIST_WINDOW_SAMPLES, decodeAudio, fitToLength, windowsOf } from '../../server/src/analyzer/audio/decode.ts';
import { synthesize, TTS_SENTENCES, voiceLabel, type TtsVoice } from '../../server/src/analyzer/audio/tts.ts';
import type { SpeechWindow } from '../../server/src/analyzer/detectors/Detector.ts';
import {
  AASIST_L_VOICE_CALIBRATION,
  AASIST_VOICE_CALIBRATION,
  DEFAULT_VOICE_CALIBRATION,
  normalizeLevel,
  SyntheticVoiceDetector,
  type VoiceCalibration,
  type VoiceModelRunner,
} from '../../server/src/analyzer/detectors/SyntheticVoiceDetector.ts';
import { InferenceRuntime, type LoadedModel } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import { AudioWindower } from '../../server/src/analyzer/sampling/AudioWindower.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const dataDir = process.env.DFS_DATA_DIR ?? resolve(repoRoot, '../shared/data');
const speechDir = join(dataDir, 'speech', 'librispeech');

// A spread of speakers (4 of the 5, two clips each) and of engines (4 espeak-ng, 4 flite voices),
// one 4.04 s window per clip: enough to compare class means within ~20 s of CPU inference.
const REAL_CLIPS = [
  '1688/1688-142285-0000.flac',
  '1688/1688-142285-0004.flac',
  '1998/1998-15444-0000.flac',
  '1998/1998-15444-0004.flac',
  '2414/2414-128291-0000.flac',
  '2414/2414-128291-0004.flac',
  '2609/2609-156975-0000.flac',
  '2609/2609-156975-0004.flac',
];
const SYNTH_VOICES: TtsVoice[] = [
  { engine: 'espeak-ng', voice: 'en-us' },
  { engine: 'espeak-ng', voice: 'en+f3', speed: 165 },
  { engine: 'espeak-ng', voice: 'en-gb-x-rp+f2', speed: 190 },
  { engine: 'espeak-ng', voice: 'en-029+klatt', speed: 170 },
  { engine: 'flite', voice: 'slt' },
  { engine: 'flite', voice: 'awb' },
  { engine: 'flite', voice: 'rms' },
  { engine: 'flite', voice: 'kal16' },
];

const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
const real: Float32Array[] = [];
const synth: { label: string; window: Float32Array }[] = [];

function requireTool(bin: string, args: string[]): void {
  try {
    execFileSync(bin, args, { stdio: 'ignore' });
  } catch {
    throw new Error(`${bin} is needed for this test (Debian: apt-get install ${bin})`);
  }
}

beforeAll(async () => {
  if (!existsSync(speechDir)) {
    throw new Error(`LibriSpeech clips not found at ${speechDir}: set DFS_DATA_DIR to the shared data folder (see shared/data/DATA.md)`);
  }
  requireTool('ffmpeg', ['-version']);
  requireTool('espeak-ng', ['--version']);
  requireTool('flite', ['-lv']);
  for (const clip of REAL_CLIPS) {
    const file = join(speechDir, clip);
    if (!existsSync(file)) throw new Error(`missing ${file}; found: ${readdirSync(speechDir).join(', ')}`);
    real.push(windowsOf(await decodeAudio(file), { max: 1 })[0]!);
  }
  for (const [i, voice] of SYNTH_VOICES.entries()) {
    synth.push({ label: voiceLabel(voice), window: windowsOf(await synthesize(TTS_SENTENCES[i]!, voice), { max: 1 })[0]! });
  }
});
afterAll(() => runtime.close());

async function bonaFide(model: LoadedModel, w: Float32Array, peak: number): Promise<number> {
  const out = await model.run({ waveform: new Tensor('float32', normalizeLevel(w, peak).samples, [1, AASIST_WINDOW_SAMPLES]) });
  return out.logits!.data[1] as number;
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The first window AudioWindower cuts from the clip, with its real VAD voiced fraction. */
function speechWindow(samples: Float32Array, at = 0): SpeechWindow {
  const windower = new AudioWindower({ minVoicedFraction: 0 });
  let first: SpeechWindow | undefined;
  windower.push(samples.length >= AASIST_WINDOW_SAMPLES ? samples : fitToLength(samples), (w) => {
    first ??= { samples: w.samples, voicedFraction: w.voicedFraction, at, priority: 0 };
  });
  if (!first) throw new Error('no window');
  return first;
}

/** Counts calls and remembers priorities: proves abstentions skip the model. */
function spy(runner: VoiceModelRunner) {
  const calls: (number | undefined)[] = [];
  const wrapped: VoiceModelRunner = {
    run: (feeds: Record<string, Tensor>, priority?: number) => {
      calls.push(priority);
      return runner.run(feeds);
    },
  };
  return { runner: wrapped, calls };
}

// The calibrations scripts/calibrate-voice.ts produced (numbers and provenance beside them in
// SyntheticVoiceDetector.ts); the default is AASIST-L's, the model the analyzer loads.
const CALIBRATIONS: [string, VoiceCalibration][] = [
  ['AASIST-L (default)', AASIST_L_VOICE_CALIBRATION],
  ['AASIST', AASIST_VOICE_CALIBRATION],
];
it('the default calibration is the one for the model the analyzer loads', () => {
  expect(DEFAULT_VOICE_CALIBRATION).toBe(AASIST_L_VOICE_CALIBRATION);
});

describe.each(CALIBRATIONS)('%s bona fide score', (_name, calibration) => {
  it('is lower for espeak-ng / flite speech than for real LibriSpeech speech', async () => {
    const id = calibration.model;
    const model = await runtime.load(id);
    const r: number[] = [];
    for (const w of real) r.push(await bonaFide(model, w, calibration.peak ?? 0.9));
    const s: number[] = [];
    for (const { window } of synth) s.push(await bonaFide(model, window, calibration.peak ?? 0.9));
    console.log(`${id}: real mean ${mean(r).toFixed(2)} [${r.map((x) => x.toFixed(1)).join(' ')}], synthetic mean ${mean(s).toFixed(2)} [${s.map((x) => x.toFixed(1)).join(' ')}]`);
    expect(mean(s)).toBeLessThan(mean(r) - 3);
    // Pairwise ordering (the AUC on this subset): most synthetic windows below most real ones.
    let wins = 0;
    for (const a of r) for (const b of s) wins += a > b ? 1 : 0;
    expect(wins / (r.length * s.length)).toBeGreaterThan(0.85);
  });
});

describe.each(CALIBRATIONS)('SyntheticVoiceDetector, %s calibration', (_name, calibration) => {
  let detector: SyntheticVoiceDetector;
  let calls: (number | undefined)[];

  beforeAll(async () => {
    const s = spy(await runtime.load(calibration.model));
    calls = s.calls;
    detector = new SyntheticVoiceDetector(s.runner, calibration);
  });

  it('gives real speech a low suspicion and synthetic speech a higher one, with reasons', async () => {
    const human = await detector.analyse(speechWindow(await decodeAudio(join(speechDir, '2414/2414-128291-0000.flac')), 1000));
    const robot = await detector.analyse(speechWindow(await synthesize(TTS_SENTENCES[0]!, { engine: 'espeak-ng', voice: 'en-us' }), 2000));
    console.log(`${calibration.model} real: ${human.reason} score ${human.score?.toFixed(3)} conf ${human.confidence.toFixed(2)}`);
    console.log(`${calibration.model} synthetic: ${robot.reason} score ${robot.score?.toFixed(3)} conf ${robot.confidence.toFixed(2)}`);
    expect(human).toMatchObject({ detector: 'synthetic-voice', at: 1000 });
    expect(human.score).toBeLessThan(0.2);
    expect(human.reason).toMatch(/^The voice sounds natural \(bona fide score .+, above the calibrated .+\)\.$/);
    expect(robot.score).toBeGreaterThan(0.8);
    expect(robot.score!).toBeGreaterThan(human.score!);
    expect(robot.reason).toMatch(/^The voice sounds synthetic \(bona fide score .+, below the calibrated .+\)\.$/);
    for (const e of [human, robot]) {
      expect(e.confidence).toBeGreaterThan(0.3);
      expect(e.confidence).toBeLessThanOrEqual(1);
    }
  });

  it('still flags synthetic speech played 20 dB quieter (the model reads level-normalised input)', async () => {
    const quiet = (await synthesize(TTS_SENTENCES[1]!, { engine: 'flite', voice: 'slt' })).map((x) => x * 0.1);
    const e = await detector.analyse(speechWindow(quiet));
    expect(e.score).toBeGreaterThan(0.8);
  });

  it('passes the window priority to the runner (for the batcher)', async () => {
    calls.length = 0;
    await detector.analyse({ ...speechWindow(real[2]!), priority: 5 });
    expect(calls).toEqual([5]);
  });

  it('abstains on silence, on unvoiced noise, on near-silence, on clipped and on band-limited audio, without running the model', async () => {
    calls.length = 0;
    const silence = new Float32Array(AASIST_WINDOW_SAMPLES);
    const hiss = Float32Array.from({ length: AASIST_WINDOW_SAMPLES }, (_, i) => 0.003 * Math.sin(i * 12.9898) * Math.cos(i * 78.233));
    const faint = real[0]!.map((x) => x * 0.0005);
    const clipped = real[0]!.map((x) => Math.max(-1, Math.min(1, x * 20)));
    // The same speech through a telephone-like channel: nothing above ~3.9 kHz.
    const narrow = lowpass(real[0]!, 3400);

    const cases = [
      { name: 'silence (VAD)', e: await detector.analyse(speechWindow(silence)), reason: /too little speech/i },
      { name: 'hiss (VAD)', e: await detector.analyse(speechWindow(hiss)), reason: /too little speech.*\d+% voiced/i },
      { name: 'silence claimed voiced', e: await detector.analyse({ samples: silence, voicedFraction: 1, at: 0, priority: 0 }), reason: /too quiet/i },
      { name: 'faint', e: await detector.analyse({ samples: faint, voicedFraction: 0.9, at: 0, priority: 0 }), reason: /too quiet/i },
      { name: 'clipped', e: await detector.analyse({ samples: clipped, voicedFraction: 0.9, at: 0, priority: 0 }), reason: /clipped/i },
      { name: 'band-limited', e: await detector.analyse({ samples: narrow, voicedFraction: 0.9, at: 0, priority: 0 }), reason: /band-limited.*cannot tell natural from synthetic/ },
    ];
    for (const { name, e, reason } of cases) {
      expect(e.score, name).toBeUndefined();
      expect(e.confidence, name).toBe(0);
      expect(e.reason, name).toMatch(reason);
    }
    expect(calls).toEqual([]);
  });

  it('refuses windows of the wrong length', async () => {
    await expect(detector.analyse({ samples: new Float32Array(16000), voicedFraction: 1, at: 0, priority: 0 })).rejects.toThrow(/64600/);
  });
});

describe('decode helpers', () => {
  it('repeats short signals and cuts long ones to 64600 samples', () => {
    const short = Float32Array.from({ length: 30000 }, (_, i) => i);
    const fitted = fitToLength(short);
    expect(fitted.length).toBe(AASIST_WINDOW_SAMPLES);
    expect([fitted[0], fitted[29999], fitted[30000], fitted[64599]]).toEqual([0, 29999, 0, 4599]);
    const long = new Float32Array(200000);
    expect(fitToLength(long).length).toBe(AASIST_WINDOW_SAMPLES);
    // Windows every 2 s, full ones only; at most `max`.
    expect(windowsOf(long).length).toBe(Math.floor((200000 - AASIST_WINDOW_SAMPLES) / 32000) + 1);
    expect(windowsOf(long, { max: 2 }).length).toBe(2);
    expect(windowsOf(short).map((w) => w.length)).toEqual([AASIST_WINDOW_SAMPLES]);
  });

  it('names the file when ffmpeg cannot decode it', async () => {
    await expect(decodeAudio(join(repoRoot, 'package.json'))).rejects.toThrow(/package\.json/);
  });
});

/**
 * Chromium's fake microphone, as recorded from Chromium 156: a 400 Hz square wave between 0 and
 * full scale for ~30 ms every 500 ms, its offset removed by a high-pass filter as WebRTC's capture
 * processing does, which leaves a decaying low-frequency tail. A caller on a beeping device.
 */
function chromiumBeep(samples: number): Float32Array {
  const x = Float32Array.from({ length: samples }, (_, i) => ((i / 16) % 500 < 30 && Math.sin((2 * Math.PI * 400 * i) / 16000) >= 0 ? 1 : 0));
  // Second-order Butterworth high-pass at 60 Hz.
  const k = Math.tan((Math.PI * 60) / 16000);
  const g = 1 / (1 + Math.SQRT2 * k + k * k);
  const [a1, a2] = [2 * (k * k - 1) * g, (1 - Math.SQRT2 * k + k * k) * g];
  let [x1, x2, y1, y2] = [0, 0, 0, 0];
  for (let i = 0; i < x.length; i++) {
    const y = g * (x[i]! - 2 * x1 + x2) - a1 * y1 - a2 * y2;
    [x2, x1, y2, y1] = [x1, x[i]!, y1, y];
    x[i] = 0.5 * y;
  }
  return x;
}

/** A 101-tap Hamming-windowed sinc low-pass at `hz` (16 kHz): over 50 dB down above ~3.9 kHz for 3.4 kHz. */
function lowpass(x: Float32Array, hz: number): Float32Array {
  const taps = 101;
  const fc = hz / 16000;
  const h = Float64Array.from({ length: taps }, (_, i) => {
    const m = i - (taps - 1) / 2;
    const sinc = m === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * m) / (Math.PI * m);
    return sinc * (0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (taps - 1)));
  });
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    let acc = 0;
    for (let k = 0; k < taps; k++) {
      const j = i - k + (taps - 1) / 2;
      if (j >= 0 && j < x.length) acc += (h[k] as number) * (x[j] as number);
    }
    y[i] = acc;
  }
  return y;
}

describe('the voice gate in front of the model', () => {
  it('keeps every window of all 50 LibriSpeech clips and of the espeak-ng / flite speech', async () => {
    const files = readdirSync(speechDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(speechDir, d.name)).filter((f) => f.endsWith('.flac')).map((f) => join(speechDir, d.name, f)));
    expect(files.length).toBe(50);
    let windows = 0;
    const fractions: number[] = [];
    for (const file of files) {
      const samples = await decodeAudio(file);
      const w = new AudioWindower();
      w.push(samples.length >= AASIST_WINDOW_SAMPLES ? samples : fitToLength(samples), (win) => fractions.push(win.voicedFraction));
      expect(w.windowsSkippedNoSpeech, file).toBe(0);
      windows += w.windowsEmitted;
    }
    for (const { label, window } of synth) {
      const w = new AudioWindower();
      w.push(window, (win) => fractions.push(win.voicedFraction));
      expect(w.windowsEmitted, label).toBe(1);
    }
    console.log(`voice gate: ${windows} LibriSpeech + ${synth.length} synthetic windows kept; voiced fraction min ${Math.min(...fractions).toFixed(2)}, mean ${mean(fractions).toFixed(2)}`);
    expect(Math.min(...fractions)).toBeGreaterThan(0.4);
  });

  it('judges 2.5 s of speech (repeated to the window at the stream end), never 2.5 s of beeps or noise', async () => {
    const detector = new SyntheticVoiceDetector(await runtime.load(DEFAULT_VOICE_CALIBRATION.model), DEFAULT_VOICE_CALIBRATION);
    const short = (await decodeAudio(join(speechDir, REAL_CLIPS[0]!))).slice(0, 2.5 * 16000);
    const w = new AudioWindower();
    w.push(short, () => {});
    expect(w.windowsEmitted + w.windowsSkippedNoSpeech).toBe(0); // no full window: before, nothing to judge
    const windows: SpeechWindow[] = [];
    expect(w.flush((win) => windows.push({ samples: win.samples, voicedFraction: win.voicedFraction, at: 0, priority: 0, ...(win.speechSamples ? { speechSamples: win.speechSamples } : {}) }))).toBe(true);
    const e = await detector.analyse(windows[0]!);
    console.log(`2.5 s of LibriSpeech, repeated: ${e.reason} (confidence ${e.confidence.toFixed(2)})`);
    expect(e.score).toBeTypeOf('number');
    expect(e.confidence).toBeGreaterThan(0);
    expect(e.reason).toMatch(/from 2\.\d s of speech/);
    const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const noise = rng(7);
    for (const [name, x] of [
      ['beep', chromiumBeep(2.5 * 16000)],
      ['noise bursts', Float32Array.from({ length: 2.5 * 16000 }, (_, i) => (i % 8000 < 4000 ? 0.1 * noise() : 0))],
    ] as const) {
      const g = new AudioWindower();
      g.push(x, () => {});
      expect(g.flush(() => {}), name).toBe(false);
    }
  });

  it('keeps a beeping device from the model, which would call the beep synthetic voice', async () => {
    const s = spy(await runtime.load(AASIST_L_VOICE_CALIBRATION.model));
    const detector = new SyntheticVoiceDetector(s.runner, AASIST_L_VOICE_CALIBRATION);
    const beep = chromiumBeep(AASIST_WINDOW_SAMPLES);
    // Forced past the gate, the beep reads as strongly synthetic: the false alarm the gate prevents.
    const forced = await detector.analyse({ samples: beep, voicedFraction: 1, at: 0, priority: 0 });
    console.log(`Chromium-style beep forced through AASIST-L: ${forced.reason}`);
    expect(forced.score).toBeGreaterThan(0.8);
    s.calls.length = 0;
    const w = new AudioWindower();
    w.push(chromiumBeep(12 * 16000), () => {});
    expect(w.windowsEmitted).toBe(0);
    expect(w.windowsSkippedNoSpeech).toBeGreaterThan(0);
    const gated = await detector.analyse(speechWindow(beep));
    expect(gated.score).toBeUndefined();
    expect(gated.reason).toMatch(/too little speech.*\b0% voiced/i);
    expect(s.calls).toEqual([]);
  });
});
