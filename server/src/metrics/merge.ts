/**
 * One scrape from several processes' metrics: the server's own and each analyzer worker's (which
 * arrive as prom-client JSON in heartbeats). prom-client's AggregatorRegistry.aggregate groups
 * families by name, so every family keeps a single HELP and TYPE however many workers report it
 * (plain concatenation repeats families, which Prometheus rejects). Each worker's samples get a
 * `worker` label first, so aggregation never sums two workers into one series: the per-family
 * aggregator is forced to 'first' (prom-client's defaults would 'omit' process_start_time_seconds
 * and average the event-loop lag across processes).
 *
 * A worker's JSON is checked here (MetricJsonSchema) before it is used: the analyzer is the
 * process that decodes untrusted media, and a family or label it invents must not break the scrape.
 */
import { AggregatorRegistry } from 'prom-client';
import { z } from 'zod';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const MetricJsonSchema = z
  .object({
    name: z.string().max(200).regex(METRIC_NAME),
    help: z.string().max(1000),
    type: z.enum(['counter', 'gauge', 'histogram', 'summary']),
    values: z
      .array(
        z.object({
          // JSON has no NaN (an event-loop gauge before its first sample): it arrives as null.
          value: z.number().nullable().transform((v) => v ?? NaN),
          labels: z.record(z.string().max(100).regex(LABEL_NAME), z.union([z.string().max(500), z.number()])).default({}),
          metricName: z.string().max(200).regex(METRIC_NAME).optional(),
        }),
      )
      .max(20_000),
  })
  .refine((m) => m.values.every((v) => v.metricName === undefined || v.metricName.startsWith(m.name)), 'a sample named outside its family');

export const MetricsJsonSchema = z.array(MetricJsonSchema).max(500);

/** One family in prom-client's JSON form (Registry.getMetricsAsJSON), as far as merging needs it. */
export type MetricJson = z.infer<typeof MetricJsonSchema>;

export interface MetricsPart {
  /** Labels put first on every sample of this part (e.g. { worker: 'analyzer-embedded-2' }); {} for none. */
  labels: Record<string, string>;
  metrics: readonly MetricJson[];
}

/** Families from every part, one HELP and TYPE each, as Prometheus text. The first part's HELP and TYPE win. */
export function mergeMetrics(parts: MetricsPart[]): Promise<string> {
  // A later part's family of another type under an earlier name is dropped, not mixed in.
  const types = new Map<string, string>();
  const arrays = parts.map((part) =>
    part.metrics.filter((m) => (types.get(m.name) ?? types.set(m.name, m.type).get(m.name)) === m.type).map((m) => ({
      name: m.name,
      help: m.help,
      type: m.type,
      aggregator: 'first' as const,
      values: m.values.map((v) => ({
        value: v.value,
        labels: { ...part.labels, ...Object.fromEntries(Object.entries(v.labels).filter(([k]) => !(k in part.labels))) },
        ...(v.metricName !== undefined ? { metricName: v.metricName } : {}),
      })),
    })),
  );
  return AggregatorRegistry.aggregate(arrays as never).metrics();
}
