/**
 * MediaPipe Face Mesh (468 landmarks, keijiro/FaceLandmarkBarracuda ONNX) on the crop that
 * `faceLandmarkRegion` cuts around a BlazeFace detection, optionally refined around the eyes by
 * MediaPipe Iris (keijiro/IrisBarracuda). Points come back in source pixels, so geometry
 * (faceGeometry.ts) and colour sampling (PulseDetector.ts) work on the frame directly.
 *
 * Why the iris model: the mesh alone barely moves its lid points when an eye closes (on
 * landmark_Test2, a wink, it reads both eyes open), so blink cues need the eye contours.
 */
import { Tensor } from 'onnxruntime-node';
import type { ModelRunner } from '../inference/ModelRunner.ts';
import type { FaceDetection } from '../vision/BlazeFace.ts';
import { FACE_LANDMARK_INPUT, faceLandmarkRegion } from '../vision/crops.ts';
import { NORM_UNIT, sampleCrop, tensorSize, type CropRegion, type ImageSource, type TensorSpec } from '../vision/image.ts';

export const LANDMARK_COUNT = 468;

/** One eye from the iris model, in source pixels (x, y, z; z scaled like x). */
export interface EyeLandmarks {
  /** 71 points: 0-15 the eye contour (0 outer corner, 8 inner corner, 1-7 lower lid, 9-15 upper lid), then brow and surround. */
  contour: Float32Array;
  /** 5 points: iris centre, then four points on its rim. */
  iris: Float32Array;
}

export interface Landmarks {
  /**
   * 468 x (x, y, z): x, y in source pixels; z is depth relative to the face centre, in the same
   * pixel scale as x (smaller = nearer the camera, MediaPipe's convention).
   */
  points: Float32Array;
  /** Face-presence probability (sigmoid of the model's logit). */
  presence: number;
  /** The crop the model saw, in source pixels. */
  region: CropRegion;
  /** Present when an iris model was given: the subject's right and left eye. */
  eyes?: { right: EyeLandmarks; left: EyeLandmarks };
}

export interface FaceLandmarksOptions {
  /**
   * Presence below which `locate` returns undefined (default 0.5). Measured on the shared photos:
   * faces score above 0.99; grey and noise crops score below 0.01.
   */
  minPresence?: number;
  /** Margin of the crop around the BlazeFace box (default 1.5, MediaPipe's). */
  margin?: number;
  /**
   * The `iris-landmarks` model: when given, each located face also gets refined eye contours, at
   * two more model runs (on a busy 2-core CPU: mesh alone 12-22 ms, with both eyes 37-49 ms).
   */
  iris?: ModelRunner;
}

const SIZE = FACE_LANDMARK_INPUT.width;
const IRIS_INPUT: TensorSpec = { width: 64, height: 64, layout: 'nchw', order: 'rgb', ...NORM_UNIT };
const EYE_POINTS = 71;
const IRIS_POINTS = 5;
/** MediaPipe's eye crop: a square of 2.3x the corner-to-corner distance. */
const EYE_CROP_SCALE = 2.3;

export class FaceLandmarks {
  private readonly runner: ModelRunner;
  private readonly inputName: string;
  private readonly minPresence: number;
  private readonly margin: number;
  private readonly input = new Float32Array(tensorSize(FACE_LANDMARK_INPUT));
  private readonly inputTensor = new Tensor('float32', this.input, [1, 3, SIZE, SIZE]);
  private readonly iris: { runner: ModelRunner; inputName: string; input: Float32Array; tensor: Tensor } | undefined;
  // The input buffer is reused, so runs must not overlap.
  private tail: Promise<unknown> = Promise.resolve();

  constructor(runner: ModelRunner, options: FaceLandmarksOptions = {}) {
    const inputName = runner.inputNames[0];
    if (runner.inputNames.length !== 1 || inputName === undefined) throw new Error(`face landmarks expects one input, model has ${runner.inputNames.join(', ')}`);
    if (runner.outputNames.length !== 2) throw new Error(`face landmarks expects 2 outputs, model has ${runner.outputNames.join(', ')}`);
    this.runner = runner;
    this.inputName = inputName;
    this.minPresence = options.minPresence ?? 0.5;
    this.margin = options.margin ?? 1.5;
    if (options.iris) {
      const name = options.iris.inputNames[0];
      if (options.iris.inputNames.length !== 1 || name === undefined) throw new Error(`iris landmarks expects one input, model has ${options.iris.inputNames.join(', ')}`);
      const input = new Float32Array(tensorSize(IRIS_INPUT));
      this.iris = { runner: options.iris, inputName: name, input, tensor: new Tensor('float32', input, [1, 3, IRIS_INPUT.height, IRIS_INPUT.width]) };
    }
  }

  /** Landmarks of `face` in `src`, or undefined when the model sees no face in the crop. Calls are serialised. */
  locate(src: ImageSource, face: FaceDetection): Promise<Landmarks | undefined> {
    return this.locateRegion(src, faceLandmarkRegion(face, this.margin));
  }

  /** As `locate`, on an explicit crop (e.g. one derived from the previous frame's landmarks). */
  locateRegion(src: ImageSource, region: CropRegion): Promise<Landmarks | undefined> {
    const run = this.tail.then(() => this.run(src, region));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async run(src: ImageSource, region: CropRegion): Promise<Landmarks | undefined> {
    sampleCrop(src, region, FACE_LANDMARK_INPUT, this.input);
    const outputs = await this.runner.run({ [this.inputName]: this.inputTensor });
    const { mesh, logit } = pickOutputs(outputs);
    const presence = 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, logit))));
    if (!(presence >= this.minPresence)) return undefined;
    const points = toSource(mesh, region, SIZE);
    if (!this.iris) return { points, presence, region };
    // MediaPipe's iris model is trained on the image-left eye (the subject's right); the other eye is mirrored into that shape.
    const right = await this.eye(src, points, 33, 133, false);
    const left = await this.eye(src, points, 362, 263, true);
    return { points, presence, region, eyes: { right, left } };
  }

  /** Runs the iris model on the eye between mesh corners `a` (image-left) and `b` (image-right). */
  private async eye(src: ImageSource, points: Float32Array, a: number, b: number, mirror: boolean): Promise<EyeLandmarks> {
    const iris = this.iris!;
    const ax = points[a * 3]!;
    const ay = points[a * 3 + 1]!;
    const bx = points[b * 3]!;
    const by = points[b * 3 + 1]!;
    const side = Math.hypot(bx - ax, by - ay) * EYE_CROP_SCALE;
    // A negative width samples (and maps back) the crop mirrored left to right.
    const region: CropRegion = { cx: (ax + bx) / 2, cy: (ay + by) / 2, width: mirror ? -side : side, height: side, angle: Math.atan2(by - ay, bx - ax) };
    sampleCrop(src, region, IRIS_INPUT, iris.input);
    const outputs = await iris.runner.run({ [iris.inputName]: iris.tensor });
    let contour: Float32Array | undefined;
    let pupil: Float32Array | undefined;
    for (const t of Object.values(outputs)) {
      if (!(t.data instanceof Float32Array)) continue;
      if (t.data.length === EYE_POINTS * 3) contour = t.data;
      else if (t.data.length === IRIS_POINTS * 3) pupil = t.data;
    }
    if (!contour || !pupil) throw new Error(`iris landmark outputs not recognised: ${Object.keys(outputs).join(' ')}`);
    return { contour: toSource(contour, region, IRIS_INPUT.width), iris: toSource(pupil, region, IRIS_INPUT.width) };
  }
}

/**
 * Maps (x, y, z) triples in a `size`-pixel square crop to source pixels: `cropToSource` (image.ts)
 * inlined, without a Point per landmark.
 */
function toSource(crop: Float32Array, region: CropRegion, size: number, out = new Float32Array(crop.length)): Float32Array {
  const angle = region.angle ?? 0;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const kx = region.width / size;
  const ky = region.height / size;
  for (let i = 0; i < crop.length; i += 3) {
    const lx = (crop[i]! - size / 2) * kx;
    const ly = (crop[i + 1]! - size / 2) * ky;
    out[i] = region.cx + cos * lx - sin * ly;
    out[i + 1] = region.cy + sin * lx + cos * ly;
    // |kx|: depth does not flip with a mirrored crop.
    out[i + 2] = crop[i + 2]! * Math.abs(kx);
  }
  return out;
}

/** Finds the mesh and presence tensors by size: output names vary between conversions. */
function pickOutputs(outputs: Record<string, Tensor>): { mesh: Float32Array; logit: number } {
  let mesh: Float32Array | undefined;
  let logit: number | undefined;
  for (const t of Object.values(outputs)) {
    if (!(t.data instanceof Float32Array)) continue;
    if (t.data.length === LANDMARK_COUNT * 3) mesh = t.data;
    else if (t.data.length === 1) logit = t.data[0];
  }
  if (!mesh || logit === undefined) {
    const got = Object.entries(outputs).map(([k, t]) => `${k}[${t.dims.join(',')}]`);
    throw new Error(`face landmark outputs not recognised: ${got.join(' ')}`);
  }
  return { mesh, logit };
}
