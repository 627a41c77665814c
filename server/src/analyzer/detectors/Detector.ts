/**
 * The one contract every detector meets: given its input, say how suspicious it looks, how much
 * that reading can be trusted, and why, in plain English. A detector that cannot judge (no face,
 * no speech, too much motion, heavy compression) abstains: no score, and a reason saying so.
 * "Insufficient signal" is an honest answer, never a false "fake".
 */
import type { FaceDetection } from '../vision/BlazeFace.ts';
import type { ImageSource } from '../vision/image.ts';

export type DetectorId =
  | 'face-deepfake'
  | 'presentation-attack'
  | 'synthetic-voice'
  | 'blink'
  | 'lip-sync'
  | 'pulse'
  | 'client-integrity'
  | 'liveness-check';

export interface Evidence {
  detector: DetectorId;
  /** When the evidence was observed (ms since epoch). */
  at: number;
  /** Suspicion in [0, 1]: 0 looks real, 1 looks fake. Absent when the detector abstains. */
  score?: number;
  /** How far to trust the score, in [0, 1] (signal quality, model reliability). 0 when abstaining. */
  confidence: number;
  /** Plain English, for the clinician: what was seen, or why nothing could be judged. */
  reason: string;
  /** Optional measured values behind the reason (for the audit log and tuning). */
  details?: Record<string, number | string | boolean>;
}

export interface Detector<Input> {
  readonly id: DetectorId;
  analyse(input: Input): Promise<Evidence>;
}

/** One sampled video frame with the face BlazeFace found in it. */
export interface FaceSample {
  src: ImageSource;
  face: FaceDetection;
  /** ms since epoch */
  at: number;
  /** Batcher priority (boosted or analysed streams first). */
  priority: number;
}

/** One voiced 4.04 s window of 16 kHz mono speech. */
export interface SpeechWindow {
  samples: Float32Array;
  at: number;
  voicedFraction: number;
  priority: number;
}

export function abstain(detector: DetectorId, at: number, reason: string, details?: Evidence['details']): Evidence {
  return { detector, at, confidence: 0, reason, ...(details ? { details } : {}) };
}
