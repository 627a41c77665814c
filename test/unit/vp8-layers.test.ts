/**
 * The SFU's VP8 temporal-layer filter: which frames a capped subscriber gets, and that what it
 * gets is renumbered into a gapless stream (sequence numbers and picture IDs) a decoder accepts.
 */
import { describe, expect, it } from 'vitest';
import { parseVp8Descriptor, TemporalLayerFilter } from '../../server/src/sfu/vp8.ts';
import { withLegacyTemporalLayers } from '../../server/src/headless/vp8Layers.ts';
import { chooseTemporalLayer } from '../../server/src/analyzer/streams.ts';

/** A VP8 payload: descriptor with a 15-bit picture ID, TL0PICIDX and TID/Y, then one payload byte. */
function packet(o: { pictureId: number; tl0: number; tid: number; sync?: boolean; start: boolean; key?: boolean }): Uint8Array {
  return Uint8Array.from([
    0x80 | (o.start ? 0x10 : 0) | (o.tid === 2 ? 0x20 : 0), // X, N (TL2 is non-reference), S
    0xe0, // I, L, T
    0x80 | ((o.pictureId >> 8) & 0x7f),
    o.pictureId & 0xff,
    o.tl0,
    (o.tid << 6) | (o.sync ? 0x20 : 0),
    o.key ? 0x00 : 0x01, // P bit: 0 = keyframe
  ]);
}

/** An L1T3 stream: frames with TIDs 0,2,1,2,..., two packets each; TL1 layer-sync every other cycle. */
function stream(frames: number) {
  const out: Array<{ seq: number; ts: number; payload: Uint8Array; tid: number; pictureId: number }> = [];
  let seq = 65530; // wraps
  let tl0 = 250;
  for (let f = 0; f < frames; f++) {
    const tid = [0, 2, 1, 2][f % 4]!;
    if (tid === 0 && f > 0) tl0 = (tl0 + 1) & 0xff;
    const pictureId = (32760 + f) & 0x7fff; // wraps
    for (let k = 0; k < 2; k++) {
      out.push({ seq: seq & 0xffff, ts: f * 6000, tid, pictureId, payload: packet({ pictureId, tl0, tid, sync: tid === 1 && f % 8 === 2, start: k === 0, key: f === 0 && k === 0 }) });
      seq++;
    }
  }
  return out;
}

function run(filter: TemporalLayerFilter, packets: ReturnType<typeof stream>, onFrame?: (i: number) => void) {
  const kept: Array<{ seq: number; tid: number; pictureId: number }> = [];
  packets.forEach((p, i) => {
    onFrame?.(i);
    const payload = p.payload.slice();
    const d = filter.filter(p.seq, p.ts, payload);
    if (!d.forward) return;
    const desc = parseVp8Descriptor(payload)!;
    kept.push({ seq: d.sequenceNumber, tid: desc.tid!, pictureId: ((payload[2]! & 0x7f) << 8) | payload[3]! });
  });
  return kept;
}

function gapless(values: number[], modulo: number): boolean {
  return values.every((v, i) => i === 0 || v === (values[i - 1]! + 1) % modulo);
}

describe('VP8 temporal-layer filter', () => {
  it('parses the payload descriptor', () => {
    const d = parseVp8Descriptor(packet({ pictureId: 300, tl0: 7, tid: 1, sync: true, start: true, key: false }))!;
    expect(d).toMatchObject({ frameStart: true, tid: 1, layerSync: true, keyframe: false, pictureIdOffset: 2, pictureIdBits: 15 });
    expect(parseVp8Descriptor(Uint8Array.from([0x10, 0x00]))).toMatchObject({ tid: undefined, keyframe: true });
  });

  it('keeps only the base layer, renumbered without gaps', () => {
    const kept = run(new TemporalLayerFilter(0), stream(40));
    expect(kept.every((k) => k.tid === 0)).toBe(true);
    expect(kept.length).toBe(20); // 10 frames of 2 packets
    expect(gapless(kept.map((k) => k.seq), 0x10000)).toBe(true);
    expect(gapless(kept.filter((_, i) => i % 2 === 0).map((k) => k.pictureId), 0x8000)).toBe(true);
  });

  it('forwards everything at the top layer, unchanged', () => {
    const s = stream(12);
    const kept = run(new TemporalLayerFilter(3), s);
    expect(kept.map((k) => k.seq)).toEqual(s.map((p) => p.seq));
    expect(kept.map((k) => k.pictureId)).toEqual(s.map((p) => p.pictureId));
  });

  it('switches up only at a layer-sync frame, down at once, and stays gapless across both', () => {
    const s = stream(40);
    const filter = new TemporalLayerFilter(0);
    const kept = run(filter, s, (i) => {
      if (i === 8) filter.setMaxTemporalLayer(1); // frame 4: next TL1 sync frame is frame 10
      if (i === 48) filter.setMaxTemporalLayer(0); // frame 24
    });
    expect(filter.switchPending).toBe(false);
    const tl1 = kept.filter((k) => k.tid === 1);
    expect(tl1.length).toBeGreaterThan(0);
    expect(kept.filter((k) => k.tid === 2)).toHaveLength(0);
    expect(gapless(kept.map((k) => k.seq), 0x10000)).toBe(true);
    const pictures = kept.filter((_, i) => i % 2 === 0).map((k) => k.pictureId);
    expect(gapless(pictures, 0x8000)).toBe(true);
    // TL1 frames kept: 10 (the first layer-sync one after the request, not 6), 14, 18, 22; none after 24.
    expect(tl1.length / 2).toBe(4);
  });

  it('does not forward a packet older than one already seen (it cannot be renumbered)', () => {
    const s = stream(8);
    const filter = new TemporalLayerFilter(0);
    const order = [0, 1, 2, 3, 4, 5, 3, 6, 7, 8, 9, 1, 10, 11, 12, 13, 14, 15];
    const kept: number[] = [];
    for (const i of order) {
      const p = s[i]!;
      const d = filter.filter(p.seq, p.ts, p.payload.slice());
      if (d.forward) kept.push(d.sequenceNumber);
    }
    expect(filter.latePackets).toBe(2);
    // Frames 0 and 4 (base layer), two packets each, still gapless.
    expect(kept).toHaveLength(4);
    expect(gapless(kept, 0x10000)).toBe(true);
  });

  it('passes streams without temporal layers whole', () => {
    const filter = new TemporalLayerFilter(0);
    for (let f = 0; f < 10; f++) expect(filter.filter(f, f * 3000, Uint8Array.from([0x10, 0x01])).forward).toBe(true);
    expect(filter.unlayeredFrames).toBe(10);
  });
});

describe('legacy temporal layers for wrtc publishers', () => {
  it('declares a two-SSRC simulcast group with RTX on the video section only', () => {
    const sdp = [
      'v=0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=ssrc:1 cname:c',
      'm=video 9 UDP/TLS/RTP/SAVPF 96 97',
      'a=ssrc-group:FID 10 11',
      'a=ssrc:10 cname:c',
      'a=ssrc:10 msid:s t',
      'a=ssrc:11 cname:c',
      'a=ssrc:11 msid:s t',
      '',
    ].join('\r\n');
    const out = withLegacyTemporalLayers(sdp).split('\r\n');
    expect(out).toContain('a=ssrc:1 cname:c');
    const sim = out.find((l) => l.startsWith('a=ssrc-group:SIM'))!.split(' ').slice(1);
    expect(sim).toHaveLength(2);
    expect(out.filter((l) => l.startsWith('a=ssrc-group:FID'))).toHaveLength(2);
    expect(out.filter((l) => / msid:s t$/.test(l))).toHaveLength(4);
    expect(out[out.length - 1]).toBe('');
  });
});

describe('the temporal layer the analyzer asks for', () => {
  it('is the lowest that still brings the sampling rate, judged from the rate at the current layer', () => {
    // A 30 fps camera: the base layer (7.5 fps) serves 2 and 6 fps; 8 fps needs base + TL1.
    expect(chooseTemporalLayer(0, 7.5, 2)).toBe(0);
    expect(chooseTemporalLayer(0, 7.5, 6)).toBe(0);
    expect(chooseTemporalLayer(0, 7.5, 8)).toBe(1);
    // A 12 fps camera: base (3 fps) serves 2 fps; 6 fps needs every layer.
    expect(chooseTemporalLayer(0, 3, 2)).toBe(0);
    expect(chooseTemporalLayer(0, 3, 6)).toBe(2);
    // Measured at the top layer, back down when the need drops.
    expect(chooseTemporalLayer(2, 12, 2)).toBe(0);
    // A stream without layers arrives whole at layer 0: it looks fast enough and stays there.
    expect(chooseTemporalLayer(0, 15, 6)).toBe(0);
    // Near the need it does not flap: 2.0 fps measured for 2 needed stays; 5 at TL1 goes down to
    // 2.5 only while that is 10% over the need (the same spare the way up asks for).
    expect(chooseTemporalLayer(0, 2, 2)).toBe(0);
    expect(chooseTemporalLayer(1, 5, 2)).toBe(0);
    expect(chooseTemporalLayer(1, 5, 2.3)).toBe(1);
    // A 15 fps camera that dipped (TL1 short of 6, so every frame) and now delivers 14 of its 15
    // fps: back to TL1 (7 fps), which brings the landmark detectors' 6 (with 20% spare it stayed).
    expect(chooseTemporalLayer(1, 5.5, 6)).toBe(2);
    expect(chooseTemporalLayer(2, 14, 6)).toBe(1);
    expect(chooseTemporalLayer(1, 7, 6)).toBe(1);
  });
});
