/**
 * A process's metrics, on prom-client: counters, gauges and histograms declared by name where they
 * are first used (the call sites keep their names and help next to the code that counts), plus
 * prom-client's process and event-loop default metrics when asked. The exposition (text and JSON)
 * is prom-client's, so it is valid by construction; merge.ts puts several processes' JSON together.
 *
 * Why a facade and not prom-client objects at every call site: the same families are fed from a few
 * places (per-stream totals kept by the queues, per-model latencies handed to the batchers), and
 * some counters mirror totals kept elsewhere (setCounter), which prom-client's Counter cannot set.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricJson } from './merge.ts';

export type Labels = Record<string, string>;

/** What a histogram call site sees: one observation at a time. */
export interface Observer {
  add(value: number): void;
}

export interface MetricsOptions {
  /**
   * prom-client's default metrics (process_cpu_seconds_total, process_resident_memory_bytes,
   * process_open_fds, nodejs_eventloop_lag_*, nodejs_heap_*, nodejs_gc_duration_seconds, ...).
   * Default false: a registry built per scrape must not start a second event-loop monitor.
   */
  defaults?: boolean;
}

/** Latency buckets in ms: 1 ms to 10 s, roughly x2 apart (inference runs 2-200 ms on CPU). */
export const MS_BUCKETS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** Keys sorted, so a series prints the same whatever order the call site wrote its labels in. */
function sorted(labels: Labels): Labels {
  const keys = Object.keys(labels);
  if (keys.length < 2) return labels;
  return Object.fromEntries(keys.sort().map((k) => [k, labels[k]!]));
}

function key(labels: Labels): string {
  return JSON.stringify(sorted(labels));
}

type Family =
  | { kind: 'counter'; metric: Counter<string> }
  | { kind: 'total'; metric: Counter<string>; totals: Map<string, { labels: Labels; value: number }> }
  | { kind: 'gauge'; metric: Gauge<string> }
  | { kind: 'histogram'; metric: Histogram<string> };

export class Metrics {
  readonly registry = new Registry();
  private readonly families = new Map<string, Family>();

  constructor(opts: MetricsOptions = {}) {
    if (opts.defaults) collectDefaultMetrics({ register: this.registry });
  }

  private family<K extends Family['kind']>(name: string, kind: K, make: () => Family & { kind: K }): Family & { kind: K } {
    const f = this.families.get(name);
    if (f) {
      if (f.kind !== kind) throw new Error(`metric ${name} is a ${f.kind}, not a ${kind}`);
      return f as Family & { kind: K };
    }
    const made = make();
    this.families.set(name, made);
    return made;
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const f = this.family(name, 'counter', () => ({
      kind: 'counter',
      metric: new Counter({ name, help, labelNames: Object.keys(labels).sort(), registers: [this.registry] }),
    }));
    f.metric.inc(sorted(labels), by);
  }

  /** Sets a counter to an absolute total kept elsewhere (e.g. a queue's own drop count). */
  setCounter(name: string, help: string, labels: Labels, total: number): void {
    const f = this.family(name, 'total', () => {
      const totals = new Map<string, { labels: Labels; value: number }>();
      const metric = new Counter({
        name,
        help,
        labelNames: Object.keys(labels).sort(),
        registers: [this.registry],
        // prom-client counters only go up by inc(); the totals are copied in at each collection.
        collect() {
          this.reset();
          for (const t of totals.values()) this.inc(t.labels, t.value);
        },
      });
      return { kind: 'total', metric, totals };
    });
    f.totals.set(key(labels), { labels: sorted(labels), value: Math.max(0, total) });
  }

  set(name: string, help: string, labels: Labels, value: number): void {
    const f = this.family(name, 'gauge', () => ({
      kind: 'gauge',
      metric: new Gauge({ name, help, labelNames: Object.keys(labels).sort(), registers: [this.registry] }),
    }));
    f.metric.set(sorted(labels), value);
  }

  /** A histogram series (latencies in ms by default); observe with `.add(v)`. */
  histogram(name: string, help: string, labels: Labels = {}, buckets: number[] = MS_BUCKETS): Observer {
    const f = this.family(name, 'histogram', () => ({
      kind: 'histogram',
      metric: new Histogram({ name, help, labelNames: Object.keys(labels).sort(), buckets, registers: [this.registry] }),
    }));
    const child = f.metric.labels(sorted(labels));
    return { add: (v) => child.observe(v) };
  }

  /** Drops a series (a stream that ended), whatever its kind. */
  remove(name: string, labels: Labels): void {
    const f = this.families.get(name);
    if (!f) return;
    if (f.kind === 'total') f.totals.delete(key(labels));
    try {
      f.metric.remove(sorted(labels));
    } catch {
      // Label names this family does not have: nothing to remove.
    }
  }

  /** Every series of every family, reset to nothing (gauges rebuilt at each scrape). */
  reset(): void {
    for (const f of this.families.values()) {
      if (f.kind === 'total') f.totals.clear();
      f.metric.reset();
    }
  }

  /** Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** prom-client's JSON form, which travels in heartbeats and merges (merge.ts). */
  async json(): Promise<MetricJson[]> {
    // prom-client's own types leave out the metricName its histogram samples carry.
    return (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
  }
}
