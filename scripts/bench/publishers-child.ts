/**
 * Synthetic callers for the analyzer section, in a process of their own that the bench starts at a
 * lower CPU priority (nice 10): in production callers encode on their own devices, so here they
 * only get the CPU the server and the analyzer leave. (Linux niceness is per thread and inherited,
 * so starting the process niced covers wrtc's encoder threads too.)
 *
 * Reads JSON lines on stdin: {"add": [{url, room, token}]} joins these callers, each publishing the
 * pre-rendered face loop and the clip's voice, and answers {"joined": count} (or {"error": message});
 * {"stats": true} answers {"stats": {framesEncoded, frameHeights, limitations, sessionRestarts}}
 * summed over callers (what the encoders really sent: libwebrtc lowers resolution or frame rate
 * when short of CPU). framesEncoded is carried across a caller's rejoin (its new connection counts
 * from 0: stats.ts RestartingCounters); sessionRestarts counts the publish connections replaced.
 * Settings from the environment: BENCH_FPS, BENCH_AUDIO (1/0).
 */
import './env.ts';
import { createInterface } from 'node:readline';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import { HeadlessParticipant } from '../../server/src/headless/HeadlessParticipant.ts';
import { LoopedAudio, SyntheticVideo } from '../../server/src/headless/syntheticMedia.ts';
import { loopPainter, renderFaceLoop } from './media.ts';
import { RestartingCounters } from './stats.ts';

const fps = Number(process.env.BENCH_FPS ?? 15);
const audio = process.env.BENCH_AUDIO !== '0';
const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
const loop = await renderFaceLoop(runtime, { fps, count: Math.round(2 * fps) });
await runtime.close();

const peers: HeadlessParticipant[] = [];
const media: Array<{ stop(): void }> = [];
const send = (m: unknown) => process.stdout.write(JSON.stringify(m) + '\n');
send({ ready: true });

const lines = createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on('line', (line) => {
  chain = chain.then(async () => {
    try {
      const msg = JSON.parse(line) as { add?: Array<{ url: string; room: string; token: string }>; stats?: boolean };
      if (msg.stats) {
        send({ stats: await encoderStats() });
        return;
      }
      for (const c of msg.add ?? []) {
        const i = peers.length;
        const video = new SyntheticVideo({ width: loop.width, height: loop.height, fps, paint: loopPainter(loop, { offset: (i * 7) % loop.frames.length }) });
        media.push(video);
        const tracks = [video.track];
        if (audio) {
          const a = new LoopedAudio(loop.pcm);
          media.push(a);
          tracks.push(a.track);
        }
        const peer = new HeadlessParticipant({ url: c.url, room: c.room, token: c.token, tracks });
        peers.push(peer);
        await peer.join();
      }
      send({ joined: peers.length });
    } catch (err) {
      send({ error: (err as Error).message });
    }
  });
});

const encoded = new RestartingCounters();
/** Per caller, the publish connection last seen: another one means the caller's session started again. */
const lastPc = new Map<number, object>();
let connections = 0;
const pcIds = new WeakMap<object, number>();
let sessionRestarts = 0;

async function encoderStats(): Promise<{ framesEncoded: number; frameHeights: Record<string, number>; limitations: Record<string, number>; sessionRestarts: number }> {
  const out = { framesEncoded: 0, frameHeights: {} as Record<string, number>, limitations: {} as Record<string, number>, sessionRestarts: 0 };
  for (const [i, peer] of peers.entries()) {
    // Bench-only peek at the publish connection (CallSession.stats() has packet counts only).
    const pc = (peer.session as unknown as { publishPc?: RTCPeerConnection }).publishPc;
    if (!pc) continue;
    if (lastPc.has(i) && lastPc.get(i) !== pc) sessionRestarts++;
    lastPc.set(i, pc);
    if (!pcIds.has(pc)) pcIds.set(pc, connections++);
    const stats = await pc.getStats();
    stats.forEach((r: { type: string; id: string; kind?: string; framesEncoded?: number; frameHeight?: number; qualityLimitationReason?: string }) => {
      if (r.type !== 'outbound-rtp' || r.kind !== 'video') return;
      encoded.observe(`${pcIds.get(pc)}/${r.id}`, r.framesEncoded ?? 0);
      const h = String(r.frameHeight ?? 0);
      out.frameHeights[h] = (out.frameHeights[h] ?? 0) + 1;
      const q = r.qualityLimitationReason ?? 'unknown';
      out.limitations[q] = (out.limitations[q] ?? 0) + 1;
    });
  }
  out.framesEncoded = encoded.total;
  out.sessionRestarts = sessionRestarts;
  return out;
}

async function stop(): Promise<void> {
  await Promise.race([Promise.all(peers.map((p) => p.leave().catch(() => undefined))), new Promise((r) => setTimeout(r, 3000))]);
  for (const m of media) m.stop();
  process.exit(0);
}
lines.on('close', () => void stop());
process.on('SIGTERM', () => void stop());
