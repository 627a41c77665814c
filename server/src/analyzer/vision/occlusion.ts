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

export interface OcclusionGateOptions {
  /** Signature distance from the caller's own uncovered face that counts as covered. Default 0.5 (the liveness check's cover threshold, screening/challenge/judge.ts). */
  coveredAt?: number;
  /** Below this distance a frame refreshes the reference. Default 0.3. */
  refreshBelow?: number;
  /** Frames averaged into the first reference. Default 5. */
  baselineFrames?: number;
  /** Head turn or tilt (degrees from the reference pose) beyond which frames are not compared: a turned face changes the signature by itself. Default 8 (judge.ts's turn and look-up needs). */
  poseDeg?: number;
  /** Covered longer than this is a new appearance (glasses pushed down, a scarf, a different light), not a gesture: the reference starts again. Default 5000 ms. */
  rebaselineMs?: number;
}

export interface OcclusionReading {
  covered: boolean;
  /** Distance from the reference, when the frame could be compared. */
  distance?: number;
}

/**
 * Is the lower face of this caller covered right now (a hand, a cup, a phone)? MesoNet reads a
 * real face with a hand across it as fake (0.13 -> 0.83 on the simulated real caller), and with the
 * onset view a 2 s gesture could raise an alert on a real caller. The face classifiers abstain on
 * covered frames instead (pipeline.ts). The reference is the caller's own lower face, kept fresh
 * from uncovered frontal frames; a frame is compared only while the head is near the reference
 * pose (a turn is not a cover, and is exactly where swaps break, so the classifiers keep judging
 * turns). A cover held past rebaselineMs starts a new reference, so the gate can hide only
 * gestures, never a face for good. Not fitted to labelled data: there is no video of real people
 * covering their faces here; thresholds are the liveness check's.
 */
export class OcclusionGate {
  private readonly opts: Required<OcclusionGateOptions>;
  private readonly reference = new Float32Array(SIGNATURE_CELLS);
  private readonly signature = new Float32Array(SIGNATURE_CELLS);
  private frames = 0;
  private yaw = 0;
  private pitch = 0;
  private coveredSince: number | undefined;

  constructor(options: OcclusionGateOptions = {}) {
    this.opts = { coveredAt: 0.5, refreshBelow: 0.3, baselineFrames: 5, poseDeg: 8, rebaselineMs: 5000, ...options };
  }

  /** One analysed frame of the caller's face, with its head pose (degrees) and time (ms). */
  check(src: ImageSource, box: Box, pose: { yaw: number; pitch: number }, at: number): OcclusionReading {
    if (!lowerFaceSignature(src, box, this.signature)) return { covered: false };
    const o = this.opts;
    if (this.frames < o.baselineFrames) {
      // Running mean of the first frames, pose included: one odd frame does not become the reference.
      this.frames++;
      for (let i = 0; i < SIGNATURE_CELLS; i++) this.reference[i]! += (this.signature[i]! - this.reference[i]!) / this.frames;
      this.yaw += (pose.yaw - this.yaw) / this.frames;
      this.pitch += (pose.pitch - this.pitch) / this.frames;
      return { covered: false };
    }
    if (Math.abs(pose.yaw - this.yaw) >= o.poseDeg || Math.abs(pose.pitch - this.pitch) >= o.poseDeg) return { covered: false };
    const distance = signatureDistance(this.reference, this.signature);
    if (distance >= o.coveredAt) {
      this.coveredSince ??= at;
      if (at - this.coveredSince > o.rebaselineMs) {
        this.reset();
        return { covered: false, distance };
      }
      return { covered: true, distance };
    }
    this.coveredSince = undefined;
    if (distance < o.refreshBelow) {
      // Slow refresh: lighting and posture drift over a call; a gesture is over in seconds.
      for (let i = 0; i < SIGNATURE_CELLS; i++) this.reference[i]! += (this.signature[i]! - this.reference[i]!) * 0.05;
      this.yaw += (pose.yaw - this.yaw) * 0.05;
      this.pitch += (pose.pitch - this.pitch) * 0.05;
    }
    return { covered: false, distance };
  }

  private reset(): void {
    this.frames = 0;
    this.reference.fill(0);
    this.yaw = 0;
    this.pitch = 0;
    this.coveredSince = undefined;
  }
}
