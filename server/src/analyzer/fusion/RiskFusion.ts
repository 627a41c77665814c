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
 * - The onset view, for the frame detectors that can show a switch fast (`onset` in the config):
 *   their last few readings (`onset.readings` within `onset.spanMs`) count by their LEAST
 *   suspicious one, and when that lifts the risk past an entry level, the move needs only
 *   `onset.holdMs`, counted from the first of those readings. Why: a 10 s average fills with the
 *   new face only 10 s after a caller switches to a deepfake (then the 3 s hold: 7-11 s to ALERT),
 *   while several consecutive readings that all say "fake" are as strong a persistence test as a
 *   hold on the average, and one outlier frame can never pass it. It only ever raises: coming down
 *   is the window's and the raisers' business, as below.
 *   The onset keeps a clock per level (SUSPICIOUS, ALERT), so entering SUSPICIOUS on the way does
 *   not restart the wait for ALERT.
 *   A switch is a change from a face the detector itself vouched for: its onset counts only for a
 *   run that began after its window view first scored the face below 0.5, and only a run that
 *   reads fake starts the short hold. Why: another detector's CLEAR (presentation attack after
 *   three frames) came before MesoNet's first readings, so MesoNet misreading a real caller's
 *   first frames was taken for a switch and skipped the hold: all 4 real dev/video clips
 *   raised to SUSPICIOUS were that (EVALUATION.md, "The onset is for a switch").
 * - Second opinions (`onset.perDetector[id].secondOpinion`; the voice model): from SUSPICIOUS, the
 *   onset view of a second opinion that did not raise it can lift the state to ALERT after
 *   onset.holdMs, counted with every other detector's window view (so the raisers never escalate
 *   on their own readings). The voice's onset has its own count and span (its windows come every
 *   2-8 s, after a queue): when the face raised SUSPICIOUS, three windows of a cloned voice escalate
 *   to ALERT instead of waiting until they outweigh 20 s of the natural voice. A second opinion
 *   has no onset from CLEAR: two overlapping windows of one speaker are one opinion twice, and a
 *   real voice the model misreads is misread window after window (a real speaker raised SUSPICIOUS
 *   so in a replay, EVALUATION.md). The face classifiers are not second opinions: 2 s of a hand
 *   over a real face read fake to MesoNet, which would turn any SUSPICIOUS into ALERT.
 * - A verdict (CLEAR or worse) needs a primary detector (registry.ts says which: face deepfake,
 *   presentation attack, synthetic voice, a liveness check's verdict); the others only add to it.
 *   A passed check is no signal (it proves the movements, not the face), and a check's verdicts
 *   count by the most suspicious in its window, never averaged: a pass does not dilute a failure.
 * - With no usable signal, CLEAR or ANALYZING become INSUFFICIENT_SIGNAL; SUSPICIOUS and ALERT
 *   hold (hiding the face must not clear an alert).
 * - SUSPICIOUS and ALERT remember the detectors that raised them (the fewest top contributors
 *   whose noisy-OR reached the entry level). Only those detectors' fresh evidence can lower the
 *   state: while any of them has fewer than minSamples readings in its window (starved by a busy
 *   analyzer, or the face gone), the state holds, whatever the others say. Without this a starved
 *   face left a natural voice as the only judge, and a confirmed deepfake went ALERT -> CLEAR.
 * - Each detector declares how fast it needs its input analysed (`sampling` in registry.ts); the
 *   analyzer tells fusion what it means to sample and what it analysed and dropped. Below a detector's
 *   need, while the stream is live and the analyzer means to meet it, that detector is "degraded";
 *   when it is a primary one, DEGRADED takes CLEAR's place (no all-clear from a starved analysis).
 *   A video that stops arriving while the caller's camera is on (setVideoStalled) starves them all.
 * - The server keeps the last raised state and hands it back to whichever analyzer watches the
 *   call next (restart, or another worker); restore() resumes it, raisers included.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { DetectorId, Evidence, SamplingNeed } from '../detectors/Detector.ts';
import { DETECTOR_IDS, DETECTORS, PRIMARY_DETECTORS as PRIMARY } from '../detectors/registry.ts';
import type { QualityReason } from '../vision/quality.ts';

import type { DegradedDetector, RiskHandBack, RiskState } from '../../protocol/messages.ts';
import { NO_VIDEO_GAP, QUALITY_GAPS } from '../../protocol/riskGaps.ts';
/** Detectors whose readings are verdicts of a check (a pass scores 0), not measurements of the face or voice. */
const VERDICTS: ReadonlySet<DetectorId> = new Set<DetectorId>(['liveness-check']);
/** The primary detectors whose evidence the analyzer produces itself (not the liveness check's). */
const HEARD_PRIMARY: readonly DetectorId[] = DETECTORS.filter((d) => d.primary && d.kind !== 'external').map((d) => d.id);

export type RiskStateName = RiskState;

/** What each sampled detector needs of its input (its `sampling` line in registry.ts). */
const NEEDS = new Map<DetectorId, SamplingNeed>(DETECTORS.flatMap((d) => ('sampling' in d ? [[d.id, d.sampling] as [DetectorId, SamplingNeed]] : [])));
export type SampledInput = SamplingNeed['input'];
/**
 * Achieved sampling is measured over this span, or over a detector's own window where its need is
 * "enough readings in its window" (the voice model's 20 s). A stream must have been live that
 * long before it can be called degraded (no verdict on a stream that just started or came back).
 */
const RATE_WINDOW_MS = 10_000;
/** The longest such span kept (the ledgers hold samples this long). */
const MAX_SPAN_MS = 60_000;
/**
 * A pause this long between samples (camera off, silence) starts a new live span; or one and a
 * half of the analyzer's own sampling interval where that is longer (the voice's 4 or 8 s hop
 * while a caller is CLEAR), or every sample would start a span and nothing could be judged.
 */
const LIVE_GAP_MS = 3_000;

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
  /** The onset view (see the header): which detectors, how many readings within what span, and the hold from the first of them. */
  onset: z.strictObject({
    detectors: z.array(z.enum(DETECTOR_IDS)),
    readings: z.number().int().min(2),
    spanMs: z.number().int().positive(),
    holdMs: z.number().int().min(0),
    /**
     * For a listed detector whose readings come slower and less regularly than the frame
     * classifiers' (the voice model: one window per 2, 4 or 8 s, scored after a queue): its LAST
     * `readings` readings count, the first no more than `spanMs` before the last, the last no older
     * than `spanMs`. (The shared rule, every reading within `spanMs` of now, would need two readings
     * at one hop and three at another, depending on the queue's delay.) Default: the shared rule.
     */
    perDetector: z.optional(
      z.partialRecord(
        z.enum(DETECTOR_IDS),
        z.strictObject({
          readings: z.number().int().min(2),
          spanMs: z.number().int().positive(),
          /**
           * A second opinion: its onset view only takes a SUSPICIOUS that other detectors raised to
           * ALERT, and from CLEAR it waits for its window like any detector. Only second opinions
           * escalate. Default false.
           */
          secondOpinion: z.optional(z.boolean()),
        }),
      ),
    ),
    source: z.string().min(10),
  }),
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
      /** The call's codecs the clips went through before the analyzer saw them (`npm run eval -- --through`). */
      through: z.string().optional(),
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
        judgedReal: z.number().int().optional(),
        judgedFake: z.number().int().optional(),
      }),
      /** "detectors.face-deepfake.weight", "thresholds.alert.enter"...: where each fitted number came from. */
      numbers: z.record(z.string(), z.string()),
    }),
  ),
});
export type RiskConfig = z.infer<typeof RiskConfigSchema>;

export const RISK_CONFIG_PATH = new URL('./risk-config.json', import.meta.url);

/** Reads and checks a risk configuration; a bad file fails with its path and every problem in it. */
export function loadRiskConfig(path: URL | string = RISK_CONFIG_PATH): RiskConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`risk configuration ${String(path)}: ${(err as Error).message}`);
  }
  const parsed = RiskConfigSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`risk configuration ${String(path)} is invalid:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return parsed.data;
}

export interface RankedReason {
  detector: DetectorId;
  text: string;
  /** weight x confidence x suspicion: this detector's share of the risk. */
  contribution: number;
  score: number;
  confidence: number;
  /** The onset view (the least suspicious of the last few readings) gave this, not the window's average. */
  onset?: boolean;
}

export interface RiskSnapshot {
  state: RiskStateName;
  /** SUSPICIOUS or ALERT: the detectors that raised it, the only ones whose fresh evidence lowers it. */
  raisedBy: DetectorId[];
  /** Detectors starved of samples (analysis degraded), with plain reasons. */
  degraded: DegradedDetector[];
  risk: number;
  /** Detectors that judged, most suspicious contribution first. */
  reasons: RankedReason[];
  /** Why some things could not be judged (no face, too dark, no speech...). */
  gaps: string[];
  since: number;
  at: number;
}

const QUALITY_TEXT: Record<Exclude<QualityReason, 'ok'>, string> = QUALITY_GAPS;

const RANK: Record<RiskStateName, number> = { INSUFFICIENT_SIGNAL: 0, ANALYZING: 0, DEGRADED: 0, CLEAR: 1, SUSPICIOUS: 2, ALERT: 3 };
const RAISED: ReadonlySet<RiskStateName> = new Set(['SUSPICIOUS', 'ALERT']);

/** One input's sampling as the analyzer reports it: what it means to do and what it did. */
class SamplingLedger {
  target = 0;
  /** When analysed and dropped samples happened, within MAX_SPAN_MS. */
  readonly analysed: number[] = [];
  readonly dropped: number[] = [];
  /** Start of the current live span (samples no further apart than liveGap()). */
  liveSince = Number.NaN;
  last = Number.NaN;

  private liveGap(): number {
    return this.target > 0 ? Math.max(LIVE_GAP_MS, 1500 / this.target) : LIVE_GAP_MS;
  }

  note(list: number[], at: number): void {
    if (!(at - this.last <= this.liveGap())) this.liveSince = at;
    this.last = Math.max(at, Number.isNaN(this.last) ? at : this.last);
    list.push(at);
    if (list.length > 4096) list.splice(0, list.length - 4096);
  }

  /** Drops what is older than the longest span. */
  prune(now: number): void {
    for (const list of [this.analysed, this.dropped]) while (list.length && list[0]! <= now - MAX_SPAN_MS) list.shift();
  }

  /**
   * Analysed samples per second over the last `spanMs`, with whether any were dropped then; or
   * undefined while not live that long to tell.
   */
  achieved(now: number, spanMs: number): { rate: number; dropped: boolean } | undefined {
    if (!(now - this.last <= this.liveGap()) || now - this.liveSince < spanMs) return undefined;
    const from = now - spanMs;
    return { rate: this.analysed.filter((t) => t > from).length / (spanMs / 1000), dropped: this.dropped.some((t) => t > from) };
  }
}

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
  /** Who raised the current SUSPICIOUS or ALERT: only their fresh evidence brings it down. */
  private readonly raisers = new Set<DetectorId>();
  private readonly sampling = new Map<SampledInput, SamplingLedger>();
  /** How long (ms) video expected has not arrived: see setVideoStalled. */
  private videoStalledFor: number | undefined;
  /**
   * Per raised level, since when the risk has been at or above its entry with an onset view in it,
   * backdated to the first reading of the onset run (the move needs onset.holdMs of it).
   */
  private readonly onsetSince: Partial<Record<'SUSPICIOUS' | 'ALERT', number>> = {};
  /** No onset view before this time (a liveness check running: see pauseOnset). */
  private onsetPausedUntil = -Infinity;
  /**
   * Per onset detector, when its window view first judged the face unsuspicious (score < 0.5):
   * its onset view only counts for a run that began after that (see onsetView).
   */
  private readonly vouchedAt = new Map<DetectorId, number>();
  /** In SUSPICIOUS: since when a second opinion's onset has lifted the risk to ALERT's entry (see trackEscalation). */
  private escalationSince: number | undefined;
  /** The second opinions whose onset the escalation clock runs on (update()): they become raisers of the ALERT it makes. */
  private escalators: DetectorId[] = [];

  constructor(config: RiskConfig, now: number) {
    this.config = config;
    this.startedAt = now;
    this.since = now;
    this.lastGoodFaceAt = now;
    this.lastSignalAt = now;
  }

  /** How far back the onset view looks (ms). */
  get onsetSpanMs(): number {
    return this.config.onset.spanMs;
  }

  get state(): RiskStateName {
    return this.stateValue;
  }

  add(e: Evidence): void {
    let list = this.evidence.get(e.detector);
    if (!list) this.evidence.set(e.detector, (list = []));
    // Kept in time order: the window drops its oldest from the front and the onset reads its last
    // few from the back. Readings usually arrive in order; one that finished late (a frame from an
    // earlier batch, a queued speech window) is slotted in where it belongs, not after newer ones,
    // where it would outlive its window and pass for the latest reading.
    let i = list.length;
    while (i > 0 && list[i - 1]!.at > e.at) i--;
    list.splice(i, 0, e);
    // Bounded: old readings leave the window at the next update anyway; cap bursts too.
    if (list.length > 512) list.splice(0, list.length - 512);
  }

  /**
   * What the analyzer means to sample of this participant's input, per second (the sampler's
   * current rate; the audio hop). A detector needing more than this is not expected to judge, so
   * its absence is a gap, not a degradation.
   */
  setSamplingTarget(input: SampledInput, perSecond: number): void {
    this.ledger(input).target = perSecond;
  }

  /**
   * The analyzer expects video (the caller's camera is on, its track attached) and none has
   * arrived for `forMs` (undefined: it is arriving, or not expected). Every video detector the
   * analyzer means to feed is then degraded: with no samples at all the ledgers below cannot tell
   * a stall from a camera turned off, and without this a frozen video left the voice alone to
   * carry an all-clear while the clinician still saw the face.
   */
  setVideoStalled(forMs: number | undefined): void {
    this.videoStalledFor = forMs;
  }

  /** One sample of this input went through analysis (a frame through the face models, a speech window through the voice model). */
  sampled(input: SampledInput, at: number): void {
    const l = this.ledger(input);
    l.note(l.analysed, at);
  }

  /** One sample of this input was lost (a full queue, a full batch, a model run that failed). */
  dropped(input: SampledInput, at: number): void {
    const l = this.ledger(input);
    l.note(l.dropped, at);
  }

  private ledger(input: SampledInput): SamplingLedger {
    let l = this.sampling.get(input);
    if (!l) this.sampling.set(input, (l = new SamplingLedger()));
    return l;
  }

  /** Detectors whose need the achieved sampling misses while the analyzer means to meet it. */
  private degraded(now: number): DegradedDetector[] {
    const out: DegradedDetector[] = [];
    for (const l of this.sampling.values()) l.prune(now);
    // Several detectors share an input and a span (the face classifiers' 10 s of video): once each.
    const seen = new Map<string, ReturnType<SamplingLedger['achieved']>>();
    for (const [id, need] of NEEDS) {
      const cfg = this.config.detectors[id];
      const l = this.sampling.get(need.input);
      if (!cfg || !l) continue;
      const needed = need.perSecond === 'window' ? (cfg.minSamples * 1000) / cfg.windowMs : need.perSecond;
      // "Enough readings in its window" is judged over that window (up to MAX_SPAN_MS): the voice's
      // one window in 20 s is not starved by a 10 s stretch without one.
      const span = need.perSecond === 'window' ? Math.min(MAX_SPAN_MS, Math.max(RATE_WINDOW_MS, cfg.windowMs)) : RATE_WINDOW_MS;
      const key = `${need.input}/${span}`;
      if (!seen.has(key)) seen.set(key, l.achieved(now, span));
      const a = seen.get(key);
      const got = a?.rate;
      if (l.target < needed) continue;
      // Frames and face frames both come from the video.
      if (this.videoStalledFor !== undefined && need.input !== 'audio') {
        out.push({
          detector: id,
          // One sentence for them all (the panel lists it once): the cause is the video, not the check.
          reason: `Analysis degraded: no video has reached the analyzer for ${Math.floor(this.videoStalledFor / 5000) * 5} s although the caller's camera is on; no face check can judge.`,
          achieved: 0,
          needed: round2(needed),
          why: 'stalled',
        });
        continue;
      }
      if (got === undefined || got >= needed) continue;
      // Fewer than needed is starvation only if some were lost: audio windows come only with
      // speech, and face frames only as fast as the camera sends them (the target's cap on the
      // arrival rate is an average since the last layer change, slow to follow a camera that
      // slows down in dim light).
      if ((need.input === 'audio' || need.input === 'face-frames') && !a!.dropped) continue;
      const unit = need.input === 'video' ? 'frames' : need.input === 'face-frames' ? 'face frames' : 'speech windows';
      out.push({
        detector: id,
        reason: `Analysis degraded: the analyzer is behind and gets ${fmtRate(got)} ${unit} a second for ${need.what}, which needs ${fmtRate(needed)}.`,
        achieved: round2(got),
        needed: round2(needed),
        why: 'behind',
      });
    }
    return out;
  }

  /**
   * Resumes a state the server handed back (an analyzer restart, or the call moving to another
   * analyzer). Only SUSPICIOUS and ALERT resume, with the detectors that raised them: those then
   * need fresh evidence here before the state can come down. A CLEAR is not resumed: this analyzer
   * has not seen anything yet, and an all-clear must rest on evidence. Returns whether it resumed.
   */
  restore(h: RiskHandBack, now: number): boolean {
    if (!RAISED.has(h.state)) return false;
    const known = h.raisedBy.filter((d): d is DetectorId => (DETECTOR_IDS as readonly string[]).includes(d));
    // Raisers unknown (an older server): any primary detector the analyzer hears may have raised
    // it, so all must agree. Not the liveness check: it speaks only when someone runs one, and an
    // ALERT waiting for it would never come down on the face's and the voice's fresh evidence.
    const raisers = known.length ? known : HEARD_PRIMARY;
    if (RAISED.has(this.stateValue)) {
      // Already raised here (the call came back to this analyzer while it still judged it): keep
      // its own raisers beside the handed-back ones, and never lower its state.
      for (const d of raisers) this.raisers.add(d);
      if (RANK[h.state] > RANK[this.stateValue]) this.stateValue = h.state;
      this.since = Math.min(h.since, this.since, now);
      this.pending = undefined;
      return true;
    }
    this.raisers.clear();
    for (const d of raisers) this.raisers.add(d);
    this.stateValue = h.state;
    this.since = Math.min(h.since, now);
    this.pending = undefined;
    this.lastSignalAt = now;
    return true;
  }

  /**
   * No onset view until `until` (ms): a liveness check's movements (a turn toward profile, a hand
   * over the face) make the face models read a real face as fake for a second or two, which the
   * window's average absorbs and the onset would not. The check judges those frames itself.
   * The analyzer pauses it for the check's length and for one onset span after it.
   */
  pauseOnset(until: number): void {
    this.onsetPausedUntil = until;
  }

  /** What the server keeps of this participant to hand back later (see restore). */
  handBack(participantId: string, risk: number): RiskHandBack {
    return { participantId, state: this.stateValue, risk, since: this.since, raisedBy: [...this.raisers] };
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
    if (VERDICTS.has(id)) {
      // A check's verdicts are not averaged: a pass lowers nothing, not even an earlier failure.
      const worst = judged.reduce((a, e) => (e.score! >= a.score! ? e : a));
      return { detector: id, text: worst.reason, contribution: cfg.weight * worst.confidence * worst.score!, score: worst.score!, confidence: worst.confidence };
    }
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

  /**
   * The onset view of a detector: its last readings within onset.spanMs, at least onset.readings
   * of them, scored by the least suspicious. Undefined when it has too few readings, is not an
   * onset detector, or its run does not read fake: readings that all say "real" are no switch,
   * so they neither start the short hold nor the escalation clock, nor stand in for the window.
   */
  private onsetView(id: DetectorId, now: number): { view: RankedReason; start: number } | undefined {
    const o = this.config.onset;
    const cfg = this.config.detectors[id];
    if (!cfg || !o.detectors.includes(id)) return undefined;
    // A liveness check pauses the face's onset (its movements fool the face models), not the voice's.
    if (now < this.onsetPausedUntil && NEEDS.get(id)?.input !== 'audio') return undefined;
    const own = o.perDetector?.[id];
    const judged = (this.evidence.get(id) ?? []).filter((e) => e.at <= now && e.score !== undefined && e.confidence > 0);
    let recent: Evidence[];
    if (own) {
      // A second opinion only: nothing to escalate unless others raised the state (see step()).
      if (own.secondOpinion && this.stateValue !== 'SUSPICIOUS' && this.stateValue !== 'ALERT') return undefined;
      // Its last readings, however many its hop and its queue put into the span (see perDetector).
      recent = judged.slice(-Math.max(own.readings, cfg.minSamples));
      if (recent.length < Math.max(own.readings, cfg.minSamples) || recent.at(-1)!.at < now - own.spanMs || recent.at(-1)!.at - recent[0]!.at > own.spanMs) return undefined;
    } else {
      recent = judged.filter((e) => e.at >= now - o.spanMs);
      if (recent.length < Math.max(o.readings, cfg.minSamples)) return undefined;
      // A switch is a change from a face this detector itself judged unsuspicious. Before it has,
      // the onset would only skip the hold on the same first readings the window sees.
      const vouched = this.vouchedAt.get(id);
      if (vouched === undefined || vouched >= recent[0]!.at) return undefined;
    }
    const least = recent.reduce((a, e) => (e.score! < a.score! ? e : a));
    if (least.score! < 0.5) return undefined;
    const confidence = recent.reduce((c, e) => c + e.confidence, 0) / recent.length;
    const score = least.score!;
    return { view: { detector: id, text: recent.at(-1)!.reason, contribution: cfg.weight * confidence * score, score, confidence, onset: true }, start: recent[0]!.at };
  }

  private gaps(now: number, views: Map<DetectorId, RankedReason>): string[] {
    const gaps: string[] = [];
    const starved = RAISED.has(this.stateValue) ? [...this.raisers].filter((d) => !views.has(d)) : [];
    if (starved.length) gaps.push(`The ${this.stateValue === 'ALERT' ? 'alert' : 'suspicion'} holds until ${starved.join(', ')} has enough fresh readings to confirm or lift it.`);
    const q = this.lastQuality;
    if (!q) gaps.push(NO_VIDEO_GAP);
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
    const views = new Map<DetectorId, RankedReason>();
    let onsetStart: number | undefined;
    let windowKeep = 1;
    // The escalation view (SUSPICIOUS to ALERT): second opinions that did not raise it at their
    // best (onset or window), every other detector by its window.
    let escalationKeep = 1;
    let escalationStart: number | undefined;
    const escalators: DetectorId[] = [];
    for (const id of DETECTOR_IDS) {
      const v = this.detectorView(id, now);
      if (v) windowKeep *= 1 - v.contribution;
      if (v && v.score < 0.5 && !this.vouchedAt.has(id) && this.config.onset.detectors.includes(id)) this.vouchedAt.set(id, now);
      // The onset view (a run that reads fake) counts for fusion only where it is more suspicious
      // than the window's.
      const o = this.onsetView(id, now);
      const best = o && o.view.contribution > (v?.contribution ?? -1) ? o.view : v;
      if (o && best === o.view) onsetStart = Math.max(onsetStart ?? -Infinity, o.start);
      if (best) {
        reasons.push(best);
        views.set(id, best);
      }
      const second = o !== undefined && !this.raisers.has(id) && this.config.onset.perDetector?.[id]?.secondOpinion === true;
      const esc = second ? best : v;
      if (esc) escalationKeep *= 1 - esc.contribution;
      if (second && best === o.view) {
        escalationStart = Math.max(escalationStart ?? -Infinity, o.start);
        escalators.push(id);
      }
    }
    reasons.sort((a, b) => b.contribution - a.contribution);
    const risk = 1 - reasons.reduce((p, r) => p * (1 - r.contribution), 1);
    // A passed check is no signal: it proves the caller moved, not what the face is (LivenessCheck.ts).
    const hasSignal = reasons.some((r) => PRIMARY.has(r.detector) && !(VERDICTS.has(r.detector) && r.score === 0));
    const degraded = this.degraded(now);
    this.trackOnset(hasSignal, risk, onsetStart, now);
    this.trackEscalation(hasSignal, 1 - escalationKeep, escalationStart, now);
    this.escalators = escalators;
    this.step(now, risk, 1 - windowKeep, hasSignal, reasons, degraded.some((d) => PRIMARY.has(d.detector as DetectorId)));
    return {
      state: this.stateValue,
      raisedBy: RAISED.has(this.stateValue) ? [...this.raisers] : [],
      degraded,
      risk,
      reasons,
      gaps: this.gaps(now, views),
      since: this.since,
      at: now,
    };
  }

  /** Updates the onset clock of each raised level (see `onsetSince`). */
  private trackOnset(hasSignal: boolean, risk: number, onsetStart: number | undefined, now: number): void {
    for (const level of ['SUSPICIOUS', 'ALERT'] as const) {
      const enter = level === 'ALERT' ? this.config.thresholds.alert.enter : this.config.thresholds.suspicious.enter;
      if (!hasSignal || risk < enter || onsetStart === undefined) delete this.onsetSince[level];
      else this.onsetSince[level] = Math.min(this.onsetSince[level] ?? Infinity, onsetStart, now);
    }
  }

  /**
   * Updates the escalation clock: in SUSPICIOUS, since when the risk with a second opinion's onset
   * view (and every other detector's window view) has been at or above ALERT's entry, backdated to
   * the first reading of that onset run.
   */
  private trackEscalation(hasSignal: boolean, risk: number, start: number | undefined, now: number): void {
    if (this.stateValue !== 'SUSPICIOUS' || !hasSignal || start === undefined || risk < this.config.thresholds.alert.enter) this.escalationSince = undefined;
    else this.escalationSince = Math.min(this.escalationSince ?? Infinity, start, now);
  }

  /** `risk` with the onset views, `windowRisk` from the window views alone (every move but the onset's). */
  private step(now: number, risk: number, windowRisk: number, hasSignal: boolean, reasons: RankedReason[], degradedPrimary: boolean): void {
    const { suspicious, alert } = this.config.thresholds;
    const cur = this.stateValue;
    if (hasSignal) this.lastSignalAt = now;
    if (!hasSignal) {
      this.pending = undefined;
      if (RAISED.has(cur)) return; // hiding the face does not clear an alert
      // A short gap in evidence (a slow moment) keeps CLEAR, starved or not: a caller whose
      // analysis is slow but keeps up would otherwise flap between CLEAR and DEGRADED.
      if (cur === 'CLEAR' && now - this.lastSignalAt < this.config.insufficientAfterMs) return;
      if (degradedPrimary) {
        this.move('DEGRADED', now);
        return;
      }
      const waited = now - this.startedAt >= this.config.analyzingMs || (this.lastQuality !== undefined && now - this.lastGoodFaceAt > this.config.insufficientAfterMs);
      if (cur === 'ANALYZING' && !waited) return;
      this.move('INSUFFICIENT_SIGNAL', now);
      return;
    }
    // Up into SUSPICIOUS or ALERT on an onset run that has lasted onset.holdMs: the highest such
    // level. It is for a switch, from a caller already judged (CLEAR) or one whose face or
    // analysis came back (INSUFFICIENT_SIGNAL, DEGRADED). Not from ANALYZING: at a call's start
    // the window holds only recent readings anyway, and the camera settling (exposure, focus, the
    // face arriving) is the noisiest moment to skip the hold. Not from SUSPICIOUS to ALERT on the
    // raisers' own onset: the clinician already has a warning and the stream is sampled 3x faster;
    // that escalation waits for the window's average (a real face the face model consistently
    // misreads otherwise goes from SUSPICIOUS to ALERT in a second: one such clip in
    // ../shared/data/dev/video). A second opinion's onset may escalate (below).
    if (cur === 'CLEAR' || cur === 'INSUFFICIENT_SIGNAL' || cur === 'DEGRADED') {
      const to = (['ALERT', 'SUSPICIOUS'] as const).find((l) => RANK[l] > RANK[cur] && now - (this.onsetSince[l] ?? Infinity) >= this.config.onset.holdMs);
      if (to) {
        this.noteRaisers(to, reasons);
        this.move(to, now);
        this.pending = undefined;
        return;
      }
    }
    // Up from SUSPICIOUS to ALERT on the onset of a second opinion that did not raise the
    // SUSPICIOUS: an independent sign that a switch happened (a cloned voice with the swapped
    // face), arriving as the face's own window still fills. Everything else counts by its window,
    // so the face model that raised the warning cannot escalate it on its own readings.
    if (cur === 'SUSPICIOUS' && this.escalationSince !== undefined && now - this.escalationSince >= this.config.onset.holdMs) {
      // The second opinion raised this ALERT: it must have its say before the ALERT comes down
      // (noteRaisers may stop at the face's own onset view, which is in `reasons` too).
      this.noteRaisers('ALERT', reasons);
      for (const d of this.escalators) this.raisers.add(d);
      this.move('ALERT', now);
      this.pending = undefined;
      return;
    }
    // Where the risk alone would put us, with hysteresis: leaving a state needs the exit level.
    // Entering goes by the window views (the onset had its turn above); staying counts the onset
    // too, so a state it raised does not start down while its readings still say "fake".
    let target: RiskStateName;
    if (windowRisk >= alert.enter || (cur === 'ALERT' && risk >= alert.exit)) target = 'ALERT';
    else if (windowRisk >= suspicious.enter || ((cur === 'SUSPICIOUS' || cur === 'ALERT') && risk >= suspicious.exit)) target = 'SUSPICIOUS';
    else target = 'CLEAR';
    // No all-clear while a detector that decides the verdict is starved of samples.
    if (target === 'CLEAR' && degradedPrimary) target = 'DEGRADED';
    if (target === cur) {
      this.pending = undefined;
      return;
    }
    const up = RANK[target] > RANK[cur];
    // Down from SUSPICIOUS or ALERT only on fresh evidence from every detector that raised it:
    // the others' readings are already in the risk (noisy-OR cannot let them cancel it), and a
    // raiser without enough readings in its window has not said the danger is over.
    if (!up && RAISED.has(cur) && ![...this.raisers].every((d) => reasons.some((r) => r.detector === d))) {
      this.pending = undefined;
      return;
    }
    // From "no verdict yet" to CLEAR needs no wait (out of DEGRADED: the enter hold, against
    // flapping at the edge of a detector's need); any other move must hold. CLEAR to DEGRADED
    // takes the enter hold; out of SUSPICIOUS or ALERT into DEGRADED is a move down (the risk
    // fell, a detector starved) and takes the exit hold, as the way down to CLEAR does.
    const noVerdict = cur === 'ANALYZING' || cur === 'INSUFFICIENT_SIGNAL' || cur === 'DEGRADED';
    const hold =
      noVerdict ? (target === 'CLEAR' && cur !== 'DEGRADED' ? 0 : this.config.holdMs.enter) : target === 'DEGRADED' && !RAISED.has(cur) ? this.config.holdMs.enter : up ? this.config.holdMs.enter : this.config.holdMs.exit;
    if (!this.pending || this.pending.target !== target) {
      // A move up may go one step at a time: the clock restarts only when the direction changes.
      // A move down restarts it on every new target: ALERT to CLEAR needs holdMs.exit below
      // SUSPICIOUS's exit level, not holdMs.exit below ALERT's with a moment below the other.
      if (!this.pending || RANK[this.pending.target] > RANK[cur] !== up || !up) this.pending = { target, from: now };
      else this.pending = { target, from: this.pending.from };
    }
    if (now - this.pending.from >= hold) {
      if (RAISED.has(target) && up) this.noteRaisers(target, reasons);
      this.move(target, now);
      this.pending = undefined;
    }
  }

  /** The fewest top contributors whose noisy-OR reaches the entry level of `to`, added to the raisers. */
  private noteRaisers(to: RiskStateName, reasons: RankedReason[]): void {
    const enter = to === 'ALERT' ? this.config.thresholds.alert.enter : this.config.thresholds.suspicious.enter;
    let keep = 1;
    for (const r of reasons) {
      if (r.contribution <= 0) break;
      this.raisers.add(r.detector);
      keep *= 1 - r.contribution;
      if (1 - keep >= enter) break;
    }
  }

  private move(to: RiskStateName, now: number): void {
    if (this.stateValue === to) return;
    if (!RAISED.has(to)) this.raisers.clear();
    this.stateValue = to;
    this.since = now;
  }
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

function fmtRate(v: number): string {
  return v >= 10 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}
