/**
 * BlazeFace with the real model on the shared face photos: one face each, where a person sees it,
 * and none in frames without a face. Also runs the I420 path on a real photo and checks that the
 * MesoNet crop computed from the detection lands where the MesoNet authors cropped.
 */
import fs from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { BlazeFace, blazeFaceModelPath, FaceKeypoint, type FaceDetection } from '../../server/src/analyzer/vision/BlazeFace.ts';
import { mesoNetRegion } from '../../server/src/analyzer/vision/crops.ts';
import { i420Source, rgbSource, type ImageSource } from '../../server/src/analyzer/vision/image.ts';
import { DATA_DIR, loadJpeg, toI420 } from '../helpers/images.ts';

const dataDir = DATA_DIR;

interface Expected {
  file: string;
  /** Box centre and side in pixels of the upright image. */
  cx: number;
  cy: number;
  size: number;
  /** Subject's right and left eye, where given. */
  eyes?: [[number, number], [number, number]];
}

// Checked by eye: each detection was drawn (box and keypoints) onto its image as a PNG and looked
// at. The boxes run from the brows or forehead to the chin and the eye points sit on the pupils
// (on the closed lid in landmark_Test2). Values are those detections, rounded.
const PORTRAITS: Expected[] = [
  { file: 'faces/pexels/landmark_Test1.jpg', cx: 528, cy: 595, size: 578, eyes: [[381, 485], [630, 456]] },
  { file: 'faces/pexels/landmark_Test2.jpg', cx: 524, cy: 548, size: 664, eyes: [[376, 407], [652, 399]] },
  // Silent-Face photos are stored sideways with EXIF orientation 6; the authors read them upright (OpenCV applies EXIF).
  { file: 'faces/silentface/image_T1.jpg', cx: 196, cy: 265, size: 198, eyes: [[184, 211], [261, 229]] },
  // A photographed poster and a face on a phone screen: still one face each, for the anti-spoofing model to judge.
  { file: 'faces/silentface/image_F1.jpg', cx: 293, cy: 253, size: 205, eyes: [[221, 199], [291, 216]] },
  { file: 'faces/silentface/image_F2.jpg', cx: 251, cy: 387, size: 245, eyes: [[202, 323], [300, 345]] },
  // MesoNet's tight aligned crops (208-342 px): the short-range model finds these too.
  { file: 'faces/mesonet/df/df00204.jpg', cx: 178, cy: 172, size: 213 },
  { file: 'faces/mesonet/df/df01254.jpg', cx: 129, cy: 146, size: 164 },
  { file: 'faces/mesonet/real/real00240.jpg', cx: 154, cy: 124, size: 208 },
  { file: 'faces/mesonet/real/real00772.jpg', cx: 99, cy: 117, size: 158 },
];
// Not used: pexels/iris_Test1.jpg and iris_Test2.jpg are 512x512 close-ups of one eye, not
// portraits; the model finds nothing in one and a 0.50-score box around the eye in the other.

const CENTRE_TOLERANCE = 0.06; // of the box side
const SIZE_TOLERANCE = 0.1; // relative
const EYE_TOLERANCE = 0.06; // of the box side

let detector: BlazeFace;

beforeAll(async () => {
  if (!fs.existsSync(path.join(dataDir, 'faces'))) {
    throw new Error(`face test data not found at ${dataDir}/faces: set DFS_DATA_DIR to the shared data folder (see shared/data/DATA.md)`);
  }
  const session = await ort.InferenceSession.create(blazeFaceModelPath(), { logSeverityLevel: 3 });
  detector = new BlazeFace(session);
});

describe('BlazeFace on real photos', () => {
  it('the model has the inputs and outputs the detector assumes', async () => {
    const session = await ort.InferenceSession.create(blazeFaceModelPath(), { logSeverityLevel: 3 });
    expect(session.inputNames).toEqual(['input:0']);
    const out = await session.run({ 'input:0': new ort.Tensor('float32', new Float32Array(128 * 128 * 3), [1, 128, 128, 3]) });
    expect(Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dims]))).toEqual({
      'Identity:0': [1, 512, 1],
      'Identity_1:0': [1, 384, 1],
      'Identity_2:0': [1, 512, 16],
      'Identity_3:0': [1, 384, 16],
    });
  });

  it.each(PORTRAITS)('finds exactly one face in $file, where it is', async (expected) => {
    const src = loadJpeg(expected.file);
    const faces = await detector.detect(src);
    expect(faces, summary(faces)).toHaveLength(1);
    const f = faces[0]!;
    expect(f.score).toBeGreaterThan(0.8);
    expectBox(f, expected);
    // Keypoint order: the subject's right eye is on the viewer's left; nose below the eyes, mouth below the nose.
    const kp = f.keypoints;
    expect(kp).toHaveLength(6);
    expect(kp[FaceKeypoint.rightEye]!.x).toBeLessThan(kp[FaceKeypoint.leftEye]!.x);
    expect(kp[FaceKeypoint.rightEar]!.x).toBeLessThan(kp[FaceKeypoint.leftEar]!.x);
    const eyeY = (kp[FaceKeypoint.rightEye]!.y + kp[FaceKeypoint.leftEye]!.y) / 2;
    expect(kp[FaceKeypoint.nose]!.y).toBeGreaterThan(eyeY);
    expect(kp[FaceKeypoint.mouth]!.y).toBeGreaterThan(kp[FaceKeypoint.nose]!.y);
    if (expected.eyes) {
      expected.eyes.forEach(([x, y], i) => {
        const p = kp[i === 0 ? FaceKeypoint.rightEye : FaceKeypoint.leftEye]!;
        expect(Math.hypot(p.x - x, p.y - y), `eye ${i} at ${p.x},${p.y}`).toBeLessThan(EYE_TOLERANCE * expected.size);
      });
    }
  });

  it('finds the same face in an I420 frame as in the RGB image', async () => {
    const expected = PORTRAITS[0]!;
    const rgb = loadJpeg(expected.file);
    const faces = await detector.detect(i420Source(toI420(rgb)));
    expect(faces, summary(faces)).toHaveLength(1);
    expectBox(faces[0]!, expected);
  });

  it('finds no face in frames without one', async () => {
    const frame = (paint: (x: number, y: number, c: number) => number): ImageSource => {
      const data = new Uint8Array(640 * 480 * 4);
      for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : paint((i >> 2) % 640, Math.floor(i / 4 / 640), i % 4);
      return rgbSource({ width: 640, height: 480, data });
    };
    const frames: Array<[string, ImageSource]> = [
      ['grey', frame(() => 128)],
      ['black', frame(() => 0)],
      ['gradient', frame((x, y, c) => Math.floor((x * 255) / 640 + y * 0.2 + c * 40) % 256)],
    ];
    // Full-range RGB noise is the hardest case. These are the seeds (s * 7919, s = 1..40) whose frames
    // score 0.51-0.61: MediaPipe's 0.5 threshold would report a face, the 0.75 default must not.
    for (const s of [18, 19, 21, 23, 32, 34, 37, 39]) {
      let seed = s * 7919;
      frames.push([`noise ${s}`, frame(() => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24)]);
    }
    for (const [name, src] of frames) {
      const faces = await detector.detect(src);
      expect(faces, `${name}: ${summary(faces)}`).toHaveLength(0);
    }
  });

  it("places the MesoNet crop about where MesoNet's authors cropped their test faces", async () => {
    // Their crops fill the whole image; ours, from BlazeFace keypoints instead of dlib landmarks,
    // should nearly coincide. Measured: centres 1-6% of the side off, sides 0.97-1.26 of theirs (with the
    // 1.2 correction for BlazeFace's keypoints, see crops.ts), tilt under 4 degrees.
    for (const { file } of PORTRAITS.filter((p) => p.file.includes('mesonet'))) {
      const src = loadJpeg(file);
      const [f] = await detector.detect(src);
      const r = mesoNetRegion(f!);
      const side = src.width;
      expect(Math.hypot(r.cx - side / 2, r.cy - side / 2) / side, file).toBeLessThan(0.08);
      expect(r.width / side, file).toBeGreaterThan(0.85);
      expect(r.width / side, file).toBeLessThan(1.35);
      expect(Math.abs(r.angle ?? 0), file).toBeLessThan((10 * Math.PI) / 180);
    }
  });

  it('does not let concurrent calls overwrite each other', async () => {
    const [a, b] = [loadJpeg(PORTRAITS[0]!.file), loadJpeg(PORTRAITS[2]!.file)];
    const [fa, fb] = await Promise.all([detector.detect(a), detector.detect(b)]);
    expectBox(fa[0]!, PORTRAITS[0]!);
    expectBox(fb[0]!, PORTRAITS[2]!);
  });
});

function expectBox(f: FaceDetection, e: Expected): void {
  const cx = f.box.x + f.box.width / 2;
  const cy = f.box.y + f.box.height / 2;
  const msg = `${e.file}: ${summary([f])}`;
  expect(Math.hypot(cx - e.cx, cy - e.cy), msg).toBeLessThan(CENTRE_TOLERANCE * e.size);
  expect(Math.abs(f.box.width / e.size - 1), msg).toBeLessThan(SIZE_TOLERANCE);
  expect(Math.abs(f.box.height / e.size - 1), msg).toBeLessThan(SIZE_TOLERANCE);
}

function summary(faces: readonly FaceDetection[]): string {
  return JSON.stringify(faces.map((f) => ({ score: +f.score.toFixed(3), box: [f.box.x, f.box.y, f.box.width, f.box.height].map(Math.round) })));
}

