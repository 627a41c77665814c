/**
 * The server's side of the analyzer pool (screening/AnalyzerHub.ts) over a fake socket.io namespace
 * and room registry, with fake timers: what the hub tells each worker, and when a worker leaves the
 * pool. The pool's bookkeeping alone is in analyzerPool.test.ts; real sockets and processes in
 * test/integration/pool.test.ts.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { issueServiceToken } from '../../server/src/auth/token.ts';
import { AnalyzerHub } from '../../server/src/screening/AnalyzerHub.ts';

const SECRET = 'hub-test-secret-0123456789abcdef0123456789abcdef';
const STALL_MS = 3000;
const LOAD = { load: 0.1, cpu: 0.1, cores: 1, streams: 0, rooms: 0, dropped: 0, sampled: 0, lagMs: 0, loopDelayMs: 0 };

class FakeSocket {
  data: Record<string, unknown> = {};
  connected = true;
  readonly handlers = new Map<string, (p?: unknown) => void>();
  readonly sent: Array<[string, unknown]> = [];
  readonly id: string;
  readonly handshake: { auth: { token: string } };
  constructor(id: string, token: string) {
    this.id = id;
    this.handshake = { auth: { token } };
  }
  on(e: string, fn: (p?: unknown) => void): this {
    this.handlers.set(e, fn);
    return this;
  }
  emit(e: string, p: unknown): boolean {
    this.sent.push([e, p]);
    return true;
  }
  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    this.fire('disconnect');
  }
  fire(e: string, p?: unknown): void {
    this.handlers.get(e)?.(p);
  }
  lastRooms(): unknown {
    return [...this.sent].reverse().find(([e]) => e === 'rooms')?.[1];
  }
  resumes(): unknown[] {
    return this.sent.filter(([e]) => e === 'resume').map(([, p]) => p);
  }
}

function harness() {
  let middleware: ((s: FakeSocket, next: (err?: unknown) => void) => void) | undefined;
  let onConnection: ((s: FakeSocket) => void) | undefined;
  const nsp = {
    use: (f: typeof middleware) => void (middleware = f),
    on: (_e: string, f: typeof onConnection) => void (onConnection = f),
    disconnectSockets: () => {},
  };
  type FakeRoom = { id: string; people: number; get: (id: string) => unknown; remove: () => void; toPrivileged: () => void; list: () => never[] };
  const rooms = new Map<string, FakeRoom>();
  const registry = Object.assign(new EventEmitter(), { list: () => [...rooms.values()], get: (id: string) => rooms.get(id) });
  const open = (id: string) => {
    rooms.set(id, { id, people: 2, get: () => undefined, remove: () => {}, toPrivileged: () => {}, list: () => [] });
    registry.emit('opened', id);
  };
  const hub = new AnalyzerHub({ of: () => nsp } as never, { tokenSecret: SECRET, registry: registry as never, stallMs: STALL_MS, expected: true });
  let n = 0;
  const connect = (token: string): FakeSocket => {
    const s = new FakeSocket(`s${++n}`, token);
    let refused: unknown;
    middleware!(s, (err) => (refused = err));
    if (refused) throw refused as Error;
    onConnection!(s);
    return s;
  };
  return { hub, connect, open };
}

afterEach(() => vi.useRealTimers());

describe('analyzer hub', () => {
  it('a heartbeat whose load report has a field this server does not know keeps the worker live (an analyzer of another version)', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { hub, connect, open } = harness();
    const stalled: string[] = [];
    hub.on('stalled', (sub) => stalled.push(sub));
    const s = connect(issueServiceToken(SECRET, { ttlSeconds: 3600, sub: 'gpu1' }));
    open('r1');
    for (let t = 0; t < 3 * STALL_MS; t += 300) {
      vi.advanceTimersByTime(300);
      s.fire('heartbeat', { metrics: [], load: { ...LOAD, gpu: 0.5 } });
    }
    expect(stalled).toEqual([]);
    expect(hub.pool.ownerOf('r1')?.name).toBe('gpu1');
    expect(hub.status.available).toBe(true);
  });

  it('a worker flooding heartbeats has the excess dropped unread and counted, and stays live on the beats let through', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { hub, connect, open } = harness();
    const stalled: string[] = [];
    hub.on('stalled', (sub) => stalled.push(sub));
    const s = connect(issueServiceToken(SECRET, { ttlSeconds: 3600, sub: 'loop' }));
    open('r1');
    const read = vi.spyOn(hub.pool, 'heartbeat');
    // 1000 beats a second for 3 stall periods: a worker stuck in a loop.
    for (let t = 0; t < 3 * STALL_MS; t += 10) {
      vi.advanceTimersByTime(10);
      for (let i = 0; i < 10; i++) s.fire('heartbeat', { metrics: [], load: LOAD });
    }
    const seconds = (3 * STALL_MS) / 1000;
    expect(read.mock.calls.length).toBeGreaterThanOrEqual(10 * seconds);
    expect(read.mock.calls.length).toBeLessThanOrEqual(20 + 10 * seconds + 1);
    expect(stalled).toEqual([]);
    expect(hub.pool.ownerOf('r1')?.name).toBe('loop');
    const own = (await hub.analyzerMetrics())[0]!;
    const dropped = own.metrics.find((x) => x.name === 'dfs_analyzer_heartbeats_dropped_total');
    expect(dropped?.values[0]?.value).toBe(10 * 100 * seconds - read.mock.calls.length);
  });

  it('a worker beating at the fastest setting (every 100 ms, in bursts after a pause) loses no heartbeat', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { hub, connect } = harness();
    const s = connect(issueServiceToken(SECRET, { ttlSeconds: 3600, sub: 'fast' }));
    const read = vi.spyOn(hub.pool, 'heartbeat');
    let sent = 0;
    for (let t = 0; t < 5000; t += 100) {
      vi.advanceTimersByTime(100);
      s.fire('heartbeat', { metrics: [], load: LOAD });
      sent++;
    }
    // A 2 s pause (a VM snapshot, a GC), then its 20 queued beats at once.
    vi.advanceTimersByTime(2000);
    for (let i = 0; i < 20; i++, sent++) s.fire('heartbeat', { metrics: [], load: LOAD });
    expect(read).toHaveBeenCalledTimes(sent);
  });

  it('a worker whose service token expires is disconnected, and its calls go to a worker that can still join them', () => {
    vi.useFakeTimers({ now: 1_000_000_000 });
    const { hub, connect, open } = harness();
    const short = connect(issueServiceToken(SECRET, { ttlSeconds: 60, sub: 'gpu1' }));
    open('r1');
    expect(hub.pool.ownerOf('r1')?.sub).toBe('gpu1');
    const long = connect(issueServiceToken(SECRET, { ttlSeconds: 3600, sub: 'gpu2' }));
    for (let t = 0; t < 120_000; t += 1000) {
      vi.advanceTimersByTime(1000);
      if (short.connected) short.fire('heartbeat', { metrics: [], load: LOAD });
      long.fire('heartbeat', { metrics: [], load: LOAD });
    }
    expect(short.connected).toBe(false);
    expect(hub.pool.ownerOf('r1')?.sub).toBe('gpu2');
    expect(hub.mayJoin('gpu1', 'r1')).toBe(false);
    expect(long.lastRooms()).toEqual(['r1']);
  });

  it('the same analyzer connecting again (its old connection half-open) takes its calls over at once; the old connection is closed', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { hub, connect, open } = harness();
    const token = issueServiceToken(SECRET, { ttlSeconds: 3600, sub: 'gpu1' });
    const old = connect(token);
    open('r1');
    expect(old.lastRooms()).toEqual(['r1']);
    vi.advanceTimersByTime(500);
    const again = connect(token);
    expect(old.connected).toBe(false);
    expect(hub.pool.ownerOf('r1')?.id).toBe(again.id);
    expect(again.lastRooms()).toEqual(['r1']);
    expect(hub.pool.list().map((w) => w.id)).toEqual([again.id]);
  });

  it('the call\'s worker joining the call gets its raised states again (a hand-back sent at assignment can be lost with a session it was still leaving); another analyzer does not', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { hub, connect, open } = harness();
    const alert = { participantId: 'p1', state: 'ALERT' as const, risk: 0.9, since: 999_000, raisedBy: ['face-deepfake'] };
    hub.setHandBackSource((room) => (room === 'r1' ? [alert] : []));
    const s = connect(issueServiceToken(SECRET, { ttlSeconds: 3600, sub: 'gpu1' }));
    open('r1');
    expect(s.resumes()).toEqual([{ room: 'r1', subjects: [alert] }]);
    hub.analyzerJoined('gpu1', 'r1');
    expect(s.resumes()).toHaveLength(2);
    hub.analyzerJoined('gpu2', 'r1');
    expect(s.resumes()).toHaveLength(2);
  });
});
