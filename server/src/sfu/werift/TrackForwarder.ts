/**
 * One published track and the subscriber senders it feeds. Each RTP packet is serialized once and
 * handed to every sender as a buffer (werift's sendRtp rewrites headers in place, so sharing the
 * packet object between senders would corrupt it). Senders are reused across publishers, so the
 * first packet a sender gets from this track rebases its sequence numbers and timestamps.
 *
 * A sink may be capped at a VP8 temporal layer (the analyzer: base layer only, base + TL1 while
 * boosted; see ../vp8.ts). Such a sink gets its own renumbered copy of each packet it keeps.
 *
 * Oversized video is refused (issue 13, item 2): a keyframe that claims a size above the maximum
 * (RTC_MAX_VIDEO_SIZE, 1920x1080 by default) is not forwarded, nor is anything after it until a
 * keyframe within the maximum. A hostile publisher's 16383x16383 keyframes would otherwise make
 * every decoder downstream (the analyzer's first) allocate ~400 MB per frame buffer. Only this
 * track stops; the rest of the call, and every other call, is untouched.
 */
import { EventEmitter } from 'node:events';
import type { MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RtpPacket } from 'werift';
import { logger } from '../../log.ts';
import { exceedsVideoSize, parseVp8Descriptor, TemporalLayerFilter, vp8KeyframeSize, type VideoSize } from '../vp8.ts';

const log = logger('sfu');

/** At most one keyframe request per interval reaches the publisher; a late one is deferred, not lost. */
const KEYFRAME_INTERVAL_MS = 500;

let nextId = 1;

/** VP8 carries at most four temporal layers (a 2-bit TID). */
const MAX_TEMPORAL_LAYER = 3;

interface Sink {
  /** Still needs rebasing onto this track's numbering. */
  rebase: boolean;
  /** Temporal-layer cap and renumbering; absent: every packet as it came. */
  filter: TemporalLayerFilter | undefined;
}

export interface ForwarderOptions {
  /** Video whose keyframes claim more than this is not forwarded (undefined: no limit). */
  maxVideoSize?: VideoSize | undefined;
  /**
   * Ask every video publisher for a keyframe at this fixed cadence, whoever subscribes, and serve
   * hidden subscribers (supervisors) only from these and other subscribers' keyframes; 0 or
   * undefined: hidden subscribers ask at once, as everyone does (issue 13, item 16; README.md).
   */
  coverKeyframeMs?: number | undefined;
}

export class TrackForwarder extends EventEmitter<{ close: []; refused: [size: VideoSize] }> {
  readonly id = `t${nextId++}`;
  readonly publisherId: string;
  readonly kind: 'audio' | 'video';
  private readonly track: MediaStreamTrack;
  private readonly receiver: RTCRtpReceiver;
  /** Sender -> whether it still needs rebasing onto this track's numbering, and its layer cap. */
  private readonly sinks = new Map<RTCRtpSender, Sink>();
  private readonly unsubscribe: () => void;
  private lastKeyframeRequest = 0;
  private keyframeTimer: NodeJS.Timeout | undefined;
  private closedFlag = false;
  /** A keyframe was asked for before the publisher's first packet told us its SSRC. */
  private keyframeOwed = false;
  private readonly maxVideoSize: VideoSize | undefined;
  /** The oversized size the last keyframe claimed, while the track is refused. */
  private refusedSize: VideoSize | undefined;
  /** Packets not forwarded because the stream was above the maximum size. */
  refusedPackets = 0;
  private readonly coverTimer: NodeJS.Timeout | undefined;

  constructor(publisherId: string, track: MediaStreamTrack, receiver: RTCRtpReceiver, opts: ForwarderOptions = {}) {
    super();
    this.maxVideoSize = track.kind === 'video' ? opts.maxVideoSize : undefined;
    if (track.kind === 'video' && opts.coverKeyframeMs) {
      // From the track's start, subscribers or not: its cadence must not depend on who watches.
      this.coverTimer = setInterval(() => this.requestKeyframe(), opts.coverKeyframeMs);
      this.coverTimer.unref();
    }
    this.publisherId = publisherId;
    this.kind = track.kind === 'audio' ? 'audio' : 'video';
    this.track = track;
    this.receiver = receiver;
    this.unsubscribe = track.onReceiveRtp.subscribe((rtp) => this.forward(rtp)).unSubscribe;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private forward(rtp: RtpPacket): void {
    if (this.keyframeOwed) {
      this.keyframeOwed = false;
      this.requestKeyframe();
    }
    if (this.maxVideoSize && this.refuses(rtp.payload)) {
      this.refusedPackets++;
      return;
    }
    if (this.sinks.size === 0) return;
    const buf = rtp.serialize();
    const payloadAt = buf.length - rtp.payload.length - (rtp.header.padding ? rtp.header.paddingSize : 0);
    for (const [sender, sink] of this.sinks) {
      let out = buf;
      let seq = rtp.header.sequenceNumber;
      if (sink.filter) {
        // The filter rewrites the picture ID in place: give it this sink's own copy.
        const copy = Buffer.from(buf);
        const d = sink.filter.filter(seq, rtp.header.timestamp, copy.subarray(payloadAt));
        if (!d.forward) continue;
        seq = d.sequenceNumber;
        copy.writeUInt16BE(seq, 2);
        out = copy;
      }
      if (sink.rebase) {
        this.rebase(sender, seq, rtp.header.timestamp);
        sink.rebase = false;
      }
      // A send can only fail on a closing transport; that subscriber's own teardown handles it.
      sender.sendRtp(out).catch(() => undefined);
    }
  }

  /** Whether this packet is dropped for size: from an oversized keyframe to the next keyframe that fits. */
  private refuses(payload: Buffer): boolean {
    const size = vp8KeyframeSize(payload, parseVp8Descriptor(payload));
    if (size) {
      if (exceedsVideoSize(size, this.maxVideoSize!)) {
        if (!this.refusedSize) {
          log.warn('video refused: keyframe above the maximum size', { publisher: this.publisherId, size: `${size.width}x${size.height}`, max: `${this.maxVideoSize!.width}x${this.maxVideoSize!.height}` });
          this.emit('refused', size);
        }
        this.refusedSize = size;
      } else if (this.refusedSize) {
        log.info('video forwarded again: keyframe within the maximum size', { publisher: this.publisherId, size: `${size.width}x${size.height}` });
        this.refusedSize = undefined;
      }
    }
    return this.refusedSize !== undefined;
  }

  /** The size the track's keyframes claim while it is refused for being above the maximum. */
  get refused(): VideoSize | undefined {
    return this.refusedSize;
  }

  /**
   * Continue the sender's numbering where its previous source stopped: next sequence number, and a
   * timestamp one frame later. (werift's replaceRTP truncates the timestamp offset to 16 bits.)
   */
  private rebase(sender: RTCRtpSender, sequenceNumber: number, timestamp: number): void {
    const s = sender as unknown as { sequenceNumber?: number; timestamp?: number; seqOffset: number; timestampOffset: number };
    if (s.sequenceNumber === undefined || s.timestamp === undefined) return;
    const step = this.kind === 'video' ? 3000 : 960; // one 30 fps frame at 90 kHz; 20 ms at 48 kHz
    s.seqOffset = (s.sequenceNumber + 1 - sequenceNumber) & 0xffff;
    s.timestampOffset = (s.timestamp + step - timestamp) >>> 0;
  }

  /**
   * Adds a subscriber. `maxTemporalLayer` caps a video sink at that VP8 temporal layer (0: base
   * only); undefined forwards every layer.
   */
  addSink(sender: RTCRtpSender, maxTemporalLayer?: number): void {
    const filter = this.kind === 'video' && maxTemporalLayer !== undefined ? new TemporalLayerFilter(maxTemporalLayer) : undefined;
    this.sinks.set(sender, { rebase: true, filter });
  }

  /**
   * Changes a sink's temporal-layer cap. Lowering applies at the next frame; raising at the next
   * keyframe or layer-sync frame, so a keyframe is asked for in case none comes soon.
   */
  setMaxTemporalLayer(sender: RTCRtpSender, maxTemporalLayer: number | undefined): void {
    const sink = this.sinks.get(sender);
    if (!sink || this.kind !== 'video') return;
    if (maxTemporalLayer === undefined) {
      // Forwarding everything from a filtered stream would break its renumbering: keep a filter
      // that lets every layer through.
      if (sink.filter) sink.filter.setMaxTemporalLayer(MAX_TEMPORAL_LAYER);
      return;
    }
    if (!sink.filter) {
      sink.filter = new TemporalLayerFilter(maxTemporalLayer);
      return;
    }
    const up = maxTemporalLayer > sink.filter.maxTemporalLayer;
    sink.filter.setMaxTemporalLayer(maxTemporalLayer);
    if (up) this.requestKeyframe();
  }

  /** The sink's layer cap and how many frames it kept and dropped (tests, metrics). */
  sinkLayers(sender: RTCRtpSender): { maxTemporalLayer: number; framesForwarded: number; framesDropped: number; unlayeredFrames: number } | undefined {
    const f = this.sinks.get(sender)?.filter;
    return f && { maxTemporalLayer: f.maxTemporalLayer, framesForwarded: f.framesForwarded, framesDropped: f.framesDropped, unlayeredFrames: f.unlayeredFrames };
  }

  removeSink(sender: RTCRtpSender): void {
    this.sinks.delete(sender);
  }

  /**
   * Ask the publisher for a keyframe (a new subscriber, or a subscriber's PLI). A hidden
   * subscriber's request is not passed on while cover keyframes run: the publisher would see a
   * request each time a supervisor joins; the next cover keyframe (at most coverKeyframeMs away)
   * serves it instead.
   */
  requestKeyframe(hidden = false): void {
    if (this.kind !== 'video' || this.closedFlag || this.keyframeTimer) return;
    if (hidden && this.coverTimer) return;
    const wait = this.lastKeyframeRequest + KEYFRAME_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.keyframeTimer = setTimeout(() => {
        this.keyframeTimer = undefined;
        this.requestKeyframe();
      }, wait);
      return;
    }
    const ssrc = this.track.ssrc;
    if (ssrc === undefined) {
      this.keyframeOwed = true;
      return;
    }
    this.lastKeyframeRequest = Date.now();
    this.receiver.sendRtcpPLI(ssrc).catch(() => undefined);
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearTimeout(this.keyframeTimer);
    clearInterval(this.coverTimer);
    this.unsubscribe();
    this.sinks.clear();
    this.emit('close');
  }
}
