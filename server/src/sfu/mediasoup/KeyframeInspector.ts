/**
 * The size cap (RTC_MAX_VIDEO_SIZE, issue 13 item 2) on the mediasoup engine. mediasoup forwards
 * inside its C++ worker, where no Node code sees payloads, so each video producer gets one extra
 * consumer on a DirectTransport, base temporal layer only (keyframes are always in it), whose
 * packets come to Node; the first packet of every keyframe says the size it claims (sfu/vp8.ts).
 *
 * - A video track is held (its subscribers' consumers stay paused) until a keyframe within the cap
 *   has been seen: a publisher whose first keyframe claims 16383x16383 reaches no decoder.
 * - An oversized keyframe later (a publisher that first sent a normal one) holds the track again
 *   at once; the inspector sees packets after the worker forwarded them, so at most that one
 *   keyframe gets through each time. A later keyframe within the cap releases it, but after
 *   MAX_REFUSALS the track stays held for as long as it is published.
 * - Fails open: when the inspecting consumer cannot be made, the track is released and the error
 *   logged (a call without video for a failed safety check is the worse outcome), as it is when no
 *   keyframe at all has been seen after RELEASE_UNSEEN_MS.
 */
import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { VideoSize } from '../vp8.ts';
import { logger } from '../../log.ts';
import { exceedsVideoSize, vp8KeyframeSize } from '../vp8.ts';

const log = logger('mediasoup');

/** Oversized keyframes after which a track stays held. */
export const MAX_REFUSALS = 3;
/** No keyframe seen this long after publishing (a broken inspection, not an attack): release. */
const RELEASE_UNSEEN_MS = 5_000;

export interface Inspection {
  /** Subscribers may receive it. */
  allowed: boolean;
  /** The last oversized size seen. */
  refused?: VideoSize;
  /** Oversized keyframes seen. */
  refusals: number;
  /** Keyframes seen within the cap. */
  accepted: number;
}

/** The payload of an RTP packet (after CSRCs and header extensions, before padding). */
export function rtpPayload(packet: Uint8Array): Uint8Array | undefined {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return undefined;
  let offset = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return undefined;
    offset += 4 + 4 * ((packet[offset + 2]! << 8) | packet[offset + 3]!);
  }
  let end = packet.length;
  if (packet[0]! & 0x20) end -= packet[end - 1]!;
  return offset < end ? packet.subarray(offset, end) : undefined;
}

export class KeyframeInspector extends EventEmitter<{ change: [producerId: string, allowed: boolean] }> {
  private readonly max: VideoSize;
  private readonly state = new Map<string, Inspection>();

  constructor(max: VideoSize) {
    super();
    this.max = max;
  }

  /** Whether the producer's video may go to subscribers (true for anything not inspected). */
  allowed(producerId: string): boolean {
    return this.state.get(producerId)?.allowed ?? true;
  }

  inspection(producerId: string): Inspection | undefined {
    const s = this.state.get(producerId);
    return s && { ...s };
  }

  /** Starts inspecting a video producer on `transport` (the room's DirectTransport); held until approved. */
  async watch(transport: ms.DirectTransport, router: ms.Router, producer: ms.Producer): Promise<void> {
    const s: Inspection = { allowed: false, refusals: 0, accepted: 0 };
    this.state.set(producer.id, s);
    producer.observer.once('close', () => this.state.delete(producer.id));
    const unseen = setTimeout(() => {
      if (s.accepted === 0 && s.refusals === 0 && this.state.get(producer.id) === s) {
        log.warn('no keyframe seen by the size check; video released unchecked', { producer: producer.id });
        this.set(producer.id, s, true);
      }
    }, RELEASE_UNSEEN_MS);
    unseen.unref();
    try {
      const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
      if (consumer.type !== 'simple') await consumer.setPreferredLayers({ spatialLayer: 0, temporalLayer: 0 });
      consumer.on('rtp', (packet) => this.packet(producer.id, s, packet));
    } catch (err) {
      clearTimeout(unseen);
      if (producer.closed) return;
      log.error('cannot inspect a video stream for its size; video released unchecked', { producer: producer.id, err: (err as Error).message });
      this.set(producer.id, s, true);
    }
  }

  private packet(producerId: string, s: Inspection, packet: Buffer): void {
    const payload = rtpPayload(packet);
    const size = payload && vp8KeyframeSize(payload);
    if (!size) return;
    if (exceedsVideoSize(size, this.max)) {
      s.refusals++;
      s.refused = size;
      if (s.allowed || s.refusals === 1) log.warn('a keyframe above the maximum video size; the stream is held', { producer: producerId, size: `${size.width}x${size.height}`, max: `${this.max.width}x${this.max.height}`, refusals: s.refusals });
      this.set(producerId, s, false);
    } else {
      s.accepted++;
      if (s.refusals < MAX_REFUSALS) this.set(producerId, s, true);
    }
  }

  private set(producerId: string, s: Inspection, allowed: boolean): void {
    if (s.allowed === allowed) return;
    s.allowed = allowed;
    this.emit('change', producerId, allowed);
  }
}
