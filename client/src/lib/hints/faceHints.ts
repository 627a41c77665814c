/**
 * Caller-side picture hints: pure decisions from face detections, frame size and brightness.
 * These help an honest caller fix their picture; they are never evidence and never leave the browser.
 */

export type HintKind = 'too-dark' | 'no-face' | 'off-centre' | 'too-far';

export interface Hint {
  kind: HintKind;
  /** Short text shown to the caller. */
  text: string;
  /** One friendly sentence on what to do. */
  detail: string;
}

export const HINTS: Readonly<Record<HintKind, Hint>> = {
  'too-dark': { kind: 'too-dark', text: "It's too dark", detail: 'Turn on a light or face a window so we can see you.' },
  'no-face': { kind: 'no-face', text: "We can't see your face", detail: 'Face the camera and make sure nothing covers it.' },
  'off-centre': { kind: 'off-centre', text: 'Move to the centre', detail: 'Keep your face in the middle of the picture.' },
  'too-far': { kind: 'too-far', text: 'Move closer', detail: 'Sit a little closer to the camera.' },
};

/** The parts of a MediaPipe `Detection` used here (structurally compatible with it). */
export interface FaceDetectionLike {
  boundingBox?: { originX: number; originY: number; width: number; height: number } | undefined;
  categories?: readonly { score: number }[] | undefined;
}

export interface FrameSample {
  detections: readonly FaceDetectionLike[];
  /** Size of the frame the detections' pixel boxes refer to. */
  width: number;
  height: number;
  /** Mean luma of the frame, 0 (black) to 255 (white); see meanLuma(). */
  brightness: number;
}

export interface HintThresholds {
  /** Detections below this score are ignored. */
  minScore: number;
  /** Below this mean luma the picture is too dark, face or not. */
  veryDark: number;
  /** Below this mean luma, a missing face is blamed on the light. */
  dim: number;
  /** How far the face centre may sit from the frame centre, as a fraction of the frame size. */
  maxOffCentre: number;
  /** How much of the face box may lie outside the frame before it counts as off-centre. */
  maxOutside: number;
  /** Faces shorter than this fraction of the frame height are too far away. */
  minFaceHeight: number;
}

/**
 * Measured with BlazeFace short range in Chromium: real faces score 0.8-0.95 once they are about a
 * fifth of the frame height; Chromium's fake camera pattern (text on green) draws false faces at up
 * to about 0.65; faces under about 0.17 of the frame height are not found at all, so "Move closer"
 * (below 0.22, i.e. sitting more than about 1.3 m from a typical webcam) sits just above that.
 */
export const DEFAULT_THRESHOLDS: Readonly<HintThresholds> = {
  minScore: 0.7,
  veryDark: 35,
  dim: 60,
  maxOffCentre: 0.25,
  maxOutside: 0.2,
  minFaceHeight: 0.22,
};

/** The main face: the largest confident detection with a usable box, if any. */
export function mainFace(detections: readonly FaceDetectionLike[], minScore = DEFAULT_THRESHOLDS.minScore): FaceDetectionLike['boundingBox'] {
  let best: FaceDetectionLike['boundingBox'];
  for (const d of detections) {
    const box = d.boundingBox;
    if (!box || !(box.width > 0) || !(box.height > 0)) continue;
    const score = d.categories?.[0]?.score ?? 1;
    if (!(score >= minScore)) continue;
    if (!best || box.width * box.height > best.width * best.height) best = box;
  }
  return best;
}

/** Decides which hint, if any, to show for one frame. `null` means the picture is fine. */
export function decideHint(sample: FrameSample, thresholds: Partial<HintThresholds> = {}): Hint | null {
  const t = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const { width, height, brightness } = sample;
  if (!(width > 0) || !(height > 0)) return null; // no frame yet: say nothing
  if (Number.isFinite(brightness) && brightness < t.veryDark) return HINTS['too-dark'];
  const face = mainFace(sample.detections, t.minScore);
  if (!face) return Number.isFinite(brightness) && brightness < t.dim ? HINTS['too-dark'] : HINTS['no-face'];

  const cx = (face.originX + face.width / 2) / width;
  const cy = (face.originY + face.height / 2) / height;
  const inside =
    Math.max(0, Math.min(face.originX + face.width, width) - Math.max(face.originX, 0)) *
    Math.max(0, Math.min(face.originY + face.height, height) - Math.max(face.originY, 0));
  const outside = 1 - inside / (face.width * face.height);
  if (Math.abs(cx - 0.5) > t.maxOffCentre || Math.abs(cy - 0.5) > t.maxOffCentre || outside > t.maxOutside) {
    return HINTS['off-centre'];
  }
  if (face.height / height < t.minFaceHeight) return HINTS['too-far'];
  return null;
}

/**
 * Mean Rec. 601 luma (0-255) of RGBA pixels, e.g. `ctx.getImageData(...).data` of a small canvas.
 * Returns NaN for an empty buffer.
 */
export function meanLuma(rgba: ArrayLike<number>): number {
  const n = Math.floor(rgba.length / 4);
  if (n === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < n * 4; i += 4) {
    sum += 0.299 * (rgba[i] ?? 0) + 0.587 * (rgba[i + 1] ?? 0) + 0.114 * (rgba[i + 2] ?? 0);
  }
  return sum / n;
}

/**
 * Steadies hints so they do not flicker: a new hint shows only after it is seen `showAfter` times in
 * a row, and a shown hint clears only after the picture is fine `clearAfter` times in a row.
 */
export class HintSmoother {
  private readonly showAfter: number;
  private readonly clearAfter: number;
  private shown: Hint | null = null;
  private candidate: HintKind | 'ok' | undefined;
  private streak = 0;

  constructor(opts: { showAfter?: number; clearAfter?: number } = {}) {
    this.showAfter = Math.max(1, opts.showAfter ?? 2);
    this.clearAfter = Math.max(1, opts.clearAfter ?? 2);
  }

  get current(): Hint | null {
    return this.shown;
  }

  /** Feeds one frame's decision; returns the hint to show now. */
  push(hint: Hint | null): Hint | null {
    const key = hint?.kind ?? 'ok';
    if (key === (this.shown?.kind ?? 'ok')) {
      this.candidate = undefined;
      this.streak = 0;
      return this.shown;
    }
    if (key === this.candidate) this.streak++;
    else {
      this.candidate = key;
      this.streak = 1;
    }
    if (this.streak >= (hint ? this.showAfter : this.clearAfter)) {
      this.shown = hint;
      this.candidate = undefined;
      this.streak = 0;
    }
    return this.shown;
  }

  reset(): void {
    this.shown = null;
    this.candidate = undefined;
    this.streak = 0;
  }
}
