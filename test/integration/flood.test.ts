/**
 * One link flooding the server (issue 13, item 4): a token opened 500 sockets, and 10 sockets
 * looping join/leave wrote 15,280 audit rows in 3 minutes and two info log lines per cycle. Now a
 * token holds at most MAX_CONNECTIONS_PER_TOKEN connections (a clear refusal past that), rejoins
 * coalesce in the audit log, and joins and leaves log at debug.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { issueToken } from '../../server/src/auth/token.ts';
import { ErrorCode } from '../../server/src/protocol/messages.ts';
import { ask, connectError, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startTestServer({ MAX_CONNECTIONS_PER_TOKEN: '3' });
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await waitFor('the room to empty', () => server.app.registry.get('demo')?.size === 0);
});

afterAll(async () => {
  await server.close();
});

function open(token: string, nsp = ''): Socket {
  const s = rawSocket(`${server.url}${nsp}`, token);
  sockets.push(s);
  return s;
}

it('a token holds at most MAX_CONNECTIONS_PER_TOKEN connections, with a clear refusal past that', async () => {
  const token = server.token('demo', 'patient', 'Pat');
  for (let i = 0; i < 3; i++) await connected(open(token));
  // Past the cap, at once and in parallel: every one refused, none slips through.
  const refusals = await Promise.all(Array.from({ length: 5 }, () => connectError(open(token))));
  for (const r of refusals) {
    expect(r.code).toBe(ErrorCode.RateLimited);
    expect(r.message).toMatch(/already open in 3 windows or devices/);
  }
  // Another link is not affected.
  await connected(open(server.token('demo', 'patient', 'Someone else')));
  // Closing one frees its place (once the server has seen it go).
  sockets[0]!.disconnect();
  const end = Date.now() + 5000;
  for (;;) {
    const s = open(token);
    try {
      await connected(s);
      break;
    } catch (err) {
      expect((err as { code?: string }).code).toBe(ErrorCode.RateLimited);
      if (Date.now() > end) throw new Error('the freed place was never given back');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

it('the dashboard namespace is capped the same way', async () => {
  const token = issueToken(server.config.tokenSecret, { room: '*', role: 'supervisor', name: 'Sam', ttlSeconds: 600 });
  for (let i = 0; i < 3; i++) await connected(open(token, '/dashboard'));
  expect((await connectError(open(token, '/dashboard'))).code).toBe(ErrorCode.RateLimited);
});

it('looping join/leave writes one audit row per person and no info log lines', async () => {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    lines.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    const s = open(server.token('demo', 'patient', 'Looper', { sub: 'looper' }));
    await connected(s);
    for (let i = 0; i < 20; i++) {
      expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
      expect((await ask(s, 'leave', {})).ok).toBe(true);
    }
  } finally {
    process.stdout.write = write;
  }
  const callId = server.app.risk.callId('demo');
  if (callId === undefined) throw new Error('no call for demo');
  const rows = server.app.audit.callParticipants(callId).filter((p) => p.participantId === 'looper');
  expect(rows).toHaveLength(1);
  expect(rows[0]?.leftAt).not.toBeNull();
  expect(lines.filter((l) => /\[signaling\] (joined|left)/.test(l))).toEqual([]);
});
