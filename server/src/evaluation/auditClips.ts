/**
 * The audit log's labelled calls as evaluation clips, for `npm run calibrate -- --from-audit FILE`:
 * each analysed participant of a call that a privileged person marked a confirmed fraud or
 * genuine (POST /api/calls/:room/outcome) becomes one clip, its fusion's recorded inputs (the
 * analyzer's `evidence` batches, kept for AUDIT_EVIDENCE_DAYS) replayed through fusion as
 * `npm run eval -- --refuse` replays a clip's.
 *
 * Why: a deployment's own calls are the only data that looks like its callers, its cameras and its
 * attackers, and the product records no picture or sound to play again. What it keeps is what
 * fusion was told (scores, confidences, times), which is all calibration needs. The file is opened
 * read-only, so this runs beside a live server (or on a copy of the file), and nothing leaves the
 * machine.
 *
 * Clip ids are `real/<name>/call-<id>-<participant>` or `fake/...`, so calibrate's default grouping
 * keeps each caller's calls together (one person's calls must not sit on both sides of a fold).
 */
import { DatabaseSync } from 'node:sqlite';
import { labelledParticipants, participantEvidence } from '../audit/AuditLog.ts';
import type { RiskConfig } from '../analyzer/fusion/RiskFusion.ts';
import type { FusionInput } from '../analyzer/fusion/recordFusion.ts';
import { CalibrationError } from './calibrate.ts';
import { replayFusion } from './fusion.ts';
import { noDetectorResults, type ClipResult } from './runner.ts';

export interface AuditClips {
  clips: ClipResult[];
  /** Labelled participants left out, and why. */
  notes: string[];
}

/**
 * A participant's batches as one list, ms from the first batch's start (a call moved to another
 * analyzer starts a new fusion with its own start; both are replayed into one, in time order).
 */
export function mergeEvidence(batches: readonly { start: number; inputs: readonly FusionInput[] }[]): FusionInput[] {
  if (!batches.length) return [];
  const t0 = Math.min(...batches.map((b) => b.start));
  const timed: { at: number; i: number; x: FusionInput }[] = [];
  for (const b of batches) {
    let at = b.start - t0;
    for (const x of b.inputs) {
      // A sampling target has no time of its own: it applies from where it was set.
      if (x[0] !== 'r') at = b.start - t0 + x[1];
      timed.push({ at, i: timed.length, x: x[0] === 'r' ? x : ([x[0], at, ...x.slice(2)] as FusionInput) });
    }
  }
  return timed.sort((a, b) => a.at - b.at || a.i - b.i).map((p) => p.x);
}

const safe = (s: string) => s.replace(/[/\\]/g, '_').trim() || '_';

/** The labelled calls in the audit log at `path`, replayed through `config`. */
export function clipsFromAudit(path: string, config: RiskConfig): AuditClips {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch (err) {
    throw new CalibrationError(`cannot open the audit log ${path}: ${(err as Error).message}`);
  }
  try {
    let labelled;
    try {
      labelled = labelledParticipants(db);
    } catch (err) {
      throw new CalibrationError(`${path} is not an audit log with case outcomes (${(err as Error).message}): point --from-audit at the server's AUDIT_DB`);
    }
    if (!labelled.length) throw new CalibrationError(`the audit log ${path} has no call marked a confirmed fraud or genuine: mark them with POST /api/calls/ROOM/outcome (README, "HTTP API")`);
    const clips: ClipResult[] = [];
    const noEvidence: string[] = [];
    for (const p of labelled) {
      const inputs = mergeEvidence(participantEvidence(db, p.callId, p.participantId));
      const id = `${p.outcome === 'fraud' ? 'fake' : 'real'}/${safe(p.name)}/call-${p.callId}-${safe(p.participantId)}`;
      const endMs = inputs.reduce((m, x) => (x[0] === 'r' ? m : Math.max(m, x[1])), 0);
      if (!inputs.some((x) => x[0] === 'u') || endMs <= 0) {
        noEvidence.push(id);
        continue;
      }
      clips.push({
        id,
        label: p.outcome === 'fraud' ? 'fake' : 'real',
        kind: 'video',
        timed: true,
        durationS: endMs / 1000,
        simulatedS: endMs / 1000,
        // Per-detector clip numbers need the detectors' own readings over the clip, which fusion's
        // inputs only approximate; calibration reads the timeline.
        detectors: noDetectorResults(),
        // The replay's per-second timeline is what calibration reads; the raw inputs (the bulk:
        // 2-4 MB an hour of call) are let go clip by clip rather than held for every marked call.
        ...replayFusion(inputs, config),
        elapsedMs: 0,
      });
    }
    const notes = noEvidence.length
      ? [`${noEvidence.length} labelled participant(s) without recorded evidence left out (recorded only while AUDIT_EVIDENCE_DAYS > 0, and kept that many days): ${noEvidence.slice(0, 3).join(', ')}${noEvidence.length > 3 ? ', ...' : ''}.`]
      : [];
    if (!clips.length) throw new CalibrationError(`none of the ${labelled.length} labelled participant(s) in ${path} has recorded evidence: the server keeps it only with AUDIT_EVIDENCE_DAYS > 0, for that many days after the call`);
    return { clips, notes };
  } finally {
    db.close();
  }
}
