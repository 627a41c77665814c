/**
 * Capture facts reported by the caller's own browser: a virtual camera, or settings that do not
 * add up. The client is untrusted, so this is advisory: it can add to suspicion, and a clean report
 * is never taken as proof of anything (it yields no evidence at all).
 */
import { describeFlag } from '../../protocol/integrity.ts';
import type { IntegrityReport } from '../../protocol/messages.ts';
import type { Evidence } from './Detector.ts';

/** Flags that say nothing about the camera in use (a virtual camera merely installed). */
const IGNORED: ReadonlySet<string> = new Set(['virtual-camera', 'virtual-camera-installed']);

export function integrityEvidence(report: IntegrityReport, at: number): Evidence | undefined {
  if (report.virtualCamera) {
    return {
      detector: 'client-integrity',
      at,
      score: 0.8,
      confidence: 0.8,
      reason: `The caller's camera is "${report.virtualCamera}", a virtual camera: the picture can come from software rather than a lens (as reported by the caller's browser).`,
      details: { camera: report.cameraLabel },
    };
  }
  const flags = report.flags.filter((f) => !IGNORED.has(f));
  if (flags.length > 0) {
    return {
      detector: 'client-integrity',
      at,
      score: 0.5,
      confidence: 0.5,
      reason: `The caller's camera reports something odd (as reported by the caller's browser): ${flags
        .slice(0, 3)
        .map((f) => describeFlag(f).replace(/\.$/, ''))
        .join('; ')}.`,
      details: { camera: report.cameraLabel },
    };
  }
  return undefined;
}
