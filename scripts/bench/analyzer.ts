/**
 * Analyzer section: N simultaneous synthetic callers (N = 1, 4, 8, 16 by default), each a patient
 * alone in a call, publishing a pre-rendered 640x480 face loop and a speech loop. Three processes
 * besides this one: the server (ANALYZER=external), the analyzer (analyzer-child.ts, built as the
 * product's analyzer main, at its default settings, reporting every scored sample), and the
 * callers (publishers-child.ts, niced: in production they are on other machines).
 * Callers are added step by step (1, then 3 more, ...) on the same server and analyzer; each step
 * is measured over its own window after a warm-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadAnalyzerConfig, type AnalyzerConfig } from '../../server/src/analyzer/config.ts';
import { onLines, pinned, type CpuPinning, UsageWindow } from './proc.ts';
import { startServer } from './serverProcess.ts';
import { summarize, type Summary } from './stats.ts';

const CHILD = path.join(import.meta.dirname, 'analyzer-child.ts');
const PUBLISHERS = path.join(import.meta.dirname, 'publishers-child.ts');

export interface AnalyzerBenchOptions {
  /** Callers' video frame rate (640x480). */
  fps: number;
  /** Niceness of the callers' process (0: same priority as the server and analyzer). */
  publisherNice: number;
  streams: number[];
  seconds: number;
  warmupSeconds: number;
  /** Callers publish speech too (default true): the voice model is part of the analyzer's load. */
  audio: boolean;
  /** The analyzer on its own CPUs, the server and callers on the rest (`--analyzer-cpus`); default: all share every CPU. */
  pinning?: CpuPinning;
  say: (msg: string) => void;
}

export interface KindStats {
  /** Samples the sampler took (video: 2 fps per stream by default; audio: one 4.04 s window per hop). */
  offeredPerS: number;
  /** Samples that came out scored. */
  scoredPerS: number;
  /** Dropped from the bounded queues because inference fell behind, over samples offered. */
  dropRate: number;
  /** From the sample's arrival in the analyzer to its score (queue wait included). */
  latencyMs: Summary;
  /** Share of scored samples that went through every model (video: a usable face; audio: enough speech). */
  fullPipelineShare: number;
}

export interface AnalyzerPoint {
  streams: number;
  seconds: number;
  video: KindStats & { framesReceivedPerS: number };
  audio: KindStats;
  analyzerCpu: number;
  analyzerRssMB: number;
  analyzerRssMaxMB: number;
  serverCpu: number;
  /** The callers' process (encoding), at its lower priority. */
  loadGeneratorCpu: number;
  /** What the callers' encoders sent, all callers together, and at what heights (callers per height). */
  callersSentFps: number;
  callersFrameHeights: Record<string, number>;
  /** libwebrtc's quality limitation reasons at the end of the window (callers per reason). */
  callersLimitations: Record<string, number>;
  /** The analyzer's receive side (libwebrtc), per second: frames that arrived, were decoded, were dropped before decoding. */
  analyzerReceive: { framesReceivedPerS: number; framesDecodedPerS: number; framesDroppedPerS: number; packetsLostPerS: number } | undefined;
  machineBusy: number;
  load1: number;
  /** UDP datagrams per second the kernel dropped for full socket receive buffers (a starved receiver loses media this way). */
  udpDropsPerS: number;
  /** Participants per risk state at the end of the window (a SUSPICIOUS/ALERT stream samples at the boosted rate). */
  states: Record<string, number>;
  /** Participants per degraded detector at the end of the window ("pulse (behind)": analysis degraded). */
  degraded?: Record<string, number>;
  /** Within the window: callers whose session started again, and analyzer video streams attached again (rates are carried across both). */
  restarts?: { callerSessions: number; analyzerStreams: number };
}

export interface AnalyzerResult {
  config: Pick<AnalyzerConfig, 'provider' | 'baseFps' | 'boostedFps' | 'audioHopSeconds' | 'maxBatch' | 'maxWaitMs' | 'queueCapacity'>;
  providers: Record<string, string>;
  /** The server's SFU engine (SFU_ENGINE; werift unless asked, serverProcess.ts). */
  engine?: string;
  publisherFps: number;
  publisherNice: number;
  publisherAudio: boolean;
  /** Where each process ran when pinned (taskset lists); absent when everything shared every CPU. */
  pinning?: CpuPinning;
  points: AnalyzerPoint[];
}

type Counters = Record<'video' | 'audio', { pushed: number; dropped: number; received: number; streams: number; restarts?: number }>;
interface Report {
  t: number;
  counters: Counters;
  obs: Array<['video' | 'audio', number, 0 | 1, string]>;
  states: Record<string, string>;
  degraded?: Record<string, string[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The analyzer child: its pid and its reports, as they arrive. */
type DecodeStats = Record<'framesReceived' | 'framesDecoded' | 'framesDropped' | 'packetsLost' | 'packetsReceived', number>;

function startAnalyzer(
  url: string,
  token: string,
  pinning: CpuPinning | undefined,
): { child: ChildProcess; reports: Report[]; ready: Promise<Record<string, string>>; log: string[]; decode(): Promise<DecodeStats | undefined> } {
  const [cmd, args] = pinned(pinning?.analyzer, [process.execPath, CHILD]);
  const child = spawn(cmd, args, {
    env: {
      ...process.env,
      DFS_SERVER_URL: url,
      DFS_ANALYZER_TOKEN: token,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      // Pinned, it sizes its onnxruntime threads to its own CPUs, as a worker given a share of a host does.
      ...(pinning ? { ANALYZER_CORES: String(pinning.analyzerCount) } : {}),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const decodeWaiters: Array<(d: DecodeStats) => void> = [];
  const reports: Report[] = [];
  const log: string[] = [];
  let resolveReady: (p: Record<string, string>) => void;
  let rejectReady: (e: Error) => void;
  const ready = new Promise<Record<string, string>>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  onLines(child.stdout!, (line) => {
    if (line.startsWith('{"ready"')) resolveReady(JSON.parse(line).providers);
    else if (line.startsWith('{"decode"')) decodeWaiters.shift()?.(JSON.parse(line).decode);
    else if (line.startsWith('{"t"')) reports.push(JSON.parse(line));
    else if (line.trim()) log.push(line);
  });
  child.stderr!.on('data', (chunk: Buffer) => log.push(...chunk.toString().split('\n').filter((l) => l.trim())));
  child.once('exit', (code) => rejectReady(new Error(`the analyzer exited (${code}):\n${log.slice(-30).join('\n')}`)));
  const decode = () =>
    new Promise<DecodeStats | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), 10_000);
      decodeWaiters.push((d) => {
        clearTimeout(t);
        resolve(d);
      });
      child.stdin!.write('{"decode": true}\n');
    });
  return { child, reports, ready, log, decode };
}

/** The callers' process: started niced; `add` joins more callers and resolves once they are in. */
interface EncoderStats {
  framesEncoded: number;
  /** Callers' publish connections replaced so far (a caller whose session started again). */
  sessionRestarts?: number;
  frameHeights: Record<string, number>;
  limitations: Record<string, number>;
}

function startPublishers(o: AnalyzerBenchOptions): {
  child: ChildProcess;
  ready: Promise<void>;
  add(callers: Array<{ url: string; room: string; token: string }>): Promise<number>;
  stats(): Promise<EncoderStats>;
  stop(): Promise<void>;
} {
  const env = { ...process.env, BENCH_FPS: String(o.fps), BENCH_AUDIO: o.audio ? '1' : '0' };
  const niced: [string, ...string[]] = o.publisherNice > 0 && existsSync('/usr/bin/nice') ? ['/usr/bin/nice', '-n', String(o.publisherNice), process.execPath, PUBLISHERS] : [process.execPath, PUBLISHERS];
  const [cmd, args] = pinned(o.pinning?.others, niced);
  const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  type Answer = { ready?: boolean; joined?: number; error?: string; stats?: EncoderStats };
  const waiting: Array<(m: Answer) => void> = [];
  const log: string[] = [];
  onLines(child.stdout!, (line) => {
    if (line.startsWith('{')) waiting.shift()?.(JSON.parse(line));
    else if (line.trim()) log.push(line);
  });
  child.stderr!.on('data', (chunk: Buffer) => log.push(...chunk.toString().split('\n').filter((l) => l.trim())));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const next = (timeoutMs: number) =>
    new Promise<Answer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the callers' process did not answer within ${timeoutMs} ms:\n${log.slice(-20).join('\n')}`)), timeoutMs);
      waiting.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
      void exited.then(() => reject(new Error(`the callers' process exited:\n${log.slice(-20).join('\n')}`)));
    });
  const ready = next(120_000).then(() => undefined);
  return {
    child,
    ready,
    add: async (callers) => {
      const answer = next(30_000 + callers.length * 15_000);
      child.stdin!.write(JSON.stringify({ add: callers }) + '\n');
      const m = await answer;
      if (m.error) throw new Error(`a caller could not join: ${m.error}`);
      return m.joined ?? 0;
    },
    stats: async () => {
      const answer = next(30_000);
      child.stdin!.write(JSON.stringify({ stats: true }) + '\n');
      const m = await answer;
      return m.stats ?? { framesEncoded: NaN, frameHeights: {}, limitations: {} };
    },
    stop: async () => {
      child.stdin!.end();
      await Promise.race([exited, sleep(6000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

function kindStats(kind: 'video' | 'audio', c0: Counters, c1: Counters, obs: Report['obs'], seconds: number): KindStats {
  const mine = obs.filter((o) => o[0] === kind);
  const pushed = c1[kind].pushed - c0[kind].pushed;
  const dropped = c1[kind].dropped - c0[kind].dropped;
  return {
    offeredPerS: pushed / seconds,
    scoredPerS: mine.length / seconds,
    dropRate: pushed > 0 ? dropped / pushed : 0,
    latencyMs: summarize(mine.map((o) => o[1])),
    fullPipelineShare: mine.length ? mine.filter((o) => o[2] === 1).length / mine.length : NaN,
  };
}

export async function benchAnalyzer(o: AnalyzerBenchOptions): Promise<AnalyzerResult> {
  const counts = [...new Set(o.streams)].sort((a, b) => a - b);
  const max = counts.at(-1) ?? 0;
  const rooms = Array.from({ length: max }, (_, i) => `an-${i}`);
  const cfg = loadAnalyzerConfig({ ...process.env, DFS_SERVER_URL: 'http://127.0.0.1', DFS_ANALYZER_TOKEN: 'placeholder-token' });
  const server = await startServer({ ANALYZER: 'external', ROOMS: rooms.join(',') }, undefined, o.pinning?.others);
  const analyzer = startAnalyzer(server.url, server.serviceToken(), o.pinning);
  const publishers = startPublishers(o);
  let joined = 0;
  const points: AnalyzerPoint[] = [];
  let providers: Record<string, string> = {};
  try {
    await publishers.ready;
    providers = await Promise.race([analyzer.ready, sleep(180_000).then(() => Promise.reject(new Error('the analyzer did not load its models within 180 s')))]);
    o.say(`analyzer up (models: ${Object.entries(providers).map(([m, p]) => `${m}=${p}`).join(', ')})`);
    for (const n of counts) {
      // Add callers up to n, each alone in its call.
      if (n > joined) {
        const joinStart = performance.now();
        const callers = rooms.slice(joined, n).map((room, k) => ({ url: server.url, room, token: server.token(room, 'patient', `Caller ${joined + k}`, `caller-${joined + k}`) }));
        joined = await publishers.add(callers);
        o.say(`  ${callers.length} caller(s) joined in ${((performance.now() - joinStart) / 1000).toFixed(1)} s`);
      }
      // Every caller's video reaching the analyzer, then a warm-up. (Scored samples are not waited
      // for: past saturation some streams may get none, and that is a result too.)
      const deadline = Date.now() + 30_000;
      const videoStreams = () => analyzer.reports.at(-1)?.counters.video.streams ?? 0;
      while (videoStreams() < n && Date.now() < deadline) await sleep(250);
      if (videoStreams() < n) o.say(`  only ${videoStreams()} of ${n} video streams reached the analyzer after 30 s; measuring anyway`);
      await sleep(o.warmupSeconds * 1000);
      o.say(`analyzer: ${n} stream(s) (${o.seconds} s)`);
      // The window runs from one analyzer report to another, so counters and CPU cover the same time.
      const nextReport = async () => {
        const have = analyzer.reports.length;
        const until = Date.now() + 10_000;
        while (analyzer.reports.length === have && Date.now() < until) await sleep(20);
        if (analyzer.reports.length === have) throw new Error(`the analyzer stopped reporting:\n${analyzer.log.slice(-20).join('\n')}`);
        return analyzer.reports.length - 1;
      };
      const i0 = await nextReport();
      const [enc0, dec0] = await Promise.all([publishers.stats(), analyzer.decode()]);
      // A process that died mid-run fails the point with its name and, for the analyzer, its last words.
      const alive = { analyzer: analyzer.child.pid!, server: server.pid, callers: publishers.child.pid! };
      let usage: UsageWindow;
      try {
        usage = new UsageWindow(alive);
      } catch (err) {
        const dead = Object.entries(alive).filter(([, pid]) => !existsSync(`/proc/${pid}`)).map(([k]) => k);
        throw new Error(`${dead.join(', ') || 'a process'} exited during the run (${(err as Error).message}):\n${analyzer.log.slice(-20).join('\n')}`);
      }
      await sleep(o.seconds * 1000 - 500);
      const i1 = await nextReport();
      const u = usage.stop();
      const [enc1, dec1] = await Promise.all([publishers.stats(), analyzer.decode()]);
      const r0 = analyzer.reports[i0]!;
      const r1 = analyzer.reports[i1]!;
      const window = analyzer.reports.slice(i0 + 1, i1 + 1);
      const seconds = (r1.t - r0.t) / 1000;
      const obs = window.flatMap((r) => r.obs);
      const states: Record<string, number> = {};
      const degraded: Record<string, number> = {};
      for (const w of rooms.slice(0, n).map((r, i) => `${r}/caller-${i}`)) {
        const st = r1.states[w] ?? 'none yet';
        states[st] = (states[st] ?? 0) + 1;
        for (const d of r1.degraded?.[w] ?? []) degraded[d] = (degraded[d] ?? 0) + 1;
      }
      const point: AnalyzerPoint = {
        streams: n,
        seconds,
        video: { ...kindStats('video', r0.counters, r1.counters, obs, seconds), framesReceivedPerS: (r1.counters.video.received - r0.counters.video.received) / seconds },
        audio: kindStats('audio', r0.counters, r1.counters, obs, seconds),
        analyzerCpu: u.procs.analyzer!.cpu,
        analyzerRssMB: u.procs.analyzer!.rssMeanMB,
        analyzerRssMaxMB: u.procs.analyzer!.rssMaxMB,
        serverCpu: u.procs.server!.cpu,
        loadGeneratorCpu: u.procs.callers!.cpu,
        callersSentFps: (enc1.framesEncoded - enc0.framesEncoded) / u.seconds,
        callersFrameHeights: enc1.frameHeights,
        callersLimitations: enc1.limitations,
        analyzerReceive:
          dec0 && dec1
            ? {
                framesReceivedPerS: (dec1.framesReceived - dec0.framesReceived) / u.seconds,
                framesDecodedPerS: (dec1.framesDecoded - dec0.framesDecoded) / u.seconds,
                framesDroppedPerS: (dec1.framesDropped - dec0.framesDropped) / u.seconds,
                packetsLostPerS: (dec1.packetsLost - dec0.packetsLost) / u.seconds,
              }
            : undefined,
        machineBusy: u.machineBusy,
        load1: u.load1,
        udpDropsPerS: u.udpDrops / u.seconds,
        states,
        degraded,
        restarts: { callerSessions: (enc1.sessionRestarts ?? 0) - (enc0.sessionRestarts ?? 0), analyzerStreams: (r1.counters.video.restarts ?? 0) - (r0.counters.video.restarts ?? 0) },
      };
      o.say(
        `  video ${point.video.scoredPerS.toFixed(1)}/s scored of ${point.video.offeredPerS.toFixed(1)}/s, drop ${(point.video.dropRate * 100).toFixed(0)}%, ` +
          `p50 ${point.video.latencyMs.p50.toFixed(0)} ms p95 ${point.video.latencyMs.p95.toFixed(0)} ms; analyzer ${(point.analyzerCpu * 100).toFixed(0)}% CPU, ${point.analyzerRssMB.toFixed(0)} MB`,
      );
      points.push(point);
    }
  } finally {
    await publishers.stop();
    if (analyzer.child.exitCode === null) {
      analyzer.child.kill('SIGTERM');
      await Promise.race([new Promise((r) => analyzer.child.once('exit', r)), sleep(5000)]);
      if (analyzer.child.exitCode === null) analyzer.child.kill('SIGKILL');
    }
    await server.close();
  }
  const { provider, baseFps, boostedFps, audioHopSeconds, maxBatch, maxWaitMs, queueCapacity } = cfg;
  return { config: { provider, baseFps, boostedFps, audioHopSeconds, maxBatch, maxWaitMs, queueCapacity }, providers, engine: process.env.SFU_ENGINE ?? 'werift', publisherFps: o.fps, publisherNice: o.publisherNice, publisherAudio: o.audio, ...(o.pinning ? { pinning: o.pinning } : {}), points };
}
