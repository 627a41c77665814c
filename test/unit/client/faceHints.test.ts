/** Caller-side picture hints: the pure decisions, without a browser or MediaPipe. */
import { describe, expect, it } from 'vitest';
import { decideHint, HINTS, HintSmoother, mainFace, meanLuma, type FaceDetectionLike } from '../../../client/src/lib/hints/faceHints.ts';

const W = 640;
const H = 480;
const face = (originX: number, originY: number, width: number, height: number, score = 0.9): FaceDetectionLike => ({
  boundingBox: { originX, originY, width, height },
  categories: [{ score }],
});
const centred = face(W / 2 - 100, H / 2 - 120, 200, 240);

describe('decideHint', () => {
  it('says nothing when a well-lit face sits in the middle', () => {
    expect(decideHint({ detections: [centred], width: W, height: H, brightness: 120 })).toBeNull();
  });

  it("says it can't see a face when there is none in a bright picture", () => {
    expect(decideHint({ detections: [], width: W, height: H, brightness: 120 })?.kind).toBe('no-face');
    expect(decideHint({ detections: [], width: W, height: H, brightness: 120 })?.text).toBe("We can't see your face");
  });

  it('ignores low-confidence detections, like the false faces on a test pattern', () => {
    expect(decideHint({ detections: [face(220, 120, 200, 240, 0.2)], width: W, height: H, brightness: 120 })?.kind).toBe('no-face');
    // What BlazeFace reports on the text of Chromium's fake camera.
    expect(decideHint({ detections: [face(40, 0, 320, 320, 0.64)], width: W, height: H, brightness: 89 })?.kind).toBe('no-face');
    expect(decideHint({ detections: [face(220, 120, 200, 240, 0.64)], width: W, height: H, brightness: 120 }, { minScore: 0.5 })).toBeNull();
  });

  it('says it is too dark when the picture is very dark, even with a face', () => {
    expect(decideHint({ detections: [centred], width: W, height: H, brightness: 20 })).toBe(HINTS['too-dark']);
    expect(HINTS['too-dark'].text).toBe("It's too dark");
  });

  it('blames a dim picture rather than the caller when no face is found', () => {
    expect(decideHint({ detections: [], width: W, height: H, brightness: 50 })?.kind).toBe('too-dark');
    // The same dim light is fine once a face is found.
    expect(decideHint({ detections: [centred], width: W, height: H, brightness: 50 })).toBeNull();
  });

  it('asks to move to the centre when the face is off to a side, high, or cut off', () => {
    expect(decideHint({ detections: [face(0, 120, 150, 200)], width: W, height: H, brightness: 120 })?.kind).toBe('off-centre');
    expect(decideHint({ detections: [face(W - 160, 120, 150, 200)], width: W, height: H, brightness: 120 })?.kind).toBe('off-centre');
    expect(decideHint({ detections: [face(245, 0, 150, 100)], width: W, height: H, brightness: 120 })?.kind).toBe('off-centre');
    // Centre inside the tolerance but a third of the box outside the frame.
    expect(decideHint({ detections: [face(200, -150, 240, 450)], width: W, height: H, brightness: 120 })?.kind).toBe('off-centre');
    expect(HINTS['off-centre'].text).toBe('Move to the centre');
  });

  it('asks to move closer when the face is small', () => {
    expect(decideHint({ detections: [face(W / 2 - 20, H / 2 - 25, 40, 50)], width: W, height: H, brightness: 120 })?.text).toBe('Move closer');
    expect(decideHint({ detections: [face(W / 2 - 40, H / 2 - 48, 80, 96)], width: W, height: H, brightness: 120 })?.kind).toBe('too-far');
    expect(decideHint({ detections: [face(W / 2 - 50, H / 2 - 60, 100, 120)], width: W, height: H, brightness: 120 })).toBeNull();
  });

  it('judges the largest face when there are several', () => {
    const small = face(0, 0, 40, 40);
    expect(decideHint({ detections: [small, centred], width: W, height: H, brightness: 120 })).toBeNull();
    expect(mainFace([small, centred])).toBe(centred.boundingBox);
  });

  it('says nothing before there is a frame, and copes with unknown brightness', () => {
    expect(decideHint({ detections: [], width: 0, height: 0, brightness: 0 })).toBeNull();
    expect(decideHint({ detections: [], width: W, height: H, brightness: Number.NaN })?.kind).toBe('no-face');
    expect(decideHint({ detections: [centred], width: W, height: H, brightness: Number.NaN })).toBeNull();
  });
});

describe('meanLuma', () => {
  it('weighs RGB as Rec. 601 luma and ignores alpha', () => {
    expect(meanLuma(new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 0]))).toBeCloseTo(127.5, 5);
    expect(meanLuma([0, 255, 0, 255])).toBeCloseTo(0.587 * 255, 5);
    expect(meanLuma([])).toBeNaN();
  });
});

describe('HintSmoother', () => {
  it('shows a hint only once it repeats, and clears it only once the picture stays fine', () => {
    const s = new HintSmoother({ showAfter: 2, clearAfter: 2 });
    expect(s.push(HINTS['no-face'])).toBeNull();
    expect(s.push(HINTS['no-face'])).toBe(HINTS['no-face']);
    expect(s.push(null)).toBe(HINTS['no-face']); // one good frame is not enough
    expect(s.push(HINTS['no-face'])).toBe(HINTS['no-face']);
    expect(s.push(null)).toBe(HINTS['no-face']);
    expect(s.push(null)).toBeNull();
  });

  it('does not flicker between alternating hints', () => {
    const s = new HintSmoother({ showAfter: 2 });
    for (let i = 0; i < 6; i++) expect(s.push(i % 2 ? HINTS['too-dark'] : HINTS['off-centre'])).toBeNull();
    s.push(HINTS['too-far']);
    expect(s.push(HINTS['too-far'])?.kind).toBe('too-far');
    s.reset();
    expect(s.current).toBeNull();
  });
});
