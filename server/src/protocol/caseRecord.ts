/**
 * The case record of a call (built by audit/CaseRecord.ts from the audit log, served at
 * GET /api/calls/:room/record): its shape, shared by the server, the call page and the dashboard.
 */
import type { RiskReason } from './messages.ts';

export interface CaseParticipant {
  id: string;
  name: string;
  role: string;
  joinedAt: number;
  leftAt: number | null;
}

export interface CaseAlertView {
  viewerId: string;
  /** The viewer's display name when they were a participant of the call, else their id. */
  viewerName: string;
  viewerRole: string;
  shownAt: number;
  acknowledgedAt: number | null;
  note: string | null;
}

export interface CaseAlert {
  id: string;
  participantId: string;
  participantName: string;
  risk: number;
  reasons: RiskReason[];
  at: number;
  views: CaseAlertView[];
}

export interface CaseCheck {
  id: string;
  participantId: string;
  participantName: string;
  requestedBy: string;
  result: string;
  reasons: string[];
  steps: Array<{ action: string; state: string; reason?: string }>;
  startedAt: number;
  endedAt: number;
}

/**
 * What a call turned out to be for an analysed participant, as a privileged person marked it
 * afterwards (POST /api/calls/:room/outcome): a confirmed fraud, confirmed genuine, or 'unknown'
 * (taking back an earlier mark). The latest mark counts; `npm run calibrate -- --from-audit`
 * learns from the calls marked fraud or genuine.
 */
export const CASE_OUTCOMES = ['fraud', 'genuine', 'unknown'] as const;
export type CaseOutcome = (typeof CASE_OUTCOMES)[number];

export interface CaseOutcomeMark {
  participantId: string;
  outcome: CaseOutcome;
  byId: string;
  byRole: string;
  byName: string;
  at: number;
  note: string | null;
}

/** One line of the record's chronology; `at` orders them (ties keep the order below). */
export type CaseEvent =
  | { at: number; kind: 'joined' | 'left'; participantId: string; name: string; role: string }
  | { at: number; kind: 'state'; participantId: string; name: string; state: string; risk: number; reasons: RiskReason[] }
  | { at: number; kind: 'alert'; participantId: string; name: string; alertId: string; risk: number; reasons: RiskReason[] }
  | { at: number; kind: 'acknowledged'; participantId: string; name: string; alertId: string; by: string; byRole: string; note: string | null }
  | { at: number; kind: 'check'; participantId: string; name: string; checkId: string; result: string; requestedBy: string; reasons: string[] };

export interface CaseRecord {
  version: 1;
  callId: number;
  room: string;
  openedAt: number;
  /** null while the call runs. */
  closedAt: number | null;
  /** Until it closed, or until the record was made for a call still running. */
  durationMs: number;
  ongoing: boolean;
  generatedAt: number;
  participants: CaseParticipant[];
  /** Per analysed participant, each state change in order. */
  states: Array<{ participantId: string; name: string; changes: Array<{ at: number; state: string; risk: number; reasons: RiskReason[] }> }>;
  alerts: CaseAlert[];
  checks: CaseCheck[];
  /** Every outcome mark, oldest first (the latest per participant counts), with the participant's name. */
  outcomes: Array<CaseOutcomeMark & { participantName: string }>;
  /** Everything above but the outcome marks (made after the call), in the order it happened. */
  events: CaseEvent[];
}

/** "45 s", "12 min 3 s", "1 h 5 min". */
export function formatDuration(ms: number): string {
  // Never negative: a browser clock a little behind the server's must not read "-1 h -1 min".
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
}

