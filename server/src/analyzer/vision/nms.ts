/** Box overlap and non-maximum suppression for detections with keypoints. */
import type { Point } from './image.ts';

/** Axis-aligned box in source pixels, top-left corner plus size. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Detection {
  box: Box;
  score: number;
  keypoints: Point[];
}

export function iou(a: Box, b: Box): number {
  const ix = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const iy = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Classic NMS: keeps the best-scoring detection of every group overlapping by more than `iouThreshold`. */
export function nms<T extends { box: Box; score: number }>(dets: readonly T[], iouThreshold: number, maxOut = Infinity): T[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const d of sorted) {
    if (kept.length >= maxOut) break;
    if (kept.every((k) => iou(k.box, d.box) <= iouThreshold)) kept.push(d);
  }
  return kept;
}

/**
 * MediaPipe's weighted NMS: each group overlapping the best remaining detection by more than
 * `iouThreshold` is replaced by the score-weighted mean of its boxes and keypoints, scored as its
 * best member. Averaging the 5-10 anchors that fire on one face steadies box and keypoints.
 */
export function weightedNms(dets: readonly Detection[], iouThreshold: number, maxOut = Infinity): Detection[] {
  const remaining = [...dets].sort((a, b) => b.score - a.score);
  const out: Detection[] = [];
  while (remaining.length > 0 && out.length < maxOut) {
    const top = remaining[0]!;
    const group: Detection[] = [];
    const rest: Detection[] = [];
    for (const d of remaining) (iou(top.box, d.box) > iouThreshold || d === top ? group : rest).push(d);
    out.push(group.length === 1 ? top : blend(group, top.score));
    remaining.length = 0;
    remaining.push(...rest);
  }
  return out;
}

function blend(group: readonly Detection[], score: number): Detection {
  let total = 0;
  let x = 0;
  let y = 0;
  let w = 0;
  let h = 0;
  const nk = group[0]!.keypoints.length;
  const kp = Array.from({ length: nk }, () => ({ x: 0, y: 0 }));
  for (const d of group) {
    const s = d.score;
    total += s;
    x += d.box.x * s;
    y += d.box.y * s;
    w += d.box.width * s;
    h += d.box.height * s;
    for (let k = 0; k < nk; k++) {
      const p = d.keypoints[k];
      if (!p) continue;
      kp[k]!.x += p.x * s;
      kp[k]!.y += p.y * s;
    }
  }
  for (const p of kp) {
    p.x /= total;
    p.y /= total;
  }
  return { box: { x: x / total, y: y / total, width: w / total, height: h / total }, score, keypoints: kp };
}
