/**
 * VP8 temporal-layer selection for one subscriber, as an SFU does it (mediasoup's
 * consumer.setPreferredLayers does the same inside its worker): read the RTP payload descriptor
 * (RFC 7741 §4.2), drop whole frames above the chosen temporal layer, and renumber what is kept so
 * the receiver sees a gapless stream.
 *
 * Why this is safe for the decoder: with temporal layers (L1T3: TIDs 0,2,1,2,...) a frame only
 * references frames of its own or a lower layer, so dropping every frame above layer L leaves a
 * decodable stream. Going down is therefore allowed at any frame; going up only at a keyframe or a
 * frame marked layer-sync (Y bit: it references the base layer alone), otherwise the first
 * higher-layer frame would reference frames the receiver never had.
 *
 * Renumbering: sequence numbers drop by the packets dropped so far and picture IDs by the frames
 * dropped, so libwebrtc's receiver sees neither packet loss (no NACKs, no PLIs) nor missing
 * pictures. TL0PICIDX needs no change: base-layer frames are never dropped.
 *
 * Packets arriving after a later one (reordering, retransmissions) are not forwarded to a capped
 * subscriber: see filter().
 *
 * Streams without temporal layers (no T bit: a publisher that cannot send L1T3) are forwarded
 * whole: dropping a frame there would break every later frame until the next keyframe.
 */

/** Where the fields of one packet's VP8 payload descriptor are. Offsets index the RTP payload. */
export interface Vp8Descriptor {
  /** First packet of a frame (S bit set and partition 0). */
  frameStart: boolean;
  /** Temporal layer id; undefined when the packet carries none. */
  tid: number | undefined;
  /** Layer sync (Y): the frame depends on the base layer only. */
  layerSync: boolean;
  /** A keyframe's first packet (only known on the frame's first packet). */
  keyframe: boolean;
  /** Offset and width (7 or 15 bits) of the picture ID, or offset -1 when absent. */
  pictureIdOffset: number;
  pictureIdBits: 7 | 15;
  /** Length of the payload descriptor: the VP8 payload header starts here. */
  headerLength: number;
}

/** Parses the payload descriptor; undefined when the payload is too short to hold one. */
export function parseVp8Descriptor(p: Uint8Array): Vp8Descriptor | undefined {
  if (p.length < 1) return undefined;
  const b0 = p[0]!;
  const extended = (b0 & 0x80) !== 0;
  const start = (b0 & 0x10) !== 0 && (b0 & 0x07) === 0;
  let i = 1;
  let tid: number | undefined;
  let layerSync = false;
  let pictureIdOffset = -1;
  let pictureIdBits: 7 | 15 = 7;
  if (extended) {
    if (p.length < 2) return undefined;
    const x = p[1]!;
    i = 2;
    if (x & 0x80) {
      if (p.length <= i) return undefined;
      pictureIdOffset = i;
      if (p[i]! & 0x80) {
        pictureIdBits = 15;
        i += 2;
      } else {
        i += 1;
      }
    }
    if (x & 0x40) i += 1; // TL0PICIDX
    if (x & 0x30) {
      if (p.length <= i) return undefined;
      if (x & 0x20) {
        tid = p[i]! >> 6;
        layerSync = (p[i]! & 0x20) !== 0;
      }
      i += 1;
    }
  }
  if (p.length < i) return undefined;
  const keyframe = start && p.length > i && (p[i]! & 0x01) === 0;
  return { frameStart: start, tid, layerSync, keyframe, pictureIdOffset, pictureIdBits, headerLength: i };
}

export interface VideoSize {
  width: number;
  height: number;
}

/**
 * The coded size a VP8 keyframe announces (RFC 6386 §9.1, in the first packet of the frame,
 * right after the payload descriptor): a 3-byte frame tag, the start code 9d 01 2a, then width and
 * height as 14-bit little-endian values (the top 2 bits of each are a scaling hint). Read before
 * anything decodes the frame: a decoder allocates for the size a keyframe claims (up to
 * 16383x16383, ~400 MB per I420 buffer). Undefined for any packet that is not the first of a
 * keyframe, or too short or without the start code to say.
 */
export function vp8KeyframeSize(payload: Uint8Array, d: Vp8Descriptor | undefined = parseVp8Descriptor(payload)): VideoSize | undefined {
  if (!d?.keyframe) return undefined;
  const o = d.headerLength;
  if (payload.length < o + 10) return undefined;
  if (payload[o + 3] !== 0x9d || payload[o + 4] !== 0x01 || payload[o + 5] !== 0x2a) return undefined;
  return { width: (payload[o + 6]! | (payload[o + 7]! << 8)) & 0x3fff, height: (payload[o + 8]! | (payload[o + 9]! << 8)) & 0x3fff };
}

/**
 * Whether a picture is larger than the maximum in either dimension, in either orientation (a
 * 1080x1920 portrait phone fits a 1920x1080 maximum).
 */
export function exceedsVideoSize(size: VideoSize, max: VideoSize): boolean {
  return Math.max(size.width, size.height) > Math.max(max.width, max.height) || Math.min(size.width, size.height) > Math.min(max.width, max.height);
}

/** Parses `WIDTHxHEIGHT` (e.g. 1920x1080); undefined when malformed. */
export function parseVideoSize(text: string): VideoSize | undefined {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const size = { width: Number(m[1]), height: Number(m[2]) };
  return size.width >= 16 && size.height >= 16 && size.width <= 16383 && size.height <= 16383 ? size : undefined;
}

/** The largest video the SFU forwards and the analyzer decodes unless RTC_MAX_VIDEO_SIZE says otherwise. */
export const DEFAULT_MAX_VIDEO_SIZE: VideoSize = { width: 1920, height: 1080 };

/** What the filter decided for one packet. */
export type LayerDecision = { forward: false } | { forward: true; sequenceNumber: number };

/**
 * One subscriber's view of one VP8 track: which temporal layers it gets and how its packets are
 * renumbered. Feed it every packet in arrival order; it rewrites the picture ID in place in the
 * payload copy it is given and returns the sequence number to send under.
 */
export class TemporalLayerFilter {
  /** Highest temporal layer forwarded now. */
  private current: number;
  /** Highest temporal layer wanted; reached at the next switch point when higher than current. */
  private target: number;
  private frameTimestamp: number | undefined;
  private dropFrame = false;
  private seqDelta = 0;
  private pictureDelta = 0;
  /** Highest sequence number seen; undefined before the first packet. */
  private lastSeq: number | undefined;
  /** Late or repeated packets (retransmissions, reordering) not forwarded. */
  latePackets = 0;
  /** Frames seen without temporal layer ids: the stream cannot be thinned. */
  unlayeredFrames = 0;
  framesForwarded = 0;
  framesDropped = 0;

  constructor(maxTemporalLayer: number) {
    this.current = maxTemporalLayer;
    this.target = maxTemporalLayer;
  }

  get maxTemporalLayer(): number {
    return this.target;
  }

  /** True while a switch up waits for a keyframe or a layer-sync frame. */
  get switchPending(): boolean {
    return this.target > this.current;
  }

  setMaxTemporalLayer(layer: number): void {
    this.target = layer;
  }

  /** Decides for one packet; rewrites the picture ID inside `payload` when it is forwarded. */
  filter(sequenceNumber: number, timestamp: number, payload: Uint8Array): LayerDecision {
    // A packet older than one already seen cannot be renumbered: whether its frame was kept and
    // how many packets were dropped before it are no longer known. Dropping it is a loss the
    // receiver recovers from with a keyframe request; guessing would corrupt the numbering.
    if (this.lastSeq !== undefined && ((this.lastSeq - sequenceNumber) & 0xffff) < 0x8000) {
      this.latePackets++;
      return { forward: false };
    }
    this.lastSeq = sequenceNumber;
    const d = parseVp8Descriptor(payload);
    if (timestamp !== this.frameTimestamp) {
      this.frameTimestamp = timestamp;
      const tid = d?.tid;
      if (tid === undefined) {
        this.unlayeredFrames++;
        this.dropFrame = false;
      } else {
        if (this.target < this.current) this.current = this.target;
        else if (this.target > this.current && (d!.keyframe || (d!.layerSync && tid <= this.target))) this.current = this.target;
        this.dropFrame = tid > this.current;
      }
      if (this.dropFrame) {
        this.pictureDelta++;
        this.framesDropped++;
      } else {
        this.framesForwarded++;
      }
    }
    if (this.dropFrame) {
      this.seqDelta++;
      return { forward: false };
    }
    if (d && d.pictureIdOffset >= 0 && this.pictureDelta !== 0) rewritePictureId(payload, d, this.pictureDelta);
    return { forward: true, sequenceNumber: (sequenceNumber - this.seqDelta) & 0xffff };
  }
}

function rewritePictureId(p: Uint8Array, d: Vp8Descriptor, delta: number): void {
  const o = d.pictureIdOffset;
  if (d.pictureIdBits === 15) {
    const id = (((p[o]! & 0x7f) << 8) | p[o + 1]!) - delta;
    const v = id & 0x7fff;
    p[o] = 0x80 | (v >> 8);
    p[o + 1] = v & 0xff;
  } else {
    p[o] = (p[o]! - delta) & 0x7f;
  }
}
