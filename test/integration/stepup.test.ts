/**
 * Step-up by policy through the real server: room types from ROOM_TYPES, automatic checks started
 * by the risk the analyzer reports, run by the ChallengeDesk, prompted to the caller, judged, and
 * audited like manual ones. The analyzer is scripted over its real control channel (no media, no
 * models): it reports risk, and, while a check observes the caller, per-frame measurements of a
 * face that does what each prompt asks, turning to a profile view; for one caller the face
 * classifier breaks down during the turns, as a live face swap does. Seconds of CPU, not minutes:
 * the detection itself is covered by the models' own tests.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChallengeAction, ChallengePrompt, ChallengeSample, ChallengeView } from '../../server/src/protocol/challenge.ts';
import type { RiskState, RiskUpdate } from '../../server/src/protocol/messages.ts';
import type { RoomType } from '../../server/src/protocol/roles.ts';
import { ask, connected, rawSocket, scriptedAnalyzer } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let analyzer: Socket;
const sockets: Socket[] = [];
/** What each caller's face is doing now (the scripted analyzer reports it), and whether its face classifier breaks under strain. */
const callers = new Map<string, { prompt?: ChallengePrompt & { until: number }; breaks: boolean; responds: boolean }>();

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'external', ROOM_TYPES: 'kyc-*=kyc,tele-*=telehealth,quiet-*=off', ROOM_TYPE_DEFAULT: 'off', ANALYZER_STALL_MS: '5000' });
  analyzer = scriptedAnalyzer(server.url, server.config.tokenSecret);
  await connected(analyzer);
  const observing = new Map<string, NodeJS.Timeout>();
  analyzer.on('observe', (o: { room: string; participantId: string; challengeId: string }) => {
    const timer = setInterval(() => analyzer.emit('challenge.sample', { room: o.room, participantId: o.participantId, challengeId: o.challengeId, sample: frame(o.participantId) }), 150);
    observing.set(o.challengeId, timer);
  });
  analyzer.on('unobserve', (o: { challengeId: string }) => clearInterval(observing.get(o.challengeId)));
  await waitFor('analysis available', () => server.app.hub.status.available, 10_000);
}, 30_000);

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  analyzer?.disconnect();
  await server?.close();
});

/** One measured frame of the caller's face: frontal and at rest, or making the movement prompted. */
function frame(participantId: string): ChallengeSample {
  const c = callers.get(participantId);
  const rest: ChallengeSample = { at: Date.now(), face: true, yaw: -3, pitch: -2, mouth: 0.55, presence: 1, occlusion: 0.1, deepfake: 0.2, spoof: 0.1 };
  const p = c?.prompt;
  if (!c || !p || !c.responds || Date.now() > p.until) return rest;
  const strained = c.breaks ? { deepfake: 0.85 } : {};
  const moves: Record<ChallengeAction, Partial<ChallengeSample>> = {
    'turn-left': { yaw: 50, ...strained },
    'turn-right': { yaw: -55, ...strained },
    'cover-face': { presence: 0.2, occlusion: 0.8, ...strained },
    'look-up': { pitch: 14 },
    smile: { mouth: 0.7 },
  };
  return { ...rest, ...moves[p.action] };
}

function risk(room: string, participantId: string, state: RiskState): void {
  const update: RiskUpdate = { participantId, state, risk: state === 'CLEAR' ? 0.1 : 0.6, reasons: [{ detector: 'face-deepfake', text: 'The face looks real.', contribution: 0.2 }], gaps: [], since: Date.now(), at: Date.now() };
  analyzer.emit('risk', { room, update });
}

async function call(room: string, breaks = false, responds = true, roomType?: RoomType) {
  const doctor = rawSocket(server.url, server.token(room, 'clinician', 'Dr', { sub: `${room}-doc`, ...(roomType ? { roomType } : {}) }));
  sockets.push(doctor);
  await connected(doctor);
  expect((await ask(doctor, 'join', { room })).ok).toBe(true);
  // The host opened the call; now the caller.
  const patient = rawSocket(server.url, server.token(room, 'patient', 'Pat', { sub: `${room}-pat` }));
  sockets.push(patient);
  const views: ChallengeView[] = [];
  const prompts: ChallengePrompt[] = [];
  const leaked: string[] = [];
  doctor.on('challenge.update', (v: ChallengeView) => views.push(v));
  patient.on('challenge.update', () => leaked.push('challenge.update'));
  callers.set(`${room}-pat`, { breaks, responds });
  patient.on('challenge.prompt', (p: ChallengePrompt) => {
    prompts.push(p);
    callers.get(`${room}-pat`)!.prompt = { ...p, until: Date.now() + p.durationMs - 500 };
  });
  await connected(patient);
  expect((await ask(patient, 'join', { room })).ok).toBe(true);
  return { views, prompts, leaked, pat: `${room}-pat` };
}

const verdict = (views: ChallengeView[]) => waitFor('verdict', () => views.find((v) => v.state !== 'RUNNING'), 40_000, 100);
const describeRun = (v: ChallengeView) => `${v.state}: ${v.reasons.join(' | ')}; steps: ${v.steps.map((s) => `${s.action}=${s.state}`).join(', ')}`;

describe('step-up by policy', () => {
  it('KYC rooms check the customer at join; the check FAILS a face whose classifier breaks during the turn, PASSES one that holds, and asks again for one who does not move', { timeout: 60_000 }, async () => {
    const [holds, breaks, still] = await Promise.all([call('kyc-a'), call('kyc-b', true), call('kyc-c', true, false)]);
    // Nothing before the analyzer has seen the face.
    await new Promise((r) => setTimeout(r, 500));
    expect(holds.views).toEqual([]);
    risk('kyc-a', holds.pat, 'CLEAR');
    risk('kyc-b', breaks.pat, 'CLEAR');
    risk('kyc-c', still.pat, 'CLEAR');
    const started = await waitFor('automatic check', () => holds.views.find((v) => v.state === 'RUNNING'), 5000);
    expect(started).toMatchObject({ trigger: 'join', participantId: holds.pat, requestedBy: 'the kyc room policy (at join)' });
    const [a, b, c] = await Promise.all([verdict(holds.views), verdict(breaks.views), verdict(still.views)]);
    console.log(`holds: ${describeRun(a)}\nbreaks: ${describeRun(b)}\nstill: ${describeRun(c)}`);
    // Not moving is no evidence of a fake (even for a face that would break if it turned).
    expect(c).toMatchObject({ state: 'INCONCLUSIVE', askAgain: true });
    expect(a.state).toBe('PASSED');
    expect(b.state).toBe('FAILED');
    expect(b.reasons[0]).toMatch(/broke down while turning/);
    // The caller was prompted (at least one movement swaps break on) and never saw a verdict.
    expect(holds.prompts.map((p) => p.action)).toEqual(a.steps.map((s) => s.action));
    expect(holds.prompts.some((p) => ['turn-left', 'turn-right'].includes(p.action))).toBe(true);
    expect(holds.leaked).toEqual([]);
    // Audited like a manual check; more CLEAR updates do not start another.
    risk('kyc-a', holds.pat, 'CLEAR');
    await new Promise((r) => setTimeout(r, 300));
    expect(server.app.audit.callChallenges(server.app.risk.callId('kyc-a')!)).toMatchObject([{ id: a.id, requestedBy: 'the kyc room policy (at join)', result: 'PASSED' }]);
    expect(server.app.challenges.active().filter((v) => v.participantId === holds.pat)).toEqual([]);
  });

  it('a telehealth room checks only on SUSPICIOUS, a disabled room never; the opening host\'s token can name the type', { timeout: 30_000 }, async () => {
    const [tele, quiet, claimed] = await Promise.all([call('tele-a'), call('quiet-a'), call('visit-a', false, true, 'kyc')]);
    // "visit-a" matches no ROOM_TYPES pattern (default off), but the host who opened it said KYC.
    risk('visit-a', claimed.pat, 'CLEAR');
    await waitFor('check at join from the claim', () => claimed.views.find((v) => v.trigger === 'join' && v.state === 'RUNNING'), 5000);
    for (const s of ['CLEAR', 'CLEAR'] as const) risk('tele-a', tele.pat, s);
    await new Promise((r) => setTimeout(r, 500));
    expect(tele.views).toEqual([]);
    risk('tele-a', tele.pat, 'SUSPICIOUS');
    await waitFor('check on suspicion', () => tele.views.find((v) => v.trigger === 'suspicious' && v.state === 'RUNNING'), 5000);
    for (const s of ['CLEAR', 'SUSPICIOUS', 'ALERT'] as const) risk('quiet-a', quiet.pat, s);
    await new Promise((r) => setTimeout(r, 1000));
    expect(quiet.views).toEqual([]);
    expect(server.app.challenges.active().filter((v) => v.participantId === quiet.pat)).toEqual([]);
  });
});
