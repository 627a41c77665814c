/**
 * Abuse from one client must earn that client a clear error and leave everyone else's call running.
 * A live two-party call runs through the whole file; the last test checks its media never stopped.
 * The whole file runs once per SFU engine.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import { WrtcPeerConnection } from '../../server/src/headless/wrtc.ts';
import { issueServiceToken } from '../../server/src/auth/token.ts';
import { ErrorCode, MAX_MESSAGE_BYTES } from '../../server/src/protocol/messages.ts';
import { ask, connected, connectError, nextError, rawSocket } from '../helpers/rawClient.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

describe.each(ENGINES)('%s engine', (engine) => {
  let server: TestServer;
  let framesAtPatient = 0;
  const cleanup: Array<() => unknown> = [];

  beforeAll(async () => {
    server = await startTestServer({ MAX_PARTICIPANTS: '4', SFU_ENGINE: engine });
    framesAtPatient = 0;
    const video = new SyntheticVideo({ paint: solidLuma(120) });
    const doctor = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'clinician'), tracks: [video.track] });
    const patient = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient') });
    const d = await doctor.join();
    await patient.join();
    const track = await patient.waitForTrack(d.self.id, 'video');
    cleanup.push(onVideoFrames(track.track, () => framesAtPatient++), () => video.stop(), () => doctor.leave(), () => patient.leave());
    await waitFor('the live call to carry video', () => framesAtPatient > 5);
  });

  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.disconnect();
    await waitFor('abusers to be gone from the demo room', () => server.app.registry.get('demo')?.size === 2);
  });

  afterAll(async () => {
    for (const c of cleanup.splice(0)) await c();
    await server.close();
  });

  async function joinedSocket(role: 'clinician' | 'patient' | 'supervisor' = 'patient', room = 'demo') {
    const s = rawSocket(server.url, server.token(room, role));
    sockets.push(s);
    await connected(s);
    return s;
  }

  describe('bad tokens', () => {
    it.each([
      ['no token', undefined, ErrorCode.TokenMissing],
      ['garbage', 'not-a-token', ErrorCode.TokenMalformed],
      ['forged', 'eyJ2IjoxfQ.AAAA', ErrorCode.TokenBadSignature],
    ])('%s: the connection is refused with a reason', async (_label, token, code) => {
      const s = rawSocket(server.url, token);
      const refusal = await connectError(s);
      expect(refusal.code).toBe(code);
      expect(refusal.message.length).toBeGreaterThan(10);
    });

    it('an expired token is refused as expired', async () => {
      const s = rawSocket(server.url, server.token('demo', 'patient', 'late', { ttlSeconds: -60 }));
      expect((await connectError(s)).code).toBe(ErrorCode.TokenExpired);
    });

    it('a token for one room cannot join another', async () => {
      const s = await joinedSocket('patient', 'demo');
      const res = await ask(s, 'join', { room: 'other' });
      expect(res.error?.code).toBe(ErrorCode.TokenWrongRoom);
    });
  });

  describe('the analyzer control channel', () => {
    it.each<[string, () => string | undefined, string]>([
      ['a user token', () => server.token('demo', 'clinician'), ErrorCode.TokenMalformed],
      ['no token', () => undefined, ErrorCode.TokenMalformed],
      ['a forged service token', () => 'svc.eyJ2IjoxfQ.AAAA', ErrorCode.TokenBadSignature],
    ])('refuses %s', async (_label, token, code) => {
      const s = rawSocket(`${server.url}/analyzer`, token());
      expect((await connectError(s)).code).toBe(code);
    });

    it('drops malformed risk and challenge messages from an analyzer, and keeps listening', async () => {
      const s = rawSocket(`${server.url}/analyzer`, issueServiceToken(server.config.tokenSecret, { ttlSeconds: 60 }));
      sockets.push(s);
      await connected(s);
      const seen: string[] = [];
      const onRisk = () => seen.push('risk');
      const onSample = () => seen.push('sample');
      server.app.hub.on('risk', onRisk);
      server.app.hub.on('challenge-sample', onSample);
      try {
        s.emit('risk', { room: 'demo', update: { participantId: 'x', state: 'PANIC', risk: 2 } });
        s.emit('risk', 'not an object');
        s.emit('challenge.sample', { room: 'demo', participantId: 'x', challengeId: 'c', sample: { at: 1, face: true, yaw: 1e9 } });
        s.emit('challenge.sample', { room: 'demo', participantId: 'x', challengeId: 'c', sample: { at: 1, face: true, extra: 1 } });
        s.emit('challenge.sample', null);
        // A well-formed sample still gets through (for a challenge nobody runs: ChallengeDesk ignores it).
        s.emit('challenge.sample', { room: 'demo', participantId: 'x', challengeId: 'c', sample: { at: 1, face: false } });
        await waitFor('the valid sample', () => seen.length > 0, 5000);
        expect(seen).toEqual(['sample']);
        expect(s.connected).toBe(true);
      } finally {
        server.app.hub.off('risk', onRisk);
        server.app.hub.off('challenge-sample', onSample);
      }
    });

    it('a service principal in a call can neither publish nor end it, and nobody sees it', async () => {
      // Analyzers join only the calls the pool gives them: a principal with no control connection gets none.
      const stranger = rawSocket(server.url, issueServiceToken(server.config.tokenSecret, { ttlSeconds: 60, sub: 'analyzer-stranger' }));
      sockets.push(stranger);
      await connected(stranger);
      expect((await ask(stranger, 'join', { room: 'demo' })).error?.code).toBe(ErrorCode.Forbidden);
      const token = issueServiceToken(server.config.tokenSecret, { ttlSeconds: 60, sub: 'analyzer-svc' });
      const control = rawSocket(`${server.url}/analyzer`, token);
      sockets.push(control);
      await connected(control);
      await waitFor('the pool to give it the call', () => server.app.hub.mayJoin('analyzer-svc', 'demo'), 5000);
      const svc = rawSocket(server.url, token);
      sockets.push(svc);
      await connected(svc);
      const joined = await ask(svc, 'join', { room: 'demo' });
      expect(joined.ok).toBe(true);
      expect(joined.canPublish).toBe(false);
      expect((await ask(svc, 'publish', { sdp: 'v=0\r\n' })).error?.code).toBe(ErrorCode.Forbidden);
      expect((await ask(svc, 'room.close', {})).error?.code).toBe(ErrorCode.Forbidden);
      const pat = await joinedSocket('patient');
      const view = await ask(pat, 'join', { room: 'demo' });
      expect((view.participants as Array<{ role: string }>).map((p) => p.role)).toEqual(['clinician', 'patient']);
      // It follows calls but never opens one.
      const other = rawSocket(server.url, issueServiceToken(server.config.tokenSecret, { ttlSeconds: 60 }));
      sockets.push(other);
      await connected(other);
      expect((await ask(other, 'join', { room: 'not-open' })).error?.code).toBe(ErrorCode.RoomNotFound);
    });
  });

  describe('malformed and oversized messages', () => {
    it.each([
      ['a string payload', 'join', 'demo'],
      ['a wrong type', 'join', { room: 42 }],
      ['an unknown field', 'join', { room: 'demo', isAdmin: true }],
      ['an oversized SDP', 'publish', { sdp: 'v=0\r\n' + 'a'.repeat(100 * 1024) }],
    ])('%s gets BAD_REQUEST on its ack', async (_label, event, payload) => {
      const s = await joinedSocket();
      const res = await ask(s, event, payload);
      expect(res.ok).toBe(false);
      expect(res.error?.code).toBe(ErrorCode.BadRequest);
      expect(res.error?.message).toMatch(new RegExp(event));
    });

    it('a message without an ack gets an error event; so does an unknown event', async () => {
      const s = await joinedSocket();
      const e1 = nextError(s);
      s.emit('join', { room: 7 });
      expect((await e1).code).toBe(ErrorCode.BadRequest);
      const e2 = nextError(s);
      s.emit('make.me.admin', {});
      expect((await e2).message).toMatch(/Unknown event/);
    });

    it('a message over the transport limit drops only that connection', async () => {
      const s = await joinedSocket();
      const gone = new Promise<string>((r) => s.once('disconnect', (reason) => r(reason)));
      s.emit('publish', { sdp: 'x'.repeat(MAX_MESSAGE_BYTES + 1024) });
      expect(await gone).toMatch(/close/);
    });

    it('a flood is rate limited without dropping the connection', async () => {
      const s = await joinedSocket();
      const results = await Promise.all(Array.from({ length: 150 }, () => ask(s, 'media.state', { audio: true, video: true })));
      expect(results.some((r) => r.error?.code === ErrorCode.RateLimited)).toBe(true);
      expect(s.connected).toBe(true);
    });
  });

  describe('protocol misuse', () => {
    it('events before join are refused', async () => {
      const s = await joinedSocket();
      expect((await ask(s, 'publish', { sdp: 'v=0\r\n' })).error?.code).toBe(ErrorCode.NotJoined);
      expect((await ask(s, 'media.state', { audio: true, video: true })).error?.code).toBe(ErrorCode.NotJoined);
    });

    it('garbage SDP and SDP without usable codecs get BAD_SDP', async () => {
      const s = await joinedSocket('clinician');
      expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
      const garbage = await ask(s, 'publish', { sdp: 'this is not sdp' });
      expect(garbage.error?.code).toBe(ErrorCode.BadSdp);
      const noCodecs = [
        'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
        'm=video 9 UDP/TLS/RTP/SAVPF 100', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=sendonly', 'a=rtcp-mux',
        'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=setup:actpass',
        'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
        'a=rtpmap:100 H265/90000', '',
      ].join('\r\n');
      const rejected = await ask(s, 'publish', { sdp: noCodecs });
      expect(rejected.error?.code).toBe(ErrorCode.BadSdp);
      const badAnswer = await ask(s, 'subscribe.answer', { sdp: 'v=0\r\n' });
      expect(badAnswer.error?.code).toBe(ErrorCode.BadSdp);
    });

    it('a supervisor cannot publish; a patient cannot end the call', async () => {
      const sup = await joinedSocket('supervisor');
      expect((await ask(sup, 'join', { room: 'demo' })).ok).toBe(true);
      expect((await ask(sup, 'publish', { sdp: 'v=0\r\n' })).error?.code).toBe(ErrorCode.Forbidden);
      const pat = await joinedSocket('patient');
      expect((await ask(pat, 'join', { room: 'demo' })).ok).toBe(true);
      expect((await ask(pat, 'room.close', {})).error?.code).toBe(ErrorCode.Forbidden);
    });

    it('a client that disconnects while its publish offer is being answered leaves no trace', async () => {
      const pc = new WrtcPeerConnection();
      pc.addTransceiver('video', { direction: 'sendonly' });
      pc.addTransceiver('audio', { direction: 'sendonly' });
      const offer = await pc.createOffer();
      pc.close();
      const s = await joinedSocket('patient');
      expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
      s.emit('publish', { sdp: offer.sdp }, () => undefined);
      s.disconnect();
      await waitFor('the room to forget it', () => server.app.registry.get('demo')!.size === 2);
    });

    it('a client that disconnects mid-negotiation leaves no trace', async () => {
      const s = await joinedSocket('patient');
      expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
      // Its subscribe offer is on the way; it leaves before answering.
      s.disconnect();
      await waitFor('the room to forget it', () => server.app.registry.get('demo')!.size === 2);
    });
  });

  describe('rooms', () => {
    it('a patient cannot open a room that does not exist', async () => {
      const s = rawSocket(server.url, server.token('nowhere', 'patient'));
      sockets.push(s);
      await connected(s);
      expect((await ask(s, 'join', { room: 'nowhere' })).error?.code).toBe(ErrorCode.RoomNotFound);
    });

    it('a host opens a room; a full room refuses the next joiner; an ended call says so', async () => {
      const host = await joinedSocket('clinician', 'r2');
      expect((await ask(host, 'join', { room: 'r2' })).ok).toBe(true);
      const others: Socket[] = [];
      for (let i = 0; i < 3; i++) {
        const p = await joinedSocket('patient', 'r2');
        expect((await ask(p, 'join', { room: 'r2' })).ok).toBe(true);
        others.push(p);
      }
      const extra = await joinedSocket('patient', 'r2');
      expect((await ask(extra, 'join', { room: 'r2' })).error?.code).toBe(ErrorCode.RoomFull);

      const closedNotice = new Promise<{ reason: string }>((r) => others[0]!.once('room.closed', r));
      expect((await ask(host, 'room.close', {})).ok).toBe(true);
      expect((await closedNotice).reason).toMatch(/ended the call/);
      const late = await joinedSocket('patient', 'r2');
      expect((await ask(late, 'join', { room: 'r2' })).error?.code).toBe(ErrorCode.RoomClosed);
    });
  });

  describe('after all of that', () => {
    it('the live call in the demo room is still carrying video', async () => {
      const before = framesAtPatient;
      await waitFor('more frames', () => framesAtPatient > before + 10);
      expect(server.app.registry.get('demo')!.size).toBe(2);
    });
  });
});
