/**
 * The least-squares similarity transform (rotation, uniform scale, translation) taking one point
 * set onto another: in complex numbers, with a and b the centred sets, s·e^{iθ} = Σ conj(a)·b / Σ |a|².
 * Shared by the landmark-jitter cue (aligning frames to remove head motion) and the face follower
 * (moving the last detected face onto this frame's landmarks).
 */

/** x' = dx + c·(x − sx) − s·(y − sy), y' = dy + s·(x − sx) + c·(y − sy). */
export interface Similarity {
  /** Centroid of the source points. */
  sx: number;
  sy: number;
  /** Centroid of the destination points. */
  dx: number;
  dy: number;
  /** scale·cos θ and scale·sin θ. */
  c: number;
  s: number;
}

/** The fit taking `src` onto `dst` (flat x, y arrays of the same length). Identity on degenerate input. */
export function fitSimilarity(src: ArrayLike<number>, dst: ArrayLike<number>): Similarity {
  const n = src.length / 2;
  let sx = 0;
  let sy = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[2 * i]!;
    sy += src[2 * i + 1]!;
    dx += dst[2 * i]!;
    dy += dst[2 * i + 1]!;
  }
  sx /= n;
  sy /= n;
  dx /= n;
  dy /= n;
  let dot = 0;
  let cross = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const ax = src[2 * i]! - sx;
    const ay = src[2 * i + 1]! - sy;
    const bx = dst[2 * i]! - dx;
    const by = dst[2 * i + 1]! - dy;
    dot += ax * bx + ay * by;
    cross += ax * by - ay * bx;
    norm += ax * ax + ay * ay;
  }
  return { sx, sy, dx, dy, c: norm > 0 ? dot / norm : 1, s: norm > 0 ? cross / norm : 0 };
}

/** Where `t` takes the point (x, y). */
export function applySimilarity(t: Similarity, x: number, y: number): { x: number; y: number } {
  const ax = x - t.sx;
  const ay = y - t.sy;
  return { x: t.dx + t.c * ax - t.s * ay, y: t.dy + t.s * ax + t.c * ay };
}
