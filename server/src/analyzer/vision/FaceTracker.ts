/**
 * Gives faces stable ids across sampled frames so per-face scores can accumulate over time.
 * Samples are sparse (a few per second), so besides box overlap a face may match on a nearby
 * centre when it moved further than its box overlaps.
 */
import { iou, type Box, type Detection } from './nms.ts';

export interface Track<T extends Detection = Detection> {
  readonly id: number;
  /** Latest matched detection. */
  detection: T;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Updates in which the face was matched. */
  hits: number;
  /** Consecutive updates without a match. */
  missed: number;
}

export interface FaceTrackerOptions {
  /** Overlap that alone is enough to match (default 0.3). */
  minIou?: number;
  /**
   * Centre shift, as a fraction of the track's box size, that matches boxes of similar size
   * (default 0.75: above about 0.54 same-size boxes overlap by less than 0.3, so this must exceed that).
   */
  maxCentreShift?: number;
  /** Drop a track after this many consecutive updates without its face (default 3). */
  maxMissed?: number;
  /** ...or after this long without it (default 2000 ms). */
  maxLostMs?: number;
}

export class FaceTracker<T extends Detection = Detection> {
  private readonly minIou: number;
  private readonly maxCentreShift: number;
  private readonly maxMissed: number;
  private readonly maxLostMs: number;
  private live: Track<T>[] = [];
  private nextId = 1;

  constructor(options: FaceTrackerOptions = {}) {
    this.minIou = options.minIou ?? 0.3;
    this.maxCentreShift = options.maxCentreShift ?? 0.75;
    this.maxMissed = options.maxMissed ?? 3;
    this.maxLostMs = options.maxLostMs ?? 2000;
  }

  /** Tracks not yet aged out, including ones missed in recent updates. */
  get tracks(): readonly Track<T>[] {
    return this.live;
  }

  /** Matches `detections` to tracks; returns each detection's track, in the same order. */
  update(detections: readonly T[], nowMs: number): Track<T>[] {
    const pairs: Array<{ t: number; d: number; overlap: number; shift: number }> = [];
    this.live.forEach((track, t) => {
      detections.forEach((det, d) => {
        const overlap = iou(track.detection.box, det.box);
        const shift = centreShift(track.detection.box, det.box);
        if (overlap >= this.minIou || (shift <= this.maxCentreShift && similarSize(track.detection.box, det.box))) pairs.push({ t, d, overlap, shift });
      });
    });
    // Greedy: best overlaps first, then nearest centres.
    pairs.sort((a, b) => b.overlap - a.overlap || a.shift - b.shift);
    const result: Array<Track<T> | undefined> = new Array(detections.length);
    const taken = new Set<number>();
    for (const p of pairs) {
      if (taken.has(p.t) || result[p.d]) continue;
      const track = this.live[p.t]!;
      track.detection = detections[p.d]!;
      track.lastSeenMs = nowMs;
      track.hits++;
      track.missed = 0;
      taken.add(p.t);
      result[p.d] = track;
    }
    this.live = this.live.filter((track, t) => {
      if (taken.has(t)) return true;
      track.missed++;
      return track.missed <= this.maxMissed && nowMs - track.lastSeenMs <= this.maxLostMs;
    });
    return detections.map((det, d) => {
      const existing = result[d];
      if (existing) return existing;
      const track: Track<T> = { id: this.nextId++, detection: det, firstSeenMs: nowMs, lastSeenMs: nowMs, hits: 1, missed: 0 };
      this.live.push(track);
      return track;
    });
  }

  clear(): void {
    this.live = [];
  }
}

function centreShift(a: Box, b: Box): number {
  const dx = a.x + a.width / 2 - (b.x + b.width / 2);
  const dy = a.y + a.height / 2 - (b.y + b.height / 2);
  return Math.hypot(dx, dy) / Math.max(1e-9, Math.sqrt(a.width * a.height));
}

function similarSize(a: Box, b: Box): boolean {
  const ratio = Math.sqrt((a.width * a.height) / Math.max(1e-9, b.width * b.height));
  return ratio >= 0.5 && ratio <= 2;
}
