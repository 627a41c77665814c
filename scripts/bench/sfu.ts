/**
 * SFU section: the server (ANALYZER=off) in its own process; publishers and subscribers in this
 * one, on @roamhq/wrtc. Each publisher replays a pre-rendered 640x480 face loop with the clock
 * painted into a corner; each subscriber reads the clock back from every decoded frame.
 *
 * - CPU: the server process's CPU at several (publishers, subscribers per publisher) points, each
 *   publisher alone in its room with its subscribers, fitted as
 *   cpu = idle + perStream·P + perSubscriber·P·S (share of one core).
 * - Latency: glass-to-glass (painted → decoded, same clock) through the SFU and through a direct
 *   wrtc peer-to-peer link; the SFU's added latency is the difference of the medians.
 */
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo } from '../../server/src/headless/syntheticMedia.ts';
import type { CallSession } from '../../server/src/protocol/CallSession.ts';
import { directLink, inboundVideo, loopPainter, readStamp, stampAge, type FrameLoop } from './media.ts';
import { UsageWindow } from './proc.ts';
import { startServer, type ServerProcess } from './serverProcess.ts';
import { fitLinear, summarize, type Summary } from './stats.ts';

export interface SfuOptions {
  loop: FrameLoop;
  seconds: number;
  /** [publishers, subscribers per publisher]; [0, 0] is the idle server. */
  points: Array<[number, number]>;
  /** SFU_ENGINE for the server under test (default werift). Server CPU and memory include its child processes (mediasoup's workers). */
  engine?: 'werift' | 'mediasoup';
  say: (msg: string) => void;
}

export interface SfuPoint {
  publishers: number;
  subscribersPerPublisher: number;
  /** Forwarded copies: publishers × subscribers. */
  forwarded: number;
  seconds: number;
  serverCpu: number;
  serverRssMB: number;
  /** This process (encoders, decoders): context for the machine's contention. */
  loadGeneratorCpu: number;
  machineBusy: number;
  load1: number;
  /** UDP datagrams the kernel dropped for full receive buffers during the window. */
  udpDrops: number;
  /** Mean over subscribers. */
  receivedKbps: number;
  receivedFps: number;
  latencyMs: Summary;
  /** Frames whose painted clock could not be read. */
  unreadableFrames: number;
}

export interface SfuResult {
  /** Absent in reports from before engines could be chosen (werift). */
  engine?: 'werift' | 'mediasoup';
  fps: number;
  width: number;
  height: number;
  points: SfuPoint[];
  fit: { idleCpu: number; perStreamCpu: number; perSubscriberCpu: number; oneStreamOneSubscriberCpu: number; r2: number | null; rmse: number } | undefined;
  /** Both direct runs pooled; `runs` holds each run's p50 and p95. */
  direct: { latencyMs: Summary; receivedKbps: number; receivedFps: number; codec: string; unreadableFrames: number; runs: Array<{ p50: number; p95: number }> };
  /** p50 and p95 of (SFU 1x1) minus the same of the direct link (both runs pooled). */
  addedLatencyMs: { p50: number; p95: number };
  /** How far apart the two direct runs' p50s were: differences below it are noise. */
  noiseMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class StampReader {
  readonly ages: number[] = [];
  unreadable = 0;
  private recording = false;
  readonly stop: () => void;

  constructor(track: MediaStreamTrack) {
    this.stop = onVideoFrames(track, (f) => {
      if (!this.recording) return;
      const s = readStamp(f);
      if (s === undefined) this.unreadable++;
      else this.ages.push(stampAge(s, performance.now()));
    });
  }

  record(on: boolean): void {
    this.recording = on;
  }
}

function subscribePc(session: CallSession): RTCPeerConnection | undefined {
  // Bench-only peek at the receive connection for byte counters (CallSession.stats() has packets only).
  return (session as unknown as { subscribePc?: RTCPeerConnection }).subscribePc;
}

interface DirectRun {
  ages: number[];
  receivedKbps: number;
  receivedFps: number;
  codec: string;
  unreadableFrames: number;
}

async function measureDirect(o: SfuOptions, kbps: number): Promise<DirectRun> {
  const video = new SyntheticVideo({ width: o.loop.width, height: o.loop.height, fps: o.loop.fps, paint: loopPainter(o.loop, { stamp: true }) });
  const link = await directLink(video.track, Number.isFinite(kbps) && kbps > 50 ? { kbps } : {});
  const reader = new StampReader(link.track);
  try {
    await sleep(3000);
    const before = await inboundVideo(link.receiver);
    reader.record(true);
    const t0 = performance.now();
    await sleep(o.seconds * 1000);
    reader.record(false);
    const s = (performance.now() - t0) / 1000;
    const after = await inboundVideo(link.receiver);
    return {
      ages: reader.ages,
      receivedKbps: ((after.bytes - before.bytes) * 8) / 1000 / s,
      receivedFps: (after.frames - before.frames) / s,
      codec: after.codec,
      unreadableFrames: reader.unreadable,
    };
  } finally {
    reader.stop();
    link.close();
    video.stop();
  }
}

async function measurePoint(server: ServerProcess, o: SfuOptions, publishers: number, subs: number): Promise<SfuPoint> {
  const videos: SyntheticVideo[] = [];
  const peers: HeadlessParticipant[] = [];
  const readers: StampReader[] = [];
  const subscribers: HeadlessParticipant[] = [];
  try {
    for (let p = 0; p < publishers; p++) {
      const room = `sfu-${p}`;
      const video = new SyntheticVideo({ width: o.loop.width, height: o.loop.height, fps: o.loop.fps, paint: loopPainter(o.loop, { offset: p * 5, stamp: true }) });
      videos.push(video);
      const pub = new HeadlessParticipant({ url: server.url, room, token: server.token(room, 'patient', `Publisher ${p}`, `pub-${p}`), tracks: [video.track] });
      peers.push(pub);
      await pub.join();
      for (let s = 0; s < subs; s++) {
        const sub = new HeadlessParticipant({ url: server.url, room, token: server.token(room, 'supervisor', `Subscriber ${p}.${s}`, `sub-${p}-${s}`) });
        peers.push(sub);
        subscribers.push(sub);
        await sub.join();
        const t = await sub.waitForTrack(`pub-${p}`, 'video', 20_000);
        readers.push(new StampReader(t.track));
      }
    }
    // Let encoders settle on their bitrate and keyframes arrive everywhere.
    await sleep(3000);
    const pcs = subscribers.map((s) => subscribePc(s.session));
    const before = await Promise.all(pcs.map((pc) => (pc ? inboundVideo(pc) : undefined)));
    for (const r of readers) r.record(true);
    const usage = new UsageWindow({ server: server.pid, loadgen: process.pid }, 500, ['server']);
    await sleep(o.seconds * 1000);
    const u = usage.stop();
    for (const r of readers) r.record(false);
    const after = await Promise.all(pcs.map((pc) => (pc ? inboundVideo(pc) : undefined)));
    let kbps = 0;
    let fps = 0;
    after.forEach((a, i) => {
      const b = before[i];
      if (!a || !b) return;
      kbps += ((a.bytes - b.bytes) * 8) / 1000 / u.seconds;
      fps += (a.frames - b.frames) / u.seconds;
    });
    const n = Math.max(1, subscribers.length);
    return {
      publishers,
      subscribersPerPublisher: subs,
      forwarded: publishers * subs,
      seconds: u.seconds,
      serverCpu: u.procs.server!.cpu,
      serverRssMB: u.procs.server!.rssMeanMB,
      loadGeneratorCpu: u.procs.loadgen!.cpu,
      machineBusy: u.machineBusy,
      load1: u.load1,
      udpDrops: u.udpDrops,
      receivedKbps: subscribers.length ? kbps / n : NaN,
      receivedFps: subscribers.length ? fps / n : NaN,
      latencyMs: summarize(readers.flatMap((r) => r.ages)),
      unreadableFrames: readers.reduce((a, r) => a + r.unreadable, 0),
    };
  } finally {
    for (const r of readers) r.stop();
    await Promise.all(peers.map((p) => p.leave().catch(() => undefined)));
    for (const v of videos) v.stop();
    // Let the server tear the connections down before the next point is measured.
    await sleep(1500);
  }
}

export async function benchSfu(o: SfuOptions): Promise<SfuResult> {
  const points = o.points.some(([p, s]) => p === 1 && s === 1) ? o.points : [[1, 1] as [number, number], ...o.points];
  const maxPublishers = Math.max(1, ...points.map(([p]) => p));
  const maxSubs = Math.max(1, ...points.map(([, s]) => s));
  const server = await startServer({
    ANALYZER: 'off',
    ROOMS: Array.from({ length: maxPublishers }, (_, i) => `sfu-${i}`).join(','),
    MAX_PARTICIPANTS: String(Math.max(8, maxSubs + 1)),
    SFU_ENGINE: o.engine ?? 'werift',
    // One mediasoup worker: the same one core werift has (a second would only spread the same work).
    MEDIASOUP_WORKERS: '1',
      });
  const measured: SfuPoint[] = [];
  let direct: SfuResult['direct'];
  try {
    // 1x1 first, then the direct link at the bitrate the SFU path carried, so both latencies are
    // taken close together, under the same conditions, for the same amount of video.
    const ordered = [[1, 1] as [number, number], ...points.filter(([p, s]) => !(p === 1 && s === 1))];
    for (const [p, s] of ordered) {
      o.say(`SFU: ${p} publisher(s) x ${s} subscriber(s) each (${o.seconds} s)`);
      const pt = await measurePoint(server, o, p, s);
      o.say(`  server ${(pt.serverCpu * 100).toFixed(1)}% of a core; glass-to-glass p50 ${pt.latencyMs.p50.toFixed(0)} ms; ${pt.receivedKbps.toFixed(0)} kbit/s per subscriber`);
      measured.push(pt);
      if (p === 1 && s === 1) {
        // Twice, on two fresh links: how far apart they land is the method's run-to-run noise.
        const runs: DirectRun[] = [];
        for (let k = 1; k <= 2; k++) {
          o.say(`direct peer-to-peer baseline ${k}/2 at ${pt.receivedKbps.toFixed(0)} kbit/s (${o.seconds} s)`);
          const d = await measureDirect(o, pt.receivedKbps);
          o.say(`  glass-to-glass p50 ${summarize(d.ages).p50.toFixed(0)} ms; ${d.receivedKbps.toFixed(0)} kbit/s`);
          runs.push(d);
        }
        direct = {
          latencyMs: summarize(runs.flatMap((d) => d.ages)),
          receivedKbps: runs.reduce((a, d) => a + d.receivedKbps, 0) / runs.length,
          receivedFps: runs.reduce((a, d) => a + d.receivedFps, 0) / runs.length,
          codec: runs[0]!.codec,
          unreadableFrames: runs.reduce((a, d) => a + d.unreadableFrames, 0),
          runs: runs.map((d) => {
            const x = summarize(d.ages);
            return { p50: x.p50, p95: x.p95 };
          }),
        };
      }
    }
  } finally {
    await server.close();
  }
  let fit: SfuResult['fit'];
  try {
    const f = fitLinear(measured.map((pt) => [pt.publishers, pt.forwarded]), measured.map((pt) => pt.serverCpu));
    const [idleCpu, perStreamCpu, perSubscriberCpu] = f.coefficients as [number, number, number];
    fit = { idleCpu, perStreamCpu, perSubscriberCpu, oneStreamOneSubscriberCpu: perStreamCpu + perSubscriberCpu, r2: Number.isNaN(f.r2) ? null : f.r2, rmse: f.rmse };
  } catch (err) {
    o.say(`no CPU fit: ${(err as Error).message}`);
  }
  const one = measured[0]!;
  return {
    engine: o.engine ?? 'werift',
    fps: o.loop.fps,
    width: o.loop.width,
    height: o.loop.height,
    points: measured,
    fit,
    direct: direct!,
    addedLatencyMs: { p50: one.latencyMs.p50 - direct!.latencyMs.p50, p95: one.latencyMs.p95 - direct!.latencyMs.p95 },
    noiseMs: Math.abs(direct!.runs[0]!.p50 - direct!.runs[1]!.p50),
  };
}
