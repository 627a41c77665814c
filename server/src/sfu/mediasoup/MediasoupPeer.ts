/**
 * One participant on a mediasoup router, behind the SDP interface every client already speaks.
 * The SDP bridge does on the server what mediasoup-client's Chrome111 handler does in a browser,
 * with the same helpers (mediasoup-client's RemoteSdp, SDP utilities and ORTC matching):
 *
 * - publish: the client's offer gives its codecs, header extensions, SSRCs, CNAME and DTLS
 *   fingerprint; they become a send WebRtcTransport (DTLS server) and one producer per m-section,
 *   and RemoteSdp writes the answer (ICE-lite, the transport's candidates).
 * - subscribe: one consumer per other participant's track on a receive transport, each its own
 *   m-section of the offer we send, created paused and resumed once the client's answer has
 *   landed (mediasoup then asks the publisher for a keyframe). A consumer whose publisher left
 *   has its m-section closed; the next consumer recycles it (mediasoup-client does the same with
 *   Chromium), so the client's m-line count stays bounded.
 *
 * The client's capabilities for receiving are not known before its first answer; consumers are made
 * for the router's own capabilities (VP8 and Opus, which every client decodes).
 *
 * VP8 producers are declared L1T3: a layered publisher (Chromium's scalabilityMode, wrtc's legacy
 * simulcast) gets temporal-layer selection per consumer (setVideoLayer -> setPreferredLayers);
 * an unlayered one is forwarded whole (every packet reads as layer 0). Of a legacy simulcast group
 * (vp8Layers.ts) only the first SSRC is sent by libwebrtc at our sizes: it alone is declared.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import type { types as ms } from 'mediasoup';
import { getExtendedRtpCapabilities, getSendingRemoteRtpParameters, getSendingRtpParameters } from 'mediasoup-client/ortc';
import { extractDtlsParameters, extractRtpCapabilities, getCname } from 'mediasoup-client/handlers/sdp/commonUtils';
import { RemoteSdp } from 'mediasoup-client/handlers/sdp/RemoteSdp';
import { getRtpEncodings } from 'mediasoup-client/handlers/sdp/unifiedPlanUtils';
import { parse as parseSdp, type SessionDescription } from 'sdp-transform';
import type { TrackInfo } from '../../protocol/messages.ts';
import { logger } from '../../log.ts';
import {
  PeerClosedError,
  untilPeerClosed,
  engineRefused,
  SdpError,
  type IceCandidateInit,
  type MediaTarget,
  type PeerOptions,
  type SfuPeer,
  type SfuPeerEvents,
} from '../engine.ts';
import { checkAnswerAcceptsMedia, checkAnswerMatchesOffer, checkPublishOffer } from '../sdp.ts';

const log = logger('mediasoup');

/** Highest VP8 temporal layer of an L1T3 stream. */
const TOP_TEMPORAL_LAYER = 2;
/**
 * A resumed video consumer that has forwarded nothing after this long gets a keyframe request of
 * its own, up to VIDEO_START_RETRIES times. mediasoup asks the publisher for one when a consumer
 * resumes and forwards nothing until it arrives; a request lost under load (seen in CI: a
 * supervisor who joined a running call got audio and never video) would otherwise leave that
 * subscriber without video until the publisher's next keyframe, which a clean stream may never send.
 */
const VIDEO_START_CHECK_MS = 2_000;
const VIDEO_START_RETRIES = 5;
/**
 * Floor of a receive transport's bandwidth estimate. Below the base layer of the streams it
 * carries, mediasoup forwards no video at all, so the estimate has no packets to grow on; 300 kbit/s
 * keeps one base layer of a 640x480 camera (~200-250 kbit/s measured) flowing.
 */
const MIN_OUTGOING_BITRATE = 300_000;

/** A producer and whose it is, as the room hands it to subscribers. */
export interface PublishedTrack {
  publisherId: string;
  kind: 'audio' | 'video';
  producer: ms.Producer;
}

/** What the room gives a peer: its router now, which changes when the worker under it dies. */
export interface PeerRoom {
  router(): Promise<{ router: ms.Router; server: ms.WebRtcServer }>;
  /** Whether a producer's media may go to subscribers now (false: held by the size check). */
  released(producerId: string): boolean;
  /** RTC_CONNECT_TIMEOUT_S: how long a new transport may take to connect (undefined: no limit). */
  readonly connectTimeoutMs?: number | undefined;
  /** RTC_ICE_TCP: the worker's WebRtcServer listens on TCP too, so transports offer it (UDP preferred). */
  readonly iceTcp: boolean;
}

interface Subscription {
  consumer: ms.Consumer | undefined;
  /** The consumer's m-section is in the subscribe SDP. */
  mid: string | undefined;
  /** The client has answered an offer with this consumer in it: it may be resumed. */
  answered?: boolean;
  /**
   * refreshHold paused it for the size check. Its release resumes it on this, not on
   * consumer.paused, which reads false until the worker has answered a pause still in flight.
   */
  held?: boolean;
}

export class MediasoupPeer extends EventEmitter<SfuPeerEvents> implements SfuPeer {
  readonly id: string;
  private readonly canPublish: boolean;
  private readonly room: PeerRoom;
  private readonly onPublished: (t: PublishedTrack) => void;
  private readonly defaultLayer: number | undefined;
  private readonly receives: ((publisherId: string) => boolean) | undefined;
  private readonly layerOverrides = new Map<string, number | undefined>();
  private closedFlag = false;
  /** Its worker died: nothing more happens here; the client rejoins onto a new peer. */
  private lostFlag = false;
  private readonly closeSignal = new AbortController();

  private publishing = false;
  private sendTransport: ms.WebRtcTransport | undefined;

  private recvTransport: ms.WebRtcTransport | undefined;
  private recvSdp: RemoteSdp | undefined;
  private recvConnected = false;
  private readonly subs = new Map<PublishedTrack, Subscription>();
  /** Subscribe-side changes run one at a time, in order. */
  private ops: Promise<void> = Promise.resolve();
  private offerOutstanding = false;
  private renegotiationPending = false;
  private sentOffer: string | undefined;
  /** Consumers in the outstanding offer, resumed when its answer lands. */
  private offered: ms.Consumer[] = [];

  constructor(opts: PeerOptions, room: PeerRoom, onPublished: (t: PublishedTrack) => void) {
    super();
    this.id = opts.id;
    this.canPublish = opts.canPublish;
    this.defaultLayer = opts.maxTemporalLayer;
    this.receives = opts.receives;
    this.room = room;
    this.onPublished = onPublished;
    setMaxListeners(0, this.closeSignal.signal);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Its open transports: publish, subscribe, either or none. */
  transports(): ms.WebRtcTransport[] {
    return [this.sendTransport, this.recvTransport].filter((t): t is ms.WebRtcTransport => !!t && !t.closed);
  }

  /** Never let a caller wait on a request that the peer's closing made moot. */
  private guard<T>(work: Promise<T>): Promise<T> {
    return untilPeerClosed(work, this.closedFlag, this.closeSignal.signal);
  }

  private async createTransport(router: ms.Router, server: ms.WebRtcServer, target: MediaTarget): Promise<ms.WebRtcTransport> {
    const transport = await router.createWebRtcTransport({
      webRtcServer: server,
      enableUdp: true,
      // A passive TCP candidate beside the UDP one, ranked below it: ICE picks TCP only when UDP
      // checks fail (a network that blocks UDP, and no TURN relay).
      enableTcp: this.room.iceTcp,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_000_000,
      appData: { peer: this.id, target },
    });
    // The caller's guard gave up on this request when the peer closed: nothing else will close it.
    if (this.closedFlag || this.lostFlag) {
      transport.close();
      throw new PeerClosedError('peer closed');
    }
    transport.on('dtlsstatechange', (state) => {
      if (state !== 'failed' || this.closedFlag || this.lostFlag) return;
      log.warn('DTLS failed; the client is told to rejoin', { peer: this.id, target });
      this.emit('media-failed', target);
    });
    // A client that never completes ICE and DTLS (gone, blocked by a firewall, or never meaning
    // to) would hold this transport, and a seat in the call, for as long as its socket stays.
    const limit = this.room.connectTimeoutMs;
    if (limit) {
      const timer = setTimeout(() => {
        if (transport.closed || transport.dtlsState === 'connected' || this.closedFlag || this.lostFlag) return;
        log.warn('media connection not up in time; the client is told to rejoin', { peer: this.id, target, ice: transport.iceState, dtls: transport.dtlsState, limitMs: limit });
        this.emit('media-failed', target);
      }, limit);
      timer.unref();
      transport.observer.once('close', () => clearTimeout(timer));
    }
    return transport;
  }

  // ---- publish -------------------------------------------------------------------------------

  async publish(offerSdp: string): Promise<string> {
    if (!this.canPublish) throw new SdpError('This participant is receive-only and cannot publish.');
    checkPublishOffer(offerSdp);
    if (this.publishing || this.sendTransport) throw new SdpError('This participant already publishes; rejoin to publish again.');
    this.publishing = true;
    try {
      return await this.publishOnce(offerSdp);
    } finally {
      this.publishing = false;
    }
  }

  private async publishOnce(offerSdp: string): Promise<string> {
    const offer = parseOffer(offerSdp);
    const { router, server } = await this.guard(this.room.router());
    let plans: Array<{ kind: 'audio' | 'video'; rtp: ms.RtpParameters; remote: ms.RtpParameters; media: SessionDescription['media'][number] }>;
    try {
      const local = extractRtpCapabilities({ sdpObject: offer as never });
      const extended = getExtendedRtpCapabilities(local, router.rtpCapabilities as never, false);
      plans = offer.media.map((media) => {
        const kind = media.type as 'audio' | 'video';
        if (media.mid === undefined) throw new SdpError(`The ${kind} section has no a=mid.`);
        if (media.direction !== 'sendonly' && media.direction !== 'sendrecv') throw new SdpError(`The ${kind} section does not send (a=${media.direction ?? 'sendrecv'}).`);
        const rtp = getSendingRtpParameters(kind, extended) as ms.RtpParameters;
        const remote = getSendingRemoteRtpParameters(kind, extended) as ms.RtpParameters;
        if (rtp.codecs.length === 0) {
          throw new SdpError('None of the offered media could be accepted: the server takes VP8 video and Opus audio.');
        }
        rtp.mid = String(media.mid);
        rtp.rtcp = { ...rtp.rtcp, cname: getCname({ offerMediaObject: media as never }) };
        rtp.encodings = firstOfSimulcast(media, getRtpEncodings({ offerMediaObject: media as never, codecs: rtp.codecs as never }) as ms.RtpEncodingParameters[]);
        if (kind === 'video') for (const e of rtp.encodings) e.scalabilityMode = 'L1T3';
        return { kind, rtp, remote, media };
      });
    } catch (err) {
      if (err instanceof SdpError) throw err;
      throw engineRefused('publish offer', err);
    }

    const transport = await this.guard(this.createTransport(router, server, 'publish'));
    if (this.closedFlag || this.lostFlag) {
      transport.close();
      throw new PeerClosedError('peer closed');
    }
    const producers: ms.Producer[] = [];
    try {
      const dtls = extractDtlsParameters({ sdpObject: offer as never });
      await this.guard(transport.connect({ dtlsParameters: { ...(dtls as ms.DtlsParameters), role: 'client' } }));
      const answer = new RemoteSdp({
        iceParameters: transport.iceParameters,
        iceCandidates: transport.iceCandidates as never,
        dtlsParameters: { ...transport.dtlsParameters, role: 'auto' } as never,
      });
      answer.updateDtlsRole('server');
      for (const plan of plans) {
        answer.send({
          offerMediaObject: plan.media as never,
          offerRtpParameters: plan.rtp as never,
          answerRtpParameters: plan.remote as never,
          codecOptions: plan.kind === 'video' ? { videoGoogleStartBitrate: 1000 } : {},
        });
        producers.push(
          await this.guard(
            transport.produce({ kind: plan.kind, rtpParameters: plan.rtp, keyFrameRequestDelay: 500, appData: { peer: this.id } }),
          ),
        );
      }
      const sdp = answer.getSdp();
      checkAnswerAcceptsMedia(sdp);
      if (this.closedFlag || this.lostFlag) throw new PeerClosedError('peer closed');
      this.sendTransport = transport;
      for (const producer of producers) this.onPublished({ publisherId: this.id, kind: producer.kind, producer });
      return sdp;
    } catch (err) {
      transport.close();
      if (err instanceof PeerClosedError || err instanceof SdpError) throw err;
      throw engineRefused('publish offer', err);
    }
  }

  // ---- subscribe -----------------------------------------------------------------------------

  private enqueue(work: () => Promise<void>): void {
    this.ops = this.ops.then(work).catch((err: unknown) => {
      if (this.closedFlag || this.lostFlag || err instanceof PeerClosedError) return;
      log.warn('subscribe side failed', { peer: this.id, err: (err as Error).message });
      this.emit('media-failed', 'subscribe');
    });
  }

  subscribeTo(t: PublishedTrack): void {
    if (this.closedFlag || this.lostFlag || t.producer.closed || this.subs.has(t) || this.receives?.(t.publisherId) === false) return;
    const sub: Subscription = { consumer: undefined, mid: undefined };
    this.subs.set(t, sub);
    this.enqueue(async () => {
      const { router, server } = await this.guard(this.room.router());
      if (!this.recvTransport) {
        const transport = await this.guard(this.createTransport(router, server, 'subscribe'));
        try {
          await this.guard(transport.setMinOutgoingBitrate(MIN_OUTGOING_BITRATE));
        } catch (err) {
          transport.close();
          throw err;
        }
        this.recvTransport = transport;
        this.recvSdp = new RemoteSdp({
          iceParameters: transport.iceParameters,
          iceCandidates: transport.iceCandidates as never,
          dtlsParameters: { ...transport.dtlsParameters, role: 'auto' } as never,
        });
      }
      if (this.subs.get(t) !== sub || t.producer.closed) return;
      const layer = this.layerFor(t.publisherId);
      const consumer = await this.guard(
        this.recvTransport.consume({
          producerId: t.producer.id,
          rtpCapabilities: router.rtpCapabilities,
          paused: true,
          ...(t.kind === 'video' ? { preferredLayers: { spatialLayer: 0, temporalLayer: layer ?? TOP_TEMPORAL_LAYER } } : {}),
        }),
      );
      if (this.subs.get(t) !== sub) {
        consumer.close();
        return;
      }
      sub.consumer = consumer;
      consumer.once('producerclose', () => this.unsubscribeFrom(t));
      // A layer choice made while the consumer was being created found no consumer to apply to.
      if (t.kind === 'video' && this.layerFor(t.publisherId) !== layer) consumer.setPreferredLayers(this.preferredLayersFor(t.publisherId)).catch(() => undefined);
      sub.mid = consumer.rtpParameters.mid ?? '';
      this.recvSdp!.receive({
        mid: sub.mid,
        kind: t.kind,
        offerRtpParameters: consumer.rtpParameters as never,
        streamId: t.publisherId,
        trackId: consumer.id,
      });
      this.renegotiate();
    });
  }

  private unsubscribeFrom(t: PublishedTrack): void {
    const sub = this.subs.get(t);
    if (!sub) return;
    this.subs.delete(t);
    this.enqueue(async () => {
      if (sub.consumer && !sub.consumer.closed) sub.consumer.close();
      if (this.closedFlag || this.lostFlag || sub.mid === undefined || !this.recvSdp) return;
      this.recvSdp.closeMediaSection(sub.mid);
      this.renegotiate(); // tells the client that this m-section no longer carries that participant
    });
  }

  /** The size check held or released a producer: pause or resume this peer's consumer of it. */
  refreshHold(producerId: string): void {
    if (this.closedFlag || this.lostFlag) return;
    for (const sub of this.subs.values()) {
      const c = sub.consumer;
      if (!c || c.closed || c.producerId !== producerId) continue;
      if (!this.room.released(producerId)) {
        // Even when it reads paused: a resume may be in flight, and the worker takes requests in order.
        sub.held = true;
        c.pause().catch(() => undefined);
      } else if ((c.paused || sub.held) && sub.answered) {
        sub.held = false;
        void this.resume(c);
      }
    }
  }

  refreshVideo(publisherId: string): void {
    if (this.closedFlag || this.lostFlag) return;
    for (const [t, sub] of this.subs) {
      const c = sub.consumer;
      if (t.publisherId !== publisherId || t.kind !== 'video' || !c || c.closed) continue;
      const released = this.room.released(c.producerId);
      const state = { paused: c.paused, producerPaused: c.producerPaused, answered: sub.answered ?? false, released };
      void c
        .getStats()
        .then((stats) => {
          const layers = (l: ms.ConsumerLayers | undefined) => (l ? `${l.spatialLayer}.${l.temporalLayer ?? '-'}` : 'none');
          log.info('a receiver reports this video stalled; asking for a keyframe', {
            peer: this.id,
            publisher: publisherId,
            consumer: c.id,
            ...state,
            layers: layers(c.currentLayers),
            preferred: layers(c.preferredLayers),
            sent: stats.find((st) => st.type === 'outbound-rtp')?.packetCount ?? 0,
            score: c.score.score,
            producerScore: c.score.producerScore,
          });
        })
        .catch(() => undefined);
      // Paused with nothing holding it back (a resume that never came): resuming asks for a keyframe.
      if (c.paused && sub.answered && released) void this.resume(c);
      else if (!c.paused) c.requestKeyFrame().catch(() => undefined);
    }
  }

  private layerFor(publisherId: string): number | undefined {
    return this.layerOverrides.has(publisherId) ? this.layerOverrides.get(publisherId) : this.defaultLayer;
  }

  /** The preferred layers to ask of a consumer of this publisher's video now. */
  private preferredLayersFor(publisherId: string): { spatialLayer: number; temporalLayer: number } {
    return { spatialLayer: 0, temporalLayer: Math.min(this.layerFor(publisherId) ?? TOP_TEMPORAL_LAYER, TOP_TEMPORAL_LAYER) };
  }

  setVideoLayer(publisherId: string, maxTemporalLayer: number | undefined): void {
    if (maxTemporalLayer === undefined) this.layerOverrides.delete(publisherId);
    else this.layerOverrides.set(publisherId, maxTemporalLayer);
    const layers = this.preferredLayersFor(publisherId);
    for (const [t, sub] of this.subs) {
      if (t.publisherId !== publisherId || t.kind !== 'video' || !sub.consumer || sub.consumer.closed) continue;
      // mediasoup goes down at once and up at the next keyframe or layer-sync frame, asking for one.
      sub.consumer.setPreferredLayers(layers).catch(() => undefined);
    }
  }

  /** Consumers' current temporal layers by publisher (tests, diagnostics). */
  videoLayers(): Array<{ publisherId: string; preferredTemporalLayer: number | undefined; currentTemporalLayer: number | undefined }> {
    const out = [];
    for (const [t, sub] of this.subs) {
      if (t.kind !== 'video' || !sub.consumer) continue;
      out.push({
        publisherId: t.publisherId,
        preferredTemporalLayer: sub.consumer.preferredLayers?.temporalLayer,
        currentTemporalLayer: sub.consumer.currentLayers?.temporalLayer,
      });
    }
    return out;
  }

  private tracks(): TrackInfo[] {
    const out: TrackInfo[] = [];
    for (const [t, sub] of this.subs) {
      if (sub.consumer && sub.mid !== undefined) out.push({ mid: sub.mid, participantId: t.publisherId, kind: t.kind });
    }
    return out;
  }

  /** One offer at a time: changes made while an offer awaits its answer go into the next one. */
  private renegotiate(): void {
    if (this.closedFlag || this.lostFlag || !this.recvSdp) return;
    if (this.offerOutstanding) {
      this.renegotiationPending = true;
      return;
    }
    this.offerOutstanding = true;
    this.renegotiationPending = false;
    // Let a burst of changes queued together (a peer joining with audio and video) share one offer.
    this.enqueue(async () => {
      if (this.closedFlag || this.lostFlag || !this.recvSdp) return;
      const sdp = this.recvSdp.getSdp();
      this.sentOffer = sdp;
      this.offered = [];
      for (const sub of this.subs.values()) if (sub.consumer?.paused) this.offered.push(sub.consumer);
      this.emit('subscribe-offer', { sdp, tracks: this.tracks() });
    });
  }

  async applySubscribeAnswer(answerSdp: string): Promise<void> {
    const transport = this.recvTransport;
    if (!transport || !this.offerOutstanding || !this.sentOffer) throw new SdpError('No subscribe offer is waiting for an answer.');
    checkAnswerMatchesOffer(answerSdp, this.sentOffer);
    if (!this.recvConnected) {
      let dtls: ms.DtlsParameters;
      try {
        dtls = extractDtlsParameters({ sdpObject: parseOffer(answerSdp, 'answer') as never }) as ms.DtlsParameters;
      } catch (err) {
        throw engineRefused('subscribe answer', err);
      }
      // The client's a=setup:active makes it the DTLS client; mediasoup then acts as server.
      try {
        await this.guard(transport.connect({ dtlsParameters: { ...dtls, role: dtls.role === 'server' ? 'server' : 'client' } }));
      } catch (err) {
        if (err instanceof PeerClosedError) throw err;
        throw engineRefused('subscribe answer', err);
      }
      this.recvConnected = true;
    }
    this.offerOutstanding = false;
    this.sentOffer = undefined;
    const resume = this.offered;
    this.offered = [];
    for (const sub of this.subs.values()) if (sub.consumer && resume.includes(sub.consumer)) sub.answered = true;
    await Promise.all(resume.map((c) => this.resume(c)));
    if (this.renegotiationPending) this.renegotiate();
  }

  /**
   * Resumes an answered consumer, unless the size check holds its producer (refreshHold resumes it
   * on release). A resumed video consumer asks its publisher for a keyframe, and is watched until
   * it forwards (watchVideoStart).
   */
  private async resume(c: ms.Consumer): Promise<void> {
    if (c.closed || !this.room.released(c.producerId)) return;
    await c.resume().catch(() => undefined);
    if (c.kind === 'video' && !c.closed && !c.paused) this.watchVideoStart(c, 1);
  }

  /** See VIDEO_START_CHECK_MS: a resumed video consumer that forwards nothing asks for a keyframe again. */
  private watchVideoStart(consumer: ms.Consumer, attempt: number): void {
    setTimeout(() => {
      if (this.closedFlag || this.lostFlag || consumer.closed || consumer.paused) return;
      void consumer
        .getStats()
        .then(async (stats) => {
          const sent = stats.find((st) => st.type === 'outbound-rtp')?.packetCount ?? 0;
          if (sent > 0 || this.closedFlag || consumer.closed) return;
          const transport = (await this.recvTransport?.getStats().catch(() => []))?.[0];
          log.warn('a video consumer has forwarded nothing since it resumed; asking for a keyframe again', {
            peer: this.id,
            consumer: consumer.id,
            attempt,
            layers: consumer.currentLayers ? `${consumer.currentLayers.spatialLayer}.${consumer.currentLayers.temporalLayer ?? '-'}` : 'none',
            producerScore: consumer.score.producerScore,
            availableOutgoingBitrate: transport?.availableOutgoingBitrate ?? 'n/a',
          });
          await consumer.requestKeyFrame();
          if (attempt < VIDEO_START_RETRIES) this.watchVideoStart(consumer, attempt + 1);
        })
        .catch(() => undefined);
    }, VIDEO_START_CHECK_MS).unref();
  }

  async addIceCandidate(target: MediaTarget, candidate: IceCandidateInit): Promise<void> {
    const transport = target === 'publish' ? this.sendTransport : this.recvConnected ? this.recvTransport : undefined;
    if (!transport) throw new SdpError(`No ${target} connection to add an ICE candidate to.`);
    // mediasoup is ICE-lite: it answers the client's connectivity checks and needs no candidates.
    if (candidate.candidate && !/^(a=)?candidate:/.test(candidate.candidate)) throw new SdpError('The ICE candidate was refused: not a candidate line.');
  }

  /** The worker under this peer died; its client is told to rejoin (onto a router on a live worker). */
  lost(): void {
    if (this.closedFlag || this.lostFlag) return;
    this.lostFlag = true;
    this.subs.clear();
    this.emit('media-failed', 'publish');
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closeSignal.abort();
    this.subs.clear();
    // Closing a transport closes its producers (their consumers elsewhere get 'producerclose').
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.emit('close');
  }
}

function parseOffer(sdp: string, what = 'offer'): SessionDescription {
  try {
    const parsed = parseSdp(sdp);
    if (!Array.isArray(parsed.media)) throw new Error('no media');
    return parsed;
  } catch (err) {
    throw new SdpError(`The ${what} is not a valid session description.`, { cause: err });
  }
}

/**
 * libwebrtc sends only the first stream of a legacy simulcast group at our frame sizes
 * (headless/vp8Layers.ts): declare that one, so mediasoup does not wait for the others.
 */
function firstOfSimulcast(media: SessionDescription['media'][number], encodings: ms.RtpEncodingParameters[]): ms.RtpEncodingParameters[] {
  const sim = media.ssrcGroups?.find((g) => g.semantics === 'SIM');
  if (!sim) return encodings;
  const first = Number(sim.ssrcs.split(/\s+/)[0]);
  const kept = encodings.filter((e) => e.ssrc === first);
  return kept.length > 0 ? kept : encodings.slice(0, 1);
}
