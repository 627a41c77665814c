/**
 * One liveness challenge as a state machine: RUNNING, then PASSED, FAILED or INCONCLUSIVE.
 * It shows each instruction at its planned time, collects the analyzer's per-frame measurements,
 * judges each step once its window (plus a grace period for analysis lag) has passed, and ends
 * with a verdict; or ends early, INCONCLUSIVE, when cancelled (participant left, analyzer lost).
 * Time comes from an injected clock, so tests drive it without waiting.
 */
import { EventEmitter } from 'node:events';
import { INSTRUCTIONS, OCCLUDING_ACTIONS, type ChallengePrompt, type ChallengeSample, type ChallengeTrigger, type ChallengeView } from '../../protocol/challenge.ts';
import { baselineOf, judgeDetectors, judgeStep, judgeStress, unscoredStress, verdict, type StepJudgement } from './judge.ts';
import type { PlannedStep } from './plan.ts';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ChallengeOptions {
  id: string;
  participantId: string;
  participantName: string;
  requestedBy: string;
  plan: readonly PlannedStep[];
  /** What started it; default manual. */
  trigger?: ChallengeTrigger;
  clock?: Clock;
  /**
   * Frames arrive this long after they were taken (network, queueing, inference), at most: a step
   * is judged as soon as a frame taken after its window has arrived (the analyzer reports in the
   * order frames were taken), and at the latest graceMs after the window. Default 1500 ms.
   */
  graceMs?: number;
  /** Reaction time: frames this soon after an instruction appears do not count for it. Default 300 ms. */
  reactionMs?: number;
  /**
   * Video reaches the analyzer late (encoding, jitter buffers, a busy CPU): a step's frames are
   * taken until the next instruction appears, and the last step's until this long after its time
   * is up. Default 800 ms.
   */
  lateMs?: number;
  /**
   * The first instruction waits until the analyzer has seen the face a few times (the baseline
   * every movement is measured against), at most this long past its planned time; then it goes
   * ahead and the check says what it could not judge. Default 8000 ms.
   */
  baselineWaitMs?: number;
}

/** A frame stamped up to this far ahead of the server's clock still counts as taken "now". */
const FUTURE_TOLERANCE_MS = 250;

/** Face frames the baseline needs before the first instruction. */
const BASELINE_FRAMES = 3;

/** Bounded: a challenge of three steps at the boosted 6 fps takes well under 200 frames. */
const MAX_SAMPLES = 600;

export class Challenge extends EventEmitter<{ prompt: [ChallengePrompt]; update: [ChallengeView]; end: [ChallengeView] }> {
  readonly id: string;
  readonly participantId: string;
  private readonly opts: Required<Omit<ChallengeOptions, 'clock' | 'trigger'>> & { clock: Clock };
  private readonly view: ChallengeView;
  private readonly samples: ChallengeSample[] = [];
  private readonly timers = new Set<unknown>();
  private readonly judged: StepJudgement[] = [];
  private started = false;
  /** How much later than planned the steps run (waiting for a baseline). */
  private offset = 0;
  /** Steps not judged yet, in order, with the timer that judges each at the latest. */
  private readonly toJudge: Array<{ step: number; timer: unknown }> = [];

  constructor(options: ChallengeOptions) {
    super();
    if (options.plan.length === 0) throw new RangeError('a challenge needs at least one step');
    this.id = options.id;
    this.participantId = options.participantId;
    this.opts = { graceMs: 1500, reactionMs: 300, lateMs: 800, baselineWaitMs: 8000, clock: systemClock, ...options };
    this.view = {
      id: options.id,
      participantId: options.participantId,
      participantName: options.participantName,
      requestedBy: options.requestedBy,
      state: 'RUNNING',
      steps: options.plan.map((p) => ({ action: p.action, instruction: INSTRUCTIONS[p.action], state: 'pending' })),
      reasons: [],
      startedAt: 0,
      trigger: options.trigger ?? 'manual',
    };
  }

  get running(): boolean {
    return this.view.state === 'RUNNING';
  }

  /** A copy of the current state, with the time left while it runs. */
  snapshot(): ChallengeView {
    const v = structuredClone(this.view);
    if (this.running && this.started) {
      const now = this.opts.clock.now();
      const { plan, lateMs, graceMs } = this.opts;
      const t0 = this.view.startedAt + this.offset;
      const last = plan[plan.length - 1]!;
      v.leftMs = Math.max(0, Math.round(t0 + last.promptAt + last.durationMs + lateMs + graceMs - now));
      plan.forEach((p, i) => {
        if (v.steps[i]!.state === 'active') v.steps[i]!.leftMs = Math.max(0, Math.round(t0 + p.promptAt + p.durationMs - now));
      });
    }
    return v;
  }

  start(): void {
    if (this.started) throw new Error('challenge already started');
    this.started = true;
    const { clock, plan } = this.opts;
    this.view.startedAt = clock.now();
    this.after(plan[0]!.promptAt, () => this.begin());
    this.emit('update', this.snapshot());
  }

  /** Runs the steps once the baseline has enough face frames, or once waiting for it is pointless. */
  private begin(): void {
    const { clock, plan, graceMs } = this.opts;
    const planned = this.view.startedAt + plan[0]!.promptAt;
    const faces = this.samples.filter((s) => s.face && s.yaw !== undefined).length;
    if (faces < BASELINE_FRAMES && clock.now() - planned < this.opts.baselineWaitMs) {
      this.after(250, () => this.begin());
      return;
    }
    // One reading of the clock for both: two could differ by a millisecond or more (a GC, a busy
    // loop), and the first prompt's delay (0 by construction) would come out negative.
    const at = clock.now();
    this.offset = at - planned;
    const now = at - this.view.startedAt;
    plan.forEach((step, i) => {
      this.after(step.promptAt + this.offset - now, () => this.prompt(i));
      const timer = this.after(this.window(i)[1] - this.view.startedAt - now + graceMs, () => this.judgeThrough(i));
      this.toJudge.push({ step: i, timer });
    });
  }

  /** Judges every step not judged yet up to and including step `last`, in order. */
  private judgeThrough(last: number): void {
    while (this.running && this.toJudge.length && this.toJudge[0]!.step <= last) {
      const { step, timer } = this.toJudge.shift()!;
      this.opts.clock.clearTimeout(timer);
      this.timers.delete(timer);
      this.judge(step);
    }
  }

  /** A measurement from the analyzer; frames from before the start or after the end are ignored. */
  addSample(sample: ChallengeSample): void {
    if (!this.running || !this.started || this.samples.length >= MAX_SAMPLES) return;
    if (sample.at < this.view.startedAt) return;
    this.samples.push(sample);
    // Frames come in the order they were taken: one taken after a step's window means every frame
    // of that window is in, so the step need not wait out graceMs. Not on a frame stamped in the
    // future: an analyzer host whose clock runs ahead would end steps before their frames arrived.
    if (sample.at > this.opts.clock.now() + FUTURE_TOLERANCE_MS) return;
    let done = -1;
    for (const { step } of this.toJudge) if (this.window(step)[1] < sample.at) done = step;
    if (done >= 0) this.judgeThrough(done);
  }

  /** Ends the challenge now, INCONCLUSIVE. */
  cancel(reason: string): void {
    if (!this.running) return;
    for (const s of this.view.steps) if (s.state === 'pending' || s.state === 'active') s.state = 'inconclusive';
    this.finish('INCONCLUSIVE', [reason]);
  }

  private after(ms: number, fn: () => void): unknown {
    const h = this.opts.clock.setTimeout(
      () => {
        this.timers.delete(h);
        if (this.running) fn();
      },
      Math.max(0, ms),
    );
    this.timers.add(h);
    return h;
  }

  private prompt(i: number): void {
    const step = this.opts.plan[i]!;
    this.view.steps[i]!.state = 'active';
    this.emit('prompt', {
      challengeId: this.id,
      step: i + 1,
      of: this.opts.plan.length,
      action: step.action,
      instruction: INSTRUCTIONS[step.action],
      durationMs: step.durationMs,
    });
    this.emit('update', this.snapshot());
  }

  /** The frames that count for step i: from its instruction (plus reaction time) to the next one's, or lateMs past the last one's end. */
  private window(i: number): [number, number] {
    const t0 = this.view.startedAt + this.offset;
    const step = this.opts.plan[i]!;
    const next = this.opts.plan[i + 1];
    const end = next ? next.promptAt + this.opts.reactionMs : step.promptAt + step.durationMs + this.opts.lateMs;
    return [t0 + step.promptAt + this.opts.reactionMs, t0 + end];
  }

  private baseline() {
    return baselineOf(this.samples.filter((s) => s.at < this.view.startedAt + this.offset + this.opts.plan[0]!.promptAt));
  }

  private judge(i: number): void {
    const step = this.opts.plan[i]!;
    const [from, to] = this.window(i);
    const base = this.baseline();
    const inWindow = this.samples.filter((s) => s.at >= from && s.at <= to);
    let j = judgeStep(step.action, base, inWindow);
    if (j.state === 'passed') {
      // The caller visibly made a movement swaps break on: a classifier breaking down on its frames fails the step.
      const broke = judgeStress(step.action, base, inWindow);
      const unscored = unscoredStress(step.action, base, inWindow);
      if (broke.length) j = { state: 'failed', reason: broke.join(' ') };
      else if (unscored) j = { state: 'inconclusive', reason: `${j.reason} ${unscored}` };
    }
    this.judged[i] = j;
    Object.assign(this.view.steps[i]!, { state: j.state, reason: j.reason });
    if (i < this.opts.plan.length - 1) {
      this.emit('update', this.snapshot());
      return;
    }
    // A hand over a real face makes the face classifiers read fake (OCCLUDING_ACTIONS): the
    // covered step's frames are judged for compliance only, never as classifier evidence.
    const moving = this.opts.plan.flatMap((st, k) => {
      if (OCCLUDING_ACTIONS.includes(st.action)) return [];
      const [a, b] = this.window(k);
      return this.samples.filter((s) => s.at >= a && s.at <= b);
    });
    const v = verdict(
      this.opts.plan.map((p, k) => ({ action: p.action, ...(this.judged[k] ?? { state: 'inconclusive', reason: '' }) })),
      base,
      this.samples,
      judgeDetectors(base, moving),
    );
    if (v.askAgain) this.view.askAgain = true;
    this.finish(v.state, v.reasons);
  }

  private finish(state: ChallengeView['state'], reasons: string[]): void {
    for (const h of this.timers) this.opts.clock.clearTimeout(h);
    this.timers.clear();
    this.view.state = state;
    this.view.reasons = reasons;
    this.view.endedAt = this.opts.clock.now();
    const snap = this.snapshot();
    this.emit('update', snap);
    this.emit('end', snap);
  }
}
