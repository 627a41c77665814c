/**
 * npm run calibrate: fits fusion weights and thresholds with validation by group, on synthetic
 * per-clip results whose answer is known (one informative detector, one that is noise), through
 * the function and the CLI (--from-json, so no model runs); and refuses data it cannot calibrate
 * on (one class, one group) with one line and exit 2, before playing anything.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { RiskConfigSchema, loadRiskConfig } from '../../../server/src/analyzer/fusion/RiskFusion.ts';
import { faceDecisiveConfig } from '../../helpers/riskConfig.ts';
import { CalibrationError, calibrate, checkLabelsAndGroups, fitWeights, makeFolds, replayClip } from '../../../server/src/evaluation/calibrate.ts';
import { summarise } from '../../../server/src/evaluation/report.ts';
import type { ClipResult } from '../../../server/src/evaluation/runner.ts';
import { clip, dataset } from '../../helpers/calibrationClips.ts';
import { seededRandom } from '../../helpers/random.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'dfs-calibrate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const GROUP_BY = /caller_(\d+)_/;

const base = loadRiskConfig();
const source = { data: '/clinic/calls' };

describe('calibrate (function)', () => {
  const result = calibrate(dataset(), { base, groupBy: GROUP_BY, source, now: new Date('2026-12-01T12:00:00Z') });

  it('weights the informative detector above the noise, and keeps detectors it never saw', () => {
    expect(result.weights['face-deepfake']!.fitted).toBe(true);
    expect(result.weights['presentation-attack']!.fitted).toBe(true);
    expect(result.weights['face-deepfake']!.after).toBeGreaterThan(0.5);
    expect(result.weights['presentation-attack']!.after).toBeLessThan(0.1);
    expect(result.weights['blink']).toMatchObject({ fitted: false, before: base.detectors.blink!.weight, after: base.detectors.blink!.weight, judgedClips: 0 });
    expect(result.config.detectors.blink).toEqual(base.detectors.blink);
  });

  it('reports the cross-validated AUC with its interval, false alarms per minute and time to ALERT', () => {
    const cv = result.crossValidated;
    expect(result.folds).toHaveLength(6); // leave one caller out, six times
    expect(result.folds.every((f) => f.held.length === 1 && f.real === 3 && f.fake === 3)).toBe(true);
    expect(cv.auc).toBeGreaterThan(0.9);
    // The hand-set weights, replayed on the same clips, do worse than the fit validated by group.
    expect(result.before.auc).toBeLessThan(cv.auc! - 0.05);
    expect(cv.aucCi!.lo).toBeLessThanOrEqual(cv.auc!);
    expect(cv.realMinutes).toBeCloseTo((18 * 40) / 60, 5);
    expect(cv.falseAlertsPerMin).not.toBeNull();
    expect(cv.timedFakes).toBe(18);
    expect(cv.fakesAlerted).toBeGreaterThan(9);
    expect(cv.timeToAlertMedianS).toBeGreaterThan(0);
  });

  it('writes a configuration the analyzer accepts, with where every fitted number came from', () => {
    const config = RiskConfigSchema.parse(JSON.parse(JSON.stringify(result.config)));
    expect(config.detectors['face-deepfake']!.weight).toBe(result.weights['face-deepfake']!.after);
    expect(config.detectors['face-deepfake']!.source).toMatch(/fitted by npm run calibrate .* on \/clinic\/calls: 18 real \/ 18 fake clips in 6 groups by \/caller_\(\\d\+\)_\/, 2026-12-01; cross-validated .* fused AUC/);
    expect(config.thresholds.alert.enter).toBeGreaterThan(config.thresholds.suspicious.enter);
    expect(config.thresholds.alert.exit).toBeLessThan(config.thresholds.alert.enter);
    expect(config.calibration).toMatchObject({ data: '/clinic/calls', groupBy: 'caller_(\\d+)_', groups: 6, folds: 6, clips: { real: 18, fake: 18, leftOut: 0 }, target: { falseAlertsPerMin: 0.2 } });
    expect(Object.keys(config.calibration!.numbers).sort()).toEqual([
      'detectors.face-deepfake.weight',
      'detectors.presentation-attack.weight',
      'thresholds.alert.enter',
      'thresholds.alert.exit',
      'thresholds.suspicious.enter',
      'thresholds.suspicious.exit',
    ]);
    // Windows, holds and the rest are the product's, untouched.
    expect(config.holdMs).toEqual(base.holdMs);
    expect(config.detectors['face-deepfake']!.windowMs).toBe(base.detectors['face-deepfake']!.windowMs);
  });

  it('meets the false-alarm target on the replays it chose the thresholds on, and a stricter target raises ALERT', () => {
    const strict = calibrate(dataset(), { base, groupBy: GROUP_BY, source, targetAlertsPerMin: 0 });
    expect(strict.thresholds.alert.enter).toBeGreaterThanOrEqual(result.thresholds.alert.enter);
    // Replayed with the final weights, the reals raise no more ALERTs than the target allows.
    const clips = dataset();
    const w = Object.fromEntries(Object.entries(strict.config.detectors).map(([d, c]) => [d, c.weight]));
    const alerts = clips.filter((c) => c.label === 'real').reduce((n, c) => n + replayClip(c.timeline!, base, w, strict.thresholds).alertEntries, 0);
    expect(alerts).toBeLessThanOrEqual(1); // chosen out of fold, checked here in sample: near zero
  });
});

describe('calibrate building blocks', () => {
  it('replays a timeline through RiskFusion: a steady fake view reaches ALERT after the hold, a calm one stays CLEAR', () => {
    const steady = (score: number) => Array.from({ length: 30 }, (_, i) => ({ t: i + 1, views: { 'face-deepfake': [score, 1] as [number, number] } }));
    // MesoNet decisive (weight 0.95: test/helpers/riskConfig.ts), so that the face alone can alert.
    const decisive = faceDecisiveConfig();
    const hot = replayClip(steady(0.95), decisive, {}, decisive.thresholds);
    expect(hot.alertEntries).toBe(1);
    expect(hot.firstAlertS).toBeGreaterThanOrEqual(decisive.holdMs.enter / 1000);
    expect(hot.maxRisk).toBeCloseTo(decisive.detectors['face-deepfake']!.weight * 0.95, 5);
    expect(replayClip(steady(0.1), decisive, {}, decisive.thresholds)).toMatchObject({ alertEntries: 0, suspiciousEntries: 0, firstAlertS: null });
    // The shipped weight: MesoNet alone raises nothing. Weight 0: the same face adds no risk at all.
    expect(replayClip(steady(0.95), base, {}, base.thresholds)).toMatchObject({ alertEntries: 0, suspiciousEntries: 0 });
    expect(replayClip(steady(0.95), decisive, { 'face-deepfake': 0 }, decisive.thresholds)).toMatchObject({ alertEntries: 0, maxRisk: 0 });
  });

  it("with npm run eval's tail, a fake view that turns up in a clip's last seconds is held until its state shows; the clip's risk is its own", () => {
    const decisive = faceDecisiveConfig();
    const late = Array.from({ length: 8 }, (_, i) => ({ t: i + 1, views: { 'face-deepfake': [i >= 6 ? 0.95 : 0.1, 1] as [number, number] } }));
    const plain = replayClip(late, decisive, {}, decisive.thresholds);
    expect(plain).toMatchObject({ alertEntries: 0, suspiciousEntries: 0 });
    const tailed = replayClip(late, decisive, {}, decisive.thresholds, 4);
    expect(tailed.alertEntries).toBe(1);
    expect(tailed.firstAlertS).toBeGreaterThan(8);
    expect(tailed.maxRisk).toBe(plain.maxRisk);
  });

  it('fits noisy-OR weights by maximum likelihood: a detector that predicts gets weight, one that does not gets none', () => {
    const random = seededRandom(5);
    const samples = Array.from({ length: 200 }, (_, i) => {
      const fake = i % 2 === 0;
      return { fake, x: { good: fake ? 0.6 + 0.4 * random() : 0.1 * random(), noise: random() } };
    });
    const w = fitWeights(samples, ['good', 'noise']);
    expect(w.good).toBeGreaterThan(0.8);
    expect(w.noise).toBeLessThan(0.15);
  });

  it('refuses one class, one group, or clips in no group, in one line', () => {
    const c = (id: string, label: 'real' | 'fake') => ({ id, label });
    expect(() => checkLabelsAndGroups([c('real/caller_1_a', 'real'), c('real/caller_2_a', 'real')], GROUP_BY)).toThrow(/need real and fake clips, found 2 real and 0 fake/);
    expect(() => checkLabelsAndGroups([c('real/caller_1_a', 'real'), c('fake/caller_1_b', 'fake')], GROUP_BY)).toThrow(/only one group \(1\)/);
    expect(() => checkLabelsAndGroups([c('real/caller_1_a', 'real'), c('fake/caller_2_b', 'fake'), c('fake/x', 'fake')], GROUP_BY)).toThrow(/1 clip\(s\) match no group .* \(e\.g\. fake\/x\)/);
    expect(() => checkLabelsAndGroups([c('real/caller_1_a', 'real'), c('fake/caller_1_b', 'fake'), c('real/caller_2_a', 'real'), c('fake/caller_2_b', 'fake')], GROUP_BY)).not.toThrow();
    // Each class must span two groups, or a fold has nothing to fit one side on: said before a folder is played.
    expect(() => checkLabelsAndGroups([c('real/caller_1_a', 'real'), c('fake/caller_2_b', 'fake'), c('fake/caller_3_b', 'fake')], GROUP_BY)).toThrow(/every real clip is in one group \(1\)/);
    const split = dataset(2).map((x) => ({ ...x, id: x.label === 'real' ? x.id.replace(/caller_\d/, 'caller_0') : x.id.replace(/caller_\d/, 'caller_1') }));
    expect(() => calibrate(split, { base, groupBy: GROUP_BY, source })).toThrow(CalibrationError);
  });

  it('keeps ALERT at 0.2 or more when the data gives the detectors no weight', () => {
    // Fakes that look exactly like reals: nothing to fit, and a few percent of risk is not a state.
    const random = seededRandom(3);
    const noise = dataset().map((c) => ({ ...c, timeline: clip(c.id, 'real', random).timeline }));
    const r = calibrate(noise, { base, groupBy: GROUP_BY, source });
    expect(r.weights['face-deepfake']!.after).toBeLessThan(0.3);
    expect(r.thresholds.alert.enter).toBeGreaterThanOrEqual(0.2);
    expect(r.thresholds.suspicious.enter).toBeGreaterThanOrEqual(0.1);
    expect(r.crossValidated.auc).toBeLessThan(0.75);
  });

  it('holds out whole groups, pairing generators (fakes only) with real corpora so every fold has both', () => {
    const kinds = new Map([
      ['Ava', 'both'],
      ['Kim', 'both'],
      ['MS-VALL-E', 'fake'],
      ['YourTTS', 'fake'],
      ['gen', 'fake'],
      ['librispeech', 'real'],
      ['vctk', 'real'],
    ] as const);
    const folds = makeFolds([...kinds.keys()], kinds);
    expect(folds).toEqual([['Ava'], ['Kim'], ['MS-VALL-E', 'gen', 'librispeech'], ['YourTTS', 'vctk']]);
    expect(folds.flat().sort()).toEqual([...kinds.keys()].sort()); // each group held out exactly once
    expect(makeFolds([...kinds.keys()], kinds, 2)).toEqual([['Ava', 'MS-VALL-E', 'gen', 'librispeech'], ['Kim', 'YourTTS', 'vctk']]);
    expect(makeFolds(['a', 'b', 'c'], new Map([['a', 'both'], ['b', 'both'], ['c', 'both']]))).toEqual([['a'], ['b'], ['c']]);
  });

  it('refuses an evaluation report without timelines', () => {
    const old = dataset(2).map(({ timeline: _, ...rest }) => rest);
    expect(() => calibrate(old, { base, groupBy: GROUP_BY, source })).toThrow(/no per-second fusion timelines/);
  });
});

describe('npm run calibrate / npm run eval --compare (CLI)', () => {
  const report = (clips: ClipResult[]) => ({
    about: 'synthetic',
    generatedAt: '2026-12-01T00:00:00Z',
    data: { root: '/clinic/calls', source: 'folders', clips: clips.length, real: clips.filter((c) => c.label === 'real').length, fake: clips.filter((c) => c.label === 'fake').length, byKind: { video: clips.length }, skipped: [] },
    settings: {},
    models: [],
    summary: summarise(clips),
    notes: [],
    clips,
    elapsedS: 0,
  });
  const evalJson = join(tmp, 'eval.json');
  writeFileSync(evalJson, JSON.stringify(report(dataset())));

  it('calibrates from an eval --json, writes the config and prints the cross-validated AUC', async () => {
    const out = join(tmp, 'out', 'risk-config.json');
    const { stdout } = await run(process.execPath, ['scripts/calibrate.ts', '--from-json', evalJson, '--group-by', 'caller_(\\d+)_', '--out', out], { cwd: REPO });
    expect(stdout).toMatch(/^\*\*Cross-validated by group: fused AUC (0\.9\d\d|1\.000) \[\d\.\d\d, \d\.\d\d\], false ALERTs\/min on reals \d+\.\d\d/m);
    expect(stdout).toMatch(/\| after \(cross-validated by group\) \|/);
    const config = RiskConfigSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(config.calibration).toMatchObject({ groups: 6, fromJson: evalJson });
    expect(config.calibration!.through).toBeUndefined();
    expect(stdout).toContain(`Wrote ${out}`);
  }, 60_000);

  it('says in the fit\'s provenance what call codecs the clips went through (eval --through)', async () => {
    const heard = join(tmp, 'eval-through.json');
    writeFileSync(heard, JSON.stringify({ ...report(dataset()), settings: { through: { video: { codec: 'vp8', kbps: 300 }, audio: { codec: 'opus', kbps: 32 } } } }));
    const out = join(tmp, 'out', 'risk-config-through.json');
    await run(process.execPath, ['scripts/calibrate.ts', '--from-json', heard, '--group-by', 'caller_(\\d+)_', '--out', out, '--quiet'], { cwd: REPO });
    const config = RiskConfigSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(config.calibration).toMatchObject({ fromJson: heard, through: 'vp8:300,opus:32' });
    expect(Object.values(config.calibration!.numbers).join('\n')).toMatch(/\/clinic\/calls \(per-clip results from .*eval-through\.json\) through vp8:300,opus:32: /);
    // --through plays clips; a report already says what its clips went through.
    const both = await run(process.execPath, ['scripts/calibrate.ts', '--from-json', heard, '--through', 'opus', '--group-by', 'caller_(\\d+)_'], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect(both).toMatchObject({ code: 2, stderr: expect.stringMatching(/^calibrate: --through goes with --data/) });
  }, 60_000);

  it('exits 2 with one line for a folder with one class or one group, before loading any model', async () => {
    const one = join(tmp, 'one-class');
    mkdirSync(join(one, 'real'), { recursive: true });
    for (const f of ['caller_1_a.wav', 'caller_2_a.wav']) writeFileSync(join(one, 'real', f), '');
    const a = await run(process.execPath, ['scripts/calibrate.ts', '--data', one, '--group-by', 'caller_(\\d+)_'], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect(a).toMatchObject({ code: 2, stderr: 'calibrate: need real and fake clips, found 2 real and 0 fake: calibration fits a decision between the two\n' });
    const group = join(tmp, 'one-group');
    for (const d of ['real', 'fake']) {
      mkdirSync(join(group, d), { recursive: true });
      writeFileSync(join(group, d, 'caller_7_a.wav'), '');
    }
    const b = await run(process.execPath, ['scripts/calibrate.ts', '--data', group, '--group-by', 'caller_(\\d+)_'], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect(b).toMatchObject({ code: 2 });
    expect((b as { stderr: string }).stderr).toMatch(/^calibrate: only one group \(7\) by --group-by \/caller_\(\\d\+\)_\/: validation must leave whole groups out.*\n$/);
    // No --group-by: files directly under real/ and fake/ are in no group.
    const c = await run(process.execPath, ['scripts/calibrate.ts', '--data', group], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect(c).toMatchObject({ code: 2, stderr: expect.stringMatching(/^calibrate: 2 clip\(s\) match no group of --group-by/) });
  }, 60_000);

  it('eval --compare prints a before/after table from two reports', async () => {
    const after = join(tmp, 'after.json');
    writeFileSync(after, JSON.stringify(report(dataset(6, 3, 99))));
    const { stdout } = await run(process.execPath, ['scripts/eval.ts', '--compare', evalJson, after, '--group-by', 'caller_(\\d+)_'], { cwd: REPO });
    expect(stdout).toMatch(/^Compare A = .*eval\.json \(36 clips: 18 real, 18 fake/);
    expect(stdout).toMatch(/^\| \*\*fused\*\* \| \d\.\d{3} \[\d\.\d\d, \d\.\d\d\] \| \d\.\d{3} \[\d\.\d\d, \d\.\d\d\] \| [+−±]\d\.\d{3} \|/m);
    expect(stdout).toMatch(/^\| 0 \| 6 \| 6 \|/m);
    const bad = await run(process.execPath, ['scripts/eval.ts', '--compare', evalJson], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--compare needs two report files/) });
  }, 60_000);
});
