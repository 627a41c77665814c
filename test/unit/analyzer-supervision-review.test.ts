/**
 * Review of 2026-12-03, analyzer supervision (processes and pool): each test below failed on
 * the code it was written against, for the reason in its name.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AnalyzerPool, type RoomInfo } from '../../server/src/screening/AnalyzerPool.ts';

/** How the mocked spawn behaves for its next calls: 'fail' runs a binary that does not exist. */
const spawnPlan: Array<'fail' | 'real'> = [];
vi.mock('node:child_process', async (importActual) => {
  const actual = await importActual<typeof import('node:child_process')>();
  return {
    ...actual,
    spawn: (cmd: string, args: string[], opts: object) => (spawnPlan.shift() === 'fail' ? actual.spawn('/nonexistent/dfs-review-node', args, opts) : actual.spawn(cmd, args, opts)),
  };
});

const { AnalyzerProcess } = await import('../../server/src/screening/AnalyzerProcess.ts');

const dir = mkdtempSync(join(tmpdir(), 'dfs-review-proc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const busy = (...ids: string[]): RoomInfo[] => ids.map((id) => ({ id, people: 2 }));

describe('review: pool dispatch', () => {
  it('calls that closed long ago do not count as load on a worker that reports none (an older analyzer)', () => {
    const pool = new AnalyzerPool({ stallMs: 3000 });
    pool.add('a', 'w1', 0);
    // w1 alone watched ten calls, which have all ended; it never reports a load (older analyzer).
    const first = busy('o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9', 'o10');
    pool.reconcile(first, 0);
    pool.heartbeat('a', undefined, 100);
    pool.reconcile([], 100);
    expect(pool.get('a')!.rooms.size).toBe(0);
    pool.add('b', 'w2', 100);
    pool.heartbeat('a', undefined, 200);
    pool.heartbeat('b', undefined, 200);
    // Six new calls, both workers idle and watching nothing: they share them.
    pool.reconcile(busy('n1', 'n2', 'n3', 'n4', 'n5', 'n6'), 200);
    expect([pool.get('a')!.rooms.size, pool.get('b')!.rooms.size]).toEqual([3, 3]);
  });
});

describe('review: analyzer process supervision', () => {
  it('a child that cannot be spawned (EAGAIN, EMFILE, ENOENT: error, no exit) is retried with backoff, and stop() still returns', async () => {
    const entry = join(dir, 'idle-child.mjs');
    writeFileSync(entry, "process.on('disconnect', () => process.exit(0)); setInterval(() => {}, 1000);\n");
    spawnPlan.push('fail');
    const p = new AnalyzerProcess({ serverUrl: 'http://127.0.0.1:1', token: () => 'token-0123456789', entry, renewMs: 60_000 });
    p.start();
    const restarted = await until('a restart', () => p.restarts >= 1 && p.pid !== undefined, 5000).then(
      () => 'restarted',
      () => 'never restarted',
    );
    const stopped = await Promise.race([p.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('stop() hung'), 4000))]);
    expect({ restarted, stopped }).toEqual({ restarted: 'restarted', stopped: 'stopped' });
  });
});

describe('review: analyzer process watchdogs', () => {
  it('a child that hangs during start-up (never connects to the pool) is killed and restarted; one that connected is left alone', async () => {
    const entry = join(dir, 'hung-child.mjs');
    // Stuck before it ever connects (a model load or a GPU init that never returns), deaf to SIGTERM.
    writeFileSync(entry, "process.on('SIGTERM', () => {}); process.on('disconnect', () => {}); setInterval(() => {}, 1000);\n");
    const opts = { serverUrl: 'http://127.0.0.1:1', token: () => 'token-0123456789', entry, renewMs: 60_000, readyTimeoutMs: 300 };
    const hung = new AnalyzerProcess(opts);
    const fine = new AnalyzerProcess({ ...opts, name: 'fine' });
    hung.start();
    fine.start();
    const firstPid = hung.pid;
    (fine as unknown as { ready?: () => void }).ready?.();
    try {
      const restarted = await until('the hung child to be restarted', () => hung.restarts >= 1 && hung.pid !== undefined && hung.pid !== firstPid, 4000).then(
        () => true,
        () => false,
      );
      expect({ hungRestarted: restarted, fineRestarts: fine.restarts }).toEqual({ hungRestarted: true, fineRestarts: 0 });
    } finally {
      await Promise.all([hung.stop(), fine.stop()]);
    }
  });

  it('a child whose memory grows past the limit is killed and restarted', async () => {
    const entry = join(dir, 'leaky-child.mjs');
    // Leaks 16 MB every 50 ms, up to 400 MB (a leak, but a polite one on a shared test machine).
    writeFileSync(entry, "const keep = []; process.on('disconnect', () => process.exit(0)); const t = setInterval(() => { keep.push(Buffer.alloc(16 << 20, 1)); if (keep.length >= 25) clearInterval(t); }, 50); setInterval(() => {}, 1000);\n");
    const p = new AnalyzerProcess({ serverUrl: 'http://127.0.0.1:1', token: () => 'token-0123456789', entry, renewMs: 60_000, memoryLimitMb: 128, memoryCheckMs: 100 });
    p.start();
    try {
      const killed = await until('the leaking child to be restarted', () => p.restarts >= 1, 5000).then(
        () => true,
        () => false,
      );
      expect(killed).toBe(true);
    } finally {
      await p.stop();
    }
  });
});
