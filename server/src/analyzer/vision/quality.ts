/**
 * Decides whether a sampled frame is fit for face analysis, so the analyzer can report why it
 * has no verdict instead of scoring a face it cannot see.
 */
import type { QUALITY_REASONS } from '../../protocol/analyzerChannel.ts';
import { meanLuma, type ImageSource } from './image.ts';
import type { Box, Detection } from './nms.ts';

/** 'frozen' is not assessQuality's: the picture has stopped changing (FrozenPicture.ts), decided over frames. */
export type QualityReason = (typeof QUALITY_REASONS)[number];

export interface QualityOptions {
  /** Mean full-range luma (0..255) below which the face, or the frame when no face is found, is too dark (default 40). */
  minLuma?: number;
  /** Shorter side of the face box, in source pixels, below which it is too small (default 64). */
  minFaceSize?: number;
}

export interface QualityReport {
  reason: QualityReason;
  faceCount: number;
  /** Mean luma of the largest face's box, or of the whole frame when there is no face. */
  meanLuma: number;
  lumaRegion: 'face' | 'frame';
  /** Shorter side of the largest face's box; null without a face. */
  faceSize: number | null;
}

export function assessQuality(src: ImageSource, faces: readonly Detection[], options: QualityOptions = {}): QualityReport {
  const minLuma = options.minLuma ?? 40;
  const minFaceSize = options.minFaceSize ?? 64;
  const largest = faces.reduce<Box | null>((best, f) => (best && area(best) >= area(f.box) ? best : f.box), null);
  if (!largest) {
    const luma = meanLuma(src);
    // In the dark the detector misses faces: darkness is the actionable reason.
    return { reason: luma < minLuma ? 'too-dark' : 'no-face', faceCount: 0, meanLuma: luma, lumaRegion: 'frame', faceSize: null };
  }
  const luma = meanLuma(src, largest);
  // The face as the frame holds it: a box partly outside counts by its visible part, and a box
  // the frame does not hold at all (wholly outside, or NaN/Infinity from the model) is no face.
  const visible = visiblePart(largest, src.width, src.height);
  if (faces.length === 1 && (!visible || Number.isNaN(luma))) {
    const frameLuma = meanLuma(src);
    return { reason: frameLuma < minLuma ? 'too-dark' : 'no-face', faceCount: 0, meanLuma: frameLuma, lumaRegion: 'frame', faceSize: null };
  }
  const faceSize = visible ? Math.min(visible.width, visible.height) : 0;
  const reason: QualityReason = faces.length > 1 ? 'multiple-faces' : luma < minLuma ? 'too-dark' : faceSize < minFaceSize ? 'too-small' : 'ok';
  return { reason, faceCount: faces.length, meanLuma: luma, lumaRegion: 'face', faceSize };
}

/** The part of `b` inside a width x height frame; undefined when none is (or the box is not finite). */
export function visiblePart(b: Box, width: number, height: number): Box | undefined {
  if (![b.x, b.y, b.width, b.height].every(Number.isFinite)) return undefined;
  const x0 = Math.max(0, b.x);
  const y0 = Math.max(0, b.y);
  const x1 = Math.min(width, b.x + b.width);
  const y1 = Math.min(height, b.y + b.height);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : undefined;
}

function area(b: Box): number {
  return b.width * b.height;
}
