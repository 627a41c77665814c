/**
 * A client that sends a publish offer and never completes ICE and DTLS (gone, firewalled, or never
 * meaning to) is told to restart its media once RTC_CONNECT_TIMEOUT_S has passed, instead of
 * holding a mediasoup transport, and its seat in the call, for as long as its socket stays. A
 * client that connects is never told so. mediasoup engine only (RTC_CONNECT_TIMEOUT_S).
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import { WrtcPeerConnection } from '../../server/src/headless/wrtc.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const LIMIT_S = 2;
let server: TestServer;
const cleanup: Array<() => unknown> = [];

describe.skipIf(!ENGINES.includes('mediasoup'))('a media connection that never comes up (mediasoup)', () => {
  beforeAll(async () => {
    server = await startTestServer({ SFU_ENGINE: 'mediasoup', RTC_CONNECT_TIMEOUT_S: String(LIMIT_S) });
  });

  afterAll(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    await server?.close();
  });

  it(`is restarted after RTC_CONNECT_TIMEOUT_S (${LIMIT_S} s); a connected one is not`, { timeout: 30_000 }, async () => {
    // The control: a caller whose media connects, watched for the same time.
    const video = new SyntheticVideo({ paint: solidLuma(100) });
    const good = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'Good', { sub: 'good' }), tracks: [video.track] });
    const goodRestarts: unknown[] = [];
    cleanup.push(() => video.stop(), () => good.leave());
    await good.join();
    ((good.session as unknown as { socket: Socket }).socket).on('media.restart', (m: unknown) => goodRestarts.push(m));

    // The silent one: a real offer, then nothing.
    const s = rawSocket(server.url, server.token('demo', 'patient', 'Silent', { sub: 'silent' }));
    cleanup.push(() => s.disconnect());
    const restarts: Array<{ reason: string }> = [];
    s.on('media.restart', (m: { reason: string }) => restarts.push(m));
    await connected(s);
    expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
    const pc = new WrtcPeerConnection();
    cleanup.push(() => pc.close());
    pc.addTransceiver('video', { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    const res = await ask(s, 'publish', { sdp: pc.localDescription!.sdp });
    expect(res.ok).toBe(true);
    pc.close(); // never applies the answer: no ICE, no DTLS

    await new Promise((r) => setTimeout(r, (LIMIT_S - 0.5) * 1000));
    expect(restarts).toEqual([]);
    // Its publish connection, and the receive one the server opened for the good caller's video.
    await waitFor('the silent client told to restart both', () => restarts.length >= 2, 5000);
    expect(restarts.map((r) => /publish|subscribe/.exec(r.reason)?.[0]).sort()).toEqual(['publish', 'subscribe']);
    expect(goodRestarts).toEqual([]);
  });
});
