/**
 * Liveness challenges over real WebRTC with the real models, every part in its own process as in
 * production (server with the embedded analyzer; `npm run simulate` callers): a caller that makes
 * the movements it is asked for passes; one that ignores them, leaves midway or sends no video is
 * inconclusive (ignoring a check is no evidence of a fake). The analysed caller gets instructions only, never a verdict;
 * only privileged roles may start a check; the verdict lands in the audit log.
 *
 * What this can prove: the protocol, the timing, and that the analyzer's pose and occlusion
 * measurements follow movements of a face in video. The movements are image warps of a still
 * (FaceAnimator), not a person: it cannot show how well real head turns are recognised.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChallengePrompt, ChallengeView } from '../../server/src/protocol/challenge.ts';
import { ErrorCode, type RiskUpdate } from '../../server/src/protocol/messages.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { simulateCaller, type SimulatedProcess } from '../helpers/simulate.ts';

let server: TestServer;
const cleanup: Array<() => unknown> = [];
/** Each test's callers stop when it ends: a caller left running would compete for the analyzer. */
const callers: SimulatedProcess[] = [];
afterEach(async () => {
  await Promise.all(callers.splice(0).map((c) => c.stop()));
});

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'embedded' });
  await waitFor('analysis available', () => server.app.hub.status.available, 60000, 200);
}, 90_000);

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await server.close();
});

/** A clinician without media: signaling is all a challenge needs. */
async function clinician(room: string): Promise<{ socket: Socket; views: ChallengeView[]; risk: RiskUpdate[] }> {
  const socket = rawSocket(server.url, server.token(room, 'clinician', 'Dr', { sub: `${room}-doc` }));
  cleanup.push(() => socket.disconnect());
  const views: ChallengeView[] = [];
  const risk: RiskUpdate[] = [];
  socket.on('challenge.update', (v: ChallengeView) => views.push(v));
  socket.on('risk.update', (u: RiskUpdate) => risk.push(u));
  await connected(socket);
  expect((await ask(socket, 'join', { room })).ok).toBe(true);
  return { socket, views, risk };
}

async function start(socket: Socket, participantId: string): Promise<ChallengeView> {
  const res = await ask(socket, 'challenge.start', { participantId });
  if (!res.ok) throw Object.assign(new Error(res.error?.message), { code: res.error?.code });
  return res.challenge as ChallengeView;
}

async function verdictOf(views: ChallengeView[], id: string): Promise<ChallengeView> {
  return waitFor('challenge verdict', () => views.find((v) => v.id === id && v.state !== 'RUNNING'), 45000, 100);
}

function describeRun(v: ChallengeView): string {
  return `${v.state}: ${v.reasons.join(' | ')}\n  steps: ${v.steps.map((s) => `${s.action}=${s.state} (${s.reason})`).join('; ')}`;
}

async function withCaller(room: string, respond: boolean): Promise<{ caller: SimulatedProcess; doctor: Awaited<ReturnType<typeof clinician>> }> {
  const doctor = await clinician(room);
  const caller = simulateCaller(server, { room, sub: `${room}-caller`, clip: 'real', respond });
  callers.push(caller);
  await caller.joined;
  // The analyzer must be judging the caller's face before a check makes sense.
  await waitFor('risk from the caller\'s face', () => doctor.risk.some((u) => u.participantId === caller.sub && u.reasons.some((r) => r.detector === 'face-deepfake')), 60000, 200);
  return { caller, doctor };
}

describe('liveness challenge', () => {
  it('a caller who makes the movements asked for PASSES', { timeout: 150_000 }, async () => {
    const { caller, doctor } = await withCaller('pass', true);
    const started = await start(doctor.socket, caller.sub);
    expect(started).toMatchObject({ state: 'RUNNING', participantId: caller.sub, requestedBy: 'Dr' });
    expect(started.steps).toHaveLength(3);
    const v = await verdictOf(doctor.views, started.id);
    console.log(describeRun(v));
    expect(v.state).toBe('PASSED');
    expect(v.steps.filter((s) => s.state === 'passed').length).toBeGreaterThanOrEqual(2);
    // The caller was shown the instructions, in the planned order.
    const shown = caller.lines.filter((l) => l.includes('challenge ')).map((l) => /"(.*)"/.exec(l)?.[1]);
    expect(shown).toEqual(started.steps.map((s) => s.instruction));
    const callId = server.app.risk.callId('pass')!;
    expect(server.app.audit.callChallenges(callId)).toMatchObject([{ id: started.id, participantId: caller.sub, requestedBy: 'Dr', result: 'PASSED' }]);
  });

  it('a caller who ignores the instructions is INCONCLUSIVE with "ask again", never FAILED or ALERT', { timeout: 150_000 }, async () => {
    const { caller, doctor } = await withCaller('ignore', false);
    const started = await start(doctor.socket, caller.sub);
    const v = await verdictOf(doctor.views, started.id);
    console.log(describeRun(v));
    expect(v.state).toBe('INCONCLUSIVE');
    expect(v.askAgain).toBe(true);
    expect(v.reasons[0]).toMatch(/did not make \d of the 3 movements.*ask again/);
    expect(v.steps.some((s) => s.state === 'failed')).toBe(false);
    expect(v.steps.filter((s) => s.state === 'inconclusive').map((s) => s.reason).join(' ')).toMatch(/Did not|stayed uncovered|other way/);
    // An inconclusive check is no evidence against the caller: a real face does not end in ALERT for ignoring it.
    await new Promise((r) => setTimeout(r, 3000));
    expect(doctor.risk.filter((u) => u.participantId === caller.sub).some((u) => u.state === 'ALERT')).toBe(false);
  });

  it('rules: privileged roles only, analysed participants only, one at a time; the caller sees instructions, never verdicts', { timeout: 60_000 }, async () => {
    const doctor = await clinician('rules');
    // A patient with no camera at all: the check runs and says honestly that it could not judge.
    const patient = rawSocket(server.url, server.token('rules', 'patient', 'Pat', { sub: 'rules-pat' }));
    cleanup.push(() => patient.disconnect());
    const prompts: ChallengePrompt[] = [];
    const done: string[] = [];
    const leaked: string[] = [];
    patient.on('challenge.prompt', (p: ChallengePrompt) => prompts.push(p));
    patient.on('challenge.done', (d: { challengeId: string }) => done.push(d.challengeId));
    for (const e of ['challenge.update', 'risk.update', 'risk.alert']) patient.on(e, () => leaked.push(e));
    await connected(patient);
    expect((await ask(patient, 'join', { room: 'rules' })).ok).toBe(true);

    expect(await ask(patient, 'challenge.start', { participantId: 'rules-doc' })).toMatchObject({ ok: false, error: { code: ErrorCode.Forbidden } });
    expect(await ask(doctor.socket, 'challenge.start', { participantId: 'rules-doc' })).toMatchObject({ ok: false, error: { code: ErrorCode.BadRequest, message: expect.stringMatching(/Only patients and customers/) } });
    expect(await ask(doctor.socket, 'challenge.start', { participantId: 'nobody' })).toMatchObject({ ok: false, error: { code: ErrorCode.BadRequest } });
    expect(await ask(doctor.socket, 'challenge.start', { participantId: 42 })).toMatchObject({ ok: false, error: { code: ErrorCode.BadRequest } });
    const started = await start(doctor.socket, 'rules-pat');
    expect(await ask(doctor.socket, 'challenge.start', { participantId: 'rules-pat' })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/already running/) } });
    const v = await verdictOf(doctor.views, started.id);
    expect(v.state).toBe('INCONCLUSIVE');
    expect(v.reasons[0]).toMatch(/no measurements|No face/);
    expect(prompts.map((p) => p.action)).toEqual(started.steps.map((s) => s.action));
    expect(prompts.every((p) => Object.keys(p).sort().join() === 'action,challengeId,durationMs,instruction,of,step')).toBe(true);
    await waitFor('done notice', () => done.includes(started.id));
    expect(leaked).toEqual([]);

    // Leaving midway ends the check at once.
    const again = await start(doctor.socket, 'rules-pat');
    patient.disconnect();
    const left = await verdictOf(doctor.views, again.id);
    expect(left).toMatchObject({ state: 'INCONCLUSIVE', reasons: [expect.stringMatching(/left the call/)] });
    const callId = server.app.risk.callId('rules')!;
    expect(server.app.audit.callChallenges(callId).map((c) => c.result)).toEqual(['INCONCLUSIVE', 'INCONCLUSIVE']);
  });
});
