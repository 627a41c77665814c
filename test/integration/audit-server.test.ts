/**
 * The audit log in the running server (issue 13, item 14): every dashboard supervisor an alert is
 * sent to is recorded as shown it (also one who connects later and gets it in the snapshot); a
 * second acknowledgement adds to the record and leaves the first standing; /healthz turns 503 when
 * the audit database is deleted.
 */
import { unlinkSync } from 'node:fs';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../server/src/auth/token.ts';
import type { CallSummary } from '../../server/src/protocol/dashboard.ts';
import type { RiskUpdate } from '../../server/src/protocol/messages.ts';
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

function board(sub: string) {
  const s = rawSocket(`${server.url}/dashboard`, issueToken(server.config.tokenSecret, { room: '*', role: 'supervisor', name: sub, sub, ttlSeconds: 600 }));
  sockets.push(s);
  const calls = new Map<string, CallSummary>();
  s.on('snapshot', (list: CallSummary[]) => list.forEach((c) => calls.set(c.room, c)));
  s.on('call', (c: CallSummary) => calls.set(c.room, c));
  return { s, calls };
}

async function joined(room: string, role: 'patient' | 'clinician', sub: string): Promise<Socket> {
  const s = rawSocket(server.url, server.token(room, role, sub, { sub }));
  sockets.push(s);
  await connected(s);
  const res = await ask(s, 'join', { room });
  if (!res.ok) throw new Error(res.error?.message);
  return s;
}

const alertUpdate = (participantId: string): RiskUpdate => ({
  participantId,
  state: 'ALERT',
  risk: 0.9,
  reasons: [{ detector: 'face-deepfake', text: 'The face shows the blending artefacts of face-swap deepfakes.', contribution: 0.9 }],
  gaps: [],
  since: Date.now(),
  at: Date.now(),
});

describe('audit log in the server', () => {
  it('records every dashboard supervisor shown an alert, and keeps every acknowledgement', async () => {
    const ann = board('ann');
    await connected(ann.s);
    await joined('north', 'clinician', 'doc');
    await joined('north', 'patient', 'pat');
    server.app.hub.emit('risk', 'north', alertUpdate('pat'));
    await waitFor('alert on the dashboard', () => ann.calls.get('north')?.lastAlert);
    const alertId = ann.calls.get('north')!.lastAlert!.id;
    // A supervisor who opens the dashboard later sees it in the snapshot.
    const bob = board('bob');
    await connected(bob.s);
    await waitFor('snapshot', () => bob.calls.get('north')?.lastAlert);
    const viewers = () => server.app.audit.alertViews(alertId).map((v) => `${v.viewerId}:${v.viewerRole}`).sort();
    expect(viewers()).toEqual(['ann:supervisor', 'bob:supervisor', 'doc:clinician']);

    expect(await ask(ann.s, 'alert.ack', { room: 'north', alertId, note: 'Checked ID on camera.' })).toEqual({ ok: true });
    expect(await ask(ann.s, 'alert.ack', { room: 'north', alertId })).toEqual({ ok: true });
    expect(await ask(bob.s, 'alert.ack', { room: 'north', alertId, note: 'Disagree: escalate.' })).toEqual({ ok: true });
    expect(server.app.audit.alertAcks(alertId).map((a) => [a.viewerId, a.note])).toEqual([
      ['ann', 'Checked ID on camera.'],
      ['ann', null],
      ['bob', 'Disagree: escalate.'],
    ]);
    expect(server.app.audit.alertViews(alertId).find((v) => v.viewerId === 'ann')?.note).toBe('Checked ID on camera.');
    await waitFor('acked summary', () => ann.calls.get('north')?.lastAlert?.acked);
    expect(ann.calls.get('north')!.lastAlert!.acked).toMatchObject({ by: 'ann', note: 'Checked ID on camera.' });
  });

  it('/healthz is 503 once the audit database file is deleted', async () => {
    const ok = await fetch(`${server.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, audit: { ok: true } });
    unlinkSync(server.config.auditDb);
    await new Promise((r) => setTimeout(r, 1100));
    const bad = await fetch(`${server.url}/healthz`);
    expect(bad.status).toBe(503);
    expect(await bad.json()).toMatchObject({ ok: false, audit: { ok: false, error: expect.stringMatching(/gone/) } });
  });
});
