/**
 * A clinician who joins mid-call, or rejoins after a dropped connection, gets the call's alerts
 * (with their acknowledgements) along with everyone's current risk: an alert raised while they
 * were away still waits for them, and the audit log records them as shown it.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RiskAlert, RiskUpdate } from '../../server/src/protocol/messages.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const sockets: Socket[] = [];
beforeAll(async () => {
  server = await startTestServer({ ROOMS: 'north' });
});
afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await server.close();
});

async function joined(role: 'patient' | 'clinician', sub: string, seen?: { alerts: RiskAlert[]; acked: string[]; updates: RiskUpdate[] }): Promise<Socket> {
  const s = rawSocket(server.url, server.token('north', role, sub, { sub }));
  sockets.push(s);
  if (seen) {
    s.on('risk.alert', (a: RiskAlert) => seen.alerts.push(a));
    s.on('risk.alert.acked', (a: { alertId: string }) => seen.acked.push(a.alertId));
    s.on('risk.update', (u: RiskUpdate) => seen.updates.push(u));
  }
  await connected(s);
  const res = await ask(s, 'join', { room: 'north' });
  if (!res.ok) throw new Error(res.error?.message);
  return s;
}

const update = (participantId: string, state: RiskUpdate['state']): RiskUpdate => ({
  participantId,
  state,
  risk: state === 'ALERT' ? 0.9 : 0.1,
  reasons: [{ detector: 'face-deepfake', text: 'Face-swap artefacts.', contribution: 0.9, score: 0.95 }],
  gaps: [],
  since: Date.now(),
  at: Date.now(),
});

it('replays the call\'s alerts and acknowledgements to a privileged participant who joins later', async () => {
  const first = { alerts: [] as RiskAlert[], acked: [] as string[], updates: [] as RiskUpdate[] };
  const doc = await joined('clinician', 'doc', first);
  await joined('patient', 'pat');
  await joined('patient', 'pat2');
  server.app.hub.emit('risk', 'north', update('pat', 'ALERT'));
  server.app.hub.emit('risk', 'north', update('pat2', 'ALERT'));
  await waitFor('both alerts', () => first.alerts.length === 2);
  const [a1, a2] = first.alerts;
  expect(await ask(doc, 'alert.ack', { alertId: a1!.id, note: 'Checked ID.' })).toEqual({ ok: true });

  const late = { alerts: [] as RiskAlert[], acked: [] as string[], updates: [] as RiskUpdate[] };
  await joined('clinician', 'late-doc', late);
  await waitFor('the replay', () => late.alerts.length === 2 && late.acked.length === 1 && late.updates.length === 2);
  expect(late.alerts.map((a) => a.id)).toEqual([a1!.id, a2!.id]);
  expect(late.acked).toEqual([a1!.id]);
  // Shown to the late joiner: the one still waiting for acknowledgement.
  expect(server.app.audit.alertViews(a2!.id).map((v) => v.viewerId)).toContain('late-doc');
  // The analysed side never gets any of it.
  const pat3 = { alerts: [] as RiskAlert[], acked: [] as string[], updates: [] as RiskUpdate[] };
  await joined('patient', 'pat3', pat3);
  await new Promise((r) => setTimeout(r, 300));
  expect(pat3).toEqual({ alerts: [], acked: [], updates: [] });
});
