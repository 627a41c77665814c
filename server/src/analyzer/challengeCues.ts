/**
 * Which evidence a running liveness check reports per frame as a face cue (ChallengeSample.cues),
 * so the server's judge can see each face cue's score during the movements that real-time swaps
 * break on. Taken generically from the evidence stream (the frame detectors' evidence of each
 * frame, the window detectors' once a second): a face cue added to the detector registry is judged
 * during checks without any change here or in the judge.
 *
 * Left out: the two face classifiers (they have their own fields), detectors that do not look at
 * the face (voice, the caller's capture report, the check's own verdict), and the window detectors
 * that need 10+ seconds of frames (blink, lip-sync, pulse): their verdict during a 3-second
 * movement describes the seconds before it, not the movement.
 */
import type { Evidence } from './detectors/Detector.ts';
import type { Observing } from './subjects.ts';

const NOT_A_CHALLENGE_CUE: ReadonlySet<string> = new Set(['face-deepfake', 'presentation-attack', 'synthetic-voice', 'client-integrity', 'liveness-check', 'blink', 'lip-sync', 'pulse']);

/** The cue's id and score when this evidence is a judged face cue, else undefined. */
export function challengeCue(e: Evidence): [string, number] | undefined {
  if (NOT_A_CHALLENGE_CUE.has(e.detector) || e.score === undefined || !(e.confidence > 0)) return undefined;
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(e.detector)) return undefined;
  return [e.detector, Math.min(1, Math.max(0, e.score))];
}

/** Keeps each face cue's latest score for the next reported frame of a running check. */
export function noteCues(o: Pick<Observing, 'cues'>, evidence: readonly Evidence[]): void {
  for (const e of evidence) {
    const cue = challengeCue(e);
    if (cue) o.cues[cue[0]] = cue[1];
  }
}
