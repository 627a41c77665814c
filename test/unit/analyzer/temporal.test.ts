/**
 * The temporal face-swap cues on synthetic input where the answer is known (no model):
 * - face-flicker: a scene whose light flickers for everything alike stays steady; the same scene
 *   with a face pasted through a soft mask, colour-shifted and blurred differently every frame (a
 *   swapper without temporal smoothing) is flagged; too low a frame rate abstains.
 * - landmark-jitter: a head moving, turning and zooming smoothly with a pixel-level landmark noise
 *   stays steady; the same head whose eyes, nose and brows shake relative to the jaw line every
 *   frame is flagged; 2 fps and missing landmarks abstain.
 * What they cannot prove: that real swappers flicker or tremble this much (on DeepFaceLive's demo
 * clips they do not; see the detectors' headers and test/integration/temporal-dev.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Evidence, FaceObservation } from '../../../server/src/analyzer/detectors/Detector.ts';
import { FaceFlickerDetector } from '../../../server/src/analyzer/detectors/FaceFlickerDetector.ts';
import type { Landmarks } from '../../../server/src/analyzer/detectors/FaceLandmarks.ts';
import { alignSimilarity, LandmarkJitterDetector, RIGID_POINTS } from '../../../server/src/analyzer/detectors/LandmarkJitterDetector.ts';
import { rgbSource, type ImageSource } from '../../../server/src/analyzer/vision/image.ts';
import { seededRandom } from '../../helpers/random.ts';

const T0 = 1_750_000_000_000;

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}

function expectAbstain(e: Evidence): void {
  expect(e.score, e.reason).toBeUndefined();
  expect(e.confidence).toBe(0);
  expect(e.reason.length).toBeGreaterThan(20);
}

const W = 160;
const H = 160;
const BOX = { x: 50, y: 50, width: 60, height: 70 };

/** The scene texture box-blurred by 0, 1 and 2 pixels (what a swapper's resampling does to a face). */
function blurred(texture: Float32Array): Float32Array[] {
  return [0, 1, 2].map((b) => {
    if (b === 0) return texture;
    const out = new Float32Array(texture.length);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          let n = 0;
          for (let dy = -b; dy <= b; dy++) {
            for (let dx = -b; dx <= b; dx++) {
              s += texture[(Math.min(H - 1, Math.max(0, y + dy)) * W + Math.min(W - 1, Math.max(0, x + dx))) * 3 + c]!;
              n++;
            }
          }
          out[(y * W + x) * 3 + c] = s / n;
        }
      }
    }
    return out;
  });
}

/** Soft elliptical mask over the face box: 1 inside, feathered to 0 at its rim. */
function softMask(): Float32Array {
  const m = new Float32Array(W * H);
  const cx = BOX.x + BOX.width / 2;
  const cy = BOX.y + BOX.height / 2;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const r = Math.hypot((x - cx) / (0.45 * BOX.width), (y - cy) / (0.5 * BOX.height));
      m[y * W + x] = r < 0.8 ? 1 : r < 1 ? (1 - r) / 0.2 : 0;
    }
  }
  return m;
}

/**
 * One RGB frame: the scene texture under a global gain, with sensor noise; when `paste` is given,
 * the face area is replaced through the soft mask by the texture blurred `blur` pixels and shifted
 * by `shift` levels per channel.
 */
function frame(scene: Float32Array[], mask: Float32Array, gain: number, rand: () => number, paste?: { shift: [number, number, number]; blur: number }): ImageSource {
  const data = new Uint8Array(W * H * 3);
  const face = scene[paste?.blur ?? 0]!;
  for (let i = 0; i < W * H; i++) {
    const m = paste ? mask[i]! : 0;
    for (let c = 0; c < 3; c++) {
      const v = m > 0 ? (1 - m) * scene[0]![i * 3 + c]! + m * (face[i * 3 + c]! + paste!.shift[c]!) : scene[0]![i * 3 + c]!;
      data[i * 3 + c] = Math.max(0, Math.min(255, Math.round(v * gain + 3 * (rand() - 0.5))));
    }
  }
  return rgbSource({ width: W, height: H, data }, 3);
}

function sceneTexture(rand: () => number): Float32Array {
  const t = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const base = 110 + 30 * Math.sin(x / 9) * Math.cos(y / 13) + 25 * (rand() - 0.5);
      t[(y * W + x) * 3] = base + 25;
      t[(y * W + x) * 3 + 1] = base;
      t[(y * W + x) * 3 + 2] = base - 15;
    }
  }
  return t;
}

function playFlicker(fps: number, seconds: number, pasted: 'none' | 'steady' | 'flicker', seed = 7): Evidence {
  const rand = seededRandom(seed);
  const scene = blurred(sceneTexture(rand));
  const mask = softMask();
  const d = new FaceFlickerDetector();
  const n = Math.round(fps * seconds);
  for (let k = 0; k < n; k++) {
    // The room's light: a slow drift and a small per-frame flicker that hits everything alike.
    const gain = 1 + 0.05 * Math.sin(k / 10) + 0.03 * normal(rand);
    const paste =
      pasted === 'none'
        ? undefined
        : pasted === 'steady'
          ? { shift: [6, 2, -4] as [number, number, number], blur: 1 }
          : { shift: [8 * normal(rand), 8 * normal(rand), 8 * normal(rand)] as [number, number, number], blur: k % 3 };
    const src = frame(scene, mask, gain, rand, paste);
    d.observeFace({ src, face: { box: BOX, score: 0.9, keypoints: [] }, at: T0 + (k * 1000) / fps });
  }
  return d.evaluate(T0 + (n * 1000) / fps);
}

describe('FaceFlickerDetector', () => {
  it('a scene whose light flickers for face and surroundings alike stays steady', () => {
    const e = playFlicker(10, 6, 'none');
    expect(e.score, e.reason).toBe(0.1);
    expect(e.confidence).toBeGreaterThan(0.3);
    expect(Number(e.details?.brightnessRatio)).toBeLessThan(2);
  });

  it('a face pasted through a soft mask, blurred and colour-shifted the same way every frame, stays steady', () => {
    const e = playFlicker(10, 6, 'steady');
    expect(e.score, e.reason).toBe(0.1);
  });

  it('a face pasted with a colour shift and blur that change every frame is flagged, with a reason naming the flicker', () => {
    const e = playFlicker(10, 6, 'flicker');
    expect(e.score, e.reason).toBeGreaterThan(0.6);
    expect(e.reason).toMatch(/flickers from frame to frame/);
    expect(e.confidence).toBeGreaterThan(0.3);
  });

  it('abstains at 2 fps, and before enough frames have been seen', () => {
    expectAbstain(playFlicker(2, 8, 'flicker'));
    expectAbstain(playFlicker(10, 0.8, 'flicker'));
  });
});

/** A 468-point face mesh: points on an ellipse-ish face, eye distance about `iod` pixels. */
function template(rand: () => number, iod = 60): Float64Array {
  const p = new Float64Array(468 * 2);
  for (let k = 0; k < 468; k++) {
    p[2 * k] = (rand() - 0.5) * 2 * iod;
    p[2 * k + 1] = (rand() - 0.5) * 2.6 * iod;
  }
  // The eye corners that define the eye distance.
  p[2 * 33] = -iod / 2;
  p[2 * 33 + 1] = -0.3 * iod;
  p[2 * 263] = iod / 2;
  p[2 * 263 + 1] = -0.3 * iod;
  return p;
}

const INNER = new Set([33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 70, 105, 107, 336, 334, 300]);

function playJitter(fps: number, seconds: number, tremblePx: number, opts: { noLandmarks?: boolean; seed?: number } = {}): Evidence {
  const rand = seededRandom(opts.seed ?? 3);
  const base = template(rand);
  const d = new LandmarkJitterDetector();
  const n = Math.round(fps * seconds);
  const src = rgbSource({ width: 2, height: 2, data: new Uint8Array(12) }, 3);
  for (let k = 0; k < n; k++) {
    const t = k / fps;
    // Smooth head motion: sway, a slow turn of the head in the image plane, a small zoom.
    const angle = 0.12 * Math.sin(0.7 * t);
    const scale = 1 + 0.08 * Math.sin(0.4 * t);
    const tx = 320 + 40 * Math.sin(0.5 * t);
    const ty = 240 + 15 * Math.cos(0.3 * t);
    const dx = tremblePx * normal(rand);
    const dy = tremblePx * normal(rand);
    const points = new Float32Array(468 * 3);
    for (let i = 0; i < 468; i++) {
      const x = base[2 * i]!;
      const y = base[2 * i + 1]!;
      const shake = INNER.has(i) ? 1 : 0;
      points[i * 3] = tx + scale * (Math.cos(angle) * x - Math.sin(angle) * y) + shake * dx + 0.2 * normal(rand);
      points[i * 3 + 1] = ty + scale * (Math.sin(angle) * x + Math.cos(angle) * y) + shake * dy + 0.2 * normal(rand);
    }
    const landmarks: Landmarks = { points, presence: 1, region: { cx: tx, cy: ty, width: 200, height: 200 } };
    const o: FaceObservation = { src, face: { box: { x: tx - 80, y: ty - 80, width: 160, height: 160 }, score: 0.9, keypoints: [] }, at: T0 + t * 1000, ...(opts.noLandmarks ? {} : { landmarks }) };
    d.observeFace(o);
  }
  return d.evaluate(T0 + (n * 1000) / fps);
}

describe('LandmarkJitterDetector', () => {
  it('alignSimilarity undoes a rotation, scale and shift exactly', () => {
    const a = Float64Array.from([0, 0, 10, 0, 0, 5, 7, 3]);
    const [c, s, k] = [Math.cos(0.3), Math.sin(0.3), 1.7];
    const b = new Float64Array(8);
    for (let i = 0; i < 4; i++) {
      b[2 * i] = 5 + k * (c * a[2 * i]! - s * a[2 * i + 1]!);
      b[2 * i + 1] = -2 + k * (s * a[2 * i]! + c * a[2 * i + 1]!);
    }
    const out = new Float64Array(8);
    alignSimilarity(a, b, out);
    for (let i = 0; i < 8; i++) expect(out[i]).toBeCloseTo(b[i]!, 9);
  });

  it('a head moving, turning and zooming smoothly, with landmark noise, stays steady', () => {
    const e = playJitter(8, 8, 0);
    expect(e.score, e.reason).toBe(0.1);
    expect(e.confidence).toBeGreaterThan(0.3);
    expect(Number(e.details?.jitter)).toBeLessThan(0.03);
  });

  it('eyes, nose and brows that shake relative to the jaw line every frame are flagged', () => {
    const e = playJitter(8, 8, 3);
    expect(e.score, e.reason).toBeGreaterThan(0.6);
    expect(e.reason).toMatch(/tremble/);
  });

  it('abstains at 2 fps (it needs 6), and without landmarks', () => {
    const slow = playJitter(2, 20, 3);
    expectAbstain(slow);
    expect(slow.reason).toMatch(/at least 6 /);
    expectAbstain(playJitter(8, 8, 3, { noLandmarks: true }));
  });

  it('uses only rigid points (no lips or eyelids, which move on their own)', () => {
    for (const k of [13, 14, 61, 291, 159, 145, 386, 374]) expect(RIGID_POINTS).not.toContain(k);
  });
});
