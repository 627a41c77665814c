/**
 * Has something covered the lower face? A coarse 8x8 luma signature of the lower part of the face
 * box (nose to chin), normalised for brightness and contrast, compared with the same face a few
 * seconds earlier. A hand replaces the mouth and chin pattern with a flat, differently shaped one;
 * lighting changes and small movements barely move the normalised signature.
 */
import type { Box } from './nms.ts';
import { meanLuma, type ImageSource } from './image.ts';

export const SIGNATURE_CELLS = 64;
const GRID = 8;

/** Fills `out` (64 values); returns false when the region is flat or outside the frame. */
export function lowerFaceSignature(src: ImageSource, box: Box, out: Float32Array): boolean {
  const top = box.y + box.height * 0.5;
  // Faces filling the frame reach past its bottom edge: stop at the edge.
  const height = Math.min(box.height * 0.6, src.height - top);
  if (height < 8) return false;
  const cw = box.width / GRID;
  const ch = height / GRID;
  let sum = 0;
  for (let gy = 0; gy < GRID; gy++) {
    for (let gx = 0; gx < GRID; gx++) {
      const v = meanLuma(src, { x: box.x + gx * cw, y: top + gy * ch, width: cw, height: ch });
      if (Number.isNaN(v)) return false;
      out[gy * GRID + gx] = v;
      sum += v;
    }
  }
  const mean = sum / SIGNATURE_CELLS;
  let sq = 0;
  for (let i = 0; i < SIGNATURE_CELLS; i++) sq += (out[i]! - mean) ** 2;
  const sd = Math.sqrt(sq / SIGNATURE_CELLS);
  if (sd < 1) return false;
  for (let i = 0; i < SIGNATURE_CELLS; i++) out[i] = (out[i]! - mean) / sd;
  return true;
}

/** Mean absolute difference of two signatures: 0 identical, about 1.1 for unrelated patterns. */
export function signatureDistance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < SIGNATURE_CELLS; i++) d += Math.abs(a[i]! - b[i]!);
  return d / SIGNATURE_CELLS;
}
