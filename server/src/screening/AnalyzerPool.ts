/**
 * Which analyzer worker watches which call. Every analyzer that connects with a service token
 * (the server's own worker processes, and remote ones on other hosts) is one worker of the pool;
 * each open call is given to exactly one live worker, so no call is analysed twice and adding a
 * worker adds capacity (before the pool, every analyzer watched every call).
 *
 * - A new call goes to the live worker with the lowest reported load (its heartbeat: CPU over its
 *   core budget, dropped samples, event-loop delay), as LiveKit Agents dispatch jobs. Between
 *   heartbeats each call just given counts as an estimated share of load, so a burst of new calls
 *   spreads instead of landing on one worker.
 * - A call whose worker disconnects or stalls (no heartbeat for stallMs) moves to a live worker at
 *   once, on the next reconcile (the hub runs one every second and on every change).
 * - Calls with people in them stay where they are when a worker joins (moving one restarts its
 *   detectors' windows); calls with nobody analysed in them are cheap to move and are spread so
 *   that no worker holds two more of them than another.
 *
 * Pure bookkeeping, no sockets: the hub does the talking, so this is tested on its own.
 */

import type { WorkerLoad } from '../protocol/analyzerChannel.ts';

/** The hub reconciles at least this often (AnalyzerHub's timer). */
export const RECONCILE_EVERY_MS = 1000;
/** A reconcile this much later than RECONCILE_EVERY_MS means the server itself did not run. */
const SERVER_PAUSE_MS = 1000;

/** Load a call adds to a worker until its next heartbeat says how much it really costs. */
const LOAD_PER_NEW_CALL = 0.1;
/** Loads closer than this count as equal, and the worker with fewer calls wins. */
const LOAD_TIE = 0.05;

export interface PoolWorker {
  /** The control connection (socket id). */
  readonly id: string;
  /** The service token's subject: the worker's participant id in each call is `${sub}:${room}`. */
  readonly sub: string;
  /** Unique among workers: sub, with a suffix when several workers share one token. */
  readonly name: string;
  readonly connectedAt: number;
  lastSeen: number;
  load: WorkerLoad | undefined;
  /** Load estimated for calls given since the last heartbeat. */
  pending: number;
  readonly rooms: Set<string>;
  live: boolean;
  /** Calls moved away from this worker because it stalled or left. */
  movedAway: number;
}

export interface RoomInfo {
  id: string;
  /** People in the call (the analyzer not counted); 0 means nothing to lose by moving it. */
  people: number;
}

export interface PoolChange {
  /** Workers whose call list changed, to be sent their new list. */
  changed: Set<PoolWorker>;
  /** Calls given to a worker that did not have them: worker, room, and the worker it left (if any). */
  assigned: Array<{ worker: PoolWorker; room: string; from?: PoolWorker }>;
  /** Workers that went from live to stalled in this step. */
  stalled: PoolWorker[];
  /** Calls taken from a stalled worker: its hidden participant in them must go. */
  released: Array<{ worker: PoolWorker; room: string }>;
}

export class AnalyzerPool {
  private readonly workers = new Map<string, PoolWorker>();
  private readonly owner = new Map<string, PoolWorker>();
  private readonly stallMs: number;
  /** Calls moved to another worker because theirs stalled or left, for /metrics. */
  moves = 0;
  /** Calls whose worker was lost, not yet given to another. */
  private readonly orphaned = new Set<string>();
  private lastReconcile: number | undefined;

  constructor(opts: { stallMs: number }) {
    this.stallMs = opts.stallMs;
  }

  add(id: string, sub: string, now: number): PoolWorker {
    const names = new Set([...this.workers.values()].map((w) => w.name));
    let name = sub;
    for (let i = 2; names.has(name); i++) name = `${sub}-${i}`;
    const w: PoolWorker = { id, sub, name, connectedAt: now, lastSeen: now, load: undefined, pending: 0, rooms: new Set(), live: true, movedAway: 0 };
    this.workers.set(id, w);
    return w;
  }

  /** The worker left: its calls are orphaned until the next reconcile gives them to another. */
  remove(id: string): PoolWorker | undefined {
    const w = this.workers.get(id);
    if (!w) return undefined;
    this.workers.delete(id);
    for (const room of w.rooms) {
      if (this.owner.get(room) === w) this.owner.delete(room);
      this.orphaned.add(room);
    }
    w.movedAway += w.rooms.size;
    w.live = false;
    return w;
  }

  heartbeat(id: string, load: WorkerLoad | undefined, now: number): void {
    const w = this.workers.get(id);
    if (!w) return;
    w.lastSeen = now;
    if (load) {
      w.load = load;
      w.pending = 0;
    }
  }

  get(id: string): PoolWorker | undefined {
    return this.workers.get(id);
  }

  list(): PoolWorker[] {
    return [...this.workers.values()];
  }

  ownerOf(room: string): PoolWorker | undefined {
    return this.owner.get(room);
  }

  liveCount(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.live) n++;
    return n;
  }

  /**
   * Brings assignments in line with the open calls and the workers' health: closed calls are
   * dropped, stalled workers lose theirs, orphaned and new calls go to the least-loaded live
   * worker, and empty calls are spread evenly.
   */
  reconcile(rooms: RoomInfo[], now: number): PoolChange {
    const change: PoolChange = { changed: new Set(), assigned: [], stalled: [], released: [] };
    // Time the server itself did not run (its process or machine paused, its event loop blocked)
    // does not count against the workers: the heartbeats sent meanwhile wait unread in its socket
    // buffers, and timers run before I/O, so without this a pause longer than stallMs (15 s of a
    // whole machine, seen in CI on 3 Dec 2026) ends with every worker taken for stalled and killed
    // the moment the server runs again, and a liveness check under way with it.
    const late = this.lastReconcile === undefined ? 0 : now - this.lastReconcile - RECONCILE_EVERY_MS;
    if (late >= SERVER_PAUSE_MS) for (const w of this.workers.values()) w.lastSeen = Math.min(now, w.lastSeen + late);
    this.lastReconcile = now;
    const open = new Map(rooms.map((r) => [r.id, r]));
    for (const room of this.orphaned) if (!open.has(room)) this.orphaned.delete(room);
    for (const w of this.workers.values()) {
      const live = now - w.lastSeen <= this.stallMs;
      if (w.live && !live) {
        w.live = false;
        change.stalled.push(w);
        if (w.rooms.size) change.changed.add(w);
        w.movedAway += w.rooms.size;
        for (const room of w.rooms) {
          this.owner.delete(room);
          this.orphaned.add(room);
          change.released.push({ worker: w, room });
        }
        w.rooms.clear();
      } else if (!w.live && live) {
        // Heartbeats again (it was only slow): back in the pool, with no calls until given some.
        w.live = true;
      }
      for (const room of w.rooms) {
        if (!open.has(room)) {
          w.rooms.delete(room);
          this.owner.delete(room);
          change.changed.add(w);
        }
      }
    }
    for (const r of rooms) {
      if (this.owner.has(r.id)) continue;
      const w = this.pick();
      if (!w) break;
      this.give(w, r.id, change);
    }
    this.spreadIdle(open, change);
    return change;
  }

  /** The live worker to give a new call to: lowest load, then fewest calls, then the oldest. */
  private pick(): PoolWorker | undefined {
    let best: PoolWorker | undefined;
    for (const w of this.workers.values()) {
      if (!w.live) continue;
      if (!best) {
        best = w;
        continue;
      }
      const d = this.effectiveLoad(w) - this.effectiveLoad(best);
      if (d < -LOAD_TIE || (Math.abs(d) <= LOAD_TIE && (w.rooms.size < best.rooms.size || (w.rooms.size === best.rooms.size && w.connectedAt < best.connectedAt)))) best = w;
    }
    return best;
  }

  private effectiveLoad(w: PoolWorker): number {
    // Only calls it still has: one that closed or moved since costs nothing (a worker that reports no
    // load never resets `pending`, which would otherwise count every call it ever had).
    return (w.load?.load ?? 0) + Math.min(w.pending, w.rooms.size * LOAD_PER_NEW_CALL);
  }

  private give(w: PoolWorker, room: string, change: PoolChange, from?: PoolWorker): void {
    w.rooms.add(room);
    w.pending += LOAD_PER_NEW_CALL;
    if (this.orphaned.delete(room)) this.moves++;
    this.owner.set(room, w);
    change.changed.add(w);
    change.assigned.push({ worker: w, room, ...(from ? { from } : {}) });
  }

  /** Moves calls nobody is in from the busiest worker to the idlest until they differ by one at most. */
  private spreadIdle(open: Map<string, RoomInfo>, change: PoolChange): void {
    const live = [...this.workers.values()].filter((w) => w.live);
    if (live.length < 2) return;
    for (let guard = 0; guard < 10_000; guard++) {
      live.sort((a, b) => a.rooms.size - b.rooms.size);
      const least = live[0]!;
      const most = live[live.length - 1]!;
      if (most.rooms.size - least.rooms.size <= 1) return;
      const idle = [...most.rooms].find((id) => (open.get(id)?.people ?? 0) === 0);
      if (idle === undefined) return;
      most.rooms.delete(idle);
      change.changed.add(most);
      this.give(least, idle, change, most);
    }
  }
}
