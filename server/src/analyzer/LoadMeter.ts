/**
 * The load figure a worker reports in each heartbeat, from which the server's pool picks the
 * worker for a new call. One number, the worst of three signs of a worker that cannot take more:
 *   - CPU: cores used since the last heartbeat over the cores it may use (ANALYZER_CORES);
 *   - drops: 5% or more of its samples dropped (inference fell behind) counts as saturated;
 *   - event-loop delay: a loop held up for a second (p99) counts as saturated.
 * CPU alone misses a worker starved by its neighbours, and drops alone say nothing until too late.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { WorkerLoad } from '../protocol/analyzerChannel.ts';

/** Share of samples dropped at which a worker counts as saturated. */
const SATURATED_DROP_RATIO = 0.05;
/** Event-loop delay (p99) at which a worker counts as saturated, ms. */
const SATURATED_LOOP_DELAY_MS = 1000;

export interface LoadFacts {
  streams: number;
  rooms: number;
  /** Totals since the worker started. */
  droppedTotal: number;
  sampledTotal: number;
  lagMs: number;
}

export class LoadMeter {
  private readonly cores: number;
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();
  private lastDropped = 0;
  private lastSampled = 0;
  private readonly loop: ReturnType<typeof monitorEventLoopDelay>;

  constructor(cores: number) {
    this.cores = cores;
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
  }

  /** The load since the previous call. */
  read(f: LoadFacts): WorkerLoad {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const cores = (cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastAt);
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    const dropped = Math.max(0, f.droppedTotal - this.lastDropped);
    const sampled = Math.max(0, f.sampledTotal - this.lastSampled);
    this.lastDropped = f.droppedTotal;
    this.lastSampled = f.sampledTotal;
    const loopDelayMs = this.loop.percentile(99) / 1e6;
    this.loop.reset();
    const load = Math.max(cores / this.cores, Math.min(1, dropped / Math.max(1, sampled) / SATURATED_DROP_RATIO), Math.min(1, loopDelayMs / SATURATED_LOOP_DELAY_MS));
    return {
      load: round(Math.min(load, 100)),
      cpu: round(cores),
      cores: this.cores,
      streams: f.streams,
      rooms: f.rooms,
      dropped,
      sampled,
      lagMs: Math.round(Number.isNaN(f.lagMs) ? 0 : f.lagMs),
      loopDelayMs: Math.round(Number.isFinite(loopDelayMs) ? loopDelayMs : 0),
    };
  }

  close(): void {
    this.loop.disable();
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
