/**
 * Presentation attacks (a printed photo or a screen held up to the camera): the two MiniFASNet
 * models of Silent-Face, on the face box scaled 2.7x and 4.0x, probabilities summed and the real
 * class read off, as the authors do. The 4.0x crop sees the surroundings (bezels, hands, paper
 * edges); when the face is so large that the crops cannot be that wide, confidence drops.
 */
import { Tensor } from 'onnxruntime-node';
import { MINIFASNET_INPUT, miniFasNetRegion } from '../vision/crops.ts';
import { sampleCrop, tensorSize } from '../vision/image.ts';
import type { Batcher } from '../inference/Batcher.ts';
import type { Detector, Evidence, FaceSample, FrameDetector } from './Detector.ts';

export class PresentationAttackDetector implements Detector<FaceSample>, FrameDetector {
  readonly id = 'presentation-attack' as const;
  private readonly models: { scale: number; batcher: Batcher }[];

  /** Batchers in front of MiniFASNetV2 (2.7x) and MiniFASNetV1SE (4.0x); either may be missing. */
  constructor(models: { v2?: Batcher; v1se?: Batcher }) {
    this.models = [...(models.v2 ? [{ scale: 2.7, batcher: models.v2 }] : []), ...(models.v1se ? [{ scale: 4.0, batcher: models.v1se }] : [])];
    if (this.models.length === 0) throw new Error('PresentationAttackDetector needs at least one MiniFASNet model');
  }

  async analyse(s: FaceSample): Promise<Evidence> {
    const probs = [0, 0, 0];
    let achievedScale = 0;
    await Promise.all(
      this.models.map(async (m) => {
        const region = miniFasNetRegion(s.face, m.scale, s.src.width, s.src.height);
        achievedScale += region.width / Math.max(s.face.box.width, 1) / m.scale / this.models.length;
        const input = new Float32Array(tensorSize(MINIFASNET_INPUT));
        sampleCrop(s.src, region, MINIFASNET_INPUT, input);
        const out = await m.batcher.run({ input: new Tensor('float32', input, [1, 3, MINIFASNET_INPUT.height, MINIFASNET_INPUT.width]) }, s.priority);
        const p = out.probs?.data as Float32Array | undefined;
        for (let k = 0; k < 3; k++) probs[k]! += (p?.[k] ?? 0) / this.models.length;
      }),
    );
    const real = probs[1]!;
    const spoof = 1 - real;
    // A crop clamped well below its intended context sees too little around the face.
    const confidence = Math.max(0.3, Math.min(1, achievedScale));
    const pct = (x: number) => Math.round(x * 100);
    // Silent-Face's two spoof classes are not documented as print vs screen: do not guess which.
    const reason =
      spoof >= 0.5
        ? `The face looks like a photo or a screen held up to the camera (anti-spoofing ${pct(spoof)}% spoof).`
        : `The face looks live, not a photo or a screen (anti-spoofing ${pct(spoof)}% spoof).`;
    return {
      detector: this.id,
      at: s.at,
      score: spoof,
      confidence,
      reason,
      details: { spoofClass0: Number(probs[0]!.toFixed(3)), real: Number(real.toFixed(3)), spoofClass2: Number(probs[2]!.toFixed(3)) },
    };
  }
}
