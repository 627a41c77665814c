/**
 * socket.io signaling: authenticates each connection by its join token, validates every event
 * against the protocol schemas, authorises it by role, and drives CallRoom and the SFU engine.
 * Errors go to the offending client only, on its ack (or an 'error' event when it gave none).
 */
import type { Server, Socket } from 'socket.io';
import { isServiceToken, tokenExpired, verifyServiceToken, verifyToken, type TokenClaims } from '../auth/token.ts';
import { logger } from '../log.ts';
import {
  ClientMessages,
  ErrorCode,
  type Ack,
  type ClientAcks,
  type ClientEvent,
  type ClientEvents,
  type ClientPayload,
  type AnalysisStatus,
  type IceServer,
  type JoinResult,
  type ServerEvents,
} from '../protocol/messages.ts';
import { canPublish, isHost, isPrivileged } from '../protocol/roles.ts';
import { ALL_ROOMS } from '../protocol/dashboard.ts';
import { PeerClosedError, SdpError } from '../sfu/engine.ts';
import { infoOf, type CallRoom, type JoinRequest, type Participant } from './CallRoom.ts';
import { ClientError, handshakeRefusal } from '../errors.ts';
import { ConnectionCap } from './ConnectionCap.ts';
import { RateLimiter } from './RateLimiter.ts';
import type { Metrics } from '../metrics/Metrics.ts';
import { eventArgs } from './ackArgs.ts';
import type { RoomRegistry } from './RoomRegistry.ts';
import type { RiskDesk } from '../screening/RiskDesk.ts';
import type { ChallengeDesk } from '../screening/ChallengeDesk.ts';

const log = logger('signaling');

/** media.refresh: at most one keyframe request per receiver and publisher in this long. */
export const MEDIA_REFRESH_INTERVAL_MS = 4000;

/** The socket.io room of the sockets waiting for a call to open. */
const waitingFor = (room: string) => `waiting:${room}`;

/** Who is on a connection: a person with a join token, or the analyzer with its service token. */
export type Principal =
  | ({ kind: 'user' } & TokenClaims)
  | { kind: 'service'; sub: string; exp: number };

export interface SocketData {
  principal: Principal;
  limiter: RateLimiter;
  session?: { room: CallRoom; participant: Participant };
  /** media.refresh: when this connection last had each publisher asked for a keyframe. */
  refreshed?: Map<string, number>;
}

export type IoServer = Server<ClientEvents, ServerEvents, Record<string, never>, SocketData>;
type IoSocket = Socket<ClientEvents, ServerEvents, Record<string, never>, SocketData>;

type Result<E extends ClientEvent> = ClientAcks[E] extends Ack<infer T> ? T : never;
type Handler<E extends ClientEvent> = (socket: IoSocket, payload: ClientPayload<E>) => Promise<Result<E>> | Result<E>;

export interface SignalingOptions {
  tokenSecret: string;
  iceServers: IceServer[];
  registry: RoomRegistry;
  /** Current analysis status, handed to privileged participants when they join. */
  analysisStatus: () => AnalysisStatus;
  /** Whether this analyzer (by its service token's subject) is the one the pool gave this call to. */
  analyzerMayJoin: (sub: string, room: string) => boolean;
  /** The call's analyzer has joined it (after analyzerMayJoin said yes): its raised states go to it again. Default: nothing. */
  analyzerJoined?: (sub: string, room: string) => void;
  risk: Pick<RiskDesk, 'acknowledge' | 'integrity'>;
  challenges: Pick<ChallengeDesk, 'start'>;
  /** Open connections one join link may hold (by participant id); the analyzer's service token is not capped. */
  maxConnectionsPerToken?: number;
  /** The server's metrics (dfs_video_refresh_requests_total); default: none kept. */
  metrics?: Pick<Metrics, 'inc'>;
}

export class SignalingServer {
  private readonly io: IoServer;
  private readonly opts: SignalingOptions;
  private readonly onOpened: (room: string) => void;
  private readonly cap: ConnectionCap;

  constructor(io: IoServer, opts: SignalingOptions) {
    this.io = io;
    this.opts = opts;
    this.cap = new ConnectionCap(opts.maxConnectionsPerToken ?? 5);
    io.use((socket, next) => {
      try {
        const token = (socket.handshake.auth as { token?: unknown }).token;
        socket.data.principal = isServiceToken(token)
          ? (({ sub, exp }) => ({ kind: 'service' as const, sub, exp }))(verifyServiceToken(opts.tokenSecret, token))
          : { kind: 'user', ...verifyToken(opts.tokenSecret, token) };
        socket.data.limiter = new RateLimiter(60, 30);
        if (socket.data.principal.kind === 'user') this.cap.admit(socket.data.principal.sub, socket);
        next();
      } catch (err) {
        next(handshakeRefusal(err));
      }
    });
    io.on('connection', (socket) => this.onConnection(socket));
    // Who came before the host (or back before it, after a server restart) is told the moment the
    // call opens, and joins then (CallSession waits and retries meanwhile, so nobody is locked out).
    this.onOpened = (id) => io.to(waitingFor(id)).emit('room.opened', { room: id });
    opts.registry.on('opened', this.onOpened);
  }

  private onConnection(socket: IoSocket): void {
    this.handle(socket, 'join', (s, p) => this.join(s, p));
    this.handle(socket, 'publish', async (s, p) => {
      const { participant } = this.session(s);
      if (!canPublish(participant.role)) throw new ClientError(ErrorCode.Forbidden, 'Supervisors join receive-only.');
      return { sdp: await participant.peer.publish(p.sdp) };
    });
    this.handle(socket, 'subscribe.answer', async (s, p) => {
      await this.session(s).participant.peer.applySubscribeAnswer(p.sdp);
      return {};
    });
    this.handle(socket, 'ice', async (s, p) => {
      await this.session(s).participant.peer.addIceCandidate(p.target, p.candidate);
      return {};
    });
    this.handle(socket, 'media.state', (s, p) => {
      const { room, participant } = this.session(s);
      if (!canPublish(participant.role)) throw new ClientError(ErrorCode.Forbidden, 'Supervisors join receive-only.');
      room.updateMedia(participant, p);
      return {};
    });
    this.handle(socket, 'media.layers', (s, p) => {
      const { room, participant } = this.session(s);
      // Only for someone in the call: the peer keeps one entry per id for the whole call. Not an
      // error otherwise: a client rejoining replays its choices, some for people who have left.
      if (room.get(p.participantId)) participant.peer.setVideoLayer(p.participantId, p.maxTemporalLayer ?? undefined);
      return {};
    });
    this.handle(socket, 'media.refresh', (s, p) => {
      const { room, participant } = this.session(s);
      // A keyframe request reaches the publisher: one per receiver and publisher per interval, so
      // that no client can make a publisher's encoder send keyframe after keyframe.
      const now = Date.now();
      const refreshed = (s.data.refreshed ??= new Map());
      if (!room.get(p.participantId) || now - (refreshed.get(p.participantId) ?? -Infinity) < MEDIA_REFRESH_INTERVAL_MS) return {};
      refreshed.set(p.participantId, now);
      this.opts.metrics?.inc('dfs_video_refresh_requests_total', "Receivers' reports of a publisher's video stalled (media.refresh) that asked for a keyframe.", { role: participant.role });
      participant.peer.refreshVideo(p.participantId);
      return {};
    });
    this.handle(socket, 'leave', (s) => {
      this.endSession(s);
      return {};
    });
    this.handle(socket, 'room.close', (s) => {
      const { room, participant } = this.session(s);
      if (!isHost(participant.role)) throw new ClientError(ErrorCode.Forbidden, 'Only the host can end the call.');
      log.info('room closed by host', { room: room.id, by: participant.id });
      // Ack first: closing the room ends the host's own session too.
      setImmediate(() => this.opts.registry.close(room.id, `${participant.name} ended the call.`));
      return {};
    });
    this.handle(socket, 'alert.ack', (s, p) => {
      const { room, participant } = this.session(s);
      if (!isPrivileged(participant.role)) throw new ClientError(ErrorCode.Forbidden, 'Only clinicians, agents and supervisors handle alerts.');
      if (!this.opts.risk.acknowledge(room.id, participant, p.alertId, p.note)) {
        throw new ClientError(ErrorCode.BadRequest, 'No such alert in this call.');
      }
      return {};
    });
    this.handle(socket, 'integrity.report', (s, p) => {
      const { room, participant } = this.session(s);
      if (isPrivileged(participant.role) || participant.role === 'analyzer') {
        throw new ClientError(ErrorCode.Forbidden, 'Only analysed participants report their capture device.');
      }
      this.opts.risk.integrity(room.id, participant, p);
      return {};
    });
    this.handle(socket, 'challenge.start', (s, p) => {
      const { room, participant } = this.session(s);
      return { challenge: this.opts.challenges.start(room, participant, p.participantId) };
    });
    socket.onAny((event: string) => {
      // Unknown events count against the same limit as known ones: a flood of them is answered
      // until the limit, then dropped, never by one error reply each.
      if (!Object.hasOwn(ClientMessages, event) && socket.data.limiter.take()) {
        socket.emit('error', { code: ErrorCode.BadRequest, message: `Unknown event "${String(event).slice(0, 64)}".` });
      }
    });
    socket.on('disconnect', () => this.endSession(socket));
  }

  /** Wraps a handler with rate limiting, schema validation, authorisation errors and the ack. */
  private handle<E extends ClientEvent>(socket: IoSocket, event: E, handler: Handler<E>): void {
    const schema = ClientMessages[event];
    const listener = async (...args: unknown[]) => {
      const { payload, reply } = eventArgs<Ack<object>>(args, socket);
      try {
        if (!socket.data.limiter.take()) throw new ClientError(ErrorCode.RateLimited, 'Too many messages; slow down.');
        const parsed = schema.safeParse(payload);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          const where = issue?.path.length ? ` at "${issue.path.join('.')}"` : '';
          throw new ClientError(ErrorCode.BadRequest, `Invalid "${event}" message${where}: ${issue?.message ?? 'malformed'}.`);
        }
        const result = await handler(socket, parsed.data as ClientPayload<E>);
        reply({ ok: true, ...result });
      } catch (err) {
        reply({ ok: false, error: this.toClientError(err, socket, event).toProtocol() });
      }
    };
    socket.on(event as never, listener as never);
  }

  private toClientError(err: unknown, socket: IoSocket, event: string): ClientError {
    if (err instanceof ClientError) return err;
    if (err instanceof SdpError) {
      // The engine's own words stay here; the client gets the product message.
      if (err.cause !== undefined) log.warn('SDP refused by the engine', { event, socket: socket.id, detail: err.cause instanceof Error ? err.cause.message : String(err.cause) });
      return new ClientError(ErrorCode.BadSdp, err.message);
    }
    if (err instanceof PeerClosedError) return new ClientError(ErrorCode.NotJoined, 'That session has ended.');
    log.error('handler failed', { event, socket: socket.id, err: err instanceof Error ? err.stack : String(err) });
    return new ClientError(ErrorCode.Internal, 'The server could not handle this request.');
  }

  private session(socket: IoSocket): { room: CallRoom; participant: Participant } {
    const session = socket.data.session;
    if (!session || session.room.closed) throw new ClientError(ErrorCode.NotJoined, 'Join a call first.');
    // Replaced by the same identity from another connection: this session is over, and must not
    // act in the call (its media.state was broadcast as the live session's).
    if (session.room.get(session.participant.id) !== session.participant) throw new ClientError(ErrorCode.NotJoined, 'This session was replaced by another window; join again to take over.');
    return session;
  }

  private join(socket: IoSocket, payload: ClientPayload<'join'>): JoinResult {
    const who = socket.data.principal;
    // The token was checked when the socket connected; a socket kept open must not join calls on it
    // after it expires (a call already joined runs on: nobody is cut off mid-call).
    if (tokenExpired(who)) {
      throw new ClientError(ErrorCode.TokenExpired, who.kind === 'user' ? 'The join link has expired. Ask for a new one.' : 'The service token has expired.');
    }
    // An all-calls supervisor token (the dashboard's) opens any call, as a silent observer.
    if (who.kind === 'user' && who.room !== payload.room && who.room !== ALL_ROOMS) {
      throw new ClientError(ErrorCode.TokenWrongRoom, `This join link is for another call, not "${payload.room}".`);
    }
    // A rejoin from this socket (e.g. after a media failure) starts a fresh session: one in another
    // call ends here; one in this call is replaced below, so the call is never empty meanwhile.
    const own = socket.data.session;
    if (own && (own.room.closed || own.room.id !== payload.room)) this.endSession(socket);
    const id = who.kind === 'user' ? who.sub : `${who.sub}:${payload.room}`;
    const role = who.kind === 'user' ? who.role : 'analyzer';
    let room: CallRoom | undefined;
    try {
      if (who.kind === 'user') {
        try {
          room = this.opts.registry.admit(payload.room, id, who.role, who.roomType);
        } catch (err) {
          if (err instanceof ClientError && err.code === ErrorCode.RoomNotFound) void socket.join(waitingFor(payload.room));
          throw err;
        }
        void socket.leave(waitingFor(payload.room));
      } else {
        // The analyzer follows calls; it never opens one.
        room = this.opts.registry.get(payload.room);
        if (!room) throw new ClientError(ErrorCode.RoomNotFound, `No call "${payload.room}" is open.`);
        // One worker per call: another analyzer joining would analyse the call twice.
        if (!this.opts.analyzerMayJoin(who.sub, payload.room)) throw new ClientError(ErrorCode.Forbidden, `The call "${payload.room}" is another analyzer's.`);
      }
    } catch (err) {
      // A rejoin refused (e.g. the call is now another analyzer's) leaves nothing of the old session.
      this.endSession(socket);
      throw err;
    }
    const previous = room.get(id);
    // Same identity from another connection (a reload, or a reconnect that beat our disconnect).
    if (previous && previous.channel !== socket) previous.channel.emit('session.replaced');
    const name = who.kind === 'user' ? who.name : 'Analyzer';
    const request: JoinRequest = { id, name, role, channel: socket };
    delete socket.data.session;
    const participant = previous ? room.replace(previous, request) : room.add(request);
    // No listener on the room per join (one per join, never removed, held every participant and its
    // socket: the heap grew without bound). A session whose call ended is told by room.closed.
    socket.data.session = { room, participant };
    log.debug('joined', { room: room.id, participant: participant.id, role });
    if (who.kind !== 'user') this.opts.analyzerJoined?.(who.sub, room.id);
    return {
      session: participant.session,
      self: infoOf(participant),
      room: room.id,
      participants: room.visibleTo(participant),
      iceServers: this.opts.iceServers,
      canPublish: canPublish(role),
      ...(isPrivileged(role) ? { analysis: this.opts.analysisStatus() } : {}),
    };
  }

  private endSession(socket: IoSocket): void {
    const session = socket.data.session;
    if (!session) return;
    delete socket.data.session;
    if (session.room.closed) return;
    session.room.remove(session.participant);
    log.debug('left', { room: session.room.id, participant: session.participant.id });
  }

  close(): void {
    this.opts.registry.off('opened', this.onOpened);
    this.io.disconnectSockets(true);
  }
}
