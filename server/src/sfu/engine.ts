/**
 * The SFU engine boundary. Signaling talks SDP to browsers; an engine turns that SDP into media
 * forwarding. Kept narrow so mediasoup (behind an SDP bridge) can implement it too.
 *
 * Lifecycle, as in mediasoup: engine.close() closes its rooms, room.close() closes its peers, and
 * every object emits 'close' exactly once, whichever way it was closed.
 *
 * Each peer has two media connections, as LiveKit does: a publish connection the client offers
 * (its camera and microphone) and a subscribe connection the server offers (everyone else's
 * media). Offers never cross, so there is no glare.
 */
import type { EventEmitter } from 'node:events';
import type { SubscribeOffer } from '../protocol/messages.ts';

export type MediaTarget = 'publish' | 'subscribe';

export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null | undefined;
  sdpMLineIndex?: number | null | undefined;
}

export interface SfuPeerEvents {
  /** A (re)negotiated offer for the subscribe connection; answer with applySubscribeAnswer(). */
  'subscribe-offer': [Omit<SubscribeOffer, 'session'>];
  /** A media connection reached 'failed'; the client should rejoin. */
  'media-failed': [MediaTarget];
  close: [];
}

export interface SfuPeer extends EventEmitter<SfuPeerEvents> {
  readonly id: string;
  readonly closed: boolean;
  /** Answer the client's offer for its publish connection (audio and/or video, send-only). */
  publish(offerSdp: string): Promise<string>;
  applySubscribeAnswer(answerSdp: string): Promise<void>;
  addIceCandidate(target: MediaTarget, candidate: IceCandidateInit): Promise<void>;
  /**
   * Caps the video this peer receives from one publisher at a VP8 temporal layer (0: base layer
   * only); undefined: the peer's default (PeerOptions.maxTemporalLayer). Applies to that
   * publisher's current and future video tracks. mediasoup: consumer.setPreferredLayers({
   * spatialLayer: 0, temporalLayer }).
   */
  setVideoLayer(publisherId: string, maxTemporalLayer: number | undefined): void;
  /**
   * The receiver says one publisher's video has stopped reaching it (the analyzer's stall check):
   * ask the publisher for a keyframe, as the receiver's own PLI would (a hidden peer's waits for
   * the next cover keyframe where those run), resume a consumer left paused that may flow, and log
   * this peer's forwarding state for that video, so that a stall says where it is.
   */
  refreshVideo(publisherId: string): void;
  close(): void;
}

export interface SfuRoomEvents {
  close: [];
}

export interface PeerOptions {
  id: string;
  /** Receive-only peers (supervisors, analyzers) are refused on publish(). */
  canPublish: boolean;
  /**
   * Highest VP8 temporal layer this peer receives by default; undefined: all. The analyzer gets 0
   * (a quarter of a 30 fps L1T3 stream, full resolution) and raises it per publisher when boosted.
   */
  maxTemporalLayer?: number | undefined;
  /**
   * A participant the publishers must not notice (a supervisor): where the engine can, its joining
   * causes no keyframe request of its own (see README.md, "Hidden subscribers and keyframes").
   */
  hidden?: boolean | undefined;
  /**
   * Which publishers' tracks this peer receives; default: everyone's. The analyzer only receives
   * the analysed side: a clinician's video it never judges would still be decoded by its
   * receiver, a video decoder's work per call for nothing.
   */
  receives?: ((publisherId: string) => boolean) | undefined;
}

export interface SfuRoom extends EventEmitter<SfuRoomEvents> {
  readonly id: string;
  readonly closed: boolean;
  /** Creates a peer that receives every other peer's media, now and as it is published. */
  createPeer(opts: PeerOptions): SfuPeer;
  close(): void;
}

export interface SfuEngine {
  readonly name: string;
  createRoom(id: string): SfuRoom;
  /**
   * Media connections whose ICE has chosen a path, by its transport protocol (metrics: how many
   * callers need ICE over TCP). Engines that cannot tell leave it out.
   */
  mediaConnections?(): Record<'udp' | 'tcp', number>;
  close(): void;
}

/**
 * A client sent SDP the engine cannot use; the message is safe to show that client. When the engine
 * itself refused it, its own words go in `cause`, for the server log only: they are the engine's
 * internals ("Cannot read properties of undefined (reading 'iceParams')"), no help to the client
 * and a map of the server for anyone probing it.
 */
export class SdpError extends Error {
  override name = 'SdpError';
}

/** The engine refused the client's SDP: a product message for the client, the engine's error as the cause. */
export function engineRefused(what: 'publish offer' | 'subscribe answer' | 'ICE candidate', cause: unknown): SdpError {
  const why: Record<typeof what, string> = {
    'publish offer': 'The publish offer was refused: the server could not negotiate it (it takes a standard WebRTC offer with VP8 video and Opus audio).',
    'subscribe answer': 'The subscribe answer was refused: it does not answer the offer the server sent.',
    'ICE candidate': 'The ICE candidate was refused: it is not a candidate the server can use.',
  };
  return new SdpError(why[what], { cause });
}

/** The peer closed (its participant left) while a request on it was in flight. */
export class PeerClosedError extends Error {
  override name = 'PeerClosedError';
}

/**
 * `work`, or PeerClosedError as soon as the peer closes (`closed` now, or `signal` later): an engine
 * may never settle a call on a closed connection, and no caller should wait on one forever.
 */
export function untilPeerClosed<T>(work: Promise<T>, closed: boolean, signal: AbortSignal): Promise<T> {
  if (closed) return Promise.reject(new PeerClosedError('peer closed'));
  return new Promise<T>((resolve, reject) => {
    const onClose = () => reject(new PeerClosedError('peer closed'));
    signal.addEventListener('abort', onClose, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onClose));
  });
}
