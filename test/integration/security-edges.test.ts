/**
 * Edges a caller or a stranger can reach, found in a security review (3 Dec 2026): a request path
 * that is not a URL, a malformed room id, a flood of unknown events, layer choices for people not
 * in the call, and case records of sittings the reader took no part in.
 */
import { connect } from 'node:net';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const sockets: Socket[] = [];
const uncaught: unknown[] = [];
const onUncaught = (e: unknown) => uncaught.push(e);

beforeAll(async () => {
  server = await startTestServer({ ROOMS: 'demo' });
  process.prependListener('uncaughtException', onUncaught);
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  for (const s of sockets) s.disconnect();
  await server.close();
});

/** A raw HTTP/1.1 GET, for paths fetch() would normalise. */
function raw(path: string, timeoutMs = 3000): Promise<string> {
  const { port } = new URL(server.url);
  return new Promise((resolve) => {
    const c = connect(Number(port), '127.0.0.1');
    let out = '';
    const t = setTimeout(() => {
      c.destroy();
      resolve(out || '<no response>');
    }, timeoutMs);
    c.on('data', (d) => (out += d.toString()));
    c.on('end', () => {
      clearTimeout(t);
      resolve(out || '<closed without response>');
    });
    c.on('error', () => undefined);
    c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

async function joined(role: 'patient' | 'clinician', sub: string, name = sub): Promise<Socket> {
  const s = rawSocket(server.url, server.token('demo', role, name, { sub }));
  sockets.push(s);
  await connected(s);
  expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
  return s;
}

describe('HTTP edges', () => {
  it('a request path that is not a URL ("//") is answered 400, and nothing throws in the server', async () => {
    const before = uncaught.length;
    for (const path of ['//', '///', '//a:99999']) expect(await raw(path)).toMatch(/^HTTP\/1\.1 400/);
    expect(uncaught.length - before).toBe(0);
  });

  it('a token in the query of a request that fails is not written to the log', async () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      lines.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      expect(await raw('//a:99999?token=SECRET-TOKEN-123')).toMatch(/^HTTP\/1\.1 400/);
    } finally {
      process.stderr.write = write;
    }
    expect(lines.some((l) => l.includes('request failed'))).toBe(true);
    expect(lines.join('')).not.toContain('SECRET-TOKEN-123');
  });

  it('a malformed percent-escape in an /api/ room id is a 400, not a 500', async () => {
    const r = await fetch(`${server.url}/api/calls/%E0%A4%A/records`, { headers: { authorization: `Bearer ${server.token('demo', 'clinician')}` } });
    expect(r.status).toBe(400);
  });

  it('a clinician\'s link to a room reads the case records of the calls they took part in, not an earlier sitting\'s (another clinician, another patient)', async () => {
    const c1 = await joined('clinician', 'dr-earlier', 'Dr Earlier');
    const p1 = await joined('patient', 'patient-earlier', 'Alice Private');
    await waitFor('call open in audit', () => server.app.risk.callId('demo') !== undefined);
    const firstCall = server.app.risk.callId('demo')!;
    p1.disconnect();
    c1.disconnect();
    await waitFor('room empty', () => server.app.registry.get('demo')!.people === 0);
    const get = (path: string, token: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

    const later = server.token('demo', 'clinician', 'Dr Later', { sub: 'dr-later' });
    const list = (await (await get('/api/calls/demo/records', later)).json()) as { calls: Array<{ id: number }> };
    expect(list.calls.map((c) => c.id)).not.toContain(firstCall);
    const rec = await get(`/api/calls/demo/record?call=${firstCall}`, later);
    expect(rec.status).toBe(404);
    expect(await rec.text()).not.toContain('Alice Private');
    expect((await get('/api/calls/demo/record', later)).status).toBe(404);
    // The clinician who held it, and the dashboard's all-calls link, still read it.
    const own = await get(`/api/calls/demo/record?call=${firstCall}`, server.token('demo', 'clinician', 'Dr Earlier', { sub: 'dr-earlier' }));
    expect(own.status).toBe(200);
    expect(await own.text()).toContain('Alice Private');
    expect((await get(`/api/calls/demo/record?call=${firstCall}`, server.token('*', 'supervisor', 'Sup'))).status).toBe(200);
  });
});

describe('a caller\'s socket', () => {
  it('a burst of 2000 unknown events is rate-limited like known ones: answered up to the limit, then dropped', async () => {
    const s = await joined('patient', 'flooder');
    const codes: string[] = [];
    s.on('error', (e: { code: string }) => codes.push(e.code));
    for (let i = 0; i < 2000; i++) s.emit(`nope${i}`, {});
    // Then a known event: answered RATE_LIMITED or ok, and the socket still works.
    await new Promise((r) => setTimeout(r, 1500));
    expect(codes.length).toBeGreaterThan(0);
    expect(codes.length).toBeLessThan(200);
    expect(s.connected).toBe(true);
  });

  it('layer choices for people not in the call are accepted but not kept (one entry each for the whole call, otherwise)', async () => {
    const s = await joined('patient', 'layers');
    for (let i = 0; i < 50; i++) expect((await ask(s, 'media.layers', { participantId: `ghost-${'x'.repeat(100)}-${i}`, maxTemporalLayer: 1 })).ok).toBe(true);
    const peer = server.app.registry.get('demo')!.get('layers')!.peer as unknown as { layerOverrides: Map<string, number> };
    expect(peer.layerOverrides.size).toBe(0);
  });
});
