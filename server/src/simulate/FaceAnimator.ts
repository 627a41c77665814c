/**
 * Turns one still photo into live-looking video: a slow zoom and drift, blinks, and on request the
 * head movements a liveness challenge asks for (turn left or right, look up, smile, cover the face
 * with a hand), as smooth image warps around the face found in the photo.
 *
 * What it can and cannot prove: the warps move the face's features the way a real head movement
 * moves them in the image (the nose travels toward one cheek when the head turns, the mouth
 * corners widen in a smile), which is what landmark-based pose checks read. They are not 3D: no
 * ear comes into view, and a profile view is impossible; so a turn held for a moment can go on
 * "past tracking" (`away`): the face fades into a dark, featureless head, which stands in for a
 * head turned past where a face detector follows it (the check counts that as close to a profile
 * view, as a real turn that far is). Good for exercising the pipeline and the challenge logic; not a
 * benchmark of how well real head turns are recognised.
 *
 * Per frame it does one inverse-mapped bilinear resample of the I420 planes into a caller-owned
 * frame; no allocation after construction.
 */
import type { I420Frame } from '../headless/wrtc.ts';
import type { ChallengeAction } from '../protocol/challenge.ts';

/** Where the face is in the base frame, in pixels (from BlazeFace's box and keypoints). */
export interface FaceLayout {
  box: { x: number; y: number; width: number; height: number };
  rightEye: { x: number; y: number };
  leftEye: { x: number; y: number };
  nose: { x: number; y: number };
  mouth: { x: number; y: number };
}

/** The movements a liveness challenge asks for. */
export type FaceMotion = ChallengeAction;

export interface AnimatorPose {
  motion?: FaceMotion | undefined;
  /** 0..1: how far into the movement (ease in and out outside). */
  amount?: number;
  /** 0..1: how closed the eyes are. */
  blink?: number;
  /** 0..1, turns only: how far the head has gone on past tracking (the face fades out; see the header). */
  away?: number;
}

export interface AnimatorOptions {
  /** A look applied after the warp, e.g. a screen being filmed. */
  look?: 'camera' | 'screen-replay';
}

/** How far a full turn rotates the head model. */
const TURN_RADIANS = 0.85;
/** The colour the face fades to (Y, U, V): dark hair. */
const HEAD_AWAY = [38, 126, 130] as const;

interface Bump {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

/** Smooth bump: 1 at the centre, 0 at and beyond the ellipse, continuous slope. */
function bump(b: Bump, x: number, y: number): number {
  const dx = (x - b.cx) / b.rx;
  const dy = (y - b.cy) / b.ry;
  const q = dx * dx + dy * dy;
  return q >= 1 ? 0 : (1 - q) * (1 - q);
}

export class FaceAnimator {
  readonly width: number;
  readonly height: number;
  private readonly base: I420Frame;
  private readonly layout: FaceLayout;
  private readonly look: 'camera' | 'screen-replay';
  private readonly face: Bump;
  private readonly mouthBump: Bump;
  private readonly eyes: Bump[];
  /** Skin tone (Y, U, V) sampled from the cheeks: the hand and the eyelids are painted with it. */
  private readonly skin: [number, number, number];
  /** Per-column terms of the head-turn warp, recomputed each frame (no allocation). */
  private readonly colU: Float64Array;
  private readonly colAsin: Float64Array;
  private readonly colRoot: Float64Array;

  constructor(base: I420Frame, layout: FaceLayout, options: AnimatorOptions = {}) {
    if (base.width % 2 || base.height % 2) throw new Error('frame size must be even');
    this.base = base;
    this.width = base.width;
    this.height = base.height;
    this.layout = layout;
    this.look = options.look ?? 'camera';
    const b = layout.box;
    this.face = { cx: b.x + b.width / 2, cy: b.y + b.height * 0.55, rx: b.width * 0.75, ry: b.height * 0.85 };
    const eyeGap = Math.hypot(layout.leftEye.x - layout.rightEye.x, layout.leftEye.y - layout.rightEye.y);
    this.mouthBump = { cx: layout.mouth.x, cy: layout.mouth.y, rx: eyeGap * 1.3, ry: eyeGap * 0.6 };
    this.eyes = [layout.rightEye, layout.leftEye].map((e) => ({ cx: e.x, cy: e.y, rx: eyeGap * 0.28, ry: eyeGap * 0.16 }));
    this.skin = this.sampleSkin(eyeGap);
    this.colU = new Float64Array(base.width);
    this.colAsin = new Float64Array(base.width);
    this.colRoot = new Float64Array(base.width);
  }

  private sampleSkin(eyeGap: number): [number, number, number] {
    const { nose } = this.layout;
    let [y, u, v, n] = [0, 0, 0, 0];
    for (const side of [-1, 1]) {
      const cx = Math.round(nose.x + side * eyeGap * 0.55);
      const cy = Math.round(nose.y);
      for (let dy = -3; dy <= 3; dy++) {
        for (let dx = -3; dx <= 3; dx++) {
          const px = Math.min(this.width - 1, Math.max(0, cx + dx));
          const py = Math.min(this.height - 1, Math.max(0, cy + dy));
          const [yy, uu, vv] = this.basePixel(px, py);
          y += yy;
          u += uu;
          v += vv;
          n++;
        }
      }
    }
    return [y / n, u / n, v / n];
  }

  private basePixel(x: number, y: number): [number, number, number] {
    const w = this.width;
    const cw = w >> 1;
    const lumaSize = w * this.height;
    const ci = (y >> 1) * cw + (x >> 1);
    return [this.base.data[y * w + x]!, this.base.data[lumaSize + ci]!, this.base.data[lumaSize + (lumaSize >> 2) + ci]!];
  }

  /** Draws the frame at `tMs` into `out` (same size as the base). */
  paint(out: I420Frame, tMs: number, pose: AnimatorPose = {}): void {
    const { width: w, height: h } = this;
    // Slow zoom and drift, so every frame differs as a live camera's would.
    const zoom = 1.03 + 0.02 * Math.sin((2 * Math.PI * tMs) / 4000);
    const panX = 5 * Math.sin((2 * Math.PI * tMs) / 7000);
    const panY = 3 * Math.sin((2 * Math.PI * tMs) / 5300);
    const amount = Math.max(0, Math.min(1, pose.amount ?? 0));
    const motion = amount > 0 ? pose.motion : undefined;
    const blink = Math.max(0, Math.min(1, pose.blink ?? 0));
    const fw = this.layout.box.width;
    const fh = this.layout.box.height;
    const face = this.face;
    const mouth = this.mouthBump;
    const cx = w / 2;
    const cy = h / 2;
    // A turn gone on past tracking: how far the face has faded out.
    const turningAway = motion === 'turn-left' || motion === 'turn-right' ? Math.max(0, Math.min(1, pose.away ?? 0)) : 0;
    // Hand over the lower face: an ellipse rising from below the chin.
    const hand: Bump | undefined = motion === 'cover-face' ? { cx: face.cx, cy: this.layout.mouth.y + fh * (0.1 + 0.5 * (1 - amount)), rx: fw * 0.7, ry: fh * 0.42 } : undefined;
    // Output-space bounds of everything local (face, hand), with margin for zoom and drift.
    const margin = 0.1 * Math.max(w, h);
    const local = {
      x0: face.cx - face.rx - margin,
      x1: face.cx + face.rx + margin,
      y0: face.cy - face.ry - margin,
      y1: Math.max(face.cy + face.ry, hand ? hand.cy + hand.ry : 0) + margin,
    };
    const lumaSize = w * h;
    const cw = w >> 1;
    const chromaSize = cw * (h >> 1);
    const src = this.base.data;
    const dst = out.data;

    for (let plane = 0; plane < 3; plane++) {
      const pw = plane === 0 ? w : cw;
      const ph = plane === 0 ? h : h >> 1;
      const scale = plane === 0 ? 1 : 2;
      const offset = plane === 0 ? 0 : plane === 1 ? lumaSize : lumaSize + chromaSize;
      const skin = this.skin[plane]!;
      const turning = motion === 'turn-left' || motion === 'turn-right';
      if (turning) {
        // Undoing zoom and drift gives a column's source x regardless of row.
        for (let px = 0; px < pw; px++) {
          const u = (((px + 0.5) * scale - cx) / zoom + cx - panX - face.cx) / face.rx;
          this.colU[px] = u;
          const c = Math.max(-1, Math.min(1, u));
          this.colAsin[px] = Math.asin(c);
          this.colRoot[px] = Math.sqrt(1 - c * c);
        }
      }
      for (let py = 0; py < ph; py++) {
        const y = (py + 0.5) * scale;
        let rowTheta = 0;
        if (turning) {
          const dy = ((y - cy) / zoom + cy - panY - face.cy) / face.ry;
          const taper = dy * dy >= 1 ? 0 : (1 - dy * dy) * (1 - dy * dy);
          rowTheta = (motion === 'turn-left' ? 1 : -1) * TURN_RADIANS * amount * taper;
        }
        const rowCos = Math.cos(rowTheta);
        const rowSin = Math.sin(rowTheta);
        const rowLocal = y >= local.y0 && y <= local.y1;
        for (let px = 0; px < pw; px++) {
          // Output position in full-resolution pixels.
          const x = (px + 0.5) * scale;
          // Undo zoom and drift.
          let sx = (x - cx) / zoom + cx - panX;
          let sy = (y - cy) / zoom + cy - panY;
          // Movements, blinks and the hand only touch the face: elsewhere only zoom and drift.
          const isLocal = rowLocal && x >= local.x0 && x <= local.x1;
          if (motion && isLocal) {
            // Inverse warp, first order: sample where the moved feature came from.
            if (motion === 'turn-left' || motion === 'turn-right') {
              // The subject's left is the image's right in an unmirrored camera frame.
              // The head as a vertical cylinder turning about its axis: features travel toward one
              // side and the far cheek foreshortens, tapered off above and below the face.
              // sin(asin(u) - theta) = u cos(theta) - sqrt(1 - u^2) sin(theta), per-column terms precomputed.
              const u = this.colU[px]!;
              if (rowTheta !== 0 && u > -1 && u < 1) {
                const phi = this.colAsin[px]! - rowTheta;
                if (phi > -Math.PI / 2 && phi < Math.PI / 2) sx = face.cx + face.rx * (u * rowCos - this.colRoot[px]! * rowSin);
              }
            } else if (motion === 'look-up') {
              const g = bump(face, sx, sy);
              sy += 0.16 * fh * amount * g;
            } else if (motion === 'smile') {
              const g = bump(mouth, sx, sy);
              const rel = (sx - mouth.cx) / mouth.rx;
              sx -= (sx - mouth.cx) * amount * g;
              sy += 0.5 * mouth.ry * rel * rel * amount * g;
            }
          }
          let value: number;
          {
            const qx = sx / scale - 0.5;
            const qy = sy / scale - 0.5;
            const x0 = Math.max(0, Math.min(pw - 1, Math.floor(qx)));
            const y0 = Math.max(0, Math.min(ph - 1, Math.floor(qy)));
            const x1 = Math.min(pw - 1, x0 + 1);
            const y1 = Math.min(ph - 1, y0 + 1);
            const fx = Math.max(0, Math.min(1, qx - x0));
            const fy = Math.max(0, Math.min(1, qy - y0));
            const a = src[offset + y0 * pw + x0]!;
            const b = src[offset + y0 * pw + x1]!;
            const c = src[offset + y1 * pw + x0]!;
            const d = src[offset + y1 * pw + x1]!;
            value = (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
          }
          if (blink > 0 && isLocal) {
            for (const e of this.eyes) {
              const g = bump(e, sx, sy);
              if (g > 0) value += (skin - value) * Math.min(1, g * 3) * blink;
            }
          }
          if (turningAway > 0 && isLocal) {
            const g = bump(face, sx, sy);
            if (g > 0) value += ((HEAD_AWAY[plane] as number) - value) * Math.min(1, g * 3) * turningAway;
          }
          if (hand && isLocal) {
            const g = bump(hand, x, y);
            if (g > 0) {
              // Fingers: slightly darker gaps across the hand.
              const finger = plane === 0 ? 10 * Math.abs(Math.sin(((x - hand.cx) / fw) * Math.PI * 2.5)) : 0;
              const hv = skin * (plane === 0 ? 0.92 : 1) - finger;
              value += (hv - value) * Math.min(1, g * 4);
            }
          }
          if (this.look === 'screen-replay') value = this.screenLook(plane, value, x, y);
          dst[offset + py * pw + px] = value < 0 ? 0 : value > 255 ? 255 : value;
        }
      }
    }
  }

  /**
   * A face filmed off a monitor: a dark bezel, flattened contrast, a blue cast, and the moire of a
   * pixel grid beating against the camera's.
   */
  private screenLook(plane: number, value: number, x: number, y: number): number {
    const border = 28;
    if (x < border || y < border || x > this.width - border || y > this.height - border) return plane === 0 ? 24 : 128;
    if (plane === 0) return 30 + value * 0.78 + 7 * Math.sin(x * 1.9) * Math.sin(y * 1.7);
    return plane === 1 ? value + 6 : value - 4;
  }
}
