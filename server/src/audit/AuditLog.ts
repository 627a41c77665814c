/**
 * The audit log (node:sqlite): calls, participants, risk state changes, alerts, and who was shown
 * each alert and who acknowledged it (with their note), and liveness challenges with their verdicts. No video or audio, ever: only states, scores and reasons.
 * And, for calibrating fusion on this deployment's own calls (`npm run calibrate -- --from-audit`):
 * what each analysed participant's fusion was told (detector scores and times, AUDIT_EVIDENCE_DAYS), and
 * what each call turned out to be (a confirmed fraud or genuine, marked by a privileged person).
 *
 * Why it is built the way it is (issue 13, item 14):
 * - acknowledgements are append-only (alert_acks, a trigger refuses UPDATE): acknowledging again
 *   adds a row; it never overwrites or erases the first one, nor its note;
 * - the file (and SQLite's -wal/-shm beside it, which take its mode) is created 0600: it holds
 *   patient names and verdicts;
 * - calls left open by a crash are closed at start, at their last recorded activity, marked
 *   closed_reason = 'unclean-shutdown';
 * - health() notices a deleted, replaced or unwritable file, or one that refuses writes, for
 *   /healthz (SQLite keeps writing to a deleted file's open inode, so nothing else would).
 *
 * And so that it cannot grow without limit (issue 13, item 4: 10 sockets looping join/leave wrote
 * 15,280 rows in 3 minutes):
 * - a rejoin coalesces: the same person (same id, role and name) back in the same call within
 *   `rejoinWindowMs` of leaving reopens their row and counts it in `rejoins`, instead of a new row;
 * - retention: closed calls older than `retentionDays` go, with everything recorded about them
 *   (at open, then daily). Open calls are never purged.
 */
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { logger } from '../log.ts';
import type { FusionInput } from '../protocol/analyzerChannel.ts';
import type { CaseOutcome, CaseOutcomeMark } from '../protocol/caseRecord.ts';
import type { ChallengeView } from '../protocol/challenge.ts';
import type { RiskAlert, RiskUpdate } from '../protocol/messages.ts';

const log = logger('audit');

/**
 * An audit write from a call's event handlers or timers (RiskDesk, ChallengeDesk). One that fails
 * (disk full, database locked or corrupt) is logged, and /healthz reports the database, but it is
 * never thrown into the call: people still join, and alerts still reach the clinician.
 */
export function recordSafely<T>(what: string, write: () => T): T | undefined {
  try {
    return write();
  } catch (err) {
    log.error('audit write failed', { what, error: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

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
-- Who was shown each alert (first time). acknowledged_at/note are legacy: acknowledgements are in alert_acks.
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
CREATE TABLE IF NOT EXISTS alert_acks (
  id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL REFERENCES alerts(id), viewer_id TEXT NOT NULL,
  viewer_role TEXT NOT NULL, viewer_name TEXT NOT NULL, at INTEGER NOT NULL, note TEXT
);
CREATE TRIGGER IF NOT EXISTS alert_acks_append_only BEFORE UPDATE ON alert_acks
  BEGIN SELECT RAISE(ABORT, 'acknowledgements are append-only'); END;
CREATE TABLE IF NOT EXISTS evidence (
  id INTEGER PRIMARY KEY, call_id INTEGER NOT NULL REFERENCES calls(id), participant_id TEXT NOT NULL,
  start_at INTEGER NOT NULL, inputs TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_call ON evidence(call_id, participant_id, id);
CREATE TABLE IF NOT EXISTS case_outcomes (
  id INTEGER PRIMARY KEY, call_id INTEGER NOT NULL REFERENCES calls(id), participant_id TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('fraud', 'genuine', 'unknown')), by_id TEXT NOT NULL,
  by_role TEXT NOT NULL, by_name TEXT NOT NULL, at INTEGER NOT NULL, note TEXT
);
CREATE INDEX IF NOT EXISTS case_outcomes_call ON case_outcomes(call_id, participant_id, id);
CREATE TRIGGER IF NOT EXISTS case_outcomes_append_only BEFORE UPDATE ON case_outcomes
  BEGIN SELECT RAISE(ABORT, 'case outcomes are append-only'); END;
CREATE INDEX IF NOT EXISTS risk_states_call ON risk_states(call_id, participant_id, at);
CREATE INDEX IF NOT EXISTS participants_call ON participants(call_id, participant_id);
CREATE INDEX IF NOT EXISTS calls_room ON calls(room, id);
CREATE INDEX IF NOT EXISTS alert_acks_alert ON alert_acks(alert_id, at);
CREATE TABLE IF NOT EXISTS health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
`;

/** Columns added after the first release; ALTER TABLE for databases created before them. */
const MIGRATIONS: Array<{ table: string; column: string; ddl: string }> = [
  { table: 'calls', column: 'closed_reason', ddl: 'ALTER TABLE calls ADD COLUMN closed_reason TEXT' },
  // Rejoins folded into this row (see participantJoined).
  { table: 'participants', column: 'rejoins', ddl: 'ALTER TABLE participants ADD COLUMN rejoins INTEGER NOT NULL DEFAULT 0' },
];

/** The detectors' evidence of calls closed before the cutoff (its own period: AuditLogOptions.evidenceDays). */
const PURGE_EVIDENCE = 'DELETE FROM evidence WHERE call_id IN (SELECT id FROM calls WHERE closed_at < ?)';

/** Every table that hangs off a call, children first: what a purge deletes. */
const PURGE = [
  'DELETE FROM alert_acks WHERE alert_id IN (SELECT a.id FROM alerts a JOIN calls c ON c.id = a.call_id WHERE c.closed_at < ?)',
  'DELETE FROM alert_views WHERE alert_id IN (SELECT a.id FROM alerts a JOIN calls c ON c.id = a.call_id WHERE c.closed_at < ?)',
  'DELETE FROM alerts WHERE call_id IN (SELECT id FROM calls WHERE closed_at < ?)',
  PURGE_EVIDENCE,
  'DELETE FROM case_outcomes WHERE call_id IN (SELECT id FROM calls WHERE closed_at < ?)',
  'DELETE FROM risk_states WHERE call_id IN (SELECT id FROM calls WHERE closed_at < ?)',
  'DELETE FROM challenges WHERE call_id IN (SELECT id FROM calls WHERE closed_at < ?)',
  'DELETE FROM participants WHERE call_id IN (SELECT id FROM calls WHERE closed_at < ?)',
  'DELETE FROM calls WHERE closed_at < ?',
];

const DAY_MS = 86_400_000;

function outcomeRow(r: Record<string, unknown>): CaseOutcomeMark {
  return { participantId: String(r.participant_id), outcome: r.outcome as CaseOutcome, byId: String(r.by_id), byRole: String(r.by_role), byName: String(r.by_name), at: Number(r.at), note: r.note === null ? null : String(r.note) };
}

export interface AuditLogOptions {
  /** Days a closed call is kept; 0 or absent: forever. Purged at open and then once a day. */
  retentionDays?: number;
  /**
   * Days a closed call's recorded detector evidence is kept (it is the bulk of the file: 2-4 MB
   * per analysed hour); 0 or absent: as long as the call. Purged with the calls.
   */
  evidenceDays?: number;
  /** A rejoin this soon after leaving reopens the participant's row instead of adding one. Default 60 s. */
  rejoinWindowMs?: number;
}

/** The last activity recorded in a call, for closing one a crash left open. */
const LAST_ACTIVITY = `MAX(c.opened_at,
  COALESCE((SELECT MAX(MAX(joined_at, COALESCE(left_at, 0))) FROM participants WHERE call_id = c.id), 0),
  COALESCE((SELECT MAX(at) FROM risk_states WHERE call_id = c.id), 0),
  COALESCE((SELECT MAX(at) FROM alerts WHERE call_id = c.id), 0),
  COALESCE((SELECT MAX(k.at) FROM alert_acks k JOIN alerts a ON a.id = k.alert_id WHERE a.call_id = c.id), 0),
  COALESCE((SELECT MAX(v.shown_at) FROM alert_views v JOIN alerts a ON a.id = v.alert_id WHERE a.call_id = c.id), 0),
  COALESCE((SELECT MAX(ended_at) FROM challenges WHERE call_id = c.id), 0),
  COALESCE((SELECT MAX(at) FROM evidence WHERE call_id = c.id), 0),
  COALESCE((SELECT MAX(at) FROM case_outcomes WHERE call_id = c.id), 0))`;

/** How long a write waits on another connection's lock before it fails (SQLITE_BUSY). */
const BUSY_TIMEOUT_MS = 500;

/** /healthz probes at most this often (each probe writes one row). */
const HEALTH_PROBE_MS = 1000;

export interface AlertView {
  viewerId: string;
  viewerRole: string;
  shownAt: number;
  acknowledgedAt: number | null;
  note: string | null;
}

export interface AlertAck {
  viewerId: string;
  viewerRole: string;
  viewerName: string;
  at: number;
  note: string | null;
}

export interface AuditHealth {
  ok: boolean;
  /** Why not, when not ok. */
  error?: string;
}

export class AuditLog {
  private readonly db: DatabaseSync;
  private readonly stmt: Record<string, StatementSync>;
  private readonly path: string;
  /** The file opened (device and inode): a file deleted or replaced under us is not this one. */
  private readonly file: { dev: number; ino: number } | undefined;
  private lastProbe: { at: number; health: AuditHealth } | undefined;
  /** Calls a crash had left open, closed when this log was opened. */
  readonly closedAtStart: number;
  private readonly retentionMs: number;
  private readonly evidenceMs: number;
  private readonly rejoinWindowMs: number;
  private purgeTimer: NodeJS.Timeout | undefined;

  /** `path` may be ':memory:'. */
  constructor(path: string, opts: AuditLogOptions = {}) {
    this.path = path;
    this.retentionMs = (opts.retentionDays ?? 0) * DAY_MS;
    this.evidenceMs = (opts.evidenceDays ?? 0) * DAY_MS;
    this.rejoinWindowMs = opts.rejoinWindowMs ?? 60_000;
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Created (or tightened) to 0600 before SQLite opens it; its -wal and -shm take this mode.
      closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
      for (const side of [`${path}-wal`, `${path}-shm`]) if (existsSync(side)) chmodSync(side, 0o600);
    }
    // A write that meets another connection's lock (a checkpoint, an admin's sqlite3 shell) waits
    // for it a moment rather than failing at once and losing the record.
    this.db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;');
    this.db.exec(SCHEMA);
    for (const m of MIGRATIONS) {
      const cols = this.db.prepare(`PRAGMA table_info(${m.table})`).all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === m.column)) this.db.exec(m.ddl);
    }
    if (path !== ':memory:') {
      const st = statSync(path);
      this.file = { dev: st.dev, ino: st.ino };
    }
    // A call still open now was open when the last server died without closing it.
    this.closedAtStart = Number(
      this.db.prepare(`UPDATE calls AS c SET closed_at = ${LAST_ACTIVITY}, closed_reason = 'unclean-shutdown' WHERE c.closed_at IS NULL`).run().changes,
    );
    if (this.closedAtStart > 0) {
      log.warn('closed calls left open by an unclean shutdown', { calls: this.closedAtStart });
      this.db.exec(`UPDATE participants SET left_at = (SELECT closed_at FROM calls WHERE calls.id = participants.call_id) WHERE left_at IS NULL`);
    }
    const p = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      openCall: p('INSERT INTO calls (room, opened_at) VALUES (?, ?)'),
      closeCall: p('UPDATE calls SET closed_at = ? WHERE id = ? AND closed_at IS NULL'),
      join: p('INSERT INTO participants (call_id, participant_id, role, name, joined_at) VALUES (?, ?, ?, ?, ?)'),
      rejoin: p(
        `UPDATE participants SET left_at = NULL, rejoins = rejoins + 1 WHERE rowid = (
           SELECT rowid FROM participants WHERE call_id = ? AND participant_id = ? AND role = ? AND name = ? AND left_at >= ?
           ORDER BY rowid DESC LIMIT 1)`,
      ),
      leave: p('UPDATE participants SET left_at = ? WHERE call_id = ? AND participant_id = ? AND left_at IS NULL'),
      leaveAll: p('UPDATE participants SET left_at = ? WHERE call_id = ? AND left_at IS NULL'),
      state: p('INSERT INTO risk_states (call_id, participant_id, state, risk, reasons, at) VALUES (?, ?, ?, ?, ?, ?)'),
      alert: p('INSERT INTO alerts (id, call_id, participant_id, risk, reasons, at) VALUES (?, ?, ?, ?, ?, ?)'),
      shown: p('INSERT OR IGNORE INTO alert_views (alert_id, viewer_id, viewer_role, shown_at) VALUES (?, ?, ?, ?)'),
      ack: p('INSERT INTO alert_acks (alert_id, viewer_id, viewer_role, viewer_name, at, note) VALUES (?, ?, ?, ?, ?, ?)'),
      acks: p('SELECT viewer_id, viewer_role, viewer_name, at, note FROM alert_acks WHERE alert_id = ? ORDER BY at, id'),
      alertCall: p('SELECT call_id FROM alerts WHERE id = ?'),
      // Each viewer's first acknowledgement (legacy rows in alert_views count when no later one exists).
      views: p(
        `SELECT v.viewer_id, v.viewer_role, v.shown_at,
           COALESCE((SELECT at FROM alert_acks a WHERE a.alert_id = v.alert_id AND a.viewer_id = v.viewer_id ORDER BY at, id LIMIT 1), v.acknowledged_at) AS acknowledged_at,
           COALESCE((SELECT note FROM alert_acks a WHERE a.alert_id = v.alert_id AND a.viewer_id = v.viewer_id ORDER BY at, id LIMIT 1), v.note) AS note
         FROM alert_views v WHERE v.alert_id = ? ORDER BY v.shown_at`,
      ),
      probe: p('INSERT OR REPLACE INTO health_probe (id, at) VALUES (1, ?)'),
      challenge: p('INSERT OR REPLACE INTO challenges (id, call_id, participant_id, requested_by, steps, result, reasons, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      challenges: p('SELECT id, participant_id, requested_by, steps, result, reasons, started_at, ended_at FROM challenges WHERE call_id = ? ORDER BY started_at'),
      states: p('SELECT state, risk, at FROM risk_states WHERE call_id = ? AND participant_id = ? ORDER BY at'),
      evidence: p('INSERT INTO evidence (call_id, participant_id, start_at, inputs, at) VALUES (?, ?, ?, ?, ?)'),
      outcome: p('INSERT INTO case_outcomes (call_id, participant_id, outcome, by_id, by_role, by_name, at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    };
    if (this.retentionMs > 0 || this.evidenceMs > 0) {
      this.purge();
      this.purgeTimer = setInterval(() => this.purge(), DAY_MS).unref();
    }
  }

  /**
   * Deletes closed calls older than the retention period, with their participants, states, alerts,
   * views, acknowledgements, checks, outcomes and evidence, and the evidence of closed calls older
   * than its own (shorter) period, in one transaction. Returns how many calls went.
   */
  purge(now = Date.now()): number {
    if (this.retentionMs <= 0 && this.evidenceMs <= 0) return 0;
    const before = now - this.retentionMs;
    let calls = 0;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      if (this.evidenceMs > 0) this.db.prepare(PURGE_EVIDENCE).run(now - this.evidenceMs);
      for (const sql of this.retentionMs > 0 ? PURGE : []) {
        const changes = Number(this.db.prepare(sql).run(before).changes);
        if (sql.startsWith('DELETE FROM calls')) calls = changes;
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      log.error('audit retention purge failed', { error: err instanceof Error ? err.message : String(err) });
      return 0;
    }
    if (calls > 0) log.info('audit retention: purged closed calls', { calls, olderThan: new Date(before).toISOString() });
    return calls;
  }

  openCall(room: string, at = Date.now()): number {
    return Number(this.stmt.openCall!.run(room, at).lastInsertRowid);
  }

  /** Closes the call; whoever was still in it (the call ended under them) left then. */
  closeCall(callId: number, at = Date.now()): void {
    if (Number(this.stmt.closeCall!.run(at, callId).changes) > 0) this.stmt.leaveAll!.run(at, callId);
  }

  /** A rejoin within the window reopens the row the participant left (rejoins + 1); otherwise a new row. */
  participantJoined(callId: number, p: { id: string; role: string; name: string }, at = Date.now()): void {
    if (Number(this.stmt.rejoin!.run(callId, p.id, p.role, p.name, at - this.rejoinWindowMs).changes) > 0) return;
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

  /** Appends an acknowledgement (a second one from the same viewer is another row); the acknowledger counts as shown. */
  alertAcknowledged(alertId: string, viewer: { id: string; role: string; name: string }, note: string | undefined, at = Date.now()): boolean {
    if (!this.stmt.alertCall!.get(alertId)) return false;
    this.stmt.shown!.run(alertId, viewer.id, viewer.role, at);
    this.stmt.ack!.run(alertId, viewer.id, viewer.role, viewer.name, at, note ?? null);
    return true;
  }

  /** Every acknowledgement of an alert, oldest first. */
  alertAcks(alertId: string): AlertAck[] {
    return (this.stmt.acks!.all(alertId) as Array<Record<string, unknown>>).map((r) => ({
      viewerId: String(r.viewer_id),
      viewerRole: String(r.viewer_role),
      viewerName: String(r.viewer_name),
      at: Number(r.at),
      note: r.note === null ? null : String(r.note),
    }));
  }

  /**
   * Whether the log can still record: its file is the one opened (not deleted or replaced), is
   * writable, and a write goes through. Probed at most once a second (/healthz is unauthenticated).
   */
  health(now = Date.now()): AuditHealth {
    if (this.lastProbe && now - this.lastProbe.at < HEALTH_PROBE_MS) return this.lastProbe.health;
    const health = this.probe(now);
    if (!health.ok && this.lastProbe?.health.ok !== false) log.error('audit log unhealthy', { path: this.path, error: health.error });
    this.lastProbe = { at: now, health };
    return health;
  }

  private probe(now: number): AuditHealth {
    try {
      if (this.file) {
        let st;
        try {
          st = statSync(this.path);
        } catch {
          return { ok: false, error: 'the audit database file is gone (deleted or moved)' };
        }
        if (st.dev !== this.file.dev || st.ino !== this.file.ino) return { ok: false, error: 'the audit database file was replaced by another file' };
        try {
          accessSync(this.path, constants.W_OK);
        } catch {
          return { ok: false, error: 'the audit database file is not writable' };
        }
      }
      this.stmt.probe!.run(now);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: `the audit database cannot be written: ${err instanceof Error ? err.message : String(err)}` };
    }
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

  // --- Case records (audit/CaseRecord.ts reads a whole call through these) ---

  /** A call's row, or undefined. closedReason: 'unclean-shutdown' when closed at the next start after a crash, else null. */
  call(callId: number): { id: number; room: string; openedAt: number; closedAt: number | null; closedReason: string | null } | undefined {
    const r = this.db.prepare('SELECT id, room, opened_at, closed_at, closed_reason FROM calls WHERE id = ?').get(callId) as Record<string, unknown> | undefined;
    return r
      ? { id: Number(r.id), room: String(r.room), openedAt: Number(r.opened_at), closedAt: r.closed_at === null ? null : Number(r.closed_at), closedReason: r.closed_reason === null ? null : String(r.closed_reason) }
      : undefined;
  }

  /** The calls held in a room, newest first (at most `limit`). */
  callsInRoom(room: string, limit = 20, participantId?: string): Array<{ id: number; room: string; openedAt: number; closedAt: number | null }> {
    const rows =
      participantId === undefined
        ? this.db.prepare('SELECT id, room, opened_at, closed_at FROM calls WHERE room = ? ORDER BY id DESC LIMIT ?').all(room, limit)
        : this.db
            .prepare('SELECT id, room, opened_at, closed_at FROM calls c WHERE room = ? AND EXISTS (SELECT 1 FROM participants p WHERE p.call_id = c.id AND p.participant_id = ?) ORDER BY id DESC LIMIT ?')
            .all(room, participantId, limit);
    return (rows as Array<Record<string, unknown>>).map((r) => ({
      id: Number(r.id),
      room: String(r.room),
      openedAt: Number(r.opened_at),
      closedAt: r.closed_at === null ? null : Number(r.closed_at),
    }));
  }

  /** Whether this participant joined this call. */
  tookPart(callId: number, participantId: string): boolean {
    return this.db.prepare('SELECT 1 FROM participants WHERE call_id = ? AND participant_id = ? LIMIT 1').get(callId, participantId) !== undefined;
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

  /**
   * A batch of what an analysed participant's fusion was told (the analyzer's `evidence` message):
   * kept so that fusion can be calibrated on this deployment's own calls once their outcome is
   * known (`npm run calibrate -- --from-audit`). Numbers only; `inputs` is stored as it came,
   * already checked against the protocol's schema. Returns the bytes stored.
   */
  evidenceRecorded(callId: number, participantId: string, start: number, inputs: readonly FusionInput[], at = Date.now()): number {
    const json = JSON.stringify(inputs);
    this.stmt.evidence!.run(callId, participantId, start, json, at);
    return json.length;
  }

  /** A participant's recorded evidence batches in a call, in arrival order. */
  callEvidence(callId: number, participantId: string): Array<{ start: number; inputs: FusionInput[] }> {
    return participantEvidence(this.db, callId, participantId);
  }

  /**
   * What a call turned out to be for one analysed participant: a confirmed fraud, confirmed
   * genuine, or 'unknown' (taking back an earlier mark). Appended, never overwritten (a trigger
   * refuses UPDATE): the latest mark counts, and every earlier one stays with who made it.
   */
  outcomeMarked(callId: number, participantId: string, outcome: CaseOutcome, by: { id: string; role: string; name: string }, note: string | undefined, at = Date.now()): void {
    this.stmt.outcome!.run(callId, participantId, outcome, by.id, by.role, by.name, at, note ?? null);
  }

  /** Every outcome mark of a call, oldest first. */
  callOutcomes(callId: number): CaseOutcomeMark[] {
    return (this.db.prepare('SELECT participant_id, outcome, by_id, by_role, by_name, at, note FROM case_outcomes WHERE call_id = ? ORDER BY at, id').all(callId) as Array<Record<string, unknown>>).map(outcomeRow);
  }

  /** The labelled calls (labelledParticipants below). */
  labelledParticipants(): LabelledParticipant[] {
    return labelledParticipants(this.db);
  }

  close(): void {
    clearInterval(this.purgeTimer);
    this.db.close();
  }
}

// --- Reads for calibration: also run on a read-only copy of the file (evaluation/auditClips.ts) ---

export interface LabelledParticipant {
  callId: number;
  participantId: string;
  /** Their name in the call (the first they joined with). */
  name: string;
  outcome: 'fraud' | 'genuine';
}

/**
 * Each analysed participant's latest outcome mark over every call, where it is fraud or genuine:
 * the labelled calls `npm run calibrate -- --from-audit` learns from.
 */
export function labelledParticipants(db: DatabaseSync): LabelledParticipant[] {
  const rows = db
    .prepare(
      `SELECT o.call_id, o.participant_id, o.outcome,
         (SELECT name FROM participants p WHERE p.call_id = o.call_id AND p.participant_id = o.participant_id ORDER BY rowid LIMIT 1) AS name
       FROM case_outcomes o
       WHERE o.id = (SELECT MAX(id) FROM case_outcomes x WHERE x.call_id = o.call_id AND x.participant_id = o.participant_id)
         AND o.outcome IN ('fraud', 'genuine')
       ORDER BY o.call_id, o.participant_id`,
    )
    .all() as Array<Record<string, unknown>>;
  return rows.map((r) => ({ callId: Number(r.call_id), participantId: String(r.participant_id), name: r.name === null ? String(r.participant_id) : String(r.name), outcome: r.outcome as 'fraud' | 'genuine' }));
}

/** A participant's recorded evidence batches in a call, in arrival order. */
export function participantEvidence(db: DatabaseSync, callId: number, participantId: string): Array<{ start: number; inputs: FusionInput[] }> {
  return (db.prepare('SELECT start_at, inputs FROM evidence WHERE call_id = ? AND participant_id = ? ORDER BY id').all(callId, participantId) as Array<Record<string, unknown>>).map((r) => ({
    start: Number(r.start_at),
    inputs: JSON.parse(String(r.inputs)) as FusionInput[],
  }));
}
