/**
 * One published track and the subscriber senders it feeds. Each RTP packet is serialized once and
 * handed to every sender as a buffer (werift's sendRtp rewrites headers in place, so sharing the
 * packet object between senders would corrupt it). Senders are reused across publishers, so the
 * first packet a sender gets from this track rebases its sequence numbers and timestamps.
 */
import { EventEmitter } from 'node:events';
import type { MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RtpPacket } from 'werift';

/** At most one keyframe request per interval reaches the publisher; a late one is deferred, not lost. */
const KEYFRAME_INTERVAL_MS = 500;

let nextId = 1;

export class TrackForwarder extends EventEmitter<{ close: [] }> {
  readonly id = `t${nextId++}`;
  readonly publisherId: string;
  readonly kind: 'audio' | 'video';
  private readonly track: MediaStreamTrack;
  private readonly receiver: RTCRtpReceiver;
  /** Sender -> whether it still needs rebasing onto this track's numbering. */
  private readonly sinks = new Map<RTCRtpSender, boolean>();
  private readonly unsubscribe: () => void;
  private lastKeyframeRequest = 0;
  private keyframeTimer: NodeJS.Timeout | undefined;
  private closedFlag = false;
  /** A keyframe was asked for before the publisher's first packet told us its SSRC. */
  private keyframeOwed = false;

  constructor(publisherId: string, track: MediaStreamTrack, receiver: RTCRtpReceiver) {
    super();
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
    if (this.sinks.size === 0) return;
    const buf = rtp.serialize();
    for (const [sender, rebase] of this.sinks) {
      if (rebase) {
        this.rebase(sender, rtp);
        this.sinks.set(sender, false);
      }
      // A send can only fail on a closing transport; that subscriber's own teardown handles it.
      sender.sendRtp(buf).catch(() => undefined);
    }
  }

  /**
   * Continue the sender's numbering where its previous source stopped: next sequence number, and a
   * timestamp one frame later. (werift's replaceRTP truncates the timestamp offset to 16 bits.)
   */
  private rebase(sender: RTCRtpSender, rtp: RtpPacket): void {
    const s = sender as unknown as { sequenceNumber?: number; timestamp?: number; seqOffset: number; timestampOffset: number };
    if (s.sequenceNumber === undefined || s.timestamp === undefined) return;
    const step = this.kind === 'video' ? 3000 : 960; // one 30 fps frame at 90 kHz; 20 ms at 48 kHz
    s.seqOffset = (s.sequenceNumber + 1 - rtp.header.sequenceNumber) & 0xffff;
    s.timestampOffset = (s.timestamp + step - rtp.header.timestamp) >>> 0;
  }

  addSink(sender: RTCRtpSender): void {
    this.sinks.set(sender, true);
  }

  removeSink(sender: RTCRtpSender): void {
    this.sinks.delete(sender);
  }

  /** Ask the publisher for a keyframe (a new subscriber, or a subscriber's PLI). */
  requestKeyframe(): void {
    if (this.kind !== 'video' || this.closedFlag || this.keyframeTimer) return;
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
    this.unsubscribe();
    this.sinks.clear();
    this.emit('close');
  }
}
