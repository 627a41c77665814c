/**
 * GET /api/join-check: the page's look at a join link before it asks for the camera. Bad, tampered,
 * expired and wrong-room links are refused with the code the socket join would give; a good one
 * learns whether its call is open, not started or ended; nothing is said about other calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../server/src/auth/token.ts';
import { ALL_ROOMS } from '../../server/src/protocol/dashboard.ts';
import { JOIN_CHECK_PATH } from '../../server/src/protocol/joinCheck.ts';
import { ErrorCode } from '../../server/src/protocol/messages.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ ROOMS: 'demo' });
});
afterAll(async () => {
  await server?.close();
});

async function check(room: string, token: string | undefined, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${JOIN_CHECK_PATH}?room=${encodeURIComponent(room)}`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  expect(res.headers.get('cache-control') ?? 'no-store').toBe('no-store');
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? ((await res.json()) as Record<string, unknown>) : {} };
}

describe('join-link check', () => {
  it('refuses bad links with the same codes as the join', async () => {
    const good = server.token('demo', 'patient', 'Pat');
    const cases: Array<[string | undefined, string, string]> = [
      [undefined, 'demo', ErrorCode.TokenMissing],
      ['not-a-token', 'demo', ErrorCode.TokenMalformed],
      [good.slice(0, -3) + 'AAA', 'demo', ErrorCode.TokenBadSignature],
      [server.token('demo', 'patient', 'Late', { ttlSeconds: -120 }), 'demo', ErrorCode.TokenExpired],
      [server.token('other', 'patient'), 'demo', ErrorCode.TokenWrongRoom],
    ];
    for (const [token, room, code] of cases) {
      const r = await check(room, token);
      expect(r.status, code).toBe(401);
      expect(r.body).toMatchObject({ ok: false, error: { code } });
    }
    expect((await check('no spaces allowed', good)).status).toBe(400);
    expect((await check('demo', good, 'POST')).status).toBe(405);
  });

  it('tells a good link whether its call is open, not started or ended', async () => {
    expect(await check('demo', server.token('demo', 'patient', 'Pat'))).toMatchObject({ status: 200, body: { ok: true, role: 'patient', name: 'Pat', room: 'demo', call: 'open' } });
    expect((await check('clinic-7', server.token('clinic-7', 'patient', 'Early'))).body).toMatchObject({ ok: true, call: 'not-started' });
    // A dashboard token may open any call.
    const board = issueToken(server.config.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name: 'Sam', sub: 'sam', ttlSeconds: 60 });
    expect((await check('clinic-7', board)).body).toMatchObject({ ok: true, role: 'supervisor', call: 'not-started' });

    // The host opens the call, then ends it.
    const host = rawSocket(server.url, server.token('clinic-7', 'clinician', 'Dr', { sub: 'dr' }));
    await connected(host);
    expect((await ask(host, 'join', { room: 'clinic-7' })).ok).toBe(true);
    expect((await check('clinic-7', server.token('clinic-7', 'patient', 'Early'))).body).toMatchObject({ call: 'open' });
    expect((await ask(host, 'room.close', {})).ok).toBe(true);
    expect((await check('clinic-7', server.token('clinic-7', 'patient', 'Early'))).body).toMatchObject({ call: 'ended' });
    host.close();
  });
});
