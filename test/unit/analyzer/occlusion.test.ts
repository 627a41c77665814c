/**
 * The occlusion gate (vision/occlusion.ts): a hand across a caller's lower face makes the frame
 * detectors abstain; turns, lighting and small movements do not; a cover held for long becomes
 * the new reference. Synthetic frames where the answer is known.
 */
import { describe, expect, it } from 'vitest';
import { rgbSource, type ImageSource } from '../../../server/src/analyzer/vision/image.ts';
import { OcclusionGate } from '../../../server/src/analyzer/vision/occlusion.ts';

const W = 320;
const H = 240;
const BOX = { x: 100, y: 40, width: 120, height: 150 };

/** A face-like pattern (mouth, chin shadow, nostrils) in the box; `gain`/`bias` change the lighting; `hand` paints a flat skin-toned blob over the lower face. */
function frame(opts: { gain?: number; bias?: number; shift?: number; hand?: boolean; seed?: number } = {}): ImageSource {
  const { gain = 1, bias = 0, shift = 0, hand = false, seed = 1 } = opts;
  const data = new Uint8ClampedArray(W * H * 4);
  let r = seed;
  const noise = () => ((r = (r * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff - 0.5) * 6;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const u = (x - shift - BOX.x) / BOX.width;
      const v = (y - BOX.y) / BOX.height;
      let l = 90;
      if (u > 0 && u < 1 && v > 0 && v < 1) {
        l = 170 - 40 * Math.abs(u - 0.5); // lit from the front
        if (Math.abs(v - 0.62) < 0.03 && Math.abs(u - 0.5) < 0.06) l = 70; // nostrils
        if (Math.abs(v - 0.78) < 0.025 && Math.abs(u - 0.5) < 0.2) l = 60; // mouth
        if (v > 0.9) l -= 50; // chin shadow
      }
      if (hand) {
        const hx = (x - (BOX.x + BOX.width / 2)) / (BOX.width * 0.7);
        const hy = (y - (BOX.y + BOX.height * 0.82)) / (BOX.height * 0.3);
        if (hx * hx + hy * hy < 1) l = 150 + 10 * hy;
      }
      const v8 = Math.max(0, Math.min(255, gain * l + bias + noise()));
      data.set([v8, v8, v8, 255], (y * W + x) * 4);
    }
  }
  return rgbSource({ width: W, height: H, data });
}

const FRONT = { yaw: 0, pitch: 0 };

function warmed(): { gate: OcclusionGate; t: number } {
  const gate = new OcclusionGate();
  let t = 0;
  for (let i = 0; i < 8; i++) expect(gate.check(frame({ seed: i + 1 }), BOX, FRONT, (t += 125)).covered).toBe(false);
  return { gate, t };
}

describe('OcclusionGate', () => {
  it('a hand across the lower face is covered; the same face under other lighting or slightly moved is not', () => {
    const { gate } = warmed();
    let t = 1000;
    const clear = [frame({ gain: 1.3, seed: 11 }), frame({ bias: -30, seed: 12 }), frame({ shift: 3, seed: 13 })].map((f) => gate.check(f, BOX, { yaw: 2, pitch: -1 }, (t += 125)));
    for (const c of clear) {
      expect(c.covered).toBe(false);
      expect(c.distance!).toBeLessThan(0.3);
    }
    const hand = gate.check(frame({ hand: true, seed: 14 }), BOX, FRONT, (t += 125));
    expect(hand.covered).toBe(true);
    expect(hand.distance!).toBeGreaterThanOrEqual(0.5);
    // The hand comes away: uncovered again at once.
    expect(gate.check(frame({ seed: 15 }), BOX, FRONT, (t += 125)).covered).toBe(false);
  });

  it('a turned or tilted head is not compared (a turn is not a cover, and is where swaps break)', () => {
    const { gate } = warmed();
    expect(gate.check(frame({ hand: true }), BOX, { yaw: 25, pitch: 0 }, 2000)).toEqual({ covered: false });
    expect(gate.check(frame({ hand: true }), BOX, { yaw: 0, pitch: 12 }, 2100)).toEqual({ covered: false });
  });

  it('nothing is covered before the reference has its frames', () => {
    const gate = new OcclusionGate();
    expect(gate.check(frame({ hand: true }), BOX, FRONT, 0).covered).toBe(false);
  });

  it('a cover held past rebaselineMs becomes the new reference: the gate hides gestures, never a face for good', () => {
    const { gate } = warmed();
    let t = 2000;
    let covered = 0;
    for (let i = 0; i < 60; i++) if (gate.check(frame({ hand: true, seed: 100 + i }), BOX, FRONT, (t += 125)).covered) covered++;
    // Covered for the first 5 s (40 frames at 8 fps), then judged again.
    expect(covered).toBeGreaterThanOrEqual(39);
    expect(covered).toBeLessThanOrEqual(42);
    expect(gate.check(frame({ hand: true, seed: 999 }), BOX, FRONT, (t += 125)).covered).toBe(false);
  });
});
