/**
 * The blending seam of a pasted face. Real-time face swappers (DeepFaceLive and the like) render
 * the new face at 128-320 px, colour-match it and paste it into the camera frame through a soft
 * (feathered) mask that follows the jaw, cheeks and forehead. Inside the feather the output is a
 * mix of two images that do not line up exactly, which washes out fine detail: the band where
 * the face meets the hair, ears, neck and background ends up softer than both the face inside it
 * and the surroundings outside it. A real face's outline is as detailed as either side (often
 * more: it is an edge).
 *
 * Measured on luma: fine detail is the mean |Y - blur(Y)| (a 5-tap binomial blur, sigma about
 * 1 px), averaged over three bands of the face outline: inside (the inner face), the seam band
 * (0.8-1.1 of the outline) and outside (1.3-1.6: hair, ears, neck, background).
 * dip = mean(ln inside, ln outside) - ln seam: about 0 or below on real faces, higher on pasted ones.
 *
 * Where the outline is decides what the bands hold, so it comes from the Face Mesh when the
 * analyzer ran it on the frame (`usesLandmarks`: the pipeline hands this detector the frame's
 * landmarks): the mesh's 36-point face oval, jaw to hairline. The dip is then taken in each of
 * eight 45-degree sectors of the outline and the median of the sectors kept, so that one stretch
 * (a smooth lit neck under the chin, a plain collar, one side's busy hair) cannot make or hide a
 * seam alone. Without a mesh (its model not loaded, or it lost the face) the outline is a
 * template of the face oval fitted to the BlazeFace box and eye line (the Face Mesh oval's median
 * shape on the dev set's real clips, symmetrised; its median error is 3% of the box), and its
 * bands are pooled over the whole outline, as the template is only roughly where the seam is.
 * On the dev set's live swaps (frontal frames of 24 matched pairs, 7.5 fps, per-clip medians) the
 * swap's dip is higher than its real twin's in 21 pairs on the mesh's outline (clip AUC 0.69)
 * against 18 on the template's (0.62); through `npm run eval`, 0.684 against 0.611. The same
 * centre (0.4) is the 90th percentile of real frames' dips on either outline.
 *
 * A second, rarer sign: a face rendered small and scaled up (a webcam close-up) is blurrier than
 * everything around it, far more than skin is smoother than hair: blur = ln(outside / inside). On
 * the dev set (faces of 80-130 px, rendered larger and scaled down) it does not separate (clip AUC
 * 0.49), so its threshold sits well above real faces (centre 1.2; 95% of real dev frames are
 * below 0.83) and it only speaks for a markedly blurred face. The score is the larger of the two.
 *
 * Ratios of detail within one frame cancel what the camera, compression and scene do to detail
 * as a whole, which vary far more between callers than the seam does: that is why the cue is a
 * dip, not a level. It is weak on its own (per-clip AUC about 0.6-0.7 on the dev set's live
 * swaps, see risk-config.json) and is not primary: it adds to other evidence.
 * Cost: about 1-3 ms per frame on one core (the face region is decimated to about 128 px); with
 * the mesh it starts once the mesh has run (~4 ms), alongside the face classifiers.
 */
import { FaceKeypoint } from '../vision/BlazeFace.ts';
import { eyeAngle } from '../vision/crops.ts';
import type { ImageSource } from '../vision/image.ts';
import type { Evidence, FaceSample, FrameDetector } from './Detector.ts';
import { abstain } from './Detector.ts';
import { median, round } from './numbers.ts';

export interface FaceBlendOptions {
  /** Shorter side of the face box (source px) below which it abstains (default 56: too few pixels in the seam band). */
  minFaceSize?: number;
  /** Face box size the region is decimated to, at most (default 128 px): bounds the cost. */
  workingFaceSize?: number;
  /**
   * Largest sideways nose offset from the eyes' midpoint, over the eye distance (default 0.4,
   * about 40 degrees of head turn; 90% of real dev frames are below): the oval template fits a
   * frontal face only, so a turned head (as a liveness check asks for) is not judged rather than
   * misread. On the dev set the gate costs some separation (clip AUC 0.63 -> 0.61): swaps break
   * on turned faces, but the template cannot tell a broken swap from a misfit there.
   */
  maxTurn?: number;
  /** Least fraction of the outside band that must lie inside the frame (default 0.7: a close-up whose surroundings are mostly cut off is not judged). */
  minOutsideCoverage?: number;
  /**
   * Dip at which the score is 0.5 (default 0.4: the 90th percentile of real frames' dips on the dev
   * set, 0.31-0.41 over leave-one-identity-out folds; see risk-config.json).
   */
  centre?: number;
  /** Dip per unit of logit (default 0.1). */
  scale?: number;
  /** ln(outside / inside detail) at which the blur score is 0.5 (default 1.2; real dev frames: median -0.03, 95th percentile 0.83). */
  blurCentre?: number;
  /** ln ratio per unit of logit for the blur score (default 0.15). */
  blurScale?: number;
}

/**
 * Radius of the face oval, in box units (x by box width, y by box height, eye line level), at
 * 24 angles from -pi (the subject's right, image left) clockwise on screen; index 6 is up.
 */
const OVAL_RADIUS = [0.419, 0.445, 0.503, 0.57, 0.584, 0.556, 0.545, 0.556, 0.584, 0.57, 0.503, 0.445, 0.419, 0.409, 0.411, 0.419, 0.435, 0.458, 0.465, 0.458, 0.435, 0.419, 0.411, 0.409];

/** MediaPipe's FACEMESH_FACE_OVAL: the Face Mesh's contour points around the face, in order. */
export const MESH_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109];
/** The outline's radius is tabulated at this many angles (2 degrees apart) and interpolated. */
const ANGLE_BINS = 180;
/** Sectors of the outline (45 degrees each) whose dips the mesh path takes the median of... */
const SECTORS = 8;
/** ...when at least this many have every band populated (else the pooled dip). */
const MIN_SECTORS = 4;
/** Fewest working pixels in a band (per sector, and over the whole outline). */
const MIN_BAND_PIXELS = 16;
/** Least mean detail, luma levels: flat, noiseless synthetic regions do not divide by zero. */
const DETAIL_FLOOR = 0.05;

/** Bands in units of the oval radius: inside, seam, outside. */
const INSIDE = 0.55;
const SEAM: readonly [number, number] = [0.8, 1.1];
const OUTSIDE: readonly [number, number] = [1.3, 1.6];

export interface BlendMeasure {
  inside: number;
  seam: number;
  outside: number;
  /** mean(ln inside, ln outside) - ln seam */
  dip: number;
  /** ln(outside / inside) */
  blur: number;
  /** Fraction of the outside band within the frame. */
  outsideCoverage: number;
  /** Where the outline came from: the face mesh's oval, or the template on the face box. */
  outline: 'mesh' | 'template';
  /** Sectors (of 8) with every band populated; the mesh's dip is their median when >= 4. */
  sectors: number;
}

export class FaceBlendDetector implements FrameDetector {
  readonly id = 'face-blend' as const;
  /** The mesh's face oval places the seam bands where the outline is (see the header). */
  readonly usesLandmarks = true;
  private readonly o: Required<FaceBlendOptions>;
  private luma = new Float32Array(0);
  private blur = new Float32Array(0);
  private tmp = new Float32Array(0);

  constructor(options: FaceBlendOptions = {}) {
    this.o = { minFaceSize: 56, workingFaceSize: 128, maxTurn: 0.4, minOutsideCoverage: 0.7, centre: 0.4, scale: 0.1, blurCentre: 1.2, blurScale: 0.15, ...options };
  }

  analyse(s: FaceSample): Promise<Evidence> {
    return Promise.resolve(this.judge(s));
  }

  judge(s: FaceSample): Evidence {
    const size = Math.min(s.face.box.width, s.face.box.height);
    if (size < this.o.minFaceSize) {
      return abstain(this.id, s.at, 'The face is too small to see how its edge meets the surroundings.', { faceSize: Math.round(size) });
    }
    const turn = headTurn(s.face);
    if (!(turn <= this.o.maxTurn)) {
      return abstain(this.id, s.at, 'The head is turned: the edge of the face can only be compared on a face seen from the front.', { turn: round(turn, 3) });
    }
    const m = this.measure(s);
    if (!m) return abstain(this.id, s.at, 'Too little of the face outline is visible to judge its edge.');
    if (m.outsideCoverage < this.o.minOutsideCoverage) {
      return abstain(this.id, s.at, 'The face is at the edge of the picture: too little of its surroundings to compare its edge with.', {
        outsideCoverage: round(m.outsideCoverage, 3),
      });
    }
    const seamScore = 1 / (1 + Math.exp(-(m.dip - this.o.centre) / this.o.scale));
    const blurScore = 1 / (1 + Math.exp(-(m.blur - this.o.blurCentre) / this.o.blurScale));
    const score = Math.max(seamScore, blurScore);
    // Fewer seam pixels, noisier means: a face near the minimum size counts less.
    const confidence = Math.min(1, 0.5 + (0.5 * (size - this.o.minFaceSize)) / this.o.minFaceSize) * Math.min(1, m.outsideCoverage / 0.8);
    const pct = (x: number) => Math.round(Math.abs(1 - Math.exp(-x)) * 100);
    const reason =
      score < 0.5
        ? 'The edge of the face is as detailed as the face and its surroundings (no soft blending seam), and the face is as sharp as the picture around it.'
        : seamScore >= blurScore
          ? `The edge of the face looks blended in: where the face meets the hair, ears and background there is ${pct(m.dip)}% less fine detail than on the face and around it, as a face pasted in through a soft mask leaves.`
          : `The face is much blurrier than the picture around it (${pct(m.blur)}% less fine detail than the hair, ears and background), as a face rendered small and scaled up leaves.`;
    return {
      detector: this.id,
      at: s.at,
      score,
      confidence,
      reason,
      details: { dip: round(m.dip, 3), blur: round(m.blur, 3), inside: round(m.inside, 3), seam: round(m.seam, 3), outside: round(m.outside, 3), faceSize: Math.round(size), outsideCoverage: round(m.outsideCoverage, 3), outline: m.outline, sectors: m.sectors },
    };
  }

  /**
   * The three bands' mean fine detail (luma levels) around the face's outline: the Face Mesh's oval
   * when `landmarks` are given, else the template fitted to the face box. Undefined when a band is
   * empty or the outline is degenerate.
   */
  measure(s: Pick<FaceSample, 'src' | 'face' | 'landmarks'>): BlendMeasure | undefined {
    const { src, face } = s;
    const outline = (s.landmarks && meshOutline(s.landmarks.points)) || templateOutline(face);
    const { cx, cy, radius } = outline;
    const box = face.box;
    const k = Math.max(1, Math.floor(Math.min(box.width, box.height) / this.o.workingFaceSize));
    // The region the outside band can reach, in source pixels, clipped to the frame.
    const reach = OUTSIDE[1] * outline.maxRadius + 3 * k;
    const x0 = Math.max(0, Math.floor(cx - reach));
    const y0 = Math.max(0, Math.floor(cy - reach));
    const w = Math.floor((Math.min(src.width, Math.ceil(cx + reach)) - x0) / k);
    const h = Math.floor((Math.min(src.height, Math.ceil(cy + reach)) - y0) / k);
    if (w < 8 || h < 8) return undefined;
    const n = w * h;
    if (this.luma.length < n) {
      this.luma = new Float32Array(n);
      this.blur = new Float32Array(n);
      this.tmp = new Float32Array(n);
    }
    const L = this.luma;
    const B = this.blur;
    readLuma(src, x0, y0, w, h, k, L);
    binomialBlur(L, B, this.tmp, w, h);

    // Per sector of the outline (SECTORS around it) and band: sums and counts, sector-major.
    const sums = new Float64Array(SECTORS * 3);
    const counts = new Uint32Array(SECTORS * 3);
    const reach2 = reach * reach;
    const binsPerRadian = ANGLE_BINS / (2 * Math.PI);
    const sectorsPerBin = SECTORS / ANGLE_BINS;
    for (let y = 2; y < h - 2; y++) {
      const dy = y0 + (y + 0.5) * k - cy;
      for (let x = 2; x < w - 2; x++) {
        const dx = x0 + (x + 0.5) * k - cx;
        const d2 = dx * dx + dy * dy;
        if (d2 >= reach2) continue;
        const f = (Math.atan2(dy, dx) + Math.PI) * binsPerRadian;
        const i = Math.min(ANGLE_BINS - 1, Math.floor(f));
        const t = f - i;
        const r = Math.sqrt(d2) / (radius[i]! + (radius[(i + 1) % ANGLE_BINS]! - radius[i]!) * t);
        const band = r < INSIDE ? 0 : r >= SEAM[0] && r < SEAM[1] ? 1 : r >= OUTSIDE[0] && r < OUTSIDE[1] ? 2 : -1;
        if (band < 0) continue;
        const j = 3 * (Math.floor(f * sectorsPerBin + 0.5) % SECTORS) + band;
        const p = y * w + x;
        sums[j]! += Math.abs(L[p]! - B[p]!);
        counts[j]!++;
      }
    }
    const total = [0, 0, 0];
    const totalCounts = [0, 0, 0];
    const sectorDips: number[] = [];
    for (let q = 0; q < SECTORS; q++) {
      const j = 3 * q;
      let ok = true;
      for (let b = 0; b < 3; b++) {
        total[b]! += sums[j + b]!;
        totalCounts[b]! += counts[j + b]!;
        if (counts[j + b]! < MIN_BAND_PIXELS) ok = false;
      }
      if (ok) sectorDips.push(dipOf(sums[j]! / counts[j]!, sums[j + 1]! / counts[j + 1]!, sums[j + 2]! / counts[j + 2]!));
    }
    if (totalCounts[0]! < MIN_BAND_PIXELS || totalCounts[1]! < MIN_BAND_PIXELS || totalCounts[2]! < MIN_BAND_PIXELS) return undefined;
    // A floor keeps flat, noiseless synthetic regions from dividing by zero.
    const [inside, seam, outside] = [0, 1, 2].map((b) => Math.max(DETAIL_FLOOR, total[b]! / totalCounts[b]!)) as [number, number, number];
    // Expected outside-band pixels if the frame were unbounded: its area in working pixels.
    const outsideTotal = (outline.area * (OUTSIDE[1] ** 2 - OUTSIDE[0] ** 2)) / (k * k);
    // The mesh's outline is where the seam is, and a sector median keeps one side's hair or busy
    // background from deciding; the template's is only roughly there, so its pixels are pooled.
    const bySectors = outline.kind === 'mesh' && sectorDips.length >= MIN_SECTORS;
    return {
      inside,
      seam,
      outside,
      dip: bySectors ? median(sectorDips) : dipOf(inside, seam, outside),
      blur: Math.log(outside / inside),
      outsideCoverage: Math.min(1, totalCounts[2]! / outsideTotal),
      outline: outline.kind,
      sectors: sectorDips.length,
    };
  }
}

/** mean(ln inside, ln outside) - ln seam, each floored. */
function dipOf(inside: number, seam: number, outside: number): number {
  const f = (v: number) => Math.log(Math.max(DETAIL_FLOOR, v));
  return 0.5 * (f(inside) + f(outside)) - f(seam);
}

/** The face's outline as a radius (source px) at ANGLE_BINS angles about a centre, from -pi clockwise on screen. */
interface Outline {
  kind: 'mesh' | 'template';
  cx: number;
  cy: number;
  radius: Float64Array;
  maxRadius: number;
  /** Area inside the outline, source px^2. */
  area: number;
}

/** The oval template on the face box, turned with the eye line. */
function templateOutline(face: FaceSample['face']): Outline {
  const box = face.box;
  const angle = eyeAngle(face);
  const cos = Math.cos(-angle);
  const sin = Math.sin(-angle);
  const radius = new Float64Array(ANGLE_BINS);
  for (let j = 0; j < ANGLE_BINS; j++) {
    const theta = -Math.PI + (j * 2 * Math.PI) / ANGLE_BINS;
    // A unit step along theta, in box units (eye line level); the oval's radius there over its length.
    const u = (Math.cos(theta) * cos - Math.sin(theta) * sin) / box.width;
    const v = (Math.cos(theta) * sin + Math.sin(theta) * cos) / box.height;
    radius[j] = ovalRadius(Math.atan2(v, u)) / Math.sqrt(u * u + v * v);
  }
  return { kind: 'template', cx: box.x + box.width / 2, cy: box.y + box.height / 2, radius, maxRadius: Math.max(...radius), area: ovalAreaBoxUnits() * box.width * box.height };
}

/** The Face Mesh's face oval (its 36 contour points) as seen from the mean of those points; undefined when a ray misses it. */
function meshOutline(points: Float32Array): Outline | undefined {
  const xs = MESH_OVAL.map((i) => points[3 * i]!);
  const ys = MESH_OVAL.map((i) => points[3 * i + 1]!);
  const m = MESH_OVAL.length;
  const cx = xs.reduce((a, b) => a + b, 0) / m;
  const cy = ys.reduce((a, b) => a + b, 0) / m;
  let area = 0;
  for (let i = 0; i < m; i++) area += (xs[i]! - cx) * (ys[(i + 1) % m]! - cy) - (xs[(i + 1) % m]! - cx) * (ys[i]! - cy);
  const radius = new Float64Array(ANGLE_BINS);
  for (let j = 0; j < ANGLE_BINS; j++) {
    const theta = -Math.PI + (j * 2 * Math.PI) / ANGLE_BINS;
    const ux = Math.cos(theta);
    const uy = Math.sin(theta);
    // The farthest crossing of the ray with the polygon's edges (ray p = s u, edge a + t (b - a)).
    let best = 0;
    for (let i = 0; i < m; i++) {
      const ax = xs[i]! - cx;
      const ay = ys[i]! - cy;
      const ex = xs[(i + 1) % m]! - xs[i]!;
      const ey = ys[(i + 1) % m]! - ys[i]!;
      const den = ux * ey - uy * ex;
      if (Math.abs(den) < 1e-9) continue;
      const sAlong = (ax * ey - ay * ex) / den;
      const tEdge = (ax * uy - ay * ux) / den;
      if (sAlong > 0 && tEdge >= 0 && tEdge <= 1 && sAlong > best) best = sAlong;
    }
    if (!(best > 0)) return undefined;
    radius[j] = best;
  }
  return { kind: 'mesh', cx, cy, radius, maxRadius: Math.max(...radius), area: Math.abs(area) / 2 };
}

/** |sideways offset of the nose from the eyes' midpoint| / eye distance, from BlazeFace's keypoints (NaN without them). */
function headTurn(face: FaceSample['face']): number {
  const [r, l, nose] = [face.keypoints[FaceKeypoint.rightEye], face.keypoints[FaceKeypoint.leftEye], face.keypoints[FaceKeypoint.nose]];
  if (!r || !l || !nose) return Number.NaN;
  const ex = l.x - r.x;
  const ey = l.y - r.y;
  const d2 = ex * ex + ey * ey;
  if (!(d2 > 0)) return Number.NaN;
  const mx = (l.x + r.x) / 2;
  const my = (l.y + r.y) / 2;
  return Math.abs((nose.x - mx) * ex + (nose.y - my) * ey) / d2;
}

function ovalRadius(theta: number): number {
  const f = ((theta + Math.PI) / (2 * Math.PI)) * OVAL_RADIUS.length;
  const i = Math.floor(f);
  const t = f - i;
  const a = OVAL_RADIUS[((i % 24) + 24) % 24]!;
  const b = OVAL_RADIUS[(((i + 1) % 24) + 24) % 24]!;
  return a + (b - a) * t;
}

let ovalAreaCache = 0;
/** Area of the oval template in box units (box width x height = 1). */
function ovalAreaBoxUnits(): number {
  if (!ovalAreaCache) {
    const steps = 360;
    for (let j = 0; j < steps; j++) ovalAreaCache += 0.5 * ovalRadius(-Math.PI + ((j + 0.5) / steps) * 2 * Math.PI) ** 2 * ((2 * Math.PI) / steps);
  }
  return ovalAreaCache;
}

/** Luma (0..255) of a w x h grid starting at (x0, y0), each cell the mean of a k x k block. */
function readLuma(src: ImageSource, x0: number, y0: number, w: number, h: number, k: number, out: Float32Array): void {
  const d = src.data;
  if (k === 1 && src.format === 'i420') {
    for (let y = 0; y < h; y++) {
      const row = (y0 + y) * src.width + x0;
      for (let x = 0; x < w; x++) out[y * w + x] = d[row + x]!;
    }
    return;
  }
  const inv = 1 / (k * k);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let yy = 0; yy < k; yy++) {
        const sy = y0 + y * k + yy;
        for (let xx = 0; xx < k; xx++) {
          const sx = x0 + x * k + xx;
          if (src.format === 'i420') sum += d[sy * src.width + sx]!;
          else {
            const ch = src.format === 'rgba' ? 4 : 3;
            const p = (sy * src.width + sx) * ch;
            sum += 0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!;
          }
        }
      }
      out[y * w + x] = sum * inv;
    }
  }
}

/** Separable [1 4 6 4 1]/16 blur (sigma about 1 px); the 2-pixel border is left unused. */
function binomialBlur(src: Float32Array, out: Float32Array, tmp: Float32Array, w: number, h: number): void {
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let x = 2; x < w - 2; x++) {
      const i = r + x;
      tmp[i] = (src[i - 2]! + 4 * src[i - 1]! + 6 * src[i]! + 4 * src[i + 1]! + src[i + 2]!) / 16;
    }
  }
  for (let y = 2; y < h - 2; y++) {
    for (let x = 2; x < w - 2; x++) {
      const i = y * w + x;
      out[i] = (tmp[i - 2 * w]! + 4 * tmp[i - w]! + 6 * tmp[i]! + 4 * tmp[i + w]! + tmp[i + 2 * w]!) / 16;
    }
  }
}
