/**
 * One wording of risk for every privileged view (badge, panel, toast, dashboard), so they never
 * disagree: the toast of an alert says what the panel says about that participant now. An alert
 * whose participant has since been judged otherwise still needs acknowledging, but no longer
 * claims "Possible fraud" beside a panel that says "Looks real".
 */
import type { RiskAlert, RiskReason, RiskState, RiskUpdate } from '../../../server/src/protocol/messages.ts';
import { NO_VIDEO_GAP, QUALITY_GAPS, type QualityGap } from '../../../server/src/protocol/riskGaps.ts';

export const RISK_LABELS: Record<RiskState, string> = {
  ANALYZING: 'Analysing…',
  CLEAR: 'Looks real',
  SUSPICIOUS: 'Suspicious',
  ALERT: 'Alert: possible fake',
  INSUFFICIENT_SIGNAL: 'Cannot judge yet',
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
  const was = alertReason(alert);
  if (state === 'ALERT') {
    // The alert's own reason: steady text (the panel beside it shows the live reasons).
    return { title: `Possible fraud: ${alert.participantName}`, text: was, state };
  }
  const at = new Date(alert.at).toLocaleTimeString();
  const top = current ? reasonViews(current)[0]?.text : undefined;
  const now = state === 'DEGRADED' ? (degradedReason(current) ?? RISK_LABELS.DEGRADED) : (signalNotice(current)?.cause ?? top ?? '');
  return {
    title: `Alert at ${at} on ${alert.participantName}, now: ${RISK_LABELS[state]}`,
    text: `It was: ${was}${now ? ` Now: ${now}` : ''}`,
    state,
  };
}

/** An alert's main reason in plain words (its strongest concern). */
export function alertReason(alert: Pick<RiskAlert, 'reasons'>): string {
  const views = alert.reasons.map(reasonView);
  return (views.find((r) => r.concern) ?? views[0])?.text ?? 'The risk is high.';
}

/**
 * Reasons in plain language. The analyzer's own sentence (with its measurements) is the technical
 * detail, one click away; the clinician first reads what each check found, worded by detector id,
 * and whether it counts against the caller (a concern) or for them (reassuring). Keyed by the ids
 * in server/src/analyzer/detectors/registry.ts; an id not listed here falls back to the analyzer's
 * sentence, so a new detector is never hidden.
 */
export const PLAIN_REASONS: Record<string, { check: string; concern: string; fine: string }> = {
  'face-deepfake': { check: 'Face-swap check', concern: 'The face shows signs of a face swap or a computer-made face.', fine: 'No sign of a face swap in the face.' },
  'presentation-attack': { check: 'Photo and screen check', concern: 'The face looks like a photo or a screen held up to the camera.', fine: 'The face looks live, not a photo or a screen.' },
  'synthetic-voice': { check: 'Voice check', concern: 'The voice sounds computer-generated.', fine: 'The voice sounds natural.' },
  'face-blend': { check: 'Face-edge check', concern: 'The edge of the face looks blended in, as a pasted-in face does.', fine: 'The edge of the face looks natural.' },
  blink: { check: 'Blink check', concern: 'The eyes do not blink the way live eyes do.', fine: 'The eyes blink naturally.' },
  'lip-sync': { check: 'Lip-sync check', concern: 'The mouth does not move in step with the voice.', fine: 'The mouth moves with the voice.' },
  pulse: { check: 'Pulse check', concern: 'No pulse shows in the skin colour (a weak sign: video often hides it).', fine: 'A pulse shows in the skin colour, as live skin does.' },
  'face-flicker': { check: 'Flicker check', concern: 'The face flickers on its own, as a rendered face does.', fine: 'The face does not flicker on its own.' },
  'landmark-jitter': { check: 'Feature-movement check', concern: 'The eyes, nose and jaw tremble, as a re-rendered face does.', fine: 'The features move smoothly with the head.' },
  'pitch-jitter': { check: 'Voice-pitch check', concern: 'The pitch of the voice wobbles in small steps, as computer-generated speech does.', fine: 'The pitch of the voice glides smoothly, as a human voice does.' },
  'client-integrity': { check: 'Camera check', concern: "The caller's browser reports a virtual or unusual camera.", fine: "The caller's camera looks ordinary." },
  'liveness-check': { check: 'Liveness check', concern: 'The caller failed the liveness check.', fine: 'The caller passed the liveness check.' },
};

export interface ReasonView {
  detector: string;
  /** Counts against the caller (true) or for them (false). */
  concern: boolean;
  /** A strong concern: it carries much of the risk. */
  strong: boolean;
  /** What the check is called, e.g. "Voice check". */
  check: string;
  /** The plain sentence. */
  text: string;
  /** The analyzer's own sentence, with its measurements. */
  detail: string;
}

export function reasonView(r: RiskReason): ReasonView {
  // Without the detector's score (an older analyzer), a reason carrying real weight is a concern.
  const concern = r.score !== undefined ? r.score >= 0.5 : r.contribution >= 0.15;
  const plain = PLAIN_REASONS[r.detector];
  return {
    detector: r.detector,
    concern,
    strong: concern && r.contribution >= 0.3,
    check: plain?.check ?? r.detector,
    text: plain ? (concern ? plain.concern : plain.fine) : r.text,
    detail: r.text,
  };
}

/** Concerns first (strongest first), then reassuring reasons, each in the analyzer's order. */
export function reasonViews(u: RiskUpdate | undefined): ReasonView[] {
  const all = (u?.reasons ?? []).map(reasonView);
  // A check whose video has stalled cannot reassure: its calm readings from before the stall are
  // not shown as "✓" beside "the caller's video is not reaching the analysis server". Its
  // concerns stay: they are why a raised state holds.
  const stalled = new Set((u?.degraded ?? []).filter((d) => d.why === 'stalled').map((d) => d.detector));
  return [...all.filter((r) => r.concern), ...all.filter((r) => !r.concern && !stalled.has(r.detector))];
}

/** The one "cannot judge" line: the actual cause, what to do about it, and the analyzer's details. */
export interface SignalNotice {
  cause: string;
  action: string;
  details: string[];
}

const QUALITY_NOTICE: Record<QualityGap, { cause: string; action: string }> = {
  'no-face': { cause: "The caller's face is not in view.", action: 'Ask them to face the camera.' },
  'too-dark': { cause: 'The picture is too dark to see the face.', action: 'Ask them to face the light or turn a light on.' },
  'too-small': { cause: 'The face is too far from the camera.', action: 'Ask them to come closer to the camera.' },
  'multiple-faces': { cause: 'More than one face is in view.', action: 'Ask for only the caller to be in view.' },
  frozen: { cause: "The caller's picture has not changed for several seconds: a still image, or a frozen camera.", action: 'Ask them to move or to turn the camera off and on again; a liveness check tells a still image from a person.' },
};

/**
 * For INSUFFICIENT_SIGNAL and DEGRADED (and degraded analysis under any state), and for an alert
 * or suspicion held while a check that raised it cannot judge: why, and what to do. Undefined
 * otherwise: unmet checks are then listed only in the details.
 */
export function signalNotice(u: RiskUpdate | undefined): SignalNotice | undefined {
  if (!u) return undefined;
  if (u.state === 'DEGRADED' || u.degraded?.length) {
    // Once each: a stall gives every video check the same sentence.
    const details = [...new Set((u.degraded ?? []).map((d) => d.reason))];
    // The video stopped reaching the analyzer (a frozen picture, a network that stopped): not a busy server.
    if (u.degraded?.some((d) => d.why === 'stalled')) {
      return {
        cause: "The caller's video is not reaching the analysis server.",
        action:
          u.state === 'DEGRADED'
            ? 'No all-clear until it does. If their picture is frozen, ask them to turn the camera off and on again, or to rejoin.'
            : 'The result holds until their video arrives again. If their picture is frozen, ask them to turn the camera off and on again, or to rejoin.',
        details,
      };
    }
    return {
      cause: 'The analysis server is busy and checks less often than it needs to.',
      action: u.state === 'DEGRADED' ? 'No all-clear until it catches up. Carry on; if it lasts, tell your IT team.' : 'The result may be slow to change. If it lasts, tell your IT team.',
      details,
    };
  }
  const quality = (Object.entries(QUALITY_GAPS) as Array<[QualityGap, string]>).find(([, text]) => u.gaps.includes(text))?.[0];
  // A raised state holds while a check that raised it cannot judge (the face hidden, say): say so.
  const held = u.state === 'SUSPICIOUS' || u.state === 'ALERT' ? (u.raisedBy ?? []).filter((d) => !u.reasons.some((r) => r.detector === d)) : [];
  if (held.length) {
    const checks = held.map((d) => (PLAIN_REASONS[d]?.check ?? d).toLowerCase()).join(' and the ');
    return {
      cause: `The ${u.state === 'ALERT' ? 'alert' : 'suspicion'} holds: the ${checks} has no fresh readings${quality ? ` (${QUALITY_NOTICE[quality].cause.replace(/\.$/, '').toLowerCase()})` : ''}.`,
      action: quality ? `${QUALITY_NOTICE[quality].action} It lifts only when that check can judge again.` : 'It lifts only when that check can judge again.',
      details: u.gaps,
    };
  }
  if (u.state !== 'INSUFFICIENT_SIGNAL') return undefined;
  if (quality) return { ...QUALITY_NOTICE[quality], details: u.gaps };
  if (u.gaps.includes(NO_VIDEO_GAP)) return { cause: 'No video from the caller has reached the analysis.', action: 'Check that their camera is on.', details: u.gaps };
  return { cause: 'Not enough clear face or speech to judge yet.', action: 'Ask them to face the camera in good light and say a few sentences.', details: u.gaps };
}

/** A risk score, labelled for what it is (never a bare percentage that reads as confidence). */
export function riskScoreLabel(u: RiskUpdate | undefined): string | undefined {
  if (!u || !(u.state === 'CLEAR' || u.state === 'SUSPICIOUS' || u.state === 'ALERT') || !u.reasons.length) return undefined;
  return `risk ${Math.round(u.risk * 100)}%`;
}

/** What a screen reader hears when a participant's state changes. */
export function announcement(name: string, u: RiskUpdate): string {
  const top = reasonViews(u)[0];
  const notice = signalNotice(u);
  const why = notice ? ` ${notice.cause} ${notice.action}` : top && (u.state === 'SUSPICIOUS' || u.state === 'ALERT') ? ` ${top.text}` : '';
  return `${name}: ${RISK_LABELS[u.state]}.${why}`;
}
