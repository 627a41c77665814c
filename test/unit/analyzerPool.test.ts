/** The pool's bookkeeping (which worker watches which call). Merging workers' metrics: metrics.test.ts. */
import { describe, expect, it } from 'vitest';
import type { WorkerLoad } from '../../server/src/protocol/analyzerChannel.ts';
import { AnalyzerPool, type RoomInfo } from '../../server/src/screening/AnalyzerPool.ts';

const STALL = 3000;
const load = (l: number): WorkerLoad => ({ load: l, cpu: l, cores: 1, streams: 0, rooms: 0, dropped: 0, sampled: 0, lagMs: 0, loopDelayMs: 0 });
const rooms = (...ids: string[]): RoomInfo[] => ids.map((id) => ({ id, people: 0 }));
const busy = (...ids: string[]): RoomInfo[] => ids.map((id) => ({ id, people: 2 }));
const owners = (pool: AnalyzerPool, ids: string[]) => ids.map((r) => pool.ownerOf(r)?.name);

/** Every open call has exactly one live owner, and owners' lists agree with it. */
function assertOnePerCall(pool: AnalyzerPool, open: RoomInfo[]): void {
  for (const r of open) {
    const holders = pool.list().filter((w) => w.rooms.has(r.id));
    expect(holders.length, r.id).toBeLessThanOrEqual(1);
    if (holders[0]) expect(pool.ownerOf(r.id)).toBe(holders[0]);
  }
}

describe('AnalyzerPool', () => {
  it('gives each call to exactly one worker, and spreads a burst of new calls', () => {
    const pool = new AnalyzerPool({ stallMs: STALL });
    pool.add('a', 'w1', 0);
    pool.add('b', 'w2', 0);
    const open = busy('r1', 'r2', 'r3', 'r4');
    const change = pool.reconcile(open, 0);
    assertOnePerCall(pool, open);
    expect(change.assigned).toHaveLength(4);
    expect(pool.get('a')!.rooms.size).toBe(2);
    expect(pool.get('b')!.rooms.size).toBe(2);
    // Nothing changes on the next step.
    expect(pool.reconcile(open, 100).changed.size).toBe(0);
  });

  it('sends a new call to the least-loaded worker by its reported load', () => {
    const pool = new AnalyzerPool({ stallMs: STALL });
    pool.add('a', 'w1', 0);
    pool.add('b', 'w2', 0);
    pool.heartbeat('a', load(0.8), 10);
    pool.heartbeat('b', load(0.2), 10);
    pool.reconcile(busy('r1'), 10);
    expect(pool.ownerOf('r1')?.name).toBe('w2');
    // Each call given counts until the next heartbeat: w2 at 0.2 + 0.1 per call passes w1 at 0.8 after several.
    pool.reconcile(busy('r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8'), 20);
    expect(pool.get('b')!.rooms.size).toBeGreaterThan(pool.get('a')!.rooms.size);
    expect(pool.get('a')!.rooms.size).toBeGreaterThan(0);
  });

  it('does not take workers for stalled over a time the server itself did not run', () => {
    const pool = new AnalyzerPool({ stallMs: STALL });
    pool.add('a', 'w1', 0);
    const open = busy('r1');
    pool.reconcile(open, 0);
    pool.heartbeat('a', load(0.1), 900);
    pool.reconcile(open, 1000);
    // The server's next step comes 15 s late (its machine paused): w1's heartbeats of that time
    // are still unread in the socket, so w1 keeps its call.
    const late = pool.reconcile(open, 16_000);
    expect(late.stalled).toEqual([]);
    expect(pool.ownerOf('r1')?.name).toBe('w1');
    // The silence counts again once the server runs: w1 is stalled by STALL after that.
    expect(pool.reconcile(open, 17_000).stalled).toEqual([]);
    expect(pool.reconcile(open, 16_000 + STALL).stalled.map((w) => w.name)).toEqual(['w1']);
  });

  it('moves a lost or stalled worker\'s calls to a live one, and counts the moves', () => {
    const pool = new AnalyzerPool({ stallMs: STALL });
    pool.add('a', 'w1', 0);
    pool.add('b', 'w2', 0);
    const open = busy('r1', 'r2', 'r3', 'r4');
    pool.reconcile(open, 0);
    const ofA = [...pool.get('a')!.rooms];
    pool.remove('a');
    pool.reconcile(open, 100);
    assertOnePerCall(pool, open);
    expect(owners(pool, ofA)).toEqual(ofA.map(() => 'w2'));
    expect(pool.moves).toBe(2);

    // w3 joins; w2 then falls silent: its calls (all busy, so none moved to w3 on joining) go to w3.
    pool.add('c', 'w3', 200);
    pool.heartbeat('b', load(0.1), 200);
    pool.reconcile(open, 300);
    expect(pool.get('c')!.rooms.size).toBe(0);
    // The hub's one-second steps, w3 heartbeating and w2 not.
    for (let t = 1300; t < 3300; t += 1000) {
      pool.heartbeat('c', load(0.1), t);
      expect(pool.reconcile(open, t).stalled).toEqual([]);
    }
    pool.heartbeat('c', load(0.1), 3300);
    const change = pool.reconcile(open, 3300);
    expect(change.stalled.map((w) => w.name)).toEqual(['w2']);
    expect(change.released.map((r) => r.room).sort()).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(owners(pool, ['r1', 'r2', 'r3', 'r4'])).toEqual(['w3', 'w3', 'w3', 'w3']);
    assertOnePerCall(pool, open);
    expect(pool.moves).toBe(6);
    // It comes back: live again, with no calls until given some.
    pool.heartbeat('b', load(0.1), 3400);
    pool.reconcile(open, 3400);
    expect(pool.get('b')!.live).toBe(true);
    expect(pool.get('b')!.rooms.size).toBe(0);
  });

  it('leaves calls unowned while no worker is live, and gives them out when one arrives', () => {
    const pool = new AnalyzerPool({ stallMs: STALL });
    expect(pool.reconcile(rooms('r1', 'r2'), 0).assigned).toEqual([]);
    pool.add('a', 'w1', 10);
    pool.reconcile(rooms('r1', 'r2'), 10);
    expect(owners(pool, ['r1', 'r2'])).toEqual(['w1', 'w1']);
  });

  it('spreads empty calls to a new worker but leaves calls with people where they are', () => {
    const pool = new AnalyzerPool({ stallMs: STALL });
    pool.add('a', 'w1', 0);
    const open = [...busy('b1', 'b2'), ...rooms('e1', 'e2', 'e3', 'e4')];
    pool.reconcile(open, 0);
    pool.add('b', 'w2', 10);
    const change = pool.reconcile(open, 10);
    assertOnePerCall(pool, open);
    expect(owners(pool, ['b1', 'b2'])).toEqual(['w1', 'w1']);
    expect(pool.get('b')!.rooms.size).toBe(3);
    expect(change.assigned.every((a) => a.from?.name === 'w1')).toBe(true);
  });

  it('forgets closed calls, and names workers that share a token apart', () => {
    const pool = new AnalyzerPool({ stallMs: STALL });
    const a = pool.add('a', 'remote', 0);
    const b = pool.add('b', 'remote', 0);
    expect([a.name, b.name]).toEqual(['remote', 'remote-2']);
    pool.reconcile(busy('r1', 'r2'), 0);
    const change = pool.reconcile(busy('r2'), 10);
    expect(pool.ownerOf('r1')).toBeUndefined();
    expect([...a.rooms, ...b.rooms]).toEqual(['r2']);
    expect(change.changed.size).toBe(1);
  });
});
