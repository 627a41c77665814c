/**
 * Synthetic per-clip evaluation results whose answer is known, for the calibration tests
 * (test/unit/evaluation/calibrate.test.ts, calibration-honesty.test.ts).
 */
import { EVALUATED_DETECTORS, type ClipResult } from '../../server/src/evaluation/runner.ts';
import { seededRandom } from './random.ts';

/**
 * A timed clip of `seconds` with a fusion timeline: face-deepfake's view separates fakes (0.5-0.9)
 * from reals (0.05-0.4, with a rare spike on reals); presentation-attack misleads (higher on reals,
 * as MesoNet on some real webcams), so the hand-set weight 0.9 hurts and a fit should drop it;
 * `extra` adds views of other detectors from the third second on.
 */
export function clip(id: string, label: 'real' | 'fake', random: () => number, seconds = 40, extra: Record<string, [number, number]> = {}): ClipResult {
  const timeline: NonNullable<ClipResult['timeline']> = [];
  const level = label === 'fake' ? 0.5 + 0.4 * random() : 0.05 + 0.35 * random();
  for (let t = 1; t <= seconds; t++) {
    const views: Record<string, [number, number]> = {};
    if (t >= 3) {
      const spike = label === 'real' && random() < 0.01 ? 0.4 : 0;
      views['face-deepfake'] = [Math.min(1, level + 0.1 * (random() - 0.5) + spike), 0.9];
      views['presentation-attack'] = [label === 'real' ? 0.3 + 0.5 * random() : 0.3 * random(), 0.9];
      Object.assign(views, extra);
    }
    timeline.push({ t, views });
  }
  const none = { applicable: false, available: true, attempts: 0, abstained: 0, score: null, windowMax: null, firstFlagS: null, flagEntries: 0, abstainReasons: {} };
  return {
    id,
    label,
    kind: 'video',
    timed: true,
    durationS: seconds,
    simulatedS: seconds,
    detectors: Object.fromEntries(EVALUATED_DETECTORS.map((d) => [d, { ...none, applicable: d === 'face-deepfake' || d === 'presentation-attack', score: d === 'face-deepfake' ? level : null }])) as ClipResult['detectors'],
    fused: { judged: true, maxRisk: level, finalState: 'CLEAR', finalRisk: level, firstSuspiciousS: null, firstAlertS: null, suspiciousEntries: 0, alertEntries: 0, stateSeconds: {} },
    timeline,
    elapsedMs: 1,
  };
}

export function dataset(groups = 6, perClass = 3, seed = 11): ClipResult[] {
  const random = seededRandom(seed);
  const clips: ClipResult[] = [];
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < perClass; i++) {
      clips.push(clip(`real/caller_${g}_${i}.mp4`, 'real', random));
      clips.push(clip(`fake/caller_${g}_${i}.mp4`, 'fake', random));
    }
  }
  return clips;
}
