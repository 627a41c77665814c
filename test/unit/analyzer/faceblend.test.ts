/**
 * The blending-seam cue (FaceBlendDetector) on frames where the answer is known: a sharp camera
 * picture (detailed background, smoother skin, a sharp outline), and the same picture with another
 * face (its own skin, colour-shifted, sharp or blurred as when rendered small and scaled up)
 * pasted in through a soft mask, as a live swapper does. Dev-set pairs: test/integration/faceblend.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FaceBlendDetector, MESH_OVAL } from '../../../server/src/analyzer/detectors/FaceBlendDetector.ts';
import { LANDMARK_COUNT, type Landmarks } from '../../../server/src/analyzer/detectors/FaceLandmarks.ts';
import type { FaceDetection } from '../../../server/src/analyzer/vision/BlazeFace.ts';
import { i420Source, type ImageSource } from '../../../server/src/analyzer/vision/image.ts';
import { seededRandom } from '../../helpers/random.ts';

const W = 320;
const H = 240;
/** A 110 px face, eyes level, in the middle of the frame. */
const FACE: FaceDetection = {
  box: { x: 105, y: 65, width: 110, height: 110 },
  score: 0.95,
  keypoints: [
    { x: 138, y: 100 },
    { x: 182, y: 100 },
    { x: 160, y: 125 },
    { x: 160, y: 148 },
    { x: 110, y: 110 },
    { x: 210, y: 110 },
  ],
};

/** Luma texture: white noise of `amplitude` over a soft gradient, like a sharp camera picture. */
function texture(seed: number, amplitude: number, level = 100): Float32Array {
  const rnd = seededRandom(seed);
  const t = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) t[y * W + x] = level + 0.2 * x + 0.1 * y + amplitude * (rnd() - 0.5) * 2;
  return t;
}

/** [1 2 1]/4 blur in x and y. */
function blur(t: Float32Array): Float32Array {
  const a = new Float32Array(t);
  const b = new Float32Array(t);
  for (let y = 0; y < H; y++) for (let x = 1; x < W - 1; x++) a[y * W + x] = (t[y * W + x - 1]! + 2 * t[y * W + x]! + t[y * W + x + 1]!) / 4;
  for (let y = 1; y < H - 1; y++) for (let x = 0; x < W; x++) b[y * W + x] = (a[(y - 1) * W + x]! + 2 * a[y * W + x]! + a[(y + 1) * W + x]!) / 4;
  return b;
}

/** Distance from the face centre in units of the face's ellipse (0.43 x 0.5 of the box). */
const ell = (x: number, y: number, scale = 1) => Math.hypot((x + 0.5 - 160) / (0.43 * 110 * scale), (y + 0.5 - 120) / (0.5 * 110 * scale));

/** A camera picture: a detailed background (hair, shelves) and a face of smoother, brighter skin with a sharp outline. */
function camera(seed: number): Float32Array {
  const bg = texture(seed, 24);
  const skin = texture(seed + 50, 10, 135);
  return bg.map((v, i) => (ell(i % W, Math.floor(i / W)) < 1 ? skin[i]! : v));
}

/**
 * `cam` with another face pasted in, as a live swapper does: the render holds the new face (its
 * own skin, a little narrower, brighter: colour-matched imperfectly), blurred `blurs` times when it
 * was rendered small and scaled up, and a reconstruction of the surroundings (blurred); it is
 * blended in through a mask feathered over 0.8-1.1 of the outline.
 */
function pasted(cam: Float32Array, seed: number, blurs: number): Float32Array {
  let skin = texture(seed, 10, 150);
  for (let i = 0; i < blurs; i++) skin = blur(skin);
  const around = blur(blur(cam));
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const r = ell(x, y);
      const m = r <= 0.8 ? 1 : r >= 1.1 ? 0 : (1.1 - r) / 0.3;
      const render = ell(x, y, 0.93) < 1 ? skin[i]! : around[i]!;
      out[i] = m * render + (1 - m) * cam[i]!;
    }
  }
  return out;
}

function frame(luma: Float32Array): ImageSource {
  const data = new Uint8Array(W * H * 1.5).fill(128);
  for (let i = 0; i < W * H; i++) data[i] = Math.max(0, Math.min(255, Math.round(luma[i]!)));
  return i420Source({ width: W, height: H, data });
}

describe('FaceBlendDetector (blending seam)', () => {
  const det = new FaceBlendDetector();

  const judge = (luma: Float32Array) => det.judge({ src: frame(luma), face: FACE, at: 0, priority: 0 });

  it('an untouched frame: no seam, and a face as sharp as skin is', () => {
    for (const seed of [1, 2, 3]) {
      const e = judge(camera(seed));
      expect(e.score).toBeLessThan(0.2);
      expect(e.reason).toMatch(/no soft blending seam/);
    }
  });

  it('a face rendered at its own size and pasted through a soft mask: less detail at the seam', () => {
    for (const seed of [1, 2, 3]) {
      const cam = camera(seed);
      const real = judge(cam);
      const fake = judge(pasted(cam, seed + 100, 0));
      // The shift is about what the dev set's live swaps show (median dip 0.02 real, 0.16 fake):
      // one frame of it moves the seam score up a little, a window of them makes the reading.
      expect(Number(fake.details?.dip)).toBeGreaterThan(Number(real.details?.dip) + 0.1);
    }
  });

  it('a face rendered small, scaled up (blurred), colour-shifted and pasted: blurrier than its surroundings', () => {
    for (const seed of [1, 2, 3]) {
      const fake = judge(pasted(camera(seed), seed + 100, 2));
      expect(fake.score).toBeGreaterThan(0.6);
      expect(fake.reason).toMatch(/blended in|blurrier than the picture around it/);
    }
  });

  it('abstains on a small face, a face at the edge of the picture and a turned head, saying why', () => {
    const src = frame(camera(4));
    const small = det.judge({ src, face: { ...FACE, box: { x: 140, y: 100, width: 40, height: 40 } }, at: 0, priority: 0 });
    expect(small.score).toBeUndefined();
    expect(small.reason).toMatch(/too small/);
    const edge = det.judge({ src, face: { ...FACE, box: { x: -60, y: 65, width: 110, height: 110 }, keypoints: FACE.keypoints.map((p) => ({ x: p.x - 165, y: p.y })) }, at: 0, priority: 0 });
    expect(edge.score).toBeUndefined();
    expect(edge.reason).toMatch(/edge of the picture|outline/);
    // Nose 25 px beside the eyes' midpoint, eyes 44 px apart: a head turned ~45 degrees.
    const turned = det.judge({ src, face: { ...FACE, keypoints: FACE.keypoints.map((p, i) => (i === 2 ? { x: p.x + 25, y: p.y } : p)) }, at: 0, priority: 0 });
    expect(turned.score).toBeUndefined();
    expect(turned.reason).toMatch(/head is turned/);
  });

  it('costs a few milliseconds at most on a 720p frame with a large face', () => {
    const big = new Uint8Array(1280 * 720 * 1.5).fill(128);
    const rnd = seededRandom(9);
    for (let i = 0; i < 1280 * 720; i++) big[i] = 60 + Math.floor(rnd() * 120);
    const src = i420Source({ width: 1280, height: 720, data: big });
    const face: FaceDetection = { ...FACE, box: { x: 490, y: 210, width: 300, height: 300 }, keypoints: FACE.keypoints.map((p) => ({ x: p.x + 480, y: p.y + 240 })) };
    const e = det.judge({ src, face, at: 0, priority: 0 });
    expect(e.score).toBeDefined();
    // Decimated to ~128 px per face side: bounded work whatever the face size (timing lives in the benchmark, not here).
    expect(Number(e.details?.faceSize)).toBe(300);
  });
});

/**
 * A face mesh whose face-oval points lie on the face's ellipse (ell = 1), shifted by `dx` px: all
 * the detector reads of the mesh. The other points stay at 0.
 */
function ovalMesh(dx = 0): Landmarks {
  const points = new Float32Array(LANDMARK_COUNT * 3);
  MESH_OVAL.forEach((index, i) => {
    const t = -Math.PI / 2 + (2 * Math.PI * i) / MESH_OVAL.length;
    points[3 * index] = 160 - 0.5 + dx + 0.43 * 110 * Math.cos(t);
    points[3 * index + 1] = 120 - 0.5 + 0.5 * 110 * Math.sin(t);
  });
  return { points, presence: 1, region: { cx: 160, cy: 120, width: 160, height: 160 } };
}

/**
 * `cam` with one stretch of the outline smooth (a lit neck under the chin, a plain collar): flat
 * skin across the seam band over the lowest quarter of the outline, as a real face can have there.
 */
function smoothBelowChin(cam: Float32Array, seed: number): Float32Array {
  const flat = texture(seed + 70, 1, 130);
  return cam.map((v, i) => {
    const x = i % W;
    const y = Math.floor(i / W);
    const r = ell(x, y);
    const below = Math.atan2(y + 0.5 - 120, x + 0.5 - 160) > Math.PI / 4 && Math.atan2(y + 0.5 - 120, x + 0.5 - 160) < (3 * Math.PI) / 4;
    return below && r > 0.75 && r < 1.15 ? flat[i]! : v;
  });
}

describe('FaceBlendDetector on the face mesh\'s outline', () => {
  const det = new FaceBlendDetector();
  const judge = (luma: Float32Array, landmarks?: Landmarks, face = FACE) => det.judge({ src: frame(luma), face, at: 0, priority: 0, ...(landmarks ? { landmarks } : {}) });

  it('reads the seam along the mesh oval: none on an untouched frame, a dip on a pasted face', () => {
    for (const seed of [1, 2, 3]) {
      const cam = camera(seed);
      const real = judge(cam, ovalMesh());
      const fake = judge(pasted(cam, seed + 100, 0), ovalMesh());
      expect(real.details?.outline).toBe('mesh');
      expect(real.details?.sectors).toBe(8);
      expect(real.score).toBeLessThan(0.2);
      expect(Number(fake.details?.dip)).toBeGreaterThan(Number(real.details?.dip) + 0.1);
    }
  });

  it('finds the seam where the face is when the face box is off by a tenth of the face', () => {
    const box = { ...FACE.box, x: FACE.box.x + 12 };
    const shifted: FaceDetection = { ...FACE, box, keypoints: FACE.keypoints.map((p) => ({ x: p.x + 12, y: p.y })) };
    for (const seed of [1, 2, 3]) {
      const fake = pasted(camera(seed), seed + 100, 0);
      const byMesh = judge(fake, ovalMesh(), shifted);
      const byBox = judge(fake, undefined, shifted);
      expect(byBox.details?.outline).toBe('template');
      expect(Number(byMesh.details?.dip)).toBeGreaterThan(Number(byBox.details?.dip) + 0.05);
    }
  });

  it('one stretch of the outline does not decide: a smooth neck below the chin reads as no seam', () => {
    for (const seed of [1, 2, 3]) {
      const cam = smoothBelowChin(camera(seed), seed);
      const e = judge(cam, ovalMesh());
      expect(e.details?.sectors).toBe(8);
      expect(e.score).toBeLessThan(0.2);
      // Pooled over the whole outline (the bands' means in the details), the smooth stretch would read as a seam.
      const d = e.details as Record<string, number>;
      const pooled = 0.5 * (Math.log(d.inside!) + Math.log(d.outside!)) - Math.log(d.seam!);
      expect(pooled).toBeGreaterThan(d.dip! + 0.15);
    }
  });

  it('falls back to the template when the mesh is missing or its oval is degenerate', () => {
    const flat: Landmarks = { ...ovalMesh(), points: new Float32Array(LANDMARK_COUNT * 3) };
    const e = judge(camera(5), flat);
    expect(e.details?.outline).toBe('template');
    expect(judge(camera(5)).details?.outline).toBe('template');
  });
});
