/**
 * A risk timeline per analysed participant: the risk score and state over time, with marks for
 * alerts, liveness checks, camera off and analysis degraded. Plain data and pure functions, shared
 * by the call page and the dashboard (RiskTimeline.svelte draws it with uPlot). It starts from the
 * case record (the audit log's state changes, alerts and checks: what happened before this page
 * was open) and grows with the live updates the page receives.
 */
import type { CaseRecord } from '../../../server/src/protocol/caseRecord.ts';
import { RISK_STATES, type RiskState } from '../../../server/src/protocol/messages.ts';

export type MarkKind = 'alert' | 'check' | 'camera-off' | 'degraded';

export interface TimelinePoint {
  at: number;
  risk: number;
  state: RiskState;
}

export interface TimelineMark {
  at: number;
  kind: MarkKind;
  label: string;
}

export interface Timeline {
  points: TimelinePoint[];
  marks: TimelineMark[];
}

/** Enough for an hour of one update every few seconds; older points drop first. */
export const MAX_POINTS = 1200;
export const MAX_MARKS = 200;

export const EMPTY_TIMELINE: Timeline = { points: [], marks: [] };

const isState = (s: string): s is RiskState => (RISK_STATES as readonly string[]).includes(s);

/** The timeline with `p` added in time order (an update already held, same time, is ignored). */
export function addPoint(t: Timeline, p: TimelinePoint): Timeline {
  const last = t.points[t.points.length - 1];
  if (last && last.at === p.at && last.state === p.state && last.risk === p.risk) return t;
  let points: TimelinePoint[];
  if (!last || last.at <= p.at) points = [...t.points, p];
  else {
    if (t.points.some((x) => x.at === p.at)) return t;
    points = [...t.points, p].sort((a, b) => a.at - b.at);
  }
  return { ...t, points: points.length > MAX_POINTS ? points.slice(points.length - MAX_POINTS) : points };
}

/** The timeline with mark `m` added, unless the same kind of mark is already there within a second. */
export function addMark(t: Timeline, m: TimelineMark): Timeline {
  if (t.marks.some((x) => x.kind === m.kind && Math.abs(x.at - m.at) < 1000)) return t;
  const marks = [...t.marks, m].sort((a, b) => a.at - b.at);
  return { ...t, marks: marks.length > MAX_MARKS ? marks.slice(marks.length - MAX_MARKS) : marks };
}

/** Each analysed participant's timeline so far, from a case record. */
export function timelinesFromRecord(r: CaseRecord): Record<string, Timeline> {
  const out: Record<string, Timeline> = {};
  const get = (id: string) => (out[id] ??= { points: [], marks: [] });
  for (const s of r.states) {
    for (const c of s.changes) {
      if (!isState(c.state)) continue;
      out[s.participantId] = addPoint(get(s.participantId), { at: c.at, risk: c.risk, state: c.state });
      if (c.state === 'DEGRADED') out[s.participantId] = addMark(get(s.participantId), { at: c.at, kind: 'degraded', label: 'Analysis degraded' });
    }
  }
  for (const a of r.alerts) out[a.participantId] = addMark(get(a.participantId), { at: a.at, kind: 'alert', label: 'Alert' });
  for (const c of r.checks) out[c.participantId] = addMark(get(c.participantId), { at: c.endedAt, kind: 'check', label: `Liveness check: ${c.result.toLowerCase()}` });
  return out;
}

/** Merges two timelines (a record's and the live one), time ordered. */
export function mergeTimelines(a: Timeline | undefined, b: Timeline | undefined): Timeline {
  let t = a ?? EMPTY_TIMELINE;
  for (const p of b?.points ?? []) t = addPoint(t, p);
  for (const m of b?.marks ?? []) t = addMark(t, m);
  return t;
}

export const MARK_KINDS: readonly MarkKind[] = ['alert', 'check', 'camera-off', 'degraded'];

/**
 * The columns uPlot draws: x in seconds; the risk score stepped (carried to each mark and to
 * `now`, so the line reaches the present); one series per kind of mark, a value only where a mark
 * is (drawn as points). Returns undefined when there is nothing to draw.
 */
export function plotColumns(t: Timeline, now: number): { x: number[]; risk: Array<number | null>; marks: Array<Array<number | null>> } | undefined {
  if (!t.points.length && !t.marks.length) return undefined;
  const times = [...new Set([...t.points.map((p) => p.at), ...t.marks.map((m) => m.at), Math.max(now, t.points.at(-1)?.at ?? 0, t.marks.at(-1)?.at ?? 0)])].sort((a, b) => a - b);
  const risk: Array<number | null> = [];
  let i = 0;
  let current: number | null = null;
  for (const at of times) {
    while (i < t.points.length && t.points[i]!.at <= at) current = t.points[i++]!.risk;
    risk.push(current);
  }
  const marks = MARK_KINDS.map((kind, k) => {
    const at = new Set(t.marks.filter((m) => m.kind === kind).map((m) => m.at));
    // Each kind on its own row near the top, so marks at the same time stay visible.
    return times.map((x) => (at.has(x) ? 1.08 - k * 0.06 : null));
  });
  return { x: times.map((x) => x / 1000), risk, marks };
}

/** One sentence for screen readers and for anyone who cannot read the chart. */
export function describeTimeline(t: Timeline, now: number, label: (s: RiskState) => string): string {
  const first = t.points[0];
  const last = t.points.at(-1);
  if (!first || !last) return t.marks.length ? `${t.marks.length} event${t.marks.length > 1 ? 's' : ''}; no risk score yet.` : 'No risk score yet.';
  const minutes = Math.max(1, Math.round((now - first.at) / 60000));
  const peak = Math.max(...t.points.map((p) => p.risk));
  const count = (k: MarkKind) => t.marks.filter((m) => m.kind === k).length;
  const parts = [
    `Over ${minutes} min: now ${label(last.state)}, risk score ${Math.round(last.risk * 100)} of 100 (highest ${Math.round(peak * 100)})`,
    count('alert') ? `${count('alert')} alert${count('alert') > 1 ? 's' : ''}` : '',
    count('check') ? `${count('check')} liveness check${count('check') > 1 ? 's' : ''}` : '',
    count('camera-off') ? `camera off ${count('camera-off')} time${count('camera-off') > 1 ? 's' : ''}` : '',
    count('degraded') ? 'analysis degraded at times' : '',
  ].filter(Boolean);
  return `${parts.join('; ')}.`;
}
