/** The toast and the panel say the same thing about a participant: one wording, from the same risk. */
import { describe, expect, it } from 'vitest';
import type { RiskAlert, RiskUpdate } from '../../../server/src/protocol/messages.ts';
import { RISK_LABELS, toastView } from '../../../client/src/lib/riskView.ts';

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
    expect(toastView(alert, now('ALERT'))).toMatchObject({ title: 'Possible fraud: Pat Lee', text: alert.reasons[0]!.text, state: 'ALERT' });
    // The alert arrives before the next update: the alert is the current picture.
    expect(toastView(alert, undefined).title).toBe('Possible fraud: Pat Lee');
    for (const state of ['CLEAR', 'SUSPICIOUS', 'INSUFFICIENT_SIGNAL', 'ANALYZING'] as const) {
      const v = toastView(alert, now(state));
      expect(v.title).not.toMatch(/Possible fraud/);
      // The panel's label for that state, word for word.
      expect(v.title).toContain(`now: ${RISK_LABELS[state]}`);
      expect(v.state).toBe(state);
      expect(v.text).toMatch(/^It was: The face shows the blending artefacts/);
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
