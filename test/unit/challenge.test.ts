/**
 * The liveness challenge without media: random plans, each movement's judgement from per-frame
 * measurements, the detectors' behaviour during movements, and the state machine's timing,
 * time-outs and cancellation on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { Challenge } from '../../server/src/screening/challenge/Challenge.ts';
import { FakeClock } from '../helpers/fakeClock.ts';
import { baselineOf, JUDGE, judgeDetectors, judgeStep, judgeStress, verdict } from '../../server/src/screening/challenge/judge.ts';
import { drawPlan, type PlannedStep } from '../../server/src/screening/challenge/plan.ts';
import { noteCues } from '../../server/src/analyzer/challengeCues.ts';
import type { Evidence } from '../../server/src/analyzer/detectors/Detector.ts';
import { CHALLENGE_ACTIONS, ChallengeSampleSchema, STRESS_ACTIONS, type ChallengeAction, type ChallengePrompt, type ChallengeSample, type ChallengeView } from '../../server/src/protocol/challenge.ts';
import { seededRandom } from '../helpers/random.ts';

const seeded = seededRandom;

const face = (at: number, over: Partial<ChallengeSample> = {}): ChallengeSample => ({ at, face: true, yaw: -3, pitch: -2, mouth: 0.55, presence: 1, occlusion: 0.1, deepfake: 0.2, spoof: 0.1, ...over });

describe('challenge plan', () => {
  it('draws distinct actions in varying order with baseline, gaps and durations in range', () => {
    const random = seeded(7);
    const orders = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const plan = drawPlan(random);
      expect(plan).toHaveLength(3);
      expect(new Set(plan.map((s) => s.action)).size).toBe(3);
      expect(plan[0]!.promptAt).toBeGreaterThanOrEqual(800);
      expect(plan[0]!.promptAt).toBeLessThanOrEqual(1200);
      for (let k = 1; k < plan.length; k++) {
        const gap = plan[k]!.promptAt - (plan[k - 1]!.promptAt + plan[k - 1]!.durationMs);
        expect(gap).toBeGreaterThanOrEqual(400);
        expect(gap).toBeLessThanOrEqual(1000);
      }
      orders.add(plan.map((s) => s.action).join(','));
    }
    // 5 actions, 3 steps: 60 possible sequences; 200 draws should see most of them.
    expect(orders.size).toBeGreaterThan(40);
    const firsts = new Set([...orders].map((o) => o.split(',')[0]));
    expect(firsts).toEqual(new Set(CHALLENGE_ACTIONS));
  });

  it('uses the cryptographic source by default, honours options, and refuses impossible plans', () => {
    const a = drawPlan();
    const b = drawPlan();
    const c = drawPlan();
    expect(new Set([a, b, c].map((p) => JSON.stringify(p))).size).toBeGreaterThan(1);
    const only = drawPlan(seeded(1), { steps: 2, actions: ['turn-left', 'turn-right'], durationMs: 2000, baselineMs: [100, 100], gapMs: [0, 0] });
    expect(only.map((s) => s.action).sort()).toEqual(['turn-left', 'turn-right']);
    expect(only.map((s) => s.promptAt)).toEqual([100, 2100]);
    expect(() => drawPlan(seeded(1), { steps: 4, actions: ['smile', 'look-up'] })).toThrow(/4 steps need 4 different actions/);
    expect(() => drawPlan(seeded(1), { steps: 0 })).toThrow(RangeError);
  });

  it('every plan demands at least one movement live swaps break on (a turn toward profile or a hand across the face)', () => {
    const random = seeded(3);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      // Two steps from all five could be smile + look-up alone; the plan swaps one for a stress movement.
      const plan = drawPlan(random, { steps: 2 });
      expect(plan.some((s) => STRESS_ACTIONS.includes(s.action))).toBe(true);
      expect(new Set(plan.map((s) => s.action)).size).toBe(2);
      seen.add(plan.map((s) => s.action).sort().join());
    }
    expect(seen.has('look-up,smile')).toBe(false);
    expect(seen.size).toBeGreaterThan(5);
    expect(drawPlan(seeded(1), { steps: 2, actions: ['smile', 'look-up'] }).map((s) => s.action).sort()).toEqual(['look-up', 'smile']);
    expect(drawPlan(seeded(1), { steps: 1, actions: ['smile', 'cover-face'], stress: [] }).length).toBe(1);
  });
});

describe('judging one movement', () => {
  const base = baselineOf([face(0), face(100, { yaw: -4 }), face(200, { yaw: -2 })]);

  it('takes the median face as the baseline', () => {
    expect(base).toMatchObject({ frames: 3, faceFrames: 3, yaw: -3, pitch: -2, mouth: 0.55 });
  });

  it('head turns: the asked direction passes, the other way fails, a single frame is not enough', () => {
    // Subject's left = nose toward the image's right = yaw up.
    const left = [face(1, { yaw: 4 }), face(2, { yaw: 9 }), face(3, { yaw: 10 })];
    expect(judgeStep('turn-left', base, left)).toMatchObject({ state: 'passed', reason: `Turned left by 12° (short of a profile view, ${JUDGE.profileDeg}°).` });
    expect(judgeStep('turn-left', base, [face(1, { yaw: 45 }), face(2, { yaw: 50 })])).toMatchObject({ state: 'passed', reason: 'Turned left to a profile view (48°).' });
    // Turning the other way (the mirror confuses many) or not at all proves nothing: ask again, never a failure.
    expect(judgeStep('turn-right', base, left)).toMatchObject({ state: 'inconclusive', noMovement: true, reason: expect.stringMatching(/other way.*Ask again/) });
    const flick = [face(1, { yaw: 20 }), face(2, { yaw: -3 }), face(3, { yaw: -2 })];
    expect(judgeStep('turn-left', base, flick)).toMatchObject({ state: 'inconclusive', noMovement: true });
    const still = [face(1), face(2, { yaw: -1 }), face(3, { yaw: -4 })];
    expect(judgeStep('turn-right', base, still)).toMatchObject({ state: 'inconclusive', reason: `Did not turn right: at most 0° (${JUDGE.turnDeg}° needed). Ask again.` });
  });

  it('look up and smile compare with the baseline; a smile from an already smiling face proves nothing', () => {
    expect(judgeStep('look-up', base, [face(1, { pitch: 9 }), face(2, { pitch: 8 })]).state).toBe('passed');
    expect(judgeStep('look-up', base, [face(1, { pitch: 2 }), face(2, { pitch: 1 })]).state).toBe('inconclusive');
    expect(judgeStep('smile', base, [face(1, { mouth: 0.7 }), face(2, { mouth: 0.66 })])).toMatchObject({ state: 'passed' });
    expect(judgeStep('smile', base, [face(1, { mouth: 0.56 }), face(2, { mouth: 0.57 })])).toMatchObject({ state: 'inconclusive', noMovement: true });
    const smiling = baselineOf([face(0, { mouth: 0.81 }), face(1, { mouth: 0.8 })]);
    expect(judgeStep('smile', smiling, [face(2, { mouth: 0.82 }), face(3, { mouth: 0.83 })])).toMatchObject({ state: 'inconclusive', reason: expect.stringMatching(/Already smiling/) });
  });

  it('covering: a lost face, a vanished mesh or a changed lower face count; an unchanged face is not done (ask again)', () => {
    expect(judgeStep('cover-face', base, [{ at: 1, face: false }, { at: 2, face: false }, face(3)]).state).toBe('passed');
    expect(judgeStep('cover-face', base, [face(1, { presence: 0.2 }), face(2, { occlusion: 0.8 })]).state).toBe('passed');
    // Turning the head changes the lower face as much as a hand does: that is not covering it.
    expect(judgeStep('cover-face', base, [face(1, { occlusion: 0.8, yaw: 15 }), face(2, { occlusion: 0.7, yaw: -20 })]).state).toBe('inconclusive');
    expect(judgeStep('cover-face', base, [face(1, { occlusion: 0.2 }), face(2, { occlusion: 0.3 })])).toMatchObject({ state: 'inconclusive', noMovement: true, reason: expect.stringMatching(/uncovered \(largest change 0.30/) });
    // Without a face before, a missing face proves nothing.
    expect(judgeStep('cover-face', baselineOf([{ at: 0, face: false }]), [{ at: 1, face: false }, { at: 2, face: false }]).state).toBe('inconclusive');
  });

  it('no face or too few frames is inconclusive, not a failure', () => {
    expect(judgeStep('turn-left', base, [face(1, { yaw: 20 })]).state).toBe('inconclusive');
    expect(judgeStep('turn-left', base, [{ at: 1, face: false }, { at: 2, face: false }, { at: 3, face: false }])).toMatchObject({ state: 'inconclusive', reason: expect.stringMatching(/not found/) });
    expect(judgeStep('look-up', baselineOf([]), [face(1, { pitch: 20 }), face(2, { pitch: 20 })]).state).toBe('inconclusive');
  });
});

describe('detectors during the movements, and the verdict', () => {
  const base = baselineOf([face(0), face(1)]);

  it('a classifier score jumping while the face moves is a finding, and a spoof score staying high; a steady one is not, however high MesoNet reads', () => {
    expect(judgeDetectors(base, [face(2, { deepfake: 0.3 }), face(3, { deepfake: 0.25 })])).toEqual([]);
    expect(judgeDetectors(base, [face(2, { deepfake: 0.6 }), face(3, { deepfake: 0.7 })])[0]).toMatch(/deepfake classifier's score rose from 0.20 to 0.65/);
    // MesoNet high before and during: no breakdown. Its level is not evidence (real webcam callers
    // read 0.8-0.9 throughout), and the SUSPICIOUS it raised must not become a FAILED check by it.
    const highAll = baselineOf([face(0, { deepfake: 0.9 }), face(1, { deepfake: 0.85 })]);
    expect(judgeDetectors(highAll, [face(2, { deepfake: 0.9 }), face(3, { deepfake: 0.8 })])).toEqual([]);
    // Nor during a turn with no MesoNet baseline to rise from (the spoof's level, or a cue's, would count).
    const noScores = baselineOf([face(0, { deepfake: undefined }), face(1, { deepfake: undefined })]);
    expect(judgeStress('turn-left', noScores, [face(2, { yaw: 30, deepfake: 0.95 }), face(3, { yaw: 35, deepfake: 0.95 })])).toEqual([]);
    const noSpoofBase = baselineOf([face(0, { spoof: undefined }), face(1, { spoof: undefined })]);
    expect(judgeStress('turn-left', noSpoofBase, [face(2, { yaw: 30, spoof: 0.95 }), face(3, { yaw: 35, spoof: 0.95 })])).toHaveLength(1);
    // The presentation-attack pair's level is evidence (a screen or a print held up).
    expect(judgeDetectors(base, [face(2, { spoof: 0.8 }), face(3, { spoof: 0.9 })])[0]).toMatch(/presentation-attack classifier/);
    expect(judgeDetectors(highAll, [face(2, { deepfake: 0.9, spoof: 0.8 }), face(3, { deepfake: 0.8, spoof: 0.9 })])).toHaveLength(1);
  });

  it('the analyzer passes on every face cue from the evidence stream, and the wire contract bounds them', () => {
    const o = { cues: {} as Record<string, number> };
    const ev = (detector: string, score: number | undefined, confidence = 0.8) => ({ detector, at: 0, confidence, reason: '', ...(score !== undefined ? { score } : {}) }) as unknown as Evidence;
    noteCues(o, [ev('blend-contour', 0.7), ev('face-deepfake', 0.9), ev('synthetic-voice', 0.9), ev('pulse', 0.9), ev('texture-flicker', undefined, 0), ev('texture-flicker', 1.4)]);
    expect(o.cues).toEqual({ 'blend-contour': 0.7, 'texture-flicker': 1 });
    const sample = (cues: Record<string, number>) => ChallengeSampleSchema.safeParse({ at: 1, face: true, cues }).success;
    expect(sample({ 'blend-contour': 0.7 })).toBe(true);
    expect(sample({ 'Bad Id': 0.7 })).toBe(false);
    expect(sample({ 'blend-contour': 2 })).toBe(false);
    expect(sample(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`cue-${i}`, 0.1])))).toBe(false);
  });

  it('new face cues in the evidence stream are judged like the classifiers', () => {
    const withCue = baselineOf([face(0, { cues: { 'blend-contour': 0.1 } }), face(1, { cues: { 'blend-contour': 0.2 } })]);
    expect(withCue.scores).toMatchObject({ deepfake: 0.2, spoof: 0.1, 'blend-contour': expect.closeTo(0.15, 5) });
    expect(judgeDetectors(withCue, [face(2, { cues: { 'blend-contour': 0.7 } }), face(3, { cues: { 'blend-contour': 0.6 } })])[0]).toMatch(/blend-contour cue's score rose from 0.15 to 0.65/);
  });

  it('a stress movement fails when a classifier or cue breaks down on its frames, not on frames where the caller did not move', () => {
    const turned = (at: number, score: number) => face(at, { yaw: 30, deepfake: score });
    expect(judgeStress('turn-left', base, [turned(2, 0.8), turned(3, 0.75), face(4, { deepfake: 0.2 })])[0]).toMatch(/broke down while turning left: the deepfake classifier's score went from 0.20 to 0.78 over 2 frames/);
    expect(judgeStress('turn-left', base, [turned(2, 0.3), turned(3, 0.25)])).toEqual([]);
    // The same high scores on frontal frames (no visible turn) are not a breakdown during the turn.
    expect(judgeStress('turn-left', base, [face(2, { deepfake: 0.8 }), face(3, { deepfake: 0.8 })])).toEqual([]);
    // A cue that only reported during the movement needs the fake side on its own.
    const turnedCue = (at: number, v: number) => face(at, { yaw: 30, cues: { 'blend-contour': v } });
    expect(judgeStress('turn-left', base, [turnedCue(2, 0.9), turnedCue(3, 0.8)])[0]).toMatch(/while turning left: the blend-contour cue's score went to 0.85/);
    // A hand over a real face makes MesoNet read fake: covered frames are never breakdown evidence.
    expect(judgeStress('cover-face', base, [face(2, { presence: 0.3, deepfake: 0.85 }), face(3, { occlusion: 0.9, deepfake: 0.83 })])).toEqual([]);
    expect(judgeStress('smile', base, [face(2, { deepfake: 0.9 }), face(3, { deepfake: 0.9 })])).toEqual([]);
  });

  it('FAILED only on a breakdown; non-compliance is INCONCLUSIVE with "ask again"; PASSED needs a stress movement', () => {
    const pass = (action: ChallengeAction) => ({ action, state: 'passed' as const, reason: 'p' });
    const broke = (action: ChallengeAction) => ({ action, state: 'failed' as const, reason: 'broke down' });
    const inc = (action: ChallengeAction) => ({ action, state: 'inconclusive' as const, reason: 'unsure' });
    const missed = (action: ChallengeAction) => ({ action, state: 'inconclusive' as const, reason: 'Did not. Ask again.', noMovement: true });
    const all = [face(0), face(1), face(2)];
    expect(verdict([pass('turn-left'), pass('smile'), inc('look-up')], base, all, []).state).toBe('PASSED');
    expect(verdict([pass('turn-left'), pass('smile'), broke('cover-face')], base, all, [])).toEqual({ state: 'FAILED', reasons: ['broke down'] });
    expect(verdict([pass('turn-left'), pass('smile'), pass('look-up')], base, all, ['score rose'])).toEqual({ state: 'FAILED', reasons: ['score rose'] });
    expect(verdict([pass('turn-left'), inc('smile'), inc('look-up')], base, all, [])).toEqual({ state: 'INCONCLUSIVE', reasons: ['unsure', 'unsure'] });
    const ignored = verdict([missed('turn-left'), missed('smile'), missed('cover-face')], base, all, []);
    expect(ignored).toMatchObject({ state: 'INCONCLUSIVE', askAgain: true });
    expect(ignored.reasons[0]).toMatch(/did not make 3 of the 3 movements.*proves nothing.*ask again/);
    // Turned only a little (the face still tracked): judged, but no strain on a swap, so no PASSED.
    const short = (action: ChallengeAction) => ({ action, state: 'passed' as const, reason: 'Turned left by 13° (short of a profile view, 45°).', short: true });
    const small = verdict([short('turn-left'), pass('smile'), pass('look-up')], base, all, []);
    expect(small).toMatchObject({ state: 'INCONCLUSIVE', askAgain: true });
    expect(small.reasons[0]).toMatch(/^Turned left by 13° \(short of a profile view, 45°\): live face swaps break on a profile view.*turn further/);
    // ...and a breakdown on that small turn still fails it.
    expect(verdict([short('turn-left'), pass('smile'), pass('look-up')], base, all, ['score rose']).state).toBe('FAILED');
    // Smiled and looked up but skipped the turn: the swap was never put under strain.
    expect(verdict([pass('smile'), pass('look-up'), missed('turn-right')], base, all, [])).toMatchObject({ state: 'INCONCLUSIVE', askAgain: true });
    expect(verdict([pass('smile'), pass('look-up'), inc('turn-right')], base, all, [])).toMatchObject({ state: 'INCONCLUSIVE', askAgain: true, reasons: [expect.stringMatching(/head turn/), 'unsure'] });
    expect(verdict([pass('turn-left'), pass('smile')], base, [], []).reasons[0]).toMatch(/no measurements/);
    expect(verdict([inc('turn-left'), inc('smile')], baselineOf([]), [{ at: 1, face: false }], []).reasons[0]).toMatch(/No face/);
  });
});

describe('Challenge state machine', () => {
  const plan: PlannedStep[] = [
    { action: 'turn-left', promptAt: 2000, durationMs: 3000 },
    { action: 'look-up', promptAt: 6000, durationMs: 3000 },
    { action: 'turn-right', promptAt: 10000, durationMs: 3000 },
  ];

  function run(feed: (t: number) => ChallengeSample | undefined) {
    const clock = new FakeClock();
    const c = new Challenge({ id: 'c1', participantId: 'p', participantName: 'Pat', requestedBy: 'Dr', plan, clock, graceMs: 1000, reactionMs: 300, lateMs: 500 });
    const prompts: Array<ChallengePrompt & { t: number }> = [];
    const updates: ChallengeView[] = [];
    const ends: ChallengeView[] = [];
    c.on('prompt', (p) => prompts.push({ ...p, t: clock.t - 1_000_000 }));
    c.on('update', (v) => updates.push(v));
    c.on('end', (v) => ends.push(v));
    c.start();
    // Frames every 150 ms, as the analyzer sends them.
    for (let t = 0; t < 40000 && c.running; t += 150) {
      const s = feed(t);
      if (s) c.addSample({ ...s, at: 1_000_000 + t });
      clock.advance(150);
    }
    return { c, clock, prompts, updates, ends };
  }

  /** A participant doing what each instruction asks, from 500 ms after it appears (turns to a profile view). */
  const compliant = (t: number): ChallengeSample => {
    const step = plan.find((s) => t >= s.promptAt + 500 && t <= s.promptAt + s.durationMs);
    if (step?.action === 'turn-left') return face(0, { yaw: 50 });
    if (step?.action === 'turn-right') return face(0, { yaw: -55 });
    if (step?.action === 'look-up') return face(0, { pitch: 15 });
    return face(0);
  };

  it('schedules no negative delay when the clock moves between its own readings (a busy loop: 1 ms per reading)', () => {
    const clock = new FakeClock();
    const delays: number[] = [];
    const ticking = {
      now: () => ++clock.t,
      setTimeout: (fn: () => void, ms: number) => {
        delays.push(ms);
        return clock.setTimeout(fn, ms);
      },
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
    };
    const c = new Challenge({ id: 'c2', participantId: 'p', participantName: 'Pat', requestedBy: 'Dr', plan, clock: ticking, graceMs: 1000, reactionMs: 300, lateMs: 500, baselineWaitMs: 0 });
    c.start();
    for (let t = 0; t < 20000 && c.running; t += 150) clock.advance(150);
    expect(delays.length).toBeGreaterThan(plan.length);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
  });

  it('tells the viewer how long is left: until the verdict, and for the step on screen', () => {
    const { updates, ends } = run(compliant);
    // The update sent as step 2 appears (t = 6000): 3000 ms left for it, and the verdict due at 14500.
    const atStep2 = updates.find((u) => u.steps[1]!.state === 'active')!;
    expect(atStep2.steps[1]!.leftMs).toBe(3000);
    expect(atStep2.leftMs).toBe(14500 - 6000);
    expect(atStep2.steps[0]!.leftMs ?? 0).toBe(0);
    // Once ended, no time left is claimed.
    expect(ends[0]!.leftMs).toBeUndefined();
  });

  it('prompts each step at its time, judges each after its grace, and ends PASSED for a compliant face', () => {
    const { prompts, updates, ends, clock } = run(compliant);
    expect(prompts.map((p) => [p.t, p.action, p.step, p.of])).toEqual([
      [2000, 'turn-left', 1, 3],
      [6000, 'look-up', 2, 3],
      [10000, 'turn-right', 3, 3],
    ]);
    expect(ends).toHaveLength(1);
    const v = ends[0]!;
    expect(v.state).toBe('PASSED');
    expect(v.steps.map((s) => s.state)).toEqual(['passed', 'passed', 'passed']);
    // Verdict on the first frame taken after the last step's window (10000 + 3000 + 500), the
    // frame at 13650: every frame of the window is in, so it does not wait out the grace.
    expect(v.endedAt! - v.startedAt).toBe(13650);
    // Progress is visible: the first step is judged while the others are still pending or active.
    const firstJudged = updates.find((u) => u.steps[0]!.state === 'passed');
    expect(firstJudged?.state).toBe('RUNNING');
    expect(firstJudged?.steps[2]!.state).toBe('pending');
    expect(clock.pending).toBe(0);
  });

  it('without a frame after the window (the analyzer lags or stops), a step is judged at its grace; a frame stamped in the future does not end it early', () => {
    // Frames stop at 13000, inside the last window: the verdict waits for the grace, 13500 + 1000.
    const stops = run((t) => (t <= 13000 ? compliant(t) : undefined)).ends[0]!;
    expect(stops.state).toBe('PASSED');
    expect(stops.endedAt! - stops.startedAt).toBe(14500);
    // An analyzer whose clock runs 5 s ahead stamps frames "after" windows that are still open.
    const clock = new FakeClock();
    const c = new Challenge({ id: 'c2', participantId: 'p', participantName: 'Pat', requestedBy: 'Dr', plan, clock, graceMs: 1000, reactionMs: 300, lateMs: 500 });
    c.start();
    for (let t = 0; t <= 4000; t += 150) {
      c.addSample({ ...compliant(t), at: 1_000_000 + t + 5000 });
      clock.advance(150);
    }
    expect(c.snapshot().steps.map((st) => st.state)).toEqual(['active', 'pending', 'pending']);
  });

  it('a caller who does not respond is INCONCLUSIVE with "ask again", never FAILED', () => {
    const { ends } = run(() => face(0));
    expect(ends[0]!).toMatchObject({ state: 'INCONCLUSIVE', askAgain: true, trigger: 'manual' });
    expect(ends[0]!.steps.map((s) => s.state)).toEqual(['inconclusive', 'inconclusive', 'inconclusive']);
    expect(ends[0]!.reasons[0]).toMatch(/did not make 3 of the 3 movements/);
  });

  it('a check demanding a profile turn FAILS a caller whose face classifier breaks during the turn, and PASSES one whose classifier holds', () => {
    /** Turns to a 50° profile (and looks up) as asked; the swapped face's classifier score during the turns is `during`. */
    const caller = (during: number) => (t: number): ChallengeSample => {
      const step = plan.find((s) => t >= s.promptAt + 500 && t <= s.promptAt + s.durationMs);
      if (step?.action === 'turn-left') return face(0, { yaw: 47, deepfake: during });
      if (step?.action === 'turn-right') return face(0, { yaw: -53, deepfake: during });
      if (step?.action === 'look-up') return face(0, { pitch: 15 });
      return face(0);
    };
    const holds = run(caller(0.25)).ends[0]!;
    expect(holds.state).toBe('PASSED');
    expect(holds.steps[0]!.reason).toMatch(/Turned left to a profile view \(50°\)/);
    const breaks = run(caller(0.85)).ends[0]!;
    expect(breaks.state).toBe('FAILED');
    expect(breaks.steps.map((s) => s.state)).toEqual(['failed', 'passed', 'failed']);
    expect(breaks.reasons[0]).toMatch(/broke down while turning left: the deepfake classifier's score went from 0.20 to 0.85/);
    expect(breaks.askAgain).toBeUndefined();
    // The same classifier scores while the caller ignores the instructions (frontal, not moving) are no breakdown under strain.
    const ignoring = run(() => face(0, { deepfake: 0.5 })).ends[0]!;
    expect(ignoring.state).toBe('INCONCLUSIVE');
  });

  it('no measurements at all (analyzer silent) times out INCONCLUSIVE', () => {
    const { ends } = run(() => undefined);
    expect(ends[0]!).toMatchObject({ state: 'INCONCLUSIVE', reasons: [expect.stringMatching(/no measurements/)] });
  });

  it('the first instruction waits for the analyzer to see the face, and the whole check shifts with it', () => {
    // No frames for the first 5 s (the analyzer far behind), then a compliant face, 5 s late.
    const late = 5000;
    const { prompts, ends } = run((t) => (t < late ? undefined : compliant(t - late)));
    expect(prompts.map((p) => p.t)).toEqual([5500, 9500, 13500]);
    expect(ends[0]!.state).toBe('PASSED');
  });

  it('a participant without a face is INCONCLUSIVE, not FAILED', () => {
    const { ends } = run((t) => ({ at: t, face: false }));
    expect(ends[0]!.state).toBe('INCONCLUSIVE');
    expect(ends[0]!.reasons[0]).toMatch(/No face was visible/);
  });

  it('cancel ends it at once, INCONCLUSIVE with the reason, clears its timers, and ignores later frames', () => {
    const clock = new FakeClock();
    const c = new Challenge({ id: 'c2', participantId: 'p', participantName: 'Pat', requestedBy: 'Dr', plan, clock });
    const ends: ChallengeView[] = [];
    c.on('end', (v) => ends.push(v));
    c.start();
    clock.advance(3000);
    c.cancel('Pat left the call during the check.');
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ state: 'INCONCLUSIVE', reasons: ['Pat left the call during the check.'] });
    expect(ends[0]!.steps.map((s) => s.state)).toEqual(['inconclusive', 'inconclusive', 'inconclusive']);
    expect(clock.pending).toBe(0);
    c.addSample(face(clock.t));
    c.cancel('again');
    expect(ends).toHaveLength(1);
    expect(() => c.start()).toThrow(/already started/);
  });
});
