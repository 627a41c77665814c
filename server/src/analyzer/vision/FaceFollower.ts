/**
 * Follows one face from frame to frame by its own landmarks, so that the landmark frames between
 * the face classifiers' samples need no face detection: MediaPipe's face-mesh graph does the same
 * (the mesh's crop for the next frame comes from this frame's landmarks; the detector runs only
 * to find a face again). Why: with a face present the analyzer runs the mesh 7.5 times a second
 * for the temporal detectors, and BlazeFace with its frame quality check ran before every one of
 * them (~1.3 ms of a core each, 5.5 times a second per stream: about 1% of a core per stream, for
 * a box the previous frame's landmarks already give).
 *
 * How: each frame on which BlazeFace found the face and the mesh located it is an anchor (its box,
 * keypoints and landmarks). A later frame's face is the anchor moved by the similarity transform
 * (shift, scale, roll) that carries the anchor's rigid landmarks onto that frame's, so the box keeps
 * BlazeFace's own convention (the detectors that measure inside and around it see the same kind of
 * box on every frame) and the mesh's crop follows the head. The face detector comes back on the
 * classifiers' samples (2 a second: new anchors, the quality check, a second face), whenever the
 * mesh loses the face (its presence falls under its threshold) and when the last landmarks are
 * older than `maxAgeMs`.
 */
import type { Landmarks } from '../detectors/FaceLandmarks.ts';
import type { FaceDetection } from './BlazeFace.ts';
import { applySimilarity, fitSimilarity } from './similarity.ts';

export interface FaceFollowerOptions {
  /** Landmarks older than this are not followed: the face is detected again (default 500 ms, four landmark frames at 7.5 fps). */
  maxAgeMs?: number;
}

/**
 * Mesh points that move with the skull, not with expression: the eye corners, the nose bridge and
 * tip, the forehead and the cheekbones (MediaPipe Face Mesh indices). The jaw and lips are left out:
 * speech would read as head motion.
 */
const RIGID = [33, 133, 362, 263, 168, 6, 1, 10, 234, 454] as const;

interface Anchor {
  face: FaceDetection;
  /** The anchor's rigid points, x then y. */
  points: Float64Array;
}

export class FaceFollower {
  private readonly maxAgeMs: number;
  private anchor: Anchor | undefined;
  private last: { face: FaceDetection; at: number } | undefined;

  constructor(options: FaceFollowerOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 500;
  }

  /** A frame where the face detector found `face` and the mesh located it at `landmarks`. */
  anchorAt(face: FaceDetection, landmarks: Landmarks, at: number): void {
    this.anchor = { face, points: rigidPoints(landmarks) };
    this.last = { face, at };
  }

  /**
   * The face to crop the mesh around on a frame at `at`: where the last landmarks put it. Undefined
   * when there is nothing to follow (no anchor, or the last landmarks are too old): detect instead.
   */
  predict(at: number): FaceDetection | undefined {
    if (!this.last || at - this.last.at > this.maxAgeMs || at < this.last.at) return undefined;
    return this.last.face;
  }

  /** The mesh found `landmarks` on a frame at `at`: the face there (the anchor moved onto them), also the next prediction. */
  follow(landmarks: Landmarks, at: number): FaceDetection | undefined {
    if (!this.anchor) return undefined;
    const face = moveFace(this.anchor, rigidPoints(landmarks));
    this.last = { face, at };
    return face;
  }

  /** The face is gone, or a frame said it cannot be judged: detect on the next frame. */
  reset(): void {
    this.anchor = undefined;
    this.last = undefined;
  }
}

function rigidPoints(lm: Landmarks): Float64Array {
  const out = new Float64Array(RIGID.length * 2);
  RIGID.forEach((i, k) => {
    out[2 * k] = lm.points[i * 3] as number;
    out[2 * k + 1] = lm.points[i * 3 + 1] as number;
  });
  return out;
}

/** The anchor's face under the least-squares similarity from its rigid points to `to` (vision/similarity.ts). */
function moveFace(anchor: Anchor, to: Float64Array): FaceDetection {
  const t = fitSimilarity(anchor.points, to);
  const { box } = anchor.face;
  const scale = Math.hypot(t.c, t.s);
  const centre = applySimilarity(t, box.x + box.width / 2, box.y + box.height / 2);
  const width = box.width * scale;
  const height = box.height * scale;
  return {
    box: { x: centre.x - width / 2, y: centre.y - height / 2, width, height },
    score: anchor.face.score,
    keypoints: anchor.face.keypoints.map((p) => applySimilarity(t, p.x, p.y)),
  };
}
