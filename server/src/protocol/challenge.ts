/**
 * Liveness challenge: the host asks the analysed participant to make a few movements, drawn at
 * random, that real-time face swaps handle badly (profile views, a hand over the face). Shared by
 * the server, the analyzer, the browser client and simulated callers.
 */
import { z } from 'zod';

export const CHALLENGE_ACTIONS = ['turn-left', 'turn-right', 'look-up', 'cover-face', 'smile'] as const;
export type ChallengeAction = (typeof CHALLENGE_ACTIONS)[number];

/**
 * The movements real-time face swaps are known to break on and that we can judge: a head turned
 * toward profile (the swap model saw frontal faces, and the far side of the face has to be
 * invented). Every check demands at least one, and the face classifiers are judged on the frames
 * where it shows. A hand across the face also breaks swaps, but it is not a stress movement here:
 * MesoNet reads a REAL face with a hand over it as fake (the simulated real caller went from 0.13
 * to 0.83 in CI, issue 10 run of 2026-12-01), so a score jump on covered frames cannot tell a
 * broken swap from an occluded real face. Covering stays a compliance movement.
 */
export const STRESS_ACTIONS: readonly ChallengeAction[] = ['turn-left', 'turn-right'];

/**
 * The movements that hide the face from the face classifiers (a hand across it): for the reason
 * above, their frames are judged for compliance only, never as classifier evidence
 * (Challenge.ts leaves them out of what judgeDetectors sees).
 */
export const OCCLUDING_ACTIONS: readonly ChallengeAction[] = ['cover-face'];

/** What the analysed participant reads. "Left" is their own left, whatever the mirror shows. */
export const INSTRUCTIONS: Record<ChallengeAction, string> = {
  'turn-left': 'Turn your head to your left, as far as you can',
  'turn-right': 'Turn your head to your right, as far as you can',
  'look-up': 'Tilt your head back and look up',
  'cover-face': 'Cover your mouth and chin with your hand',
  smile: 'Give a big smile',
};

export const CHALLENGE_RESULTS = ['PASSED', 'FAILED', 'INCONCLUSIVE'] as const;
export type ChallengeResult = (typeof CHALLENGE_RESULTS)[number];
export type ChallengeState = 'RUNNING' | ChallengeResult;
export type StepState = 'pending' | 'active' | 'passed' | 'failed' | 'inconclusive';

/** What started a check: a person pressing "Verify liveness", or the room's step-up policy (see analysis/StepUp.ts). */
export const CHALLENGE_TRIGGERS = ['manual', 'join', 'suspicious', 'alert'] as const;
export type ChallengeTrigger = (typeof CHALLENGE_TRIGGERS)[number];

export interface ChallengeStepView {
  action: ChallengeAction;
  instruction: string;
  state: StepState;
  /** Why it passed, failed or could not be judged, with the measured values. */
  reason?: string;
  /** While active: how long the caller has left for it, as of when this view was made. */
  leftMs?: number;
}

/** A challenge as privileged participants see it. */
export interface ChallengeView {
  id: string;
  participantId: string;
  participantName: string;
  requestedBy: string;
  state: ChallengeState;
  steps: ChallengeStepView[];
  /** The verdict's reasons, most important first (empty while running). */
  reasons: string[];
  startedAt: number;
  endedAt?: number;
  /** What started it (absent: manual, from before policies existed). */
  trigger?: ChallengeTrigger;
  /**
   * INCONCLUSIVE because the caller did not make the movements (not because a face broke down):
   * worth asking again, after explaining the movements.
   */
  askAgain?: boolean;
  /**
   * While running: about how long until the verdict, as of when this view was made (a duration,
   * not a time, so the viewer's clock does not matter).
   */
  leftMs?: number;
}

/** Sent to the analysed participant only: one instruction, no scores. */
export interface ChallengePrompt {
  challengeId: string;
  /** 1-based. */
  step: number;
  of: number;
  action: ChallengeAction;
  instruction: string;
  durationMs: number;
}

/**
 * What the analyzer measured in one sampled frame while a challenge runs. Angles in degrees
 * (faceGeometry.headPose conventions: yaw > 0 when the nose points to the image's right, which is
 * the subject's left in an unmirrored camera frame; pitch > 0 looking up).
 */
export const ChallengeSampleSchema = z.strictObject({
  at: z.number(),
  face: z.boolean(),
  yaw: z.number().min(-180).max(180).optional(),
  pitch: z.number().min(-180).max(180).optional(),
  /** Mouth width over the eye-corner distance. */
  mouth: z.number().min(0).max(10).optional(),
  /** Face-mesh presence probability. */
  presence: z.number().min(0).max(1).optional(),
  /** How different the lower face looks from the start of the challenge (0 same, ~1 unrelated). */
  occlusion: z.number().min(0).max(10).optional(),
  /** Face classifier suspicion scores for this frame. */
  deepfake: z.number().min(0).max(1).optional(),
  spoof: z.number().min(0).max(1).optional(),
  /** The face track this face belongs to: a change means the face was lost and found again. */
  track: z.number().int().optional(),
  /**
   * Other face cues' suspicion scores (0 real .. 1 fake) whose evidence arrived with this frame,
   * by detector id. The judge treats each like the classifiers above, so a new face cue is judged
   * during the movements without changing this contract.
   */
  cues: z
    .record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/), z.number().min(0).max(1))
    .refine((c) => Object.keys(c).length <= 16, 'at most 16 cues per frame')
    .optional(),
});
export type ChallengeSample = z.infer<typeof ChallengeSampleSchema>;
