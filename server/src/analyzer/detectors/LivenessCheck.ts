/**
 * A liveness check's verdict as evidence: the server judges the check (screening/challenge) and
 * tells the analyzer, so a failed check raises the caller's risk with its reason, alongside what
 * the models see. A pass proves the caller moved as asked, not that the face is genuine, so it
 * lowers nothing; an inconclusive check is an abstention.
 */
import type { ChallengeResult } from '../../protocol/challenge.ts';
import type { Evidence } from './Detector.ts';

export interface ChallengeOutcome {
  result: ChallengeResult;
  reasons: string[];
  requestedBy: string;
}

export function livenessEvidence(o: ChallengeOutcome, at: number): Evidence {
  const why = o.reasons[0] ?? '';
  if (o.result === 'FAILED') {
    return { detector: 'liveness-check', at, score: 0.75, confidence: 0.9, reason: `Failed the liveness check ${o.requestedBy} asked for: ${why}`, details: { result: o.result } };
  }
  if (o.result === 'PASSED') {
    return { detector: 'liveness-check', at, score: 0, confidence: 0.9, reason: `Passed the liveness check ${o.requestedBy} asked for.`, details: { result: o.result } };
  }
  return { detector: 'liveness-check', at, confidence: 0, reason: `The liveness check could not judge: ${why}`, details: { result: o.result } };
}
