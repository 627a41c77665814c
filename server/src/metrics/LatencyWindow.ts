/**
 * The last N latencies in a ring buffer, for a recent p95 without unbounded memory. Not exposition:
 * /metrics has histograms (Metrics.histogram); this feeds the load a worker reports in each
 * heartbeat (the pool dispatches calls by it), which wants "lately", not "since start".
 */
export class LatencyWindow {
  private readonly values: Float64Array;
  private count = 0;
  private next = 0;

  constructor(size = 512) {
    this.values = new Float64Array(size);
  }

  add(ms: number): void {
    this.values[this.next] = ms;
    this.next = (this.next + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
  }

  get size(): number {
    return this.count;
  }

  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const sorted = Array.from(this.values.subarray(0, this.count)).sort((a, b) => a - b);
    return sorted[Math.min(this.count - 1, Math.floor(q * this.count))]!;
  }
}
