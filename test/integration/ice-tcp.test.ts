/**
 * ICE over TCP on the mediasoup engine (RTC_ICE_TCP=1; off by default): a client whose network
 * blocks UDP, with no TURN relay, still gets its call. Each worker's WebRtcServer listens on TCP
 * as well, and every transport offers a passive TCP candidate ranked below the UDP one.
 *
 * The clients here act as if UDP were blocked: they drop every UDP candidate from the SFU's
 * descriptions (CallSession's mungeRemote), so ICE can only pair over TCP. A publisher and a
 * subscriber doing so still exchange decoded video, and the SFU counts both connections as TCP
 * (dfs_media_connections). Without the setting (the default) the descriptions carry no TCP
 * candidate, and the same clients never connect. What this cannot show: a real firewall, or a
 * browser; Chromium's ICE agent is the same libwebrtc as @roamhq/wrtc's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import type { MediasoupEngine } from '../../server/src/sfu/mediasoup/MediasoupEngine.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

/** The SDP as a client behind a UDP-blocking firewall can use it: TCP candidates only. */
const tcpOnly = (sdp: string): string =>
  sdp
    .split('\r\n')
    .filter((l) => !/^a=candidate:\S+ \d+ udp /i.test(l))
    .join('\r\n');

const candidates = (sdp: string) => sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));

describe.skipIf(!ENGINES.includes('mediasoup'))('ICE over TCP (mediasoup)', () => {
  const stops: Array<() => unknown> = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  async function call(server: TestServer, room: string, keep: (sdp: string) => string = tcpOnly) {
    const seen: string[] = [];
    const munge = (sdp: string) => {
      seen.push(sdp);
      return keep(sdp);
    };
    const video = new SyntheticVideo({ paint: solidLuma(180) });
    const doctor = new HeadlessParticipant({ url: server.url, room, token: server.token(room, 'clinician', 'Dr', { sub: 'doc' }), tracks: [video.track], mungeRemote: munge });
    const patient = new HeadlessParticipant({ url: server.url, room, token: server.token(room, 'patient', 'Pat', { sub: 'pat' }), mungeRemote: munge });
    stops.push(() => video.stop(), () => doctor.leave(), () => patient.leave());
    await doctor.join();
    await patient.join();
    return { doctor, patient, seen };
  }

  it('a caller who can use only TCP candidates publishes, and one who can only use TCP receives, decoded video', async () => {
    const server = await startTestServer({ SFU_ENGINE: 'mediasoup', MEDIASOUP_WORKERS: '1', RTC_ICE_TCP: '1' });
    stops.push(() => server.close());
    const { patient, seen } = await call(server, 'demo');
    const t = await patient.waitForTrack('doc', 'video', 20000);
    let frames = 0;
    stops.push(onVideoFrames(t.track, () => frames++));
    await waitFor('video decoded over TCP', () => frames >= 10, 20000);
    // The SFU's side of it: both transports chose a TCP path, and /metrics says so.
    expect((server.app.engine as MediasoupEngine).mediaConnections()).toEqual({ udp: 0, tcp: 2 });
    const text = await (await fetch(`${server.url.replace('localhost', '127.0.0.1')}/metrics`)).text();
    expect(text).toMatch(/^dfs_media_connections\{protocol="tcp"\} 2$/m);
    expect(text).toMatch(/^dfs_media_connections\{protocol="udp"\} 0$/m);
    // Both directions were offered UDP first and TCP beside it, and the clients kept only TCP.
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const sdp of seen) {
      expect(candidates(sdp).some((l) => / udp /i.test(l))).toBe(true);
      expect(candidates(sdp).some((l) => / tcp .* tcptype passive/i.test(l))).toBe(true);
      expect(candidates(tcpOnly(sdp)).every((l) => / tcp /i.test(l))).toBe(true);
    }
  });

  it('a caller who can use both keeps to UDP (TCP is only the fallback)', async () => {
    const server = await startTestServer({ SFU_ENGINE: 'mediasoup', MEDIASOUP_WORKERS: '1', RTC_ICE_TCP: '1' });
    stops.push(() => server.close());
    const { patient } = await call(server, 'demo', (sdp) => sdp);
    const t = await patient.waitForTrack('doc', 'video', 20000);
    let frames = 0;
    stops.push(onVideoFrames(t.track, () => frames++));
    await waitFor('video decoded', () => frames >= 10, 20000);
    expect((server.app.engine as MediasoupEngine).mediaConnections()).toEqual({ udp: 2, tcp: 0 });
  });

  it('by default the SFU offers UDP only, and a TCP-only caller gets no video', async () => {
    const server = await startTestServer({ SFU_ENGINE: 'mediasoup', MEDIASOUP_WORKERS: '1' });
    stops.push(() => server.close());
    const { patient, seen } = await call(server, 'demo');
    await waitFor('the SFU descriptions', () => seen.length >= 1, 10000);
    for (const sdp of seen) expect(candidates(sdp).some((l) => / tcp /i.test(l))).toBe(false);
    // The subscribe offer arrives, but with no candidate left ICE cannot connect: no frame in 6 s.
    const t = await patient.waitForTrack('doc', 'video', 20000).catch(() => undefined);
    let frames = 0;
    if (t) stops.push(onVideoFrames(t.track, () => frames++));
    await new Promise((r) => setTimeout(r, 6000));
    expect(frames).toBe(0);
  });
});
