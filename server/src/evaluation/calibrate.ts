/**
 * Fits the fusion to labelled data, with validation that leaves whole groups (identities,
 * generators, callers) out: `npm run calibrate` (scripts/calibrate.ts). This is also how a clinic
 * or a bank calibrates on its own labelled recordings, offline: nothing leaves the machine.
 *
 * What is fitted, and why this way:
 * - Per-detector weights of the fusion's noisy-OR, risk = 1 - prod_d (1 - w_d * c_d * s_d), by
 *   maximum likelihood of that same noisy-OR read as a probability of "fake" with a leak term,
 *   p = 1 - (1 - leak) * (1 - risk). Fitting the runtime's own model (rather than a logistic
 *   regression mapped onto it) keeps RiskFusion unchanged and the weights meaningful: w_d is the
 *   most a fully confident, fully suspicious detector can add. The leak (fakes nothing caught) is
 *   fitted too but not used at runtime: p is monotone in risk, so it changes no ranking. Weights
 *   are bounded to [0, 1] and pulled gently towards 0 (a weight needs evidence: penalty
 *   `ridge * w^2`). A clip's feature per detector is the peak of its window view in fusion,
 *   confidence x score, over the clip (the fused clip score is the peak risk); 0 when the
 *   detector never judged (an abstention adds nothing, as at runtime). Detectors that never
 *   judged any clip keep their weight and say so.
 * - Thresholds (ALERT enter, then SUSPICIOUS enter; exits keep the configured ratio to entry):
 *   the most sensitive values whose false ALERTs (SUSPICIOUS) per minute of real clips stay at or
 *   under the target, measured by replaying each clip's recorded per-second detector views
 *   through the real RiskFusion (hold times, hysteresis, honest states) with the candidate
 *   weights and thresholds. The configuration's thresholds are chosen on the out-of-fold replays.
 * - Reported numbers are cross-validated by group and nested: in each fold the weights AND the
 *   thresholds are fitted on the other groups only, then the held-out groups are replayed. A
 *   threshold is never tuned on the clips it is reported on.
 */
import type { DetectorId } from '../analyzer/detectors/Detector.ts';
import { PRIMARY_DETECTORS as PRIMARY } from '../analyzer/detectors/registry.ts';
import { RiskFusion, type RiskConfig } from '../analyzer/fusion/RiskFusion.ts';
import { groupClips, patternOf } from './groups.ts';
import { bootstrapAucCi, median, rocAuc, type Interval } from './metrics.ts';
import type { ClipResult } from './runner.ts';

export class CalibrationError extends Error {
  override name = 'CalibrationError';
}

export interface CalibrateOptions {
  /** The configuration to start from (its windows, holds and the weights of detectors the data cannot fit). */
  base: RiskConfig;
  /** Groups: first capture group of this regex on each clip path (groups.ts). */
  groupBy: RegExp;
  /** Target false ALERT entries per minute of real clips (default 0.2). */
  targetAlertsPerMin?: number;
  /** Target false SUSPICIOUS entries per minute of real clips (default 1). */
  targetSuspiciousPerMin?: number;
  /** Folds over groups: default leave-one-group-out up to 10 groups, else 5 folds of whole groups. */
  folds?: number;
  /** L2 pull of each weight towards 0, in clips' worth of log-likelihood (default 1). */
  ridge?: number;
  /**
   * Seconds the call goes on after each clip (npm run eval's tail, fusion.ts playTail): the
   * replay holds the clip's last views that long, for states only (default 0; the scripts pass the
   * report's own `settings.tailSeconds`).
   */
  tailSeconds?: number;
  /** Where the clips came from, for provenance (`through`: the call's codecs they went through, `vp8:300,opus:32`). */
  source: { data: string; labelsFile?: string; fromJson?: string; through?: string };
  /** Date of the calibration (default now). */
  now?: Date;
}

export interface CrossValidated {
  auc: number | null;
  aucCi: Interval | null;
  falseAlertsPerMin: number | null;
  falseSuspiciousPerMin: number | null;
  realMinutes: number;
  /** Median seconds to ALERT over the fakes that reached it, how many did, of how many timed fakes. */
  timeToAlertMedianS: number | null;
  fakesAlerted: number;
  timedFakes: number;
  /** Clips the AUC is over: those fusion judged (a primary detector in view at some tick); the others are left out of it. */
  judgedReal: number;
  judgedFake: number;
}

export interface CalibrationResult {
  config: RiskConfig;
  weights: Record<string, { before: number; after: number; fitted: boolean; judgedClips: number }>;
  thresholds: RiskConfig['thresholds'];
  crossValidated: CrossValidated;
  /** The starting configuration, replayed the same way on the same clips (no fitting): the "before". */
  before: CrossValidated;
  folds: { held: string[]; real: number; fake: number; auc: number | null; falseAlerts: number; realMinutes: number; alertEnter: number }[];
  groups: number;
  clips: { real: number; fake: number; leftOut: number };
  targetMet: { alert: boolean; suspicious: boolean };
  notes: string[];
}

interface Sample {
  id: string;
  group: string;
  fake: boolean;
  durationS: number;
  timeline: NonNullable<ClipResult['timeline']>;
  /** Peak confidence x score of each detector's view over the clip. */
  x: Record<string, number>;
}

interface Replay {
  maxRisk: number | null;
  alertEntries: number;
  suspiciousEntries: number;
  firstAlertS: number | null;
}

const T0 = 1_700_000_000_000;
const RANK = { INSUFFICIENT_SIGNAL: 0, ANALYZING: 0, DEGRADED: 0, CLEAR: 0, SUSPICIOUS: 1, ALERT: 2 } as const;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Replays a clip's recorded detector views through RiskFusion with `weights` and `thresholds`:
 * each tick's views become one reading each, in a fusion whose windows keep only that reading, so
 * every tick sees exactly the view the clip had; the state machine is the product's own, less the
 * onset view (a run of raw readings, which per-second views do not keep; `npm run eval -- --refuse`
 * replays the raw evidence). Then `tailS` seconds of tail: the last tick's views held, once a
 * second, counted for states but not for the clip's risk (as npm run eval's tail, whose windows
 * keep the clip's last evidence).
 */
export function replayClip(timeline: Sample['timeline'], base: RiskConfig, weights: Record<string, number>, thresholds: RiskConfig['thresholds'], tailS = 0): Replay {
  const detectors = Object.fromEntries(Object.entries(base.detectors).map(([id, d]) => [id, { ...d, weight: weights[id] ?? d.weight, windowMs: 1, minSamples: 1 }]));
  // Per-second views cannot show an onset (a run of raw readings), so the replay is the window path's.
  const fusion = new RiskFusion({ ...base, detectors: detectors as RiskConfig['detectors'], thresholds, onset: { ...base.onset, detectors: [] } }, T0);
  const out: Replay = { maxRisk: null, alertEntries: 0, suspiciousEntries: 0, firstAlertS: null };
  let prev: keyof typeof RANK = fusion.state;
  const last = timeline.at(-1);
  const tail = last ? Array.from({ length: Math.floor(tailS) }, (_, i) => ({ t: last.t + i + 1, views: last.views, tail: true })) : [];
  for (const tick of [...timeline, ...tail]) {
    const at = T0 + tick.t * 1000;
    for (const [id, [score, confidence]] of Object.entries(tick.views)) {
      if (id in base.detectors) fusion.add({ detector: id as DetectorId, at, score, confidence, reason: '' });
    }
    const snap = fusion.update(at);
    if (!('tail' in tick) && snap.reasons.some((r) => PRIMARY.has(r.detector))) out.maxRisk = Math.max(out.maxRisk ?? 0, snap.risk);
    const s = snap.state;
    if (RANK[s] >= 1 && RANK[prev] < 1) out.suspiciousEntries++;
    if (RANK[s] === 2 && RANK[prev] < 2) out.alertEntries++;
    if (s === 'ALERT') out.firstAlertS ??= tick.t;
    prev = s;
  }
  return out;
}

/** Maximum-likelihood noisy-OR weights (see the header) by coordinate-wise golden-section search. */
export function fitWeights(samples: readonly Pick<Sample, 'fake' | 'x'>[], ids: readonly string[], ridge = 1): Record<string, number> {
  const w: Record<string, number> = Object.fromEntries(ids.map((d) => [d, 0.5]));
  let leak = 0.1;
  const loglik = (): number => {
    let ll = 0;
    for (const s of samples) {
      let keep = 1 - leak;
      for (const d of ids) keep *= 1 - w[d]! * (s.x[d] ?? 0);
      const p = Math.min(1 - 1e-9, Math.max(1e-9, 1 - keep));
      ll += s.fake ? Math.log(p) : Math.log(1 - p);
    }
    for (const d of ids) ll -= ridge * w[d]! ** 2;
    return ll;
  };
  const golden = (set: (v: number) => void, lo: number, hi: number): void => {
    const g = (Math.sqrt(5) - 1) / 2;
    let a = lo;
    let b = hi;
    for (let i = 0; i < 40; i++) {
      const c = b - g * (b - a);
      const d = a + g * (b - a);
      set(c);
      const fc = loglik();
      set(d);
      const fd = loglik();
      if (fc >= fd) b = d;
      else a = c;
    }
    set((a + b) / 2);
  };
  for (let sweep = 0; sweep < 25; sweep++) {
    const before: Record<string, number> = { ...w };
    const leakBefore = leak;
    golden((v) => (leak = v), 1e-4, 0.99);
    for (const d of ids) golden((v) => (w[d] = v), 0, 1);
    if (ids.every((d) => Math.abs(w[d]! - before[d]!) < 1e-5) && Math.abs(leak - leakBefore) < 1e-5) break;
  }
  return Object.fromEntries(ids.map((d) => [d, r3(w[d]!)]));
}

/** Thresholds with entries at `alertEnter` / `suspEnter`, exits at the base configuration's ratio to entry. */
function thresholdsAt(base: RiskConfig['thresholds'], alertEnter: number, suspEnter: number): RiskConfig['thresholds'] {
  const ratio = (t: { enter: number; exit: number }) => (t.enter > 0 ? t.exit / t.enter : 0.7);
  return {
    alert: { enter: r3(alertEnter), exit: r3(alertEnter * ratio(base.alert)) },
    suspicious: { enter: r3(suspEnter), exit: r3(suspEnter * ratio(base.suspicious)) },
  };
}

/**
 * Candidate entries, most severe first: ALERT 0.99 down to 0.20, SUSPICIOUS down to 0.10. The
 * floors keep a state meaningful when the data gives detectors little weight: a fused risk of a
 * few percent is noise, and should not become a state however quiet the real clips were.
 */
const GRID = Array.from({ length: 90 }, (_, i) => r3(0.99 - i * 0.01)); // 0.99 down to 0.10
const ALERT_FLOOR = 0.2;

/**
 * The most sensitive thresholds meeting the targets on these clips, each replayed with its own
 * weights: ALERT first (SUSPICIOUS at the base ratio below it), then SUSPICIOUS under that ALERT.
 */
export function chooseThresholds(
  items: readonly { s: Sample; w: Record<string, number> }[],
  base: RiskConfig,
  target: { alert: number; suspicious: number },
  tailS = 0,
): { thresholds: RiskConfig['thresholds']; met: { alert: boolean; suspicious: boolean } } {
  const reals = items.filter((i) => !i.s.fake);
  const minutes = reals.reduce((m, i) => m + i.s.durationS / 60, 0);
  const rate = (th: RiskConfig['thresholds'], key: 'alertEntries' | 'suspiciousEntries') => reals.reduce((n, i) => n + replayClip(i.s.timeline, base, i.w, th, tailS)[key], 0) / minutes;
  const sRatio = base.thresholds.alert.enter > 0 ? base.thresholds.suspicious.enter / base.thresholds.alert.enter : 0.65;
  // False alarms fall as the threshold rises, not always strictly: take the lowest threshold from
  // which every higher one also meets the target.
  let alertEnter = GRID[0]!;
  let alertMet = false;
  for (const a of GRID.filter((g) => g >= ALERT_FLOOR)) {
    if (rate(thresholdsAt(base.thresholds, a, a * sRatio), 'alertEntries') <= target.alert + 1e-9) {
      alertEnter = a;
      alertMet = true;
    } else break;
  }
  // SUSPICIOUS sits below ALERT: candidates from 0.05 under it down to the grid's end.
  let suspEnter = r3(alertEnter * sRatio);
  const below = GRID.filter((g) => g <= alertEnter - 0.05);
  let suspMet = below.length === 0 && rate(thresholdsAt(base.thresholds, alertEnter, suspEnter), 'suspiciousEntries') <= target.suspicious + 1e-9;
  // A lower SUSPICIOUS starts the way up to ALERT earlier (RiskFusion's upward hold runs across
  // steps), so a candidate must also keep false ALERTs within the target ALERT was chosen for.
  for (const s of below) {
    const th = thresholdsAt(base.thresholds, alertEnter, s);
    if (rate(th, 'suspiciousEntries') <= target.suspicious + 1e-9 && (!alertMet || rate(th, 'alertEntries') <= target.alert + 1e-9)) {
      suspEnter = s;
      suspMet = true;
    } else break;
  }
  return { thresholds: thresholdsAt(base.thresholds, alertEnter, suspEnter), met: { alert: alertMet, suspicious: suspMet } };
}

function crossValidated(rows: readonly { s: Sample; r: Replay }[]): CrossValidated {
  const fake = rows.filter((x) => x.s.fake);
  const real = rows.filter((x) => !x.s.fake);
  const fs = fake.map((x) => x.r.maxRisk).filter((v): v is number => v !== null);
  const rs = real.map((x) => x.r.maxRisk).filter((v): v is number => v !== null);
  const minutes = real.reduce((m, x) => m + x.s.durationS / 60, 0);
  const times = fake.map((x) => x.r.firstAlertS).filter((v): v is number => v !== null);
  const auc = rocAuc(fs, rs);
  const ci = bootstrapAucCi(fs, rs);
  return {
    auc: auc === null ? null : r3(auc),
    aucCi: ci ? { lo: r3(ci.lo), hi: r3(ci.hi) } : null,
    falseAlertsPerMin: minutes > 0 ? Math.round((real.reduce((n, x) => n + x.r.alertEntries, 0) / minutes) * 100) / 100 : null,
    falseSuspiciousPerMin: minutes > 0 ? Math.round((real.reduce((n, x) => n + x.r.suspiciousEntries, 0) / minutes) * 100) / 100 : null,
    realMinutes: Math.round(minutes * 100) / 100,
    timeToAlertMedianS: median(times),
    fakesAlerted: times.length,
    timedFakes: fake.length,
    judgedReal: rs.length,
    judgedFake: fs.length,
  };
}

/** Fits weights and thresholds on `clips` (an evaluation's per-clip results); see the header. */
export function calibrate(clips: readonly ClipResult[], options: CalibrateOptions): CalibrationResult {
  const base = options.base;
  const tailS = options.tailSeconds ?? 0;
  const target = { alert: options.targetAlertsPerMin ?? 0.2, suspicious: options.targetSuspiciousPerMin ?? 1 };
  const notes: string[] = [];
  const played = clips.filter((c) => !c.error);
  const errored = clips.filter((c) => c.error);
  if (errored.length) notes.push(`${errored.length} clip(s) could not be played and are left out: ${errored.slice(0, 3).map((c) => `${c.id} (${c.error})`).join('; ')}${errored.length > 3 ? '; ...' : ''}.`);
  const noTimeline = played.filter((c) => !c.timeline);
  if (played.length && noTimeline.length === played.length) {
    throw new CalibrationError('the evaluation report has no per-second fusion timelines (written by an older npm run eval): run npm run eval -- --json FILE again, or calibrate with --data');
  }
  const untimed = played.filter((c) => c.timeline && (!c.timed || !c.durationS));
  const usable = played.filter((c) => c.timeline && c.timed && c.durationS);
  if (tailS > 0) notes.push(`As the evaluation that recorded these clips, each clip's last views are held for a ${tailS} s tail (the call going on), for states only: false alarms and ALERTs count a state the clip's end earned.`);
  if (untimed.length) notes.push(`${untimed.length} still image(s) left out: no time axis, so no false alarms per minute to calibrate on.`);
  checkLabelsAndGroups(usable, options.groupBy);
  const { groups } = groupClips(usable, options.groupBy);

  const ids = Object.keys(base.detectors).filter((d) => usable.some((c) => c.timeline!.some((t) => t.views[d])));
  const samples: Sample[] = usable.map((c) => {
    const x: Record<string, number> = {};
    for (const t of c.timeline!) for (const [d, [score, conf]] of Object.entries(t.views)) x[d] = Math.max(x[d] ?? 0, score * conf);
    return { id: c.id, group: [...groups].find(([, m]) => m.includes(c))![0], fake: c.label === 'fake', durationS: c.durationS!, timeline: c.timeline!, x };
  });
  const judgedClips = Object.fromEntries(Object.keys(base.detectors).map((d) => [d, samples.filter((s) => s.x[d] !== undefined).length]));
  const unjudged = Object.keys(base.detectors).filter((d) => !ids.includes(d));
  if (unjudged.length) notes.push(`Not fitted (never in fusion's view on these clips), weights kept: ${unjudged.join(', ')}.`);
  const ridge = options.ridge ?? 1;

  // Folds of whole groups (see makeFolds).
  const names = [...groups.keys()];
  const kinds = new Map(names.map((g) => [g, classesOf(groups.get(g)!)]));
  const folds = makeFolds(names, kinds, options.folds);
  const k = folds.length;

  const baseWeights = Object.fromEntries(Object.entries(base.detectors).map(([d, c]) => [d, c.weight]));
  const oof: { s: Sample; w: Record<string, number>; r: Replay }[] = [];
  const foldReports: CalibrationResult['folds'] = [];
  for (const held of folds) {
    const train = samples.filter((s) => !held.includes(s.group));
    const test = samples.filter((s) => held.includes(s.group));
    if (!train.some((s) => s.fake) || !train.some((s) => !s.fake)) {
      const missing = [train.some((s) => !s.fake) ? '' : 'real', train.some((s) => s.fake) ? '' : 'fake'].filter(Boolean).map((c) => `no ${c}`).join(' and ');
      throw new CalibrationError(`leaving out ${held.join(', ')} leaves ${missing} clips to fit on: each class must span at least two groups`);
    }
    // Only detectors the training groups show are fitted: whether a detector is in view on the
    // held-out groups is theirs to know, not the fit's (one it never saw keeps its weight).
    const trainIds = ids.filter((d) => train.some((s) => s.x[d] !== undefined));
    const w = { ...baseWeights, ...fitWeights(train, trainIds, ridge) };
    const { thresholds } = chooseThresholds(train.map((s) => ({ s, w })), base, target, tailS);
    const rows = test.map((s) => ({ s, w, r: replayClip(s.timeline, base, w, thresholds, tailS) }));
    oof.push(...rows);
    const f = rows.filter((x) => x.s.fake).map((x) => x.r.maxRisk).filter((v): v is number => v !== null);
    const r = rows.filter((x) => !x.s.fake).map((x) => x.r.maxRisk).filter((v): v is number => v !== null);
    const auc = rocAuc(f, r);
    foldReports.push({
      held,
      real: rows.filter((x) => !x.s.fake).length,
      fake: rows.filter((x) => x.s.fake).length,
      auc: auc === null ? null : r3(auc),
      falseAlerts: rows.filter((x) => !x.s.fake).reduce((n, x) => n + x.r.alertEntries, 0),
      realMinutes: Math.round(rows.filter((x) => !x.s.fake).reduce((m, x) => m + x.s.durationS / 60, 0) * 100) / 100,
      alertEnter: thresholds.alert.enter,
    });
  }

  // The configuration: weights on all the data, thresholds on the out-of-fold replays.
  const all = fitWeights(samples, ids, ridge);
  const chosen = chooseThresholds(oof, base, target, tailS);
  if (!chosen.met.alert) notes.push(`No ALERT threshold up to 0.99 keeps false ALERTs at or under ${target.alert}/min out of fold: set to 0.99, the shield cannot meet the target with these detectors on this data.`);
  if (!chosen.met.suspicious) notes.push(`No SUSPICIOUS threshold below ALERT keeps false SUSPICIOUS at or under ${target.suspicious}/min out of fold.`);
  const before = crossValidated(samples.map((s) => ({ s, r: replayClip(s.timeline, base, baseWeights, base.thresholds, tailS) })));
  const cv = crossValidated(oof);

  const date = (options.now ?? new Date()).toISOString();
  const nReal = samples.filter((s) => !s.fake).length;
  const nFake = samples.length - nReal;
  const where = `${options.source.data}${options.source.fromJson ? ` (per-clip results from ${options.source.fromJson})` : ''}${options.source.through ? ` through ${options.source.through}` : ''}: ${nReal} real / ${nFake} fake clips in ${names.length} groups by /${patternOf(options.groupBy)}/, ${date.slice(0, 10)}`;
  const cvText = `cross-validated over ${k} folds of whole groups (weights and thresholds fitted without the held-out groups): fused AUC ${cv.auc ?? 'n/a'}${cv.aucCi ? ` [${cv.aucCi.lo}, ${cv.aucCi.hi}]` : ''} over the ${cv.judgedReal} of ${nReal} real and ${cv.judgedFake} of ${nFake} fake clips fusion judged, ${cv.falseAlertsPerMin ?? 'n/a'} false ALERTs/min over ${cv.realMinutes} min of real clips`;
  const numbers: Record<string, string> = {};
  const detectors = structuredClone(base.detectors);
  const weights: CalibrationResult['weights'] = {};
  for (const [d, cfg] of Object.entries(detectors)) {
    const fitted = ids.includes(d);
    weights[d] = { before: cfg.weight, after: fitted ? all[d]! : cfg.weight, fitted, judgedClips: judgedClips[d] ?? 0 };
    if (!fitted) continue;
    cfg.weight = all[d]!;
    const src = `Weight ${all[d]} fitted by npm run calibrate (noisy-OR maximum likelihood; judged ${judgedClips[d]} clips) on ${where}; ${cvText}. Was ${weights[d].before}.`;
    cfg.source = src;
    numbers[`detectors.${d}.weight`] = src;
  }
  const thText = `chosen by npm run calibrate on the out-of-fold replays of ${where}: the most sensitive entry with false ALERTs/min <= ${target.alert} (SUSPICIOUS <= ${target.suspicious}); exits keep the previous ratio to entry; ${cvText}.`;
  for (const t of ['alert', 'suspicious'] as const) {
    numbers[`thresholds.${t}.enter`] = `${chosen.thresholds[t].enter} ${thText}`;
    numbers[`thresholds.${t}.exit`] = `${chosen.thresholds[t].exit}: ${base.thresholds[t].exit}/${base.thresholds[t].enter} of the entry, as before.`;
  }
  const config: RiskConfig = {
    ...base,
    detectors,
    thresholds: chosen.thresholds,
    calibration: {
      tool: 'npm run calibrate (server/src/evaluation/calibrate.ts)',
      date,
      data: options.source.data,
      ...(options.source.labelsFile ? { labelsFile: options.source.labelsFile } : {}),
      ...(options.source.fromJson ? { fromJson: options.source.fromJson } : {}),
      ...(options.source.through ? { through: options.source.through } : {}),
      groupBy: patternOf(options.groupBy),
      groups: names.length,
      folds: k,
      clips: { real: nReal, fake: nFake, leftOut: clips.length - usable.length },
      method: 'noisy-OR maximum likelihood weights (per-clip peak of confidence x score per detector, ridge towards 0); thresholds from replays through RiskFusion at a target false-alarm rate',
      target: { falseAlertsPerMin: target.alert, falseSuspiciousPerMin: target.suspicious },
      crossValidated: cv,
      numbers,
    },
  };
  return { config, weights, thresholds: chosen.thresholds, crossValidated: cv, before, folds: foldReports, groups: names.length, clips: { real: nReal, fake: nFake, leftOut: clips.length - usable.length }, targetMet: chosen.met, notes };
}

function classesOf(clips: readonly { label: string }[]): 'real' | 'fake' | 'both' {
  const real = clips.some((c) => c.label === 'real');
  const fake = clips.some((c) => c.label === 'fake');
  return real && fake ? 'both' : real ? 'real' : 'fake';
}

/**
 * Folds of whole groups, each held out once. Groups with both labels (an identity with real and
 * swapped clips) are folds of their own: leave-one-group-out up to 10 groups, else `folds`
 * (default 5) round-robin. Groups of one label (a generator's fakes, a corpus's reals) are paired
 * so that every fold holds out fakes AND reals: fold i takes fake-only groups i, i + m, ... and
 * real-only groups i, i + m, ... with m the smaller count. A fold of one class would score its
 * clips with a model whose scale it shares with no clip of the other class, and the pooled AUC
 * would compare scales, not clips.
 */
export function makeFolds(names: readonly string[], kinds: ReadonlyMap<string, 'real' | 'fake' | 'both'>, folds?: number): string[][] {
  const both = names.filter((g) => kinds.get(g) === 'both');
  const fakeOnly = names.filter((g) => kinds.get(g) === 'fake');
  const realOnly = names.filter((g) => kinds.get(g) === 'real');
  const m = Math.min(fakeOnly.length, realOnly.length);
  const units: string[][] = both.map((g) => [g]);
  if (m > 0) {
    const paired: string[][] = Array.from({ length: m }, () => []);
    fakeOnly.forEach((g, i) => paired[i % m]!.push(g));
    realOnly.forEach((g, i) => paired[i % m]!.push(g));
    units.push(...paired);
  } else if (units.length) {
    // Single-class groups with nothing to pair with: spread over the mixed folds.
    [...fakeOnly, ...realOnly].forEach((g, i) => units[i % units.length]!.push(g));
  } else {
    units.push(...[...fakeOnly, ...realOnly].map((g) => [g]));
  }
  const k = Math.min(units.length, folds ?? (units.length <= 10 ? units.length : 5));
  const out: string[][] = Array.from({ length: k }, () => []);
  units.forEach((u, i) => out[i % k]!.push(...u));
  return out;
}

/**
 * One-line errors for data that cannot be calibrated on: one class, one group, clips in no group.
 * Works on anything with an id and a label, so the script can check a folder before playing it.
 */
export function checkLabelsAndGroups(clips: readonly { id: string; label: 'real' | 'fake' }[], groupBy: RegExp): void {
  const real = clips.filter((c) => c.label === 'real').length;
  const fake = clips.length - real;
  if (real === 0 || fake === 0) {
    throw new CalibrationError(`need real and fake clips, found ${real} real and ${fake} fake${clips.length === 0 ? ' (no timed clips)' : ''}: calibration fits a decision between the two`);
  }
  const { groups, ungrouped } = groupClips(clips, groupBy);
  if (ungrouped.length) {
    throw new CalibrationError(`${ungrouped.length} clip(s) match no group of --group-by /${patternOf(groupBy)}/ (e.g. ${ungrouped[0]}): give a regex whose first capture group names every clip's identity or source`);
  }
  if (groups.size < 2) {
    throw new CalibrationError(`only one group (${[...groups.keys()][0]}) by --group-by /${patternOf(groupBy)}/: validation must leave whole groups out, so it needs at least two identities or sources`);
  }
  // A class in one group is left out whole by the fold that holds that group out: nothing of it to
  // fit on there. Said here, before a folder is played, not after.
  for (const cls of ['real', 'fake'] as const) {
    const holding = [...groups].filter(([, members]) => members.some((c) => c.label === cls)).map(([g]) => g);
    if (holding.length < 2) {
      throw new CalibrationError(`every ${cls} clip is in one group (${holding[0]}) by --group-by /${patternOf(groupBy)}/: the fold that leaves it out has no ${cls} clip to fit on, so each class must span at least two groups`);
    }
  }
}

/** The calibration report in markdown: before/after, cross-validated, per fold, and the fitted numbers. */
export function calibrationMarkdown(r: CalibrationResult, out: string): string {
  const cv = r.crossValidated;
  const f = (x: number | null, d = 3) => (x === null ? 'n/a' : x.toFixed(d));
  const row = (name: string, c: CrossValidated) =>
    `| ${name} | ${f(c.auc)}${c.aucCi ? ` [${c.aucCi.lo.toFixed(2)}, ${c.aucCi.hi.toFixed(2)}]` : ''} | ${f(c.falseAlertsPerMin, 2)} | ${f(c.falseSuspiciousPerMin, 2)} | ${c.timeToAlertMedianS === null ? 'n/a' : c.timeToAlertMedianS.toFixed(1)} (${c.fakesAlerted}/${c.timedFakes}) |`;
  const lines = [
    `Calibrated on ${r.clips.real} real / ${r.clips.fake} fake clips in ${r.groups} groups, ${r.folds.length} folds of whole groups${r.clips.leftOut ? ` (${r.clips.leftOut} left out)` : ''}. Wrote ${out}.`,
    '',
    `**Cross-validated by group: fused AUC ${f(cv.auc)}${cv.aucCi ? ` [${cv.aucCi.lo.toFixed(2)}, ${cv.aucCi.hi.toFixed(2)}]` : ''}, false ALERTs/min on reals ${f(cv.falseAlertsPerMin, 2)} (over ${cv.realMinutes} min), ${cv.fakesAlerted} of ${cv.timedFakes} fakes reached ALERT.**`,
    '',
    `AUC over ${cv.judgedReal} of ${r.clips.real} real and ${cv.judgedFake} of ${r.clips.fake} fake clips: the ones fusion judged (a primary detector in view); the others never had a verdict and are not in it.`,
    '',
    '| fusion | AUC [95% CI] | false ALERTs/min | false SUSPICIOUS/min | time to ALERT, median s (alerted/fakes) |',
    '| --- | --- | ---: | ---: | --- |',
    row('before (current config, replayed, not fitted)', r.before),
    row('after (cross-validated by group)', cv),
    '',
    '| detector | weight before | weight after | clips judged |',
    '| --- | ---: | ---: | ---: |',
    ...Object.entries(r.weights).map(([d, w]) => `| ${d} | ${w.before} | ${w.fitted ? w.after : `${w.after} (not fitted)`} | ${w.judgedClips} |`),
    '',
    `Thresholds: ALERT enter ${r.thresholds.alert.enter} exit ${r.thresholds.alert.exit}${r.targetMet.alert ? '' : ' (target not met)'}; SUSPICIOUS enter ${r.thresholds.suspicious.enter} exit ${r.thresholds.suspicious.exit}${r.targetMet.suspicious ? '' : ' (target not met)'}.`,
    '',
    '| held-out groups | real | fake | AUC | false ALERTs (min) | ALERT enter fitted without them |',
    '| --- | ---: | ---: | ---: | --- | ---: |',
    ...r.folds.map((x) => `| ${x.held.join(', ')} | ${x.real} | ${x.fake} | ${f(x.auc)} | ${x.falseAlerts} (${x.realMinutes}) | ${x.alertEnter} |`),
  ];
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}
