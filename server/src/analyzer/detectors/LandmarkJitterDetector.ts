/**
 * Landmark-trajectory jitter (the idea behind LRNet, Sun et al., CVPR 2021): with the head's rigid
 * motion taken out, do the face's features shake from frame to frame?
 *
 * Why: a face swapper or reenactor renders each frame's face on its own; small errors in its
 * alignment and rendering move the eyes, nose and jaw line by a pixel or two relative to the head
 * from one frame to the next, a high-frequency tremble that a real face (whose features are fixed
 * to the skull) does not have. Slow movements (turning, talking, smiling) are smooth and cancel in
 * a second difference; the landmark model's own noise on a real face sets the floor.
 *
 * What is measured: per triplet of consecutive frames, frames t-1 and t+1 are aligned onto frame t
 * by a similarity transform (rotation, scale, translation; least squares) over the rigid points
 * (eye corners, nose, brows, face oval: not the lips or lids, which move on their own), and the
 * second difference of each point (p[t-1] - 2 p[t] + p[t+1]) is taken, over the interocular
 * distance. The median over points is the triplet's jitter; the window's jitter is the median over
 * triplets, so a blink, a hand or a glitch does not count.
 *
 * Needs `minFps` (default 6): at 2 fps, half a second of natural movement between frames swamps a
 * pixel of tremble. The analyzer's landmarks run at up to 8 fps; from a camera sending temporal
 * layers it gets 7.5 (a 15 fps camera's first layer, a 30 fps camera's base layer: streams.ts
 * LANDMARK_LAYER_FPS), and 6 leaves room for a publisher's own jitter. Abstains below it, with too few triplets, or
 * while the head moves fast (the landmark model's error grows with motion blur).
 *
 * Measured on ../shared/data/dev/video (DeepFaceLive, 25 real / 26 fake, 10 fps, 9 identities):
 * the median jitter is 0.3-1.8% of the interocular distance on real clips and the same on the
 * swaps (AUC 0.48; the swap is steadier than the source in 8 of 24 pairs): DeepFaceLive smooths
 * its alignment, and this cue does not catch it. The thresholds are not fitted to that data; they
 * are set where the tremble is gross (3-6% of the eye distance per frame, above every real dev
 * clip), to catch unsmoothed swappers and reenactors (synthetic known-answer tests in
 * test/unit/analyzer/temporal.test.ts) without raising suspicion on real faces.
 */
import { abstain, type Evidence, type FaceObservation, type WindowDetector } from './Detector.ts';
import { median, medianInterval, round } from './numbers.ts';
import { fitSimilarity } from '../vision/similarity.ts';

export interface LandmarkJitterOptions {
  /** Span judged (default 8 s). */
  windowMs?: number;
  /** Least sampling rate (default 6 fps). */
  minFps?: number;
  /** Least number of usable triplets in the window (default 16). */
  minTriplets?: number;
  /** Mean point movement between consecutive frames (fraction of the interocular distance) above which a triplet is skipped (default 0.25). */
  maxMotion?: number;
  /** Jitter (fraction of the interocular distance) at or below which the face counts as steady (default 0.04). */
  steadyJitter?: number;
  /** Jitter at which it counts as fully suspicious (default 0.08). */
  jitterLevel?: number;
}

/** Rigid points of the Face Mesh: eye corners, nose bridge and tip, brows, face oval. */
export const RIGID_POINTS = [
  33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 70, 105, 107, 336, 334, 300, 10, 152, 234, 454, 127, 356, 132, 361, 58, 288, 172, 397, 109, 338,
] as const;

interface Track {
  at: number;
  /** x, y of the rigid points, source pixels. */
  xy: Float64Array;
  iod: number;
}

export class LandmarkJitterDetector implements WindowDetector {
  readonly id = 'landmark-jitter' as const;
  private readonly o: Required<LandmarkJitterOptions>;
  private tracks: Track[] = [];
  /** Frames seen without landmarks in the window, for the abstention's reason. */
  private missing: number[] = [];

  constructor(options: LandmarkJitterOptions = {}) {
    this.o = { windowMs: 8000, minFps: 6, minTriplets: 16, maxMotion: 0.25, steadyJitter: 0.04, jitterLevel: 0.08, ...options };
  }

  observeFace(o: FaceObservation): void {
    const last = this.tracks[this.tracks.length - 1];
    if (last && o.at <= last.at) {
      if (o.at < last.at) this.tracks = [];
      else return;
    }
    const p = o.landmarks?.points;
    if (!p) {
      this.missing.push(o.at);
      return;
    }
    const xy = new Float64Array(RIGID_POINTS.length * 2);
    RIGID_POINTS.forEach((k, i) => {
      xy[2 * i] = p[k * 3]!;
      xy[2 * i + 1] = p[k * 3 + 1]!;
    });
    const iod = Math.hypot(p[33 * 3]! - p[263 * 3]!, p[33 * 3 + 1]! - p[263 * 3 + 1]!);
    if (iod > 4 && xy.every(Number.isFinite)) this.tracks.push({ at: o.at, xy, iod });
  }

  evaluate(now: number): Evidence {
    const from = now - this.o.windowMs;
    let i0 = 0;
    while (i0 < this.tracks.length && this.tracks[i0]!.at < from) i0++;
    if (i0 > 0) this.tracks.splice(0, i0);
    while (this.missing.length && this.missing[0]! < from) this.missing.shift();
    const t = this.tracks;
    const n = t.length;
    const spanMs = n > 1 ? t[n - 1]!.at - t[0]!.at : 0;
    const fps = n > 1 ? ((n - 1) * 1000) / spanMs : 0;
    const base = { samples: n, fps: round(fps, 2) };
    if (n < 3 && this.missing.length > n) return abstain(this.id, now, 'No face landmarks to follow (the landmark model is off or found no face).', base);
    if (n > 1 && fps < this.o.minFps) {
      return abstain(this.id, now, `Face landmarks are sampled at ${round(fps, 1)} per second; jitter needs at least ${this.o.minFps} (consecutive frames close in time).`, base);
    }
    const dt = medianInterval(t);
    const jit: number[] = [];
    let moving = 0;
    const a2 = new Float64Array(RIGID_POINTS.length * 2);
    const c2 = new Float64Array(RIGID_POINTS.length * 2);
    for (let i = 1; i + 1 < n; i++) {
      const a = t[i - 1]!;
      const b = t[i]!;
      const c = t[i + 1]!;
      if (b.at - a.at > 1.6 * dt || c.at - b.at > 1.6 * dt) continue;
      if (meanMove(a.xy, b.xy) > this.o.maxMotion * b.iod || meanMove(b.xy, c.xy) > this.o.maxMotion * b.iod) {
        moving++;
        continue;
      }
      alignSimilarity(a.xy, b.xy, a2);
      alignSimilarity(c.xy, b.xy, c2);
      const d: number[] = [];
      for (let k = 0; k < RIGID_POINTS.length; k++) {
        d.push(Math.hypot(a2[2 * k]! - 2 * b.xy[2 * k]! + c2[2 * k]!, a2[2 * k + 1]! - 2 * b.xy[2 * k + 1]! + c2[2 * k + 1]!) / b.iod);
      }
      jit.push(median(d));
    }
    if (jit.length < this.o.minTriplets) {
      const why = moving > jit.length ? 'the head moved too fast' : 'not enough consecutive face frames yet';
      return abstain(this.id, now, `Cannot judge landmark jitter: ${why} (${jit.length} usable frame triplets; needs ${this.o.minTriplets}).`, { ...base, triplets: jit.length, moving });
    }
    const j = median(jit);
    const details = { ...base, triplets: jit.length, jitter: round(j, 4), meanEyeDistancePx: round(median(t.map((x) => x.iod)), 1) };
    const x = Math.min(1, Math.max(0, (j - this.o.steadyJitter) / (this.o.jitterLevel - this.o.steadyJitter)));
    // Small faces: a pixel of landmark noise is a larger share of the eye distance.
    const confidence = round(0.6 * Math.min(1, jit.length / 30) * Math.min(1, details.meanEyeDistancePx / 40), 3);
    const seconds = Math.round(spanMs / 1000);
    const pct = round(100 * j, 1);
    if (x === 0) {
      return {
        detector: this.id,
        at: now,
        score: 0.1,
        confidence,
        reason: `Over ${seconds} s the eyes, nose and jaw line moved smoothly with the head (frame-to-frame tremble ${pct}% of the eye distance). Good live face swaps are smooth too.`,
        details,
      };
    }
    return {
      detector: this.id,
      at: now,
      score: round(0.1 + 0.8 * x, 3),
      confidence,
      reason: `The eyes, nose and jaw line tremble relative to the head from frame to frame (${pct}% of the eye distance), as a face re-rendered frame by frame does; a real face's features move smoothly with the head.`,
      details,
    };
  }
}

/**
 * Least-squares similarity transform (rotation, uniform scale, translation) taking `src` onto
 * `dst` (flat x, y arrays of the same length), applied to `src`, written to `out`.
 */
export function alignSimilarity(src: Float64Array, dst: Float64Array, out: Float64Array): void {
  const { sx, sy, dx, dy, c, s } = fitSimilarity(src, dst);
  for (let i = 0; i < src.length / 2; i++) {
    const ax = src[2 * i]! - sx;
    const ay = src[2 * i + 1]! - sy;
    out[2 * i] = dx + c * ax - s * ay;
    out[2 * i + 1] = dy + s * ax + c * ay;
  }
}

function meanMove(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 2) s += Math.hypot(a[i]! - b[i]!, a[i + 1]! - b[i + 1]!);
  return s / (a.length / 2);
}
