import { describe, expect, it } from 'vitest';
import { SdpError } from '../../server/src/sfu/engine.ts';
import { announceAddress, checkAnswerAcceptsMedia, checkAnswerMatchesOffer, checkPublishOffer } from '../../server/src/sfu/sdp.ts';

const offer = (...media: string[]) => ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', ...media, ''].join('\r\n');

describe('SDP checks', () => {
  it('accepts one audio and one video section', () => {
    expect(() => checkPublishOffer(offer('m=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=sendonly', 'm=video 9 UDP/TLS/RTP/SAVPF 96'))).not.toThrow();
  });

  it.each([
    ['garbage', 'hello world'],
    ['no media', offer()],
    ['a data channel', offer('m=application 9 UDP/DTLS/SCTP webrtc-datachannel')],
    ['two video tracks', offer('m=video 9 UDP/TLS/RTP/SAVPF 96', 'm=video 9 UDP/TLS/RTP/SAVPF 96')],
  ])('refuses %s', (_label, sdp) => {
    expect(() => checkPublishOffer(sdp)).toThrow(SdpError);
  });

  it('notices an answer that rejected every section', () => {
    expect(() => checkAnswerAcceptsMedia(offer('m=video 0 UDP/TLS/RTP/SAVPF 0', 'a=inactive'))).toThrow(/VP8/);
    expect(() => checkAnswerAcceptsMedia(offer('m=video 9 UDP/TLS/RTP/SAVPF 96', 'a=recvonly'))).not.toThrow();
  });

  it('announces the public address in host candidates, keeps loopback, drops duplicates', () => {
    const sdp = offer(
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host',
      'a=candidate:2 1 udp 2130706431 172.17.0.2 40000 typ host',
      'a=candidate:3 1 udp 2130706431 127.0.0.1 40001 typ host',
    );
    const out = announceAddress(sdp, '203.0.113.7');
    expect(out).toContain('a=candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host');
    expect(out).not.toContain('a=candidate:2');
    expect(out).toContain('127.0.0.1 40001');
    expect(announceAddress(sdp, undefined)).toBe(sdp);
  });
});

describe('subscribe answers', () => {
  const ours = offer('m=audio 9 UDP/TLS/RTP/SAVPF 111', 'm=video 9 UDP/TLS/RTP/SAVPF 96');
  it('must answer every section of the offer', () => {
    expect(() => checkAnswerMatchesOffer(ours, ours)).not.toThrow();
    expect(() => checkAnswerMatchesOffer('v=0\r\n', ours)).toThrow(SdpError);
    expect(() => checkAnswerMatchesOffer(offer('m=audio 9 UDP/TLS/RTP/SAVPF 111'), ours)).toThrow(/offer had \[audio, video\]/);
  });
});
