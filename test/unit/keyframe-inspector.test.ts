/**
 * The mediasoup engine's size cap (sfu/mediasoup/KeyframeInspector.ts) on hand-made RTP: a track
 * is held until a keyframe within the cap, held again by an oversized one, and for good after
 * MAX_REFUSALS; the RTP payload is found behind CSRCs, header extensions and padding.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { KeyframeInspector, MAX_REFUSALS, rtpPayload } from '../../server/src/sfu/mediasoup/KeyframeInspector.ts';

/** An RTP packet carrying the first packet of a VP8 keyframe claiming width x height (or a delta frame). */
function packet(size: { width: number; height: number } | 'delta', opts: { csrcs?: number; extensionWords?: number; padding?: number } = {}): Buffer {
  const { csrcs = 0, extensionWords = 0, padding = 0 } = opts;
  const header = Buffer.alloc(12 + 4 * csrcs);
  header[0] = 0x80 | (extensionWords ? 0x10 : 0) | (padding ? 0x20 : 0) | csrcs;
  const ext = extensionWords ? Buffer.concat([Buffer.from([0xbe, 0xde, 0, extensionWords]), Buffer.alloc(4 * extensionWords, 0x11)]) : Buffer.alloc(0);
  const vp8 =
    size === 'delta'
      ? Buffer.from([0x10, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0])
      : Buffer.from([0x10, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, size.width & 0xff, size.width >> 8, size.height & 0xff, size.height >> 8]);
  const pad = padding ? Buffer.concat([Buffer.alloc(padding - 1), Buffer.from([padding])]) : Buffer.alloc(0);
  return Buffer.concat([header, ext, vp8, Buffer.alloc(40, 0x5a), pad]);
}

async function watched() {
  const consumer = new EventEmitter() as EventEmitter & { type: string };
  consumer.type = 'simple';
  const producer = { id: 'p1', closed: false, observer: new EventEmitter() };
  const inspector = new KeyframeInspector({ width: 1920, height: 1080 });
  const changes: boolean[] = [];
  inspector.on('change', (_id, allowed) => changes.push(allowed));
  await inspector.watch({ consume: async () => consumer } as never, { rtpCapabilities: {} } as never, producer as never);
  return { inspector, send: (b: Buffer) => consumer.emit('rtp', b), changes, producer };
}

describe('KeyframeInspector', () => {
  it('finds the payload behind CSRCs, a header extension and padding', () => {
    const p = rtpPayload(packet({ width: 640, height: 480 }, { csrcs: 2, extensionWords: 3, padding: 4 }))!;
    expect([...p.subarray(0, 2)]).toEqual([0x10, 0x50]);
    expect(p.length).toBe(11 + 40);
    expect(rtpPayload(Buffer.from([0x40, 0, 0]))).toBeUndefined();
  });

  it('holds a track until a keyframe within the cap; an oversized one holds it again; after MAX_REFUSALS for good', async () => {
    const { inspector, send, changes } = await watched();
    expect(inspector.allowed('p1')).toBe(false);
    send(packet({ width: 16383, height: 16383 }));
    expect(inspector.allowed('p1')).toBe(false);
    send(packet('delta'));
    send(packet({ width: 1280, height: 720 }));
    expect(inspector.allowed('p1')).toBe(true);
    // A portrait phone fits a landscape cap.
    send(packet({ width: 1080, height: 1920 }));
    expect(inspector.allowed('p1')).toBe(true);
    send(packet({ width: 4096, height: 2160 }));
    expect(inspector.allowed('p1')).toBe(false);
    for (let i = 2; i < MAX_REFUSALS; i++) {
      send(packet({ width: 640, height: 480 }));
      expect(inspector.allowed('p1')).toBe(true);
      send(packet({ width: 16383, height: 16383 }, { extensionWords: 2 }));
    }
    send(packet({ width: 640, height: 480 }));
    expect(inspector.allowed('p1')).toBe(false);
    expect(inspector.inspection('p1')).toMatchObject({ refusals: MAX_REFUSALS, refused: { width: 16383, height: 16383 } });
    expect(changes[0]).toBe(true);
    expect(changes.at(-1)).toBe(false);
  });

  it('fails open when the inspecting consumer cannot be made, and forgets a closed producer', async () => {
    const inspector = new KeyframeInspector({ width: 1920, height: 1080 });
    const producer = { id: 'p2', closed: false, observer: new EventEmitter() };
    await inspector.watch({ consume: async () => Promise.reject(new Error('no')) } as never, { rtpCapabilities: {} } as never, producer as never);
    expect(inspector.allowed('p2')).toBe(true);
    producer.observer.emit('close');
    expect(inspector.inspection('p2')).toBeUndefined();
  });
});
