/**
 * /metrics on prom-client: one process's registry, several processes merged into one scrape (the
 * server and two analyzer workers), a worker's malformed metrics kept out, and who may read it.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { metricsAccess, secretEquals } from '../../server/src/http/metricsAuth.ts';
import { mergeMetrics, MetricsJsonSchema, type MetricJson } from '../../server/src/metrics/merge.ts';
import { Metrics } from '../../server/src/metrics/Metrics.ts';
import { parseExposition } from '../helpers/promText.ts';

/** What an analyzer worker's heartbeat carries: its own counters, a latency histogram, process metrics. */
async function worker(frames: number, latencies: number[]): Promise<MetricJson[]> {
  const m = new Metrics({ defaults: true });
  m.setCounter('dfs_analyzer_frames_received_total', 'Decoded frames received per stream.', { stream: 'r/p/video', kind: 'video' }, frames);
  m.inc('dfs_analyzer_frame_quality_total', 'Analysed frames by what they allowed.', { stream: 'r/p/video', reason: 'ok' });
  const h = m.histogram('dfs_analyzer_inference_ms', 'Inference latency per model, ms.', { model: 'mesonet' });
  for (const l of latencies) h.add(l);
  // Through JSON, as over the control channel, and checked as the hub checks it.
  return MetricsJsonSchema.parse(JSON.parse(JSON.stringify(await m.json())));
}

describe('Metrics (prom-client)', () => {
  it('renders counters, absolute totals, gauges and histograms as a valid exposition', async () => {
    const m = new Metrics();
    m.inc('dfs_a_total', 'A.', { stream: 's', reason: 'ok' }, 2);
    m.setCounter('dfs_b_total', 'B.', { kind: 'video', stream: 's' }, 7);
    m.setCounter('dfs_b_total', 'B.', { kind: 'video', stream: 's' }, 9);
    m.set('dfs_c', 'C.', {}, 3);
    const h = m.histogram('dfs_d_ms', 'D.', { model: 'x' }, [10, 100]);
    for (const v of [5, 50, 500]) h.add(v);
    const text = await m.render();
    const f = parseExposition(text);
    // Labels print sorted, whatever order the call site wrote them in.
    expect(text).toContain('dfs_a_total{reason="ok",stream="s"} 2');
    expect(text).toContain('dfs_b_total{kind="video",stream="s"} 9');
    expect(f.get('dfs_c')!.samples[0]!.value).toBe(3);
    expect(f.get('dfs_d_ms')!.type).toBe('histogram');
    expect(text).toContain('dfs_d_ms_bucket{le="10",model="x"} 1');
    expect(text).toContain('dfs_d_ms_bucket{le="+Inf",model="x"} 3');
    expect(text).toContain('dfs_d_ms_sum{model="x"} 555');
    // A stream that ended leaves no series behind.
    m.remove('dfs_b_total', { stream: 's', kind: 'video' });
    m.remove('dfs_a_total', { stream: 's', reason: 'ok' });
    const after = parseExposition(await m.render());
    expect(after.get('dfs_b_total')!.samples).toEqual([]);
    expect(after.get('dfs_a_total')!.samples).toEqual([]);
  });

  it('refuses to use one name as two kinds', () => {
    const m = new Metrics();
    m.set('dfs_x', 'X.', {}, 1);
    expect(() => m.inc('dfs_x', 'X.')).toThrow(/gauge/);
  });

  it('merges the server and two analyzer workers into one valid scrape: one HELP and TYPE per family, each worker labelled', async () => {
    const server = new Metrics({ defaults: true });
    server.set('dfs_rooms', 'Open calls.', {}, 2);
    const text = await mergeMetrics([
      { labels: {}, metrics: await server.json() },
      { labels: { worker: 'analyzer-embedded-1' }, metrics: await worker(10, [3, 30]) },
      { labels: { worker: 'analyzer-embedded-2' }, metrics: await worker(20, [300]) },
    ]);
    const families = parseExposition(text);
    for (const kind of ['HELP', 'TYPE']) {
      const lines = text.split('\n').filter((l) => l.startsWith(`# ${kind} `)).map((l) => l.split(' ')[2]);
      expect(new Set(lines).size, `duplicate # ${kind}`).toBe(lines.length);
    }
    expect(text).toContain('dfs_rooms 2');
    expect(text).toContain('dfs_analyzer_frames_received_total{worker="analyzer-embedded-1",kind="video",stream="r/p/video"} 10');
    expect(text).toContain('dfs_analyzer_frames_received_total{worker="analyzer-embedded-2",kind="video",stream="r/p/video"} 20');
    // Histograms per worker, not summed across workers.
    const inference = families.get('dfs_analyzer_inference_ms')!;
    expect(inference.type).toBe('histogram');
    expect(text).toContain('dfs_analyzer_inference_ms_count{worker="analyzer-embedded-1",model="mesonet"} 2');
    expect(text).toContain('dfs_analyzer_inference_ms_count{worker="analyzer-embedded-2",model="mesonet"} 1');
    expect(inference.samples.some((s) => s.labels.le === '+Inf')).toBe(true);
    // Process and event-loop metrics of every process: the server's unlabelled, each worker's labelled.
    for (const name of ['process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      const workers = families.get(name)!.samples.map((s) => s.labels.worker ?? 'server').sort();
      expect(workers, name).toEqual(['analyzer-embedded-1', 'analyzer-embedded-2', 'server']);
    }
    expect(families.get('nodejs_gc_duration_seconds')?.type).toBe('histogram');
  });

  it('keeps a worker from redefining a family or forging its worker label', async () => {
    const server = new Metrics();
    server.set('dfs_rooms', 'Open calls.', {}, 2);
    const forged: MetricJson[] = [
      { name: 'dfs_rooms', help: 'x', type: 'counter', values: [{ value: 99, labels: {} }] },
      { name: 'dfs_y', help: 'y', type: 'gauge', values: [{ value: 1, labels: { worker: 'someone-else' } }] },
    ];
    const text = await mergeMetrics([
      { labels: {}, metrics: await server.json() },
      { labels: { worker: 'w1' }, metrics: forged },
    ]);
    parseExposition(text);
    expect(text).toContain('# TYPE dfs_rooms gauge');
    expect(text).not.toContain('99');
    expect(text).toContain('dfs_y{worker="w1"} 1');
  });

  it('rejects malformed worker metrics (bad names, label names, samples outside their family)', () => {
    const ok = { name: 'dfs_z', help: 'z', type: 'gauge', values: [{ value: 1, labels: { a: 'x\n"y' } }] };
    expect(MetricsJsonSchema.safeParse([ok]).success).toBe(true);
    expect(MetricsJsonSchema.safeParse([{ ...ok, name: 'dfs z\n# TYPE' }]).success).toBe(false);
    expect(MetricsJsonSchema.safeParse([{ ...ok, values: [{ value: 1, labels: { 'a"b': 'x' } }] }]).success).toBe(false);
    expect(MetricsJsonSchema.safeParse([{ ...ok, values: [{ value: 1, labels: {}, metricName: 'other_bucket' }] }]).success).toBe(false);
    expect(MetricsJsonSchema.safeParse([{ ...ok, type: 'weird' }]).success).toBe(false);
    expect(MetricsJsonSchema.safeParse('dfs_z 1\n').success).toBe(false);
  });
});

describe('who may read /metrics', () => {
  const TOKEN = 'a-metrics-token-of-32-characters';
  const req = (addr: string, headers: Record<string, string> = {}) => ({ headers, socket: { remoteAddress: addr } }) as unknown as IncomingMessage;

  it('with METRICS_TOKEN set: the bearer token, from anywhere, loopback included', () => {
    expect(metricsAccess(req('127.0.0.1'), TOKEN)).toBe('unauthorized');
    expect(metricsAccess(req('::1', { authorization: 'Bearer wrong' }), TOKEN)).toBe('unauthorized');
    expect(metricsAccess(req('127.0.0.1', { authorization: TOKEN }), TOKEN)).toBe('unauthorized');
    expect(metricsAccess(req('127.0.0.1', { authorization: `Bearer ${TOKEN}x` }), TOKEN)).toBe('unauthorized');
    expect(metricsAccess(req('127.0.0.1', { authorization: `Bearer ${TOKEN}` }), TOKEN)).toBe('ok');
    expect(metricsAccess(req('203.0.113.9', { authorization: `bearer ${TOKEN}`, 'x-forwarded-for': '198.51.100.1' }), TOKEN)).toBe('ok');
  });

  it('without it: loopback only, and never through a proxy', () => {
    expect(metricsAccess(req('127.0.0.1'), undefined)).toBe('ok');
    expect(metricsAccess(req('::ffff:127.0.0.1'), undefined)).toBe('ok');
    expect(metricsAccess(req('203.0.113.9'), undefined)).toBe('forbidden');
    expect(metricsAccess(req('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }), undefined)).toBe('forbidden');
    expect(metricsAccess(req('127.0.0.1', { forwarded: 'for=203.0.113.9' }), undefined)).toBe('forbidden');
    expect(metricsAccess(req('127.0.0.1', { 'x-real-ip': '203.0.113.9' }), undefined)).toBe('forbidden');
  });

  it('compares secrets of any length without throwing', () => {
    expect(secretEquals(TOKEN, TOKEN)).toBe(true);
    expect(secretEquals('', TOKEN)).toBe(false);
    expect(secretEquals(TOKEN.slice(0, -1), TOKEN)).toBe(false);
  });
});
