/** The toast and the panel say the same thing about a participant: one wording, from the same risk. */
import { describe, expect, it } from 'vitest';
import type { RiskAlert, RiskUpdate } from '../../../server/src/protocol/messages.ts';
import { PLAIN_REASONS, RISK_LABELS, announcement, reasonViews, riskScoreLabel, signalNotice, toastView } from '../../../client/src/lib/riskView.ts';
import { QUALITY_GAPS } from '../../../server/src/protocol/riskGaps.ts';

const alert: RiskAlert = {
  id: 'a1',
  participantId: 'pat',
  participantName: 'Pat Lee',
  risk: 0.9,
  reasons: [{ detector: 'face-deepfake', text: 'The face shows the blending artefacts of face-swap deepfakes.', contribution: 0.9 }],
  at: Date.UTC(2026, 0, 1, 12, 0, 0),
};
const now = (state: RiskUpdate['state'], extra: Partial<RiskUpdate> = {}): RiskUpdate => ({
  participantId: 'pat',
  state,
  risk: state === 'ALERT' ? 0.9 : 0.05,
  reasons: [{ detector: 'face-deepfake', text: state === 'ALERT' ? 'Face-swap artefacts.' : 'The face looks natural.', contribution: 0.05 }],
  gaps: [],
  since: 0,
  at: 0,
  ...extra,
});

describe('toast view', () => {
  it('says "Possible fraud" only while the participant is in ALERT', () => {
    expect(toastView(alert, now('ALERT'))).toMatchObject({ title: 'Possible fraud: Pat Lee', text: PLAIN_REASONS['face-deepfake']!.concern, state: 'ALERT' });
    // The alert arrives before the next update: the alert is the current picture.
    expect(toastView(alert, undefined).title).toBe('Possible fraud: Pat Lee');
    for (const state of ['CLEAR', 'SUSPICIOUS', 'INSUFFICIENT_SIGNAL', 'ANALYZING'] as const) {
      const v = toastView(alert, now(state));
      expect(v.title).not.toMatch(/Possible fraud/);
      // The panel's label for that state, word for word.
      expect(v.title).toContain(`now: ${RISK_LABELS[state]}`);
      expect(v.state).toBe(state);
      expect(v.text).toMatch(/^It was: The face shows signs of a face swap/);
    }
  });

  it('a degraded analysis is named with its reason, never as looking real', () => {
    const reason = 'Analysis degraded: the analyzer is behind and gets 0.2 frames a second for the face-swap check, which needs 0.3.';
    const v = toastView(alert, now('DEGRADED', { degraded: [{ detector: 'face-deepfake', reason, achieved: 0.2, needed: 0.3 }] }));
    expect(v.title).toContain('now: Analysis degraded');
    expect(v.text).toContain(`Now: ${reason}`);
    expect(v.title).not.toContain(RISK_LABELS.CLEAR);
  });
});

describe('reasons in plain words', () => {
  const u = (extra: Partial<RiskUpdate>): RiskUpdate => ({ participantId: 'pat', state: 'CLEAR', risk: 0.1, reasons: [], gaps: [], since: 0, at: 0, ...extra });

  it('words each reason for a clinician, keeps the analyzer\'s sentence as the detail, and tells concerns from reassurance', () => {
    const views = reasonViews(
      u({
        state: 'SUSPICIOUS',
        reasons: [
          { detector: 'synthetic-voice', text: 'The voice sounds natural (bona fide score -0.3, above the calibrated -3.5).', contribution: 0.02, score: 0.1 },
          { detector: 'face-deepfake', text: 'The face shows artefacts typical of DF deepfakes (MesoNet 81% fake).', contribution: 0.5, score: 0.81 },
          { detector: 'some-new-cue', text: 'A new cue says so.', contribution: 0.01, score: 0.2 },
        ],
      }),
    );
    // Concerns first, then reassuring reasons.
    expect(views.map((v) => [v.detector, v.concern, v.strong])).toEqual([
      ['face-deepfake', true, true],
      ['synthetic-voice', false, false],
      ['some-new-cue', false, false],
    ]);
    // The video stalled: the face checks' calm readings from before it do not reassure; a concern stays.
    const stall = { reason: 'Analysis degraded: no video has reached the analyzer for 5 s.', achieved: 0, needed: 0.3, why: 'stalled' as const };
    const calm = u({
      state: 'DEGRADED',
      reasons: [
        { detector: 'face-deepfake', text: 'No sign of a face swap.', contribution: 0.1, score: 0.15 },
        { detector: 'synthetic-voice', text: 'The voice sounds natural.', contribution: 0.01, score: 0.05 },
      ],
      degraded: [{ detector: 'face-deepfake', ...stall }],
    });
    expect(reasonViews(calm).map((v) => v.detector)).toEqual(['synthetic-voice']);
    const raised = u({ state: 'ALERT', reasons: [{ detector: 'face-deepfake', text: 'MesoNet 90% fake.', contribution: 0.85, score: 0.9 }], degraded: [{ detector: 'face-deepfake', ...stall }] });
    expect(reasonViews(raised).map((v) => [v.detector, v.concern])).toEqual([['face-deepfake', true]]);
    expect(views[0]!.text).toBe(PLAIN_REASONS['face-deepfake']!.concern);
    expect(views[1]!.text).toBe('The voice sounds natural.');
    // No jargon in the plain sentence; the measurements are in the detail.
    for (const v of views.slice(0, 2)) expect(v.text).not.toMatch(/MesoNet|bona fide|%|calibrated/);
    expect(views[1]!.detail).toContain('bona fide score -0.3');
    // A detector the client does not know keeps the analyzer's sentence.
    expect(views[2]!.text).toBe('A new cue says so.');
  });

  it('labels a risk score for what it is, and only with a verdict', () => {
    expect(riskScoreLabel(u({ state: 'ALERT', risk: 0.94, reasons: [{ detector: 'face-deepfake', text: 'x', contribution: 0.9, score: 0.95 }] }))).toBe('risk 94%');
    expect(riskScoreLabel(u({ state: 'INSUFFICIENT_SIGNAL', risk: 0.19 }))).toBeUndefined();
    expect(riskScoreLabel(u({ state: 'ANALYZING', risk: 0.19 }))).toBeUndefined();
  });

  it('"cannot judge" gives the actual cause and what to ask, once, whatever else is missing', () => {
    const gaps = ['Too little speech in this stretch to judge the voice (3% voiced; 20% needed).', QUALITY_GAPS['too-dark'], 'Video is sampled at 0.5 frames per second; a pulse needs at least 5.5.'];
    const n = signalNotice(u({ state: 'INSUFFICIENT_SIGNAL', gaps }))!;
    expect(n.cause).toMatch(/too dark/);
    expect(n.action).toMatch(/face the light/);
    expect(n.details).toEqual(gaps);
    expect(signalNotice(u({ state: 'INSUFFICIENT_SIGNAL', gaps: [QUALITY_GAPS['no-face']] }))!.action).toMatch(/face the camera/);
    // A picture that stopped changing: a still image or a frozen camera, and how to tell which.
    const still = signalNotice(u({ state: 'INSUFFICIENT_SIGNAL', gaps: [QUALITY_GAPS.frozen] }))!;
    expect(still.cause).toMatch(/has not changed .* still image, or a frozen camera/);
    expect(still.action).toMatch(/liveness check/);
    expect(signalNotice(u({ state: 'INSUFFICIENT_SIGNAL', gaps: ['Too little speech.'] }))!.action).toMatch(/good light/);
    const degraded = signalNotice(u({ state: 'DEGRADED', degraded: [{ detector: 'face-deepfake', reason: 'Analysis degraded: 0.2 frames a second.', achieved: 0.2, needed: 0.3 }] }))!;
    expect(degraded.cause).toMatch(/busy/);
    expect(degraded.details).toEqual(['Analysis degraded: 0.2 frames a second.']);
    // Video that stopped arriving is not a busy server: say what the clinician can see and do.
    const stalled = "Analysis degraded: no video has reached the analyzer for 5 s although the caller's camera is on; no face check can judge.";
    const frozen = signalNotice(u({ state: 'DEGRADED', degraded: (['face-deepfake', 'presentation-attack'] as const).map((detector) => ({ detector, reason: stalled, achieved: 0, needed: 0.3, why: 'stalled' as const })) }))!;
    expect(frozen.cause).toBe("The caller's video is not reaching the analysis server.");
    expect(frozen.action).toMatch(/^No all-clear until it does\. If their picture is frozen/);
    expect(frozen.details).toEqual([stalled]);
    expect(signalNotice(u({ state: 'ALERT', degraded: [{ detector: 'face-deepfake', reason: stalled, achieved: 0, needed: 0.3, why: 'stalled' }] }))!.action).toMatch(/^The result holds until their video arrives again/);
    // An alert held while the check that raised it cannot see the face says so, and what to ask.
    const held = signalNotice(u({ state: 'ALERT', raisedBy: ['face-deepfake'], reasons: [{ detector: 'client-integrity', text: 'x', contribution: 0.19, score: 1 }], gaps: [QUALITY_GAPS['no-face']] }))!;
    expect(held.cause).toBe("The alert holds: the face-swap check has no fresh readings (the caller's face is not in view).");
    expect(held.action).toMatch(/^Ask them to face the camera\. It lifts only/);
    expect(signalNotice(u({ state: 'ALERT', raisedBy: ['face-deepfake'], reasons: [{ detector: 'face-deepfake', text: 'x', contribution: 0.9, score: 0.95 }], gaps }))).toBeUndefined();
    // States with a verdict have no "cannot judge" line, however many checks could not run.
    expect(signalNotice(u({ state: 'CLEAR', gaps }))).toBeUndefined();
    expect(signalNotice(u({ state: 'ALERT', gaps }))).toBeUndefined();
  });

  it('announces a state change in words, with the cause when it cannot judge', () => {
    expect(announcement('Pat Lee', u({ state: 'INSUFFICIENT_SIGNAL', gaps: [QUALITY_GAPS['too-dark']] }))).toBe(`Pat Lee: ${RISK_LABELS.INSUFFICIENT_SIGNAL}. The picture is too dark to see the face. Ask them to face the light or turn a light on.`);
    expect(announcement('Pat Lee', u({ state: 'CLEAR' }))).toBe('Pat Lee: Looks real.');
    for (const label of Object.values(RISK_LABELS)) expect(label).not.toMatch(/_|%/);
  });
});
