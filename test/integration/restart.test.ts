/**
 * A server restart must not lock anyone out of a call they were in (issue 13 item 6): a graceful
 * shutdown tells every call (room.closed, marked as a shutdown), the sessions reconnect by
 * themselves, and a caller back before the host waits for the host (no final ROOM_NOT_FOUND) and is
 * in the call the moment the host reopens it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant } from '../../server/src/headless/HeadlessParticipant.ts';
import type { SessionState } from '../../server/src/protocol/CallSession.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const SECRET = randomBytes(32).toString('hex');
const open: Array<{ close(): Promise<void> } | HeadlessParticipant> = [];

afterAll(async () => {
  for (const o of open.reverse()) await ('session' in o ? o.leave() : o.close()).catch(() => undefined);
});

async function server(port = '0'): Promise<TestServer> {
  const s = await startTestServer({ TOKEN_SECRET: SECRET, PORT: port });
  open.push(s);
  return s;
}

describe('server restart', () => {
  it('a graceful shutdown tells every call; a caller back before the host waits, and joins when the host reopens the call', async () => {
    const first = await server();
    const port = new URL(first.url).port;
    const token = first.token('r1', 'patient', 'Pat', { sub: 'pat', ttlSeconds: 600 });
    const hostToken = first.token('r1', 'clinician', 'Doc', { sub: 'doc', ttlSeconds: 600 });

    // The host opens the call; the patient (a headless caller that waits for its host) joins.
    const host = new HeadlessParticipant({ url: first.url, token: hostToken, room: 'r1' });
    open.push(host);
    await host.join();
    const patient = new HeadlessParticipant({ url: first.url, token, room: 'r1', waitForHost: true });
    open.push(patient);
    await patient.join();
    const states: SessionState[] = [];
    patient.session.on('state', (st) => states.push(st));
    const warnings: string[] = [];
    patient.session.on('warning', (e) => warnings.push(e.message));
    // A bare socket in the call sees the message itself.
    const watcher = rawSocket(first.url, first.token('r1', 'supervisor', 'Sup', { ttlSeconds: 600 }));
    await connected(watcher);
    expect((await ask(watcher, 'join', { room: 'r1' })).ok).toBe(true);
    const notice = new Promise<{ reason: string; shutdown?: boolean }>((r) => watcher.once('room.closed', r));

    // Graceful shutdown (what SIGTERM runs); the host's client does not come back for now.
    await first.app.close();
    expect(await notice).toMatchObject({ shutdown: true, reason: expect.stringMatching(/restarting or shutting down/) });
    watcher.close();
    await host.leave();
    expect(warnings.some((w) => /restarting or shutting down/.test(w))).toBe(true);
    expect(patient.session.state).not.toBe('ended');

    // The server comes back on the same port; the patient reconnects before the host: it waits.
    const second = await server(port);
    await waitFor('the patient to wait for the host', () => patient.session.state === 'waiting', 20_000);
    expect(states).not.toContain('failed');
    expect(states).not.toContain('ended');

    // The host rejoins: the patient is told the call opened and is in it at once.
    const host2 = new HeadlessParticipant({ url: second.url, token: hostToken, room: 'r1' });
    open.push(host2);
    const reopened = Date.now();
    await host2.join();
    await waitFor('the patient back in the call', () => patient.session.state === 'joined', 10_000);
    // room.opened, not the retry timer (up to 5 s), brought it in.
    expect(Date.now() - reopened).toBeLessThan(1500);
    expect(second.app.registry.get('r1')?.get('pat')).toBeDefined();
  });
});
