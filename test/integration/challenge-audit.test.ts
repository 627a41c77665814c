/**
 * Review of the liveness check through the real server (scripted analyzer, no media): a check
 * cut short by the host ending the call must still reach the audit log.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChallengeView } from '../../server/src/protocol/challenge.ts';
import { ask, connected, rawSocket, scriptedAnalyzer } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let analyzer: Socket;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'external', ROOM_TYPE_DEFAULT: 'off' });
  analyzer = scriptedAnalyzer(server.url, server.config.tokenSecret);
  await connected(analyzer);
  await waitFor('analysis available', () => server.app.hub.status.available, 10_000);
}, 30_000);

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  analyzer?.disconnect();
  await server?.close();
});

describe('review: liveness check and the audit log', () => {
  it('a check cut short because the host ended the call is audited, INCONCLUSIVE with why', { timeout: 30_000 }, async () => {
    const room = 'zz-close';
    const doctor = rawSocket(server.url, server.token(room, 'clinician', 'Dr', { sub: `${room}-doc` }));
    sockets.push(doctor);
    await connected(doctor);
    expect((await ask(doctor, 'join', { room })).ok).toBe(true);
    const patient = rawSocket(server.url, server.token(room, 'patient', 'Pat', { sub: `${room}-pat` }));
    sockets.push(patient);
    await connected(patient);
    expect((await ask(patient, 'join', { room })).ok).toBe(true);
    const ends: ChallengeView[] = [];
    server.app.challenges.on('update', (r, v) => r === room && v.state !== 'RUNNING' && ends.push(v));
    const res = await ask(doctor, 'challenge.start', { participantId: `${room}-pat` });
    expect(res.ok).toBe(true);
    const started = res.challenge as ChallengeView;
    const callId = server.app.risk.callId(room)!;
    expect(callId).toBeDefined();
    expect((await ask(doctor, 'room.close', {})).ok).toBe(true);
    const ended = await waitFor('check ended', () => ends.find((v) => v.id === started.id), 5000);
    expect(ended).toMatchObject({ state: 'INCONCLUSIVE', reasons: ['The call ended during the check.'] });
    await new Promise((r) => setTimeout(r, 200));
    expect(server.app.audit.callChallenges(callId)).toMatchObject([{ id: started.id, result: 'INCONCLUSIVE', reasons: ['The call ended during the check.'] }]);
  });
});
