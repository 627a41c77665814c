/**
 * FrozenPicture (analyzer/vision/FrozenPicture.ts): a picture that stops changing is told from a
 * live camera's, whose every frame differs, within its span and not before.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FaceObservation, FrameDetector } from '../../../server/src/analyzer/detectors/Detector.ts';
import { loadRiskConfig } from '../../../server/src/analyzer/fusion/RiskFusion.ts';
import { Scheduler } from '../../../server/src/analyzer/Scheduler.ts';
import { VideoStream } from '../../../server/src/analyzer/streams.ts';
import { Subjects } from '../../../server/src/analyzer/subjects.ts';
import { FrozenPicture } from '../../../server/src/analyzer/vision/FrozenPicture.ts';
import type { ImageSource } from '../../../server/src/analyzer/vision/image.ts';
import { seededRandom } from '../../helpers/random.ts';

const W = 320;
const H = 240;

/** An I420 frame: a gradient with a "face" blob, plus camera noise of `noise` levels when given. */
function frame(seed: number, noise: number, shift = 0): ImageSource {
  const rand = seededRandom(seed);
  const data = new Uint8Array((W * H * 3) / 2).fill(128);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const blob = (x - 160 - shift) ** 2 + (y - 110) ** 2 < 60 ** 2 ? 60 : 0;
      data[y * W + x] = Math.max(0, Math.min(255, Math.round(40 + x / 4 + blob + (noise ? (rand() - 0.5) * 2 * noise : 0))));
    }
  }
  return { format: 'i420', width: W, height: H, data };
}

/** Feeds `n` frames at `fps` from t0; returns the verdict after each. */
function feed(fp: FrozenPicture, frames: (i: number) => ImageSource, n: number, fps: number, t0 = 0): boolean[] {
  return Array.from({ length: n }, (_, i) => fp.observe(frames(i), t0 + (i * 1000) / fps));
}

describe('FrozenPicture', () => {
  it('the same frame over and over (a still sent as video) is frozen once the 8 s span is covered, not before', () => {
    const still = frame(1, 0);
    const v = feed(new FrozenPicture(), () => still, 40, 2);
    // Frames 0..14 span under 7.2 s (0.9 of the span): not yet.
    expect(v.slice(0, 15).some(Boolean)).toBe(false);
    expect(v.slice(17).every(Boolean)).toBe(true);
  });

  it("a live camera's frames (noise of 1-2 levels, the face moving a pixel now and then) are never frozen", () => {
    const fp = new FrozenPicture();
    expect(feed(fp, (i) => frame(100 + i, 1.5, i % 7 === 0 ? 1 : 0), 120, 6).some(Boolean)).toBe(false);
    // A person holding still at a low bitrate: most frames identical, one in four re-coded. Live.
    const a = frame(7, 0);
    const b = frame(8, 2);
    expect(feed(new FrozenPicture(), (i) => (i % 4 === 3 ? b : a), 80, 2).some(Boolean)).toBe(false);
  });

  it('a keyframe re-coding the still now and then does not hide it (a share, not an unbroken run)', () => {
    const still = frame(1, 0);
    const recoded = frame(2, 1);
    const v = feed(new FrozenPicture(), (i) => (i % 10 === 9 ? recoded : still), 60, 2);
    expect(v.at(-1)).toBe(true);
  });

  it('is live again as soon as the picture moves, and a change of size (a layer switch, a sender scaling down) neither hides a still nor makes one', () => {
    const fp = new FrozenPicture();
    const still = frame(1, 0);
    expect(feed(fp, () => still, 30, 2).at(-1)).toBe(true);
    // The caller moves: live once the moving frames are over 25% of the span (within 2-3 s).
    const moving = feed(fp, (i) => frame(50 + i, 1.5, i % 3), 8, 2, 15_000);
    expect(moving.at(-1)).toBe(false);
    // Still again until frozen, then the sender halves the size: the first smaller frame is not
    // compared with the larger one, and the still stays frozen.
    expect(feed(fp, () => still, 30, 2, 20_000).at(-1)).toBe(true);
    const small: ImageSource = { format: 'i420', width: 160, height: 120, data: new Uint8Array(160 * 120 * 1.5).fill(90) };
    expect(feed(fp, () => small, 10, 2, 35_000).every(Boolean)).toBe(true);
    // A live camera whose sender keeps switching sizes: never frozen.
    const live = new FrozenPicture();
    const sizes = (i: number): ImageSource => (i % 5 === 4 ? { ...small, data: small.data.map((v) => v + (i % 3)) } : frame(200 + i, 1.5));
    expect(feed(live, sizes, 60, 2).some(Boolean)).toBe(false);
  });
});

describe('the analyzer (Scheduler) with a frozen picture', () => {
  afterEach(() => vi.useRealTimers());

  it('neither the classifiers nor the window detectors read a still once it is frozen, landmark frames between the samples included', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
    const subjects = new Subjects(loadRiskConfig());
    const s = new VideoStream({ room: 'r', participantId: 'p', kind: 'video' }, { baseFps: 2, boostedFps: 6, queueCapacity: 4, landmarkFps: 8 });
    const watcher = { video: new Map([[s.key, s]]), audio: new Map(), isAnalysed: () => true };
    const classified: number[] = [];
    const classifier: FrameDetector = {
      id: 'face-deepfake',
      analyse: async (sample) => {
        classified.push(Date.now());
        return { detector: 'face-deepfake', at: sample.at, score: 0.1, confidence: 1, reason: 'real' };
      },
    };
    const face = { box: { x: 30, y: 30, width: 100, height: 100 }, score: 0.9, keypoints: [] };
    // No mesh result: every landmark frame detects the face (no follower), through Scheduler.detect.
    const models = { face: { detect: async () => [face] }, landmarks: { locate: async () => undefined }, frame: [classifier], batchers: [] };
    const observed: number[] = [];
    subjects.get('r', 'p').windows.push({ id: 'pulse', observeFace: (o: FaceObservation) => observed.push(o.at), evaluate: () => undefined } as never);
    const metrics = { histogram: () => ({ add: () => undefined }), inc: () => undefined };
    const sched = new Scheduler({ watcher, subjects, challenges: { sample: () => undefined }, events: { emit: () => true }, metrics, models: () => models, maxBatch: 8 } as never);
    sched.start();
    const still = frame(1, 0);
    const t0 = Date.now();
    for (let ms = 0; ms <= 20_000; ms += 125) {
      if (s.offer({ width: W, height: H, data: still.data } as never, performance.now())) sched.wake();
      await vi.advanceTimersByTimeAsync(125);
    }
    sched.stop();
    const early = (xs: number[]) => xs.filter((t) => t - t0 < 6000).length;
    const late = (xs: number[]) => xs.filter((t) => t - t0 > 10_000).length;
    // Before the span is covered the still is judged as any picture, landmark frames included
    // (more observations than classified samples)...
    expect(early(classified)).toBeGreaterThan(5);
    expect(early(observed)).toBeGreaterThan(early(classified));
    // ...and once it is frozen, nothing reads it: a frozen sample leaves no face seen, so the
    // stream takes no landmark frames (Scheduler.detect's own check on them is for frames already
    // queued; without it this still passes, without the frozen verdict on samples it fails).
    expect(late(classified)).toBe(0);
    expect(late(observed)).toBe(0);
  });
});
