/**
 * One wording of risk for every privileged view (badge, panel, toast, dashboard), so they never
 * disagree: the toast of an alert says what the panel says about that participant now. An alert
 * whose participant has since been judged otherwise still needs acknowledging, but no longer
 * claims "Possible fraud" beside a panel that says "Looks real".
 */
import type { RiskAlert, RiskState, RiskUpdate } from '../../../server/src/protocol/messages.ts';

export const RISK_LABELS: Record<RiskState, string> = {
  ANALYZING: 'Analysing…',
  CLEAR: 'Looks real',
  SUSPICIOUS: 'Suspicious',
  ALERT: 'Alert',
  INSUFFICIENT_SIGNAL: 'Not enough signal',
  DEGRADED: 'Analysis degraded',
};

/** The plain reason a participant's analysis is degraded, when it is. */
export function degradedReason(r: Pick<RiskUpdate, 'degraded'> | undefined): string | undefined {
  return r?.degraded?.[0]?.reason;
}

export interface ToastView {
  title: string;
  text: string;
  /** The participant's state now, as the panel shows it. */
  state: RiskState;
}

/** What the toast of `alert` says, given the participant's current risk (as the panel has it). */
export function toastView(alert: RiskAlert, current: RiskUpdate | undefined): ToastView {
  const state = current?.state ?? 'ALERT';
  if (state === 'ALERT') {
    // The alert's own reason: steady text (the panel beside it shows the live reasons).
    return { title: `Possible fraud: ${alert.participantName}`, text: alert.reasons[0]?.text ?? 'The risk is high.', state };
  }
  const at = new Date(alert.at).toLocaleTimeString();
  const now = state === 'DEGRADED' ? (degradedReason(current) ?? RISK_LABELS.DEGRADED) : current?.reasons[0]?.text ?? current?.gaps[0] ?? '';
  return {
    title: `Alert at ${at} on ${alert.participantName}, now: ${RISK_LABELS[state]}`,
    text: `It was: ${alert.reasons[0]?.text ?? 'high risk'}${now ? ` Now: ${now}` : ''}`,
    state,
  };
}

