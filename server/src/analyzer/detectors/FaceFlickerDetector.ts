/**
 * Face-region flicker: does the face change from frame to frame in a way its surroundings do not?
 *
 * Why: a real-time face swapper (DeepFaceLive, Deep-Live-Cam, FaceFusion...) renders each frame's
 * face on its own, colour-transfers it to the frame and pastes it through a soft mask. Nothing
 * ties one frame's rendering to the next, so its brightness, colour and sharpness can jump while
 * the hair, ears and background around it (the untouched camera frame) stay steady. In a real face
 * the face and its surroundings share the light, the exposure and the focus, and change together.
 *
 * What is measured, per usable face frame (cheap: a strided grid of at most ~1k pixels per
 * region): the mean luma and chroma (Y, U, V) and the mean absolute Laplacian of luma (texture
 * energy) of the face interior (cheeks, nose, eyes) and of a ring just outside the face (beside the
 * cheeks and above the forehead). Over triplets of consecutive frames, the second difference
 * (x[t-1] - 2 x[t] + x[t+1], which ignores steady drifts such as a slow turn or the camera's
 * auto-exposure ramp) of the face-minus-ring contrast, over the second difference of the ring
 * itself: about 1 when face and ring change together, large when the face flickers on its own.
 * The median over the window is what counts, so a single glitch (a hand, a cut) does not.
 *
 * Abstains (never a guess): sampling slower than `minFps` (frames 0.5 s apart differ for natural
 * reasons; at 2 fps it only judges while boosted), fewer than `minTriplets` usable triplets, a
 * face moving more than `maxMotion` of its size between frames (motion swaps surroundings in and
 * out of the ring), a ring that falls off the frame.
 *
 * Measured on ../shared/data/dev/video (DeepFaceLive, 25 real / 26 fake, 10 fps, 9 identities):
 * the ratio is 0.73-1.76 on real clips and 0.63-1.90 on the swaps (AUC 0.50-0.58 per channel,
 * paired fake > real in 12-14 of 24 pairs): DeepFaceLive's author-chosen demo clips do not
 * flicker, and this cue does not catch them. The thresholds below are therefore not fitted to
 * that data; they are set where the flicker is gross (the face's contrast to its surroundings
 * jumping 2.5x more than the surroundings do) and checked to stay clear of every real dev clip.
 * It catches swappers that colour-match or blend frame by frame without temporal smoothing
 * (synthetic known-answer tests in test/unit/analyzer/temporal.test.ts) and stays quiet otherwise.
 */
import type { Landmarks } from './FaceLandmarks.ts';
import { abstain, type Evidence, type FaceObservation, type WindowDetector } from './Detector.ts';
import type { ImageSource } from '../vision/image.ts';
import type { Box } from '../vision/nms.ts';
import { median, medianInterval, round } from './numbers.ts';

export interface FaceFlickerOptions {
  /** Span judged (default 8 s). */
  windowMs?: number;
  /** Least sampling rate (default 5.5 fps: the boosted 6 fps or an 8 fps base, with jitter). */
  minFps?: number;
  /** Least number of usable frame triplets in the window (default 12). */
  minTriplets?: number;
  /** Face centre movement between consecutive frames, as a fraction of the face size, above which a triplet is skipped (default 0.12). */
  maxMotion?: number;
  /** Ratio (face flicker over ring flicker) at or below which the face counts as steady (default 2.5). */
  steadyRatio?: number;
  /** Ratio at which the flicker counts as fully suspicious (default 5). */
  flickerRatio?: number;
  /** Floor added to the ring's flicker, in 8-bit levels (compression noise; default 0.3). */
  floorLevels?: number;
}

/** Per-frame measurements: face interior and ring, [Y, U, V, texture] each. */
interface FrameStats {
  at: number;
  inner: [number, number, number, number];
  ring: [number, number, number, number];
  /** Face centre and size, to gate motion. */
  cx: number;
  cy: number;
  size: number;
}

const CHANNELS = ['brightness', 'colour (blue-yellow)', 'colour (red-green)', 'sharpness'] as const;

export class FaceFlickerDetector implements WindowDetector {
  readonly id = 'face-flicker' as const;
  private readonly o: Required<FaceFlickerOptions>;
  private frames: FrameStats[] = [];

  constructor(options: FaceFlickerOptions = {}) {
    this.o = { windowMs: 8000, minFps: 5.5, minTriplets: 12, maxMotion: 0.12, steadyRatio: 2.5, flickerRatio: 5, floorLevels: 0.3, ...options };
  }

  observeFace(o: FaceObservation): void {
    const last = this.frames[this.frames.length - 1];
    if (last && o.at <= last.at) {
      if (o.at < last.at) this.frames = []; // the clock went back: start over
      else return;
    }
    const s = faceRingStats(o.src, o.face.box, o.landmarks);
    if (s) this.frames.push({ at: o.at, ...s });
  }

  evaluate(now: number): Evidence {
    const from = now - this.o.windowMs;
    let i0 = 0;
    while (i0 < this.frames.length && this.frames[i0]!.at < from) i0++;
    if (i0 > 0) this.frames.splice(0, i0);
    const f = this.frames;
    const n = f.length;
    const spanMs = n > 1 ? f[n - 1]!.at - f[0]!.at : 0;
    const fps = n > 1 ? ((n - 1) * 1000) / spanMs : 0;
    const base = { samples: n, fps: round(fps, 2) };
    if (n > 1 && fps < this.o.minFps) {
      return abstain(this.id, now, `Video is sampled at ${round(fps, 1)} frames per second; face flicker needs at least ${this.o.minFps} (consecutive frames close in time).`, base);
    }
    // Triplets of consecutive frames: evenly spaced (no gap), the face not moving much.
    const dt = medianInterval(f);
    const faceD2: number[][] = [[], [], [], []];
    const ringD2: number[][] = [[], [], [], []];
    let moving = 0;
    for (let i = 1; i + 1 < n; i++) {
      const a = f[i - 1]!;
      const b = f[i]!;
      const c = f[i + 1]!;
      if (b.at - a.at > 1.6 * dt || c.at - b.at > 1.6 * dt) continue;
      if (move(a, b) > this.o.maxMotion || move(b, c) > this.o.maxMotion) {
        moving++;
        continue;
      }
      for (let k = 0; k < 4; k++) {
        const con = (s: FrameStats) => s.inner[k]! - s.ring[k]!;
        faceD2[k]!.push(Math.abs(con(a) - 2 * con(b) + con(c)));
        ringD2[k]!.push(Math.abs(a.ring[k]! - 2 * b.ring[k]! + c.ring[k]!));
      }
    }
    const triplets = faceD2[0]!.length;
    if (triplets < this.o.minTriplets) {
      const why = moving > triplets ? 'the face moved too much between frames' : 'not enough consecutive face frames yet';
      return abstain(this.id, now, `Cannot judge face flicker: ${why} (${triplets} usable frame triplets; needs ${this.o.minTriplets}).`, { ...base, triplets, moving });
    }
    // Texture energy is in Laplacian units; its floor scales with the ring's level.
    const ratios = faceD2.map((d, k) => {
      const floor = k === 3 ? 0.03 * Math.max(1, median(f.map((s) => s.ring[3]))) : this.o.floorLevels;
      return median(d) / (median(ringD2[k]!) + floor);
    });
    let worst = 0;
    for (let k = 1; k < 4; k++) if (ratios[k]! > ratios[worst]!) worst = k;
    const ratio = ratios[worst]!;
    const details = {
      ...base,
      triplets,
      brightnessRatio: round(ratios[0]!, 3),
      colourURatio: round(ratios[1]!, 3),
      colourVRatio: round(ratios[2]!, 3),
      sharpnessRatio: round(ratios[3]!, 3),
    };
    const x = Math.min(1, Math.max(0, (ratio - this.o.steadyRatio) / (this.o.flickerRatio - this.o.steadyRatio)));
    const confidence = round(0.6 * Math.min(1, triplets / 30), 3);
    const seconds = Math.round(spanMs / 1000);
    if (x === 0) {
      return {
        detector: this.id,
        at: now,
        score: 0.1,
        confidence,
        reason: `Over ${seconds} s the face's brightness, colour and sharpness changed together with its surroundings (no flicker of its own). Good live face swaps do not flicker either.`,
        details,
      };
    }
    return {
      detector: this.id,
      at: now,
      score: round(0.1 + 0.8 * x, 3),
      confidence,
      reason: `The face's ${CHANNELS[worst]} flickers from frame to frame ${round(ratio, 1)} times more than the hair and background around it, as when a face is rendered and pasted in frame by frame.`,
      details,
    };
  }
}

/**
 * Face interior and surrounding ring for one frame: from landmarks when present (the face oval's
 * extent: points 234/454 at the sides, 10 at the top, 152 at the chin), else from BlazeFace's box
 * (brows to chin). Undefined when a ring part falls outside the frame.
 */
export function faceRingStats(src: ImageSource, box: Box, lm?: Landmarks): Omit<FrameStats, 'at'> | undefined {
  let x0: number;
  let x1: number;
  let y0: number;
  let y1: number;
  if (lm) {
    const p = lm.points;
    x0 = Math.min(p[234 * 3]!, p[454 * 3]!);
    x1 = Math.max(p[234 * 3]!, p[454 * 3]!);
    y0 = p[10 * 3 + 1]!;
    y1 = p[152 * 3 + 1]!;
  } else {
    x0 = box.x;
    x1 = box.x + box.width;
    y0 = box.y - 0.15 * box.height; // the box starts at the brows; the forehead is above
    y1 = box.y + box.height;
  }
  const W = x1 - x0;
  const H = y1 - y0;
  if (!(W > 8 && H > 8)) return undefined;
  const inner = regionStats(src, { x: x0 + 0.25 * W, y: y0 + 0.3 * H, width: 0.5 * W, height: 0.45 * H });
  const left = regionStats(src, { x: x0 - 0.22 * W, y: y0 + 0.25 * H, width: 0.15 * W, height: 0.4 * H });
  const right = regionStats(src, { x: x1 + 0.07 * W, y: y0 + 0.25 * H, width: 0.15 * W, height: 0.4 * H });
  const top = regionStats(src, { x: x0 + 0.25 * W, y: y0 - 0.2 * H, width: 0.5 * W, height: 0.12 * H });
  if (!inner || !left || !right || !top) return undefined;
  const ring = [0, 1, 2, 3].map((k) => (left.v[k]! * left.n + right.v[k]! * right.n + top.v[k]! * top.n) / (left.n + right.n + top.n)) as FrameStats['ring'];
  return { inner: inner.v, ring, cx: x0 + W / 2, cy: y0 + H / 2, size: Math.sqrt(W * H) };
}

/**
 * Mean Y, U, V (8-bit, BT.601 for RGB input) and mean |4-neighbour Laplacian| of luma over a
 * rectangle, on a strided grid of about 1k pixels. Undefined when the rectangle is not wholly
 * inside the frame (with a 1-pixel margin for the Laplacian).
 */
function regionStats(src: ImageSource, r: Box): { v: [number, number, number, number]; n: number } | undefined {
  const w = src.width;
  const h = src.height;
  const xa = Math.floor(r.x);
  const ya = Math.floor(r.y);
  const xb = Math.ceil(r.x + r.width);
  const yb = Math.ceil(r.y + r.height);
  if (xa < 1 || ya < 1 || xb > w - 1 || yb > h - 1 || xb - xa < 2 || yb - ya < 2) return undefined;
  const step = Math.max(1, Math.floor(Math.sqrt(((xb - xa) * (yb - ya)) / 1024)));
  const d = src.data;
  let sy = 0;
  let su = 0;
  let sv = 0;
  let sl = 0;
  let n = 0;
  if (src.format === 'i420') {
    const cw = (w + 1) >> 1;
    const ch = (h + 1) >> 1;
    const uBase = w * h;
    const vBase = uBase + cw * ch;
    for (let y = ya; y < yb; y += step) {
      const crow = (y >> 1) * cw;
      for (let x = xa; x < xb; x += step) {
        const i = y * w + x;
        const c = d[i]!;
        sy += c;
        sl += Math.abs(4 * c - d[i - 1]! - d[i + 1]! - d[i - w]! - d[i + w]!);
        su += d[uBase + crow + (x >> 1)]!;
        sv += d[vBase + crow + (x >> 1)]!;
        n++;
      }
    }
  } else {
    const c = src.format === 'rgba' ? 4 : 3;
    const luma = (i: number) => 0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!;
    for (let y = ya; y < yb; y += step) {
      for (let x = xa; x < xb; x += step) {
        const i = (y * w + x) * c;
        const R = d[i]!;
        const G = d[i + 1]!;
        const B = d[i + 2]!;
        const Y = 0.299 * R + 0.587 * G + 0.114 * B;
        sy += Y;
        su += 128 + 0.564 * (B - Y);
        sv += 128 + 0.713 * (R - Y);
        sl += Math.abs(4 * Y - luma(i - c) - luma(i + c) - luma(i - w * c) - luma(i + w * c));
        n++;
      }
    }
  }
  return { v: [sy / n, su / n, sv / n, sl / n], n };
}

function move(a: FrameStats, b: FrameStats): number {
  return Math.hypot(a.cx - b.cx, a.cy - b.cy) / Math.max(1, (a.size + b.size) / 2) + Math.abs(a.size - b.size) / Math.max(1, a.size);
}
