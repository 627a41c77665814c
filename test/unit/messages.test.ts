import { describe, expect, it } from 'vitest';
import { ClientMessages, MAX_SDP_BYTES } from '../../server/src/protocol/messages.ts';

const ok = (event: keyof typeof ClientMessages, payload: unknown) => ClientMessages[event].safeParse(payload).success;

describe('client message schemas', () => {
  it('accept well-formed messages', () => {
    expect(ok('join', { room: 'demo-1' })).toBe(true);
    expect(ok('publish', { sdp: 'v=0\r\n' })).toBe(true);
    expect(ok('ice', { target: 'publish', candidate: { candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host', sdpMid: '0', sdpMLineIndex: 0 } })).toBe(true);
    expect(ok('media.state', { audio: false, video: true })).toBe(true);
    expect(ok('leave', {})).toBe(true);
  });

  it.each([
    ['join', undefined],
    ['join', 'demo'],
    ['join', { room: '' }],
    ['join', { room: '../etc' }],
    ['join', { room: 'x'.repeat(65) }],
    ['join', { room: 'demo', admin: true }],
    ['publish', { sdp: 42 }],
    ['publish', { sdp: '' }],
    ['publish', { sdp: 'x'.repeat(MAX_SDP_BYTES + 1) }],
    ['ice', { target: 'both', candidate: { candidate: '' } }],
    ['ice', { target: 'publish', candidate: { candidate: 'x'.repeat(2000) } }],
    ['ice', { target: 'publish', candidate: { candidate: '', sdpMLineIndex: -1 } }],
    ['media.state', { audio: 'yes', video: true }],
    ['leave', { reason: 'x' }],
  ] as const)('reject %s %j', (event, payload) => {
    expect(ok(event, payload)).toBe(false);
  });
});
