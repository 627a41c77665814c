/**
 * Geometry on Face Mesh landmarks (FaceLandmarks.ts): eye and mouth openness and head pose.
 *
 * Indices are MediaPipe Face Mesh's. "Right" and "left" are the subject's: the right eye is on the
 * image's left in an unmirrored frame. Distances are 3D (x, y, z all in source pixels), which
 * keeps the ratios steadier under head rotation than image-plane distances; z is the model's
 * guess, so the gain is partial.
 */
import type { Landmarks } from './FaceLandmarks.ts';

/** Landmark indices used here and by the pulse regions. */
export const MESH = {
  noseTip: 1,
  forehead: 151,
  chin: 152,
  upperLipInner: 13,
  lowerLipInner: 14,
  mouthRight: 61,
  mouthLeft: 291,
  rightEyeOuter: 33,
  rightEyeInner: 133,
  leftEyeOuter: 263,
  leftEyeInner: 362,
  rightCheek: 50,
  leftCheek: 280,
} as const;

/**
 * Lid pairs (upper, lower) and corners (outer, inner) per eye: the six-point eye aspect ratio
 * (Soukupova and Cech 2016) on Face Mesh indices, plus the mid-lid pair of MODELS.md.
 */
const RIGHT_EYE = { lids: [160, 144, 159, 145, 158, 153], corners: [33, 133] } as const;
const LEFT_EYE = { lids: [387, 373, 386, 374, 385, 380], corners: [263, 362] } as const;
/** The same pairs as indices into the iris model's 71-point eye contour (0 = outer corner, 8 = inner, 9-15 = upper lid). */
const IRIS_EYE = { lids: [11, 3, 12, 4, 13, 5], corners: [0, 8] } as const;

export interface EyeOpenness {
  /**
   * Mean lid gap over eye width (eye aspect ratio). Measured with the iris model on the shared
   * photos: 0.18-0.44 open (the low end a smiling squint), 0.14 closed (a wink).
   */
  right: number;
  left: number;
  /** 'iris' when measured on the iris model's eye contours, which see closed lids; 'mesh' otherwise. */
  source: 'iris' | 'mesh';
}

/**
 * Eye aspect ratio of each eye. Prefer the iris model's contours (`Landmarks.eyes`): on
 * landmark_Test2 (a wink) the mesh alone reads both eyes as open (0.29 and 0.30) while the iris
 * contours read 0.12 for the closed eye and 0.34 for the open one.
 */
export function eyeOpenness(lm: Landmarks): EyeOpenness {
  if (lm.eyes) {
    return { right: aspect(lm.eyes.right.contour, IRIS_EYE), left: aspect(lm.eyes.left.contour, IRIS_EYE), source: 'iris' };
  }
  return { right: aspect(lm.points, RIGHT_EYE), left: aspect(lm.points, LEFT_EYE), source: 'mesh' };
}

/** Distance between the outer eye corners, in source pixels: the face's scale. */
export function interocularDistance(points: Float32Array): number {
  return dist(points, MESH.rightEyeOuter, MESH.leftEyeOuter);
}

/**
 * Inner-lip gap |p13 - p14| over the interocular distance: 0 closed, about 0.2 for a smile
 * showing teeth, 0.27+ for an open mouth. The interocular distance does not change with mouth shape,
 * so this tracks jaw opening (what speech modulates) rather than lip spreading.
 */
export function mouthOpening(points: Float32Array): number {
  const scale = interocularDistance(points);
  return scale > 0 ? dist(points, MESH.upperLipInner, MESH.lowerLipInner) / scale : 0;
}

/**
 * Mouth width (corner to corner) over the outer eye-corner distance, in the image plane: widens
 * with a smile. Measured on the shared photos: 0.52-0.58 for relaxed mouths, 0.81 for a broad smile.
 */
export function mouthWidth(points: Float32Array): number {
  const d2 = (a: number, b: number) => Math.hypot(points[a * 3]! - points[b * 3]!, points[a * 3 + 1]! - points[b * 3 + 1]!);
  const scale = d2(MESH.rightEyeOuter, MESH.leftEyeOuter);
  return scale > 0 ? d2(MESH.mouthRight, MESH.mouthLeft) / scale : 0;
}

/** Inner-lip gap over mouth width (mouth aspect ratio). More contrast than `mouthOpening`, but also moves with smiles. */
export function mouthAspectRatio(points: Float32Array): number {
  const width = dist(points, MESH.mouthRight, MESH.mouthLeft);
  return width > 0 ? dist(points, MESH.upperLipInner, MESH.lowerLipInner) / width : 0;
}

export interface HeadPose {
  /** Degrees; positive when the nose points toward the image's right. */
  yaw: number;
  /** Degrees; positive when the face tilts up (nose toward the image's top). */
  pitch: number;
  /** Degrees, about the face's own front-back axis; positive clockwise on screen (the subject's left eye lower). */
  roll: number;
  /** RMS residual of the fit over the interocular distance: above ~0.1 the landmarks do not look like a face. */
  residual: number;
}

/**
 * Rigid points of MediaPipe's canonical face model (mediapipe/modules/face_geometry/data/
 * canonical_face_model.obj, Apache-2.0; centimetres, +y up, +z out of the face), chosen on the
 * nose ridge, eye corners and cheekbones: they barely move with expression (no lips, chin or brows).
 * Right-side points are the mirror images of their left partners, as in the canonical model.
 */
export const POSE_POINTS: ReadonlyArray<readonly [index: number, x: number, y: number, z: number]> = [
  [1, 0, -1.126865, 7.475604],
  [4, 0, -0.46317, 7.58658],
  [2, 0, -2.089024, 6.058267],
  [6, 0, 2.473255, 5.788627],
  [168, 0, 3.271027, 5.236015],
  [9, 0, 4.885979, 5.385258],
  [151, 0, 6.54539, 5.027311],
  [33, -4.445859, 2.663991, 3.173422],
  [263, 4.445859, 2.663991, 3.173422],
  [133, -1.856432, 2.585245, 3.757904],
  [362, 1.856432, 2.585245, 3.757904],
  [50, -4.765501, -0.701554, 3.534632],
  [280, 4.765501, -0.701554, 3.534632],
  [98, -1.405627, -1.714196, 5.241087],
  [327, 1.405627, -1.714196, 5.241087],
];
/** Canonical points in image axes (y down, z away from the camera), centred. */
const CANON = (() => {
  const n = POSE_POINTS.length;
  const c = new Float64Array(n * 3);
  let mx = 0;
  let my = 0;
  let mz = 0;
  POSE_POINTS.forEach(([, x, y, z], i) => {
    c[i * 3] = x;
    c[i * 3 + 1] = -y;
    c[i * 3 + 2] = -z;
    mx += x / n;
    my += -y / n;
    mz += -z / n;
  });
  for (let i = 0; i < n; i++) {
    c[i * 3] = c[i * 3]! - mx;
    c[i * 3 + 1] = c[i * 3 + 1]! - my;
    c[i * 3 + 2] = c[i * 3 + 2]! - mz;
  }
  return c;
})();
const CANON_INTEROCULAR = 2 * 4.445859;

/**
 * Head pose by a least-squares similarity fit (Horn's quaternion method) of the canonical face's
 * rigid points to the landmarks' 3D positions, decomposed as R = Ryaw * Rpitch * Rroll (yaw about
 * the image's vertical axis, then pitch, then roll about the face's own front-back axis).
 *
 * Accuracy: exact on noise-free points (unit test). On real faces it inherits the mesh's errors:
 * the mesh's z is a learned weak-perspective guess, so this is pose relative to the camera axis,
 * and off-centre faces in a wide-angle frame read a few degrees off. Measured on the shared
 * photos: frontal faces give |yaw| under 4 and pitch -2 to -9 degrees (a slight downward bias),
 * mirroring the image flips yaw and roll with 1-3 degrees of asymmetry, and jitter under camera
 * noise is ~0.5 degree. Expect +-5-10 degrees overall, worse past ~45 degrees of yaw where the
 * far side of the face is guessed.
 */
export function headPose(points: Float32Array): HeadPose {
  const n = POSE_POINTS.length;
  let mx = 0;
  let my = 0;
  let mz = 0;
  for (const [idx] of POSE_POINTS) {
    mx += points[idx * 3]! / n;
    my += points[idx * 3 + 1]! / n;
    mz += points[idx * 3 + 2]! / n;
  }
  // Cross-covariance S[a][b] = sum canon_a * measured_b.
  let [sxx, sxy, sxz, syx, syy, syz, szx, szy, szz] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  let canonSq = 0;
  POSE_POINTS.forEach(([idx], i) => {
    const ax = CANON[i * 3]!;
    const ay = CANON[i * 3 + 1]!;
    const az = CANON[i * 3 + 2]!;
    const bx = points[idx * 3]! - mx;
    const by = points[idx * 3 + 1]! - my;
    const bz = points[idx * 3 + 2]! - mz;
    sxx += ax * bx;
    sxy += ax * by;
    sxz += ax * bz;
    syx += ay * bx;
    syy += ay * by;
    syz += ay * bz;
    szx += az * bx;
    szy += az * by;
    szz += az * bz;
    canonSq += ax * ax + ay * ay + az * az;
  });
  const N = [
    [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
    [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
    [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
    [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
  ];
  const [w, x, y, z] = largestEigenvector4(N);
  const r00 = 1 - 2 * (y * y + z * z);
  const r01 = 2 * (x * y - w * z);
  const r02 = 2 * (x * z + w * y);
  const r10 = 2 * (x * y + w * z);
  const r11 = 1 - 2 * (x * x + z * z);
  const r12 = 2 * (y * z - w * x);
  const r20 = 2 * (x * z - w * y);
  const r21 = 2 * (y * z + w * x);
  const r22 = 1 - 2 * (x * x + y * y);
  // Scale s = sum b . R a / sum |a|^2, then the residual |b - s R a|.
  let dot = 0;
  let bSq = 0;
  POSE_POINTS.forEach(([idx], i) => {
    const ax = CANON[i * 3]!;
    const ay = CANON[i * 3 + 1]!;
    const az = CANON[i * 3 + 2]!;
    const bx = points[idx * 3]! - mx;
    const by = points[idx * 3 + 1]! - my;
    const bz = points[idx * 3 + 2]! - mz;
    dot += bx * (r00 * ax + r01 * ay + r02 * az) + by * (r10 * ax + r11 * ay + r12 * az) + bz * (r20 * ax + r21 * ay + r22 * az);
    bSq += bx * bx + by * by + bz * bz;
  });
  const s = canonSq > 0 ? dot / canonSq : 0;
  // |b - sRa|^2 summed = |b|^2 - 2 s (b . Ra) + s^2 |a|^2 (R preserves length).
  const err = Math.max(0, bSq - 2 * s * dot + s * s * canonSq);
  // The face looks along -z (toward the camera) in canonical image axes; its x axis runs right eye to left eye.
  const fx = -r02;
  const fy = -r12;
  const fz = -r22;
  const yaw = Math.atan2(fx, -fz);
  const pitch = Math.atan2(-fy, Math.hypot(fx, fz));
  // R = Ryaw * Rpitch * Rroll: undo yaw, then pitch, on the face's x axis; what is left is roll.
  const ca = Math.cos(yaw);
  const sa = Math.sin(yaw);
  const ux = r00 * ca + r20 * sa;
  const uz = -r00 * sa + r20 * ca;
  const uy = r10 * Math.cos(pitch) - uz * Math.sin(pitch);
  const deg = 180 / Math.PI;
  return {
    yaw: yaw * deg,
    pitch: pitch * deg,
    roll: Math.atan2(uy, ux) * deg,
    residual: s > 0 ? Math.sqrt(err / n) / (s * CANON_INTEROCULAR) : Infinity,
  };
}

function aspect(p: Float32Array, eye: { lids: readonly number[]; corners: readonly number[] }): number {
  const width = dist(p, eye.corners[0]!, eye.corners[1]!);
  if (!(width > 0)) return 0;
  let gap = 0;
  for (let k = 0; k < eye.lids.length; k += 2) gap += dist(p, eye.lids[k]!, eye.lids[k + 1]!);
  return gap / (eye.lids.length / 2) / width;
}

function dist(p: Float32Array, i: number, j: number): number {
  return Math.hypot(p[i * 3]! - p[j * 3]!, p[i * 3 + 1]! - p[j * 3 + 1]!, p[i * 3 + 2]! - p[j * 3 + 2]!);
}

/** Unit eigenvector of the largest eigenvalue of a symmetric 4x4 matrix (cyclic Jacobi). */
function largestEigenvector4(m: number[][]): [number, number, number, number] {
  const a = m.map((row) => [...row]);
  const v = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
  for (let sweep = 0; sweep < 30; sweep++) {
    let off = 0;
    for (let p = 0; p < 4; p++) for (let q = p + 1; q < 4; q++) off += a[p]![q]! ** 2;
    if (off < 1e-18) break;
    for (let p = 0; p < 4; p++) {
      for (let q = p + 1; q < 4; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-30) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < 4; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < 4; i++) if (a[i]![i]! > a[best]![best]!) best = i;
  const e = [v[0]![best]!, v[1]![best]!, v[2]![best]!, v[3]![best]!] as const;
  const norm = Math.hypot(...e) || 1;
  return [e[0] / norm, e[1] / norm, e[2] / norm, e[3] / norm];
}
