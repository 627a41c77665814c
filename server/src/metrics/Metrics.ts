/**
 * A small Prometheus text-format registry: counters and gauges with labels, and latency summaries
 * (p50/p95 over a recent window). Enough for /metrics without a dependency.
 */
import { LatencyWindow } from './LatencyWindow.ts';

type Labels = Record<string, string>;
type Kind = 'counter' | 'gauge' | 'summary';

interface Family {
  kind: Kind;
  help: string;
  series: Map<string, { labels: Labels; value: number; window?: LatencyWindow }>;
}

function labelKey(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

export class Metrics {
  private readonly families = new Map<string, Family>();

  private family(name: string, kind: Kind, help: string): Family {
    let f = this.families.get(name);
    if (!f) this.families.set(name, (f = { kind, help, series: new Map() }));
    return f;
  }

  private series(name: string, kind: Kind, help: string, labels: Labels) {
    const f = this.family(name, kind, help);
    const key = labelKey(labels);
    let s = f.series.get(key);
    if (!s) f.series.set(key, (s = { labels, value: 0 }));
    return s;
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    this.series(name, 'counter', help, labels).value += by;
  }

  /** Sets a counter to an absolute total kept elsewhere (e.g. a queue's own drop count). */
  setCounter(name: string, help: string, labels: Labels, total: number): void {
    this.series(name, 'counter', help, labels).value = total;
  }

  set(name: string, help: string, labels: Labels, value: number): void {
    this.series(name, 'gauge', help, labels).value = value;
  }

  /** A latency window reported as a summary with 0.5 and 0.95 quantiles. */
  latency(name: string, help: string, labels: Labels = {}): LatencyWindow {
    const s = this.series(name, 'summary', help, labels);
    s.window ??= new LatencyWindow();
    return s.window;
  }

  remove(name: string, labels: Labels): void {
    this.families.get(name)?.series.delete(labelKey(labels));
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.kind}`);
      for (const s of f.series.values()) {
        const key = labelKey(s.labels);
        if (f.kind === 'summary') {
          const w = s.window!;
          for (const q of [0.5, 0.95]) {
            const v = w.quantile(q);
            lines.push(`${name}{${key ? key + ',' : ''}quantile="${q}"} ${Number.isNaN(v) ? 'NaN' : v.toFixed(3)}`);
          }
          lines.push(`${name}_count${key ? `{${key}}` : ''} ${w.size}`);
        } else {
          lines.push(`${name}${key ? `{${key}}` : ''} ${s.value}`);
        }
      }
    }
    return lines.join('\n') + '\n';
  }
}
