/**
 * Face Mesh (and the iris refinement) with the real models on the shared photos: 468 points where
 * the face is, mouth and eye openness that follow what a person sees, head pose near frontal on
 * frontal photos and mirrored with the image, and low face presence on crops without a face.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FaceLandmarks, LANDMARK_COUNT, type Landmarks } from '../../server/src/analyzer/detectors/FaceLandmarks.ts';
import { eyeOpenness, headPose, MESH, mouthAspectRatio, mouthOpening } from '../../server/src/analyzer/detectors/faceGeometry.ts';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import type { ModelRunner } from '../../server/src/analyzer/inference/ModelRunner.ts';
import { BlazeFace, type FaceDetection } from '../../server/src/analyzer/vision/BlazeFace.ts';
import { FaceFollower } from '../../server/src/analyzer/vision/FaceFollower.ts';
import { i420Source, rgbSource, type ImageSource } from '../../server/src/analyzer/vision/image.ts';
import { DATA_DIR, loadJpeg, toI420 } from '../helpers/images.ts';

const dataDir = DATA_DIR;

const TEST1 = 'faces/pexels/landmark_Test1.jpg'; // smiling, teeth showing
const TEST2 = 'faces/pexels/landmark_Test2.jpg'; // mouth wide open, right eye winking shut
const T1 = 'faces/silentface/image_T1.jpg'; // stored sideways (EXIF orientation 6)
const TURNED = 'faces/mesonet/real/real00240.jpg'; // head turned toward the image's left, checked by eye

/** Eye corners and lids, lip centres and corners: all inside the face box on a frontal face. */
const FEATURES = [33, 133, 159, 145, 263, 362, 386, 374, 13, 14, 61, 291, 1];

let runtime: InferenceRuntime;
let meshModel: ModelRunner;
let detector: BlazeFace;
let landmarks: FaceLandmarks;
let meshOnly: FaceLandmarks;

beforeAll(async () => {
  if (!fs.existsSync(path.join(dataDir, 'faces'))) {
    throw new Error(`face test data not found at ${dataDir}/faces: set DFS_DATA_DIR to the shared data folder (see shared/data/DATA.md)`);
  }
  runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
  meshModel = await runtime.load('face-landmarks');
  detector = new BlazeFace(await runtime.load('blazeface-short'));
  landmarks = new FaceLandmarks(meshModel, { iris: await runtime.load('iris-landmarks') });
  meshOnly = new FaceLandmarks(meshModel);
  return () => runtime.close();
});

async function locate(src: ImageSource, lm = landmarks): Promise<{ face: FaceDetection; l: Landmarks }> {
  const faces = await detector.detect(src);
  expect(faces).toHaveLength(1);
  const face = faces[0]!;
  const l = await lm.locate(src, face);
  expect(l, 'landmarks').toBeDefined();
  return { face, l: l! };
}

describe('FaceLandmarks on real photos', () => {
  it('the model has the inputs and outputs the wrapper assumes', async () => {
    expect(meshModel.inputNames).toEqual(['input_1']);
    const ort = await import('onnxruntime-node');
    const out = await meshModel.run({ input_1: new ort.Tensor('float32', new Float32Array(3 * 192 * 192), [1, 3, 192, 192]) });
    expect(Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dims]))).toEqual({ conv2d_20: [1, 1404, 1, 1], conv2d_30: [1, 1, 1, 1] });
  });

  it.each([TEST1, TEST2, T1])('puts 468 points on the face in %s', async (file) => {
    const { face, l } = await locate(loadJpeg(file));
    expect(l.points).toHaveLength(LANDMARK_COUNT * 3);
    expect(l.points.every(Number.isFinite)).toBe(true);
    expect(l.presence).toBeGreaterThan(0.9);
    const { x, y, width, height } = face.box;
    for (const i of FEATURES) {
      const px = l.points[i * 3]!;
      const py = l.points[i * 3 + 1]!;
      expect(px, `point ${i} x`).toBeGreaterThan(x);
      expect(px, `point ${i} x`).toBeLessThan(x + width);
      expect(py, `point ${i} y`).toBeGreaterThan(y);
      expect(py, `point ${i} y`).toBeLessThan(y + height);
    }
    // Subject's right eye on the image's left; eyes above the nose tip, nose above the mouth.
    const p = (i: number, c: number) => l.points[i * 3 + c]!;
    expect(p(MESH.rightEyeOuter, 0)).toBeLessThan(p(MESH.leftEyeOuter, 0));
    expect(p(MESH.rightEyeOuter, 1)).toBeLessThan(p(MESH.noseTip, 1));
    expect(p(MESH.noseTip, 1)).toBeLessThan(p(MESH.upperLipInner, 1));
    expect(p(MESH.upperLipInner, 1)).toBeLessThan(p(MESH.lowerLipInner, 1));
  });

  it("reads landmark_Test2's open mouth as clearly more open than landmark_Test1's smile", async () => {
    const { l: a } = await locate(loadJpeg(TEST1));
    const { l: b } = await locate(loadJpeg(TEST2));
    // Measured: opening 0.22 vs 0.29 of the interocular distance; aspect ratio 0.26 vs 0.47.
    expect(mouthOpening(b.points)).toBeGreaterThan(mouthOpening(a.points) + 0.04);
    expect(mouthAspectRatio(b.points)).toBeGreaterThan(1.5 * mouthAspectRatio(a.points));
  });

  it('sees the wink in landmark_Test2 with the iris model, which the mesh alone misses', async () => {
    const src = loadJpeg(TEST2);
    const { l } = await locate(src);
    const eyes = eyeOpenness(l);
    expect(eyes.source).toBe('iris');
    // Measured: closed right eye 0.14, open left eye 0.31.
    expect(eyes.right).toBeLessThan(0.2);
    expect(eyes.right).toBeLessThan(0.6 * eyes.left);
    expect(eyes.left).toBeGreaterThan(0.25);
    // Mirrored, the closed eye is the subject's left.
    const { l: m } = await locate(mirror(src));
    const me = eyeOpenness(m);
    expect(me.left).toBeLessThan(0.6 * me.right);
    // The mesh's own lid points read both eyes open (0.27 and 0.27): why the iris model is used for blinks.
    const { l: mesh } = await locate(src, meshOnly);
    const meshEyes = eyeOpenness(mesh);
    expect(meshEyes.source).toBe('mesh');
    expect(mesh.eyes).toBeUndefined();
    expect(meshEyes.right).toBeGreaterThan(0.8 * meshEyes.left);
  });

  it('estimates near-frontal head pose on frontal photos, mirrored with the image', async () => {
    for (const file of [TEST1, TEST2]) {
      const src = loadJpeg(file);
      const pose = headPose((await locate(src)).l.points);
      const flipped = headPose((await locate(mirror(src))).l.points);
      const msg = `${file}: ${JSON.stringify(pose)} mirrored ${JSON.stringify(flipped)}`;
      expect(Math.abs(pose.yaw), msg).toBeLessThan(20);
      expect(Math.abs(pose.pitch), msg).toBeLessThan(20);
      expect(pose.residual, msg).toBeLessThan(0.1);
      // Measured: yaw -3.9 / +2.2 and -1.2 / +2.5; roll -6.9 / +6.7 and -2.4 / +3.7.
      expect(Math.sign(flipped.yaw), msg).toBe(-Math.sign(pose.yaw));
      expect(Math.abs(pose.yaw + flipped.yaw), msg).toBeLessThan(5);
      expect(Math.abs(pose.roll + flipped.roll), msg).toBeLessThan(5);
      expect(Math.abs(pose.pitch - flipped.pitch), msg).toBeLessThan(5);
    }
    // A clearly turned head: the nose points to the image's left (yaw -16), and right when mirrored (+17).
    const src = loadJpeg(TURNED);
    const pose = headPose((await locate(src)).l.points);
    const flipped = headPose((await locate(mirror(src))).l.points);
    expect(pose.yaw).toBeLessThan(-10);
    expect(flipped.yaw).toBeGreaterThan(10);
  });

  it('reports high presence on a face and low presence on grey and noise crops', async () => {
    const { l } = await locate(loadJpeg(TEST1));
    expect(l.presence).toBeGreaterThan(0.99);
    const anyPresence = new FaceLandmarks(meshModel, { minPresence: 0 });
    // A face-sized detection on frames without a face (the landmark model is run on whatever the box covers).
    const box: FaceDetection = {
      box: { x: 200, y: 120, width: 240, height: 240 },
      score: 0.9,
      keypoints: [
        { x: 270, y: 200 },
        { x: 370, y: 200 },
        { x: 320, y: 250 },
        { x: 320, y: 300 },
        { x: 210, y: 220 },
        { x: 430, y: 220 },
      ],
    };
    let seed = 12345;
    const frames: Array<[string, ImageSource]> = [
      ['grey', solid(640, 480, () => 128)],
      ['noise', solid(640, 480, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24)],
    ];
    for (const [name, src] of frames) {
      const got = await anyPresence.locate(src, box);
      expect(got!.presence, name).toBeLessThan(0.1);
      expect(await landmarks.locate(src, box), name).toBeUndefined();
    }
  });

  it('finds the same points in an I420 frame as in the RGB image, and serialises concurrent calls', async () => {
    const rgb = loadJpeg(TEST1);
    const { face, l } = await locate(rgb);
    const yuv = await landmarks.locate(i420Source(toI420(rgb)), face);
    let worst = 0;
    for (let i = 0; i < LANDMARK_COUNT; i++) {
      worst = Math.max(worst, Math.hypot(yuv!.points[i * 3]! - l.points[i * 3]!, yuv!.points[i * 3 + 1]! - l.points[i * 3 + 1]!));
    }
    expect(worst / face.box.width).toBeLessThan(0.02);

    const other = loadJpeg(TEST2);
    const { face: otherFace, l: otherAlone } = await locate(other);
    const [x, y] = await Promise.all([landmarks.locate(rgb, face), landmarks.locate(other, otherFace)]);
    expect(x!.points).toEqual(l.points);
    expect(y!.points).toEqual(otherAlone.points);
    expect(y!.eyes!.right.contour).toEqual(otherAlone.eyes!.right.contour);
  });
});

describe('FaceFollower with the real mesh', () => {
  it('follows a face that moved to the next frame without face detection, and lets go of one that left', async () => {
    const rgb = loadJpeg(TEST1);
    const { face, l } = await locate(rgb, meshOnly);
    const follower = new FaceFollower();
    follower.anchorAt(face, l, 0);
    // The next frame: the same face 6% of its box to the right and 4% down (a head moving at a
    // webcam between two landmark frames). The mesh runs on the crop the last landmarks give.
    const dx = Math.round(face.box.width * 0.06);
    const dy = Math.round(face.box.height * 0.04);
    const moved = shifted(rgb, dx, dy);
    const predicted = follower.predict(133)!;
    expect(predicted).toBe(face);
    const next = await meshOnly.locate(moved, predicted);
    expect(next, 'the mesh finds the face on the followed crop').toBeDefined();
    const followed = follower.follow(next!, 133)!;
    // Where face detection itself puts the face on that frame, to a few percent of its size.
    const [detected] = await detector.detect(moved);
    const centre = (f: FaceDetection) => ({ x: f.box.x + f.box.width / 2, y: f.box.y + f.box.height / 2 });
    expect(Math.hypot(centre(followed).x - centre(detected!).x, centre(followed).y - centre(detected!).y) / face.box.width).toBeLessThan(0.04);
    expect(Math.abs(followed.box.width / detected!.box.width - 1)).toBeLessThan(0.05);
    for (let k = 0; k < 4; k++) {
      expect(Math.hypot(followed.keypoints[k]!.x - detected!.keypoints[k]!.x, followed.keypoints[k]!.y - detected!.keypoints[k]!.y) / face.box.width, `keypoint ${k}`).toBeLessThan(0.05);
    }
    // The face moved by (dx, dy), and so did the followed box.
    expect(Math.abs(centre(followed).x - centre(face).x - dx)).toBeLessThan(0.03 * face.box.width);
    expect(Math.abs(centre(followed).y - centre(face).y - dy)).toBeLessThan(0.03 * face.box.width);
    // A frame without the face: the mesh finds nothing on the followed crop.
    const empty = solid(rgb.width, rgb.height, () => 128);
    expect(await meshOnly.locate(empty, follower.predict(266)!)).toBeUndefined();
    // Too long since the last landmarks: detect again.
    expect(follower.predict(133 + 501)).toBeUndefined();
  });
});

/** The image moved right by dx and down by dy (RGBA), grey where nothing came in. */
function shifted(src: ImageSource, dx: number, dy: number): ImageSource {
  const { width: w, height: h, data } = src;
  const out = new Uint8Array(w * h * 4).fill(128);
  for (let y = Math.max(0, dy); y < h; y++) out.set(data.subarray(((y - dy) * w) * 4, ((y - dy) * w + w - dx) * 4), (y * w + dx) * 4);
  return rgbSource({ width: w, height: h, data: out });
}

function solid(width: number, height: number, paint: () => number): ImageSource {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : paint();
  return rgbSource({ width, height, data });
}

/** The image flipped left to right (RGBA). */
function mirror(src: ImageSource): ImageSource {
  const { width: w, height: h, data } = src;
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out.set(data.subarray((y * w + x) * 4, (y * w + x) * 4 + 4), (y * w + w - 1 - x) * 4);
  }
  return rgbSource({ width: w, height: h, data: out });
}

