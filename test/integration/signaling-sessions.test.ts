/**
 * Signaling holes found in a review (3 Dec 2026), each with a test that failed before its fix: a second
 * join by the only person in a call (a reload racing its disconnect, or a rejoin after a media
 * failure) closed the call; a session replaced by another connection kept acting in the call; an
 * event sent with only an ack never had it answered; the embedded engine took any number of
 * publish offers per session (each new one added tracks every subscriber received).
 */
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WrtcPeerConnection } from '../../server/src/headless/wrtc.ts';
import { ErrorCode } from '../../server/src/protocol/messages.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const sockets: Socket[] = [];

beforeAll(async () => {
  // The embedded engine (werift), whatever SFU_ENGINE says: the publish test is about it.
  server = await startTestServer({ ROOMS: 'demo', SFU_ENGINE: 'werift' });
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.disconnect();
});
afterAll(async () => {
  await server.close();
});

type Role = 'patient' | 'clinician' | 'supervisor';

async function open(room: string, role: Role, sub: string): Promise<Socket> {
  const s = rawSocket(server.url, server.token(room, role, sub, { sub }));
  sockets.push(s);
  await connected(s);
  return s;
}

async function joined(room: string, role: Role, sub: string): Promise<Socket> {
  const s = await open(room, role, sub);
  const r = await ask(s, 'join', { room });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return s;
}

/** A send-only audio+video offer from a real WebRTC stack, its mids renamed (a fresh set each call). */
async function publishOffer(tag: string): Promise<string> {
  const pc = new WrtcPeerConnection();
  pc.addTransceiver('video', { direction: 'sendonly' });
  pc.addTransceiver('audio', { direction: 'sendonly' });
  const offer = await pc.createOffer();
  pc.close();
  return offer.sdp!.replace(/a=mid:(\d)/g, `a=mid:${tag}$1`).replace(/a=group:BUNDLE 0 1/, `a=group:BUNDLE ${tag}0 ${tag}1`);
}

describe('the same identity joining again', () => {
  it('from another connection, by the only person in a call a host opened: the new session takes over and the call goes on', async () => {
    await joined('r-reload', 'clinician', 'dr-reload');
    const room = server.app.registry.get('r-reload')!;
    const callId = server.app.risk.callId('r-reload');
    // The page reloads; its new connection joins before the server has noticed the old one die.
    const again = await open('r-reload', 'clinician', 'dr-reload');
    const res = await ask(again, 'join', { room: 'r-reload' });
    expect(res.error).toBeUndefined();
    expect(res.ok).toBe(true);
    expect(room.closed).toBe(false);
    expect(server.app.registry.get('r-reload')).toBe(room);
    expect(server.app.risk.callId('r-reload')).toBe(callId);
    expect((await ask(again, 'media.state', { audio: true, video: false })).ok).toBe(true);
  });

  it('from the same connection (a rejoin after a media failure), by the only person left: the call goes on', async () => {
    const host = await joined('r-restart', 'clinician', 'dr-restart');
    const room = server.app.registry.get('r-restart')!;
    const callId = server.app.risk.callId('r-restart');
    expect((await ask(host, 'join', { room: 'r-restart' })).ok).toBe(true);
    expect(room.closed).toBe(false);
    expect(server.app.registry.get('r-restart')).toBe(room);
    expect(server.app.risk.callId('r-restart')).toBe(callId);
  });

  it('in a room that stays open (ROOMS), the sole person reloading is the same call in the audit and on the dashboard, not a second sitting', async () => {
    await joined('demo', 'clinician', 'dr-persist');
    await waitFor('call open in audit', () => server.app.risk.callId('demo') !== undefined);
    const callId = server.app.risk.callId('demo');
    const again = await open('demo', 'clinician', 'dr-persist');
    expect((await ask(again, 'join', { room: 'demo' })).ok).toBe(true);
    expect(server.app.risk.callId('demo')).toBe(callId);
    expect(server.app.audit.call(callId!)?.closedAt ?? null).toBeNull();
  });

  it('a session replaced by another connection can no longer act in the call (it would overwrite the live session\'s state for everyone)', async () => {
    const host = await joined('demo', 'clinician', 'dr-replaced');
    const old = await joined('demo', 'patient', 'pat-replaced');
    const replaced = new Promise<void>((r) => old.once('session.replaced', () => r()));
    await joined('demo', 'patient', 'pat-replaced');
    await replaced;
    const seen: Array<{ id: string; video: boolean }> = [];
    host.on('participant.updated', (p: { id: string; video: boolean }) => seen.push(p));
    const res = await ask(old, 'media.state', { audio: false, video: false });
    expect(res.error?.code).toBe(ErrorCode.NotJoined);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
    expect(server.app.registry.get('demo')!.get('pat-replaced')!.video).toBe(true);
  });
});

describe('acks', () => {
  it('an event sent with only an ack (no payload) gets its answer on that ack', async () => {
    const s = await joined('demo', 'patient', 'pat-noargs');
    const res = (await s.timeout(3000).emitWithAck('room.close')) as { ok: boolean; error?: { code: string } };
    expect(res.ok).toBe(false);
    expect(res.error?.code).toBeDefined();
  });

  it('on the dashboard too: an alert.ack sent with only an ack is answered on it', async () => {
    const s = rawSocket(`${server.url}/dashboard`, server.token('*', 'supervisor', 'Sup'));
    sockets.push(s);
    await connected(s);
    const res = (await s.timeout(3000).emitWithAck('alert.ack')) as { ok: boolean; error?: { code: string } };
    expect(res.ok).toBe(false);
    expect(res.error?.code).toBe(ErrorCode.BadRequest);
  });
});

describe('publishing (embedded engine)', () => {
  it('a session publishes once: a second offer (fresh m-sections) is refused, and subscribers get no more tracks from it', async () => {
    await joined('demo', 'clinician', 'dr-pub');
    const p = await joined('demo', 'patient', 'pat-pub');
    expect((await ask(p, 'publish', { sdp: await publishOffer('a') })).ok).toBe(true);
    const results = [];
    for (const tag of ['b', 'c', 'd']) results.push(await ask(p, 'publish', { sdp: await publishOffer(tag) }));
    for (const r of results) expect(r.error?.code).toBe(ErrorCode.BadSdp);
    const room = server.app.registry.get('demo')!;
    const publisher = room.get('pat-pub')!.peer as unknown as { published: Set<unknown> };
    expect(publisher.published.size).toBeLessThanOrEqual(2);
    const host = room.get('dr-pub')!.peer as unknown as { subscriptions: Map<{ publisherId: string }, unknown> };
    await new Promise((r) => setTimeout(r, 300));
    expect([...host.subscriptions.keys()].filter((f) => f.publisherId === 'pat-pub').length).toBeLessThanOrEqual(2);
  });

  it('two publish offers at once on one session: one is answered, the other refused', async () => {
    const p = await joined('demo', 'patient', 'pat-race');
    const [a, b] = await Promise.all([ask(p, 'publish', { sdp: await publishOffer('e') }), ask(p, 'publish', { sdp: await publishOffer('f') })]);
    expect([a.ok, b.ok].filter(Boolean).length).toBe(1);
    const publisher = server.app.registry.get('demo')!.get('pat-race')!.peer as unknown as { published: Set<unknown> };
    await waitFor('tracks', () => publisher.published.size > 0);
    expect(publisher.published.size).toBeLessThanOrEqual(2);
  });
});

