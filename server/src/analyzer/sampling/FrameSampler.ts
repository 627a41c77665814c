export interface FrameSamplerOptions {
  /** Frames kept per second normally. Default 2. */
  baseFps?: number;
  /** Frames kept per second while boosted (suspicious stream, running challenge). Default 6. */
  boostedFps?: number;
}

/**
 * Decides which frames of one stream go to analysis, from their arrival timestamps (ms).
 *
 * Keeps the frame nearest to each due time of a fixed grid (due += interval, so no drift from
 * arrival jitter): a frame is kept once it is within half a typical frame period of the due time.
 * After a gap longer than one interval (stall, frozen track) the grid restarts at the next frame
 * instead of bursting to catch up. Pure logic: no clock, no timers.
 */
export class FrameSampler {
  readonly baseFps: number;
  readonly boostedFps: number;
  private isBoosted = false;
  private interval: number;
  /** Due time the last kept frame satisfied; NaN before the first frame. */
  private anchor = Number.NaN;
  private lastTs = Number.NaN;
  /** Smoothed frame arrival period, for the keep-tolerance; 0 until known. */
  private period = 0;
  private seenCount = 0;
  private keptCount = 0;

  constructor(options: FrameSamplerOptions = {}) {
    this.baseFps = options.baseFps ?? 2;
    this.boostedFps = options.boostedFps ?? 6;
    for (const [name, fps] of [['baseFps', this.baseFps], ['boostedFps', this.boostedFps]] as const) {
      if (!(fps > 0) || !Number.isFinite(fps)) throw new RangeError(`${name} must be a positive number, got ${fps}`);
    }
    this.interval = 1000 / this.baseFps;
  }

  get boosted(): boolean {
    return this.isBoosted;
  }
  get intervalMs(): number {
    return this.interval;
  }
  get seen(): number {
    return this.seenCount;
  }
  get kept(): number {
    return this.keptCount;
  }

  /** Switches between base and boosted rate; the new rate applies from the last kept frame on. */
  setBoosted(boosted: boolean): void {
    this.isBoosted = boosted;
    this.interval = 1000 / (boosted ? this.boostedFps : this.baseFps);
  }

  /** Called for every arriving frame; true when this one should be analysed. */
  offer(timestampMs: number): boolean {
    this.seenCount++;
    const prev = this.lastTs;
    this.lastTs = timestampMs;
    if (Number.isNaN(this.anchor) || timestampMs < prev - this.interval) return this.keep(timestampMs); // first frame, or the clock went back
    const dt = timestampMs - prev;
    // Gaps of two intervals or more are stalls, not the frame rate.
    if (dt > 0 && dt < 2 * this.interval) this.period = this.period === 0 ? dt : this.period + 0.1 * (dt - this.period);
    const due = this.anchor + this.interval;
    if (timestampMs < due - Math.min(this.period, this.interval) / 2) return false;
    // More than one interval late means a stall: restart the grid here rather than catch up.
    return this.keep(timestampMs - due >= this.interval ? timestampMs : due);
  }

  /** Forgets the timing history (e.g. after the track was replaced); the next frame is kept. */
  reset(): void {
    this.anchor = Number.NaN;
    this.lastTs = Number.NaN;
    this.period = 0;
  }

  private keep(due: number): true {
    this.anchor = due;
    this.keptCount++;
    return true;
  }
}
