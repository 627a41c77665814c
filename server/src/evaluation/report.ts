/**
 * Turns per-clip results into the evaluation's summary (per detector and fused) and renders it as
 * a markdown table. Definitions (also in README.md):
 *   - a detector's clip score is the confidence-weighted mean of its readings over the clip; the
 *     fused clip score is the highest fused risk while fusion could give a verdict;
 *   - AUC, EER and TPR at 1% FPR are over the clips it judged; clips it never judged count as
 *     abstentions, reported beside them and never as a hit or a miss;
 *   - time to detect: on timed fake clips, seconds until fusion entered ALERT (for a detector:
 *     until its window view in fusion reached 0.5); the median over the clips where it happened,
 *     with how many that was;
 *   - false alarms per minute: on timed real clips, entries into ALERT (for a detector: its
 *     window view crossing up to 0.5) per minute of real video/audio.
 */
import { DETECTORS } from '../analyzer/detectors/registry.ts';
import { groupClips } from './groups.ts';
import { bootstrapAucCi, eer, median, ratio, rocAuc, tprAtFpr, type Interval } from './metrics.ts';
import { EVALUATED_DETECTORS, type ClipResult, type EvaluatedDetector } from './runner.ts';

export interface Summary {
  detector: EvaluatedDetector | 'fused';
  /** Its models loaded (fused: always). */
  available: boolean;
  /** Clips it applies to, by label. */
  real: number;
  fake: number;
  /** Of those, the ones it judged (had a score for). */
  judgedReal: number;
  judgedFake: number;
  /** Fraction of applicable clips it never judged. */
  abstainedClips: number | null;
  /** Fraction of its chances (frames, windows, ticks) it could not judge; fused: not defined (null). */
  abstainedReadings: number | null;
  auc: number | null;
  /** Bootstrap 95% interval of the AUC (reals and fakes resampled separately, seeded: reproducible). */
  aucCi: Interval | null;
  eer: number | null;
  tprAt1pctFpr: number | null;
  /**
   * Fraction of judged fake clips flagged, and of judged real ones: a detector flags at a clip
   * score of 0.5 (its own decision point), fusion when the clip reached ALERT.
   */
  flaggedFake: number | null;
  flaggedReal: number | null;
  timeToDetect: { medianS: number | null; detected: number; timedFake: number };
  falseAlarms: { count: number; realMinutes: number; perMinute: number | null };
  /** Fused only: time to SUSPICIOUS and SUSPICIOUS entries on real clips. */
  timeToSuspicious?: { medianS: number | null; detected: number; timedFake: number };
  falseSuspicious?: { count: number; realMinutes: number; perMinute: number | null };
  byAttack: { attack: string; fake: number; judgedFake: number; auc: number | null; flaggedFake: number | null }[];
  topAbstainReasons: { reason: string; count: number }[];
}

const round = (x: number | null, d = 3): number | null => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

const roundCi = (ci: Interval | null): Interval | null => (ci === null ? null : { lo: round(ci.lo)!, hi: round(ci.hi)! });

function fraction(xs: number[], pred: (x: number) => boolean): number | null {
  return xs.length ? xs.filter(pred).length / xs.length : null;
}

export function summarise(clips: readonly ClipResult[]): Summary[] {
  const ok = clips.filter((c) => !c.error);
  const attacks = [...new Set(ok.filter((c) => c.label === 'fake').map((c) => c.attack ?? 'fake'))].sort();
  const rows: Summary[] = [];

  for (const d of EVALUATED_DETECTORS) {
    // A detector the clips were not run with (an older report) applies to none of them.
    const app = ok.filter((c) => c.detectors[d]?.applicable);
    const scoreOf = (c: ClipResult) => c.detectors[d].score;
    const real = app.filter((c) => c.label === 'real');
    const fake = app.filter((c) => c.label === 'fake');
    const realScores = real.map(scoreOf).filter((s): s is number => s !== null);
    const fakeScores = fake.map(scoreOf).filter((s): s is number => s !== null);
    const attempts = app.reduce((n, c) => n + c.detectors[d].attempts, 0);
    const abstained = app.reduce((n, c) => n + c.detectors[d].abstained, 0);
    const timedFake = fake.filter((c) => c.timed);
    const detectedTimes = timedFake.map((c) => c.detectors[d].firstFlagS).filter((s): s is number => s !== null);
    const timedReal = real.filter((c) => c.timed && c.durationS);
    const realMinutes = timedReal.reduce((m, c) => m + c.durationS! / 60, 0);
    const falseCount = timedReal.reduce((n, c) => n + c.detectors[d].flagEntries, 0);
    const reasons = new Map<string, number>();
    for (const c of app) for (const [r, n] of Object.entries(c.detectors[d].abstainReasons)) reasons.set(r, (reasons.get(r) ?? 0) + n);
    rows.push({
      detector: d,
      available: app.length ? app.some((c) => c.detectors[d]!.available) : ok.some((c) => c.detectors[d]?.available),
      real: real.length,
      fake: fake.length,
      judgedReal: realScores.length,
      judgedFake: fakeScores.length,
      abstainedClips: round(ratio(app.length - realScores.length - fakeScores.length, app.length)),
      abstainedReadings: round(ratio(abstained, attempts)),
      auc: round(rocAuc(fakeScores, realScores)),
      aucCi: roundCi(bootstrapAucCi(fakeScores, realScores)),
      eer: round(eer(fakeScores, realScores)),
      tprAt1pctFpr: round(tprAtFpr(fakeScores, realScores, 0.01)),
      flaggedFake: round(fraction(fakeScores, (s) => s >= 0.5)),
      flaggedReal: round(fraction(realScores, (s) => s >= 0.5)),
      timeToDetect: { medianS: round(median(detectedTimes), 1), detected: detectedTimes.length, timedFake: timedFake.length },
      falseAlarms: { count: falseCount, realMinutes: round(realMinutes, 2)!, perMinute: round(ratio(falseCount, realMinutes), 2) },
      byAttack: attacks.map((a) => {
        const fa = fake.filter((c) => (c.attack ?? 'fake') === a).map(scoreOf).filter((s): s is number => s !== null);
        return {
          attack: a,
          fake: fake.filter((c) => (c.attack ?? 'fake') === a).length,
          judgedFake: fa.length,
          auc: round(rocAuc(fa, realScores)),
          flaggedFake: round(fraction(fa, (s) => s >= 0.5)),
        };
      }),
      topAbstainReasons: [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([reason, count]) => ({ reason, count })),
    });
  }

  // Fused: every clip that played.
  const real = ok.filter((c) => c.label === 'real');
  const fake = ok.filter((c) => c.label === 'fake');
  const score = (c: ClipResult) => c.fused.maxRisk;
  const realScores = real.map(score).filter((s): s is number => s !== null);
  const fakeScores = fake.map(score).filter((s): s is number => s !== null);
  const timedFake = fake.filter((c) => c.timed);
  const timedReal = real.filter((c) => c.timed && c.durationS);
  const realMinutes = timedReal.reduce((m, c) => m + c.durationS! / 60, 0);
  const alertTimes = timedFake.map((c) => c.fused.firstAlertS).filter((s): s is number => s !== null);
  const suspTimes = timedFake.map((c) => c.fused.firstSuspiciousS).filter((s): s is number => s !== null);
  const alerts = timedReal.reduce((n, c) => n + c.fused.alertEntries, 0);
  const susp = timedReal.reduce((n, c) => n + c.fused.suspiciousEntries, 0);
  const states = new Map<string, number>();
  for (const c of ok) if (!c.fused.judged) states.set(`no verdict (ended ${c.fused.finalState})`, (states.get(`no verdict (ended ${c.fused.finalState})`) ?? 0) + 1);
  const alerted = (cs: ClipResult[]) => fraction(cs.filter((c) => c.fused.judged).map((c) => (c.fused.firstAlertS !== null ? 1 : 0)), (x) => x === 1);
  rows.push({
    detector: 'fused',
    available: true,
    real: real.length,
    fake: fake.length,
    judgedReal: realScores.length,
    judgedFake: fakeScores.length,
    abstainedClips: round(ratio(ok.length - realScores.length - fakeScores.length, ok.length)),
    abstainedReadings: null,
    auc: round(rocAuc(fakeScores, realScores)),
    aucCi: roundCi(bootstrapAucCi(fakeScores, realScores)),
    eer: round(eer(fakeScores, realScores)),
    tprAt1pctFpr: round(tprAtFpr(fakeScores, realScores, 0.01)),
    // The product's decision: did the clip reach ALERT at any point?
    flaggedFake: round(alerted(fake)),
    flaggedReal: round(alerted(real)),
    timeToDetect: { medianS: round(median(alertTimes), 1), detected: alertTimes.length, timedFake: timedFake.length },
    falseAlarms: { count: alerts, realMinutes: round(realMinutes, 2)!, perMinute: round(ratio(alerts, realMinutes), 2) },
    timeToSuspicious: { medianS: round(median(suspTimes), 1), detected: suspTimes.length, timedFake: timedFake.length },
    falseSuspicious: { count: susp, realMinutes: round(realMinutes, 2)!, perMinute: round(ratio(susp, realMinutes), 2) },
    byAttack: attacks.map((a) => {
      const fa = fake.filter((c) => (c.attack ?? 'fake') === a);
      const fs = fa.map(score).filter((s): s is number => s !== null);
      return { attack: a, fake: fa.length, judgedFake: fs.length, auc: round(rocAuc(fs, realScores)), flaggedFake: round(alerted(fa)) };
    }),
    topAbstainReasons: [...states].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([reason, count]) => ({ reason, count })),
  });
  return rows;
}

export interface GroupSummary {
  group: string;
  /** Clips of the group, by label. */
  real: number;
  fake: number;
  /**
   * The group has fakes but no reals of its own (a generator): its fakes are scored against every
   * real clip of the data, as in the by-kind-of-fake table.
   */
  vsAllReals: boolean;
  summary: Summary[];
}

/**
 * Per-group summaries (see groups.ts): a group with both labels is judged on its own clips; a group
 * of fakes only (a generator) against all the data's reals; a group of reals only has no AUC but
 * its false alarms per minute.
 */
export function summariseGroups(clips: readonly ClipResult[], re: RegExp): { groups: GroupSummary[]; ungrouped: string[] } {
  const ok = clips.filter((c) => !c.error);
  const allReals = ok.filter((c) => c.label === 'real');
  const { groups, ungrouped } = groupClips(ok, re);
  const out: GroupSummary[] = [];
  for (const [group, members] of groups) {
    const real = members.filter((c) => c.label === 'real').length;
    const fake = members.length - real;
    const vsAllReals = real === 0 && fake > 0 && allReals.length > 0;
    out.push({ group, real, fake, vsAllReals, summary: summarise(vsAllReals ? [...members, ...allReals] : members) });
  }
  return { groups: out, ungrouped };
}

/** The headline: what a caller and a clinician feel, fused: time to ALERT on fakes, false ALERTs per minute on reals. */
export function headline(summaries: readonly Summary[]): string | null {
  const f = summaries.find((s) => s.detector === 'fused');
  if (!f) return null;
  const t = f.timeToDetect;
  const fa = f.falseAlarms;
  const ttd = !t.timedFake ? 'n/a (no timed fakes)' : t.detected === 0 ? `never (none of ${t.timedFake} timed fakes reached ALERT)` : `${num(t.medianS, 1)} s median (${t.detected} of ${t.timedFake} timed fakes reached ALERT)`;
  const far = fa.realMinutes > 0 ? `${num(fa.perMinute, 2)} (${fa.count} in ${num(fa.realMinutes, 1)} min of real clips)` : 'n/a (no timed reals)';
  return `**Time to ALERT on fakes: ${ttd}. False ALERTs per minute on reals: ${far}. Fused AUC ${num(f.auc)}${ci(f.aucCi)}.**`;
}

const num = (x: number | null | undefined, d = 3): string => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
const pct = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : `${Math.round(x * 100)}%`);
/** "[0.41, 0.62]", or "" when there is no interval (an older report, an empty class). */
export const ci = (c: Interval | null | undefined): string => (c ? ` [${c.lo.toFixed(2)}, ${c.hi.toFixed(2)}]` : '');

/**
 * How much of the speech the voice was judged on (issue 10: "abstention on clips with >= 2 s of
 * speech is < 10%"): the clips whose voiced speech (the analyzer's own voice gate,
 * `audio.speechS`) reaches `minSpeechS`, and how many of them each voice detector and fusion
 * judged. A clip under it may be unjudged for want of speech, which is no fault of the detector;
 * one over it that is unjudged was refused for another reason (band-limited, clipped, too quiet).
 * The fused row is fusion's verdict from any cue: on a video with sound it may be the face's.
 */
export interface SpeechCoverage {
  minSpeechS: number;
  clips: number;
  rows: { detector: EvaluatedDetector | 'fused'; judged: number }[];
}

/** The detectors that judge the voice alone: the voice model, and window detectors that only listen. */
const VOICE_DETECTORS: readonly EvaluatedDetector[] = DETECTORS.filter(
  (d) => d.evaluated && (d.kind === 'speech' || (d.kind === 'window' && d.needs.length > 0 && d.needs.every((n) => n === 'audio'))),
).map((d) => d.id as EvaluatedDetector);

/** "13%": the share of the coverage's clips that `detector` did not judge; "n/a" when it has no row. */
export function speechAbstained(c: SpeechCoverage, detector: string): string {
  const r = c.rows.find((x) => x.detector === detector);
  return r && c.clips ? `${Math.round((100 * (c.clips - r.judged)) / c.clips)}%` : 'n/a';
}

/** Null when no clip has a measured amount of speech (reports from before speechS, or no audio). */
export function speechCoverage(clips: readonly ClipResult[], minSpeechS = 2): SpeechCoverage | null {
  const measured = clips.filter((c) => c.audio?.speechS !== undefined);
  if (!measured.length) return null;
  const enough = measured.filter((c) => c.audio!.speechS! >= minSpeechS);
  return {
    minSpeechS,
    clips: enough.length,
    rows: [
      ...VOICE_DETECTORS.map((d) => ({ detector: d, judged: enough.filter((c) => c.detectors[d]?.score !== null && c.detectors[d]?.score !== undefined).length })),
      { detector: 'fused' as const, judged: enough.filter((c) => c.fused.judged).length },
    ],
  };
}

export interface MarkdownInput {
  summaries: readonly Summary[];
  notes: readonly string[];
  header?: string;
  /** Voice judged on the clips with enough speech (speechCoverage), when measured. */
  speech?: SpeechCoverage | null;
  /** Per-group rows (--group-by): the regex, the groups and the clips it did not match. */
  groups?: { groupBy: string; groups: readonly GroupSummary[]; ungrouped: readonly string[] };
}

/** The summary as a markdown table, with a per-attack AUC table and the notes under it. */
export function renderMarkdown({ summaries, notes, header, groups, speech }: MarkdownInput): string {
  const lines: string[] = [];
  if (header) lines.push(header, '');
  const head = headline(summaries);
  if (head) lines.push(head, '');
  lines.push(
    '| detector | real | fake | abstained (clips / readings) | AUC [95% CI] | EER | TPR@1%FPR | flagged fake / real | time to detect, median s (detected/timed fakes) | false alarms/min on real (count / min) |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- | --- |',
  );
  for (const s of summaries) {
    const name = s.detector === 'fused' ? '**fused (ALERT)**' : s.available ? s.detector : `${s.detector} (model missing)`;
    const judged = (n: number, of: number) => (n === of ? `${of}` : `${n}/${of}`);
    const ttd = s.timeToDetect.timedFake ? `${num(s.timeToDetect.medianS, 1)} (${s.timeToDetect.detected}/${s.timeToDetect.timedFake})` : 'n/a (no timed fakes)';
    const fa = s.falseAlarms.realMinutes > 0 ? `${num(s.falseAlarms.perMinute, 2)} (${s.falseAlarms.count} / ${num(s.falseAlarms.realMinutes, 1)})` : 'n/a (no timed reals)';
    const abst = s.real + s.fake === 0 ? 'n/a' : `${pct(s.abstainedClips)} / ${s.abstainedReadings === null ? '–' : pct(s.abstainedReadings)}`;
    lines.push(`| ${name} | ${judged(s.judgedReal, s.real)} | ${judged(s.judgedFake, s.fake)} | ${abst} | ${num(s.auc)}${ci(s.aucCi)} | ${num(s.eer)} | ${num(s.tprAt1pctFpr)} | ${pct(s.flaggedFake)} / ${pct(s.flaggedReal)} | ${ttd} | ${fa} |`);
  }
  const fusedRow = summaries.find((s) => s.detector === 'fused');
  if (fusedRow?.timeToSuspicious) {
    const t = fusedRow.timeToSuspicious;
    const f = fusedRow.falseSuspicious!;
    lines.push(
      `| fused (SUSPICIOUS) | | | | | | | | ${t.timedFake ? `${num(t.medianS, 1)} (${t.detected}/${t.timedFake})` : 'n/a (no timed fakes)'} | ${f.realMinutes > 0 ? `${num(f.perMinute, 2)} (${f.count} / ${num(f.realMinutes, 1)})` : 'n/a (no timed reals)'} |`,
    );
  }
  const attacks = summaries[0]?.byAttack.map((a) => a.attack) ?? [];
  if (attacks.length) {
    lines.push('', 'AUC by kind of fake (judged fakes of that kind vs all judged reals; n/a: none judged):', '');
    lines.push(`| detector | ${attacks.map((a) => `${a} (n)`).join(' | ')} |`, `| --- | ${attacks.map(() => '---:').join(' | ')} |`);
    for (const s of summaries) {
      if (s.fake === 0 && s.detector !== 'fused') continue;
      lines.push(`| ${s.detector} | ${s.byAttack.map((a) => `${num(a.auc)} (${a.judgedFake})`).join(' | ')} |`);
    }
  }
  if (speech && speech.clips > 0) {
    lines.push(
      '',
      `Voice on the ${speech.clips} clips with at least ${speech.minSpeechS} s of speech (the analyzer's voice gate): judged by ` +
        speech.rows.map((r) => `${r.detector} ${r.judged} (${speechAbstained(speech, r.detector)} abstained)`).join(', ') +
        '.',
    );
  }
  if (groups) lines.push('', ...renderGroups(groups));
  const why = summaries.filter((s) => s.topAbstainReasons.length);
  if (why.length) {
    lines.push('', 'Why there was no judgement (most common reasons, with counts of frames / windows / ticks; fused: clips):', '');
    for (const s of why) lines.push(`- ${s.detector}: ${s.topAbstainReasons.map((r) => `${r.reason} (${r.count})`).join('; ')}`);
  }
  if (notes.length) {
    lines.push('');
    for (const n of notes) lines.push(`- ${n}`);
  }
  return lines.join('\n') + '\n';
}

/** The per-group table: one row per group, fused first, then each detector's AUC in the group. */
export function renderGroups({ groupBy, groups, ungrouped }: NonNullable<MarkdownInput['groups']>): string[] {
  const lines = [`By group (--group-by \`${groupBy}\`: first capture group of the clip path; ${groups.length} groups):`, ''];
  const detectors = (groups[0]?.summary ?? []).filter((s) => s.detector !== 'fused' && groups.some((g) => g.summary.some((x) => x.detector === s.detector && x.judgedReal + x.judgedFake > 0))).map((s) => s.detector);
  lines.push(
    `| group | real | fake | fused AUC [95% CI] | ALERT fake / real | time to ALERT, median s | false ALERTs/min | ${detectors.map((d) => `${d} AUC`).join(' | ')}${detectors.length ? ' |' : ''}`,
    `| --- | ---: | ---: | ---: | --- | --- | --- |${detectors.map(() => ' ---: |').join('')}`,
  );
  for (const g of groups) {
    const f = g.summary.find((s) => s.detector === 'fused')!;
    const t = f.timeToDetect;
    const fa = f.falseAlarms;
    const cells = detectors.map((d) => {
      const s = g.summary.find((x) => x.detector === d);
      return s ? num(s.auc) : 'n/a';
    });
    lines.push(
      `| ${g.group} | ${g.vsAllReals ? `all (${f.real})` : g.real} | ${g.fake} | ${num(f.auc)}${ci(f.aucCi)} | ${pct(f.flaggedFake)} / ${g.vsAllReals ? '–' : pct(f.flaggedReal)} | ${t.timedFake ? `${num(t.medianS, 1)} (${t.detected}/${t.timedFake})` : 'n/a'} | ${!g.vsAllReals && fa.realMinutes > 0 ? `${num(fa.perMinute, 2)} (${fa.count} / ${num(fa.realMinutes, 1)})` : 'n/a'} |${cells.map((c) => ` ${c} |`).join('')}`,
    );
  }
  if (groups.some((g) => g.vsAllReals)) lines.push('', 'Groups with fakes only are scored against all real clips ("all (n)").');
  if (ungrouped.length) lines.push('', `${ungrouped.length} clip(s) matched no group and are in no row: ${ungrouped.slice(0, 5).join(', ')}${ungrouped.length > 5 ? ', ...' : ''}`);
  return lines;
}
