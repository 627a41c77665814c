/**
 * The physiological detectors on synthetic signals (no model): blinking, lip sync and pulse, plus
 * the head-pose fit on exact points. Each must abstain without enough signal, stay quiet on
 * live-looking input and give only modest suspicion on what it can measure.
 */
import fs from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { BlinkDetector } from '../../../server/src/analyzer/detectors/BlinkDetector.ts';
import type { Evidence } from '../../../server/src/analyzer/detectors/Detector.ts';
import { headPose, mouthOpening, POSE_POINTS } from '../../../server/src/analyzer/detectors/faceGeometry.ts';
import { LipSyncDetector, type MouthSample, type SpeechEnergySample } from '../../../server/src/analyzer/detectors/LipSyncDetector.ts';
import { meanSkinColour, PulseDetector, pulseRegions, type PulseSample } from '../../../server/src/analyzer/detectors/PulseDetector.ts';
import type { FaceDetection } from '../../../server/src/analyzer/vision/BlazeFace.ts';
import { i420Source, rgbSource } from '../../../server/src/analyzer/vision/image.ts';

const T0 = 1_750_000_000_000;

/** Deterministic uniform [0, 1) and standard normal draws. */
function rng(seed: number): { uniform: () => number; normal: () => number } {
  let s = seed >>> 0;
  const uniform = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const normal = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function expectAbstain(e: Evidence): void {
  expect(e.score, e.reason).toBeUndefined();
  expect(e.confidence).toBe(0);
  expect(e.reason.length).toBeGreaterThan(20);
}

function expectScored(e: Evidence): asserts e is Evidence & { score: number } {
  expect(e.score, e.reason).toBeTypeOf('number');
  expect(e.score).toBeGreaterThanOrEqual(0);
  expect(e.score).toBeLessThanOrEqual(1);
  expect(e.confidence).toBeGreaterThan(0);
  expect(e.confidence).toBeLessThanOrEqual(1);
}

describe('BlinkDetector', () => {
  /** Feeds `seconds` at `fps` of openness from `open(t)`; returns the last evidence. */
  function feed(d: BlinkDetector, seconds: number, fps: number, open: (t: number) => number, faceSize = 120): Evidence {
    let e: Evidence | undefined;
    for (let k = 0; k <= seconds * fps; k++) {
      const t = k / fps;
      const v = open(t);
      d.push({ at: T0 + t * 1000, leftOpen: v, rightOpen: v, faceSize });
      e = d.evaluate(T0 + t * 1000);
    }
    return e!;
  }

  it('abstains with too few samples', async () => {
    const d = new BlinkDetector();
    let e: Evidence | undefined;
    for (let k = 0; k < 20; k++) e = await d.analyse({ at: T0 + k * 500, leftOpen: 0.3, rightOpen: 0.3, faceSize: 120 });
    expectAbstain(e!);
    expect(e!.detector).toBe('blink');
  });

  it('flags eyes that never move over a long window, with a modest score', () => {
    // 60 s at 2 fps, openness constant up to landmark jitter (1% of the value).
    const { normal } = rng(1);
    const e = feed(new BlinkDetector(), 60, 2, () => 0.28 * (1 + 0.01 * normal()));
    expectScored(e);
    expect(e.score).toBeGreaterThan(0.3);
    expect(e.score).toBeLessThanOrEqual(0.5);
    expect(e.confidence).toBeLessThanOrEqual(0.35);
    expect(e.reason).toMatch(/No blink or eye movement in 60 s/);
    // Exactly constant too.
    const still = feed(new BlinkDetector(), 60, 2, () => 0.28);
    expectScored(still);
    expect(still.score).toBeGreaterThan(0.3);
  });

  it('does not flag eyes with natural variation or a caught blink', () => {
    const { normal, uniform } = rng(2);
    // Gaze shifts and expressions: openness wanders +-15%; every ~8 s a sample lands mid-blink.
    const lively = feed(new BlinkDetector(), 60, 2, (t) => {
      if (t > 0 && t % 8 === 0 && uniform() < 0.7) return 0.08;
      return 0.28 * (1 + 0.12 * Math.sin(t * 0.7) + 0.04 * normal());
    });
    expectScored(lively);
    expect(lively.score).toBeLessThanOrEqual(0.1);
    expect(lively.reason).toMatch(/blinked/);
    // Variation alone, no blink caught.
    const wandering = feed(new BlinkDetector(), 60, 2, (t) => 0.28 * (1 + 0.15 * Math.sin(t * 0.9) + 0.03 * normal()));
    expectScored(wandering);
    expect(wandering.score).toBeLessThanOrEqual(0.15);
  });

  it('gives less weight to "no blink" when the lids were measured by the mesh alone', () => {
    const d = new BlinkDetector();
    for (let k = 0; k <= 120; k++) d.push({ at: T0 + k * 500, leftOpen: 0.28, rightOpen: 0.28, faceSize: 120, source: 'mesh' });
    const e = d.evaluate(T0 + 60_000);
    expectScored(e);
    expect(e.score).toBeLessThanOrEqual(0.3);
    expect(e.confidence).toBeLessThanOrEqual(0.15);
    expect(e.reason).toMatch(/coarsely/);
  });

  it('abstains on a small face, on long-closed eyes, and when the window is too short', () => {
    expectAbstain(feed(new BlinkDetector(), 60, 2, () => 0.28, 30));
    const closed = feed(new BlinkDetector(), 60, 2, () => 0.06);
    expectAbstain(closed);
    expect(closed.reason).toMatch(/closed/);
    expectAbstain(feed(new BlinkDetector(), 15, 6, () => 0.28));
  });
});

describe('LipSyncDetector', () => {
  /** Speech that comes and goes (2.5 s on, 1.5 s off) with ~4 Hz syllables; envelope in [0, 1]. */
  const envelope = (t: number): number => (t % 4 < 2.5 ? 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t) : 0);

  function feed(d: LipSyncDetector, seconds: number, mouth: (t: number) => number, energyDb: (t: number) => number, fps = 2): Evidence {
    const speech: SpeechEnergySample[] = [];
    for (let t = 0; t <= seconds; t += 0.02) speech.push({ at: T0 + t * 1000, energyDb: energyDb(t) });
    const mouths: MouthSample[] = [];
    for (let k = 0; k <= seconds * fps; k++) mouths.push({ at: T0 + (k / fps) * 1000, mouthOpen: mouth(k / fps) });
    for (const s of speech) d.pushSpeech(s);
    for (const m of mouths) d.pushMouth(m);
    return d.evaluate(T0 + seconds * 1000);
  }

  it('scores a mouth that moves with the speech as real', async () => {
    const { normal } = rng(3);
    const d = new LipSyncDetector();
    const e = feed(
      d,
      30,
      // Sampled at 2.2 fps so samples land on different syllable phases.
      (t) => Math.max(0, 0.02 + 0.22 * envelope(t) + 0.01 * normal()),
      (t) => (envelope(t) > 0 ? -40 + 20 * envelope(t) : -65) + normal(),
      2.2,
    );
    expectScored(e);
    expect(e.detector).toBe('lip-sync');
    expect(e.score).toBeLessThanOrEqual(0.15);
    expect(e.details?.correlation).toBeGreaterThan(0.5);
    expect(e.reason).toMatch(/follows the speech/);
    // analyse() is the same thing with samples passed in.
    const again = await new LipSyncDetector().analyse({ at: T0 + 30_000, speech: [{ at: T0, rms: 0.01 }], mouth: [] });
    expectAbstain(again);
  });

  it('flags clear speech with a frozen mouth', () => {
    const { normal } = rng(4);
    const e = feed(
      new LipSyncDetector(),
      30,
      () => 0.02 + 0.003 * normal(),
      (t) => (envelope(t) > 0 ? -40 + 20 * envelope(t) : -65) + normal(),
    );
    expectScored(e);
    expect(e.score).toBeGreaterThanOrEqual(0.5);
    expect(e.reason).toMatch(/mouth did not move/);
  });

  it('is mildly suspicious of a mouth moving against the speech over a long window', () => {
    const { normal } = rng(5);
    // Mouth open in the pauses and closed while the voice is loud.
    const e = feed(
      new LipSyncDetector(),
      30,
      (t) => (envelope(t) > 0 ? 0.02 : 0.2) + 0.01 * normal(),
      (t) => (envelope(t) > 0 ? -40 + 20 * envelope(t) : -65) + normal(),
    );
    expectScored(e);
    expect(e.score).toBeGreaterThan(0.3);
    expect(e.score).toBeLessThan(0.5);
  });

  it('does not call a mouth moving independently of the speech synchronised', () => {
    for (const seed of [11, 12, 13, 14, 15]) {
      const { normal } = rng(seed);
      const e = feed(
        new LipSyncDetector(),
        30,
        () => Math.max(0, 0.1 + 0.08 * normal()),
        (t) => (envelope(t) > 0 ? -40 + 20 * envelope(t) : -65) + normal(),
      );
      expectScored(e);
      expect(e.score, e.reason).toBeGreaterThan(0.1);
    }
  });

  it('abstains without speech or without enough mouth samples', () => {
    const { normal } = rng(6);
    const silent = feed(new LipSyncDetector(), 30, (t) => 0.02 + 0.1 * Math.abs(Math.sin(t)), () => -70 + normal());
    expectAbstain(silent);
    expect(silent.reason).toMatch(/Too little speech/);
    const fewFrames = feed(new LipSyncDetector(), 5, () => 0.1, (t) => -30 + 10 * envelope(t));
    expectAbstain(fewFrames);
  });

  it('uses voice-activity decisions when given', () => {
    const d = new LipSyncDetector();
    // Loud all along, but the voice-activity detector says none of it is speech (e.g. a fan).
    for (let t = 0; t <= 30; t += 0.02) d.pushSpeech({ at: T0 + t * 1000, rms: 0.1, voiced: false });
    for (let t = 0; t <= 30; t += 0.5) d.pushMouth({ at: T0 + t * 1000, mouthOpen: 0.02 });
    expectAbstain(d.evaluate(T0 + 30_000));
  });
});

describe('PulseDetector', () => {
  const BOX = { x: 100, y: 80, width: 300, height: 300 };

  /** Skin colour with a POS-like pulse signature (relative amplitudes R 0.33, G 0.77, B 0.53), slow light drift and sensor noise. */
  function skin(fps: number, seconds: number, pulseHz: number, amplitude: number, noise: number, seed = 7): PulseSample[] {
    const { normal } = rng(seed);
    const out: PulseSample[] = [];
    for (let k = 0; k <= seconds * fps; k++) {
      const t = k / fps;
      const p = amplitude * Math.sin(2 * Math.PI * pulseHz * t + 0.4);
      const light = 1 + 0.003 * Math.sin(2 * Math.PI * 0.13 * t);
      out.push({
        at: T0 + t * 1000,
        r: 180 * light * (1 + 0.33 * p) + noise * normal(),
        g: 130 * light * (1 + 0.77 * p) + noise * normal(),
        b: 110 * light * (1 + 0.53 * p) + noise * normal(),
        box: BOX,
      });
    }
    return out;
  }

  function run(samples: readonly PulseSample[], d = new PulseDetector()): Evidence {
    for (const s of samples) d.push(s);
    return d.evaluate(samples[samples.length - 1]!.at);
  }

  it('finds a 72 bpm pulse at 15 fps and scores it as real', () => {
    for (const seed of [7, 8, 9]) {
      const e = run(skin(15, 10, 1.2, 0.004, 0.1, seed));
      expectScored(e);
      expect(e.detector).toBe('pulse');
      expect(Math.abs((e.details!.bpm as number) - 72), e.reason).toBeLessThanOrEqual(5);
      expect(e.score).toBeLessThanOrEqual(0.15);
      expect(e.confidence).toBeGreaterThanOrEqual(0.3);
      expect(e.details!.snrDb).toBeGreaterThanOrEqual(5);
    }
  });

  it('also finds it at the boosted 6 fps', () => {
    const e = run(skin(6, 10, 1.2, 0.004, 0.05));
    expectScored(e);
    expect(Math.abs((e.details!.bpm as number) - 72)).toBeLessThanOrEqual(5);
  });

  it('abstains at 2 fps, where the pulse band is above Nyquist', async () => {
    const d = new PulseDetector();
    let e: Evidence | undefined;
    for (const s of skin(2, 10, 1.2, 0.004, 0.1)) e = await d.analyse(s);
    expectAbstain(e!);
    expect(e!.reason).toMatch(/frames per second/);
  });

  it('abstains on a still image sequence', () => {
    // Constant RGB.
    const constant = skin(15, 10, 1.2, 0, 0).map((s) => ({ ...s, r: 180, g: 130, b: 110 }));
    const e = run(constant);
    expectAbstain(e);
    expect(e.reason).toMatch(/still image/);

    // The same real face frame repeated, measured on the face box as the analyzer would.
    const dataDir = process.env.DFS_DATA_DIR ?? path.resolve(import.meta.dirname, '../../../../shared/data');
    const bytes = fs.readFileSync(path.join(dataDir, 'faces/pexels/landmark_Test1.jpg'));
    const src = rgbSource(jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true }));
    // BlazeFace's detection on this photo (test/integration/blazeface.test.ts).
    const face: FaceDetection = { box: { x: 244, y: 307, width: 574, height: 574 }, score: 0.95, keypoints: [] };
    const colour = meanSkinColour(src, pulseRegions(face));
    // Skin: red above green above blue, mid brightness.
    expect(colour.r).toBeGreaterThan(colour.g);
    expect(colour.g).toBeGreaterThan(colour.b);
    expect(colour.g).toBeGreaterThan(40);
    const repeated: PulseSample[] = [];
    for (let k = 0; k <= 150; k++) {
      const c = meanSkinColour(src, pulseRegions(face));
      repeated.push({ at: T0 + (k * 1000) / 15, ...c, box: face.box });
    }
    const still = run(repeated);
    expectAbstain(still);
    expect(still.reason).toMatch(/still image/);
  });

  it('abstains on noise without a pulse, on a moving face and on too short a window', () => {
    const noisy = run(skin(15, 10, 1.2, 0, 0.3));
    expectAbstain(noisy);
    expect(noisy.reason).toMatch(/noisy/);
    const moving = skin(15, 10, 1.2, 0.004, 0.1).map((s, k) => ({ ...s, box: { ...BOX, x: BOX.x + 40 * Math.sin(k / 10) } }));
    const m = run(moving);
    expectAbstain(m);
    expect(m.reason).toMatch(/moved/);
    expectAbstain(run(skin(15, 5, 1.2, 0.004, 0.1)));
  });

  it('is only mildly suspicious of a steady face whose colour is flat at the noise level', () => {
    const e = run(skin(15, 10, 1.2, 0, 0.015));
    expectScored(e);
    expect(e.score).toBeLessThanOrEqual(0.35);
    expect(e.confidence).toBeLessThanOrEqual(0.15);
  });

  it('measures the same mean colour from I420 as from RGB', () => {
    const [w, h] = [64, 48];
    const rgba = new Uint8Array(w * h * 4);
    const colour = [190, 140, 120];
    for (let i = 0; i < w * h; i++) rgba.set([...colour, 255], i * 4);
    const yuv = new Uint8Array(w * h * 1.5);
    const [r, g, b] = colour as [number, number, number];
    yuv.fill(Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b), 0, w * h);
    yuv.fill(Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b), w * h, w * h * 1.25);
    yuv.fill(Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b), w * h * 1.25);
    const region = [{ x: 10, y: 10, width: 20, height: 20 }];
    const fromRgb = meanSkinColour(rgbSource({ width: w, height: h, data: rgba }), region);
    const fromYuv = meanSkinColour(i420Source({ width: w, height: h, data: yuv }), region);
    expect(fromRgb).toEqual({ r, g, b });
    for (const k of ['r', 'g', 'b'] as const) expect(Math.abs(fromYuv[k] - fromRgb[k])).toBeLessThan(2);
    // Outside the frame: NaN, not zero.
    expect(meanSkinColour(rgbSource({ width: w, height: h, data: rgba }), [{ x: 100, y: 100, width: 5, height: 5 }]).g).toBeNaN();
  });
});

describe('faceGeometry', () => {
  /** Mesh points of the canonical face turned by yaw, pitch, roll (degrees), scaled and placed in a frame. */
  function posed(yaw: number, pitch: number, roll: number): Float32Array {
    const [a, p, r] = [yaw, pitch, roll].map((d) => (d * Math.PI) / 180) as [number, number, number];
    const pts = new Float32Array(468 * 3);
    for (const [i, cx, cy, cz] of POSE_POINTS) {
      // Canonical (y up, z out of the face) to image axes (y down, z away from the camera).
      let [x, y, z] = [cx, -cy, -cz];
      [x, y] = [x * Math.cos(r) - y * Math.sin(r), x * Math.sin(r) + y * Math.cos(r)];
      [y, z] = [y * Math.cos(p) + z * Math.sin(p), -y * Math.sin(p) + z * Math.cos(p)];
      [x, z] = [x * Math.cos(a) - z * Math.sin(a), x * Math.sin(a) + z * Math.cos(a)];
      pts.set([320 + 20 * x, 240 + 20 * y, 20 * z], i * 3);
    }
    return pts;
  }

  it('recovers a known head pose from exact points', () => {
    for (const [yaw, pitch, roll] of [
      [0, 0, 0],
      [25, 0, 0],
      [-30, 10, 0],
      [0, -20, 15],
      [40, 15, -20],
    ] as const) {
      const pose = headPose(posed(yaw, pitch, roll));
      expect(pose.yaw).toBeCloseTo(yaw, 3);
      expect(pose.pitch).toBeCloseTo(pitch, 3);
      expect(pose.roll).toBeCloseTo(roll, 3);
      expect(pose.residual).toBeLessThan(1e-4);
    }
  });

  it('measures mouth opening relative to the eye distance', () => {
    const pts = posed(0, 0, 0);
    // Eye corners 33 and 263 are 20 * 8.89 px apart; open the lips by a quarter of that.
    pts.set([320, 300, 0], 13 * 3);
    pts.set([320, 300 + 0.25 * 20 * 8.891718, 0], 14 * 3);
    expect(mouthOpening(pts)).toBeCloseTo(0.25, 4);
  });
});
