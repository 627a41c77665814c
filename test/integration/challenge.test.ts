/**
 * Liveness challenges over real WebRTC with the real models: a simulated caller that makes the
 * movements it is asked for passes, one that ignores them fails, and one that leaves midway is
 * inconclusive. The analysed caller gets instructions only, never a verdict; only privileged roles
 * may start a check; the verdict lands in the audit log.
 *
 * What this can prove: the protocol, the timing, and that the analyzer's pose and occlusion
 * measurements follow movements of a face in video. The movements are image warps of a still
 * (FaceAnimator), not a person: it cannot show how well real head turns are recognised.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Analyzer } from '../../server/src/analyzer/Analyzer.ts';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import { HeadlessParticipant } from '../../server/src/headless/HeadlessParticipant.ts';
import type { ChallengePrompt, ChallengeSample, ChallengeView } from '../../server/src/protocol/challenge.ts';
import { ProtocolFailure } from '../../server/src/protocol/CallSession.ts';
import { ErrorCode } from '../../server/src/protocol/messages.ts';
import { ClipLibrary, type ClipName } from '../../server/src/simulate/clips.ts';
import { SimulatedCaller } from '../../server/src/simulate/SimulatedCaller.ts';
import { inProcessAnalyzer } from '../helpers/analyzer.ts';
import { DATA_DIR } from '../helpers/images.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let analyzer: Analyzer;
let runtime: InferenceRuntime;
let library: ClipLibrary;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'external' });
  analyzer = inProcessAnalyzer(server, { maxBatch: 8, maxWaitMs: 20, heartbeatMs: 500 });
  await analyzer.loadModels();
  analyzer.start();
  runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
  library = new ClipLibrary(runtime, DATA_DIR);
  await waitFor('analysis available', () => server.app.hub.status.available, 15000);
});

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await analyzer.stop();
  await runtime.close();
  await server.close();
});

async function call(room: string, clip: ClipName, respond: boolean) {
  const sub = `${room}-caller`;
  const caller = await SimulatedCaller.create({ url: server.url, token: server.token(room, 'patient', 'Pat', { sub }), room, clip, library, respond });
  const prompts: ChallengePrompt[] = [];
  const done: string[] = [];
  const leaked: unknown[] = [];
  caller.session.on('challenge-prompt', (p) => prompts.push(p));
  caller.session.on('challenge-done', (d) => done.push(d.challengeId));
  caller.session.on('challenge', (c) => leaked.push(c));
  caller.session.on('risk', (u) => leaked.push(u));
  const doctor = new HeadlessParticipant({ url: server.url, room, token: server.token(room, 'clinician', 'Dr', { sub: `${room}-doc` }) });
  const views: ChallengeView[] = [];
  doctor.session.on('challenge', (c) => views.push(c));
  cleanup.push(() => doctor.leave(), () => caller.leave());
  await doctor.join();
  await caller.join();
  // The analyzer must be receiving the caller's video before a check makes sense.
  await waitFor('analyzer sampling the caller', () => analyzer.streamStats(`${room}/${sub}/video`)?.pushed, 20000);
  const samples: ChallengeSample[] = [];
  analyzer.on('challenge-sample', (r, p, s) => {
    if (r === room) samples.push(s);
  });
  return { caller, doctor, sub, prompts, done, leaked, views, samples };
}

async function verdictOf(views: ChallengeView[], id: string): Promise<ChallengeView> {
  return waitFor('challenge verdict', () => views.find((v) => v.id === id && v.state !== 'RUNNING'), 40000, 100);
}

function describeRun(v: ChallengeView, samples: ChallengeSample[]): string {
  const pose = samples.map((s) => `${((s.at - v.startedAt) / 1000).toFixed(1)}s:` + (s.face ? `${s.yaw}/${s.pitch}/${s.mouth}/${s.occlusion ?? '-'}/${s.deepfake ?? '-'}` : 'no-face')).join(' ');
  return `${v.state}: ${v.reasons.join(' | ')}\n  steps: ${v.steps.map((s) => `${s.action}=${s.state} (${s.reason})`).join('; ')}\n  samples yaw/pitch/mouth/occlusion/deepfake: ${pose}`;
}

describe('liveness challenge', () => {
  it('a caller who makes the movements asked for PASSES; the caller sees instructions only', { timeout: 120_000 }, async () => {
    const { doctor, sub, prompts, done, leaked, views, samples } = await call('pass', 'real', true);
    const started = await doctor.session.startChallenge(sub);
    expect(started.state).toBe('RUNNING');
    expect(started.steps).toHaveLength(3);
    const v = await verdictOf(views, started.id);
    console.log(describeRun(v, samples));
    expect(v.state).toBe('PASSED');
    expect(v.steps.filter((s) => s.state === 'passed').length).toBeGreaterThanOrEqual(2);
    expect(v.steps.some((s) => s.state === 'failed')).toBe(false);
    // Instructions, in the planned order, then a plain "done": never scores or the verdict.
    expect(prompts.map((p) => p.action)).toEqual(started.steps.map((s) => s.action));
    await waitFor('done notice', () => done.includes(started.id));
    expect(leaked).toEqual([]);
    const callId = server.app.risk.callId('pass')!;
    expect(server.app.audit.challenges(callId)).toMatchObject([{ id: started.id, participantId: sub, requestedBy: 'Dr', result: 'PASSED' }]);
  });

  it('a caller who ignores the instructions FAILS, with the missing movements as reasons', { timeout: 120_000 }, async () => {
    const { doctor, sub, prompts, views, samples } = await call('fail', 'real', false);
    const started = await doctor.session.startChallenge(sub);
    const v = await verdictOf(views, started.id);
    console.log(describeRun(v, samples));
    expect(prompts).toHaveLength(3);
    expect(v.state).toBe('FAILED');
    const failed = v.steps.filter((s) => s.state === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const s of failed) expect(v.reasons).toContain(s.reason);
    expect(v.reasons.join(' ')).toMatch(/Did not|stayed uncovered/);
  });

  it('only privileged roles start checks, only of analysed participants, one at a time; leaving ends it INCONCLUSIVE', { timeout: 60_000 }, async () => {
    const { caller, doctor, sub, views } = await call('rules', 'real', true);
    await expect(caller.session.startChallenge('rules-doc')).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    await expect(doctor.session.startChallenge('rules-doc')).rejects.toMatchObject({ code: ErrorCode.BadRequest });
    await expect(doctor.session.startChallenge('nobody')).rejects.toBeInstanceOf(ProtocolFailure);
    const started = await doctor.session.startChallenge(sub);
    await expect(doctor.session.startChallenge(sub)).rejects.toThrow(/already running/);
    await caller.leave();
    const v = await verdictOf(views, started.id);
    expect(v.state).toBe('INCONCLUSIVE');
    expect(v.reasons[0]).toMatch(/left the call/);
  });
});
