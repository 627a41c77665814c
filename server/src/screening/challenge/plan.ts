/**
 * Draws a challenge: which movements, in which order, and when each instruction appears. Drawn
 * fresh for every challenge from a cryptographic source, so an operator driving a face swap cannot
 * pre-render the answers.
 */
import { randomInt } from 'node:crypto';
import { CHALLENGE_ACTIONS, type ChallengeAction } from '../../protocol/challenge.ts';

export interface PlannedStep {
  action: ChallengeAction;
  /** When the instruction appears, ms after the challenge starts. */
  promptAt: number;
  /** How long the participant has to do it. */
  durationMs: number;
}

export interface PlanOptions {
  /** Default 3. */
  steps?: number;
  /** Actions to draw from (default all). */
  actions?: readonly ChallengeAction[];
  /** Quiet time before the first instruction, [min, max] ms: the baseline the movements are compared to. Default [1500, 2500]. */
  baselineMs?: readonly [number, number];
  /** Pause between one step's end and the next instruction, [min, max] ms. Default [800, 2000]. */
  gapMs?: readonly [number, number];
  /** Time allowed per movement. Default 3500 ms. */
  durationMs?: number;
}

/** Uniform in [0, 1). */
export type Random = () => number;

export const cryptoRandom: Random = () => randomInt(0, 2 ** 32) / 2 ** 32;

function between(random: Random, [lo, hi]: readonly [number, number]): number {
  return Math.round(lo + (hi - lo) * random());
}

export function drawPlan(random: Random = cryptoRandom, options: PlanOptions = {}): PlannedStep[] {
  const pool = [...new Set(options.actions ?? CHALLENGE_ACTIONS)];
  const count = options.steps ?? 3;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`a challenge needs at least one step, not ${count}`);
  if (pool.length < count) throw new RangeError(`${count} steps need ${count} different actions; only ${pool.length} given`);
  // Fisher-Yates, then take the first `count`.
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  const durationMs = options.durationMs ?? 3500;
  const steps: PlannedStep[] = [];
  let at = between(random, options.baselineMs ?? [1500, 2500]);
  for (const action of pool.slice(0, count)) {
    steps.push({ action, promptAt: at, durationMs });
    at += durationMs + between(random, options.gapMs ?? [800, 2000]);
  }
  return steps;
}
