/**
 * socket.io's long-polling fallback (the browser app's second transport, for proxies that block
 * WebSocket upgrades). The app's own request handler used to answer /socket.io/ with a 404 before
 * socket.io did, which broke polling and logged an ERR_HTTP_HEADERS_SENT stack for every such
 * request, from anyone, without a token.
 */
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ask, connectError, connected } from '../helpers/rawClient.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const errors: string[] = [];
const stderrWrite = process.stderr.write.bind(process.stderr);
const consoleError = console.error;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startTestServer();
  // Everything the process reports as a problem while these tests run: the server's warn/error
  // lines, Node's warnings, console.error.
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    errors.push(String(chunk));
    return stderrWrite(chunk, ...rest);
  }) as typeof process.stderr.write;
  console.error = (...args: unknown[]) => {
    errors.push(args.map(String).join(' '));
    consoleError(...args);
  };
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.disconnect();
});

afterAll(async () => {
  process.stderr.write = stderrWrite;
  console.error = consoleError;
  await server.close();
});

function pollingSocket(token: unknown): Socket {
  const s = io(server.url, { auth: { token }, transports: ['polling'], reconnection: false, forceNew: true });
  sockets.push(s);
  return s;
}

it('a client on long-polling joins a call and hears who else joins', async () => {
  const doctor = pollingSocket(server.token('demo', 'clinician', 'Dr Poll'));
  await connected(doctor);
  expect(doctor.io.engine.transport.name).toBe('polling');
  const joined = await ask(doctor, 'join', { room: 'demo' });
  expect(joined.ok).toBe(true);

  const seen = new Promise<{ name: string }>((resolve) => doctor.once('participant.joined', resolve));
  const patient = pollingSocket(server.token('demo', 'patient', 'Pat Poll'));
  await connected(patient);
  expect((await ask(patient, 'join', { room: 'demo' })).ok).toBe(true);
  expect((await seen).name).toBe('Pat Poll');
  expect(server.app.registry.get('demo')?.size).toBe(2);
  expect(errors).toEqual([]);
});

it('unauthenticated polling requests get socket.io answers and log nothing', async () => {
  // An engine.io handshake needs no token (the token is checked when the namespace is joined).
  const open = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  expect(open.status).toBe(200);
  const body = await open.text();
  expect(body.startsWith('0{')).toBe(true);
  // Unknown session, bad transport, no query at all: engine.io's own 400s, not our 404 page.
  for (const path of ['/socket.io/?EIO=4&transport=polling&sid=bogus', '/socket.io/?EIO=4&transport=carrier-pigeon', '/socket.io/']) {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status, path).toBe(400);
    await res.text();
  }
  // A polling client without a token is refused at the namespace, with a reason.
  const anon = pollingSocket(undefined);
  expect((await connectError(anon)).code).toBe('TOKEN_MISSING');
  // Give any late write (a second response on the same request) time to surface.
  await new Promise((r) => setTimeout(r, 200));
  expect(errors).toEqual([]);
});

it('only /socket.io/ is socket.io\'s: the app still answers the rest', async () => {
  const res = await fetch(`${server.url}/socket.iox`);
  expect(res.status).toBe(404);
  expect(await res.text()).toBe('not found\n');
});
