/**
 * Draws a challenge: which movements, in which order, and when each instruction appears. Drawn
 * fresh for every challenge from a cryptographic source, so an operator driving a face swap cannot
 * pre-render the answers. Every plan holds at least one movement that real-time swaps break on
 * (STRESS_ACTIONS: a turn toward profile, a hand across the face): a check made only of smiles and
 * nods would let a swap pass without ever being put under strain.
 */
import { randomInt } from 'node:crypto';
import { CHALLENGE_ACTIONS, STRESS_ACTIONS, type ChallengeAction } from '../../protocol/challenge.ts';

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
  /** Quiet time before the first instruction, [min, max] ms: the baseline the movements are compared to. Default [800, 1200]. */
  baselineMs?: readonly [number, number];
  /** Pause between one step's end and the next instruction, [min, max] ms. Default [400, 1000]. */
  gapMs?: readonly [number, number];
  /**
   * Time allowed per movement. Default 2500 ms: a head turn or a hand across the face takes a
   * person about 0.5-1 s after a 0.5-1 s reaction, and a step's frames count until the next
   * instruction (the last: lateMs past its end), so a slow mover has 3-3.7 s. With the defaults
   * above a three-step check ends about 11-12 s after the click (issue 14: within 12 s; measured
   * 12.3-12.5 s end to end with the previous, 0.75 s longer defaults).
   */
  durationMs?: number;
  /**
   * At least one step is drawn from these (default STRESS_ACTIONS, those of them in `actions`);
   * an empty list demands none.
   */
  stress?: readonly ChallengeAction[];
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
  const chosen = pool.slice(0, count);
  const stress = (options.stress ?? STRESS_ACTIONS).filter((a) => pool.includes(a));
  if (stress.length > 0 && !chosen.some((a) => stress.includes(a))) {
    // None drawn: one step, at random, becomes a random stress movement (not already in the plan, since none is).
    chosen[Math.min(count - 1, Math.floor(random() * count))] = stress[Math.min(stress.length - 1, Math.floor(random() * stress.length))]!;
  }
  const durationMs = options.durationMs ?? 2500;
  const steps: PlannedStep[] = [];
  let at = between(random, options.baselineMs ?? [800, 1200]);
  for (const action of chosen) {
    steps.push({ action, promptAt: at, durationMs });
    at += durationMs + between(random, options.gapMs ?? [400, 1000]);
  }
  return steps;
}
