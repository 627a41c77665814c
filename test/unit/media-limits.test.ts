/**
 * Media limits (issue 13, items 2 and 15): the VP8 keyframe size read before anything decodes it,
 * the SFU's forwarder refusing a stream whose keyframes claim more than the maximum (until one
 * fits), and the ICE candidate allow-list.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { parseCandidatePolicy } from '../../server/src/sfu/candidates.ts';
import { exceedsVideoSize, parseVideoSize, vp8KeyframeSize } from '../../server/src/sfu/vp8.ts';
import { TrackForwarder } from '../../server/src/sfu/werift/TrackForwarder.ts';

/** A VP8 RTP payload: descriptor (X, S, 15-bit picture ID), then a keyframe header of this size, or an interframe's tag. */
function vp8(o: { start: boolean; key?: { width: number; height: number }; pictureId: number }): Buffer {
  const desc = [0x80 | (o.start ? 0x10 : 0), 0x80, 0x80 | ((o.pictureId >> 8) & 0x7f), o.pictureId & 0xff];
  if (!o.start) return Buffer.from([...desc, 0xaa, 0xbb]);
  if (!o.key) return Buffer.from([...desc, 0x01, 0x00, 0x00, 0xaa]);
  const { width, height } = o.key;
  return Buffer.from([...desc, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, width & 0xff, width >> 8, height & 0xff, height >> 8, 0xaa]);
}

describe('VP8 keyframe size', () => {
  it('reads the size a keyframe claims, and nothing from other packets', () => {
    expect(vp8KeyframeSize(vp8({ start: true, key: { width: 640, height: 480 }, pictureId: 1 }))).toEqual({ width: 640, height: 480 });
    expect(vp8KeyframeSize(vp8({ start: true, key: { width: 16383, height: 16383 }, pictureId: 1 }))).toEqual({ width: 16383, height: 16383 });
    expect(vp8KeyframeSize(vp8({ start: true, pictureId: 1 }))).toBeUndefined();
    expect(vp8KeyframeSize(vp8({ start: false, pictureId: 1 }))).toBeUndefined();
    // A truncated keyframe header, or one without the start code, says nothing.
    expect(vp8KeyframeSize(vp8({ start: true, key: { width: 640, height: 480 }, pictureId: 1 }).subarray(0, 10))).toBeUndefined();
    const bad = vp8({ start: true, key: { width: 640, height: 480 }, pictureId: 1 });
    bad[7] = 0x00;
    expect(vp8KeyframeSize(bad)).toBeUndefined();
  });

  it('compares sizes in either orientation', () => {
    const max = parseVideoSize('1920x1080')!;
    expect(exceedsVideoSize({ width: 1920, height: 1080 }, max)).toBe(false);
    expect(exceedsVideoSize({ width: 1080, height: 1920 }, max)).toBe(false);
    expect(exceedsVideoSize({ width: 1921, height: 1080 }, max)).toBe(true);
    expect(exceedsVideoSize({ width: 1200, height: 1200 }, max)).toBe(true);
    expect(exceedsVideoSize({ width: 16383, height: 16383 }, max)).toBe(true);
    expect(parseVideoSize('1920')).toBeUndefined();
    expect(parseVideoSize('20000x10')).toBeUndefined();
  });
});

describe('the SFU refuses oversized video', () => {
  /** A forwarder on a fake werift track and receiver; records what each sink was sent. */
  function forwarder(max = { width: 1920, height: 1080 }) {
    const rtp = new EventEmitter();
    const track = { kind: 'video', ssrc: 1234, onReceiveRtp: { subscribe: (fn: (p: unknown) => void) => (rtp.on('p', fn), { unSubscribe: () => rtp.off('p', fn) }) } };
    const plis: number[] = [];
    const receiver = { sendRtcpPLI: async (ssrc: number) => void plis.push(ssrc) };
    const f = new TrackForwarder('pub', track as never, receiver as never, { maxVideoSize: max });
    const sent: number[] = [];
    const sender = { sendRtp: async (b: Buffer) => void sent.push(b.readUInt16BE(2)) };
    f.addSink(sender as never);
    let seq = 100;
    const push = (payload: Buffer) => {
      const s = seq++;
      const packet = { header: { sequenceNumber: s, timestamp: s * 3000, padding: false, paddingSize: 0 }, payload, serialize: () => Buffer.concat([Buffer.from([0x80, 96, s >> 8, s & 0xff, 0, 0, 0, 0, 0, 0, 0x04, 0xd2]), payload]) };
      rtp.emit('p', packet);
      return s;
    };
    return { f, sent, push };
  }

  it('drops a stream from its first oversized keyframe until a keyframe that fits, and says so', () => {
    const { f, sent, push } = forwarder();
    const refusals: unknown[] = [];
    f.on('refused', (size) => refusals.push(size));
    const ok1 = push(vp8({ start: true, key: { width: 640, height: 480 }, pictureId: 1 }));
    const ok2 = push(vp8({ start: true, pictureId: 2 }));
    // The hostile part: a 16383x16383 keyframe (two packets), then interframes referencing it.
    push(vp8({ start: true, key: { width: 16383, height: 16383 }, pictureId: 3 }));
    push(vp8({ start: false, pictureId: 3 }));
    push(vp8({ start: true, pictureId: 4 }));
    push(vp8({ start: true, key: { width: 16383, height: 16383 }, pictureId: 5 }));
    expect(f.refused).toEqual({ width: 16383, height: 16383 });
    // Back to a size within the maximum (portrait 1080x1920 fits 1920x1080).
    const ok3 = push(vp8({ start: true, key: { width: 1080, height: 1920 }, pictureId: 6 }));
    const ok4 = push(vp8({ start: true, pictureId: 7 }));
    expect(sent).toEqual([ok1, ok2, ok3, ok4]);
    expect(f.refusedPackets).toBe(4);
    expect(f.refused).toBeUndefined();
    expect(refusals).toEqual([{ width: 16383, height: 16383 }]);
  });

  it('honours a configured maximum', () => {
    const { sent, push } = forwarder({ width: 640, height: 480 });
    push(vp8({ start: true, key: { width: 1280, height: 720 }, pictureId: 1 }));
    push(vp8({ start: true, pictureId: 2 }));
    expect(sent).toEqual([]);
  });
});

describe('ICE candidate allow-list', () => {
  it('by default allows public and loopback addresses only', () => {
    const p = parseCandidatePolicy('public,loopback');
    for (const a of ['8.8.8.8', '203.0.114.9', '2a00:1450:4001::1', '127.0.0.1', '127.0.0.53', '::1']) expect([a, p.allows(a)]).toEqual([a, true]);
    for (const a of [
      '169.254.169.254', // cloud metadata
      '169.254.1.1',
      'fe80::1',
      '10.0.0.1',
      '172.16.5.4',
      '172.31.255.255',
      '192.168.1.10',
      '100.64.0.1',
      'fd00::1',
      '0.0.0.0',
      '224.0.0.251',
      '255.255.255.255',
      '::',
      '::ffff:169.254.169.254', // IPv4-mapped is judged as IPv4
      '::ffff:10.0.0.1',
      'abcd.local', // an unresolved mDNS name
      'metadata.google.internal',
    ]) expect([a, p.allows(a)]).toEqual([a, false]);
  });

  it('takes classes, CIDRs and single addresses', () => {
    const p = parseCandidatePolicy('private, 169.254.10.0/24, 2001:db8::5');
    expect(p.allows('192.168.0.7')).toBe(true);
    expect(p.allows('169.254.10.3')).toBe(true);
    expect(p.allows('169.254.169.254')).toBe(false);
    expect(p.allows('2001:db8::5')).toBe(true);
    expect(p.allows('8.8.8.8')).toBe(false);
    expect(p.allows('127.0.0.1')).toBe(false);
    expect(parseCandidatePolicy('link-local').allows('169.254.169.254')).toBe(true);
    for (const bad of ['', 'intranet', '10.0.0.0/33', '10.0.0.0/8/1', 'fe80::/x']) expect(() => parseCandidatePolicy(bad)).toThrow();
  });
});
