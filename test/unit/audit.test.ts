/**
 * The audit log's integrity (issue 13, item 14): acknowledgements are append-only, the file is
 * created 0600 (and SQLite's -wal/-shm with it), calls a crash left open are closed at the next
 * start, and health() notices a deleted or replaced file.
 */
import { chmodSync, copyFileSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/src/audit/AuditLog.ts';
import type { RiskAlert } from '../../server/src/protocol/messages.ts';

const dirs: string[] = [];
const logs: AuditLog[] = [];
function fresh(): { path: string; open: () => AuditLog } {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-audit-'));
  dirs.push(dir);
  const path = join(dir, 'data', 'audit.sqlite');
  return {
    path,
    open: () => {
      const log = new AuditLog(path);
      logs.push(log);
      return log;
    },
  };
}

afterEach(() => {
  for (const l of logs.splice(0)) {
    try {
      l.close();
    } catch {
      // already closed
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const alert = (id: string, at: number): RiskAlert => ({ id, participantId: 'pat', participantName: 'Pat', risk: 0.9, reasons: [], at });

describe('audit log', () => {
  it('keeps every acknowledgement: a second one adds a row and never overwrites or erases the first', () => {
    const audit = fresh().open();
    const call = audit.openCall('room', 1000);
    audit.alertRaised(call, alert('a1', 1100));
    audit.alertShown('a1', { id: 'doc', role: 'clinician' }, 1100);
    expect(audit.alertAcknowledged('a1', { id: 'doc', role: 'clinician', name: 'Dr Who' }, 'Asked for ID.', 1200)).toBe(true);
    expect(audit.alertAcknowledged('a1', { id: 'doc', role: 'clinician', name: 'Dr Who' }, undefined, 1300)).toBe(true);
    expect(audit.alertAcknowledged('a1', { id: 'sam', role: 'supervisor', name: 'Sam' }, 'Fine.', 1400)).toBe(true);
    expect(audit.alertAcknowledged('nope', { id: 'doc', role: 'clinician', name: 'Dr Who' }, 'x')).toBe(false);
    expect(audit.alertAcks('a1')).toEqual([
      { viewerId: 'doc', viewerRole: 'clinician', viewerName: 'Dr Who', at: 1200, note: 'Asked for ID.' },
      { viewerId: 'doc', viewerRole: 'clinician', viewerName: 'Dr Who', at: 1300, note: null },
      { viewerId: 'sam', viewerRole: 'supervisor', viewerName: 'Sam', at: 1400, note: 'Fine.' },
    ]);
    // Per viewer: shown once, the first acknowledgement and its note (the acknowledger counts as shown).
    expect(audit.alertViews('a1')).toEqual([
      { viewerId: 'doc', viewerRole: 'clinician', shownAt: 1100, acknowledgedAt: 1200, note: 'Asked for ID.' },
      { viewerId: 'sam', viewerRole: 'supervisor', shownAt: 1400, acknowledgedAt: 1400, note: 'Fine.' },
    ]);
  });

  it('refuses an UPDATE of an acknowledgement at the database itself', () => {
    const { path, open } = fresh();
    const audit = open();
    audit.alertRaised(audit.openCall('room'), alert('a1', 1));
    audit.alertAcknowledged('a1', { id: 'doc', role: 'clinician', name: 'Dr' }, 'first', 2);
    const raw = new DatabaseSync(path);
    expect(() => raw.exec("UPDATE alert_acks SET note = 'rewritten'")).toThrow(/append-only/);
    raw.close();
    expect(audit.alertAcks('a1')[0]!.note).toBe('first');
  });

  it('creates the file, its -wal and -shm readable by the owner only; an existing 0644 file is tightened', () => {
    const { path, open } = fresh();
    const audit = open();
    audit.openCall('room');
    for (const f of [path, `${path}-wal`, `${path}-shm`]) expect((statSync(f).mode & 0o777).toString(8)).toBe('600');
    audit.close();
    chmodSync(path, 0o644);
    open();
    expect((statSync(path).mode & 0o777).toString(8)).toBe('600');
  });

  it('closes at start the calls a crash left open, at their last recorded activity, marked as such', () => {
    const { open } = fresh();
    const before = open();
    const crashed = before.openCall('ward', 1000);
    before.participantJoined(crashed, { id: 'doc', role: 'clinician', name: 'Dr' }, 1100);
    before.participantJoined(crashed, { id: 'pat', role: 'patient', name: 'Pat' }, 1200);
    before.alertRaised(crashed, alert('a1', 5000));
    const clean = before.openCall('other', 1000);
    before.closeCall(clean, 2000);
    // No close(): the process died.
    const after = open();
    expect(after.closedAtStart).toBe(1);
    expect(after.call(crashed)).toEqual({ id: crashed, room: 'ward', openedAt: 1000, closedAt: 5000, closedReason: 'unclean-shutdown' });
    expect(after.call(clean)).toEqual({ id: clean, room: 'other', openedAt: 1000, closedAt: 2000, closedReason: null });
    expect(open().closedAtStart).toBe(0);
  });

  it('reports unhealthy when the file is deleted or replaced, healthy while it is intact', () => {
    const { path, open } = fresh();
    const audit = open();
    expect(audit.health(1_000_000)).toEqual({ ok: true });
    unlinkSync(path);
    // Probed at most once a second.
    expect(audit.health(1_000_500)).toEqual({ ok: true });
    expect(audit.health(1_002_000)).toMatchObject({ ok: false, error: expect.stringMatching(/gone/) });

    const other = fresh();
    const second = other.open();
    copyFileSync(other.path, `${other.path}.copy`);
    renameSync(`${other.path}.copy`, other.path);
    expect(second.health()).toMatchObject({ ok: false, error: expect.stringMatching(/replaced/) });
  });

  // Root ignores file modes; CI may run as root.
  it.skipIf(process.getuid?.() === 0)('reports unhealthy when the file is made read-only', () => {
    const { path, open } = fresh();
    const audit = open();
    chmodSync(path, 0o400);
    expect(audit.health()).toMatchObject({ ok: false, error: expect.stringMatching(/not writable/) });
  });

  it('reports unhealthy when writes fail', () => {
    const audit = fresh().open();
    expect(audit.health(1)).toEqual({ ok: true });
    audit.close();
    expect(audit.health(5000)).toMatchObject({ ok: false, error: expect.stringMatching(/cannot be written/) });
  });
});

describe('audit log: who reads which calls', () => {
  it("a room's calls, filtered in SQL to those a participant joined: an early sitting stays readable behind 300 later ones, another's never shows", () => {
    const log = fresh().open();
    const mine = log.openCall('clinic', 1000);
    log.participantJoined(mine, { id: 'dr-a', role: 'clinician', name: 'Dr A' }, 1000);
    for (let i = 0; i < 300; i++) {
      const other = log.openCall('clinic', 2000 + i);
      log.participantJoined(other, { id: 'dr-b', role: 'clinician', name: 'Dr B' }, 2000 + i);
    }
    log.openCall('elsewhere', 9000);
    expect(log.callsInRoom('clinic', 20, 'dr-a').map((c) => c.id)).toEqual([mine]);
    expect(log.callsInRoom('clinic', 20, 'dr-b')).toHaveLength(20);
    expect(log.callsInRoom('clinic', 20, 'dr-b').map((c) => c.id)).not.toContain(mine);
    expect(log.callsInRoom('clinic', 1)).toHaveLength(1);
    expect(log.callsInRoom('clinic', 1)[0]!.id).not.toBe(mine);
    expect(log.callsInRoom('clinic', 1, 'nobody')).toEqual([]);
    expect(log.tookPart(mine, 'dr-a')).toBe(true);
    expect(log.tookPart(mine, 'dr-b')).toBe(false);
  });
});
