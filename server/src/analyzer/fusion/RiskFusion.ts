/**
 * Fuses one participant's evidence over time into a risk score and a state, with reasons ranked by
 * how much each contributed.
 *
 * - Per detector, evidence in its window is averaged, weighted by confidence; a detector with
 *   fewer than minSamples non-abstaining readings does not count (no verdict from one frame).
 * - Detectors combine by noisy-OR of weight x confidence x suspicion: any one strong detector can
 *   raise risk, weak signals add up, and a detector that sees nothing wrong does not cancel
 *   another that does (a screen replay is not a face swap).
 * - States move up only after the risk has stayed above the entry threshold for holdMs.enter,
 *   and down only after it has stayed below the (lower) exit threshold for holdMs.exit.
 * - A verdict (CLEAR or worse) needs a primary detector (registry.ts says which: face deepfake,
 *   presentation attack, synthetic voice, a liveness check's verdict); the others only add to it.
 * - With no usable signal, CLEAR or ANALYZING become INSUFFICIENT_SIGNAL; SUSPICIOUS and ALERT
 *   hold (hiding the face must not clear an alert).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { DetectorId, Evidence } from '../detectors/Detector.ts';
import { DETECTOR_IDS, PRIMARY_DETECTORS as PRIMARY } from '../detectors/registry.ts';
import type { QualityReason } from '../vision/quality.ts';

import type { RiskState } from '../../protocol/messages.ts';

export type RiskStateName = RiskState;


const Threshold = z.strictObject({ enter: z.number().min(0).max(1), exit: z.number().min(0).max(1) }).refine((t) => t.exit < t.enter, 'exit must be below enter');
export const RiskConfigSchema = z.strictObject({
  about: z.string(),
  detectors: z.record(
    z.enum(DETECTOR_IDS),
    z.strictObject({
      weight: z.number().min(0).max(1),
      windowMs: z.number().int().positive(),
      minSamples: z.number().int().min(1),
      source: z.string().min(10),
    }),
  ),
  thresholds: z.strictObject({ suspicious: Threshold, alert: Threshold }),
  holdMs: z.strictObject({ enter: z.number().int().min(0), exit: z.number().int().min(0) }),
  analyzingMs: z.number().int().positive(),
  insufficientAfterMs: z.number().int().positive(),
  /** Detector-internal settings that are also tuning decisions. */
  params: z.strictObject({
    faceDeepfake: z.strictObject({ f2fWeight: z.number().min(0).max(1), source: z.string().min(10) }),
  }),
  /**
   * Provenance of a fit by `npm run calibrate` (server/src/evaluation/calibrate.ts): the data, how it
   * was grouped and cross-validated, what that gave, and for each fitted number where it came from.
   * Read by people and audits, not by fusion.
   */
  calibration: z.optional(
    z.strictObject({
      tool: z.string(),
      date: z.string(),
      data: z.string(),
      labelsFile: z.string().optional(),
      fromJson: z.string().optional(),
      groupBy: z.string(),
      groups: z.number().int().min(2),
      folds: z.number().int().min(2),
      clips: z.strictObject({ real: z.number().int().min(1), fake: z.number().int().min(1), leftOut: z.number().int().min(0) }),
      method: z.string(),
      target: z.strictObject({ falseAlertsPerMin: z.number().min(0), falseSuspiciousPerMin: z.number().min(0) }),
      crossValidated: z.strictObject({
        auc: z.number().nullable(),
        aucCi: z.strictObject({ lo: z.number(), hi: z.number() }).nullable(),
        falseAlertsPerMin: z.number().nullable(),
        falseSuspiciousPerMin: z.number().nullable(),
        realMinutes: z.number(),
        timeToAlertMedianS: z.number().nullable(),
        fakesAlerted: z.number().int(),
        timedFakes: z.number().int(),
      }),
      /** "detectors.face-deepfake.weight", "thresholds.alert.enter"...: where each fitted number came from. */
      numbers: z.record(z.string(), z.string()),
    }),
  ),
});
export type RiskConfig = z.infer<typeof RiskConfigSchema>;

export const RISK_CONFIG_PATH = new URL('./risk-config.json', import.meta.url);

export function loadRiskConfig(path: URL | string = RISK_CONFIG_PATH): RiskConfig {
  return RiskConfigSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}

export interface RankedReason {
  detector: DetectorId;
  text: string;
  /** weight x confidence x suspicion: this detector's share of the risk. */
  contribution: number;
  score: number;
  confidence: number;
}

export interface RiskSnapshot {
  state: RiskStateName;
  risk: number;
  /** Detectors that judged, most suspicious contribution first. */
  reasons: RankedReason[];
  /** Why some things could not be judged (no face, too dark, no speech...). */
  gaps: string[];
  since: number;
  at: number;
}

const QUALITY_TEXT: Record<Exclude<QualityReason, 'ok'>, string> = {
  'no-face': 'No face is visible.',
  'multiple-faces': 'Several faces are visible; the analysis needs exactly one.',
  'too-dark': 'The picture is too dark to analyse the face.',
  'too-small': 'The face is too small (too far from the camera) to analyse.',
};

const RANK: Record<RiskStateName, number> = { INSUFFICIENT_SIGNAL: 0, ANALYZING: 0, CLEAR: 1, SUSPICIOUS: 2, ALERT: 3 };

export class RiskFusion {
  private readonly config: RiskConfig;
  private readonly evidence = new Map<DetectorId, Evidence[]>();
  private lastQuality: { at: number; reason: QualityReason } | undefined;
  private lastGoodFaceAt: number;
  /** Last time a primary detector could judge: a short gap (a slow moment) is not "no signal". */
  private lastSignalAt: number;
  private readonly startedAt: number;
  private stateValue: RiskStateName = 'ANALYZING';
  private since: number;
  /** When the risk first crossed into the band of a pending move, and to which state. */
  private pending: { target: RiskStateName; from: number } | undefined;

  constructor(config: RiskConfig, now: number) {
    this.config = config;
    this.startedAt = now;
    this.since = now;
    this.lastGoodFaceAt = now;
    this.lastSignalAt = now;
  }

  get state(): RiskStateName {
    return this.stateValue;
  }

  add(e: Evidence): void {
    let list = this.evidence.get(e.detector);
    if (!list) this.evidence.set(e.detector, (list = []));
    list.push(e);
    // Bounded: old readings leave the window at the next update anyway; cap bursts too.
    if (list.length > 512) list.splice(0, list.length - 512);
  }

  addQuality(at: number, reason: QualityReason): void {
    this.lastQuality = { at, reason };
    if (reason === 'ok') this.lastGoodFaceAt = at;
  }

  private detectorView(id: DetectorId, now: number): RankedReason | undefined {
    const cfg = this.config.detectors[id];
    const list = this.evidence.get(id);
    if (!cfg || !list) return undefined;
    while (list.length && list[0]!.at < now - cfg.windowMs) list.shift();
    const judged = list.filter((e) => e.score !== undefined && e.confidence > 0);
    if (judged.length < cfg.minSamples) return undefined;
    let cs = 0;
    let c = 0;
    for (const e of judged) {
      cs += e.confidence * e.score!;
      c += e.confidence;
    }
    const score = cs / c;
    const confidence = c / judged.length;
    // The reason of the reading most in line with the window's verdict.
    const typical = judged.reduce((best, e) => (Math.abs(e.score! - score) < Math.abs(best.score! - score) ? e : best));
    return { detector: id, text: typical.reason, contribution: cfg.weight * confidence * score, score, confidence };
  }

  private gaps(now: number): string[] {
    const gaps: string[] = [];
    const q = this.lastQuality;
    if (!q) gaps.push('No video has been analysed yet.');
    else if (q.reason !== 'ok' && now - this.lastGoodFaceAt > this.config.insufficientAfterMs) gaps.push(QUALITY_TEXT[q.reason]);
    for (const list of this.evidence.values()) {
      const last = list[list.length - 1];
      if (last && last.score === undefined && !gaps.includes(last.reason)) gaps.push(last.reason);
    }
    return gaps;
  }

  /** Re-evaluates at `now`; returns the current snapshot. */
  update(now: number): RiskSnapshot {
    const reasons: RankedReason[] = [];
    for (const id of DETECTOR_IDS) {
      const v = this.detectorView(id, now);
      if (v) reasons.push(v);
    }
    reasons.sort((a, b) => b.contribution - a.contribution);
    const risk = 1 - reasons.reduce((p, r) => p * (1 - r.contribution), 1);
    const hasSignal = reasons.some((r) => PRIMARY.has(r.detector));
    this.step(now, risk, hasSignal);
    return { state: this.stateValue, risk, reasons, gaps: this.gaps(now), since: this.since, at: now };
  }

  private step(now: number, risk: number, hasSignal: boolean): void {
    const { suspicious, alert } = this.config.thresholds;
    const cur = this.stateValue;
    if (hasSignal) this.lastSignalAt = now;
    if (!hasSignal) {
      this.pending = undefined;
      if (cur === 'SUSPICIOUS' || cur === 'ALERT') return; // hiding the face does not clear an alert
      if (cur === 'CLEAR' && now - this.lastSignalAt < this.config.insufficientAfterMs) return;
      const waited = now - this.startedAt >= this.config.analyzingMs || (this.lastQuality !== undefined && now - this.lastGoodFaceAt > this.config.insufficientAfterMs);
      if (cur === 'ANALYZING' && !waited) return;
      this.move('INSUFFICIENT_SIGNAL', now);
      return;
    }
    // Where the risk alone would put us, with hysteresis: leaving a state needs the exit level.
    let target: RiskStateName;
    if (risk >= alert.enter || (cur === 'ALERT' && risk >= alert.exit)) target = 'ALERT';
    else if (risk >= suspicious.enter || ((cur === 'SUSPICIOUS' || cur === 'ALERT') && risk >= suspicious.exit)) target = 'SUSPICIOUS';
    else target = 'CLEAR';
    if (target === cur) {
      this.pending = undefined;
      return;
    }
    // From "no verdict yet" to CLEAR needs no wait; any other move must hold.
    const up = RANK[target] > RANK[cur];
    const hold = cur === 'ANALYZING' || cur === 'INSUFFICIENT_SIGNAL' ? (target === 'CLEAR' ? 0 : this.config.holdMs.enter) : up ? this.config.holdMs.enter : this.config.holdMs.exit;
    if (!this.pending || this.pending.target !== target) {
      // A move up may go one step at a time; restart the clock only when the direction changes.
      if (!this.pending || RANK[this.pending.target] > RANK[cur] !== up) this.pending = { target, from: now };
      else this.pending = { target, from: this.pending.from };
    }
    if (now - this.pending.from >= hold) {
      this.move(target, now);
      this.pending = undefined;
    }
  }

  private move(to: RiskStateName, now: number): void {
    if (this.stateValue === to) return;
    this.stateValue = to;
    this.since = now;
  }
}
