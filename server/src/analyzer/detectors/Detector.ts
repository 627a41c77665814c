/**
 * The one contract every detector meets: given its input, say how suspicious it looks, how much
 * that reading can be trusted, and why, in plain English. A detector that cannot judge (no face,
 * no speech, too much motion, heavy compression) abstains: no score, and a reason saying so.
 * "Insufficient signal" is an honest answer, never a false "fake".
 */
import type { FaceDetection } from '../vision/BlazeFace.ts';
import type { SAMPLED_INPUTS } from '../../protocol/analyzerChannel.ts';
import type { ImageSource } from '../vision/image.ts';

/** The detectors' ids, one per entry of registry.ts (the registry is the one list). */
export type { DetectorId } from './registry.ts';
import type { DetectorId } from './registry.ts';
import type { Landmarks } from './FaceLandmarks.ts';

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

/**
 * How often a detector needs its input analysed to judge at all. Fusion compares it with what the
 * analyzer really achieves for each stream: when fewer samples get analysed than this while the
 * analyzer means to sample at least this fast, that participant's analysis is degraded, and is
 * shown as such, never as CLEAR (a starved detector is not a detector that saw nothing wrong).
 */
export interface SamplingNeed {
  /**
   * `video`: the face classifiers' samples (every frame the sampler keeps, face or not);
   * `face-frames`: frames whose face went through the face mesh (the classifiers' samples with a
   * usable face and the landmark frames between them: what the window detectors are told);
   * `audio`: speech windows.
   */
  input: (typeof SAMPLED_INPUTS)[number];
  /**
   * Analysed samples per second. 'window': the detector's minSamples per windowMs in
   * risk-config.json, the least for fusion to count it at all.
   */
  perSecond: number | 'window';
  /** Plain English, for the clinician: what the samples are for. */
  what: string;
}

export interface Detector<Input> {
  readonly id: DetectorId;
  analyse(input: Input): Promise<Evidence>;
}

/**
 * Judges one sampled face frame on its own: a classifier (MesoNet, MiniFASNet) or a measured cue
 * on the pixels of the face and its surroundings. Fusion averages its readings over its window.
 */
export interface FrameDetector {
  readonly id: DetectorId;
  /**
   * Whether it reads `FaceSample.landmarks`. The others run alongside the face mesh; such a
   * detector waits for it (~4 ms), and is still called, without landmarks, when the mesh is not
   * loaded or lost the face.
   */
  readonly usesLandmarks?: boolean;
  analyse(sample: FaceSample): Promise<Evidence>;
}

/** What a window detector is told about each usable face frame. */
export interface FaceObservation {
  src: ImageSource;
  face: FaceDetection;
  /** ms since epoch */
  at: number;
  /** The face mesh (with iris contours while boosted), when the landmark model ran. */
  landmarks?: Landmarks;
}

/** The caller's speech energy, one 10 ms block at a time. */
export interface SpeechEnergy {
  at: number;
  /** RMS of the block, full scale 1. */
  rms: number;
  /** The voice gate's decision for this block, when known. */
  voiced?: boolean;
  /**
   * The block itself, 16 kHz mono, full scale 1, for a detector that listens to the voice rather
   * than its loudness (pitch-jitter). Only valid during the call: copy what you keep.
   */
  samples?: Float32Array;
}

/**
 * Judges a stretch of time rather than one frame (blinking, lip-sync, pulse, flicker, the voice's
 * pitch): it is told every usable face frame and/or every 10 ms block of the caller's audio, and
 * once a second says what the window ending `now` shows. It keeps only what its window needs.
 */
export interface WindowDetector {
  readonly id: DetectorId;
  observeFace?(o: FaceObservation): void;
  observeSpeech?(s: SpeechEnergy): void;
  evaluate(now: number): Evidence;
}

/** One sampled video frame with the face BlazeFace found in it. */
export interface FaceSample {
  src: ImageSource;
  face: FaceDetection;
  /** ms since epoch */
  at: number;
  /** Batcher priority (boosted or analysed streams first). */
  priority: number;
  /** The face mesh of this frame, for a detector that `usesLandmarks` (absent when the mesh did not run or lost the face). */
  landmarks?: Landmarks;
}

/** One voiced 4.04 s window of 16 kHz mono speech. */
export interface SpeechWindow {
  samples: Float32Array;
  at: number;
  voicedFraction: number;
  priority: number;
  /** Set when the window is shorter speech repeated to length (AudioWindower.flush): how many samples of it. */
  speechSamples?: number;
}

export function abstain(detector: DetectorId, at: number, reason: string, details?: Evidence['details']): Evidence {
  return { detector, at, confidence: 0, reason, ...(details ? { details } : {}) };
}
