/**
 * The face detectors on the real samples in ../shared/data: MesoNet separates the deepfake crops
 * from the real ones; MiniFASNet passes the live selfie and flags both spoofs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaceSample } from '../../server/src/analyzer/detectors/Detector.ts';
import { FaceDeepfakeDetector } from '../../server/src/analyzer/detectors/FaceDeepfakeDetector.ts';
import { PresentationAttackDetector } from '../../server/src/analyzer/detectors/PresentationAttackDetector.ts';
import { loadRiskConfig } from '../../server/src/analyzer/fusion/RiskFusion.ts';
import { Batcher } from '../../server/src/analyzer/inference/Batcher.ts';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import { BlazeFace } from '../../server/src/analyzer/vision/BlazeFace.ts';
import { loadJpeg } from '../helpers/images.ts';

const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
let face: BlazeFace;
let deepfake: FaceDeepfakeDetector;
let spoof: PresentationAttackDetector;

beforeAll(async () => {
  const batcher = async (id: string) => new Batcher(await runtime.load(id), { maxBatch: 4, maxWaitMs: 5 });
  face = new BlazeFace(await runtime.load('blazeface-short'));
  deepfake = new FaceDeepfakeDetector({ df: await batcher('meso4-df'), f2f: await batcher('meso4-f2f') }, loadRiskConfig().params.faceDeepfake);
  spoof = new PresentationAttackDetector({ v2: await batcher('minifasnet-v2-2.7'), v1se: await batcher('minifasnet-v1se-4.0') });
});
afterAll(() => runtime.close());

async function sample(file: string): Promise<FaceSample> {
  const src = loadJpeg(`faces/${file}`);
  const faces = await face.detect(src);
  expect(faces, file).toHaveLength(1);
  return { src, face: faces[0]!, at: Date.now(), priority: 0 };
}

describe('face deepfake detector (MesoNet DF + F2F)', () => {
  it('separates the deepfake crops from the real ones, with reasons', async () => {
    const real = await Promise.all(['mesonet/real/real00240.jpg', 'mesonet/real/real00772.jpg'].map(async (f) => deepfake.analyse(await sample(f))));
    const fake = await Promise.all(['mesonet/df/df00204.jpg', 'mesonet/df/df01254.jpg'].map(async (f) => deepfake.analyse(await sample(f))));
    for (const e of fake) {
      expect(e.score).toBeGreaterThan(0.6);
      expect(e.reason).toMatch(/artefacts typical of/);
    }
    for (const e of real) {
      expect(e.score).toBeLessThan(0.35);
      expect(e.reason).toMatch(/No face-swap or reenactment artefacts/);
    }
    expect(Math.min(...fake.map((e) => e.score!))).toBeGreaterThan(Math.max(...real.map((e) => e.score!)) + 0.3);
    expect(real[0]!.confidence).toBeGreaterThan(0.5);
  });
});

describe('presentation attack detector (MiniFASNet pair)', () => {
  it('passes the live selfie and flags the poster and the screen', async () => {
    const live = await spoof.analyse(await sample('silentface/image_T1.jpg'));
    const poster = await spoof.analyse(await sample('silentface/image_F1.jpg'));
    const screen = await spoof.analyse(await sample('silentface/image_F2.jpg'));
    expect(live.score).toBeLessThan(0.3);
    expect(live.reason).toMatch(/looks live/);
    for (const e of [poster, screen]) {
      expect(e.score).toBeGreaterThan(0.5);
      expect(e.reason).toMatch(/photo or a screen held up/);
    }
  });
});
