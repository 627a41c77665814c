/**
 * The supervisor dashboard's protocol (socket.io namespace /dashboard): every live call with its
 * participants, risk and alerts, pushed as it changes. Supervisors only, with an all-calls token.
 */
import { z } from 'zod';
import type { ChallengeView } from './challenge.ts';
import { RoomIdSchema, type Ack, type DegradedDetector, type ParticipantInfo, type RiskAlert, type RiskReason, type RiskState } from './messages.ts';

/** The room claim of a token valid for every call: supervisors' dashboard links. */
export const ALL_ROOMS = '*';

export interface DashboardParticipant extends ParticipantInfo {
  /** Analysed participants only. */
  risk?: { state: RiskState; risk: number; reasons: RiskReason[]; gaps: string[]; since: number; at: number; degraded?: DegradedDetector[] | undefined };
}

export interface DashboardAlert extends RiskAlert {
  acked?: { by: string; note?: string; at: number };
}

/** How many unacknowledged alerts a call's summary lists (the count says how many in all). */
export const MAX_PENDING_ALERTS = 20;

export interface CallSummary {
  room: string;
  participants: DashboardParticipant[];
  /** The most serious state among analysed participants (ANALYZING when there are none yet: see `analysed`). */
  state: RiskState;
  /** Analysed participants (patients, customers) in the call now; 0: nobody to screen yet (a host alone). */
  analysed: number;
  /** The audit log's id of this call: its case record is GET /api/calls/:room/record?call=ID. */
  callId?: number;
  /** When the first of the people in the call now joined (ms); absent while the call is empty. */
  startedAt?: number;
  /**
   * What the call needs of a supervisor, to sort by: the worst of `state` and any unacknowledged
   * alert (ALERT until acknowledged, even when the caller has since been judged CLEAR).
   */
  attention: RiskState;
  /** The call's oldest unacknowledged alert, else its newest: the one its card leads with. */
  lastAlert?: DashboardAlert;
  /**
   * Every unacknowledged alert, oldest first (the first MAX_PENDING_ALERTS): each shown and
   * acknowledged on its own, and an id not seen before is a new alert to announce.
   */
  pending?: DashboardAlert[];
  alerts: number;
  unacknowledged: number;
  /** The latest liveness check in this call. */
  challenge?: ChallengeView;
}

/**
 * A summary's alerts by id: every unacknowledged one it lists, and the one its card leads with
 * (the newest, acknowledged, once none is pending). What the dashboard announces and records as
 * shown to a supervisor.
 */
export function summaryAlerts(c: Pick<CallSummary, 'pending' | 'lastAlert'>): DashboardAlert[] {
  const pending = c.pending ?? [];
  const last = c.lastAlert;
  return last && !pending.some((a) => a.id === last.id) ? [...pending, last] : pending;
}

export const DashboardMessages = {
  'alert.ack': z.strictObject({ room: RoomIdSchema, alertId: z.string().min(1).max(64), note: z.string().max(500).optional() }),
} as const;
export type DashboardEvent = keyof typeof DashboardMessages;
export type DashboardPayload<E extends DashboardEvent> = z.infer<(typeof DashboardMessages)[E]>;

export interface DashboardAcks {
  'alert.ack': Ack;
}

export type DashboardClientEvents = {
  [E in DashboardEvent]: (payload: DashboardPayload<E>, ack: (result: DashboardAcks[E]) => void) => void;
};

export interface DashboardServerEvents {
  /** Every live call, on connect. */
  snapshot: (calls: CallSummary[]) => void;
  /** One call changed (or opened). */
  call: (call: CallSummary) => void;
  /** A call ended. */
  'call.closed': (p: { room: string }) => void;
  error: (e: { code: string; message: string }) => void;
}
