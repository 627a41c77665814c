/**
 * The audit log cannot be grown without limit (issue 13, item 4: 10 sockets looping join/leave
 * wrote 15,280 rows in 3 minutes): rejoins within a minute coalesce into the row the participant
 * left, and closed calls older than the retention period go, with everything recorded about them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditLogOptions } from '../../server/src/audit/AuditLog.ts';
import type { ChallengeView } from '../../server/src/protocol/challenge.ts';

const DAY = 86_400_000;
const dirs: string[] = [];
const logs: AuditLog[] = [];

function open(opts: AuditLogOptions = {}): { audit: AuditLog; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-audit-growth-'));
  dirs.push(dir);
  const path = join(dir, 'audit.sqlite');
  const audit = new AuditLog(path, opts);
  logs.push(audit);
  return { audit, path };
}

afterEach(() => {
  for (const l of logs.splice(0)) l.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function count(path: string, table: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n);
  } finally {
    db.close();
  }
}

const pat = { id: 'pat', role: 'patient', name: 'Pat Lee' };

describe('rejoins', () => {
  it('a leave and join within the window reopen the same row, however often', () => {
    const { audit, path } = open();
    const t0 = Date.parse('2026-03-01T10:00:00Z');
    const call = audit.openCall('demo', t0);
    audit.participantJoined(call, pat, t0);
    for (let i = 1; i <= 100; i++) {
      audit.participantLeft(call, 'pat', t0 + i * 1000);
      audit.participantJoined(call, pat, t0 + i * 1000 + 500);
    }
    expect(count(path, 'participants')).toBe(1);
    const [row] = audit.callParticipants(call);
    expect(row).toMatchObject({ participantId: 'pat', joinedAt: t0, leftAt: null });
    // The joins are counted, not lost.
    const db = new DatabaseSync(path, { readOnly: true });
    expect((db.prepare('SELECT rejoins FROM participants').get() as { rejoins: number }).rejoins).toBe(100);
    db.close();
    audit.participantLeft(call, 'pat', t0 + 600_000);
    expect(audit.callParticipants(call)[0]?.leftAt).toBe(t0 + 600_000);
  });

  it('a rejoin after the window, under another name or role, or in another call is a new row', () => {
    const { audit, path } = open({ rejoinWindowMs: 60_000 });
    const t0 = Date.parse('2026-03-01T10:00:00Z');
    const call = audit.openCall('demo', t0);
    audit.participantJoined(call, pat, t0);
    audit.participantLeft(call, 'pat', t0 + 1000);
    audit.participantJoined(call, pat, t0 + 1000 + 61_000); // after the window
    expect(count(path, 'participants')).toBe(2);
    audit.participantLeft(call, 'pat', t0 + 70_000);
    audit.participantJoined(call, { ...pat, name: 'Someone Else' }, t0 + 71_000);
    expect(count(path, 'participants')).toBe(3);
    audit.participantLeft(call, 'pat', t0 + 72_000);
    const other = audit.openCall('demo', t0 + 72_500);
    audit.participantJoined(other, pat, t0 + 73_000);
    expect(count(path, 'participants')).toBe(4);
    // Someone still in the call is not "rejoined" by a second join: that is a new row too.
    audit.participantJoined(other, { id: 'doc', role: 'clinician', name: 'Dr Grey' }, t0 + 74_000);
    audit.participantJoined(other, { id: 'doc', role: 'clinician', name: 'Dr Grey' }, t0 + 75_000);
    expect(count(path, 'participants')).toBe(6);
  });
});

describe('retention', () => {
  function fill(audit: AuditLog, at: number, closed: boolean): number {
    const call = audit.openCall('ward', at);
    audit.participantJoined(call, pat, at);
    audit.stateChanged(call, { participantId: 'pat', state: 'ALERT', risk: 0.9, reasons: [], at } as never);
    const alertId = `alert-${call}`;
    audit.alertRaised(call, { id: alertId, participantId: 'pat', participantName: 'Pat', risk: 0.9, reasons: [], at });
    audit.alertShown(alertId, { id: 'doc', role: 'clinician' }, at);
    audit.alertAcknowledged(alertId, { id: 'doc', role: 'clinician', name: 'Dr Grey' }, 'seen', at);
    const challenge = { id: `ch-${call}`, participantId: 'pat', requestedBy: 'Dr Grey', steps: [], state: 'PASSED', reasons: [], startedAt: at, endedAt: at } as unknown as ChallengeView;
    audit.challengeFinished(call, challenge);
    if (closed) {
      audit.participantLeft(call, 'pat', at + 1000);
      audit.closeCall(call, at + 1000);
    }
    return call;
  }

  const tables = ['calls', 'participants', 'risk_states', 'alerts', 'alert_views', 'alert_acks', 'challenges'];

  it('purges closed calls older than the period with everything about them; keeps recent and open ones', () => {
    const now = Date.now();
    const { audit, path } = open({ retentionDays: 30 });
    const old = fill(audit, now - 40 * DAY, true);
    const recent = fill(audit, now - 10 * DAY, true);
    const stillOpen = fill(audit, now - 40 * DAY, false);
    for (const t of tables) expect(count(path, t), t).toBe(3);
    expect(audit.purge(now)).toBe(1);
    for (const t of tables) expect(count(path, t), t).toBe(2);
    expect(audit.call(old)).toBeUndefined();
    expect(audit.call(recent)).toBeDefined();
    expect(audit.call(stillOpen)?.closedAt).toBeNull();
    expect(audit.purge(now)).toBe(0);
  });

  it('runs when the log opens, so a server that restarts daily still purges', () => {
    const now = Date.now();
    const first = open();
    fill(first.audit, now - 400 * DAY, true);
    fill(first.audit, now - 1 * DAY, true);
    first.audit.close();
    logs.splice(logs.indexOf(first.audit), 1);
    const reopened = new AuditLog(first.path, { retentionDays: 365 });
    logs.push(reopened);
    expect(count(first.path, 'calls')).toBe(1);
  });

  it('0 (or no setting) keeps everything', () => {
    const now = Date.now();
    const { audit, path } = open({ retentionDays: 0 });
    fill(audit, now - 4000 * DAY, true);
    expect(audit.purge(now)).toBe(0);
    expect(count(path, 'calls')).toBe(1);
  });
});
