/**
 * Tells a picture that has stopped changing: the same frame arriving again and again, as a still
 * image sent as video does (a photo on a virtual camera) or a camera whose driver repeats its
 * last frame. A live camera never does that: sensor noise alone changes every frame, and a person
 * in front of it blinks, breathes and moves within a second or two.
 *
 * Why it matters: the face checks judge what one frame shows, and a still photo of a real person
 * shows a real face. Without this, a still image read CLEAR for as long as it was sent. With it,
 * the frames of a frozen picture are not fit for face analysis (quality.ts 'frozen'), so fusion
 * says what it cannot judge instead of vouching for a photo; a liveness check (a still cannot turn
 * its head) is the way to tell which it is, and the gap text says so.
 *
 * How: each observed frame is reduced to a coarse luma grid (GRID_W x GRID_H points); a frame
 * whose mean absolute difference from the previous one is under `maxDiff` levels is "unchanged".
 * The picture is frozen when, over the last `spanMs`, at least `minUnchangedShare` of the observed
 * frames were unchanged: a share, not an unbroken run, because a VP8 encoder keeps re-coding a
 * still. Measured on a 256 px still through wrtc's VP8 and the SFU, sampled at 2 fps on a loaded
 * 2-core machine: most frame pairs differ by 0.01-0.06 levels, a quarter or fewer by 0.25-0.5
 * (the encoder refining), one in eight or nine by 0.6-0.8 (keyframes); the same still swaying by
 * one pixel, as the tests' live camera does, by about 2.2. A share of 0.8 under 0.25 levels, the
 * first setting, flickered between frozen and live under load, so a frozen still kept its CLEAR.
 * Cost: 1,728 reads and comparisons per observed frame.
 */
import type { ImageSource } from './image.ts';

export interface FrozenPictureOptions {
  /** How long the picture must have been (mostly) unchanged, ms (default 8000). */
  spanMs?: number;
  /** Share of the frames over that span that must be unchanged (default 0.75). */
  minUnchangedShare?: number;
  /** Mean absolute luma difference (levels) under which a frame is unchanged (default 0.5). */
  maxDiff?: number;
}

const GRID_W = 48;
const GRID_H = 36;
/** Fewest compared frames over the span before it can be called frozen (2 fps for 8 s gives 16). */
const MIN_FRAMES = 8;

export class FrozenPicture {
  private readonly o: Required<FrozenPictureOptions>;
  private prev: Float32Array<ArrayBuffer> | undefined;
  private next: Float32Array<ArrayBuffer> = new Float32Array(GRID_W * GRID_H);
  private prevSize = '';
  /** Frames within the span compared with the one before (same size): when, and whether unchanged. */
  private readonly seen: { at: number; unchanged: boolean }[] = [];
  private last = false;

  constructor(options: FrozenPictureOptions = {}) {
    this.o = { spanMs: 8000, minUnchangedShare: 0.75, maxDiff: 0.5, ...options };
  }

  /** Takes one frame (in arrival order) and says whether the picture is frozen as of it. */
  observe(src: ImageSource, at: number): boolean {
    const size = `${src.width}x${src.height}`;
    sampleGrid(src, this.next);
    // A frame of another size than the one before (a simulcast layer switch, the sender scaling
    // down under CPU load) cannot be compared pixel for pixel: it counts neither way, and the
    // frames before it still do (a sender that keeps rescaling a still must not hide it).
    if (this.prev && size === this.prevSize) {
      let sum = 0;
      for (let i = 0; i < this.next.length; i++) sum += Math.abs(this.next[i]! - this.prev[i]!);
      this.seen.push({ at, unchanged: sum / this.next.length < this.o.maxDiff });
    }
    [this.prev, this.next] = [this.next, this.prev ?? new Float32Array(GRID_W * GRID_H)];
    this.prevSize = size;
    while (this.seen.length && this.seen[0]!.at < at - this.o.spanMs) this.seen.shift();
    this.last = this.frozen(at);
    return this.last;
  }

  /** The verdict as of the last observed frame (for the frames between those observed). */
  get isFrozen(): boolean {
    return this.last;
  }

  /** Frozen as of `at`: the span is covered, with enough frames, mostly unchanged. */
  private frozen(at: number): boolean {
    const first = this.seen[0];
    // Frames older than the span were dropped: the oldest kept must reach back to nearly its start.
    if (!first || this.seen.length < MIN_FRAMES || at - first.at < this.o.spanMs * 0.9) return false;
    const unchanged = this.seen.reduce((n, s) => n + (s.unchanged ? 1 : 0), 0);
    return unchanged >= this.o.minUnchangedShare * this.seen.length;
  }
}

/** Luma at GRID_W x GRID_H points spread over the frame (raw plane values for I420). */
function sampleGrid(src: ImageSource, out: Float32Array): void {
  const d = src.data;
  const ch = src.format === 'rgba' ? 4 : 3;
  for (let gy = 0; gy < GRID_H; gy++) {
    const y = Math.min(src.height - 1, Math.floor(((gy + 0.5) * src.height) / GRID_H));
    for (let gx = 0; gx < GRID_W; gx++) {
      const x = Math.min(src.width - 1, Math.floor(((gx + 0.5) * src.width) / GRID_W));
      if (src.format === 'i420') out[gy * GRID_W + gx] = d[y * src.width + x]!;
      else {
        const p = (y * src.width + x) * ch;
        out[gy * GRID_W + gx] = 0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!;
      }
    }
  }
}
