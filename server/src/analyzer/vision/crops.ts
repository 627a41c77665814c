/**
 * Crop geometry and input layouts of the face models downstream of the detector (see
 * shared/models/MODELS.md). Regions are in source pixels; sample them with `sampleCrop`.
 */
import { NORM_RAW, NORM_UNIT, type CropRegion, type Point, type TensorSpec } from './image.ts';
import { FaceKeypoint, type FaceDetection } from './BlazeFace.ts';

export const MESONET_INPUT: TensorSpec = { width: 256, height: 256, layout: 'nhwc', order: 'rgb', ...NORM_UNIT };
export const MINIFASNET_INPUT: TensorSpec = { width: 80, height: 80, layout: 'nchw', order: 'bgr', ...NORM_RAW };
export const FACE_LANDMARK_INPUT: TensorSpec = { width: 192, height: 192, layout: 'nchw', order: 'rgb', ...NORM_UNIT };

/** Box scale factors of the two MiniFASNet models (V2 at 2.7x, V1SE at 4.0x). */
export const MINIFASNET_SCALES = [2.7, 4.0] as const;

/** Angle of the line from the subject's right eye to their left eye: 0 when the eyes are level. */
export function eyeAngle(face: FaceDetection): number {
  const r = keypoint(face, FaceKeypoint.rightEye);
  const l = keypoint(face, FaceKeypoint.leftEye);
  return Math.atan2(l.y - r.y, l.x - r.x);
}

/**
 * The authors measure eye and mouth distances on dlib's 68 landmarks; BlazeFace's eye and mouth
 * keypoints sit closer together. Scaling by 1.2 matches their framing on their own test crops
 * (Meso4_DF fake score on df00204/df01254: 0.53/0.44 unscaled, 0.90/0.84 scaled, 0.95/0.98 on
 * their crops as published; real00240/real00772 stay at 0.12/0.02).
 */
const BLAZEFACE_TO_AUTHORS_SCALE = 1.2;

/**
 * MesoNet's aligned crop (DariusAf/MesoNet pipeline.py): a square of side
 * 1.3 x 2.2 x max(eye-eye, eye-midpoint-to-mouth) centred on the nose, rotated so the eyes are
 * level. The authors reflect-pad past the image edge; `sampleCrop` pads black.
 */
export function mesoNetRegion(face: FaceDetection): CropRegion {
  const r = keypoint(face, FaceKeypoint.rightEye);
  const l = keypoint(face, FaceKeypoint.leftEye);
  const nose = keypoint(face, FaceKeypoint.nose);
  const mouth = keypoint(face, FaceKeypoint.mouth);
  const eyes = Math.hypot(l.x - r.x, l.y - r.y);
  const eyeMouth = Math.hypot(mouth.x - (l.x + r.x) / 2, mouth.y - (l.y + r.y) / 2);
  const side = BLAZEFACE_TO_AUTHORS_SCALE * 1.3 * 2.2 * Math.max(eyes, eyeMouth);
  return { cx: nose.x, cy: nose.y, width: side, height: side, angle: eyeAngle(face) };
}

/**
 * MiniFASNet's crop (Silent-Face `CropImage._get_new_box`): the face box scaled by `scale` about
 * its centre, the scale lowered until the box fits the image, then shifted to lie inside it.
 * Unrotated: the models were trained on upright boxes.
 */
export function miniFasNetRegion(face: FaceDetection, scale: number, imageWidth: number, imageHeight: number): CropRegion {
  const { x, y, width: bw, height: bh } = face.box;
  const s = Math.min(scale, (imageHeight - 1) / bh, (imageWidth - 1) / bw);
  const w = bw * s;
  const h = bh * s;
  let cx = x + bw / 2;
  let cy = y + bh / 2;
  cx += Math.max(0, w / 2 - cx) - Math.max(0, cx + w / 2 - imageWidth);
  cy += Math.max(0, h / 2 - cy) - Math.max(0, cy + h / 2 - imageHeight);
  return { cx, cy, width: w, height: h, angle: 0 };
}

/**
 * Face Mesh's region of interest (MediaPipe face_detection_front_detection_to_roi): the
 * detection box made square on its long side, scaled 1.5x for margin, rotated so the eyes are level.
 */
export function faceLandmarkRegion(face: FaceDetection, margin = 1.5): CropRegion {
  const { x, y, width, height } = face.box;
  const side = Math.max(width, height) * margin;
  return { cx: x + width / 2, cy: y + height / 2, width: side, height: side, angle: eyeAngle(face) };
}

function keypoint(face: FaceDetection, index: number): Point {
  const p = face.keypoints[index];
  if (!p) throw new Error(`face detection lacks keypoint ${index}`);
  return p;
}
