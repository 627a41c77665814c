import { describe, expect, it } from 'vitest';
import type { DetectorId, Evidence } from '../../../server/src/analyzer/detectors/Detector.ts';
import { livenessEvidence } from '../../../server/src/analyzer/detectors/LivenessCheck.ts';
import { loadRiskConfig, RiskFusion, type RiskStateName } from '../../../server/src/analyzer/fusion/RiskFusion.ts';

const config = loadRiskConfig();
const ev = (detector: DetectorId, at: number, score: number | undefined, confidence = 1, reason = `${detector} says ${score}`): Evidence =>
  score === undefined ? { detector, at, confidence: 0, reason } : { detector, at, score, confidence, reason };

/** Feeds face evidence every 500 ms from `from` to `to` and records the states seen. */
function run(f: RiskFusion, from: number, to: number, score: (t: number) => number | undefined, detector: DetectorId = 'face-deepfake'): RiskStateName[] {
  const states: RiskStateName[] = [];
  for (let t = from; t < to; t += 500) {
    const s = score(t);
    f.addQuality(t, s === undefined ? 'no-face' : 'ok');
    if (s !== undefined) f.add(ev(detector, t, s));
    const st = f.update(t).state;
    if (states.at(-1) !== st) states.push(st);
  }
  return states;
}

describe('risk fusion', () => {
  it('the shipped configuration is valid and says where every number came from', () => {
    for (const d of Object.values(config.detectors)) expect(d.source.length).toBeGreaterThan(20);
    expect(config.thresholds.alert.enter).toBeGreaterThan(config.thresholds.suspicious.enter);
  });

  it('a real stream becomes CLEAR and one outlier frame does not raise an alert', () => {
    const f = new RiskFusion(config, 0);
    const states = run(f, 0, 30_000, (t) => (t === 12_000 ? 0.99 : 0.05));
    expect(states).toEqual(['ANALYZING', 'CLEAR']);
  });

  it('sustained fake evidence escalates only after the hold time, and reasons say why', () => {
    const f = new RiskFusion(config, 0);
    run(f, 0, 10_000, () => 0.05);
    expect(f.state).toBe('CLEAR');
    const seen: Array<[number, RiskStateName]> = [];
    for (let t = 10_000; t < 30_000; t += 500) {
      f.add(ev('face-deepfake', t, 0.95, 1, 'Face-swap artefacts (MesoNet 0.95).'));
      f.addQuality(t, 'ok');
      const snap = f.update(t);
      if (seen.at(-1)?.[1] !== snap.state) seen.push([t, snap.state]);
    }
    // Through SUSPICIOUS or straight up, but never down and never back.
    expect(seen.map(([, s]) => s).join('>')).toMatch(/^CLEAR>(SUSPICIOUS>)?ALERT$/);
    const alertAt = seen.find(([, s]) => s === 'ALERT')![0];
    // The window must first fill with fake readings, then the risk must hold for holdMs.enter.
    expect(alertAt - 10_000).toBeGreaterThanOrEqual(config.holdMs.enter);
    expect(alertAt - 10_000).toBeLessThan(12_000);
    const snap = f.update(30_000);
    expect(snap.reasons[0]).toMatchObject({ detector: 'face-deepfake', text: 'Face-swap artefacts (MesoNet 0.95).' });
    expect(snap.risk).toBeGreaterThan(config.thresholds.alert.enter);
  });

  it('does not flap when the risk hovers around a threshold (hysteresis)', () => {
    const f = new RiskFusion(config, 0);
    run(f, 0, 20_000, () => 0.95); // into ALERT
    expect(f.state).toBe('ALERT');
    // Risk now swings between just under the alert entry and well above the alert exit.
    const states = run(f, 20_000, 80_000, (t) => (Math.floor(t / 1500) % 2 ? 0.6 : 0.8));
    expect(states).toEqual(['ALERT']);
    // And a stream swinging around the suspicious entry from CLEAR changes state at most once.
    const g = new RiskFusion(config, 0);
    const swings = run(g, 0, 80_000, (t) => (Math.floor(t / 1000) % 2 ? 0.42 : 0.5));
    expect(swings.length).toBeLessThanOrEqual(3); // ANALYZING, CLEAR, and at most one move up
  });

  it('comes down only after the risk stays below the exit level', () => {
    const f = new RiskFusion(config, 0);
    run(f, 0, 20_000, () => 0.95);
    const seen: Array<[number, RiskStateName]> = [];
    for (let t = 20_000; t < 60_000; t += 500) {
      f.add(ev('face-deepfake', t, 0.02));
      f.addQuality(t, 'ok');
      const st = f.update(t).state;
      if (seen.at(-1)?.[1] !== st) seen.push([t, st]);
    }
    expect(seen[0]![1]).toBe('ALERT');
    expect(seen.at(-1)![1]).toBe('CLEAR');
    expect(seen[1]![0] - 20_000).toBeGreaterThanOrEqual(config.holdMs.exit);
  });

  it('says INSUFFICIENT_SIGNAL, with the reason, when there is no face to judge', () => {
    const f = new RiskFusion(config, 0);
    const states = run(f, 0, 20_000, () => undefined);
    expect(states).toEqual(['ANALYZING', 'INSUFFICIENT_SIGNAL']);
    expect(f.update(20_000).gaps).toContain('No face is visible.');
  });

  it('a short gap in evidence (a slow moment) does not flip CLEAR to INSUFFICIENT_SIGNAL', () => {
    const f = new RiskFusion(config, 0);
    run(f, 0, 20_000, () => 0.05);
    expect(f.state).toBe('CLEAR');
    // No readings for longer than the detector window, but shorter than insufficientAfterMs beyond it.
    const gapEnd = 20_000 + config.detectors['face-deepfake']!.windowMs + config.insufficientAfterMs - 3000;
    for (let t = 20_000; t < gapEnd; t += 500) expect(f.update(t).state).toBe('CLEAR');
    expect(run(f, gapEnd, gapEnd + 10_000, () => 0.05)).toEqual(['CLEAR']);
  });

  it('an alert holds when the face disappears', () => {
    const f = new RiskFusion(config, 0);
    run(f, 0, 20_000, () => 0.95);
    expect(run(f, 20_000, 60_000, () => undefined)).toEqual(['ALERT']);
  });

  it('advisory client evidence alone cannot make a caller suspicious; with a fake face it adds up', () => {
    const f = new RiskFusion(config, 0);
    f.add(ev('client-integrity', 0, 1, 1, 'The camera is "OBS Virtual Camera", a virtual camera.'));
    expect(run(f, 0, 30_000, () => 0.05)).toEqual(['ANALYZING', 'CLEAR']);
    const snap = f.update(30_000);
    expect(snap.reasons[0]!.detector).toBe('client-integrity');
    // The same middling face score is SUSPICIOUS only together with the virtual camera.
    const alone = new RiskFusion(config, 0);
    expect(run(alone, 0, 30_000, () => 0.35).at(-1)).toBe('CLEAR');
    const both = new RiskFusion(config, 0);
    both.add(ev('client-integrity', 0, 1, 1, 'virtual camera'));
    expect(run(both, 0, 30_000, () => 0.35).at(-1)).toBe('SUSPICIOUS');
  });

  it('a failed liveness check makes a clear caller SUSPICIOUS with its reason, and ALERT with a doubtful face; a pass lowers nothing', () => {
    const failed = livenessEvidence({ result: 'FAILED', reasons: ['Did not turn left: at most 1° (8° needed).'], requestedBy: 'Dr. Ode' }, 20_000);
    const f = new RiskFusion(config, 0);
    expect(run(f, 0, 20_000, () => 0.05).at(-1)).toBe('CLEAR');
    f.add(failed);
    expect(run(f, 20_000, 40_000, () => 0.05).at(-1)).toBe('SUSPICIOUS');
    const top = f.update(40_000).reasons[0]!;
    expect(top.detector).toBe('liveness-check');
    expect(top.text).toBe('Failed the liveness check Dr. Ode asked for: Did not turn left: at most 1° (8° needed).');
    const doubtful = new RiskFusion(config, 0);
    doubtful.add({ ...failed, at: 0 });
    expect(run(doubtful, 0, 30_000, () => 0.35).at(-1)).toBe('ALERT');
    const passed = new RiskFusion(config, 0);
    passed.add(livenessEvidence({ result: 'PASSED', reasons: [], requestedBy: 'Dr. Ode' }, 0));
    expect(run(passed, 0, 30_000, () => 0.95).at(-1)).toBe('ALERT');
    const unsure = livenessEvidence({ result: 'INCONCLUSIVE', reasons: ['No face was visible during the check.'], requestedBy: 'Dr. Ode' }, 0);
    expect(unsure.score).toBeUndefined();
  });

  it('ranks reasons by contribution', () => {
    const f = new RiskFusion(config, 0);
    for (let t = 0; t < 6000; t += 500) {
      f.add(ev('face-deepfake', t, 0.3));
      f.add(ev('presentation-attack', t, 0.9));
    }
    const snap = f.update(6000);
    expect(snap.reasons.map((r) => r.detector)).toEqual(['presentation-attack', 'face-deepfake']);
  });
});
