/**
 * SDP the engine itself refuses: the client gets BAD_SDP with a message in the product's terms,
 * never the engine's internals (werift answered a duplicated a=mid with "Cannot read properties of
 * undefined (reading 'iceParams')"); the server log keeps the engine's words for the operator.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ErrorCode } from '../../server/src/protocol/messages.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const logged: string[] = [];
const stderrWrite = process.stderr.write.bind(process.stderr);
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startTestServer();
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    logged.push(String(chunk));
    return stderrWrite(chunk, ...rest);
  }) as typeof process.stderr.write;
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.disconnect();
});

afterAll(async () => {
  process.stderr.write = stderrWrite;
  await server.close();
});

const HEAD = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0'];

/** Each passes our own structural checks (sfu/sdp.ts) and is refused inside the engine. */
const REFUSED_BY_ENGINE: Array<[string, string]> = [
  ['two sections with one a=mid', [...HEAD, 'a=group:BUNDLE 0 1', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', 'a=rtpmap:96 VP8', 'm=audio 9 RTP 1', 'a=mid:0', ''].join('\r\n')],
  ['a malformed m= line', [...HEAD, 'm=video x y z', ''].join('\r\n')],
];

it.each(REFUSED_BY_ENGINE)('%s: BAD_SDP in plain words, the engine\'s own error only in the server log', async (_label, sdp) => {
  const s = rawSocket(server.url, server.token('demo', 'patient'));
  sockets.push(s);
  await connected(s);
  expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
  logged.length = 0;
  const res = await ask(s, 'publish', { sdp });
  expect(res.error?.code).toBe(ErrorCode.BadSdp);
  const message = res.error?.message ?? '';
  expect(message).toMatch(/^The publish offer was refused: the server could not negotiate it/);
  // Nothing of the engine's own text reaches the client.
  expect(message).not.toMatch(/undefined|iceParams|m line not found|werift|TypeError/i);
  // ...but the operator can see why.
  expect(logged.join('')).toMatch(/SDP refused by the engine .*detail=/);
  // And the connection is still usable: a corrected offer could follow.
  expect((await ask(s, 'media.state', { audio: false, video: false })).ok).toBe(true);
});
