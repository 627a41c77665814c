/**
 * The audit log (node:sqlite): calls, participants, risk state changes, alerts, and who was shown
 * each alert and who acknowledged it (with their note), and liveness challenges with their verdicts. No video or audio, ever: only states, scores and reasons.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { ChallengeView } from '../protocol/challenge.ts';
import type { RiskAlert, RiskUpdate } from '../protocol/messages.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY, room TEXT NOT NULL, opened_at INTEGER NOT NULL, closed_at INTEGER
);
CREATE TABLE IF NOT EXISTS participants (
  call_id INTEGER NOT NULL REFERENCES calls(id), participant_id TEXT NOT NULL, role TEXT NOT NULL,
  name TEXT NOT NULL, joined_at INTEGER NOT NULL, left_at INTEGER
);
CREATE TABLE IF NOT EXISTS risk_states (
  call_id INTEGER NOT NULL REFERENCES calls(id), participant_id TEXT NOT NULL, state TEXT NOT NULL,
  risk REAL NOT NULL, reasons TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY, call_id INTEGER NOT NULL REFERENCES calls(id), participant_id TEXT NOT NULL,
  risk REAL NOT NULL, reasons TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_views (
  alert_id TEXT NOT NULL REFERENCES alerts(id), viewer_id TEXT NOT NULL, viewer_role TEXT NOT NULL,
  shown_at INTEGER NOT NULL, acknowledged_at INTEGER, note TEXT,
  PRIMARY KEY (alert_id, viewer_id)
);
CREATE TABLE IF NOT EXISTS challenges (
  id TEXT PRIMARY KEY, call_id INTEGER NOT NULL REFERENCES calls(id), participant_id TEXT NOT NULL,
  requested_by TEXT NOT NULL, steps TEXT NOT NULL, result TEXT NOT NULL, reasons TEXT NOT NULL,
  started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_states_call ON risk_states(call_id, participant_id, at);
`;

export interface AlertView {
  viewerId: string;
  viewerRole: string;
  shownAt: number;
  acknowledgedAt: number | null;
  note: string | null;
}

export class AuditLog {
  private readonly db: DatabaseSync;
  private readonly stmt: Record<string, StatementSync>;

  /** `path` may be ':memory:'. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;');
    this.db.exec(SCHEMA);
    const p = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      openCall: p('INSERT INTO calls (room, opened_at) VALUES (?, ?)'),
      closeCall: p('UPDATE calls SET closed_at = ? WHERE id = ? AND closed_at IS NULL'),
      join: p('INSERT INTO participants (call_id, participant_id, role, name, joined_at) VALUES (?, ?, ?, ?, ?)'),
      leave: p('UPDATE participants SET left_at = ? WHERE call_id = ? AND participant_id = ? AND left_at IS NULL'),
      state: p('INSERT INTO risk_states (call_id, participant_id, state, risk, reasons, at) VALUES (?, ?, ?, ?, ?, ?)'),
      alert: p('INSERT INTO alerts (id, call_id, participant_id, risk, reasons, at) VALUES (?, ?, ?, ?, ?, ?)'),
      shown: p('INSERT OR IGNORE INTO alert_views (alert_id, viewer_id, viewer_role, shown_at) VALUES (?, ?, ?, ?)'),
      ack: p(
        'INSERT INTO alert_views (alert_id, viewer_id, viewer_role, shown_at, acknowledged_at, note) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (alert_id, viewer_id) DO UPDATE SET acknowledged_at = excluded.acknowledged_at, note = excluded.note',
      ),
      alertCall: p('SELECT call_id FROM alerts WHERE id = ?'),
      views: p('SELECT viewer_id, viewer_role, shown_at, acknowledged_at, note FROM alert_views WHERE alert_id = ? ORDER BY shown_at'),
      challenge: p('INSERT OR REPLACE INTO challenges (id, call_id, participant_id, requested_by, steps, result, reasons, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      challenges: p('SELECT id, participant_id, requested_by, steps, result, reasons, started_at, ended_at FROM challenges WHERE call_id = ? ORDER BY started_at'),
      states: p('SELECT state, risk, at FROM risk_states WHERE call_id = ? AND participant_id = ? ORDER BY at'),
    };
  }

  openCall(room: string, at = Date.now()): number {
    return Number(this.stmt.openCall!.run(room, at).lastInsertRowid);
  }

  closeCall(callId: number, at = Date.now()): void {
    this.stmt.closeCall!.run(at, callId);
  }

  participantJoined(callId: number, p: { id: string; role: string; name: string }, at = Date.now()): void {
    this.stmt.join!.run(callId, p.id, p.role, p.name, at);
  }

  participantLeft(callId: number, participantId: string, at = Date.now()): void {
    this.stmt.leave!.run(at, callId, participantId);
  }

  stateChanged(callId: number, u: RiskUpdate): void {
    this.stmt.state!.run(callId, u.participantId, u.state, u.risk, JSON.stringify(u.reasons), u.at);
  }

  alertRaised(callId: number, a: RiskAlert): void {
    this.stmt.alert!.run(a.id, callId, a.participantId, a.risk, JSON.stringify(a.reasons), a.at);
  }

  alertShown(alertId: string, viewer: { id: string; role: string }, at = Date.now()): void {
    this.stmt.shown!.run(alertId, viewer.id, viewer.role, at);
  }

  alertAcknowledged(alertId: string, viewer: { id: string; role: string }, note: string | undefined, at = Date.now()): boolean {
    if (!this.stmt.alertCall!.get(alertId)) return false;
    this.stmt.ack!.run(alertId, viewer.id, viewer.role, at, at, note ?? null);
    return true;
  }

  alertViews(alertId: string): AlertView[] {
    return (this.stmt.views!.all(alertId) as Array<Record<string, unknown>>).map((r) => ({
      viewerId: String(r.viewer_id),
      viewerRole: String(r.viewer_role),
      shownAt: Number(r.shown_at),
      acknowledgedAt: r.acknowledged_at === null ? null : Number(r.acknowledged_at),
      note: r.note === null ? null : String(r.note),
    }));
  }

  stateHistory(callId: number, participantId: string): Array<{ state: string; risk: number; at: number }> {
    return (this.stmt.states!.all(callId, participantId) as Array<Record<string, unknown>>).map((r) => ({ state: String(r.state), risk: Number(r.risk), at: Number(r.at) }));
  }

  challengeFinished(callId: number, c: ChallengeView): void {
    const steps = c.steps.map((st) => ({ action: st.action, state: st.state, ...(st.reason ? { reason: st.reason } : {}) }));
    this.stmt.challenge!.run(c.id, callId, c.participantId, c.requestedBy, JSON.stringify(steps), c.state, JSON.stringify(c.reasons), c.startedAt, c.endedAt ?? Date.now());
  }

  challenges(callId: number): Array<{ id: string; participantId: string; requestedBy: string; result: string; reasons: string[]; steps: Array<{ action: string; state: string; reason?: string }> }> {
    return (this.stmt.challenges!.all(callId) as Array<Record<string, unknown>>).map((r) => ({
      id: String(r.id),
      participantId: String(r.participant_id),
      requestedBy: String(r.requested_by),
      result: String(r.result),
      reasons: JSON.parse(String(r.reasons)) as string[],
      steps: JSON.parse(String(r.steps)) as Array<{ action: string; state: string; reason?: string }>,
    }));
  }

  // --- Case records (audit/CaseRecord.ts reads a whole call through these) ---

  /** A call's row, or undefined. */
  call(callId: number): { id: number; room: string; openedAt: number; closedAt: number | null } | undefined {
    const r = this.db.prepare('SELECT id, room, opened_at, closed_at FROM calls WHERE id = ?').get(callId) as Record<string, unknown> | undefined;
    return r ? { id: Number(r.id), room: String(r.room), openedAt: Number(r.opened_at), closedAt: r.closed_at === null ? null : Number(r.closed_at) } : undefined;
  }

  /** The calls held in a room, newest first (at most `limit`). */
  callsInRoom(room: string, limit = 20): Array<{ id: number; room: string; openedAt: number; closedAt: number | null }> {
    return (this.db.prepare('SELECT id, room, opened_at, closed_at FROM calls WHERE room = ? ORDER BY id DESC LIMIT ?').all(room, limit) as Array<Record<string, unknown>>).map((r) => ({
      id: Number(r.id),
      room: String(r.room),
      openedAt: Number(r.opened_at),
      closedAt: r.closed_at === null ? null : Number(r.closed_at),
    }));
  }

  /** Everyone who joined a call (a rejoin is a second row), in order of joining. */
  callParticipants(callId: number): Array<{ participantId: string; role: string; name: string; joinedAt: number; leftAt: number | null }> {
    return (this.db.prepare('SELECT participant_id, role, name, joined_at, left_at FROM participants WHERE call_id = ? ORDER BY joined_at, rowid').all(callId) as Array<Record<string, unknown>>).map((r) => ({
      participantId: String(r.participant_id),
      role: String(r.role),
      name: String(r.name),
      joinedAt: Number(r.joined_at),
      leftAt: r.left_at === null ? null : Number(r.left_at),
    }));
  }

  /** Every risk state change of a call, oldest first. */
  callStates(callId: number): Array<{ participantId: string; state: string; risk: number; reasons: RiskUpdate['reasons']; at: number }> {
    return (this.db.prepare('SELECT participant_id, state, risk, reasons, at FROM risk_states WHERE call_id = ? ORDER BY at, rowid').all(callId) as Array<Record<string, unknown>>).map((r) => ({
      participantId: String(r.participant_id),
      state: String(r.state),
      risk: Number(r.risk),
      reasons: JSON.parse(String(r.reasons)) as RiskUpdate['reasons'],
      at: Number(r.at),
    }));
  }

  /** Every alert of a call, oldest first. */
  callAlerts(callId: number): Array<{ id: string; participantId: string; risk: number; reasons: RiskAlert['reasons']; at: number }> {
    return (this.db.prepare('SELECT id, participant_id, risk, reasons, at FROM alerts WHERE call_id = ? ORDER BY at, rowid').all(callId) as Array<Record<string, unknown>>).map((r) => ({
      id: String(r.id),
      participantId: String(r.participant_id),
      risk: Number(r.risk),
      reasons: JSON.parse(String(r.reasons)) as RiskAlert['reasons'],
      at: Number(r.at),
    }));
  }

  /** Every liveness check of a call with its times, oldest first. */
  callChallenges(callId: number): Array<{ id: string; participantId: string; requestedBy: string; result: string; reasons: string[]; steps: Array<{ action: string; state: string; reason?: string }>; startedAt: number; endedAt: number }> {
    return (this.stmt.challenges!.all(callId) as Array<Record<string, unknown>>).map((r) => ({
      id: String(r.id),
      participantId: String(r.participant_id),
      requestedBy: String(r.requested_by),
      result: String(r.result),
      reasons: JSON.parse(String(r.reasons)) as string[],
      steps: JSON.parse(String(r.steps)) as Array<{ action: string; state: string; reason?: string }>,
      startedAt: Number(r.started_at),
      endedAt: Number(r.ended_at),
    }));
  }

  close(): void {
    this.db.close();
  }
}
