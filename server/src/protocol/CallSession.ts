/**
 * The client side of the signaling protocol, written against the standard WebRTC API so that the
 * browser app, the analyzer and test peers (@roamhq/wrtc in Node) share one implementation.
 *
 * It joins with a token, publishes local tracks on a send-only connection, answers the server's
 * offers on a receive-only connection, and recovers from network blips: socket.io reconnects the
 * signaling channel, and a failed media connection triggers a rejoin.
 */
import type { ChallengePrompt, ChallengeView } from './challenge.ts';
import type { Socket } from 'socket.io-client';
import { Emitter } from './Emitter.ts';
import {
  ErrorCode,
  type Ack,
  type AnalysisStatus,
  type IntegrityReport,
  type RiskAlert,
  type RiskUpdate,
  type ClientAcks,
  type ClientEvent,
  type ClientPayload,
  type ConnectErrorData,
  type JoinResult,
  type ParticipantInfo,
  type ProtocolError,
  type SubscribeOffer,
  type TrackInfo,
} from './messages.ts';

/** waiting: the call has not opened (yet, or again after a server restart); joins when it does. */
export type SessionState = 'idle' | 'connecting' | 'joined' | 'reconnecting' | 'waiting' | 'ended' | 'failed';

export interface RemoteTrack {
  participantId: string;
  kind: 'audio' | 'video';
  mid: string;
  track: MediaStreamTrack;
}

export interface MediaStats {
  inbound: Array<{ kind: 'audio' | 'video'; participantId: string; packets: number; framesDecoded: number }>;
  outbound: Array<{ kind: 'audio' | 'video'; packets: number }>;
}

export type SessionEvents = {
  state: [SessionState];
  participants: [ParticipantInfo[]];
  track: [RemoteTrack];
  'track-removed': [RemoteTrack];
  /** A fatal error: the session is over (bad token, room full or closed...). */
  fatal: [ProtocolError];
  /** A non-fatal problem worth showing or logging. */
  warning: [ProtocolError];
  'room-closed': [string];
  /** Whether the analyzer is watching (privileged participants only). */
  analysis: [AnalysisStatus];
  /** Privileged participants only: risk of an analysed participant. */
  risk: [RiskUpdate];
  alert: [RiskAlert];
  'alert-acked': [{ alertId: string; by: string; note?: string }];
  /** Analysed participants: an instruction of a liveness challenge, and its end. */
  'challenge-prompt': [ChallengePrompt];
  'challenge-done': [{ challengeId: string }];
  /** Privileged participants: a liveness challenge's progress and verdict. */
  challenge: [ChallengeView];
};

/** Errors after which retrying cannot help. */
const FATAL_CODES: ReadonlySet<string> = new Set([
  ErrorCode.TokenMissing,
  ErrorCode.TokenMalformed,
  ErrorCode.TokenBadSignature,
  ErrorCode.TokenExpired,
  ErrorCode.TokenWrongRoom,
  ErrorCode.RoomNotFound,
  ErrorCode.RoomFull,
  ErrorCode.RoomClosed,
  ErrorCode.Forbidden,
]);

/** While waiting for the host: the first retry, and the longest pause between two (besides room.opened). */
const WAIT_FIRST_MS = 1000;
const WAIT_MAX_MS = 5000;

/** A media connection 'disconnected' this long is treated as failed and the session rejoins. */
const MEDIA_GRACE_MS = 5000;

export interface CallSessionOptions {
  socket: Socket;
  room: string;
  RTCPeerConnection: typeof RTCPeerConnection;
  /** Tracks to publish; receive-only roles ignore them. */
  localTracks?: MediaStreamTrack[];
  /** How long one request may wait for its ack. */
  requestTimeoutMs?: number;
  /**
   * Publish video as VP8 with three temporal layers (L1T3) where the peer connection supports
   * `scalabilityMode` (Chromium does), so the SFU can give the analyzer a quarter of the frames at
   * full resolution. Default true. Peers that ignore it publish one layer.
   */
  temporalLayers?: boolean;
  /** Rewrites the publish offer before it is applied (headless peers: see headless/vp8Layers.ts). */
  mungeOffer?: (sdp: string) => string;
  /**
   * Rewrites the SFU's descriptions (the publish answer, each subscribe offer) before they are
   * applied. Tests: keep only the TCP candidates, as a client whose network blocks UDP sees it.
   */
  mungeRemote?: (sdp: string) => string;
  /**
   * A call that is not open (ROOM_NOT_FOUND: the host has not opened it, or not again after a
   * server restart) puts the session in 'waiting' and it joins as soon as the call opens (the
   * server says 'room.opened'; retries back off to WAIT_MAX_MS meanwhile), instead of failing.
   * Default false: the web app shows its own waiting room on the failure, and the analyzer never
   * waits for a call. Headless callers (simulated ones) set it.
   */
  waitForHost?: boolean;
}

export class ProtocolFailure extends Error {
  readonly code: string;
  constructor(e: ProtocolError) {
    super(e.message);
    this.name = 'ProtocolFailure';
    this.code = e.code;
  }
}

export class CallSession extends Emitter<SessionEvents> {
  private readonly opts: CallSessionOptions;
  private readonly socket: Socket;
  private stateValue: SessionState = 'idle';
  private joinInfo: JoinResult | undefined;
  private readonly people = new Map<string, ParticipantInfo>();
  private publishPc: RTCPeerConnection | undefined;
  private subscribePc: RTCPeerConnection | undefined;
  private readonly midMap = new Map<string, TrackInfo>();
  private readonly remote = new Map<string, RemoteTrack>();
  private offerChain: Promise<void> = Promise.resolve();
  /** Offers that overtook their join ack, by session; only the current session's is used. */
  private readonly earlyOffers = new Map<string, SubscribeOffer>();
  private generation = 0;
  private mediaTimer: ReturnType<typeof setTimeout> | undefined;
  private media = { audio: true, video: true };
  /** Temporal-layer caps asked for with setVideoLayer(), by publisher. */
  private readonly layerPrefs = new Map<string, number>();
  /** The next pause while waiting for the host. */
  private waitMs = WAIT_FIRST_MS;

  constructor(opts: CallSessionOptions) {
    super();
    this.opts = opts;
    this.socket = opts.socket;
    const s = this.socket;
    s.on('connect', () => void this.join());
    s.on('disconnect', (reason) => {
      this.generation++; // whatever was in flight belongs to the lost connection
      this.teardownMedia();
      if (this.stateValue === 'ended' || this.stateValue === 'failed') return;
      // 'io server disconnect' means the server dropped us on purpose: socket.io will not retry.
      if (reason === 'io server disconnect') s.connect();
      this.setState('reconnecting');
    });
    s.on('connect_error', (err: Error & { data?: ConnectErrorData }) => {
      const code = err.data?.code;
      if (code && FATAL_CODES.has(code)) this.fail({ code, message: err.message });
      else if (this.stateValue !== 'connecting') this.setState('reconnecting');
    });
    s.on('participant.joined', (p: ParticipantInfo) => this.upsert(p));
    s.on('participant.updated', (p: ParticipantInfo) => this.upsert(p));
    s.on('participant.left', ({ id }: { id: string }) => {
      this.people.delete(id);
      for (const [mid, t] of this.remote) {
        if (t.participantId === id) this.dropRemote(mid);
      }
      this.emitPeople();
    });
    s.on('subscribe.offer', (offer: SubscribeOffer) => {
      if (!this.joinInfo) {
        // Arrived before our join ack; used right after it if it belongs to that join.
        if (this.earlyOffers.size > 8) this.earlyOffers.clear();
        this.earlyOffers.set(offer.session, offer);
      } else if (offer.session === this.joinInfo.session) {
        this.queueOffer(offer);
      }
    });
    s.on('room.closed', ({ reason, shutdown }: { reason: string; shutdown?: true }) => {
      if (shutdown && this.stateValue !== 'ended' && this.stateValue !== 'failed') {
        // The server is stopping, perhaps to restart: not the end of the call. Say so, and let the
        // socket reconnect (the server drops it next) and rejoin when the server is back.
        this.generation++;
        this.teardownMedia();
        this.setState('reconnecting');
        this.emit('warning', { code: ErrorCode.RoomClosed, message: reason });
        return;
      }
      this.emit('room-closed', reason);
      this.end();
    });
    s.on('room.opened', ({ room }: { room: string }) => {
      if (room === this.opts.room && this.stateValue === 'waiting' && s.connected) void this.join();
    });
    s.on('media.restart', ({ session }: { session: string; reason: string }) => {
      // Only for the session it names: a rejoin already under way has a new one.
      if (session !== this.joinInfo?.session || this.stateValue === 'ended' || this.stateValue === 'failed') return;
      this.setState('reconnecting');
      void this.join();
    });
    s.on('session.replaced', () => this.fail({ code: ErrorCode.Forbidden, message: 'You joined this call from another window.' }));
    s.on('error', (e: ProtocolError) => this.emit('warning', e));
    s.on('analysis.status', (st: AnalysisStatus) => this.emit('analysis', st));
    s.on('risk.update', (u: RiskUpdate) => this.emit('risk', u));
    s.on('risk.alert', (a: RiskAlert) => this.emit('alert', a));
    s.on('challenge.prompt', (p: ChallengePrompt) => this.emit('challenge-prompt', p));
    s.on('challenge.done', (p: { challengeId: string }) => this.emit('challenge-done', p));
    s.on('challenge.update', (c: ChallengeView) => this.emit('challenge', c));
    s.on('risk.alert.acked', (a: { alertId: string; by: string; note?: string }) => this.emit('alert-acked', a));
  }

  get state(): SessionState {
    return this.stateValue;
  }

  get info(): JoinResult | undefined {
    return this.joinInfo;
  }

  get participants(): ParticipantInfo[] {
    return [...this.people.values()];
  }

  get remoteTracks(): RemoteTrack[] {
    return [...this.remote.values()];
  }

  /** Connect and join; resolves once joined or rejects with the fatal error. */
  start(): Promise<JoinResult> {
    this.setState('connecting');
    return new Promise((resolve, reject) => {
      const offJoined = this.on('state', (st) => {
        if (st === 'joined' && this.joinInfo) {
          offJoined();
          offFatal();
          resolve(this.joinInfo);
        }
      });
      const offFatal = this.on('fatal', (e) => {
        offJoined();
        offFatal();
        reject(new ProtocolFailure(e));
      });
      this.socket.connect();
    });
  }

  private setState(st: SessionState): void {
    if (this.stateValue === st) return;
    this.stateValue = st;
    this.emit('state', st);
  }

  private fail(e: ProtocolError): void {
    if (this.stateValue === 'ended' || this.stateValue === 'failed') return;
    this.teardownMedia();
    this.socket.disconnect();
    this.setState('failed');
    this.emit('fatal', e);
  }

  private upsert(p: ParticipantInfo): void {
    this.people.set(p.id, p);
    this.emitPeople();
  }

  private emitPeople(): void {
    this.emit('participants', this.participants);
  }

  request<E extends ClientEvent>(event: E, payload: ClientPayload<E>): Promise<ClientAcks[E]> {
    const timeout = this.opts.requestTimeoutMs ?? 15000;
    return new Promise((resolve) => {
      this.socket.timeout(timeout).emit(event, payload, (err: Error | null, res: ClientAcks[E]) => {
        resolve(err ? ({ ok: false, error: { code: ErrorCode.Internal, message: `No answer to "${event}" in time.` } } as ClientAcks[E]) : res);
      });
    });
  }

  private async join(): Promise<void> {
    const gen = ++this.generation;
    this.teardownMedia();
    const res = (await this.request('join', { room: this.opts.room })) as Ack<JoinResult>;
    if (gen !== this.generation) return;
    if (!res.ok) {
      if (res.error.code === ErrorCode.RoomNotFound && this.opts.waitForHost) {
        this.setState('waiting');
        this.scheduleRejoin(this.waitMs);
        this.waitMs = Math.min(WAIT_MAX_MS, Math.round(this.waitMs * 1.5));
      } else if (FATAL_CODES.has(res.error.code)) this.fail(res.error);
      else {
        this.emit('warning', res.error);
        this.scheduleRejoin(2000);
      }
      return;
    }
    this.joinInfo = res;
    if (res.analysis) this.emit('analysis', res.analysis);
    this.people.clear();
    for (const p of res.participants) this.people.set(p.id, p);
    this.emitPeople();
    const early = this.earlyOffers.get(res.session);
    this.earlyOffers.clear();
    if (early) this.queueOffer(early);
    try {
      if (res.canPublish && this.opts.localTracks?.length) await this.publish(gen);
      if (gen !== this.generation) return;
      if (res.canPublish) await this.request('media.state', this.media);
      for (const [participantId, maxTemporalLayer] of this.layerPrefs) await this.request('media.layers', { participantId, maxTemporalLayer });
      if (gen !== this.generation) return;
      this.waitMs = WAIT_FIRST_MS;
      this.setState('joined');
    } catch (err) {
      if (gen !== this.generation) return;
      this.emit('warning', { code: ErrorCode.Internal, message: `Publishing failed: ${(err as Error).message}` });
      this.scheduleRejoin(2000);
    }
  }

  private scheduleRejoin(delayMs: number): void {
    const gen = this.generation;
    setTimeout(() => {
      if (gen === this.generation && this.socket.connected && this.stateValue !== 'ended' && this.stateValue !== 'failed') {
        if (this.stateValue !== 'waiting') this.setState('reconnecting');
        void this.join();
      }
    }, delayMs);
  }

  private newPc(target: 'publish' | 'subscribe', gen: number): { pc: RTCPeerConnection; flush: () => void } {
    const pc = new this.opts.RTCPeerConnection({ iceServers: this.joinInfo?.iceServers ?? [] });
    // The server accepts candidates only once it has our description: hold them until then.
    let held: RTCIceCandidateInit[] | undefined = [];
    const send = (c: RTCIceCandidateInit) =>
      void this.request('ice', {
        target,
        candidate: { candidate: c.candidate ?? '', sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null },
      });
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || !ev.candidate.candidate) return;
      const c = ev.candidate.toJSON ? ev.candidate.toJSON() : (ev.candidate as RTCIceCandidateInit);
      if (held) held.push(c);
      else send(c);
    };
    pc.onconnectionstatechange = () => this.watchMedia(pc, gen);
    return {
      pc,
      flush: () => {
        const list = held ?? [];
        held = undefined;
        list.forEach(send);
      },
    };
  }

  private watchMedia(pc: RTCPeerConnection, gen: number): void {
    if (gen !== this.generation) return;
    const st = pc.connectionState;
    if (st === 'failed') {
      this.setState('reconnecting');
      void this.join();
    } else if (st === 'disconnected') {
      clearTimeout(this.mediaTimer);
      this.mediaTimer = setTimeout(() => {
        if (gen === this.generation && pc.connectionState !== 'connected') {
          this.setState('reconnecting');
          void this.join();
        }
      }, MEDIA_GRACE_MS);
    }
  }

  private async publish(gen: number): Promise<void> {
    const { pc, flush } = this.newPc('publish', gen);
    this.publishPc = pc;
    for (const track of this.opts.localTracks ?? []) addSendTransceiver(pc, track, this.opts.temporalLayers ?? true);
    const created = await pc.createOffer();
    const offer = this.opts.mungeOffer ? { type: created.type, sdp: this.opts.mungeOffer(created.sdp ?? '') } : created;
    await pc.setLocalDescription(offer);
    const res = await this.request('publish', { sdp: pc.localDescription?.sdp ?? offer.sdp ?? '' });
    if (gen !== this.generation) return;
    if (!res.ok) throw new ProtocolFailure(res.error);
    await pc.setRemoteDescription({ type: 'answer', sdp: this.opts.mungeRemote?.(res.sdp) ?? res.sdp });
    flush();
  }

  private queueOffer(offer: SubscribeOffer): void {
    const gen = this.generation;
    this.offerChain = this.offerChain
      .then(() => (gen === this.generation ? this.answer(offer, gen) : undefined))
      .catch((err: unknown) => {
        if (gen !== this.generation) return;
        this.emit('warning', { code: ErrorCode.BadSdp, message: `Could not receive media: ${(err as Error).message}` });
        this.scheduleRejoin(1000);
      });
  }

  private async answer(offer: SubscribeOffer, gen: number): Promise<void> {
    let flush: (() => void) | undefined;
    if (!this.subscribePc) {
      const created = this.newPc('subscribe', gen);
      this.subscribePc = created.pc;
      flush = created.flush;
    }
    const pc = this.subscribePc;
    await pc.setRemoteDescription({ type: 'offer', sdp: this.opts.mungeRemote?.(offer.sdp) ?? offer.sdp });
    this.syncRemoteTracks(pc, offer.tracks);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (gen !== this.generation) return;
    const res = await this.request('subscribe.answer', { sdp: pc.localDescription?.sdp ?? answer.sdp ?? '' });
    if (!res.ok) throw new ProtocolFailure(res.error);
    flush?.();
  }

  /**
   * The server reuses a receive slot (mid) when one participant leaves and another publishes, so
   * tracks are matched to participants from each offer's list rather than from 'track' events.
   */
  private syncRemoteTracks(pc: RTCPeerConnection, tracks: TrackInfo[]): void {
    this.midMap.clear();
    for (const t of tracks) this.midMap.set(t.mid, t);
    for (const [mid, t] of [...this.remote]) {
      if (this.midMap.get(mid)?.participantId !== t.participantId) this.dropRemote(mid);
    }
    for (const tr of pc.getTransceivers()) {
      const info = tr.mid ? this.midMap.get(tr.mid) : undefined;
      if (!tr.mid || !info || this.remote.has(tr.mid)) continue;
      const t: RemoteTrack = { participantId: info.participantId, kind: info.kind, mid: tr.mid, track: tr.receiver.track };
      this.remote.set(tr.mid, t);
      this.emit('track', t);
    }
  }

  private dropRemote(mid: string): void {
    const t = this.remote.get(mid);
    if (!t) return;
    this.remote.delete(mid);
    this.emit('track-removed', t);
  }

  private teardownMedia(): void {
    clearTimeout(this.mediaTimer);
    this.joinInfo = undefined;
    this.publishPc?.close();
    this.subscribePc?.close();
    this.publishPc = undefined;
    this.subscribePc = undefined;
    this.offerChain = Promise.resolve();
    this.midMap.clear();
    for (const mid of [...this.remote.keys()]) this.dropRemote(mid);
  }

  /** Media counters per direction, for diagnostics and end-to-end tests. */
  async stats(): Promise<MediaStats> {
    const out: MediaStats = { inbound: [], outbound: [] };
    const sub = await this.subscribePc?.getStats();
    sub?.forEach((r: { type: string; kind?: string; mid?: string; packetsReceived?: number; framesDecoded?: number }) => {
      if (r.type !== 'inbound-rtp') return;
      const info = r.mid ? this.midMap.get(r.mid) : undefined;
      out.inbound.push({
        kind: r.kind === 'audio' ? 'audio' : 'video',
        participantId: info?.participantId ?? '',
        packets: r.packetsReceived ?? 0,
        framesDecoded: r.framesDecoded ?? 0,
      });
    });
    const pub = await this.publishPc?.getStats();
    pub?.forEach((r: { type: string; kind?: string; packetsSent?: number }) => {
      if (r.type === 'outbound-rtp') out.outbound.push({ kind: r.kind === 'audio' ? 'audio' : 'video', packets: r.packetsSent ?? 0 });
    });
    return out;
  }

  /** Mute / camera off: the track keeps its slot (no renegotiation); others are told. */
  async setMedia(state: { audio: boolean; video: boolean }): Promise<void> {
    this.media = { ...state };
    for (const t of this.opts.localTracks ?? []) t.enabled = t.kind === 'audio' ? state.audio : state.video;
    if (this.joinInfo?.canPublish) await this.request('media.state', this.media);
  }

  /**
   * Receivers: cap (or uncap, null) the VP8 temporal layer received from one publisher. Kept
   * across rejoins: a fresh session starts at the server's default and gets it again.
   */
  /** The cap last asked for with setVideoLayer(); undefined: the server's default. */
  videoLayer(participantId: string): number | undefined {
    return this.layerPrefs.get(participantId);
  }

  async setVideoLayer(participantId: string, maxTemporalLayer: number | null): Promise<void> {
    if (maxTemporalLayer === null) this.layerPrefs.delete(participantId);
    else this.layerPrefs.set(participantId, maxTemporalLayer);
    if (this.stateValue !== 'joined') return;
    const res = await this.request('media.layers', { participantId, maxTemporalLayer });
    if (!res.ok) throw new ProtocolFailure(res.error);
  }

  /**
   * Receivers: one publisher's video has stopped arriving although their camera is on. The server
   * asks the publisher for a keyframe and logs where the video stops ('media.refresh').
   */
  async refreshVideo(participantId: string): Promise<void> {
    if (this.stateValue !== 'joined') return;
    const res = await this.request('media.refresh', { participantId });
    if (!res.ok) throw new ProtocolFailure(res.error);
  }

  async acknowledgeAlert(alertId: string, note?: string): Promise<void> {
    const res = await this.request('alert.ack', { alertId, ...(note ? { note } : {}) });
    if (!res.ok) throw new ProtocolFailure(res.error);
  }

  async reportIntegrity(report: IntegrityReport): Promise<void> {
    const res = await this.request('integrity.report', report);
    if (!res.ok) throw new ProtocolFailure(res.error);
  }

  /** Asks an analysed participant to take a liveness challenge; resolves with its initial state. */
  async startChallenge(participantId: string): Promise<ChallengeView> {
    const res = await this.request('challenge.start', { participantId });
    if (!res.ok) throw new ProtocolFailure(res.error);
    return res.challenge;
  }

  async closeRoom(): Promise<void> {
    const res = await this.request('room.close', {});
    if (!res.ok) throw new ProtocolFailure(res.error);
  }

  async leave(): Promise<void> {
    if (this.stateValue === 'ended') return;
    if (this.socket.connected) await this.request('leave', {});
    this.end();
  }

  private end(): void {
    this.generation++;
    this.teardownMedia();
    this.socket.disconnect();
    this.setState('ended');
  }
}

/**
 * Adds a send-only transceiver; video asks for L1T3 when wanted. A browser that knows
 * scalabilityMode but not this mode throws: publish one layer rather than nothing.
 */
function addSendTransceiver(pc: RTCPeerConnection, track: MediaStreamTrack, temporalLayers: boolean): void {
  if (track.kind === 'video' && temporalLayers) {
    try {
      pc.addTransceiver(track, { direction: 'sendonly', sendEncodings: [{ scalabilityMode: 'L1T3' } as RTCRtpEncodingParameters] });
      return;
    } catch {
      // fall through
    }
  }
  pc.addTransceiver(track, { direction: 'sendonly' });
}
