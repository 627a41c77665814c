/**
 * Face-swap and reenactment artefacts: MesoNet DF (face swaps) and F2F (Face2Face reenactment) on
 * the aligned face crop; fake = 1 - p_real. The two look for different manipulations, so they
 * combine by noisy-OR, F2F down-weighted (risk-config.json: params.faceDeepfake says why).
 * MesoNet generalises poorly across datasets: confidence depends on how much face there is.
 */
import { Tensor } from 'onnxruntime-node';
import { MESONET_INPUT, mesoNetRegion } from '../vision/crops.ts';
import { sampleCrop, tensorSize } from '../vision/image.ts';
import type { Batcher } from '../inference/Batcher.ts';
import type { Detector, Evidence, FaceSample, FrameDetector } from './Detector.ts';

/** Face size (shorter box side, px) at which a crop carries full detail for a 256 px model input. */
const FULL_DETAIL_PX = 160;

export class FaceDeepfakeDetector implements Detector<FaceSample>, FrameDetector {
  readonly id = 'face-deepfake' as const;
  private readonly models: { name: string; weight: number; batcher: Batcher }[];

  /** `df` and/or `f2f`: batchers in front of Meso4 DF and Meso4 F2F. */
  constructor(models: { df?: Batcher; f2f?: Batcher }, opts: { f2fWeight: number }) {
    this.models = [
      ...(models.df ? [{ name: 'face-swap', weight: 1, batcher: models.df }] : []),
      ...(models.f2f ? [{ name: 'reenactment', weight: opts.f2fWeight, batcher: models.f2f }] : []),
    ];
    if (this.models.length === 0) throw new Error('FaceDeepfakeDetector needs at least one MesoNet model');
  }

  async analyse(s: FaceSample): Promise<Evidence> {
    // One crop per sample: it is handed to the batchers, which copy it into their batch.
    const input = new Float32Array(tensorSize(MESONET_INPUT));
    sampleCrop(s.src, mesoNetRegion(s.face), MESONET_INPUT, input);
    const feeds = { input: new Tensor('float32', input, [1, MESONET_INPUT.height, MESONET_INPUT.width, 3]) };
    const fakes = await Promise.all(
      this.models.map(async (m) => {
        const out = await m.batcher.run(feeds, s.priority);
        return { name: m.name, weight: m.weight, fake: 1 - ((out.p_real?.data as Float32Array | undefined)?.[0] ?? 1) };
      }),
    );
    const score = 1 - fakes.reduce((p, f) => p * (1 - f.weight * f.fake), 1);
    // The reason names the manipulation that contributed most.
    const worst = fakes.reduce((a, b) => (b.weight * b.fake > a.weight * a.fake ? b : a));
    const faceSize = Math.min(s.face.box.width, s.face.box.height);
    const confidence = Math.max(0.3, Math.min(1, faceSize / FULL_DETAIL_PX));
    const pct = (x: number) => Math.round(x * 100);
    const reason =
      score >= 0.5
        ? `The face shows artefacts typical of ${worst.name} deepfakes (MesoNet ${pct(score)}% fake).`
        : `No ${this.models.map((m) => m.name).join(' or ')} artefacts found in the face (MesoNet ${pct(score)}% fake).`;
    return {
      detector: this.id,
      at: s.at,
      score,
      confidence,
      reason,
      details: Object.fromEntries([...fakes.map((f) => [f.name, Number(f.fake.toFixed(3))]), ['faceSize', Math.round(faceSize)]]),
    };
  }
}
