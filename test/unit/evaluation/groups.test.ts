import { describe, expect, it } from 'vitest';
import { compareMarkdown } from '../../../server/src/evaluation/compare.ts';
import type { EvaluationReport } from '../../../server/src/evaluation/evaluate.ts';
import { GroupByError, groupClips, groupOf, parseGroupBy } from '../../../server/src/evaluation/groups.ts';
import { bootstrapAucCi, rocAuc } from '../../../server/src/evaluation/metrics.ts';
import { headline, renderMarkdown, speechCoverage, summarise, summariseGroups } from '../../../server/src/evaluation/report.ts';
import { EVALUATED_DETECTORS, type ClipResult, type DetectorClipResult } from '../../../server/src/evaluation/runner.ts';
import { seededRandom } from '../../helpers/random.ts';

const IDENTITY = /dfl_([A-Za-z_]+?)_\d/;

/** A played video clip: face-deepfake scored `score`, fused max risk `score`, ALERT at `alertAt` s (or never). */
function clip(id: string, label: 'real' | 'fake', score: number | null, o: { alertAt?: number; alerts?: number; durationS?: number } = {}): ClipResult {
  const det = (d: string): DetectorClipResult => ({
    applicable: d === 'face-deepfake',
    available: true,
    attempts: 10,
    abstained: score === null ? 10 : 0,
    score: d === 'face-deepfake' ? score : null,
    windowMax: d === 'face-deepfake' ? score : null,
    firstFlagS: d === 'face-deepfake' && score !== null && score >= 0.5 ? 3 : null,
    flagEntries: d === 'face-deepfake' && score !== null && score >= 0.5 ? 1 : 0,
    abstainReasons: {},
  });
  return {
    id,
    label,
    kind: 'video',
    timed: true,
    durationS: o.durationS ?? 30,
    simulatedS: o.durationS ?? 30,
    detectors: Object.fromEntries(EVALUATED_DETECTORS.map((d) => [d, det(d)])) as ClipResult['detectors'],
    fused: {
      judged: score !== null,
      maxRisk: score,
      finalState: o.alertAt !== undefined ? 'ALERT' : 'CLEAR',
      finalRisk: score ?? 0,
      firstSuspiciousS: o.alertAt ?? null,
      firstAlertS: o.alertAt ?? null,
      suspiciousEntries: o.alerts ?? (o.alertAt !== undefined ? 1 : 0),
      alertEntries: o.alerts ?? (o.alertAt !== undefined ? 1 : 0),
      stateSeconds: {},
    },
    elapsedMs: 1,
  };
}

function report(clips: ClipResult[], root = '/data'): EvaluationReport {
  return {
    about: '',
    generatedAt: '',
    data: { root, source: 'folders', clips: clips.length, real: clips.filter((c) => c.label === 'real').length, fake: clips.filter((c) => c.label === 'fake').length, byKind: { video: clips.length }, skipped: [] },
    settings: { baseFps: 2, boostedFps: 6, audioHopSeconds: 2, stillSeconds: 6, sequenceFps: 25, provider: 'cpu', voiceCalibration: '', tts: 0 },
    models: [],
    summary: summarise(clips),
    notes: [],
    clips,
    elapsedS: 0,
  };
}

describe('--group-by', () => {
  it('takes the first capture group of the clip path', () => {
    expect(groupOf('fake/dfl_Ava_de_Addario_3_swap.mp4', IDENTITY)).toBe('Ava_de_Addario');
    expect(groupOf('real/dfl_Keanu_Reeves_0_orig.mp4', IDENTITY)).toBe('Keanu_Reeves');
    // Alternatives: the first group that took part names it; no group: the whole match; no match: null.
    const gen = /_(MS-VALL-E|YourTTS)\.wav$|^(real)\//;
    expect(groupOf('fake/x_ours_MS-VALL-E.wav', gen)).toBe('MS-VALL-E');
    expect(groupOf('real/x_gt.wav', gen)).toBe('real');
    expect(groupOf('fake/x_gen.wav', gen)).toBeNull();
    expect(groupOf('a\\b\\c.wav', /^a\/b/)).toBe('a/b');
  });

  it('groups clips in name order and lists the ones it could not place', () => {
    const { groups, ungrouped } = groupClips([{ id: 'fake/dfl_Kim_1.mp4' }, { id: 'real/dfl_Ava_0.mp4' }, { id: 'real/other.mp4' }, { id: 'fake/dfl_Ava_2.mp4' }], IDENTITY);
    expect([...groups.keys()]).toEqual(['Ava', 'Kim']);
    expect(groups.get('Ava')!.map((c) => c.id)).toEqual(['real/dfl_Ava_0.mp4', 'fake/dfl_Ava_2.mp4']);
    expect(ungrouped).toEqual(['real/other.mp4']);
  });

  it('rejects a bad regex with a one-line error', () => {
    expect(() => parseGroupBy('dfl_([A-Z')).toThrow(GroupByError);
    expect(() => parseGroupBy('')).toThrow(/needs a regular expression/);
  });

  it('gives each group its own row: within-group AUC, generators against all reals, ALERTs and false ALERTs', () => {
    const clips = [
      clip('real/dfl_Ava_0_orig.mp4', 'real', 0.1),
      clip('real/dfl_Ava_1_orig.mp4', 'real', 0.2),
      clip('fake/dfl_Ava_0_swap.mp4', 'fake', 0.9, { alertAt: 6 }),
      clip('fake/dfl_Ava_1_swap.mp4', 'fake', 0.8, { alertAt: 8 }),
      clip('real/dfl_Kim_0_orig.mp4', 'real', 0.7, { alertAt: 10 }),
      clip('fake/dfl_Kim_0_swap.mp4', 'fake', 0.3),
      clip('fake/dfl_Zed_0_swap.mp4', 'fake', 0.95),
    ];
    const { groups, ungrouped } = summariseGroups(clips, IDENTITY);
    expect(ungrouped).toEqual([]);
    const fused = (g: string) => groups.find((x) => x.group === g)!.summary.find((s) => s.detector === 'fused')!;
    expect(groups.map((g) => [g.group, g.real, g.fake, g.vsAllReals])).toEqual([
      ['Ava', 2, 2, false],
      ['Kim', 1, 1, false],
      ['Zed', 0, 1, true],
    ]);
    expect(fused('Ava').auc).toBe(1);
    expect(fused('Ava').timeToDetect).toEqual({ medianS: 7, detected: 2, timedFake: 2 });
    expect(fused('Ava').falseAlarms.count).toBe(0);
    expect(fused('Kim').auc).toBe(0);
    expect(fused('Kim').falseAlarms).toEqual({ count: 1, realMinutes: 0.5, perMinute: 2 });
    // Zed has no reals of its own: scored against all three reals (0.95 beats each).
    expect(fused('Zed')).toMatchObject({ real: 3, fake: 1, auc: 1 });
    const md = renderMarkdown({ summaries: summarise(clips), notes: [], groups: { groupBy: IDENTITY.source, groups, ungrouped } });
    expect(md).toMatch(/\| Ava \| 2 \| 2 \| 1\.000 \[1\.00, 1\.00\] \| 100% \/ 0% \| 7\.0 \(2\/2\) \| 0\.00 \(0 \/ 1\.0\) \| 1\.000 \|/);
    expect(md).toMatch(/\| Zed \| all \(3\) \| 1 \|/);
  });

  it('puts time to ALERT and false ALERTs per minute at the top', () => {
    const s = summarise([clip('real/a.mp4', 'real', 0.8, { alertAt: 5, alerts: 2, durationS: 60 }), clip('fake/b.mp4', 'fake', 0.9, { alertAt: 4 }), clip('fake/c.mp4', 'fake', 0.2)]);
    expect(headline(s)).toBe('**Time to ALERT on fakes: 4.0 s median (1 of 2 timed fakes reached ALERT). False ALERTs per minute on reals: 2.00 (2 in 1.0 min of real clips). Fused AUC 0.500 [0.00, 1.00].**');
    expect(renderMarkdown({ summaries: s, notes: [], header: 'H' }).split('\n')[2]).toMatch(/^\*\*Time to ALERT on fakes/);
  });
});

describe('bootstrap AUC interval', () => {
  it('is reproducible, contains the AUC, and narrows with more clips', () => {
    const r = seededRandom(3);
    const fake = Array.from({ length: 20 }, () => 0.3 + r());
    const real = Array.from({ length: 20 }, () => r());
    const ci = bootstrapAucCi(fake, real)!;
    expect(bootstrapAucCi(fake, real)).toEqual(ci);
    const auc = rocAuc(fake, real)!;
    expect(ci.lo).toBeLessThan(auc);
    expect(ci.hi).toBeGreaterThan(auc);
    expect(ci.hi).toBeLessThanOrEqual(1);
    const big = bootstrapAucCi([...fake, ...fake, ...fake, ...fake], [...real, ...real, ...real, ...real])!;
    expect(big.hi - big.lo).toBeLessThan(ci.hi - ci.lo);
  });

  it('is a point for perfect separation and null with an empty class', () => {
    expect(bootstrapAucCi([0.9, 0.8], [0.1, 0.2])).toEqual({ lo: 1, hi: 1 });
    expect(bootstrapAucCi([], [0.1])).toBeNull();
  });

  it('resamples each class on its own: a single real clip never drops out', () => {
    // With pooled resampling some draws would have no real clip (AUC undefined); per class, every draw has one.
    const ci = bootstrapAucCi([0.2, 0.4, 0.6, 0.8], [0.5], { samples: 200 })!;
    expect(ci.lo).toBeGreaterThanOrEqual(0);
    expect(ci.hi).toBeLessThanOrEqual(1);
    expect(ci.lo).toBeLessThan(ci.hi);
  });
});

describe('--compare', () => {
  it('prints A and B side by side with deltas, per detector and fused', () => {
    const before = report([clip('real/dfl_Ava_0.mp4', 'real', 0.6, { alertAt: 5 }), clip('fake/dfl_Ava_0.mp4', 'fake', 0.4)]);
    const after = report([clip('real/dfl_Ava_0.mp4', 'real', 0.1), clip('fake/dfl_Ava_0.mp4', 'fake', 0.9, { alertAt: 6 })]);
    const md = compareMarkdown(before, after, { a: 'base.json', b: 'new.json' }, IDENTITY);
    expect(md).toContain('Compare A = base.json');
    expect(md).not.toContain('Warning');
    const fused = md.split('\n').find((l) => l.startsWith('| **fused**'))!;
    expect(fused).toBe('| **fused** | 0.000 [0.00, 0.00] | 1.000 [1.00, 1.00] | +1.000 | 100% | 100% | ±0 pp | n/a (0/1) | 6.0 (1/1) | n/a | 2.00 | 0.00 | −2.00 |');
    expect(md.split('\n').find((l) => l.startsWith('| face-deepfake'))).toContain('| +1.000 |');
    expect(md).toMatch(/\| Ava \| 2 \| 2 \| 0\.000 \[0\.00, 0\.00\] \| 1\.000 \[1\.00, 1\.00\] \| \+1\.000 \| 0% \| 100% \| 2\.00 \| 0\.00 \|/);
  });

  it('warns when A and B were run on different clips', () => {
    const md = compareMarkdown(report([clip('real/a', 'real', 0.1)], '/x'), report([clip('real/a', 'real', 0.1)], '/y'), { a: 'a', b: 'b' });
    expect(md).toContain('not run on the same clips');
  });
});

describe('voice judged on clips with enough speech', () => {
  /** An audio clip with `speechS` of voiced speech; the voice model and fusion judged it or not, the pitch cue always. */
  function voiceClip(id: string, speechS: number | undefined, judged: boolean): ClipResult {
    const c = clip(id, 'fake', judged ? 0.7 : null);
    const det = (score: number | null): DetectorClipResult => ({ applicable: true, available: true, attempts: 2, abstained: score === null ? 2 : 0, score, windowMax: score, firstFlagS: null, flagEntries: 0, abstainReasons: {} });
    return {
      ...c,
      kind: 'audio',
      ...(speechS === undefined ? { audio: { windows: 1, skippedNoSpeech: 0 } } : { audio: { windows: 1, skippedNoSpeech: 0, speechS } }),
      detectors: { ...c.detectors, 'synthetic-voice': det(judged ? 0.7 : null), 'pitch-jitter': det(0.4) },
    };
  }

  it('counts, per voice detector and fused, the clips with 2 s of speech or more that each judged', () => {
    const clips = [voiceClip('short', 1.2, false), voiceClip('judged', 3, true), voiceClip('refused', 5, false)];
    const cov = speechCoverage(clips)!;
    expect(cov.clips).toBe(2);
    expect(cov.rows).toEqual([
      { detector: 'synthetic-voice', judged: 1 },
      { detector: 'pitch-jitter', judged: 2 },
      { detector: 'fused', judged: 1 },
    ]);
    const md = renderMarkdown({ summaries: summarise(clips), notes: [], speech: cov });
    expect(md).toContain('Voice on the 2 clips with at least 2 s of speech');
    expect(md).toContain('synthetic-voice 1 (50% abstained), pitch-jitter 2 (0% abstained), fused 1 (50% abstained)');
  });

  it('says nothing for reports without a measured amount of speech (older ones, or no audio)', () => {
    expect(speechCoverage([voiceClip('old', undefined, true)])).toBeNull();
    expect(speechCoverage([clip('video', 'real', 0.2)])).toBeNull();
    expect(renderMarkdown({ summaries: [], notes: [], speech: null })).not.toContain('Voice on the');
  });

  it('--compare shows the abstention on those clips before and after, when both reports measured speech', () => {
    const before = report([voiceClip('a', 3, false), voiceClip('b', 4, true)]);
    const after = report([voiceClip('a', 3, true), voiceClip('b', 4, true)]);
    expect(compareMarkdown(before, after, { a: 'A', b: 'B' })).toContain(
      'Abstained on the clips with at least 2 s of speech (A 2, B 2 clips): synthetic-voice 50% → 0%, pitch-jitter 0% → 0%, fused 50% → 0%.',
    );
    expect(compareMarkdown(report([voiceClip('a', undefined, false)]), after, { a: 'A', b: 'B' })).not.toContain('Abstained on the clips');
  });
});
