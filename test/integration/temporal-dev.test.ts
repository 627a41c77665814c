/**
 * The temporal face-swap cues on one real/fake pair of the development set (DeepFaceLive; the two
 * clips share source and encoding, the swap is the only difference), with the real BlazeFace and
 * Face Mesh, decoded at 10 fps as an 8-10 fps analyzer samples: both cues must judge real video
 * (not abstain throughout) and stay steady on the real clip (no false suspicion); the measured
 * values must be finite and in their plausible range. What it cannot prove: that they catch the
 * swap; on these clips they do not (see the detectors' headers). Skipped without ../shared/data/dev.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Evidence } from '../../server/src/analyzer/detectors/Detector.ts';
import { FaceFlickerDetector } from '../../server/src/analyzer/detectors/FaceFlickerDetector.ts';
import { FaceLandmarks } from '../../server/src/analyzer/detectors/FaceLandmarks.ts';
import { LandmarkJitterDetector } from '../../server/src/analyzer/detectors/LandmarkJitterDetector.ts';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import { BlazeFace } from '../../server/src/analyzer/vision/BlazeFace.ts';
import { i420Source } from '../../server/src/analyzer/vision/image.ts';
import { assessQuality } from '../../server/src/analyzer/vision/quality.ts';
import { decodeVideo } from '../../server/src/evaluation/media.ts';
import { DATA_DIR } from '../helpers/images.ts';

const DEV = path.join(DATA_DIR, 'dev', 'video');
const PAIR = 'dfl_Bryan_Greynolds_1';
const have = fs.existsSync(path.join(DEV, 'real', `${PAIR}_orig.mp4`)) && fs.existsSync(path.join(DEV, 'fake', `${PAIR}_swap.mp4`));
const T0 = 1_750_000_000_000;
const FPS = 10;

let runtime: InferenceRuntime;
let face: BlazeFace;
let mesh: FaceLandmarks;

beforeAll(async () => {
  if (!have) return;
  runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
  face = new BlazeFace(await runtime.load('blazeface-short'));
  mesh = new FaceLandmarks(await runtime.load('face-landmarks'));
});
afterAll(() => runtime?.close());

/** Plays a clip through both detectors; their evidence once a second. */
async function play(file: string): Promise<{ flicker: Evidence[]; jitter: Evidence[] }> {
  const flicker = new FaceFlickerDetector();
  const jitter = new LandmarkJitterDetector();
  const out = { flicker: [] as Evidence[], jitter: [] as Evidence[] };
  let k = 0;
  let nextTick = 1000;
  for await (const fr of decodeVideo(file, FPS)) {
    const t = (k++ * 1000) / FPS;
    for (; t >= nextTick; nextTick += 1000) {
      out.flicker.push(flicker.evaluate(T0 + nextTick));
      out.jitter.push(jitter.evaluate(T0 + nextTick));
    }
    const src = i420Source(fr);
    const faces = await face.detect(src);
    if (assessQuality(src, faces).reason !== 'ok') continue;
    const lm = await mesh.locate(src, faces[0]!);
    const o = { src, face: faces[0]!, at: T0 + t, ...(lm ? { landmarks: lm } : {}) };
    flicker.observeFace(o);
    jitter.observeFace(o);
  }
  out.flicker.push(flicker.evaluate(T0 + (k * 1000) / FPS));
  out.jitter.push(jitter.evaluate(T0 + (k * 1000) / FPS));
  return out;
}

describe.skipIf(!have)(`temporal cues on the dev pair ${PAIR} (DeepFaceLive)`, () => {
  it('judge both clips and stay steady on the real one', { timeout: 120_000 }, async () => {
    const real = await play(path.join(DEV, 'real', `${PAIR}_orig.mp4`));
    const fake = await play(path.join(DEV, 'fake', `${PAIR}_swap.mp4`));
    for (const [name, r] of [['real', real], ['fake', fake]] as const) {
      const fl = r.flicker.filter((e) => e.score !== undefined);
      const jd = r.jitter.filter((e) => e.score !== undefined);
      expect(fl.length, `${name}: face-flicker judged nothing: ${r.flicker.map((e) => e.reason).join(' | ')}`).toBeGreaterThan(0);
      expect(jd.length, `${name}: landmark-jitter judged nothing: ${r.jitter.map((e) => e.reason).join(' | ')}`).toBeGreaterThan(0);
      for (const e of fl) for (const k of ['brightnessRatio', 'colourURatio', 'colourVRatio', 'sharpnessRatio']) expect(Number(e.details?.[k])).toBeGreaterThan(0.05);
      for (const e of jd) {
        expect(Number(e.details?.jitter)).toBeGreaterThan(0.0005); // the landmark model is never exact
        expect(Number(e.details?.jitter)).toBeLessThan(0.04);
      }
    }
    for (const e of [...real.flicker, ...real.jitter]) if (e.score !== undefined) expect(e.score, e.reason).toBeLessThanOrEqual(0.2);
  });
});
