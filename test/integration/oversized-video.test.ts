/**
 * A hostile publisher whose VP8 keyframes claim 16383x16383 (issue 13, item 2), through the real
 * server: a werift client publishes hand-made RTP (a real encoder would not produce it) while a
 * receiver in its call, standing in for the analyzer's decode path (@roamhq/wrtc's libvpx, as
 * the analyzer uses), and a normal call in the next room run in this process. The SFU refuses the
 * stream: the receiver decodes nothing and this process's memory stays within a bound, and the
 * next room's call keeps decoding. On each engine: werift refuses in its forwarder, mediasoup holds
 * the stream through its KeyframeInspector.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import { buildPeerConfig } from '../../server/src/sfu/werift/pcConfig.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import type { Inspection } from '../../server/src/sfu/mediasoup/KeyframeInspector.ts';

let server: TestServer;
let cleanup: Array<() => unknown> = [];

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** One VP8 keyframe in one packet, claiming width x height (the payload after the header is junk). */
function keyframe(width: number, height: number, pictureId: number): Buffer {
  const junk = Buffer.alloc(600, 0x5a);
  return Buffer.concat([
    Buffer.from([0x90, 0x80, 0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff]), // X, S; I with a 15-bit picture ID
    Buffer.from([0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, width & 0xff, width >> 8, height & 0xff, height >> 8]),
    junk,
  ]);
}

/** A werift client publishing hand-made VP8 RTP as a patient in `room`; returns a function sending one frame. */
async function hostilePublisher(room: string, sub: string): Promise<(payload: Buffer) => void> {
  const s = rawSocket(server.url, server.token(room, 'patient', sub, { sub }));
  cleanup.push(() => s.disconnect());
  await connected(s);
  expect((await ask(s, 'join', { room })).ok).toBe(true);
  const pc = new RTCPeerConnection(buildPeerConfig({}));
  cleanup.push(() => pc.close());
  const t = pc.addTransceiver('video', { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await waitFor('ICE gathering', () => pc.iceGatheringState === 'complete', 10000);
  const res = await ask(s, 'publish', { sdp: pc.localDescription!.sdp });
  expect(res.ok, JSON.stringify(res.error)).toBe(true);
  await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp as string });
  await waitFor('the publish connection', () => pc.connectionState === 'connected', 15000);
  let seq = 1000;
  let ts = 0;
  return (payload) => {
    ts += 3000;
    const header = new RtpHeader({ payloadType: t.sender.codec?.payloadType ?? 96, sequenceNumber: seq++ & 0xffff, timestamp: ts, marker: true, ssrc: t.sender.ssrc });
    void t.sender.sendRtp(new RtpPacket(header, payload)).catch(() => undefined);
  };
}

const rssMb = () => process.memoryUsage().rss / 1e6;

/** What the SFU refused of mallory's stream in room demo: the size, and how many packets (werift) or keyframes (mediasoup). */
function refusal(engine: string): { refused: unknown; count: number } {
  const rooms = [...(server.app.engine as unknown as { rooms: Set<{ id: string }> }).rooms];
  const room = rooms.find((r) => r.id === 'demo')!;
  if (engine === 'mediasoup') {
    const i = (room as unknown as { videoInspection(p: string): Inspection | undefined }).videoInspection('mallory');
    return { refused: i?.refused, count: i?.refusals ?? 0 };
  }
  const forwarder = (room as unknown as { forwarders: Set<{ refusedPackets: number; refused: unknown }> }).forwarders.values().next().value!;
  return { refused: forwarder.refused, count: forwarder.refusedPackets };
}

describe.each(ENGINES)('a hostile VP8 stream claiming 16383x16383 (%s)', (engine) => {
  beforeAll(async () => {
    server = await startTestServer({ ROOMS: 'demo,next', SFU_ENGINE: engine });
  });
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
    await server.close();
  });

  it('is refused by the SFU: nothing reaches the decoder, memory stays bounded, the next room is unaffected', async () => {
    // The next room: a normal call, decoding throughout.
    const video = new SyntheticVideo({ paint: solidLuma(90) });
    cleanup.push(() => video.stop());
    const caller = new HeadlessParticipant({ url: server.url, room: 'next', token: server.token('next', 'patient', 'Pat', { sub: 'pat-next' }), tracks: [video.track] });
    const host = new HeadlessParticipant({ url: server.url, room: 'next', token: server.token('next', 'clinician', 'Dr', { sub: 'doc-next' }) });
    await caller.join();
    await host.join();
    cleanup.push(() => caller.leave(), () => host.leave());
    let nextFrames = 0;
    cleanup.push(onVideoFrames((await host.waitForTrack('pat-next', 'video')).track, () => nextFrames++));
    await waitFor('the next room decoding', () => nextFrames > 10, 15000);

    // The hostile call: a receiver decoding what the SFU forwards, as the analyzer would.
    const send = await hostilePublisher('demo', 'mallory');
    const receiver = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'clinician', 'Dr', { sub: 'doc' }) });
    await receiver.join();
    cleanup.push(() => receiver.leave());
    const track = await receiver.waitForTrack('mallory', 'video');
    let decoded = 0;
    cleanup.push(onVideoFrames(track.track, () => decoded++));

    const before = rssMb();
    const nextBefore = nextFrames;
    let peak = before;
    for (let i = 0; i < 90; i++) {
      send(keyframe(16383, 16383, i));
      await new Promise((r) => setTimeout(r, 33));
      peak = Math.max(peak, rssMb());
    }
    await new Promise((r) => setTimeout(r, 500));
    peak = Math.max(peak, rssMb());
    const r = refusal(engine);
    console.log(`oversized stream (${engine}): ${r.count} packets/keyframes refused, decoded ${decoded}, rss ${before.toFixed(0)} -> peak ${peak.toFixed(0)} MB, next room +${nextFrames - nextBefore} frames`);
    expect(r.refused).toEqual({ width: 16383, height: 16383 });
    expect(r.count).toBeGreaterThan(50);
    expect(decoded).toBe(0);
    // One 16383x16383 I420 buffer alone is 400 MB.
    expect(peak - before).toBeLessThan(150);
    expect(nextFrames - nextBefore).toBeGreaterThan(30);
  }, 60_000);
});
