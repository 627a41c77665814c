/**
 * The SFU checks only the ICE candidates its allow-list admits (issue 13, item 15;
 * sfu/candidates.ts): a participant naming other addresses cannot make the server probe them.
 * Observed on real UDP sockets: one on an allowed address receives the SFU's STUN checks, one on a
 * refused address (standing in for a private service or 169.254.169.254) receives nothing. And a
 * client whose own addresses are all refused still connects: its checks reach the server and
 * become peer-reflexive candidates, which are answered. werift only: mediasoup is ICE-lite and
 * sends no checks at all.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'socket.io-client';
import { afterAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import { WrtcPeerConnection } from '../../server/src/headless/wrtc.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function udp(address: string): Promise<{ sock: UdpSocket; port: number; stunRequests: () => number }> {
  const sock = createSocket('udp4');
  let n = 0;
  // A STUN Binding request: type 0x0001 and the magic cookie 0x2112a442.
  sock.on('message', (m) => m.length >= 20 && m.readUInt16BE(0) === 0x0001 && m.readUInt32BE(4) === 0x2112a442 && n++);
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  cleanup.push(() => sock.close());
  return { sock, port: (sock.address() as AddressInfo).port, stunRequests: () => n };
}

describe('ICE candidates the SFU checks', () => {
  it('sends STUN checks to an allowed candidate and none to a refused one', async () => {
    const server: TestServer = await startTestServer({ RTC_ALLOWED_CANDIDATES: 'public,127.0.0.1' });
    cleanup.push(() => server.close());
    const allowed = await udp('127.0.0.1');
    const refused = await udp('127.0.0.3');

    const pc = new WrtcPeerConnection();
    cleanup.push(() => pc.close());
    pc.addTransceiver('video', { direction: 'sendonly' });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const s: Socket = rawSocket(server.url, server.token('demo', 'patient', 'Pat'));
    cleanup.push(() => s.disconnect());
    await connected(s);
    expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
    expect((await ask(s, 'publish', { sdp: offer.sdp })).ok).toBe(true);
    const candidate = (host: string, port: number, n: number) => ({
      candidate: `candidate:${n} 1 udp ${2122260223 - n} ${host} ${port} typ host generation 0`,
      sdpMid: '0',
      sdpMLineIndex: 0,
    });
    expect(await ask(s, 'ice', { target: 'publish', candidate: candidate('127.0.0.3', refused.port, 1) })).toMatchObject({ ok: true });
    expect(await ask(s, 'ice', { target: 'publish', candidate: candidate('169.254.169.254', 80, 2) })).toMatchObject({ ok: true });
    expect(await ask(s, 'ice', { target: 'publish', candidate: candidate('127.0.0.1', allowed.port, 3) })).toMatchObject({ ok: true });
    await waitFor('STUN checks at the allowed address', () => allowed.stunRequests() > 0, 10000);
    // Checks are paced ~50 ms apart and retransmitted: the refused one has had its chance.
    await new Promise((r) => setTimeout(r, 1500));
    expect(refused.stunRequests()).toBe(0);
  });

  it('a client whose addresses are all refused still connects, through peer-reflexive candidates', async () => {
    const server = await startTestServer({ RTC_ALLOWED_CANDIDATES: 'public' });
    cleanup.push(() => server.close());
    const video = new SyntheticVideo({ paint: solidLuma(200) });
    cleanup.push(() => video.stop());
    const sender = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'clinician', 'Dr', { sub: 'doc' }), tracks: [video.track] });
    const receiver = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'Pat', { sub: 'pat' }) });
    await sender.join();
    await receiver.join();
    cleanup.push(() => sender.leave(), () => receiver.leave());
    const t = await receiver.waitForTrack('doc', 'video');
    let frames = 0;
    cleanup.push(onVideoFrames(t.track, () => frames++));
    await waitFor('decoded frames', () => frames >= 5, 15000);
  });
});
