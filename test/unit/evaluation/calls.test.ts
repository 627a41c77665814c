/**
 * Calls made of recorded evidence (`npm run eval -- --calls FACES.json VOICES.json`): faces of one
 * run looped under the voices of another and replayed through fusion, so that rules joining face
 * and voice are measured on real and fake calls.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRiskConfig } from '../../../server/src/analyzer/fusion/RiskFusion.ts';
import { faceTrack, mergeInputs, overlayCalls, summariseCalls } from '../../../server/src/evaluation/calls.ts';
import type { EvaluationReport } from '../../../server/src/evaluation/evaluate.ts';
import type { FusionInput } from '../../../server/src/evaluation/fusion.ts';
import type { ClipResult } from '../../../server/src/evaluation/runner.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'dfs-calls-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const config = loadRiskConfig();

function clip(id: string, label: 'real' | 'fake', seconds: number, fusionInputs: FusionInput[]): ClipResult {
  return {
    id,
    label,
    kind: id.endsWith('.wav') ? 'audio' : 'video',
    timed: true,
    durationS: seconds,
    simulatedS: seconds,
    detectors: {} as ClipResult['detectors'],
    fused: { judged: true, maxRisk: 0, finalState: 'CLEAR', finalRisk: 0, firstSuspiciousS: null, firstAlertS: null, suspiciousEntries: 0, alertEntries: 0, stateSeconds: {} },
    fusionInputs,
    elapsedMs: 1,
  };
}

/** A face clip: MesoNet reading `score` twice a second, a landmark cue abstaining, lip-sync abstaining, ticks. */
function face(id: string, label: 'real' | 'fake', score: number, seconds = 6): ClipResult {
  const inputs: FusionInput[] = [['r', 'video', 2]];
  for (let t = 0; t < seconds * 1000; t += 500) {
    inputs.push(['q', t, 'ok'], ['e', t, 'face-deepfake', score, 0.93], ['s', t, 'video']);
    if (t % 1000 === 0) inputs.push(['e', t, 'lip-sync', null, 0], ['u', t]);
  }
  return clip(id, label, seconds, inputs);
}

/** A voice clip: the voice model reading `score` every 2 s, a tick a second. */
function voice(id: string, label: 'real' | 'fake', score: number, seconds = 40): ClipResult {
  const inputs: FusionInput[] = [['r', 'audio', 0.5]];
  for (let t = 0; t < seconds * 1000; t += 1000) {
    if (t > 0 && t % 2000 === 0) inputs.push(['e', t, 'synthetic-voice', score, score > 0.5 ? 0.95 : 0.8], ['s', t, 'audio']);
    inputs.push(['u', t]);
  }
  return clip(id, label, seconds, inputs);
}

function report(clips: ClipResult[]): EvaluationReport {
  return { about: 'test', generatedAt: '2026-12-02', data: { root: '/x', source: 'folders', clips: clips.length, real: 0, fake: 0, byKind: {}, skipped: [] }, settings: {} as EvaluationReport['settings'], models: [], summary: [], notes: [], clips, elapsedS: 1 };
}

const faces = report([face('real/dfl_Ann_0.mp4', 'real', 0.05), face('real/dfl_Ann_1.mp4', 'real', 0.1), face('real/dfl_Bob_0.mp4', 'real', 0.2), face('fake/dfl_Ann_0_swap.mp4', 'fake', 0.99)]);
const voices = report([voice('real/a.wav', 'real', 0.05), voice('real/b.wav', 'real', 0.1), voice('fake/c.wav', 'fake', 0.97)]);
const BY_PERSON = /dfl_([A-Za-z]+)_\d/;

describe('calls made of recorded evidence', () => {
  it('loops one face group under each voice of the same label, for the voice clip\'s length, without lip-sync', () => {
    const track = faceTrack([faces.clips[0]!, faces.clips[1]!], 40_000);
    const times = track.filter((x) => x[0] === 'e').map((x) => x[1] as number);
    expect(Math.max(...times)).toBeLessThan(40_000);
    expect(Math.max(...times)).toBeGreaterThan(35_000);
    // Both clips of the group take turns (6 s each, 0.5 s apart).
    expect(track.some((x) => x[0] === 'e' && x[1] === 6500 && x[3] === 0.1)).toBe(true);
    expect(track.some((x) => x[0] === 'e' && x[1] === 13_000 && x[3] === 0.05)).toBe(true);
    expect(track.some((x) => x[0] === 'e' && x[2] === 'lip-sync')).toBe(false);
    expect(track.some((x) => x[0] === 'u')).toBe(false);
    // Merged in time order, a tick after the evidence of its instant, sampling targets first.
    const merged = mergeInputs(track, voices.clips[0]!.fusionInputs!);
    expect(merged[0]![0]).toBe('r');
    const at = (x: FusionInput) => (x[0] === 'r' ? -1 : (x[1] as number));
    expect(merged.every((x, i) => i === 0 || at(merged[i - 1]!) <= at(x))).toBe(true);
    const i = merged.findIndex((x) => x[0] === 'u' && x[1] === 2000);
    expect(merged.slice(i + 1).some((x) => x[0] === 'e' && x[1] === 2000)).toBe(false);

    const calls = overlayCalls(faces, voices, config, BY_PERSON);
    // Real: 2 people x 2 voices; fake: 1 person x 1 voice.
    expect(calls.map((c) => `${c.label} ${c.face} ${c.voice}`).sort()).toEqual(['fake Ann fake/c.wav', 'real Ann real/a.wav', 'real Ann real/b.wav', 'real Bob real/a.wav', 'real Bob real/b.wav']);
    expect(calls.every((c) => c.seconds === 40)).toBe(true);
  });

  it('a real face with a natural voice stays unraised; a swapped face with a synthetic voice reaches ALERT; the summary counts both', () => {
    const calls = overlayCalls(faces, voices, config, BY_PERSON);
    const [real, fake] = summariseCalls(calls);
    expect(real).toMatchObject({ label: 'real', calls: 4, suspiciousEntries: 0, alertEntries: 0, alerted: 0 });
    expect(real!.minutes).toBeCloseTo(160 / 60, 5);
    // Neither the face alone nor the voice alone reaches ALERT with the shipped weights: both together do.
    expect(fake).toMatchObject({ label: 'fake', calls: 1, alerted: 1 });
    expect(fake!.timeToAlertMedianS).toBeGreaterThan(0);
  });

  it('refuses reports without recorded evidence, with a reason', () => {
    const bare = report([{ ...faces.clips[0]!, fusionInputs: undefined }]);
    expect(() => overlayCalls(bare, voices, config)).toThrow(/face report has no timed clip with recorded face evidence/);
    expect(() => overlayCalls(faces, report([faces.clips[0]!]), config)).toThrow(/voice report has no timed clip with recorded voice evidence/);
  });

  it('eval --calls prints the table; one report is a usage error', async () => {
    const f = join(tmp, 'faces.json');
    const v = join(tmp, 'voices.json');
    writeFileSync(f, JSON.stringify(faces));
    writeFileSync(v, JSON.stringify(voices));
    const { stdout } = await run(process.execPath, ['scripts/eval.ts', '--calls', f, v, '--group-by', 'dfl_([A-Za-z]+)_\\d'], { cwd: REPO });
    expect(stdout).toMatch(/^\*\*False ALERTs per minute on real calls: 0\.00 \(0 in 2\.7 min\)\./m);
    expect(stdout).toMatch(/^\| real \| 4 \| 2\.7 \| 0 \(0\.00\) \| 0 \(0\.00\) \| 0 \| 0 \| n\/a \|$/m);
    expect(stdout).toMatch(/^\| fake \| 1 \| 0\.7 \| \d+ \(\d+\.\d\d\) \| 1 \(\d+\.\d\d\) \| 1 \| 1 \| \d+\.\d \|$/m);
    const bad = await run(process.execPath, ['scripts/eval.ts', '--calls', f], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--calls needs two report files/) });
  }, 60_000);
});
