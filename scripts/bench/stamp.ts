/**
 * A clock in the picture, for glass-to-glass latency: the sender paints the time into each frame,
 * the receiver (same process, same clock) reads it back from the decoded frame. Pure functions on
 * I420 frames.
 */
import type { I420Frame } from '../../server/src/headless/wrtc.ts';

/** Bits of the painted clock: milliseconds modulo 2^22 (about 70 minutes before it wraps). */
export const STAMP_BITS = 22;
const STAMP_MOD = 2 ** STAMP_BITS;
/** Side of one bit's block, in pixels: whole VP8 macroblocks survive compression cleanly. */
export const STAMP_BLOCK = 16;

/**
 * Paints `ms` (an integer, taken modulo 2^22) into the frame's top-left corner: one row of
 * 16x16 luma blocks, black for 0 and white for 1, and below it the complement, so a damaged read
 * is detected rather than misread. The rest of the frame is left as it was.
 */
export function paintStamp(frame: I420Frame, ms: number): void {
  const v = ((Math.round(ms) % STAMP_MOD) + STAMP_MOD) % STAMP_MOD;
  if (frame.width < STAMP_BITS * STAMP_BLOCK || frame.height < 2 * STAMP_BLOCK) throw new Error('frame too small for the stamp');
  const w = frame.width;
  const lumaSize = w * frame.height;
  const cw = w >> 1;
  const uOff = lumaSize;
  const vOff = lumaSize + (lumaSize >> 2);
  for (let bit = 0; bit < STAMP_BITS; bit++) {
    const one = ((v >>> bit) & 1) === 1;
    for (let row = 0; row < 2; row++) {
      const y = (row === 0) === one ? 235 : 16;
      const x0 = bit * STAMP_BLOCK;
      const y0 = row * STAMP_BLOCK;
      for (let yy = y0; yy < y0 + STAMP_BLOCK; yy++) frame.data.fill(y, yy * w + x0, yy * w + x0 + STAMP_BLOCK);
      // Neutral chroma, so colour never bleeds into the luma decision.
      for (let yy = y0 >> 1; yy < (y0 + STAMP_BLOCK) >> 1; yy++) {
        frame.data.fill(128, uOff + yy * cw + (x0 >> 1), uOff + yy * cw + ((x0 + STAMP_BLOCK) >> 1));
        frame.data.fill(128, vOff + yy * cw + (x0 >> 1), vOff + yy * cw + ((x0 + STAMP_BLOCK) >> 1));
      }
    }
  }
}

/** Reads a stamp painted by paintStamp; undefined when a block is unreadable (e.g. a corrupted frame). */
export function readStamp(frame: I420Frame): number | undefined {
  if (frame.width < STAMP_BITS * STAMP_BLOCK || frame.height < 2 * STAMP_BLOCK) return undefined;
  const w = frame.width;
  const mid = (x0: number, y0: number) => {
    // Mean of the central 8x8: block edges carry the codec's ringing.
    let s = 0;
    for (let y = y0 + 4; y < y0 + 12; y++) for (let x = x0 + 4; x < x0 + 12; x++) s += frame.data[y * w + x]!;
    return s / 64;
  };
  let v = 0;
  for (let bit = 0; bit < STAMP_BITS; bit++) {
    const a = mid(bit * STAMP_BLOCK, 0);
    const b = mid(bit * STAMP_BLOCK, STAMP_BLOCK);
    // The two rows must disagree clearly.
    if (Math.abs(a - b) < 80) return undefined;
    if (a > b) v |= 1 << bit;
  }
  return v >>> 0;
}

/** Milliseconds from a stamp to `nowMs` on the same clock, allowing for the wrap. */
export function stampAge(stamp: number, nowMs: number): number {
  return (((Math.round(nowMs) - stamp) % STAMP_MOD) + STAMP_MOD) % STAMP_MOD;
}
