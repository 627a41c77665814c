/**
 * Capture facts reported by the caller's own browser: a virtual camera, or settings that do not
 * add up. The client is untrusted, so this is advisory: it can add to suspicion, and a clean report
 * is never taken as proof of anything (it yields no evidence at all).
 */
import type { IntegrityReport } from '../../protocol/messages.ts';
import type { Evidence } from './Detector.ts';

export function integrityEvidence(report: IntegrityReport, at: number): Evidence | undefined {
  if (report.virtualCamera) {
    return {
      detector: 'client-integrity',
      at,
      score: 0.9,
      confidence: 0.8,
      reason: `The caller's camera is "${report.virtualCamera}", a virtual camera: the picture can come from software rather than a lens (as reported by the caller's browser).`,
      details: { camera: report.cameraLabel },
    };
  }
  if (report.flags.length > 0) {
    return {
      detector: 'client-integrity',
      at,
      score: 0.5,
      confidence: 0.5,
      reason: `The caller's camera reports settings that do not add up: ${report.flags.slice(0, 3).join('; ')}.`,
      details: { camera: report.cameraLabel },
    };
  }
  return undefined;
}
