/**
 * Token expiry is enforced for the life of a socket, not only when it connects (issue 13, item 9):
 * an open socket cannot join calls after its token expires, and a dashboard socket is disconnected
 * when its token expires. Tokens here are issued in the past so that they expire within ~2 s
 * (30 s of clock skew is tolerated).
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueServiceToken, issueToken, tokenExpiresAt } from '../../server/src/auth/token.ts';
import type { CallSummary } from '../../server/src/protocol/dashboard.ts';
import { ErrorCode, type ProtocolError } from '../../server/src/protocol/messages.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startTestServer({ ROOMS: 'demo,other' });
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await server.close();
});

/** Issued 30 s ago with a 1 s lifetime: accepted now (skew), refused within about 2 s. */
const shortLived = (room: string, role: 'patient' | 'supervisor', sub: string) =>
  issueToken(server.config.tokenSecret, { room, role, name: sub, sub, ttlSeconds: 1, now: Date.now() - 30_000 });

const until = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now()) + 50));

function open(url: string, token: string): Socket {
  const s = rawSocket(url, token);
  sockets.push(s);
  return s;
}

describe('token expiry on open sockets', () => {
  it('an expired token cannot join another call from a socket that is still open; the call it is in runs on', async () => {
    const token = shortLived('demo', 'patient', 'pat-short');
    const s = open(server.url, token);
    await connected(s);
    expect(await ask(s, 'join', { room: 'demo' })).toMatchObject({ ok: true });
    await until(tokenExpiresAt(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())));
    const again = await ask(s, 'join', { room: 'demo' });
    expect(again).toMatchObject({ ok: false, error: { code: ErrorCode.TokenExpired } });
    // The refused join did not end the session already held.
    expect(server.app.registry.get('demo')?.get('pat-short')).toBeDefined();
    expect(s.connected).toBe(true);
  });

  it('an expired service token cannot join a call', async () => {
    const token = issueServiceToken(server.config.tokenSecret, { ttlSeconds: 1, sub: 'analyzer-old', now: Date.now() - 30_000 });
    const s = open(server.url, token);
    await connected(s);
    await until(Date.now() + 2100);
    expect(await ask(s, 'join', { room: 'demo' })).toMatchObject({ ok: false, error: { code: ErrorCode.TokenExpired } });
  });

  it('a dashboard socket is told and disconnected when its token expires; a valid one stays', async () => {
    const lasting = open(`${server.url}/dashboard`, issueToken(server.config.tokenSecret, { room: '*', role: 'supervisor', name: 'Sam', sub: 'sam', ttlSeconds: 600 }));
    const s = open(`${server.url}/dashboard`, shortLived('*', 'supervisor', 'sup-short'));
    const errors: ProtocolError[] = [];
    let reason = '';
    let snapshot: CallSummary[] | undefined;
    s.on('error', (e: ProtocolError) => errors.push(e));
    s.on('disconnect', (r) => (reason = r));
    s.on('snapshot', (list: CallSummary[]) => (snapshot = list));
    await Promise.all([connected(s), connected(lasting)]);
    await waitFor('snapshot', () => snapshot);
    const t0 = Date.now();
    await waitFor('disconnect', () => reason, 5000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(reason).toBe('io server disconnect');
    expect(errors).toContainEqual(expect.objectContaining({ code: ErrorCode.TokenExpired }));
    // A call changing after that reaches the valid dashboard only.
    const seen: string[] = [];
    lasting.on('call', (c: CallSummary) => seen.push(c.room));
    const pat = open(server.url, server.token('other', 'patient', 'Pat', { sub: 'pat-other' }));
    await connected(pat);
    await ask(pat, 'join', { room: 'other' });
    await waitFor('summary', () => seen.includes('other'));
    expect(lasting.connected).toBe(true);
    expect(s.connected).toBe(false);
  });
});
