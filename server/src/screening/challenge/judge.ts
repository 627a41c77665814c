/**
 * Judges a liveness challenge from the analyzer's per-frame measurements: did each requested
 * movement happen, relative to how the face looked just before the first instruction, and did the
 * face classifiers hold up while the face moved? Pure functions: the timing lives in Challenge.ts.
 *
 * Thresholds are deliberately modest. A person asked to turn their head turns it 30 degrees or
 * more; landmark pose is good to about +-5-10 degrees absolute but steady to ~1 degree frame to
 * frame, and movements are measured against the same face seconds earlier, so 8 degrees is a
 * clear, deliberate movement while sway and jitter stay well below it. Each movement must show
 * in at least two frames, so one bad landmark fit cannot pass or fail a step.
 *
 * What FAILS and what does not: a caller who does not move proves nothing (hard of hearing, an
 * elderly patient, a frozen connection, a mirror confusing left and right), so a missing or wrong
 * movement is INCONCLUSIVE with "ask again", never FAILED. FAILED needs evidence from the face
 * itself: a face classifier (or any face cue reported per frame) that breaks down, its score
 * jumping toward fake, on the very frames where the caller visibly makes a movement that live
 * swaps are known to break on (STRESS_ACTIONS: a turn toward profile; a covered face is judged for compliance only), or
 * a classifier or cue rating the face fake throughout, except MesoNet (LEVEL_NOT_EVIDENCE): its
 * level is no evidence on its own, being at chance on live swaps while it reads
 * some real webcam callers at 0.8-0.9 throughout (EVALUATION.md), so "rated synthetic throughout"
 * FAILED exactly the real callers whose MesoNet reading had made them SUSPICIOUS and started the
 * check, and turned its SUSPICIOUS into ALERT through the back door. Its rise under the movement
 * (the swap's known weakness, measured against the caller's own baseline) still counts.
 */
import { INSTRUCTIONS, STRESS_ACTIONS, type ChallengeAction, type ChallengeResult, type ChallengeSample } from '../../protocol/challenge.ts';

/**
 * Score keys (scoresOf) whose level on its own, without a rise over the caller's baseline, never
 * fails a check: MesoNet's (see the header).
 */
export const LEVEL_NOT_EVIDENCE: ReadonlySet<string> = new Set(['deepfake']);

export const JUDGE = {
  /** Head turn (yaw) and look-up (pitch) needed, degrees from the baseline. */
  turnDeg: 8,
  /**
   * A turn this far from the baseline is a profile view, the pose live swaps break on; the
   * instruction asks for as far as the caller can. A smaller turn still counts as the movement
   * (its frames are judged, so a breakdown on it still FAILS), but it cannot carry a PASSED: the
   * check ends INCONCLUSIVE, "ask to turn further" (a 13° turn strains no swapper).
   */
  profileDeg: 45,
  lookUpDeg: 8,
  /** Mouth widening for a smile, as a fraction of the baseline width. */
  smileGain: 0.1,
  /** Mouth width over eye-corner distance at or above which the face is already smiling. */
  alreadySmiling: 0.75,
  /** Lower-face change (0 same, ~1 unrelated) that counts as covered. */
  occlusion: 0.5,
  /** Face-mesh presence below which the face counts as hidden. */
  minPresence: 0.5,
  /** Frames a movement must show in. */
  minFrames: 2,
  /** A score this high during the movements, on average, means the face looked fake (not for LEVEL_NOT_EVIDENCE keys). */
  fakeScore: 0.7,
  /** ...or a rise this large over the baseline average while the face moved. */
  scoreJump: 0.3,
  /** During a stress movement, a rise of scoreJump counts as a breakdown only if the average also reaches this (the fake side). */
  brokenScore: 0.5,
} as const;

export interface Baseline {
  frames: number;
  faceFrames: number;
  yaw?: number;
  pitch?: number;
  mouth?: number;
  deepfake?: number;
  spoof?: number;
  /** Every classifier's and cue's average score before the first instruction, by scoresOf's keys. */
  scores: Record<string, number>;
}

export interface StepJudgement {
  state: 'passed' | 'failed' | 'inconclusive';
  reason: string;
  /** Inconclusive because the caller did not make the movement (not for lack of frames or face). */
  noMovement?: boolean;
  /**
   * A turn made (its frames judged) that stopped short of a profile view, the face still tracked:
   * no stress on a swap, so it cannot carry a PASSED (see verdict).
   */
  short?: boolean;
}

/**
 * A frame's classifier and cue scores by one key space: `deepfake`, `spoof`, and each cue's
 * detector id (a cue named like a classifier key does not override the classifier).
 */
export function scoresOf(s: ChallengeSample): Record<string, number> {
  const out: Record<string, number> = { ...(s.cues ?? {}) };
  if (s.deepfake !== undefined) out.deepfake = s.deepfake;
  if (s.spoof !== undefined) out.spoof = s.spoof;
  return out;
}

function labelOf(key: string): string {
  if (key === 'deepfake') return 'deepfake classifier';
  if (key === 'spoof') return 'presentation-attack classifier';
  return `${key} cue`;
}

/** The mean of each key's scores over frames that have it, for keys present in at least `min` frames. */
function meanScores(samples: readonly ChallengeSample[], min = 1): Map<string, { mean: number; n: number }> {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const s of samples) {
    for (const [k, v] of Object.entries(scoresOf(s))) {
      const e = sums.get(k) ?? { sum: 0, n: 0 };
      e.sum += v;
      e.n++;
      sums.set(k, e);
    }
  }
  const out = new Map<string, { mean: number; n: number }>();
  for (const [k, e] of sums) if (e.n >= min) out.set(k, { mean: e.sum / e.n, n: e.n });
  return out;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}

function mean(values: number[]): number | undefined {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
}

/** The k-th largest value (k = minFrames): the movement held for at least that many frames. */
function sustained(values: number[], k: number = JUDGE.minFrames): number {
  if (values.length < k) return -Infinity;
  return [...values].sort((a, b) => b - a)[k - 1]!;
}

function defined<T>(values: Array<T | undefined>): T[] {
  return values.filter((v): v is T => v !== undefined);
}

function hasFace(s: ChallengeSample): boolean {
  return s.face && s.yaw !== undefined;
}

export function baselineOf(samples: readonly ChallengeSample[]): Baseline {
  const faces = samples.filter(hasFace);
  const b: Baseline = { frames: samples.length, faceFrames: faces.length, scores: {} };
  const put = (key: 'yaw' | 'pitch' | 'mouth' | 'deepfake' | 'spoof', v: number | undefined) => {
    if (v !== undefined) b[key] = v;
  };
  put('yaw', median(defined(faces.map((s) => s.yaw))));
  put('pitch', median(defined(faces.map((s) => s.pitch))));
  put('mouth', median(defined(faces.map((s) => s.mouth))));
  put('deepfake', mean(defined(faces.map((s) => s.deepfake))));
  put('spoof', mean(defined(faces.map((s) => s.spoof))));
  for (const [k, v] of meanScores(faces)) b.scores[k] = v.mean;
  return b;
}

const deg = (v: number) => `${Math.round(v)}°`;

/** The asked movement did not show: no evidence either way, ask again. */
function noMovement(reason: string): StepJudgement {
  return { state: 'inconclusive', reason: `${reason} Ask again.`, noMovement: true };
}

/** Head turned with the baseline facing the camera: the frames whose turn is sign * (yaw - base) degrees. */
function facing(base: Baseline, s: ChallengeSample): boolean {
  return (
    (s.yaw === undefined || base.yaw === undefined || Math.abs(s.yaw - base.yaw) < JUDGE.turnDeg) &&
    (s.pitch === undefined || base.pitch === undefined || Math.abs(s.pitch - base.pitch) < JUDGE.lookUpDeg)
  );
}

/** A cover-face frame that shows the hand: face lost, mesh gone, or the lower face changed while the head faces the camera. */
function covered(base: Baseline, s: ChallengeSample): boolean {
  return !s.face || (s.presence ?? 1) < JUDGE.minPresence || ((s.occlusion ?? 0) >= JUDGE.occlusion && facing(base, s));
}

/** Yaw > 0: nose toward the image's right, the subject's left. */
function turnSign(action: 'turn-left' | 'turn-right'): number {
  return action === 'turn-left' ? 1 : -1;
}

/** One step: the samples taken while the participant had this instruction on screen. */
export function judgeStep(action: ChallengeAction, base: Baseline, samples: readonly ChallengeSample[]): StepJudgement {
  const what = INSTRUCTIONS[action].replace(/, as far as you can$/, '').toLowerCase();
  if (samples.length < JUDGE.minFrames) {
    return { state: 'inconclusive', reason: `Too few frames were analysed while asked to ${what} (${samples.length}).` };
  }
  if (action === 'cover-face') {
    // A turned head changes the lower face's look too: a changed lower face only counts while the head faces the camera.
    const hidden = samples.filter((s) => covered(base, s)).length;
    if (base.faceFrames === 0) return { state: 'inconclusive', reason: 'No face was visible before the instruction, so covering it shows nothing.' };
    if (hidden >= JUDGE.minFrames) return { state: 'passed', reason: `The face was covered in ${hidden} of ${samples.length} frames.` };
    const most = Math.max(0, ...defined(samples.map((s) => s.occlusion)));
    return noMovement(`The face stayed uncovered (largest change ${most.toFixed(2)}; ${JUDGE.occlusion} needed).`);
  }
  const faces = samples.filter(hasFace);
  if (faces.length < JUDGE.minFrames) {
    return { state: 'inconclusive', reason: `The face was not found while asked to ${what} (${faces.length} of ${samples.length} frames).` };
  }
  if (action === 'turn-left' || action === 'turn-right') {
    if (base.yaw === undefined) return { state: 'inconclusive', reason: 'No face before the first instruction to compare the turn with.' };
    const sign = turnSign(action);
    const toward = sustained(faces.map((s) => sign * (s.yaw! - base.yaw!)));
    const away = sustained(faces.map((s) => -sign * (s.yaw! - base.yaw!)));
    const side = action === 'turn-left' ? 'left' : 'right';
    if (toward >= JUDGE.turnDeg) {
      if (toward >= JUDGE.profileDeg) return { state: 'passed', reason: `Turned ${side} to a profile view (${deg(toward)}).` };
      // Face detectors lose a face near profile: frames without a face after the turn began mean it went further than measured.
      const firstTurned = samples.findIndex((s) => hasFace(s) && sign * (s.yaw! - base.yaw!) >= JUDGE.turnDeg);
      const lost = samples.slice(firstTurned).filter((s) => !s.face).length;
      if (lost >= JUDGE.minFrames) return { state: 'passed', reason: `Turned ${side} by ${deg(toward)} and on, past where the face could be tracked (${lost} frames): close to a profile view.` };
      return { state: 'passed', reason: `Turned ${side} by ${deg(toward)} (short of a profile view, ${JUDGE.profileDeg}°).`, short: true };
    }
    // Left and right are easily confused in a mirrored self-view: the wrong way is not evidence of anything.
    if (away >= JUDGE.turnDeg) return noMovement(`Turned the other way (${deg(away)} to the ${side === 'left' ? 'right' : 'left'}) instead of ${side}.`);
    return noMovement(`Did not turn ${side}: at most ${deg(Math.max(0, toward))} (${JUDGE.turnDeg}° needed).`);
  }
  if (action === 'look-up') {
    if (base.pitch === undefined) return { state: 'inconclusive', reason: 'No face before the first instruction to compare with.' };
    const up = sustained(faces.map((s) => s.pitch! - base.pitch!));
    if (up >= JUDGE.lookUpDeg) return { state: 'passed', reason: `Looked up by ${deg(up)}.` };
    return noMovement(`Did not look up: at most ${deg(Math.max(0, up))} (${JUDGE.lookUpDeg}° needed).`);
  }
  // smile
  if (base.mouth === undefined || base.mouth <= 0) return { state: 'inconclusive', reason: 'No face before the first instruction to compare the smile with.' };
  if (base.mouth >= JUDGE.alreadySmiling) return { state: 'inconclusive', reason: 'Already smiling before the instruction, so a smile shows nothing new.' };
  const mouths = defined(faces.map((s) => s.mouth));
  const gain = sustained(mouths.map((m) => m / base.mouth! - 1));
  if (gain >= JUDGE.smileGain) return { state: 'passed', reason: `Smiled (mouth ${Math.round(gain * 100)}% wider).` };
  return noMovement(`Did not smile: mouth at most ${Math.round(Math.max(0, gain) * 100)}% wider (${JUDGE.smileGain * 100}% needed).`);
}

/**
 * The frames of a stress step where the caller visibly makes the movement and a face is still
 * there to score: turned at least turnDeg the asked way, or the hand over the face (mesh fading or
 * lower face changed) while the face is still detected.
 */
export function movementFrames(action: ChallengeAction, base: Baseline, samples: readonly ChallengeSample[]): ChallengeSample[] {
  if (action === 'turn-left' || action === 'turn-right') {
    if (base.yaw === undefined) return [];
    const sign = turnSign(action);
    return samples.filter((s) => hasFace(s) && sign * (s.yaw! - base.yaw!) >= JUDGE.turnDeg);
  }
  if (action === 'cover-face') return samples.filter((s) => s.face && covered(base, s));
  return [];
}

/**
 * Did a face classifier or cue break down during a stress movement the caller visibly made? Its
 * average over the movement's frames jumped by scoreJump over the baseline and reached the fake
 * side (brokenScore); a cue with no baseline (it only reported during the movement) must reach
 * fakeScore. Returns one finding per broken classifier, plainly worded.
 */
export function judgeStress(action: ChallengeAction, base: Baseline, samples: readonly ChallengeSample[]): string[] {
  if (!STRESS_ACTIONS.includes(action)) return [];
  const frames = movementFrames(action, base, samples);
  const during = action === 'cover-face' ? 'with a hand over the face' : `turning ${action === 'turn-left' ? 'left' : 'right'}`;
  const findings: string[] = [];
  for (const [key, d] of meanScores(frames, JUDGE.minFrames)) {
    const before = base.scores[key];
    const broke = before !== undefined ? d.mean - before >= JUDGE.scoreJump && d.mean >= JUDGE.brokenScore : !LEVEL_NOT_EVIDENCE.has(key) && d.mean >= JUDGE.fakeScore;
    if (!broke) continue;
    const from = before !== undefined ? `from ${before.toFixed(2)} ` : '';
    findings.push(`The face broke down while ${during}: the ${labelOf(key)}'s score went ${from}to ${d.mean.toFixed(2)} over ${d.n} frames of the movement (a live face swap fails on ${action === 'cover-face' ? 'covered' : 'turned'} faces).`);
  }
  return findings;
}

/**
 * A stress movement the caller made but no face classifier or cue scored (the models did not
 * load, or every run failed): the turn tested nothing, so the step cannot pass on it. Returns the
 * reason, or undefined when at least minFrames of the movement's frames were scored.
 */
export function unscoredStress(action: ChallengeAction, base: Baseline, samples: readonly ChallengeSample[]): string | undefined {
  if (!STRESS_ACTIONS.includes(action)) return undefined;
  const frames = movementFrames(action, base, samples);
  const scored = frames.filter((s) => Object.keys(scoresOf(s)).length > 0).length;
  if (scored >= JUDGE.minFrames) return undefined;
  return `No face classifier scored the face during the movement (${scored} of ${frames.length} frames), so it could not show whether the face holds up.`;
}

/**
 * How the face classifiers (and per-frame face cues) behaved while the face moved, over every
 * step. Real-time face swaps are trained on frontal faces and blend poorly over hands and turned
 * heads, so their artefacts show up exactly when a challenge asks for those.
 */
export function judgeDetectors(base: Baseline, moving: readonly ChallengeSample[]): string[] {
  const findings: string[] = [];
  const faces = moving.filter(hasFace);
  for (const [key, d] of meanScores(faces, JUDGE.minFrames)) {
    const label = labelOf(key);
    const before = base.scores[key];
    if (before !== undefined && d.mean - before >= JUDGE.scoreJump) {
      findings.push(`The ${label}'s score rose from ${before.toFixed(2)} to ${d.mean.toFixed(2)} while the face moved: swapped faces break down on turned and covered faces.`);
    } else if (!LEVEL_NOT_EVIDENCE.has(key) && d.mean >= JUDGE.fakeScore) {
      findings.push(`The ${label} rated the face ${key === 'deepfake' ? 'synthetic' : key === 'spoof' ? 'a spoof' : 'fake'} throughout the check (average ${d.mean.toFixed(2)}).`);
    }
  }
  return findings;
}

export interface Verdict {
  state: ChallengeResult;
  reasons: string[];
  /** INCONCLUSIVE because the caller did not do the movements, or turned too little: ask again. */
  askAgain?: boolean;
}

export function verdict(steps: ReadonlyArray<StepJudgement & { action: ChallengeAction }>, base: Baseline, all: readonly ChallengeSample[], findings: readonly string[]): Verdict {
  if (all.length === 0) {
    return { state: 'INCONCLUSIVE', reasons: ['The analyzer sent no measurements during the check (analysis unavailable or overloaded).'] };
  }
  if (all.filter(hasFace).length < JUDGE.minFrames && base.faceFrames === 0) {
    return { state: 'INCONCLUSIVE', reasons: ['No face was visible during the check.'] };
  }
  const failed = steps.filter((s) => s.state === 'failed');
  const passed = steps.filter((s) => s.state === 'passed');
  if (findings.length || failed.length) {
    return { state: 'FAILED', reasons: [...new Set([...failed.map((s) => s.reason), ...findings])] };
  }
  const stressAsked = steps.some((s) => STRESS_ACTIONS.includes(s.action));
  // The stress is a turn to a profile view (or past where the face is tracked): a turn of 13°
  // strains no swapper, so a check whose only turn stopped there is no evidence the face is real.
  const stressDone = passed.some((s) => STRESS_ACTIONS.includes(s.action) && !s.short);
  const shortTurns = passed.filter((s) => STRESS_ACTIONS.includes(s.action) && s.short);
  if (passed.length >= Math.min(2, steps.length) && (stressDone || !stressAsked)) {
    return { state: 'PASSED', reasons: [`${passed.length} of ${steps.length} movements were made as asked and the face classifiers held steady${stressDone ? ' through the turn' : ''}.`] };
  }
  const missed = steps.filter((s) => s.noMovement);
  const rest = steps.filter((s) => s.state === 'inconclusive').map((s) => s.reason);
  if (missed.length) {
    const lead = `The caller did not make ${missed.length} of the ${steps.length} movements asked for. On its own that proves nothing (they may not have seen, heard or understood the instruction): explain the movements and ask again.`;
    return { state: 'INCONCLUSIVE', reasons: [lead, ...rest], askAgain: true };
  }
  if (stressAsked && !stressDone && shortTurns.length && passed.length >= Math.min(2, steps.length)) {
    const how = shortTurns.map((s) => s.reason.replace(/\.$/, '')).join('; ');
    return {
      state: 'INCONCLUSIVE',
      reasons: [`${how}: live face swaps break on a profile view, not on a small turn. Ask the caller to turn further, as far as they can, until one ear faces the camera.`, ...rest],
      askAgain: true,
    };
  }
  if (stressAsked && !stressDone && passed.length >= Math.min(2, steps.length)) {
    return { state: 'INCONCLUSIVE', reasons: ['The head turn, the movement a face swap fails on, could not be judged: ask again.', ...rest], askAgain: true };
  }
  return { state: 'INCONCLUSIVE', reasons: rest };
}
