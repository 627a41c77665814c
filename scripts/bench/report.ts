/** The benchmark's printed report: markdown tables from the JSON results. */
import type { AlertResult } from './alert.ts';
import type { AnalyzerResult } from './analyzer.ts';
import { inferenceTable, type InferenceRow } from './inference.ts';
import type { MachineInfo } from './proc.ts';
import type { SfuResult } from './sfu.ts';

export interface BenchResult {
  startedAt: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  /** 1-minute load average sampled every 10 s during the run: min, median-ish mean, max. */
  load: { min: number; mean: number; max: number; samples: number };
  /** Per section run: how long it took and the 1-minute load when it began and ended (the 1-minute average lags by about a minute). */
  sections: Record<string, { seconds: number; load1AtStart: number; load1AtEnd: number }>;
  sfu?: SfuResult;
  /** With --engine werift,mediasoup: every engine's SFU run, `sfu` being the first. */
  sfuEngines?: SfuResult[];
  analyzer?: AnalyzerResult;
  alert?: AlertResult;
  inference?: { providers: string[]; batches: number[]; seconds: number; rows: InferenceRow[] };
  errors: Record<string, string>;
}

const pct = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)}%`);
const num = (v: number | null | undefined, digits = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const secs = (ms: number | null | undefined) => (ms === null || ms === undefined || !Number.isFinite(ms) ? '–' : (ms / 1000).toFixed(1));
const signed = (v: number, digits = 0) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(digits)}` : '–');

export function renderMarkdown(r: BenchResult): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`## Results (${r.startedAt}, ${Math.round(r.durationS)} s)`, '');
  out.push(`- machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGB} GiB RAM, ${m.gpu ? `GPU ${m.gpu}, ` : ''}${m.platform}, kernel ${m.kernel}, Node ${m.node}`);
  out.push(`- load (1-minute average): ${m.loadAtStart.join(' / ')} (1/5/15 min) at start; during the run min ${num(r.load.min, 2)}, mean ${num(r.load.mean, 2)}, max ${num(r.load.max, 2)}`);
  const sections = Object.entries(r.sections ?? {});
  if (sections.length) {
    out.push(`- sections: ${sections.map(([n, x]) => `${n} ${Math.round(x.seconds)} s (load ${num(x.load1AtStart, 2)} → ${num(x.load1AtEnd, 2)})`).join(', ')}`);
  }
  out.push(`- command: \`${r.command}\``, '');
  for (const [section, err] of Object.entries(r.errors)) out.push(`**${section} failed:** ${err.split('\n')[0]}`, '');

  if (r.sfuEngines && r.sfuEngines.length > 1) {
    out.push('### SFU engines side by side (same points, one after the other; server CPU and memory include mediasoup\'s worker process)', '');
    out.push('| engine | per published stream (ingest) | per subscriber | one stream to one subscriber | idle | glass-to-glass p50 / p95 ms, 1x1 | added latency p50 ms | kbit/s per subscriber at 1x1 | server RSS MB at the largest point |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const e of r.sfuEngines) {
      const one = e.points.find((p) => p.publishers === 1 && p.subscribersPerPublisher === 1);
      const big = [...e.points].sort((a, b) => b.forwarded - a.forwarded)[0];
      out.push(
        `| ${e.engine ?? 'werift'} | ${e.fit ? pct(e.fit.perStreamCpu) : 'n/a'} | ${e.fit ? pct(e.fit.perSubscriberCpu) : 'n/a'} | ${e.fit ? pct(e.fit.oneStreamOneSubscriberCpu) : 'n/a'} | ${e.fit ? pct(e.fit.idleCpu) : 'n/a'} | ${one ? `${num(one.latencyMs.p50)} / ${num(one.latencyMs.p95)}` : 'n/a'} | ${signed(e.addedLatencyMs.p50)} | ${one ? num(one.receivedKbps) : 'n/a'} | ${big ? num(big.serverRssMB) : 'n/a'} |`,
      );
    }
    out.push('');
  }
  for (const s of r.sfuEngines && r.sfuEngines.length > 1 ? r.sfuEngines : r.sfu ? [r.sfu] : []) {
    out.push(`### SFU (${s.engine ?? 'werift'}): ${s.width}x${s.height} VP8 at ${s.fps} fps, server in its own process${s.engine === 'mediasoup' ? ' (CPU and RSS with its worker)' : ''}, no analyzer`, '');
    out.push('| publishers | subscribers each | forwarded | server CPU (of one core) | server RSS MB | kbit/s per subscriber | fps per subscriber | glass-to-glass p50 / p95 ms | load generator CPU | machine busy | UDP drops | load |');
    out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const p of [...s.points].sort((a, b) => a.publishers - b.publishers || a.subscribersPerPublisher - b.subscribersPerPublisher)) {
      out.push(
        `| ${p.publishers} | ${p.subscribersPerPublisher} | ${p.forwarded} | ${pct(p.serverCpu)} | ${num(p.serverRssMB)} | ${num(p.receivedKbps)} | ${num(p.receivedFps, 1)} | ${num(p.latencyMs.p50)} / ${num(p.latencyMs.p95)} | ${pct(p.loadGeneratorCpu, 0)} | ${pct(p.machineBusy, 0)} | ${num(p.udpDrops)} | ${num(p.load1, 2)} |`,
      );
    }
    out.push('');
    if (s.fit) {
      out.push(
        `- **CPU per forwarded stream**: ${pct(s.fit.perStreamCpu)} of one core per published 640x480 stream (ingest) + ${pct(s.fit.perSubscriberCpu)} per subscriber of it; ` +
          `one stream to one subscriber ${pct(s.fit.oneStreamOneSubscriberCpu)}; idle ${pct(s.fit.idleCpu)} ` +
          `(least squares over the points above, R² ${num(s.fit.r2, 3)}, residual ${pct(s.fit.rmse)}).`,
      );
    }
    const runs = s.direct.runs.map((x) => `${num(x.p50)}`).join(' and ');
    out.push(
      `- **Added latency**: glass-to-glass p50 ${num(s.points[0]?.latencyMs.p50)} ms through the SFU (1 publisher, 1 subscriber) vs ${num(s.direct.latencyMs.p50)} ms ` +
        `direct (wrtc peer to peer at the same ${num(s.direct.receivedKbps)} kbit/s; two runs: ${runs} ms): **${signed(s.addedLatencyMs.p50)} ms** at p50, ${signed(s.addedLatencyMs.p95)} ms at p95. ` +
        `The two direct runs differ by ${num(s.noiseMs)} ms: a difference within that is noise.`,
      '',
    );
  }

  if (r.analyzer) {
    const a = r.analyzer;
    const c = a.config;
    out.push(
      `### Analyzer: N synthetic callers, default sampling (${c.baseFps} fps video, 4.04 s audio windows every ${c.audioHopSeconds} s, batch ≤ ${c.maxBatch}, queue ${c.queueCapacity}), provider ${c.provider}`,
      '',
      `Callers publish 640x480 at ${a.publisherFps} fps${a.publisherAudio ? ' and a speech loop' : ' (no audio)'}, from a process at nice ${a.publisherNice} (its CPU is the "callers CPU" column); the server's SFU engine is ${a.engine ?? 'werift'}.` +
        (a.pinning ? ` Pinned (--analyzer-cpus): the analyzer on CPU ${a.pinning.analyzer}, the server and the callers on CPU ${a.pinning.others}.` : ''),
      '',
    );
    out.push('| streams | frames sent / decoded / to JS per s | video scored / offered per s | video drop | video sample→score p50 / p95 ms | audio scored / offered per s | audio drop | audio p50 / p95 ms | video packets lost / UDP drops per s | analyzer CPU (of one core) | analyzer RSS MB (max) | server CPU | callers CPU | machine busy | load | states |');
    out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    const notes: string[] = [];
    for (const p of a.points) {
      const starved = Object.entries(p.degraded ?? {}).map(([k, v]) => `${k} x${v}`);
      const st = Object.entries(p.states).map(([k, v]) => `${v} ${k}`).join(', ') + (starved.length ? `; degraded: ${starved.join(', ')}` : '');
      if (p.restarts && (p.restarts.callerSessions || p.restarts.analyzerStreams)) {
        notes.push(`N=${p.streams}: during the window ${p.restarts.callerSessions} caller session(s) started again and ${p.restarts.analyzerStreams} analyzer video stream(s) were attached again (their counters are carried across).`);
      }
      const lowered = Object.entries(p.callersFrameHeights ?? {}).filter(([h]) => h !== '480' && h !== '0');
      const limited = Object.entries(p.callersLimitations ?? {}).filter(([q]) => q !== 'none' && q !== 'unknown');
      if (lowered.length || limited.length) {
        notes.push(
          `N=${p.streams}: the callers' encoders ${lowered.length ? `sent ${lowered.map(([h, n]) => `${n} stream(s) at ${h} lines`).join(', ')}` : 'kept 480 lines'}` +
            `${limited.length ? ` (limited by ${limited.map(([q, n]) => `${q}: ${n}`).join(', ')})` : ''}.`,
        );
      }
      out.push(
        `| ${p.streams} | ${num(p.callersSentFps)} / ${num(p.analyzerReceive?.framesDecodedPerS)} / ${num(p.video.framesReceivedPerS)} | ${num(p.video.scoredPerS, 1)} / ${num(p.video.offeredPerS, 1)} | ${pct(p.video.dropRate, 0)} | ${num(p.video.latencyMs.p50)} / ${num(p.video.latencyMs.p95)} | ` +
          `${num(p.audio.scoredPerS, 2)} / ${num(p.audio.offeredPerS, 2)} | ${pct(p.audio.dropRate, 0)} | ${num(p.audio.latencyMs.p50)} / ${num(p.audio.latencyMs.p95)} | ` +
          `${num(p.analyzerReceive?.packetsLostPerS)} / ${num(p.udpDropsPerS)} | ` +
          `${pct(p.analyzerCpu, 0)} | ${num(p.analyzerRssMB)} (${num(p.analyzerRssMaxMB)}) | ${pct(p.serverCpu, 0)} | ${pct(p.loadGeneratorCpu, 0)} | ${pct(p.machineBusy, 0)} | ${num(p.load1, 2)} | ${st} |`,
      );
    }
    out.push('');
    for (const n of notes) out.push(`- ${n}`);
    if (notes.length) out.push('');
  }

  if (r.alert) {
    const a = r.alert;
    out.push(`### Time to alert: a simulated caller switches from the real clip to the ${a.clip ?? 'fake'} clip`, '');
    out.push('| run | on real clip s | state at switch | SUSPICIOUS or ALERT after s | ALERT at the supervisor after s |');
    out.push('| ---: | ---: | --- | ---: | ---: |');
    for (const x of a.runs) {
      const alertCell = x.alertOnReal ? 'false alarm on the real clip' : x.alertAfterMs === null ? `none within ${a.timeoutSeconds} s` : secs(x.alertAfterMs);
      out.push(`| ${x.run} | ${secs(x.realMs)} | ${x.stateAtSwitch} | ${secs(x.suspiciousAfterMs)} | ${alertCell} |`);
    }
    out.push('');
    out.push(`- **ALERT after the switch: p50 ${secs(a.alertMs.p50)} s, p95 ${secs(a.alertMs.p95)} s** over ${a.alertMs.n} run(s)${a.timeouts ? `; ${a.timeouts} run(s) reached no alert within ${a.timeoutSeconds} s` : ''}.`, '');
  }

  if (r.inference) {
    out.push(`### Inference: throughput per model (random inputs, median of runs over ${r.inference.seconds} s per cell)`, '');
    out.push(inferenceTable(r.inference.rows), '');
  }
  return out.join('\n');
}
