/**
 * The analyzer under test, in its own process, built exactly as server/src/analyzer/main.ts builds
 * it (same config loader, registry, runtime, Analyzer class), plus a listener that reports to the
 * bench on stdout, one JSON line a second:
 *   {t, counters: {video|audio: {pushed, dropped, received, streams}}, obs: [[kind, latencyMs, ok, stream]...], states: {participant: state}, degraded: {participant: ['detector (why)']}}
 * `obs` holds the observations (scored samples) since the previous line; counters are cumulative,
 * read from the analyzer's own Prometheus text, and carried across a stream attached again (its
 * counters start from 0: stats.ts RestartingCounters); `restarts` counts such streams. The first line is {ready: true, providers}.
 * A {"decode": true} line on stdin is answered with {decode: {...}}: the video counters of the
 * analyzer's receive connections (what libwebrtc received, decoded and dropped before any frame
 * reached the analyzer's JavaScript).
 */
import { createInterface } from 'node:readline';
import { Analyzer, type Observation } from '../../server/src/analyzer/Analyzer.ts';
import { loadAnalyzerConfig } from '../../server/src/analyzer/config.ts';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import { RestartingCounters } from './stats.ts';

const config = loadAnalyzerConfig();
const analyzer = new Analyzer(config, new InferenceRuntime(ModelRegistry.load(), { provider: config.provider, intraOpThreads: config.intraOpThreads, cores: config.cores }));
await analyzer.loadModels();

let obs: Array<[kind: 'video' | 'audio', latencyMs: number, ok: 0 | 1, stream: string]> = [];
const states: Record<string, string> = {};
/** Per participant, the detectors fusion last called degraded (analysis degraded), with why. */
const degraded: Record<string, string[]> = {};
analyzer.on('observation', (o: Observation) => {
  const stream = `${o.stream.room}/${o.stream.participantId}`;
  obs.push([o.kind, Math.round(o.latencyMs * 10) / 10, o.kind === 'video' ? (o.quality === 'ok' ? 1 : 0) : o.syntheticVoice !== undefined ? 1 : 0, stream]);
});
analyzer.on('risk', (room, u) => {
  states[`${room}/${u.participantId}`] = u.state;
  degraded[`${room}/${u.participantId}`] = (u.degraded ?? []).map((d) => `${d.detector} (${d.why ?? 'behind'})`);
});
analyzer.start();

const providers: Record<string, string> = {};
for (const m of (await analyzer.metrics.render()).matchAll(/^dfs_analyzer_model_provider\{model="([^"]+)",provider="([^"]+)"\}/gm)) providers[m[1]!] = m[2]!;
process.stdout.write(JSON.stringify({ ready: true, providers }) + '\n');

/** Running totals of the per-stream counters, by kind and field, across streams attached again. */
const running = { video: { pushed: new RestartingCounters(), dropped: new RestartingCounters(), received: new RestartingCounters() }, audio: { pushed: new RestartingCounters(), dropped: new RestartingCounters(), received: new RestartingCounters() } };

/** Sums of the per-stream counters in the analyzer's Prometheus text, by kind; `restarts`: streams whose counters started again. */
function counters(text: string): Record<'video' | 'audio', { pushed: number; dropped: number; received: number; streams: number; restarts: number }> {
  const out = { video: { pushed: 0, dropped: 0, received: 0, streams: 0, restarts: 0 }, audio: { pushed: 0, dropped: 0, received: 0, streams: 0, restarts: 0 } };
  const field = { dfs_analyzer_samples_total: 'pushed', dfs_analyzer_samples_dropped_total: 'dropped', dfs_analyzer_frames_received_total: 'received' } as const;
  for (const m of text.matchAll(/^(dfs_analyzer_samples_total|dfs_analyzer_samples_dropped_total|dfs_analyzer_frames_received_total)\{([^}]*)\} (\S+)$/gm)) {
    const kind = /kind="(video|audio)"/.exec(m[2]!)?.[1] as 'video' | 'audio' | undefined;
    if (!kind) continue;
    running[kind][field[m[1] as keyof typeof field]].observe(m[2]!, Number(m[3]));
    // Streams that have received media (video: decoded frames; audio: sampled windows).
    if ((m[1] === 'dfs_analyzer_frames_received_total' || (kind === 'audio' && m[1] === 'dfs_analyzer_samples_total')) && Number(m[3]) > 0) out[kind].streams++;
  }
  for (const kind of ['video', 'audio'] as const) {
    for (const f of ['pushed', 'dropped', 'received'] as const) out[kind][f] = running[kind][f].total;
    out[kind].restarts = running[kind].pushed.restarts;
  }
  return out;
}

setInterval(async () => {
  const t = performance.timeOrigin + performance.now();
  const text = await analyzer.renderMetrics();
  const line = { t, counters: counters(text), obs, states, degraded };
  obs = [];
  process.stdout.write(JSON.stringify(line) + '\n');
}, 1000);

/** The receive connections' counters, carried across a connection replaced by a rejoin (keyed by connection). */
const decodeRunning = new Map<string, RestartingCounters>();
const pcIds = new WeakMap<object, number>();
let nextPc = 0;
function pcId(pc: object): number {
  let id = pcIds.get(pc);
  if (id === undefined) pcIds.set(pc, (id = nextPc++));
  return id;
}

/** Video receive counters over every call the analyzer watches (bench-only peek at private fields). */
async function decodeStats(): Promise<Record<string, number>> {
  const out = { framesReceived: 0, framesDecoded: 0, framesDropped: 0, packetsLost: 0, packetsReceived: 0 };
  // The calls live in the analyzer's CallWatcher since the split (Analyzer only composes parts).
  const watcher = (analyzer as unknown as { watcher: { rooms: Map<string, { session: unknown }> } }).watcher;
  for (const w of watcher.rooms.values()) {
    const pc = (w.session as { subscribePc?: RTCPeerConnection }).subscribePc;
    if (!pc) continue;
    const stats = await pc.getStats().catch(() => undefined);
    stats?.forEach((r: { type: string; id: string; kind?: string } & Partial<Record<keyof typeof out, number>>) => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
      for (const k of Object.keys(out) as Array<keyof typeof out>) {
        let c = decodeRunning.get(k);
        if (!c) decodeRunning.set(k, (c = new RestartingCounters()));
        c.observe(`${pcId(pc)}/${r.id}`, r[k] ?? 0);
      }
    });
  }
  for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] = decodeRunning.get(k)?.total ?? 0;
  return out;
}
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.includes('"decode"')) void decodeStats().then((d) => process.stdout.write(JSON.stringify({ decode: d }) + '\n'));
});

const stop = () => {
  analyzer.stop().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
