/**
 * Where risk meets people: takes the analyzer's risk updates, passes them to the privileged
 * participants of the call (never to the analysed side), raises alerts on entering ALERT, records
 * everything in the audit log, and takes acknowledgements.
 *
 * It also outlives analyzers and connections: it keeps each participant's last raised state and
 * hands it back to whichever analyzer watches the call next, or again when a raised participant
 * rejoins (AnalyzerHub.handBack -> RiskFusion.restore), and one alert covers one episode: from
 * entering ALERT until a verdict of CLEAR or the end of the call. An analyzer restart, a caller
 * reconnecting, or ALERT -> SUSPICIOUS -> ALERT, does not raise the same alert again or ask for a
 * second acknowledgement.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { recordSafely, type AuditLog } from '../audit/AuditLog.ts';
import { logger } from '../log.ts';
import type { MetricJson } from '../metrics/merge.ts';
import { Metrics } from '../metrics/Metrics.ts';
import type { FusionInput } from '../protocol/analyzerChannel.ts';
import { RISK_STATES, type IntegrityReport, type RiskAlert, type RiskHandBack, type RiskUpdate } from '../protocol/messages.ts';
import { isAnalysed, isPrivileged } from '../protocol/roles.ts';
import type { CallRoom, Participant } from '../signaling/CallRoom.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';
import type { AnalyzerHub } from './AnalyzerHub.ts';

const log = logger('risk');

interface CallRecord {
  /**
   * The audit log's call: opened when the first person joins, closed when the room closes, or, in
   * a room that stays open (ROOMS), when the last person leaves, so that each sitting in the
   * same room is its own call with its own case record (and duration).
   */
  callId: number | undefined;
  /** The call last closed in this room: a check that ends as the last person leaves lands there. */
  lastCallId: number | undefined;
  room: CallRoom;
  latest: Map<string, RiskUpdate>;
  /**
   * The last raised state of a participant who left while it was raised, kept for the rest of the
   * call: when they rejoin (a reload, another device), the analyzer, which judges them afresh, is
   * handed it back, so that reconnecting neither resets an ALERT to ANALYZING nor raises it again.
   */
  held: Map<string, RiskUpdate>;
  alerts: Map<string, AlertRecord>;
  /**
   * Per participant, the alert of the episode still open (entered ALERT, no CLEAR since). Leaving
   * the call does not end it; a verdict of CLEAR, or the end of the call, does.
   */
  episode: Map<string, string>;
  /** Per participant, the bytes of evidence recorded in this call (bounded: onEvidence). */
  evidenceBytes: Map<string, number>;
}

/** An alert and who acknowledged it first. */
export interface AlertRecord extends RiskAlert {
  acked?: { by: string; note?: string; at: number };
}

/** Who acknowledges: a participant of the call, or a supervisor on the dashboard. */
export interface Actor {
  id: string;
  name: string;
  role: string;
}

export interface RiskDeskEvents {
  update: [room: string, update: RiskUpdate];
  alert: [room: string, alert: AlertRecord];
  acked: [room: string, alert: AlertRecord];
}

/** Recorded evidence kept per caller and call: 64 MB, some 16 hours of a raised caller (2-4 MB an hour). */
export const MAX_EVIDENCE_BYTES_PER_CALLER = 64 * 1024 * 1024;

/** Alerts kept per call for late joiners and the dashboard; the audit log keeps them all. */
const MAX_ALERTS_PER_CALL = 50;

export class RiskDesk extends EventEmitter<RiskDeskEvents> {
  private readonly calls = new Map<string, CallRecord>();
  private readonly registry: RoomRegistry;
  private readonly audit: AuditLog;
  private readonly hub: AnalyzerHub;

  private readonly recordEvidence: boolean;
  private readonly evidenceBytesPerCaller: number;

  /**
   * `recordEvidence` (AUDIT_EVIDENCE_DAYS > 0): keep what each analysed participant's fusion was
   * told (the analyzer's `evidence` batches) in the audit log beside the call, for calibration on
   * this deployment's own calls (`npm run calibrate -- --from-audit`), up to
   * `evidenceBytesPerCaller` per caller and call (default MAX_EVIDENCE_BYTES_PER_CALLER).
   */
  constructor(registry: RoomRegistry, hub: AnalyzerHub, audit: AuditLog, opts: { recordEvidence?: boolean; evidenceBytesPerCaller?: number } = {}) {
    super();
    this.registry = registry;
    this.audit = audit;
    this.hub = hub;
    this.recordEvidence = opts.recordEvidence ?? false;
    this.evidenceBytesPerCaller = opts.evidenceBytesPerCaller ?? MAX_EVIDENCE_BYTES_PER_CALLER;
    for (const room of registry.list()) this.track(room);
    registry.on('opened', (id) => {
      const room = registry.get(id);
      if (room) this.track(room);
    });
    hub.on('risk', (room, update) => this.onRisk(room, update));
    hub.on('evidence', (m) => this.onEvidence(m.room, m.participantId, m.start, m.inputs));
    hub.setHandBackSource((room) => this.handBack(room));
  }

  private track(room: CallRoom): void {
    const rec: CallRecord = { callId: undefined, lastCallId: undefined, room, latest: new Map(), held: new Map(), alerts: new Map(), episode: new Map(), evidenceBytes: new Map() };
    this.calls.set(room.id, rec);
    room.on('joined', (p) => {
      if (p.role === 'analyzer') return;
      if (rec.callId === undefined) {
        // A new sitting: the last one's call is not this room's call any more, even when the audit
        // log cannot open this one (its checks and case record must not land in the last call).
        rec.lastCallId = undefined;
        rec.callId = recordSafely('open call', () => this.audit.openCall(room.id));
      }
      const callId = rec.callId;
      if (callId !== undefined) recordSafely('join', () => this.audit.participantJoined(callId, p));
      // Back in the call while raised: the analyzer resumes the raised state (see `held`).
      if (rec.held.has(p.id)) this.hub.resume(room.id);
      // A privileged participant arriving mid-call (or rejoining after a dropped connection) sees
      // the current picture at once: every participant's risk, and the call's alerts with their
      // acknowledgements, so an alert raised while they were away still waits for them.
      if (isPrivileged(p.role)) {
        for (const u of rec.latest.values()) p.channel.emit('risk.update', u);
        for (const { acked, ...alert } of rec.alerts.values()) {
          p.channel.emit('risk.alert', alert);
          if (acked) p.channel.emit('risk.alert.acked', { alertId: alert.id, by: acked.by, ...(acked.note ? { note: acked.note } : {}) });
          else recordSafely('alert shown', () => this.audit.alertShown(alert.id, p));
        }
      }
    });
    room.on('left', (p) => {
      const callId = rec.callId;
      if (p.role !== 'analyzer' && callId !== undefined) recordSafely('leave', () => this.audit.participantLeft(callId, p.id));
      const last = rec.latest.get(p.id);
      // A rejoin by the same identity removes the old session first: the raised state is kept.
      if (last && (last.state === 'SUSPICIOUS' || last.state === 'ALERT')) rec.held.set(p.id, last);
      rec.latest.delete(p.id);
    });
    // Everyone left (the room says so after the last 'left'; never for a reload, where the same
    // identity's new session takes the old one's place, unless that new session then fails).
    room.on('empty', () => {
      const callId = rec.callId;
      if (room.persistent && callId !== undefined) {
        recordSafely('close call', () => this.audit.closeCall(callId));
        rec.lastCallId = rec.callId;
        rec.callId = undefined;
        // The next sitting in this room is another call: its people see none of this one's
        // alerts, and inherit no episode (each sitting has its own case record).
        rec.alerts.clear();
        rec.episode.clear();
        rec.evidenceBytes.clear();
        rec.held.clear();
      }
    });
    room.once('close', () => {
      const callId = rec.callId;
      if (callId !== undefined) recordSafely('close call', () => this.audit.closeCall(callId));
      if (this.calls.get(room.id) === rec) this.calls.delete(room.id);
    });
  }

  /** The call, when `participantId` is in it now and on the analysed side: all the analyzer may speak of. */
  private screened(roomId: string, participantId: string): { rec: CallRecord; subject: Participant } | undefined {
    const rec = this.calls.get(roomId);
    const subject = rec?.room.get(participantId);
    return rec && subject && isAnalysed(subject.role) ? { rec, subject } : undefined;
  }

  private onEvidence(roomId: string, participantId: string, start: number, inputs: FusionInput[]): void {
    if (!this.recordEvidence) return;
    const rec = this.screened(roomId, participantId)?.rec;
    const callId = rec?.callId;
    if (!rec || callId === undefined) return;
    // Bounded per caller and call, so that an analyzer gone wrong (or a call left open for days)
    // cannot fill the disk; what came first is kept, and the log says once that the rest was not.
    const used = rec.evidenceBytes.get(participantId) ?? 0;
    if (used >= this.evidenceBytesPerCaller) return;
    const bytes = recordSafely('evidence', () => this.audit.evidenceRecorded(callId, participantId, start, inputs)) ?? 0;
    rec.evidenceBytes.set(participantId, used + bytes);
    if (used + bytes >= this.evidenceBytesPerCaller) log.warn('evidence for this caller no longer recorded: its limit for one call is reached', { room: roomId, participant: participantId, bytes: used + bytes });
  }

  private onRisk(roomId: string, u: RiskUpdate): void {
    const screened = this.screened(roomId, u.participantId);
    if (!screened) return;
    const { rec, subject } = screened;
    const prev = rec.latest.get(u.participantId);
    rec.latest.set(u.participantId, u);
    rec.held.delete(u.participantId);
    rec.room.toPrivileged('risk.update', u);
    this.emit('update', roomId, u);
    if (prev?.state !== u.state) {
      const callId = rec.callId;
      // On the server's clock, like everything else the call records: an analyzer on another host
      // may run ahead or behind, and the record's order must not depend on it.
      if (callId !== undefined) recordSafely('state change', () => this.audit.stateChanged(callId, { ...u, at: Date.now() }));
      log.info('risk state', {
        room: roomId,
        participant: u.participantId,
        state: u.state,
        risk: u.risk.toFixed(2),
        reasons: u.reasons.map((r) => `${r.detector}:${r.contribution.toFixed(2)}`).join(','),
        gaps: u.gaps.join(' | '),
        // What starves a DEGRADED verdict (detector and why: a stall, or sampling below its need).
        ...(u.degraded?.length ? { degraded: u.degraded.map((d) => `${d.detector}:${d.why ?? 'behind'}:${d.achieved}/${d.needed}`).join(',') } : {}),
      });
    }
    // One alert per episode: a verdict of CLEAR ends it; a restart or a dip to SUSPICIOUS does not.
    if (u.state === 'CLEAR') rec.episode.delete(u.participantId);
    if (u.state === 'ALERT' && prev?.state !== 'ALERT' && !rec.episode.has(u.participantId)) this.raise(rec, subject, u);
  }

  /**
   * The last raised state (SUSPICIOUS or ALERT, with the detectors that raised it) of each analysed
   * participant of a call, for the analyzer that watches it next to resume (RiskFusion.restore).
   */
  handBack(roomId: string): RiskHandBack[] {
    const out: RiskHandBack[] = [];
    const rec = this.calls.get(roomId);
    if (!rec) return out;
    for (const u of [...rec.latest.values(), ...rec.held.values()]) {
      if (u.state === 'SUSPICIOUS' || u.state === 'ALERT') out.push({ participantId: u.participantId, state: u.state, risk: u.risk, since: u.since, raisedBy: u.raisedBy ?? [] });
    }
    return out;
  }

  /**
   * For /metrics (prom-client JSON, merged in app.ts): analysed participants per state, and whose
   * analysis is degraded (1) or not (0), with one series per starved detector.
   */
  metricsJson(): Promise<MetricJson[]> {
    const m = new Metrics();
    const perState = new Map<string, number>(RISK_STATES.map((s) => [s, 0]));
    for (const rec of this.calls.values()) {
      for (const u of rec.latest.values()) {
        perState.set(u.state, (perState.get(u.state) ?? 0) + 1);
        const labels = { room: rec.room.id, participant: u.participantId };
        m.set('dfs_analysis_degraded', 'Whether an analysed participant\'s analysis is degraded (sampled below what a detector needs).', labels, u.degraded?.length ? 1 : 0);
        for (const d of u.degraded ?? []) m.set('dfs_analysis_degraded_detector', 'Detectors starved of samples, per analysed participant; why: behind (samples lost: a busy analyzer, a failing model) or stalled (no video arriving from a camera that is on).', { ...labels, detector: d.detector, why: d.why ?? 'behind' }, 1);
      }
    }
    for (const [state, n] of perState) m.set('dfs_risk_participants', 'Analysed participants in calls, by risk state.', { state }, n);
    return m.json();
  }

  private raise(rec: CallRecord, subject: Participant, u: RiskUpdate): void {
    // Raised now, on the server's clock (see onRisk), not at the analyzer's stamp.
    const alert: RiskAlert = { id: randomUUID(), participantId: subject.id, participantName: subject.name, risk: u.risk, reasons: u.reasons, at: Date.now() };
    const callId = rec.callId;
    if (callId !== undefined) recordSafely('alert', () => this.audit.alertRaised(callId, alert));
    rec.alerts.set(alert.id, alert);
    rec.episode.set(subject.id, alert.id);
    if (rec.alerts.size > MAX_ALERTS_PER_CALL) {
      // The oldest acknowledged alert goes (the audit log keeps it); an unacknowledged one stays,
      // still to be acknowledged and still keeping the call at ALERT on the dashboard, unless
      // every kept alert is unacknowledged.
      const old = [...rec.alerts.values()].find((a) => a.acked) ?? rec.alerts.values().next().value!;
      rec.alerts.delete(old.id);
    }
    rec.room.toPrivileged('risk.alert', alert);
    this.emit('alert', rec.room.id, alert);
    for (const p of rec.room.all()) if (isPrivileged(p.role)) recordSafely('alert shown', () => this.audit.alertShown(alert.id, p));
    log.warn('ALERT', { room: rec.room.id, participant: subject.id, risk: u.risk.toFixed(2), top: u.reasons[0]?.text ?? '' });
  }

  /** An alert reached someone outside the call's room (a supervisor's dashboard): recorded as shown to them. */
  shown(alertId: string, viewer: { id: string; role: string }): void {
    recordSafely('alert shown', () => this.audit.alertShown(alertId, viewer));
  }

  /** A privileged participant (or a supervisor on the dashboard) acknowledged an alert of this call. */
  acknowledge(roomId: string, by: Actor, alertId: string, note: string | undefined): boolean {
    const rec = this.calls.get(roomId);
    const alert = rec?.alerts.get(alertId);
    if (!rec || !alert) return false;
    recordSafely('acknowledgement', () => this.audit.alertAcknowledged(alertId, by, note));
    alert.acked ??= { by: by.name, at: Date.now(), ...(note ? { note } : {}) };
    rec.room.toPrivileged('risk.alert.acked', { alertId, by: by.name, ...(note ? { note } : {}) });
    this.emit('acked', roomId, alert);
    return true;
  }

  /** Current risk of each analysed participant of a call. */
  latest(roomId: string): RiskUpdate[] {
    return [...(this.calls.get(roomId)?.latest.values() ?? [])];
  }

  /** Recent alerts of a call, oldest first. */
  alerts(roomId: string): AlertRecord[] {
    return [...(this.calls.get(roomId)?.alerts.values() ?? [])];
  }

  /** An analysed participant's own capture facts, for the analyzer to weigh. */
  integrity(roomId: string, from: Participant, report: IntegrityReport): void {
    log.info('capture report', { room: roomId, participant: from.id, virtualCamera: report.virtualCamera ?? 'none', flags: report.flags.join(',') });
    this.hub.sendIntegrity(roomId, from.id, report);
  }

  /** The audit log's id of the room's call now, else of its last (undefined before anyone joined). */
  callId(roomId: string): number | undefined {
    const rec = this.calls.get(roomId);
    return rec?.callId ?? rec?.lastCallId;
  }

}
