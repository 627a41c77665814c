import { describe, expect, it } from 'vitest';
import { RiskFusion } from '../../../server/src/analyzer/fusion/RiskFusion.ts';
import { FusedTracker, recordFusion, refuseReport, replayFusion } from '../../../server/src/evaluation/fusion.ts';
import type { ClipResult } from '../../../server/src/evaluation/runner.ts';
import { faceDecisiveConfig } from '../../helpers/riskConfig.ts';

/** MesoNet decisive (test/helpers/riskConfig.ts): the fake face alone reaches ALERT, and when. */
const config = faceDecisiveConfig();
const T0 = 1_700_000_000_000;

/** A clip's fusion as the runner drives it: real face for 12 s, then a fake one, a tick a second. */
function play(fusion: RiskFusion): FusedTracker {
  const tracker = new FusedTracker(fusion.state);
  for (let t = 0; t <= 30_000; t += 250) {
    const fake = t >= 12_000;
    if (t % 500 === 0) {
      fusion.addQuality(T0 + t, 'ok');
      fusion.add({ detector: 'face-deepfake', at: T0 + t, score: fake ? 0.93 : 0.08, confidence: 0.9, reason: 'x' });
      fusion.add({ detector: 'presentation-attack', at: T0 + t, score: 0.01, confidence: 0.6, reason: 'x' });
    }
    if (t % 1000 === 0) tracker.tick(fusion.update(T0 + t), t);
  }
  return tracker;
}

describe('fusion replay (npm run eval -- --refuse)', () => {
  it('replaying the recorded inputs through the same configuration gives the same states and times', () => {
    const live = new RiskFusion(config, T0);
    const inputs = recordFusion(live, T0);
    const original = play(live).fused;
    expect(original.firstAlertS).not.toBeNull();
    const replayed = replayFusion(inputs, config);
    const { topReason: _a, ...o } = original;
    const { topReason: _b, ...r } = replayed.fused;
    expect(r).toEqual(o);
    expect(replayed.timeline).toHaveLength(31);
  });

  it('another configuration changes the outcome on the same evidence', () => {
    const live = new RiskFusion(config, T0);
    const inputs = recordFusion(live, T0);
    const original = play(live).fused;
    // Without the onset view the 10 s average must fill first: a later ALERT.
    const slow = replayFusion(inputs, { ...config, onset: { ...config.onset, detectors: [] } }).fused;
    expect(slow.firstAlertS!).toBeGreaterThan(original.firstAlertS!);
    // The switch happened at 12 s; the onset view alerts within 3 s of it.
    expect(original.firstAlertS! - 12).toBeLessThanOrEqual(3);
  });

  it('a report without recorded inputs is refused with a clear message', () => {
    const clip = { id: 'a', label: 'real', fused: {} } as unknown as ClipResult;
    expect(() => refuseReport({ clips: [clip], notes: [] }, config, 'rc.json')).toThrow(/no recorded fusion inputs/);
  });
});
