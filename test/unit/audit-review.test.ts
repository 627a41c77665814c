/**
 * Review of the audit trail (audit/, RiskDesk's and ChallengeDesk's writes, the dashboard's view of
 * a reused room): each test is a hole found in review, with the desks driven directly on a real
 * RoomRegistry over a fake SFU, a fake analyzer hub, and a real (file or in-memory) audit log.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/src/audit/AuditLog.ts';
import { buildCaseRecord } from '../../server/src/audit/CaseRecord.ts';
import { DashboardServer } from '../../server/src/dashboard/DashboardServer.ts';
import type { ChallengeView } from '../../server/src/protocol/challenge.ts';
import type { RiskAlert, RiskUpdate } from '../../server/src/protocol/messages.ts';
import type { Participant } from '../../server/src/signaling/CallRoom.ts';
import { RoomRegistry } from '../../server/src/signaling/RoomRegistry.ts';
import { ChallengeDesk } from '../../server/src/screening/ChallengeDesk.ts';
import { RiskDesk } from '../../server/src/screening/RiskDesk.ts';

class FakePeer extends EventEmitter { close() {} }
const engine = { createRoom: () => ({ createPeer: () => new FakePeer(), close() {} }) } as never;

class FakeHub extends EventEmitter {
  status = { available: true };
  source: (room: string) => unknown[] = () => [];
  setHandBackSource(s: (room: string) => unknown[]) {
    this.source = s;
  }
  sendIntegrity() {}
  resume() {}
  observe() {}
  unobserve() {}
  sendChallengeResult() {}
}

const dirs: string[] = [];
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) {
    try {
      c();
    } catch {
      // already closed
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-review-audit-'));
  dirs.push(dir);
  return join(dir, 'audit.sqlite');
}

function rig(opts: { persistentRooms?: string[]; path?: string } = {}) {
  const registry = new RoomRegistry(engine, { maxParticipants: 10, persistentRooms: opts.persistentRooms ?? [] });
  const hub = new FakeHub();
  const audit = new AuditLog(opts.path ?? ':memory:');
  cleanup.push(() => audit.close());
  const desk = new RiskDesk(registry, hub as never, audit);
  const checks = new ChallengeDesk(registry, hub as never, audit, { callIdOf: (room) => desk.callId(room) });
  const got = new Map<string, Array<[string, unknown]>>();
  const join = (roomId: string, id: string, role: Participant['role']) => {
    const room = registry.admit(roomId, id, role as never);
    const prev = room.get(id);
    if (prev) room.remove(prev);
    const events: Array<[string, unknown]> = [];
    got.set(id, events);
    return room.add({ id, name: id, role, channel: { emit: (e: string, a: unknown) => { events.push([e, a]); return true; } } as never });
  };
  const risk = (room: string, participantId: string, state: RiskUpdate['state']) =>
    hub.emit('risk', room, { participantId, state, risk: state === 'ALERT' ? 0.9 : 0.1, reasons: [{ detector: 'face-deepfake', text: 'x', contribution: 0.9, score: 0.95 }], gaps: [], since: Date.now(), at: Date.now(), ...(state === 'ALERT' ? { raisedBy: ['face-deepfake'] } : {}) });
  return { registry, hub, audit, desk, checks, got, join, risk };
}

function board(r: ReturnType<typeof rig>, challenges: EventEmitter) {
  const io = { of: () => ({ use() {}, on() {}, emit() {}, sockets: new Map(), disconnectSockets() {} }) } as never;
  const b = new DashboardServer(io, { tokenSecret: 'x'.repeat(32), registry: r.registry, risk: r.desk, challenges: challenges as never });
  cleanup.push(() => b.close());
  return b;
}

describe('review: the audit trail of a call', () => {
  it('a call ended with people still in it (host ends it, or the server shuts down) records when each of them left', () => {
    const r = rig();
    r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat', 'patient');
    const callId = r.desk.callId('r1')!;
    r.registry.close('r1', 'doc ended the call.');
    const rec = buildCaseRecord(r.audit, callId)!;
    expect(rec.ongoing).toBe(false);
    // A closed call cannot have anyone "still in the call", and the chronology has their leaving.
    expect(rec.participants.map((p) => ({ id: p.id, left: p.leftAt !== null }))).toEqual([
      { id: 'doc', left: true },
      { id: 'pat', left: true },
    ]);
    expect(rec.events.filter((e) => e.kind === 'left').map((e) => e.participantId).sort()).toEqual(['doc', 'pat']);
  });

  it('a liveness check cut short by the end of the call keeps its verdict in that call\'s record', () => {
    const r = rig();
    const doc = r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat', 'patient');
    const callId = r.desk.callId('r1')!;
    r.checks.start(r.registry.get('r1')!, doc, 'pat');
    r.registry.close('r1', 'doc ended the call.');
    expect(r.audit.callChallenges(callId).map((c) => ({ participantId: c.participantId, result: c.result }))).toEqual([{ participantId: 'pat', result: 'INCONCLUSIVE' }]);
  });

  it('a call a crash left open is closed no earlier than its last recorded acknowledgement or liveness check', () => {
    const path = dbPath();
    const before = new AuditLog(path);
    const call = before.openCall('ward', 1000);
    before.participantJoined(call, { id: 'doc', role: 'clinician', name: 'Dr' }, 1100);
    before.participantJoined(call, { id: 'pat', role: 'patient', name: 'Pat' }, 1200);
    const alert: RiskAlert = { id: 'a1', participantId: 'pat', participantName: 'Pat', risk: 0.9, reasons: [], at: 2000 };
    before.alertRaised(call, alert);
    before.alertAcknowledged('a1', { id: 'doc', role: 'clinician', name: 'Dr' }, 'called back', 3000);
    const check: ChallengeView = { id: 'c1', participantId: 'pat', participantName: 'Pat', requestedBy: 'Dr', state: 'PASSED', steps: [], reasons: ['ok'], startedAt: 3500, endedAt: 4000 } as never;
    before.challengeFinished(call, check);
    // No close(): the process died.
    const after = new AuditLog(path);
    cleanup.push(() => after.close(), () => before.close());
    expect(after.closedAtStart).toBe(1);
    const rec = buildCaseRecord(after, call)!;
    expect({ closedAt: rec.closedAt, durationMs: rec.durationMs, lastEventAt: rec.events.at(-1)!.at }).toEqual({ closedAt: 4000, durationMs: 3000, lastEventAt: 4000 });
  });

  it('an audit database that refuses writes (locked, disk full) does not stop people joining nor the clinician getting the alert, and is reported', () => {
    const path = dbPath();
    const r = rig({ path });
    r.join('r1', 'doc', 'clinician');
    // Another process holds the write lock (a VACUUM, a stuck tool): every write fails.
    const other = new DatabaseSync(path);
    cleanup.push(() => other.close());
    other.exec('BEGIN EXCLUSIVE');
    cleanup.unshift(() => other.exec('ROLLBACK'));
    expect(() => r.join('r1', 'pat', 'patient')).not.toThrow();
    expect(() => r.risk('r1', 'pat', 'ALERT')).not.toThrow();
    expect(r.got.get('doc')!.filter(([e]) => e === 'risk.alert')).toHaveLength(1);
    expect(r.audit.health()).toMatchObject({ ok: false });
  }, 20_000);

  it('a write that meets a lock held for a moment waits for it, rather than losing the record', async () => {
    const path = dbPath();
    const audit = new AuditLog(path);
    cleanup.push(() => audit.close());
    const call = audit.openCall('ward', 1000);
    // Another process holds the write lock for 200 ms (a checkpoint, an admin's sqlite3 shell).
    const holder = spawn(process.execPath, ['-e', `
      const { DatabaseSync } = require('node:sqlite');
      const db = new DatabaseSync(${JSON.stringify(path)});
      db.exec('BEGIN EXCLUSIVE');
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 200);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    let error: string | undefined;
    try {
      audit.stateChanged(call, { participantId: 'pat', state: 'ALERT', risk: 0.9, reasons: [], gaps: [], since: 1500, at: 1500 } as never);
    } catch (err) {
      error = (err as Error).message;
    }
    await new Promise((resolve) => holder.once('exit', resolve));
    expect({ error, states: audit.callStates(call).length }).toEqual({ error: undefined, states: 1 });
  });

  it('an analyzer whose clock runs ahead of the server\'s does not put an alert after its own acknowledgement in the record', () => {
    const r = rig();
    r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat', 'patient');
    const callId = r.desk.callId('r1')!;
    // The analyzer (another host, ANALYZER=external) stamps its verdicts a minute ahead.
    const ahead = Date.now() + 60_000;
    r.hub.emit('risk', 'r1', { participantId: 'pat', state: 'ALERT', risk: 0.9, reasons: [{ detector: 'face-deepfake', text: 'x', contribution: 0.9, score: 0.95 }], gaps: [], since: ahead, at: ahead, raisedBy: ['face-deepfake'] });
    const alert = r.desk.alerts('r1')[0]!;
    r.desk.acknowledge('r1', { id: 'doc', name: 'doc', role: 'clinician' }, alert.id, 'seen');
    r.registry.close('r1', 'doc ended the call.');
    const rec = buildCaseRecord(r.audit, callId)!;
    const kinds = rec.events.map((e) => e.kind);
    expect(kinds.indexOf('alert')).toBeLessThan(kinds.indexOf('acknowledged'));
    expect(rec.events.every((e) => e.at >= rec.openedAt && e.at <= rec.closedAt!)).toBe(true);
  });

  it('the next sitting in a persistent room does not show the previous call\'s liveness check on the dashboard', () => {
    const r = rig({ persistentRooms: ['north'] });
    const b = board(r, r.checks);
    const doc = r.join('north', 'doc', 'clinician');
    r.join('north', 'pat', 'patient');
    r.checks.start(r.registry.get('north')!, doc, 'pat');
    const room = r.registry.get('north')!;
    room.remove(room.get('pat')!);
    room.remove(room.get('doc')!); // everyone left: call 1 is over
    r.join('north', 'doc2', 'clinician');
    r.join('north', 'pat2', 'patient');
    const s = b.summary(room);
    expect({ callChanged: s.callId !== undefined, challengeOf: s.challenge?.participantName ?? null }).toEqual({ callChanged: true, challengeOf: null });
  });
});
