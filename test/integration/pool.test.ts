/**
 * The analyzer worker pool: real worker processes (the server's own, and a remote one started the
 * way an operator would on another host) given calls by the server. Each call is watched by exactly
 * one worker, a dead or stalled worker's calls move to a live one within 15 s, and a remote
 * analyzer joins the same pool. The workers run without the classifier models (MODELS_DIR points
 * at an empty folder): what is tested is who watches which call and receives its media, and model
 * loading would only make the test slow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueServiceToken } from '../../server/src/auth/token.ts';
import { HeadlessParticipant } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import type { PoolWorker } from '../../server/src/screening/AnalyzerPool.ts';
import type { Socket } from 'socket.io-client';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { parseExposition } from '../helpers/promText.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const ROOMS = ['p1', 'p2', 'p3', 'p4'];
const MAIN = resolve(import.meta.dirname, '../../server/src/analyzer/main.ts');
// The embedded workers' subjects, unique to the server process (set once it listens).
let W1 = '';
let W2 = '';
const REMOTE = 'analyzer-remote';
const METRICS_TOKEN = 'pool-test-metrics-token-0123456789';

let server: TestServer;
const noModels = mkdtempSync(join(tmpdir(), 'dfs-no-models-'));
const savedModelsDir = process.env.MODELS_DIR;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  // The embedded workers inherit the server's environment.
  process.env.MODELS_DIR = noModels;
  server = await startTestServer({
    ANALYZER: 'embedded',
    ANALYZER_WORKERS: '2',
    ROOMS: ROOMS.join(','),
    ANALYZER_STALL_MS: '3000',
    ANALYZER_HEARTBEAT_MS: '300',
    METRICS_TOKEN,
  });
  [W1, W2] = server.app.analyzers.map((a) => a.name) as [string, string];
  expect(W1).toMatch(/^analyzer-embedded-[0-9a-f]{8}-1$/);
  expect(W2).toBe(W1.replace(/-1$/, '-2'));
});

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await server?.close();
  if (savedModelsDir === undefined) delete process.env.MODELS_DIR;
  else process.env.MODELS_DIR = savedModelsDir;
  rmSync(noModels, { recursive: true, force: true });
});

/**
 * Each call's worker, when every call is watched by exactly one live worker: the pool's owner, and
 * the only hidden participant in the call is that worker's. Two analyzers in one call fail the test.
 */
function onePerCall(): Map<string, PoolWorker> | undefined {
  const owners = new Map<string, PoolWorker>();
  let complete = true;
  for (const id of ROOMS) {
    const room = server.app.registry.get(id)!;
    const analyzers = room.size - room.people;
    expect(analyzers, `analyzers in ${id}`).toBeLessThanOrEqual(1);
    const owner = server.app.hub.pool.ownerOf(id);
    if (analyzers !== 1 || !owner?.live || !room.get(`${owner.sub}:${id}`)) complete = false;
    else owners.set(id, owner);
  }
  return complete ? owners : undefined;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, stepMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

function processOf(sub: string) {
  return server.app.analyzers.find((a) => a.name === sub)!;
}

/** Frames of a stream a worker received, from the server's /metrics. */
function framesAt(metrics: string, worker: string, stream: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith('dfs_analyzer_frames_received_total{') && l.includes(`worker="${worker}"`) && l.includes(`stream="${stream}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const metricsUrl = () => `${server.url.replace('localhost', '127.0.0.1')}/metrics`;
/** The scrape, checked as Prometheus would read it (one HELP and TYPE per family, valid samples). */
const metrics = async () => {
  const text = await fetch(metricsUrl(), { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((r) => r.text());
  parseExposition(text);
  return text;
};

describe('analyzer worker pool', () => {
  it('two workers, four calls: each call watched by exactly one; a dead or stalled worker\'s calls move within 15 s; a remote analyzer joins', { timeout: 120_000 }, async () => {
    // 1. Two workers share the four (empty) calls, two each.
    const owners = await waitFor('each call watched by exactly one worker, two each', () => {
      const o = onePerCall();
      return o && [...o.values()].filter((w) => w.sub === W1).length === 2 ? o : undefined;
    }, 60_000, 100);
    const m0 = await metrics();
    // METRICS_TOKEN set: loopback is no exemption (a reverse proxy on this host would connect from it).
    expect((await fetch(metricsUrl())).status).toBe(401);
    expect((await fetch(metricsUrl(), { headers: { authorization: 'Bearer wrong-token' } })).status).toBe(401);
    // Both workers' own process and event-loop metrics, merged under one TYPE each with a worker label.
    // (the workers' metrics come with their heartbeats, so the first scrapes may not have them yet)
    const families = await until('both workers\' metrics', async () => {
      const f = parseExposition(await metrics());
      return f.get('process_resident_memory_bytes')?.samples.length === 3 ? f : undefined;
    }, 10_000);
    for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_p99_seconds']) {
      const who = families.get(name)?.samples.map((s) => s.labels.worker ?? 'server').sort();
      expect(who, name).toEqual([W1, W2, 'server']);
    }
    expect(families.get('dfs_analyzer_lag_ms')?.type).toBe('histogram');
    expect(m0).toMatch(/dfs_analyzer_workers\{state="live"\} 2/);
    expect(m0).toMatch(new RegExp(`dfs_analyzer_worker_rooms\\{worker="${W1}"\\} 2`));
    expect(m0).toMatch(new RegExp(`dfs_analyzer_worker_rooms\\{worker="${W2}"\\} 2`));

    // A caller in p1: its video reaches p1's worker only.
    const video = new SyntheticVideo({ paint: solidLuma(120), width: 320, height: 240 });
    const caller = new HeadlessParticipant({ url: server.url, room: 'p1', token: server.token('p1', 'patient', 'pat', { sub: 'pat' }), tracks: [video.track] });
    cleanup.push(() => video.stop(), () => caller.leave());
    await caller.join();
    const first = owners.get('p1')!;
    const other = first.sub === W1 ? W2 : W1;
    await until(`p1's video at ${first.name}`, async () => framesAt(await metrics(), first.name, 'p1/pat/video') > 0, 20_000);
    expect(framesAt(await metrics(), other, 'p1/pat/video')).toBe(0);

    // 2. Kill p1's worker: its calls move to the other within 15 s, and p1's video follows.
    const lost = [...owners].filter(([, w]) => w === first).map(([room]) => room);
    const killedAt = Date.now();
    process.kill(processOf(first.sub).pid!, 'SIGKILL');
    await waitFor(`${first.name}'s calls on ${other}`, () => {
      const o = onePerCall();
      return o && lost.every((room) => o.get(room) !== first);
    }, 15_000, 100);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    const second = server.app.hub.pool.ownerOf('p1')!;
    expect(second.sub).toBe(other);
    await until(`p1's video at ${other}`, async () => framesAt(await metrics(), other, 'p1/pat/video') > 0, 15_000);

    // 3. A remote analyzer, started as an operator would on another host, joins the pool and is
    //    given calls (empty ones are spread to it); p1, which has a caller, stays where it is.
    const remote = startRemote(issueServiceToken(server.config.tokenSecret, { ttlSeconds: 600, sub: REMOTE }));
    cleanup.push(() => stopProcess(remote));
    await waitFor('the remote analyzer watching calls', () => {
      const o = onePerCall();
      return o && [...o.values()].some((w) => w.sub === REMOTE);
    }, 30_000, 100);
    expect(server.app.hub.pool.ownerOf('p1')).toBe(second);

    // 4. p1's worker stalls (SIGSTOP): p1 moves within 15 s, and the stalled worker's hidden
    //    participant is taken out of the call, so it cannot watch it alongside the new one.
    const stalledPid = processOf(other).pid!;
    cleanup.push(() => {
      try {
        process.kill(stalledPid, 'SIGCONT');
      } catch {
        // gone already: the supervisor killed it
      }
    });
    const stalledAt = Date.now();
    process.kill(stalledPid, 'SIGSTOP');
    await waitFor('p1 on a live worker after the stall', () => {
      const o = onePerCall();
      return o && o.get('p1') !== second;
    }, 15_000, 100);
    expect(Date.now() - stalledAt).toBeLessThan(15_000);
    const m1 = await metrics();
    expect(m1).toMatch(/dfs_analyzer_room_moves_total [1-9]/);
    expect(m1).toMatch(new RegExp(`dfs_analyzer_worker_rooms\\{worker="${REMOTE}"\\} [1-4]`));
  });
});

describe('a call moved to another worker', () => {
  it('keeps its raised state and its running check: the new worker is handed the ALERT before the call, then the check', { timeout: 30_000 }, async () => {
    // Scripted workers on the real control channel: what matters here is what the server sends.
    const s = await startTestServer({ ANALYZER: 'external', ROOMS: 'h1', ANALYZER_STALL_MS: '3000' });
    const sockets: Socket[] = [];
    try {
      const worker = async (sub: string) => {
        const w = rawSocket(`${s.url}/analyzer`, issueServiceToken(s.config.tokenSecret, { ttlSeconds: 60, sub }));
        sockets.push(w);
        const seen: Array<[string, unknown]> = [];
        w.onAny((event: string, payload: unknown) => seen.push([event, payload]));
        await connected(w);
        const beat = setInterval(() => w.emit('heartbeat', { metrics: '' }), 200);
        w.on('disconnect', () => clearInterval(beat));
        return { socket: w, seen };
      };
      const a = await worker('analyzer-a');
      await waitFor('h1 given to the first worker', () => s.app.hub.pool.ownerOf('h1')?.sub === 'analyzer-a');
      const patient = rawSocket(s.url, s.token('h1', 'patient', 'pat', { sub: 'pat' }));
      sockets.push(patient);
      await connected(patient);
      expect((await ask(patient, 'join', { room: 'h1' })).ok).toBe(true);
      const alert = { participantId: 'pat', state: 'ALERT', risk: 0.9, reasons: [{ detector: 'face-deepfake', text: 'Face-swap artefacts.', contribution: 0.9 }], gaps: [], since: Date.now(), at: Date.now(), raisedBy: ['face-deepfake'] };
      a.socket.emit('risk', { room: 'h1', update: alert });
      await waitFor('the ALERT at the desk', () => s.app.risk.handBack('h1').length > 0);

      // A liveness check is being observed in the call when it moves.
      const observe = { room: 'h1', participantId: 'pat', challengeId: 'c1', untilMs: Date.now() + 60_000 };
      s.app.hub.observe(observe);
      await waitFor('the first worker observing', () => a.seen.some(([e]) => e === 'observe'));

      const b = await worker('analyzer-b');
      a.socket.disconnect();
      await waitFor('h1 given to the second worker', () => b.seen.some(([e, p]) => e === 'rooms' && (p as string[]).includes('h1')), 15_000);
      const resume = b.seen.findIndex(([e, p]) => e === 'resume' && (p as { room: string }).room === 'h1');
      const rooms = b.seen.findIndex(([e, p]) => e === 'rooms' && (p as string[]).includes('h1'));
      expect(resume, 'a resume message for h1').toBeGreaterThanOrEqual(0);
      expect(resume).toBeLessThan(rooms);
      expect((b.seen[resume]![1] as { subjects: unknown[] }).subjects).toEqual([expect.objectContaining({ participantId: 'pat', state: 'ALERT', raisedBy: ['face-deepfake'] })]);
      // ...and the check goes on with the new worker, told after it was given the call.
      await waitFor('the new worker observing', () => b.seen.some(([e]) => e === 'observe'), 5000);
      expect(b.seen.findIndex(([e]) => e === 'observe')).toBeGreaterThan(rooms);
      expect(b.seen.find(([e]) => e === 'observe')![1]).toEqual(observe);
    } finally {
      for (const x of sockets) x.disconnect();
      await s.close();
    }
  });
});

function startRemote(token: string): ChildProcess {
  return spawn(process.execPath, [MAIN], {
    env: { ...process.env, DFS_SERVER_URL: server.url, DFS_ANALYZER_TOKEN: token, MODELS_DIR: noModels, ANALYZER_HEARTBEAT_MS: '300' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}
