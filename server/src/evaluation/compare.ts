/**
 * Before/after view of two evaluation reports (`npm run eval -- --compare A.json B.json`): per
 * detector and fused, AUC with its bootstrap interval, how much it judged, time to ALERT and false
 * ALERTs per minute, and the change. Both reports are summarised again from their per-clip results
 * with this code, so an older report (without intervals) compares on the same definitions; a
 * detector only one of them has shows n/a on the other side. So that each change is judged by
 * numbers, and by the same numbers.
 */
import type { EvaluationReport } from './evaluate.ts';
import { patternOf } from './groups.ts';
import { ci, speechAbstained, speechCoverage, summarise, summariseGroups, type Summary } from './report.ts';

/** The report's summary, recomputed from its clips when it has them (and with a per-group breakdown when asked). */
export function resummarise(r: EvaluationReport, groupBy?: RegExp): EvaluationReport {
  if (!Array.isArray(r.clips) || r.clips.length === 0) return r;
  const summary = summarise(r.clips);
  const out: EvaluationReport = { ...r, summary };
  if (groupBy) {
    const g = summariseGroups(r.clips, groupBy);
    out.groupBy = patternOf(groupBy);
    out.groups = g.groups;
    out.ungrouped = g.ungrouped;
  }
  return out;
}

const fmt = (x: number | null | undefined, d: number): string => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
const delta = (a: number | null | undefined, b: number | null | undefined, d: number, unit = ''): string => {
  if (a === null || a === undefined || b === null || b === undefined) return 'n/a';
  const x = b - a;
  return `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(d)}${unit}`;
};
const judged = (s: Summary | undefined): number | null => (s && s.real + s.fake > 0 ? (s.judgedReal + s.judgedFake) / (s.real + s.fake) : null);

/** The markdown comparison of A (before) and B (after). */
export function compareMarkdown(a: EvaluationReport, b: EvaluationReport, names: { a: string; b: string }, groupBy?: RegExp): string {
  const A = resummarise(a, groupBy);
  const B = resummarise(b, groupBy);
  const ids: Summary['detector'][] = [...new Set([...A.summary.map((s) => s.detector), ...B.summary.map((s) => s.detector)])].filter((d) => d !== 'fused');
  ids.push('fused');
  const lines = [
    `Compare A = ${names.a} (${A.data.clips} clips: ${A.data.real} real, ${A.data.fake} fake; ${A.data.root}) with B = ${names.b} (${B.data.clips} clips: ${B.data.real} real, ${B.data.fake} fake; ${B.data.root}).`,
  ];
  // The same clips: same folder, and (when both reports list them) the same played clip ids, not just as many.
  const played = (r: EvaluationReport) => (Array.isArray(r.clips) && r.clips.length ? r.clips.filter((c) => !c.error).map((c) => c.id).sort().join('\n') : null);
  const [pa, pb] = [played(A), played(B)];
  if (A.data.root !== B.data.root || A.data.clips !== B.data.clips || (pa !== null && pb !== null && pa !== pb)) lines.push('', '**Warning: A and B were not run on the same clips; the deltas mix a change of data with a change of code.**');
  const sa = (A.settings ?? {}) as unknown as Record<string, unknown>;
  const sb = (B.settings ?? {}) as unknown as Record<string, unknown>;
  const show = (v: unknown) => (v === undefined ? 'n/a' : JSON.stringify(v));
  const changed = [...new Set([...Object.keys(sa), ...Object.keys(sb)])].filter((k) => JSON.stringify(sa[k]) !== JSON.stringify(sb[k])).map((k) => `${k} ${show(sa[k])} → ${show(sb[k])}`);
  if (changed.length) lines.push('', `**Warning: A and B were run with different settings (${changed.join(', ')}); the deltas mix a change of settings with a change of code.**`);
  lines.push(
    '',
    'Fused: the clip reached ALERT; a detector: its window view reached 0.5. Judged: clips it had a score for, of those it applies to. Δ = B − A.',
    '',
    '| detector | AUC A [95% CI] | AUC B [95% CI] | Δ AUC | judged A | judged B | Δ judged | time to ALERT A, s (n) | B | Δ s | false ALERTs/min A | B | Δ |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |',
  );
  for (const id of ids) {
    const x = A.summary.find((s) => s.detector === id);
    const y = B.summary.find((s) => s.detector === id);
    const ja = judged(x);
    const jb = judged(y);
    const t = (s: Summary | undefined) => (s && s.timeToDetect.timedFake ? `${fmt(s.timeToDetect.medianS, 1)} (${s.timeToDetect.detected}/${s.timeToDetect.timedFake})` : 'n/a');
    const pc = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v * 100)}%`);
    lines.push(
      `| ${id === 'fused' ? '**fused**' : id} | ${fmt(x?.auc, 3)}${ci(x?.aucCi)} | ${fmt(y?.auc, 3)}${ci(y?.aucCi)} | ${delta(x?.auc, y?.auc, 3)} | ${pc(ja)} | ${pc(jb)} | ${delta(ja === null ? null : ja * 100, jb === null ? null : jb * 100, 0, ' pp')} | ${t(x)} | ${t(y)} | ${delta(x?.timeToDetect.medianS, y?.timeToDetect.medianS, 1)} | ${fmt(x?.falseAlarms.perMinute, 2)} | ${fmt(y?.falseAlarms.perMinute, 2)} | ${delta(x?.falseAlarms.perMinute, y?.falseAlarms.perMinute, 2)} |`,
    );
  }
  // The abstention bar, when both reports measured each clip's speech (since the twentieth stop).
  const [ca, cb] = [speechCoverage(A.clips ?? []), speechCoverage(B.clips ?? [])];
  if (ca && cb && ca.clips && cb.clips) {
    const ds = [...new Set([...ca.rows, ...cb.rows].map((r) => r.detector))];
    lines.push(
      '',
      `Abstained on the clips with at least ${ca.minSpeechS} s of speech (A ${ca.clips}, B ${cb.clips} clips): ` + ds.map((d) => `${d} ${speechAbstained(ca, d)} → ${speechAbstained(cb, d)}`).join(', ') + '.',
    );
  }
  if (groupBy && A.groups && B.groups) {
    lines.push('', `Fused by group (--group-by \`${patternOf(groupBy)}\`):`, '', '| group | clips A | clips B | fused AUC A | fused AUC B | Δ AUC | ALERT on fakes A | B | false ALERTs/min A | B |', '| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |');
    const groups = [...new Set([...A.groups.map((g) => g.group), ...B.groups.map((g) => g.group)])].sort();
    for (const g of groups) {
      const ga = A.groups.find((x) => x.group === g);
      const gb = B.groups.find((x) => x.group === g);
      const fa = ga?.summary.find((s) => s.detector === 'fused');
      const fb = gb?.summary.find((s) => s.detector === 'fused');
      const pc = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${Math.round(v * 100)}%`);
      const far = (gs: typeof ga, f: Summary | undefined) => (gs && !gs.vsAllReals ? fmt(f?.falseAlarms.perMinute, 2) : 'n/a');
      lines.push(
        `| ${g} | ${ga ? ga.real + ga.fake : 0} | ${gb ? gb.real + gb.fake : 0} | ${fmt(fa?.auc, 3)}${ci(fa?.aucCi)} | ${fmt(fb?.auc, 3)}${ci(fb?.aucCi)} | ${delta(fa?.auc, fb?.auc, 3)} | ${pc(fa?.flaggedFake)} | ${pc(fb?.flaggedFake)} | ${far(ga, fa)} | ${far(gb, fb)} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
