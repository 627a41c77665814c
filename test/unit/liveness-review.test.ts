/**
 * Holes in the step-up liveness check and its policy found in a review (3 Dec 2026), each proven
 * against the stated rules by a test that failed before its fix.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { DetectorId, Evidence } from '../../server/src/analyzer/detectors/Detector.ts';
import { livenessEvidence } from '../../server/src/analyzer/detectors/LivenessCheck.ts';
import { loadRiskConfig, RiskFusion, type RiskStateName } from '../../server/src/analyzer/fusion/RiskFusion.ts';
import { Challenge } from '../../server/src/screening/challenge/Challenge.ts';
import { FakeClock } from '../helpers/fakeClock.ts';
import type { PlannedStep } from '../../server/src/screening/challenge/plan.ts';
import { attachStepUp, StepUpPolicy, type RoomType } from '../../server/src/screening/StepUp.ts';
import type { ChallengeSample, ChallengeView } from '../../server/src/protocol/challenge.ts';
import type { RiskState, RiskUpdate } from '../../server/src/protocol/messages.ts';

const config = loadRiskConfig();
const ev = (detector: DetectorId, at: number, score: number, confidence = 1): Evidence => ({ detector, at, score, confidence, reason: `${detector} says ${score}` });

/** Feeds a clean face (or no face) every 500 ms and returns the last state. */
function run(f: RiskFusion, from: number, to: number, score: number | undefined): RiskStateName {
  for (let t = from; t < to; t += 500) {
    f.addQuality(t, score === undefined ? 'no-face' : 'ok');
    if (score !== undefined) f.add(ev('face-deepfake', t, score));
    f.update(t);
  }
  return f.state;
}

const check = (result: 'PASSED' | 'FAILED', at: number) => livenessEvidence({ result, reasons: result === 'FAILED' ? ['The face broke down while turning left.'] : [], requestedBy: 'Dr' }, at);

describe('review: a liveness check verdict in fusion', () => {
  it('a PASSED check after a FAILED one does not lower the SUSPICIOUS the failure raised', () => {
    const f = new RiskFusion(config, 0);
    expect(run(f, 0, 20_000, 0.05)).toBe('CLEAR');
    f.add(check('FAILED', 20_000));
    expect(run(f, 20_000, 40_000, 0.05)).toBe('SUSPICIOUS');
    // The host asks again, twice; the caller passes both (a swap that survives a milder turn).
    f.add(check('PASSED', 40_000));
    run(f, 40_000, 60_000, 0.05);
    f.add(check('PASSED', 60_000));
    expect(run(f, 60_000, 100_000, 0.05)).toBe('SUSPICIOUS');
  });

  it('a PASSED check is no signal: a caller whose face is gone is not kept CLEAR by it', () => {
    // Control: without a check, a face gone for a minute is INSUFFICIENT_SIGNAL.
    const control = new RiskFusion(config, 0);
    run(control, 0, 20_000, 0.05);
    expect(run(control, 20_000, 80_000, undefined)).toBe('INSUFFICIENT_SIGNAL');
    const f = new RiskFusion(config, 0);
    expect(run(f, 0, 20_000, 0.05)).toBe('CLEAR');
    f.add(check('PASSED', 20_000));
    expect(run(f, 20_000, 80_000, undefined)).toBe('INSUFFICIENT_SIGNAL');
    // Nor does a pass alone turn "no verdict yet" into an all-clear.
    const fresh = new RiskFusion(config, 0);
    fresh.add(check('PASSED', 0));
    expect(run(fresh, 0, 30_000, undefined)).toBe('INSUFFICIENT_SIGNAL');
  });
});

describe('review: the check judges the face classifiers', () => {
  const plan: PlannedStep[] = [
    { action: 'turn-left', promptAt: 2000, durationMs: 3000 },
    { action: 'look-up', promptAt: 6000, durationMs: 3000 },
    { action: 'turn-right', promptAt: 10000, durationMs: 3000 },
  ];
  /** Pose and mouth only: the face classifiers gave no score (models not loaded, or every run failed). */
  const pose = (over: Partial<ChallengeSample> = {}): ChallengeSample => ({ at: 0, face: true, yaw: -3, pitch: -2, mouth: 0.55, presence: 1, occlusion: 0.1, ...over });
  const compliant = (t: number): ChallengeSample => {
    const step = plan.find((s) => t >= s.promptAt + 500 && t <= s.promptAt + s.durationMs);
    if (step?.action === 'turn-left') return pose({ yaw: 50 });
    if (step?.action === 'turn-right') return pose({ yaw: -55 });
    if (step?.action === 'look-up') return pose({ pitch: 15 });
    return pose();
  };

  it('is not PASSED when no face classifier or cue scored a single frame of the turns', () => {
    const clock = new FakeClock();
    const c = new Challenge({ id: 'c', participantId: 'p', participantName: 'Pat', requestedBy: 'Dr', plan, clock, graceMs: 1000, reactionMs: 300, lateMs: 500 });
    const ends: ChallengeView[] = [];
    c.on('end', (v) => ends.push(v));
    c.start();
    for (let t = 0; t < 40_000 && c.running; t += 150) {
      c.addSample({ ...compliant(t), at: 1_000_000 + t });
      clock.advance(150);
    }
    expect(ends).toHaveLength(1);
    // "the face classifiers held steady through the turn" with no classifier reading at all is a PASS for lack of data.
    expect(ends[0]!.state).toBe('INCONCLUSIVE');
    expect(ends[0]!.reasons.join(' ')).toMatch(/classifier/);
  });
});

function update(state: RiskState, participantId = 'cus'): RiskUpdate {
  return { participantId, state, risk: state === 'CLEAR' ? 0.1 : 0.6, reasons: [{ detector: 'face-deepfake', text: 'The face looks real.', contribution: 0.1 }], gaps: [], since: 0, at: 0 };
}

describe('review: step-up policy', () => {
  it('a persistent room that empties ends the call: the next call checks its KYC customer at join again', () => {
    let t = 0;
    const started: string[] = [];
    const policy = new StepUpPolicy({
      typeOf: () => 'kyc',
      now: () => t,
      cooldownMs: 60_000,
      maxPerCaller: 1,
      start: (_room, participantId) => {
        started.push(participantId);
        return { started: true };
      },
    });
    // A room from ROOMS: it never closes; the audit (RiskDesk) ends its call when the last person leaves.
    const people = new Map<string, { id: string; role: string }>();
    const room = Object.assign(new EventEmitter(), { id: 'kyc-desk', persistent: true, all: () => [...people.values()], get people() { return people.size; } });
    const registry = Object.assign(new EventEmitter(), { list: () => [room], get: () => room });
    const risk = new EventEmitter();
    attachStepUp(policy, registry as never, risk as never);
    const join = (id: string, role: string) => {
      people.set(id, { id, role });
      room.emit('joined', people.get(id));
    };
    const leave = (id: string) => {
      const p = people.get(id)!;
      people.delete(id);
      room.emit('left', p);
      if (people.size === 0) room.emit('empty');
    };
    // Monday's call.
    join('agent', 'agent');
    join('cus', 'customer');
    risk.emit('update', 'kyc-desk', update('CLEAR'));
    expect(started).toEqual(['cus']);
    leave('cus');
    leave('agent');
    // Tuesday: the same customer, a new call in the same room.
    t += 86_400_000;
    join('agent', 'agent');
    join('cus', 'customer');
    risk.emit('update', 'kyc-desk', update('CLEAR'));
    expect(started).toEqual(['cus', 'cus']);
  });

  it('a support room: an ALERT that dips to SUSPICIOUS and comes back is the same episode, no second automatic check', () => {
    let t = 0;
    const started: string[] = [];
    const types: Record<string, RoomType> = { desk: 'support' };
    const policy = new StepUpPolicy({
      typeOf: (r) => types[r]!,
      now: () => t,
      cooldownMs: 60_000,
      maxPerCaller: 3,
      start: (_room, participantId) => {
        started.push(participantId);
        return { started: true };
      },
    });
    policy.joined('desk', 'cus');
    policy.risk('desk', update('ALERT'));
    expect(started).toHaveLength(1);
    // The check FAILED; the caller stays raised, wavering between ALERT and SUSPICIOUS.
    for (const s of ['SUSPICIOUS', 'ALERT', 'SUSPICIOUS', 'ALERT'] as const) {
      t += 120_000;
      policy.risk('desk', update(s));
    }
    expect(started).toHaveLength(1);
  });
});
