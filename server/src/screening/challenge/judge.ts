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
 */
import { INSTRUCTIONS, type ChallengeAction, type ChallengeResult, type ChallengeSample } from '../../protocol/challenge.ts';

export const JUDGE = {
  /** Head turn (yaw) and look-up (pitch) needed, degrees from the baseline. */
  turnDeg: 8,
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
  /** A face-classifier score this high during the movements, on average, means the face looked fake. */
  fakeScore: 0.7,
  /** ...or a rise this large over the baseline average while the face moved. */
  scoreJump: 0.3,
} as const;

export interface Baseline {
  frames: number;
  faceFrames: number;
  yaw?: number;
  pitch?: number;
  mouth?: number;
  deepfake?: number;
  spoof?: number;
}

export interface StepJudgement {
  state: 'passed' | 'failed' | 'inconclusive';
  reason: string;
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
  const b: Baseline = { frames: samples.length, faceFrames: faces.length };
  const put = (key: 'yaw' | 'pitch' | 'mouth' | 'deepfake' | 'spoof', v: number | undefined) => {
    if (v !== undefined) b[key] = v;
  };
  put('yaw', median(defined(faces.map((s) => s.yaw))));
  put('pitch', median(defined(faces.map((s) => s.pitch))));
  put('mouth', median(defined(faces.map((s) => s.mouth))));
  put('deepfake', mean(defined(faces.map((s) => s.deepfake))));
  put('spoof', mean(defined(faces.map((s) => s.spoof))));
  return b;
}

const deg = (v: number) => `${Math.round(v)}°`;

/** One step: the samples taken while the participant had this instruction on screen. */
export function judgeStep(action: ChallengeAction, base: Baseline, samples: readonly ChallengeSample[]): StepJudgement {
  const what = INSTRUCTIONS[action].toLowerCase();
  if (samples.length < JUDGE.minFrames) {
    return { state: 'inconclusive', reason: `Too few frames were analysed while asked to ${what} (${samples.length}).` };
  }
  if (action === 'cover-face') {
    // A turned head changes the lower face's look too: a changed lower face only counts while the head faces the camera.
    const facing = (s: ChallengeSample) =>
      (s.yaw === undefined || base.yaw === undefined || Math.abs(s.yaw - base.yaw) < JUDGE.turnDeg) &&
      (s.pitch === undefined || base.pitch === undefined || Math.abs(s.pitch - base.pitch) < JUDGE.lookUpDeg);
    const hidden = samples.filter((s) => !s.face || (s.presence ?? 1) < JUDGE.minPresence || ((s.occlusion ?? 0) >= JUDGE.occlusion && facing(s))).length;
    if (base.faceFrames === 0) return { state: 'inconclusive', reason: 'No face was visible before the instruction, so covering it shows nothing.' };
    if (hidden >= JUDGE.minFrames) return { state: 'passed', reason: `The face was covered in ${hidden} of ${samples.length} frames.` };
    const most = Math.max(0, ...defined(samples.map((s) => s.occlusion)));
    return { state: 'failed', reason: `The face stayed uncovered (largest change ${most.toFixed(2)}; ${JUDGE.occlusion} needed).` };
  }
  const faces = samples.filter(hasFace);
  if (faces.length < JUDGE.minFrames) {
    return { state: 'inconclusive', reason: `The face was not found while asked to ${what} (${faces.length} of ${samples.length} frames).` };
  }
  if (action === 'turn-left' || action === 'turn-right') {
    if (base.yaw === undefined) return { state: 'inconclusive', reason: 'No face before the first instruction to compare the turn with.' };
    // Yaw > 0: nose toward the image's right, the subject's left.
    const sign = action === 'turn-left' ? 1 : -1;
    const toward = sustained(faces.map((s) => sign * (s.yaw! - base.yaw!)));
    const away = sustained(faces.map((s) => -sign * (s.yaw! - base.yaw!)));
    const side = action === 'turn-left' ? 'left' : 'right';
    if (toward >= JUDGE.turnDeg) return { state: 'passed', reason: `Turned ${side} by ${deg(toward)}.` };
    if (away >= JUDGE.turnDeg) return { state: 'failed', reason: `Turned the wrong way (${deg(away)} to the ${side === 'left' ? 'right' : 'left'}).` };
    return { state: 'failed', reason: `Did not turn ${side}: at most ${deg(Math.max(0, toward))} (${JUDGE.turnDeg}° needed).` };
  }
  if (action === 'look-up') {
    if (base.pitch === undefined) return { state: 'inconclusive', reason: 'No face before the first instruction to compare with.' };
    const up = sustained(faces.map((s) => s.pitch! - base.pitch!));
    if (up >= JUDGE.lookUpDeg) return { state: 'passed', reason: `Looked up by ${deg(up)}.` };
    return { state: 'failed', reason: `Did not look up: at most ${deg(Math.max(0, up))} (${JUDGE.lookUpDeg}° needed).` };
  }
  // smile
  if (base.mouth === undefined || base.mouth <= 0) return { state: 'inconclusive', reason: 'No face before the first instruction to compare the smile with.' };
  if (base.mouth >= JUDGE.alreadySmiling) return { state: 'inconclusive', reason: 'Already smiling before the instruction, so a smile shows nothing new.' };
  const mouths = defined(faces.map((s) => s.mouth));
  const gain = sustained(mouths.map((m) => m / base.mouth! - 1));
  if (gain >= JUDGE.smileGain) return { state: 'passed', reason: `Smiled (mouth ${Math.round(gain * 100)}% wider).` };
  return { state: 'failed', reason: `Did not smile: mouth at most ${Math.round(Math.max(0, gain) * 100)}% wider (${JUDGE.smileGain * 100}% needed).` };
}

/**
 * How the face classifiers behaved while the face moved. Real-time face swaps are trained on
 * frontal faces and blend poorly over hands and turned heads, so their artefacts show up exactly
 * when a challenge asks for those.
 */
export function judgeDetectors(base: Baseline, moving: readonly ChallengeSample[]): string[] {
  const findings: string[] = [];
  const faces = moving.filter(hasFace);
  for (const [key, label] of [
    ['deepfake', 'deepfake classifier'],
    ['spoof', 'presentation-attack classifier'],
  ] as const) {
    const during = mean(defined(faces.map((s) => s[key])));
    if (during === undefined || faces.length < JUDGE.minFrames) continue;
    const before = base[key];
    if (before !== undefined && during - before >= JUDGE.scoreJump) {
      findings.push(`The ${label}'s score rose from ${before.toFixed(2)} to ${during.toFixed(2)} while the face moved: swapped faces break down on turned and covered faces.`);
    } else if (during >= JUDGE.fakeScore) {
      findings.push(`The ${label} rated the face ${key === 'deepfake' ? 'synthetic' : 'a spoof'} throughout the check (average ${during.toFixed(2)}).`);
    }
  }
  return findings;
}

export function verdict(steps: readonly StepJudgement[], base: Baseline, all: readonly ChallengeSample[], findings: readonly string[]): { state: ChallengeResult; reasons: string[] } {
  if (all.length === 0) {
    return { state: 'INCONCLUSIVE', reasons: ['The analyzer sent no measurements during the check (analysis unavailable or overloaded).'] };
  }
  if (all.filter(hasFace).length < JUDGE.minFrames && base.faceFrames === 0) {
    return { state: 'INCONCLUSIVE', reasons: ['No face was visible during the check.'] };
  }
  const failed = steps.filter((s) => s.state === 'failed');
  const passed = steps.filter((s) => s.state === 'passed');
  if (findings.length || failed.length) {
    return { state: 'FAILED', reasons: [...findings, ...failed.map((s) => s.reason)] };
  }
  if (passed.length >= Math.min(2, steps.length)) {
    return { state: 'PASSED', reasons: [`${passed.length} of ${steps.length} movements were made as asked and the face classifiers held steady.`] };
  }
  return { state: 'INCONCLUSIVE', reasons: steps.filter((s) => s.state === 'inconclusive').map((s) => s.reason) };
}
