/** One participant's two werift connections: publish (client offers) and subscribe (we offer). */
import { EventEmitter, setMaxListeners } from 'node:events';
import { RTCPeerConnection, type PeerConfig, type RTCRtpTransceiver } from 'werift';
import type { TrackInfo } from '../../protocol/messages.ts';
import {
  engineRefused,
  PeerClosedError,
  untilPeerClosed,
  SdpError,
  type IceCandidateInit,
  type MediaTarget,
  type PeerOptions,
  type SfuPeer,
  type SfuPeerEvents,
} from '../engine.ts';
import {
  announceAddress,
  checkAnswerAcceptsMedia,
  checkAnswerMatchesOffer,
  checkPublishOffer,
} from '../sdp.ts';
import { TrackForwarder, type ForwarderOptions } from './TrackForwarder.ts';
import { logger } from '../../log.ts';

const log = logger('sfu');

interface Subscription {
  forwarder: TrackForwarder;
  transceiver: RTCRtpTransceiver;
  dispose: () => void;
}

export class WeriftPeer extends EventEmitter<SfuPeerEvents> implements SfuPeer {
  readonly id: string;
  private readonly canPublish: boolean;
  private publishPc: RTCPeerConnection | undefined;
  private subscribePc: RTCPeerConnection | undefined;
  private readonly published = new Set<TrackForwarder>();
  private readonly subscriptions = new Map<TrackForwarder, Subscription>();
  /**
   * Send transceivers whose publisher left, kept for the next track of that kind. Removing them
   * instead would leave rejected m-lines behind, which Chromium handles badly across renegotiations.
   */
  private readonly idle: Record<'audio' | 'video', RTCRtpTransceiver[]> = { audio: [], video: [] };
  /** Subscriptions added since the last answer: they need a keyframe once the answer lands. */
  private readonly awaitingKeyframe = new Set<TrackForwarder>();
  private offerOutstanding = false;
  private renegotiationPending = false;
  /** A publish offer is being answered / one has been: a session publishes once. */
  private publishing = false;
  private publishAnswered = false;
  private closedFlag = false;
  private readonly closeSignal = new AbortController();
  private readonly peerConfig: Partial<PeerConfig>;
  private readonly announcedIp: string | undefined;
  private readonly onPublished: (f: TrackForwarder) => void;
  private readonly forwarderOptions: ForwarderOptions;
  private readonly defaultLayer: number | undefined;
  /** A supervisor: its keyframe needs wait for the cover cadence (TrackForwarder.requestKeyframe). */
  private readonly hidden: boolean;
  private readonly receives: ((publisherId: string) => boolean) | undefined;
  /** Per-publisher temporal-layer caps set by setVideoLayer(). */
  private readonly layerOverrides = new Map<string, number | undefined>();

  constructor(
    opts: PeerOptions,
    peerConfig: Partial<PeerConfig>,
    announcedIp: string | undefined,
    onPublished: (f: TrackForwarder) => void,
    forwarderOptions: ForwarderOptions = {},
  ) {
    super();
    this.id = opts.id;
    this.canPublish = opts.canPublish;
    this.defaultLayer = opts.maxTemporalLayer;
    this.hidden = opts.hidden ?? false;
    this.receives = opts.receives;
    this.peerConfig = peerConfig;
    this.announcedIp = announcedIp;
    this.onPublished = onPublished;
    this.forwarderOptions = forwarderOptions;
    // Every pending werift call listens for close; a renegotiation burst can hold more than 10.
    setMaxListeners(0, this.closeSignal.signal);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** werift never settles some calls on a closed connection; never let a caller wait on one forever. */
  private guard<T>(work: Promise<T>): Promise<T> {
    return untilPeerClosed(work, this.closedFlag, this.closeSignal.signal);
  }

  private watchConnection(pc: RTCPeerConnection, target: MediaTarget): void {
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed' && !this.closedFlag) this.emit('media-failed', target);
      if (state === 'connected' && target === 'subscribe') {
        for (const f of this.subscriptions.keys()) f.requestKeyframe(this.hidden);
      }
    });
  }

  async publish(offerSdp: string): Promise<string> {
    if (!this.canPublish) throw new SdpError('This participant is receive-only and cannot publish.');
    checkPublishOffer(offerSdp);
    // Once per session, as on mediasoup: a later offer with fresh m-sections added tracks that every
    // subscriber received, without bound (checkPublishOffer sees one offer at a time).
    if (this.publishing || this.publishAnswered) throw new SdpError('This participant already publishes; rejoin to publish again.');
    this.publishing = true;
    try {
      const answer = await this.publishOnce(offerSdp);
      this.publishAnswered = true;
      return answer;
    } finally {
      this.publishing = false;
    }
  }

  private async publishOnce(offerSdp: string): Promise<string> {
    if (!this.publishPc) {
      const pc = new RTCPeerConnection(this.peerConfig);
      this.publishPc = pc;
      this.watchConnection(pc, 'publish');
      pc.ontrack = ({ track, receiver }) => {
        if (this.closedFlag) return;
        const f = new TrackForwarder(this.id, track, receiver, this.forwarderOptions);
        this.published.add(f);
        this.onPublished(f);
      };
    } else if (this.publishPc.signalingState !== 'stable') {
      throw new SdpError('A publish negotiation is already in progress.');
    }
    const pc = this.publishPc;
    try {
      await this.guard(pc.setRemoteDescription({ type: 'offer', sdp: offerSdp }));
      await this.guard(pc.setLocalDescription(await this.guard(pc.createAnswer())));
    } catch (err) {
      if (err instanceof PeerClosedError) throw err;
      // Leave the connection usable for a corrected offer.
      if (pc.signalingState !== 'stable') await pc.setLocalDescription({ type: 'rollback' }).catch(() => undefined);
      throw engineRefused('publish offer', err);
    }
    const answer = pc.localDescription?.sdp ?? '';
    checkAnswerAcceptsMedia(answer);
    return announceAddress(answer, this.announcedIp);
  }

  subscribeTo(f: TrackForwarder): void {
    if (this.closedFlag || f.closed || this.subscriptions.has(f) || this.receives?.(f.publisherId) === false) return;
    if (!this.subscribePc) {
      this.subscribePc = new RTCPeerConnection(this.peerConfig);
      this.watchConnection(this.subscribePc, 'subscribe');
    }
    const transceiver = this.idle[f.kind].pop() ?? this.subscribePc.addTransceiver(f.kind, { direction: 'sendonly' });
    const sender = transceiver.sender;
    f.addSink(sender, this.layerFor(f.publisherId));
    const pli = sender.onPictureLossIndication.subscribe(() => f.requestKeyframe(this.hidden));
    const onForwarderClose = () => this.unsubscribeFrom(f);
    f.once('close', onForwarderClose);
    this.subscriptions.set(f, {
      forwarder: f,
      transceiver,
      dispose: () => {
        f.removeSink(sender);
        pli.unSubscribe();
        f.off('close', onForwarderClose);
      },
    });
    this.awaitingKeyframe.add(f);
    this.renegotiate();
  }

  private layerFor(publisherId: string): number | undefined {
    return this.layerOverrides.has(publisherId) ? this.layerOverrides.get(publisherId) : this.defaultLayer;
  }

  setVideoLayer(publisherId: string, maxTemporalLayer: number | undefined): void {
    if (maxTemporalLayer === undefined) this.layerOverrides.delete(publisherId);
    else this.layerOverrides.set(publisherId, maxTemporalLayer);
    for (const [f, sub] of this.subscriptions) {
      if (f.publisherId === publisherId && f.kind === 'video') f.setMaxTemporalLayer(sub.transceiver.sender, this.layerFor(publisherId));
    }
  }

  refreshVideo(publisherId: string): void {
    for (const [f, sub] of this.subscriptions) {
      if (f.publisherId !== publisherId || f.kind !== 'video') continue;
      log.info('a receiver reports this video stalled; asking for a keyframe', { peer: this.id, publisher: publisherId, ...(f.sinkLayers(sub.transceiver.sender) ?? {}) });
      f.requestKeyframe(this.hidden);
    }
  }

  /** Layer caps and frame counts of this peer's filtered video subscriptions, by publisher. */
  videoLayers(): Array<{ publisherId: string; maxTemporalLayer: number; framesForwarded: number; framesDropped: number; unlayeredFrames: number }> {
    const out = [];
    for (const [f, sub] of this.subscriptions) {
      const l = f.sinkLayers(sub.transceiver.sender);
      if (l) out.push({ publisherId: f.publisherId, ...l });
    }
    return out;
  }

  private unsubscribeFrom(f: TrackForwarder): void {
    const sub = this.subscriptions.get(f);
    if (!sub) return;
    sub.dispose();
    this.subscriptions.delete(f);
    this.awaitingKeyframe.delete(f);
    if (this.closedFlag) return;
    this.idle[f.kind].push(sub.transceiver);
    this.renegotiate(); // tells the client that this mid no longer carries that participant
  }

  private tracks(): TrackInfo[] {
    const out: TrackInfo[] = [];
    for (const { forwarder, transceiver } of this.subscriptions.values()) {
      if (transceiver.mid) out.push({ mid: transceiver.mid, participantId: forwarder.publisherId, kind: forwarder.kind });
    }
    return out;
  }

  /** One offer at a time: changes made while an offer awaits its answer go into the next one. */
  private renegotiate(): void {
    if (this.closedFlag || !this.subscribePc) return;
    if (this.offerOutstanding) {
      this.renegotiationPending = true;
      return;
    }
    this.offerOutstanding = true;
    this.renegotiationPending = false;
    const pc = this.subscribePc;
    // Let a burst of track changes (a peer joining with audio and video) land in one offer.
    queueMicrotask(async () => {
      try {
        const offer = await this.guard(pc.createOffer());
        await this.guard(pc.setLocalDescription(offer));
        const sdp = announceAddress(pc.localDescription?.sdp ?? '', this.announcedIp);
        this.emit('subscribe-offer', { sdp, tracks: this.tracks() });
      } catch (err) {
        this.offerOutstanding = false;
        if (!(err instanceof PeerClosedError)) this.emit('media-failed', 'subscribe');
      }
    });
  }

  async applySubscribeAnswer(answerSdp: string): Promise<void> {
    const pc = this.subscribePc;
    if (!pc || !this.offerOutstanding || pc.signalingState !== 'have-local-offer') {
      throw new SdpError('No subscribe offer is waiting for an answer.');
    }
    checkAnswerMatchesOffer(answerSdp, pc.localDescription?.sdp ?? '');
    try {
      await this.guard(pc.setRemoteDescription({ type: 'answer', sdp: answerSdp }));
    } catch (err) {
      if (err instanceof PeerClosedError) throw err;
      // The offer stays outstanding, so the client can send a corrected answer.
      throw engineRefused('subscribe answer', err);
    }
    this.offerOutstanding = false;
    for (const f of this.awaitingKeyframe) f.requestKeyframe(this.hidden);
    this.awaitingKeyframe.clear();
    if (this.renegotiationPending) this.renegotiate();
  }

  async addIceCandidate(target: MediaTarget, candidate: IceCandidateInit): Promise<void> {
    const pc = target === 'publish' ? this.publishPc : this.subscribePc;
    if (!pc || !pc.remoteDescription) throw new SdpError(`No ${target} connection to add an ICE candidate to.`);
    if (!candidate.candidate) return; // end-of-candidates
    try {
      await this.guard(
        pc.addIceCandidate({
          candidate: candidate.candidate,
          sdpMid: candidate.sdpMid ?? null,
          sdpMLineIndex: candidate.sdpMLineIndex ?? null,
        }),
      );
    } catch (err) {
      if (err instanceof PeerClosedError) throw err;
      throw engineRefused('ICE candidate', err);
    }
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closeSignal.abort();
    for (const sub of this.subscriptions.values()) sub.dispose();
    this.subscriptions.clear();
    for (const f of this.published) f.close();
    this.published.clear();
    void this.publishPc?.close().catch(() => undefined);
    void this.subscribePc?.close().catch(() => undefined);
    this.emit('close');
  }
}
