/**
 * Calls made of recorded evidence (`npm run eval -- --calls FACES.json VOICES.json`): the face
 * evidence of one evaluation run laid under the voice evidence of another, replayed through fusion.
 *
 * Why: the development clips are either faces without sound (dev/video) or voices without a face
 * (dev/voice), so a fusion rule that joins the two (a voice escalating a warning the face raised)
 * is never exercised by evaluating either set, and neither is its cost on real callers. A call here
 * is one voice clip with one person's face clips looped end to end under it, for its whole length:
 * every face group (--group-by, e.g. the identity) with every voice clip of the same label. It is a
 * replay, so it costs seconds, and the evidence is exactly what the two runs recorded.
 *
 * What it cannot say: lip-sync needs one person's mouth and voice together, so it is left out on
 * both sides; the face and the voice belong to different people, which no detector here compares;
 * and a looped face jumps at each loop (the same person, a new pose), which the face's onset view
 * may read as a switch.
 */
import { DETECTORS, listens, watchesFace } from '../analyzer/detectors/registry.ts';
import type { RiskConfig } from '../analyzer/fusion/RiskFusion.ts';
import type { EvaluationReport } from './evaluate.ts';
import { replayFusion, type FusionInput } from './fusion.ts';
import { groupOf, patternOf } from './groups.ts';
import { bootstrapAucCi, median, rocAuc } from './metrics.ts';
import type { ClipResult, FusedClipResult } from './runner.ts';

/** Gap between two face clips laid end to end (ms). */
const FACE_GAP_MS = 500;

/** The voice's detectors (the speech kind, and window detectors that only listen), and those that need a person's mouth and voice together. */
const VOICE = new Set<string>(DETECTORS.filter((d) => d.kind === 'speech' || (d.kind === 'window' && listens(d) && !watchesFace(d))).map((d) => d.id));
const NEEDS_BOTH = new Set<string>(DETECTORS.filter((d) => d.kind === 'window' && listens(d) && watchesFace(d)).map((d) => d.id));

export interface CallResult {
  label: 'real' | 'fake';
  /** The face group (or clip) and the voice clip the call is made of. */
  face: string;
  voice: string;
  seconds: number;
  fused: FusedClipResult;
}

export interface CallsSummary {
  label: 'real' | 'fake';
  calls: number;
  minutes: number;
  suspiciousEntries: number;
  alertEntries: number;
  /** Calls that reached ALERT / SUSPICIOUS at some point. */
  alerted: number;
  raised: number;
  /** Median seconds from the call's start to its first ALERT, over the calls that reached it. */
  timeToAlertMedianS: number | null;
}

const faceInput = (x: FusionInput): boolean =>
  x[0] === 'q' || (x[0] === 'e' && !VOICE.has(x[2]) && !NEEDS_BOTH.has(x[2])) || ((x[0] === 's' || x[0] === 'd') && x[2] === 'video') || (x[0] === 'r' && x[1] === 'video');
const voiceInput = (x: FusionInput): boolean =>
  x[0] === 'u' || (x[0] === 'e' && VOICE.has(x[2])) || ((x[0] === 's' || x[0] === 'd') && x[2] === 'audio') || (x[0] === 'r' && x[1] === 'audio');

/** The face clips' inputs end to end, looped, over `ms` (times shifted; sampling targets once, first). */
export function faceTrack(clips: readonly ClipResult[], ms: number): FusionInput[] {
  const out: FusionInput[] = [];
  const targets = new Map<string, FusionInput>();
  let t = 0;
  for (let i = 0; t < ms; i++) {
    const c = clips[i % clips.length]!;
    const len = Math.round((c.durationS ?? 0) * 1000);
    for (const x of c.fusionInputs!) {
      if (!faceInput(x)) continue;
      if (x[0] === 'r') targets.set(x[1], x);
      else if (x[1] < len && t + x[1] < ms) out.push([x[0], x[1] + t, ...x.slice(2)] as FusionInput);
    }
    t += len + FACE_GAP_MS;
  }
  return [...targets.values(), ...out];
}

/** Face and voice inputs in time order; at one instant, evidence before the tick (as the analyzer's once-a-second publication sees it). */
export function mergeInputs(face: readonly FusionInput[], voice: readonly FusionInput[]): FusionInput[] {
  const at = (x: FusionInput) => (x[0] === 'r' ? -1 : x[1]);
  return [...face, ...voice]
    .map((x, i) => ({ x, i }))
    .sort((a, b) => at(a.x) - at(b.x) || (a.x[0] === 'u' ? 1 : 0) - (b.x[0] === 'u' ? 1 : 0) || a.i - b.i)
    .map((p) => p.x);
}

const usable = (c: ClipResult) => !c.error && c.timed && c.durationS !== null && c.durationS > 0 && Array.isArray(c.fusionInputs);

/**
 * Every call: each face group of a label (by `groupBy` on the clip ids, else each clip alone) under
 * each voice clip of the same label, replayed through `config`. Throws with a plain reason when
 * either report cannot make calls.
 */
export function overlayCalls(faces: EvaluationReport, voices: EvaluationReport, config: RiskConfig, groupBy?: RegExp): CallResult[] {
  const faceClips = faces.clips.filter((c) => usable(c) && c.fusionInputs!.some((x) => x[0] === 'e' && !VOICE.has(x[2]) && x[3] !== null));
  const voiceClips = voices.clips.filter((c) => usable(c) && c.fusionInputs!.some((x) => x[0] === 'e' && VOICE.has(x[2])));
  if (!faceClips.length) throw new Error('the face report has no timed clip with recorded face evidence (fusionInputs): run npm run eval -- --json on videos first');
  if (!voiceClips.length) throw new Error('the voice report has no timed clip with recorded voice evidence (fusionInputs): run npm run eval -- --json on audio first');
  const out: CallResult[] = [];
  for (const label of ['real', 'fake'] as const) {
    const groups = new Map<string, ClipResult[]>();
    for (const c of faceClips.filter((f) => f.label === label)) {
      const g = (groupBy ? groupOf(c.id, groupBy) : null) ?? c.id;
      groups.set(g, [...(groups.get(g) ?? []), c]);
    }
    for (const v of voiceClips.filter((c) => c.label === label)) {
      const ms = Math.round(v.durationS! * 1000);
      for (const [g, clips] of groups) {
        const inputs = mergeInputs(faceTrack(clips, ms), v.fusionInputs!.filter(voiceInput));
        out.push({ label, face: g, voice: v.id, seconds: ms / 1000, fused: replayFusion(inputs, config).fused });
      }
    }
  }
  return out;
}

export function summariseCalls(calls: readonly CallResult[]): CallsSummary[] {
  return (['real', 'fake'] as const).map((label) => {
    const mine = calls.filter((c) => c.label === label);
    const alertTimes = mine.flatMap((c) => (c.fused.firstAlertS === null ? [] : [c.fused.firstAlertS]));
    return {
      label,
      calls: mine.length,
      minutes: mine.reduce((m, c) => m + c.seconds / 60, 0),
      suspiciousEntries: mine.reduce((n, c) => n + c.fused.suspiciousEntries, 0),
      alertEntries: mine.reduce((n, c) => n + c.fused.alertEntries, 0),
      alerted: alertTimes.length,
      raised: mine.filter((c) => c.fused.firstSuspiciousS !== null).length,
      timeToAlertMedianS: median(alertTimes),
    };
  });
}

export function callsMarkdown(calls: readonly CallResult[], src: { faces: string; voices: string; config: string; groupBy?: RegExp }): string {
  const sum = summariseCalls(calls);
  const judged = (label: 'real' | 'fake') => calls.filter((c) => c.label === label && c.fused.maxRisk !== null).map((c) => c.fused.maxRisk!);
  const auc = rocAuc(judged('fake'), judged('real'));
  const ci = auc === null ? null : bootstrapAucCi(judged('fake'), judged('real'));
  const perMin = (n: number, m: number) => (m > 0 ? (n / m).toFixed(2) : 'n/a');
  const lines = [
    `Calls made of recorded evidence: the faces of ${src.faces}${src.groupBy ? ` (one group per call, --group-by \`${patternOf(src.groupBy)}\`)` : ' (one clip per call)'}, looped, under each voice clip of ${src.voices} with the same label; fusion ${src.config}. Lip-sync is left out (face and voice are different recordings).`,
    '',
    `**False ALERTs per minute on real calls: ${perMin(sum[0]!.alertEntries, sum[0]!.minutes)} (${sum[0]!.alertEntries} in ${sum[0]!.minutes.toFixed(1)} min). Fused AUC over calls: ${auc === null ? 'n/a' : auc.toFixed(3)}${ci ? ` [${ci.lo.toFixed(2)}, ${ci.hi.toFixed(2)}]` : ''}.**`,
    '',
    '| calls | count | minutes | SUSPICIOUS entries (per min) | ALERT entries (per min) | calls raised | calls at ALERT | time to ALERT, median s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...sum.map(
      (s) =>
        `| ${s.label} | ${s.calls} | ${s.minutes.toFixed(1)} | ${s.suspiciousEntries} (${perMin(s.suspiciousEntries, s.minutes)}) | ${s.alertEntries} (${perMin(s.alertEntries, s.minutes)}) | ${s.raised} | ${s.alerted} | ${s.timeToAlertMedianS === null ? 'n/a' : s.timeToAlertMedianS.toFixed(1)} |`,
    ),
  ];
  const alerts = calls.filter((c) => c.label === 'real' && c.fused.alertEntries > 0);
  if (alerts.length) lines.push('', 'Real calls that reached ALERT:', '', ...alerts.map((c) => `- ${c.face} under ${c.voice}: ALERT after ${c.fused.firstAlertS} s${c.fused.topReason ? ` (${c.fused.topReason})` : ''}`));
  return lines.join('\n') + '\n';
}
