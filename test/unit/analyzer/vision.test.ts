/** Face vision helpers without a model: pixel sampling, NMS, tracking, crop geometry, frame quality. */
import { describe, expect, it } from 'vitest';
import type { I420Frame } from '../../../server/src/headless/wrtc.ts';
import { FaceKeypoint, type FaceDetection } from '../../../server/src/analyzer/vision/BlazeFace.ts';
import { eyeAngle, faceLandmarkRegion, MESONET_INPUT, mesoNetRegion, MINIFASNET_INPUT, miniFasNetRegion } from '../../../server/src/analyzer/vision/crops.ts';
import { FaceFollower } from '../../../server/src/analyzer/vision/FaceFollower.ts';
import { FaceTracker } from '../../../server/src/analyzer/vision/FaceTracker.ts';
import type { Landmarks } from '../../../server/src/analyzer/detectors/FaceLandmarks.ts';
import {
  cropToSource,
  i420Source,
  letterboxRegion,
  meanLuma,
  NORM_RAW,
  NORM_SIGNED,
  NORM_UNIT,
  rgbSource,
  sampleCrop,
  tensorSize,
  type ImageSource,
  type TensorSpec,
} from '../../../server/src/analyzer/vision/image.ts';
import { iou, nms, weightedNms, type Box, type Detection } from '../../../server/src/analyzer/vision/nms.ts';
import { assessQuality } from '../../../server/src/analyzer/vision/quality.ts';

type Rgb = [number, number, number];

/** BT.601 limited-range YUV of an RGB colour (the inverse of what the sampler applies). */
function yuv([r, g, b]: Rgb): Rgb {
  return [
    Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b),
    Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b),
    Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b),
  ];
}

/** I420 frame painted by `colour(x, y)` per 2x2 block (chroma is shared by the block). */
function i420(width: number, height: number, colour: (x: number, y: number) => Rgb): I420Frame {
  const cw = width / 2;
  const ch = height / 2;
  const data = new Uint8Array(width * height * 1.5);
  for (let by = 0; by < ch; by++) {
    for (let bx = 0; bx < cw; bx++) {
      const [y, u, v] = yuv(colour(bx * 2, by * 2));
      for (let k = 0; k < 4; k++) data[(by * 2 + (k >> 1)) * width + bx * 2 + (k & 1)] = y;
      data[width * height + by * cw + bx] = u;
      data[width * height + cw * ch + by * cw + bx] = v;
    }
  }
  return { width, height, data };
}

function rgba(width: number, height: number, colour: (x: number, y: number) => Rgb): ImageSource {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([...colour(x, y), 255], (y * width + x) * 4);
    }
  }
  return rgbSource({ width, height, data });
}

/** Reads output pixel (u, v) back as [r, g, b] in raw 0..255 units. */
function pixel(out: Float32Array, spec: TensorSpec, u: number, v: number, at = 0): Rgb {
  const plane = spec.width * spec.height;
  const get = (c: number) => {
    const i = spec.layout === 'nhwc' ? at + (v * spec.width + u) * 3 + c : at + c * plane + v * spec.width + u;
    return (out[i]! - spec.offset) / spec.scale;
  };
  const [a, b, c] = [get(0), get(1), get(2)];
  return spec.order === 'rgb' ? [a, b, c] : [c, b, a];
}

function expectRgb(actual: Rgb, expected: Rgb, tolerance: number): void {
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!), `channel ${i}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance));
}

function face(box: Box, keypoints: Array<[number, number]>, score = 0.9): FaceDetection {
  return { box, score, keypoints: keypoints.map(([x, y]) => ({ x, y })) };
}

function boxAt(cx: number, cy: number, size: number): Box {
  return { x: cx - size / 2, y: cy - size / 2, width: size, height: size };
}

/** A frontal face: eyes `eye` apart, mouth `mouth` below their midpoint, rotated by `angle` about the nose. */
function syntheticFace(cx: number, cy: number, eye: number, mouth: number, angle = 0): FaceDetection {
  const rot = (x: number, y: number): [number, number] => [cx + x * Math.cos(angle) - y * Math.sin(angle), cy + x * Math.sin(angle) + y * Math.cos(angle)];
  const eyeY = -0.4 * mouth;
  return face(boxAt(cx, cy, 2 * eye), [rot(-eye / 2, eyeY), rot(eye / 2, eyeY), rot(0, 0), rot(0, eyeY + mouth), rot(-eye, 0), rot(eye, 0)]);
}

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];

describe('sampleCrop', () => {
  const quadrants = (x: number, y: number): Rgb => (y < 24 ? (x < 32 ? RED : GREEN) : x < 32 ? BLUE : WHITE);

  it('converts I420 (BT.601 limited range) to RGB, NHWC [0,1]', () => {
    const src = i420Source(i420(64, 48, quadrants));
    const spec: TensorSpec = { width: 64, height: 48, layout: 'nhwc', order: 'rgb', ...NORM_UNIT };
    const out = new Float32Array(tensorSize(spec));
    sampleCrop(src, { cx: 32, cy: 24, width: 64, height: 48 }, spec, out);
    // Quadrant centres, away from the bilinear blend at the borders between colours.
    expectRgb(pixel(out, spec, 16, 12), RED, 3);
    expectRgb(pixel(out, spec, 48, 12), GREEN, 3);
    expectRgb(pixel(out, spec, 16, 36), BLUE, 3);
    expectRgb(pixel(out, spec, 48, 36), WHITE, 3);
    expect(out.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('writes NCHW BGR 0-255 and [-1,1] with the right channel positions', () => {
    const src = i420Source(i420(64, 48, quadrants));
    const bgr: TensorSpec = { width: 8, height: 6, layout: 'nchw', order: 'bgr', ...NORM_RAW };
    const out = new Float32Array(tensorSize(bgr));
    // The red quadrant only.
    sampleCrop(src, { cx: 16, cy: 12, width: 16, height: 12 }, bgr, out);
    const plane = 8 * 6;
    expect(out[0]).toBeLessThan(3); // B plane first
    expect(out[plane]).toBeLessThan(3); // G
    expect(out[2 * plane]).toBeGreaterThan(252); // R last
    const signed: TensorSpec = { width: 8, height: 6, layout: 'nhwc', order: 'rgb', ...NORM_SIGNED };
    sampleCrop(src, { cx: 48, cy: 36, width: 16, height: 12 }, signed, out);
    for (let i = 0; i < tensorSize(signed); i++) expect(out[i]).toBeCloseTo(1, 1);
  });

  it('reproduces an RGBA image pixel for pixel at 1:1 and fills outside the source black', () => {
    const src = rgba(20, 10, (x, y) => [x * 10, y * 20, 255 - x * 10]);
    const spec: TensorSpec = { width: 20, height: 10, layout: 'nhwc', order: 'rgb', ...NORM_RAW };
    const out = new Float32Array(tensorSize(spec));
    sampleCrop(src, { cx: 10, cy: 5, width: 20, height: 10 }, spec, out);
    for (const [x, y] of [[0, 0], [7, 3], [19, 9]] as const) expectRgb(pixel(out, spec, x, y), [x * 10, y * 20, 255 - x * 10], 1e-3);
    // Shifted 10 px left: the left half of the output lies outside the source.
    sampleCrop(src, { cx: 0, cy: 5, width: 20, height: 10 }, spec, out);
    expectRgb(pixel(out, spec, 3, 4), [0, 0, 0], 0);
    expectRgb(pixel(out, spec, 12, 4), [20, 80, 235], 1e-3);
  });

  it('interpolates bilinearly between pixel centres', () => {
    const src = rgbSource({ width: 2, height: 1, data: new Uint8Array([0, 0, 0, 100, 200, 40]) }, 3);
    const spec: TensorSpec = { width: 4, height: 1, layout: 'nhwc', order: 'rgb', ...NORM_RAW };
    const out = new Float32Array(tensorSize(spec));
    sampleCrop(src, { cx: 1, cy: 0.5, width: 2, height: 1 }, spec, out);
    // Output centres at source x 0.25, 0.75, 1.25, 1.75: clamped, 1/4, 3/4, clamped.
    expect(Array.from({ length: 4 }, (_, u) => pixel(out, spec, u, 0)[0])).toEqual([0, 25, 75, 100]);
  });

  it('rotates: a crop along a tilted line puts both of its ends on one row', () => {
    const angle = (25 * Math.PI) / 180;
    const a = { x: 60, y: 50 };
    const b = { x: 60 + 40 * Math.cos(angle), y: 50 + 40 * Math.sin(angle) };
    const spots = (x: number, y: number): Rgb => (Math.hypot(x + 0.5 - a.x, y + 0.5 - a.y) < 3 ? RED : Math.hypot(x + 0.5 - b.x, y + 0.5 - b.y) < 3 ? BLUE : [0, 0, 0]);
    const src = rgba(128, 128, spots);
    const region = { cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2, width: 60, height: 60, angle };
    const spec: TensorSpec = { width: 60, height: 60, layout: 'nchw', order: 'rgb', ...NORM_RAW };
    const out = new Float32Array(tensorSize(spec));
    sampleCrop(src, region, spec, out);
    // Centroid of the pixels where one channel dominates.
    const centroid = (c: number) => {
      let [n, su, sv] = [0, 0, 0];
      for (let v = 0; v < 60; v++) {
        for (let u = 0; u < 60; u++) {
          if (pixel(out, spec, u, v)[c]! > 128) [n, su, sv] = [n + 1, su + u, sv + v];
        }
      }
      return { u: su / n, v: sv / n };
    };
    const red = centroid(0);
    const blue = centroid(2);
    expect(Math.abs(red.v - blue.v)).toBeLessThanOrEqual(1);
    expect(Math.abs(red.v - 29.5)).toBeLessThanOrEqual(1.5);
    expect(Math.abs(blue.u - red.u - 40)).toBeLessThanOrEqual(1.5);
    // cropToSource inverts the mapping (output pixel centres).
    const back = cropToSource(region, 60, 60, red.u + 0.5, red.v + 0.5);
    expect(Math.hypot(back.x - a.x, back.y - a.y)).toBeLessThan(1.5);
  });

  it('letterboxes without squashing and writes at an offset for batching', () => {
    const src = rgba(40, 20, () => WHITE);
    const region = letterboxRegion(40, 20);
    expect(region).toMatchObject({ cx: 20, cy: 10, width: 40, height: 40 });
    const spec: TensorSpec = { width: 8, height: 8, layout: 'nhwc', order: 'rgb', ...NORM_UNIT };
    const out = new Float32Array(tensorSize(spec) * 2).fill(-7);
    sampleCrop(src, region, spec, out, tensorSize(spec));
    expect(out[0]).toBe(-7);
    const rows = Array.from({ length: 8 }, (_, v) => pixel(out, spec, 4, v, tensorSize(spec))[0]);
    expect(rows.map((r) => Math.round(r))).toEqual([0, 0, 255, 255, 255, 255, 0, 0]);
    expect(() => sampleCrop(src, region, spec, new Float32Array(10))).toThrow(RangeError);
  });

  it('rejects frames shorter than their size says', () => {
    expect(() => i420Source({ width: 4, height: 4, data: new Uint8Array(20) })).toThrow(/needs 24 bytes/);
  });
});

describe('meanLuma', () => {
  it('maps I420 limited range to 0..255 and reads a region', () => {
    const frame: I420Frame = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 1.5).fill(128) };
    frame.data.fill(16, 0, 32 * 32);
    expect(meanLuma(i420Source(frame))).toBe(0);
    for (let y = 0; y < 16; y++) frame.data.fill(235, y * 32, y * 32 + 16);
    expect(meanLuma(i420Source(frame), { x: 0, y: 0, width: 16, height: 16 })).toBeCloseTo(255, 5);
    expect(meanLuma(i420Source(frame))).toBeCloseTo(255 / 4, 5);
  });

  it('uses BT.601 weights on RGB', () => {
    expect(meanLuma(rgba(8, 8, () => GREEN))).toBeCloseTo(0.587 * 255, 3);
  });
});

describe('iou and nms', () => {
  it('computes intersection over union', () => {
    const a = { x: 0, y: 0, width: 10, height: 10 };
    expect(iou(a, a)).toBe(1);
    expect(iou(a, { x: 5, y: 0, width: 10, height: 10 })).toBeCloseTo(1 / 3);
    expect(iou(a, { x: 10, y: 0, width: 10, height: 10 })).toBe(0);
    expect(iou(a, { x: 2, y: 2, width: 5, height: 5 })).toBeCloseTo(25 / 100);
  });

  it('keeps the best of each overlapping group', () => {
    const dets = [
      { box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.6 },
      { box: { x: 1, y: 0, width: 10, height: 10 }, score: 0.9 },
      { box: { x: 50, y: 50, width: 10, height: 10 }, score: 0.7 },
    ];
    expect(nms(dets, 0.3).map((d) => d.score)).toEqual([0.9, 0.7]);
    expect(nms(dets, 0.3, 1).map((d) => d.score)).toEqual([0.9]);
  });

  it('weighted NMS blends boxes and keypoints by score and keeps the top score', () => {
    const dets: Detection[] = [
      { box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.75, keypoints: [{ x: 0, y: 0 }] },
      { box: { x: 2, y: 0, width: 10, height: 10 }, score: 0.25, keypoints: [{ x: 4, y: 8 }] },
      { box: { x: 100, y: 0, width: 10, height: 10 }, score: 0.5, keypoints: [{ x: 1, y: 1 }] },
    ];
    const out = weightedNms(dets, 0.3);
    expect(out).toHaveLength(2);
    expect(out[0]!.score).toBe(0.75);
    expect(out[0]!.box.x).toBeCloseTo(0.5);
    expect(out[0]!.keypoints[0]).toEqual({ x: 1, y: 2 });
    expect(out[1]).toBe(dets[2]);
  });
});

describe('FaceTracker', () => {
  const det = (cx: number, cy: number, size = 100): Detection => ({ box: boxAt(cx, cy, size), score: 0.9, keypoints: [] });

  it('keeps ids for moving faces whatever order they are reported in', () => {
    const tracker = new FaceTracker();
    const first = tracker.update([det(100, 100), det(400, 100)], 0).map((t) => t.id);
    expect(first).toEqual([1, 2]);
    let ids: number[] = [];
    for (let i = 1; i <= 5; i++) ids = tracker.update([det(400 + i * 15, 100 + i * 5), det(100 - i * 10, 100)], i * 200).map((t) => t.id);
    expect(ids).toEqual([2, 1]);
    expect(tracker.tracks.find((t) => t.id === 1)?.hits).toBe(6);
  });

  it('matches a face that jumped past its box overlap on a nearby centre, but not a distant one', () => {
    const tracker = new FaceTracker();
    tracker.update([det(100, 100)], 0);
    // Moved 70 px (0.7 of its size): IoU is below 0.3, the centre is close.
    const moved = det(170, 100);
    expect(iou(moved.box, det(100, 100).box)).toBeLessThan(0.3);
    expect(tracker.update([moved], 100)[0]!.id).toBe(1);
    expect(tracker.update([det(300, 100)], 200)[0]!.id).toBe(2);
  });

  it('keeps a briefly lost face and ages out a long-lost one', () => {
    const tracker = new FaceTracker({ maxMissed: 2, maxLostMs: 10_000 });
    tracker.update([det(100, 100)], 0);
    tracker.update([], 100);
    tracker.update([], 200);
    expect(tracker.tracks).toHaveLength(1);
    expect(tracker.update([det(105, 100)], 300)[0]!.id).toBe(1);
    for (let i = 1; i <= 3; i++) tracker.update([], 300 + i * 100);
    expect(tracker.tracks).toHaveLength(0);
    expect(tracker.update([det(105, 100)], 800)[0]!.id).toBe(2);
  });

  it('ages out by time when samples are sparse', () => {
    const tracker = new FaceTracker({ maxLostMs: 1000 });
    tracker.update([det(100, 100)], 0);
    tracker.update([], 1500);
    expect(tracker.tracks).toHaveLength(0);
  });

  it('does not give two detections the same track', () => {
    const tracker = new FaceTracker();
    tracker.update([det(100, 100)], 0);
    const ids = tracker.update([det(100, 100), det(110, 100)], 100).map((t) => t.id);
    expect(ids).toEqual([1, 2]);
  });
});

describe('crop geometry', () => {
  it('MesoNet: 1.2 x 1.3 x 2.2 x max(eye-eye, eye-mouth), centred on the nose, eyes levelled', () => {
    // Mouth further than the eyes are apart: the eye-mouth distance sets the size.
    const upright = mesoNetRegion(syntheticFace(300, 200, 80, 100));
    expect(upright.cx).toBeCloseTo(300);
    expect(upright.cy).toBeCloseTo(200);
    expect(upright.width).toBeCloseTo(1.2 * 1.3 * 2.2 * 100);
    expect(upright.height).toBeCloseTo(upright.width);
    expect(upright.angle).toBeCloseTo(0);
    // Wide-set eyes set it instead; a tilted head tilts the crop with it.
    const tilt = (20 * Math.PI) / 180;
    const tilted = mesoNetRegion(syntheticFace(300, 200, 120, 90, tilt));
    expect(tilted.width).toBeCloseTo(1.2 * 1.3 * 2.2 * 120);
    expect(tilted.angle).toBeCloseTo(tilt);
  });

  it('MesoNet crop levels the eyes in the sampled tensor', () => {
    const tilt = (-30 * Math.PI) / 180;
    const f = syntheticFace(150, 150, 60, 70, tilt);
    const eyes = [f.keypoints[FaceKeypoint.rightEye]!, f.keypoints[FaceKeypoint.leftEye]!];
    const src = rgba(300, 300, (x, y) => (eyes.some((e) => Math.hypot(x + 0.5 - e.x, y + 0.5 - e.y) < 4) ? WHITE : [0, 0, 0]));
    const out = new Float32Array(tensorSize(MESONET_INPUT));
    sampleCrop(src, mesoNetRegion(f), MESONET_INPUT, out);
    // Rows holding bright pixels, left and right halves separately.
    const rows = (from: number, to: number) => {
      const found: number[] = [];
      for (let v = 0; v < 256; v++) for (let u = from; u < to; u++) if (pixel(out, MESONET_INPUT, u, v)[0] > 200) found.push(v);
      return found.reduce((s, r) => s + r, 0) / found.length;
    };
    expect(Math.abs(rows(0, 128) - rows(128, 256))).toBeLessThan(1);
    expect(eyeAngle(f)).toBeCloseTo(tilt);
  });

  it('MiniFASNet: scaled box, scale limited to the image, shifted inside it', () => {
    const inside = miniFasNetRegion(syntheticFace(320, 240, 30, 35), 2.7, 640, 480);
    expect(inside).toEqual({ cx: 320, cy: 240, width: 60 * 2.7, height: 60 * 2.7, angle: 0 });
    // Near the left edge: shifted right so it starts at x = 0.
    const edge = miniFasNetRegion(syntheticFace(50, 240, 30, 35), 4.0, 640, 480);
    expect(edge.width).toBeCloseTo(240);
    expect(edge.cx - edge.width / 2).toBeCloseTo(0);
    // Too big for the image: the scale drops to (height - 1) / box height and the crop spans it.
    const big = miniFasNetRegion(syntheticFace(320, 240, 100, 120), 4.0, 640, 480);
    expect(big.height).toBeCloseTo(479);
    expect(big.cy - big.height / 2).toBeGreaterThanOrEqual(0);
    expect(big.cy + big.height / 2).toBeLessThanOrEqual(480);
    expect(MINIFASNET_INPUT).toMatchObject({ width: 80, height: 80, layout: 'nchw', order: 'bgr', scale: 1, offset: 0 });
  });

  it('face landmarks: square box scaled 1.5x about its centre, eyes levelled', () => {
    const f = syntheticFace(200, 150, 50, 60, 0.3);
    f.box = { x: 150, y: 100, width: 100, height: 120 };
    const r = faceLandmarkRegion(f);
    expect(r.cx).toBeCloseTo(200);
    expect(r.cy).toBeCloseTo(160);
    expect(r.width).toBeCloseTo(180);
    expect(r.height).toBeCloseTo(180);
    expect(r.angle).toBeCloseTo(0.3);
  });
});

describe('assessQuality', () => {
  const bright = rgba(320, 240, () => [180, 180, 180]);
  const dark = rgba(320, 240, () => [10, 10, 10]);
  const faceAt = (cx: number, size: number) => syntheticFace(cx, 120, size / 2, size / 2);

  it('reports no face, or darkness when the frame is too dark to find one', () => {
    const none = assessQuality(bright, []);
    expect(none).toMatchObject({ reason: 'no-face', faceCount: 0, lumaRegion: 'frame', faceSize: null });
    expect(none.meanLuma).toBeCloseTo(180, 6);
    const black = assessQuality(dark, []);
    expect(black).toMatchObject({ reason: 'too-dark', lumaRegion: 'frame' });
    expect(black.meanLuma).toBeCloseTo(10, 6);
  });

  it('reports several faces', () => {
    expect(assessQuality(bright, [faceAt(80, 100), faceAt(240, 120)])).toMatchObject({ reason: 'multiple-faces', faceCount: 2, faceSize: 120 });
  });

  it('measures the face, not the frame, when there is one', () => {
    // Bright frame, dark face region.
    const src = rgba(320, 240, (x) => (x >= 100 && x < 220 ? [20, 20, 20] : [230, 230, 230]));
    const report = assessQuality(src, [faceAt(160, 100)]);
    expect(report).toMatchObject({ reason: 'too-dark', lumaRegion: 'face', faceSize: 100 });
    expect(report.meanLuma).toBeCloseTo(20, 0);
  });

  it('reports a small face, and ok otherwise', () => {
    expect(assessQuality(bright, [faceAt(160, 40)])).toMatchObject({ reason: 'too-small', faceSize: 40 });
    expect(assessQuality(bright, [faceAt(160, 40)], { minFaceSize: 32 }).reason).toBe('ok');
    expect(assessQuality(bright, [faceAt(160, 100)])).toMatchObject({ reason: 'ok', faceCount: 1, faceSize: 100, lumaRegion: 'face' });
  });
});

describe('FaceFollower', () => {
  /** A mesh-sized point set (468 x 3) from a seeded spread, and the same under a similarity. */
  const mesh = (map: (x: number, y: number) => { x: number; y: number }): Landmarks => {
    const points = new Float32Array(468 * 3);
    for (let i = 0; i < 468; i++) {
      const p = map(300 + ((i * 37) % 101), 200 + ((i * 53) % 131));
      points[i * 3] = p.x;
      points[i * 3 + 1] = p.y;
    }
    return { points, presence: 1, region: { cx: 0, cy: 0, width: 1, height: 1 } };
  };
  const face: FaceDetection = {
    box: { x: 300, y: 200, width: 100, height: 120 },
    score: 0.9,
    keypoints: [{ x: 320, y: 240 }, { x: 380, y: 240 }, { x: 350, y: 270 }, { x: 350, y: 295 }, { x: 300, y: 250 }, { x: 400, y: 250 }],
  };

  it('moves the anchor face by the shift, scale and roll that carry its landmarks onto the new ones', () => {
    const follower = new FaceFollower();
    follower.anchorAt(face, mesh((x, y) => ({ x, y })), 1000);
    const angle = (12 * Math.PI) / 180;
    const [c, s, k] = [Math.cos(angle), Math.sin(angle), 1.15];
    const sim = (x: number, y: number) => ({ x: 20 + k * (c * x - s * y), y: -15 + k * (s * x + c * y) });
    const followed = follower.follow(mesh(sim), 1133)!;
    face.keypoints.forEach((p, i) => {
      const want = sim(p.x, p.y);
      expect(followed.keypoints[i]!.x).toBeCloseTo(want.x, 3);
      expect(followed.keypoints[i]!.y).toBeCloseTo(want.y, 3);
    });
    const centre = sim(350, 260);
    expect(followed.box.x + followed.box.width / 2).toBeCloseTo(centre.x, 3);
    expect(followed.box.y + followed.box.height / 2).toBeCloseTo(centre.y, 3);
    expect(followed.box.width).toBeCloseTo(115, 3);
    expect(followed.box.height).toBeCloseTo(138, 3);
    // The next frame is cropped where this one put the face; stale or reset, there is nothing to follow.
    expect(follower.predict(1266)).toBe(followed);
    expect(follower.predict(1133 + 501)).toBeUndefined();
    follower.reset();
    expect(follower.predict(1200)).toBeUndefined();
    expect(follower.follow(mesh(sim), 1200)).toBeUndefined();
  });
});
