/**
 * Fusion's side of the evaluation, kept apart from playing media: what a clip's fusion was told
 * (recorded while the clip plays), what fusion did with it (FusedTracker, once a tick), and
 * replaying the recording through another fusion (`npm run eval -- --refuse report.json`).
 *
 * Why replay: detectors cost minutes per data set, fusion milliseconds. A change to fusion's code
 * or to risk-config.json (windows, holds, thresholds, weights) is judged on exactly the evidence
 * the last run produced, in seconds, and compared with --compare. One approximation, said in
 * every replayed report: the analyzer samples faster while SUSPICIOUS or ALERT, and a replay
 * cannot add the frames a different state would have sampled, so its evidence follows the
 * recorded run's states. Times and false alarms are exact for what was recorded.
 */
import type { Evidence } from '../analyzer/detectors/Detector.ts';
import { PRIMARY_DETECTORS as PRIMARY } from '../analyzer/detectors/registry.ts';
import { RiskFusion, type RiskConfig, type RiskSnapshot, type RiskStateName } from '../analyzer/fusion/RiskFusion.ts';
import type { FusionInput } from '../analyzer/fusion/recordFusion.ts';
import type { ClipResult, FusedClipResult } from './runner.ts';

// The recording lives with fusion (the live analyzer sends the same list); the type with the
// protocol, whose schema checks it on the way in.
export { recordFusion, type FusionInput } from '../analyzer/fusion/recordFusion.ts';

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

const rank = (s: RiskStateName) => (s === 'ALERT' ? 2 : s === 'SUSPICIOUS' ? 1 : 0);

/** What fusion did over a clip, from its snapshot at every tick. */
export class FusedTracker {
  readonly fused: FusedClipResult;
  private last = 0;

  constructor(initial: RiskStateName) {
    this.fused = { judged: false, maxRisk: null, finalState: initial, finalRisk: 0, firstSuspiciousS: null, firstAlertS: null, suspiciousEntries: 0, alertEntries: 0, stateSeconds: {} };
  }

  /**
   * The snapshot of the tick at `tMs` from the clip's start. A tick of the tail (`playTail`) moves
   * the state but not the clip's risk: what the tail adds is time for a hold, not evidence.
   */
  tick(snapshot: RiskSnapshot, tMs: number, tail = false): void {
    const fused = this.fused;
    const prev = fused.finalState;
    fused.stateSeconds[prev] = (fused.stateSeconds[prev] ?? 0) + (tMs - this.last) / 1000;
    this.last = tMs;
    const state = snapshot.state;
    if (rank(state) >= 1 && rank(prev) < 1) fused.suspiciousEntries++;
    if (rank(state) === 2 && rank(prev) < 2) fused.alertEntries++;
    if (rank(state) >= 1) fused.firstSuspiciousS ??= tMs / 1000;
    if (state === 'ALERT') fused.firstAlertS ??= tMs / 1000;
    if (!tail && snapshot.reasons.some((r) => PRIMARY.has(r.detector))) {
      fused.judged = true;
      if (fused.maxRisk === null || snapshot.risk > fused.maxRisk) {
        fused.maxRisk = snapshot.risk;
        if (snapshot.reasons[0]) fused.topReason = snapshot.reasons[0].text;
      }
    }
    fused.finalState = state;
    fused.finalRisk = snapshot.risk;
  }
}

/** The tail's default: the 3 s hold to enter a state (risk-config.json holdMs.enter) and one tick. */
export const DEFAULT_TAIL_S = 4;

/**
 * After a clip's media: the call goes on for `tailMs` with nothing new arriving, ticking once a
 * second as the analyzer does, so that a state the clip's evidence earned is shown. Why: a state
 * moves only after the risk has held for holdMs.enter (3 s), and the voice model judges a short
 * clip's speech at its very end (AudioWindower.flush), so a clip that ends there could never show
 * the SUSPICIOUS its last seconds earned, where a live call, which goes on, would (on dev/voice
 * 5 of 72 judged fakes had a fused risk past 0.45: one was raised without the tail, two with
 * it). The tail's ticks move states (first SUSPICIOUS / ALERT, entries, time in each state) but
 * not the clip's risk, so AUCs are the media's own; reals get the same tail, so false alarms are
 * counted alike, per minute of media. `lastTickMs` is the last tick played; returns the last tail tick.
 */
export function playTail(fusion: RiskFusion, tracker: FusedTracker, t0: number, lastTickMs: number, endMs: number, tailMs: number): number {
  let t = lastTickMs;
  for (let next = lastTickMs + 1000; next <= endMs + tailMs; next += 1000) {
    tracker.tick(fusion.update(t0 + next), next, true);
    t = next;
  }
  return t;
}

/**
 * A clip's recorded fusion inputs through a new RiskFusion with `config`: its fused result and
 * timeline; then `tailMs` of tail (playTail) after the last recorded input, when given.
 */
export function replayFusion(inputs: FusionInput[], config: RiskConfig, tailMs = 0): Pick<ClipResult, 'fused' | 'timeline'> {
  const T0 = 1_700_000_000_000;
  const fusion = new RiskFusion(config, T0);
  const tracker = new FusedTracker(fusion.state);
  const timeline: NonNullable<ClipResult['timeline']> = [];
  let lastTick = 0;
  let end = 0;
  for (const x of inputs) {
    if (x[0] !== 'r') end = Math.max(end, x[1]);
    switch (x[0]) {
      case 'e':
        fusion.add({ detector: x[2] as Evidence['detector'], at: T0 + x[1], ...(x[3] === null ? {} : { score: x[3] }), confidence: x[4], reason: x[3] === null ? 'abstained (replayed)' : 'replayed' });
        break;
      case 'q':
        fusion.addQuality(T0 + x[1], x[2]);
        break;
      case 's':
        fusion.sampled(x[2], T0 + x[1]);
        break;
      case 'd':
        fusion.dropped(x[2], T0 + x[1]);
        break;
      case 'r':
        fusion.setSamplingTarget(x[1], x[2]);
        break;
      case 'u': {
        const snapshot = fusion.update(T0 + x[1]);
        tracker.tick(snapshot, x[1]);
        lastTick = x[1];
        timeline.push({ t: x[1] / 1000, views: Object.fromEntries(snapshot.reasons.map((r) => [r.detector, [r4(r.score), r4(r.confidence)]])) });
        break;
      }
    }
  }
  if (tailMs > 0) playTail(fusion, tracker, T0, lastTick, end, tailMs);
  return { fused: tracker.fused, timeline };
}

/**
 * The report with every clip's fusion replayed through `config` and this code (detectors' results
 * untouched); the summary is for the caller to recompute (compare.ts: resummarise). Throws when the
 * report has no recorded fusion inputs (written before they were recorded).
 */
export function refuseReport<R extends { clips: ClipResult[]; notes: string[]; settings?: { tailSeconds?: number } }>(report: R, config: RiskConfig, configName: string, tailSeconds?: number): R {
  const played = report.clips.filter((c) => !c.error);
  const missing = played.filter((c) => !c.fusionInputs).length;
  if (missing === played.length) throw new Error('the report has no recorded fusion inputs (written by an older npm run eval): run npm run eval -- --json FILE again');
  // The recorded inputs stop at the media's end: the tail is played again, the run's own unless told.
  const tail = tailSeconds ?? report.settings?.tailSeconds ?? 0;
  const clips = report.clips.map((c) => (c.error || !c.fusionInputs ? c : { ...c, ...replayFusion(c.fusionInputs, config, tail * 1000) }));
  const note = `Fusion replayed (npm run eval -- --refuse) with ${configName} on the evidence recorded by the original run, with a tail of ${tail} s${missing ? `; ${missing} clip(s) without recorded inputs kept their original fused result` : ''}. The analyzer samples faster while SUSPICIOUS or ALERT; a replay keeps the recorded run's sampling, so the evidence follows the original run's states.`;
  return { ...report, ...(report.settings ? { settings: { ...report.settings, tailSeconds: tail } } : {}), clips, notes: [...report.notes, note] };
}
