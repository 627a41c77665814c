import { describe, expect, it } from 'vitest';
import { RiskFusion } from '../../../server/src/analyzer/fusion/RiskFusion.ts';
import { FusedTracker, playTail, recordFusion, refuseReport, replayFusion } from '../../../server/src/evaluation/fusion.ts';
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

  it('the tail after a clip shows the state its last evidence earned, without changing its risk', () => {
    // A clip that turns fake 4 s before its end: the risk passes SUSPICIOUS's entry at 7 s, and
    // the 3 s hold to enter the state runs past the clip's end at 8 s.
    const rc = { ...config, onset: { ...config.onset, detectors: [] } };
    const live = new RiskFusion(rc, T0);
    const inputs = recordFusion(live, T0);
    const tracker = new FusedTracker(live.state);
    for (let t = 0; t <= 8000; t += 500) {
      live.addQuality(T0 + t, 'ok');
      live.add({ detector: 'face-deepfake', at: T0 + t, score: t >= 4000 ? 1 : 0.05, confidence: 1, reason: 'x' });
      live.add({ detector: 'presentation-attack', at: T0 + t, score: 0.01, confidence: 0.6, reason: 'x' });
      if (t % 1000 === 0) tracker.tick(live.update(T0 + t), t);
    }
    const none = replayFusion(inputs, rc).fused;
    expect(none.firstSuspiciousS).toBeNull();
    const tailed = replayFusion(inputs, rc, 4000);
    expect(tailed.fused.firstSuspiciousS).toBeGreaterThan(8);
    expect(tailed.fused.firstSuspiciousS).toBeLessThanOrEqual(12);
    expect(tailed.fused.suspiciousEntries).toBe(1);
    // The clip's risk and its timeline are the media's: the AUCs do not move.
    expect(tailed.fused.maxRisk).toBe(none.maxRisk);
    expect(tailed.timeline).toHaveLength(9);
    // refuseReport plays the report's own tail unless told otherwise.
    const clip = { id: 'a', label: 'fake', fusionInputs: inputs, fused: none } as unknown as ClipResult;
    const report = { clips: [clip], notes: [] as string[], settings: { tailSeconds: 4 } };
    expect(refuseReport(report, rc, 'rc.json').clips[0]!.fused.firstSuspiciousS).toBe(tailed.fused.firstSuspiciousS);
    expect(refuseReport(report, rc, 'rc.json', 0).clips[0]!.fused.firstSuspiciousS).toBeNull();
    // The runner's tail (played on the live fusion, its ticks left out of the recording) agrees.
    const recorded = inputs.length;
    playTail(live, tracker, T0, 8000, 8000, 4000);
    inputs.length = recorded;
    expect(tracker.fused.firstSuspiciousS).toBe(tailed.fused.firstSuspiciousS);
    expect(tracker.fused.maxRisk).toBe(none.maxRisk);
  });

  it('a report without recorded inputs is refused with a clear message', () => {
    const clip = { id: 'a', label: 'real', fused: {} } as unknown as ClipResult;
    expect(() => refuseReport({ clips: [clip], notes: [] }, config, 'rc.json')).toThrow(/no recorded fusion inputs/);
  });
});
