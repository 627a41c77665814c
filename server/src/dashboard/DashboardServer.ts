/**
 * The supervisor dashboard's server side: a socket.io namespace (/dashboard) that only accepts
 * supervisors holding an all-calls token. It sends a snapshot of every live call on connect, then
 * each call's new summary whenever its people, risk, alerts or liveness checks change, and takes
 * alert acknowledgements (kept in the audit log like any other).
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { ChallengeDesk } from '../screening/ChallengeDesk.ts';
import type { RiskDesk } from '../screening/RiskDesk.ts';
import { onTokenExpiry, verifyToken, type TokenClaims } from '../auth/token.ts';
import { ClientError, handshakeRefusal } from '../errors.ts';
import { logger } from '../log.ts';
import type { ChallengeView } from '../protocol/challenge.ts';
import {
  ALL_ROOMS,
  DashboardMessages,
  MAX_PENDING_ALERTS,
  summaryAlerts,
  type CallSummary,
  type DashboardClientEvents,
  type DashboardParticipant,
  type DashboardServerEvents,
} from '../protocol/dashboard.ts';
import { ErrorCode, RISK_SEVERITY, type RiskState } from '../protocol/messages.ts';
import { isPrivileged } from '../protocol/roles.ts';
import { infoOf, type CallRoom, type Participant } from '../signaling/CallRoom.ts';
import { ConnectionCap } from '../signaling/ConnectionCap.ts';
import { RateLimiter } from '../signaling/RateLimiter.ts';
import { eventArgs } from '../signaling/ackArgs.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';

const log = logger('dashboard');

/** Worst first: the call's state is its most serious participant's. */
const SEVERITY = RISK_SEVERITY;
/** Several changes in a burst (a risk update for each participant) go out as one summary. */
const COALESCE_MS = 100;

type DashboardSocket = Socket<DashboardClientEvents, DashboardServerEvents, Record<string, never>, { claims: TokenClaims; limiter: RateLimiter; shown: Set<string> }>;

export interface DashboardOptions {
  tokenSecret: string;
  registry: RoomRegistry;
  risk: RiskDesk;
  challenges: ChallengeDesk;
  /** Open dashboard connections one dashboard link may hold (signaling/ConnectionCap.ts). */
  maxConnectionsPerToken?: number;
}

export class DashboardServer {
  private readonly nsp: Namespace<DashboardClientEvents, DashboardServerEvents>;
  private readonly opts: DashboardOptions;
  private readonly lastChallenge = new Map<string, ChallengeView>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** Per room, when the first of the people there now joined: the call's duration on the board. */
  private readonly startedAt = new Map<string, number>();

  constructor(io: Server, opts: DashboardOptions) {
    this.opts = opts;
    this.nsp = io.of('/dashboard');
    const cap = new ConnectionCap(opts.maxConnectionsPerToken ?? 5);
    this.nsp.use((socket, next) => {
      try {
        const claims = verifyToken(opts.tokenSecret, (socket.handshake.auth as { token?: unknown }).token);
        if (claims.role !== 'supervisor') throw new ClientError(ErrorCode.Forbidden, 'The dashboard is for supervisors only.');
        if (claims.room !== ALL_ROOMS) throw new ClientError(ErrorCode.Forbidden, 'This link is for one call; the dashboard needs a supervisor dashboard link.');
        socket.data.claims = claims;
        socket.data.limiter = new RateLimiter(30, 10);
        socket.data.shown = new Set();
        cap.admit(claims.sub, socket);
        next();
      } catch (err) {
        next(handshakeRefusal(err));
      }
    });
    this.nsp.on('connection', (socket) => this.onConnection(socket as DashboardSocket));

    const follow = (room: CallRoom) => {
      for (const e of ['joined', 'left', 'updated'] as const) room.on(e, (p: Participant) => p.role !== 'analyzer' && this.changed(room.id));
      room.on('joined', (p) => p.role !== 'analyzer' && !this.startedAt.has(room.id) && this.startedAt.set(room.id, Date.now()));
      room.on('empty', () => {
        // Everyone left (not a reload): the next sitting (a room that stays open) is another call, with no check yet.
        this.startedAt.delete(room.id);
        this.lastChallenge.delete(room.id);
      });
      room.once('close', () => {
        clearTimeout(this.pending.get(room.id));
        this.pending.delete(room.id);
        this.lastChallenge.delete(room.id);
        this.startedAt.delete(room.id);
        this.nsp.emit('call.closed', { room: room.id });
      });
      this.changed(room.id);
    };
    for (const room of opts.registry.list()) follow(room);
    opts.registry.on('opened', (id) => {
      const room = opts.registry.get(id);
      if (room) follow(room);
    });
    opts.risk.on('update', (room) => this.changed(room));
    opts.risk.on('alert', (room) => this.changed(room));
    opts.risk.on('acked', (room) => this.changed(room));
    opts.challenges.on('update', (room, c) => {
      this.lastChallenge.set(room, c);
      this.changed(room);
    });
  }

  private onConnection(socket: DashboardSocket): void {
    const who = socket.data.claims;
    log.info('supervisor on dashboard', { supervisor: who.sub });
    // The dashboard streams every call's people and risk: it stops when its token expires, not
    // only at the next connect (a tab left open would otherwise watch forever on a stale link).
    const cancelExpiry = onTokenExpiry(who, () => {
      log.info('dashboard link expired', { supervisor: who.sub });
      socket.emit('error', { code: ErrorCode.TokenExpired, message: 'Your dashboard link has expired. Ask for a new one.' });
      socket.disconnect(true);
    });
    if (!socket.connected) return;
    socket.on('disconnect', cancelExpiry);
    const snapshot = this.opts.registry.list().map((r) => this.summary(r));
    this.recordShown(socket, snapshot);
    socket.emit('snapshot', snapshot);
    socket.on('alert.ack', (...args: unknown[]) => {
      const { payload, reply } = eventArgs<{ ok: true } | { ok: false; error: { code: string; message: string } }>(args, socket);
      if (!socket.data.limiter.take()) return reply({ ok: false, error: { code: ErrorCode.RateLimited, message: 'Too many messages; slow down.' } });
      const parsed = DashboardMessages['alert.ack'].safeParse(payload);
      if (!parsed.success) {
        return reply({ ok: false, error: { code: ErrorCode.BadRequest, message: `Invalid "alert.ack": ${parsed.error.issues[0]?.message ?? 'malformed'}.` } });
      }
      const { room, alertId, note } = parsed.data;
      if (!this.opts.risk.acknowledge(room, { id: who.sub, name: who.name, role: who.role }, alertId, note)) {
        return reply({ ok: false, error: { code: ErrorCode.BadRequest, message: 'No such alert in that call.' } });
      }
      reply({ ok: true });
    });
    socket.onAny((event: string) => {
      // Rate-limited like the known events: a flood of unknown ones gets no reply per event.
      if (!Object.hasOwn(DashboardMessages, event) && socket.data.limiter.take()) socket.emit('error', { code: ErrorCode.BadRequest, message: `Unknown event "${String(event).slice(0, 64)}".` });
    });
  }

  private changed(roomId: string): void {
    if (this.pending.has(roomId)) return;
    this.pending.set(
      roomId,
      setTimeout(() => {
        this.pending.delete(roomId);
        const room = this.opts.registry.get(roomId);
        if (!room || room.closed || this.nsp.sockets.size === 0) return;
        const summary = this.summary(room);
        for (const socket of this.nsp.sockets.values()) this.recordShown(socket as DashboardSocket, [summary]);
        this.nsp.emit('call', summary);
      }, COALESCE_MS),
    );
  }

  /** Every supervisor whose dashboard an alert is sent to is recorded in the audit log as shown it. */
  private recordShown(socket: DashboardSocket, calls: CallSummary[]): void {
    for (const c of calls) {
      for (const alert of summaryAlerts(c)) {
        if (socket.data.shown.has(alert.id)) continue;
        socket.data.shown.add(alert.id);
        this.opts.risk.shown(alert.id, { id: socket.data.claims.sub, role: socket.data.claims.role });
      }
    }
  }

  summary(room: CallRoom): CallSummary {
    const risk = new Map(this.opts.risk.latest(room.id).map((u) => [u.participantId, u]));
    let state: RiskState = 'CLEAR';
    let analysed = 0;
    const participants: DashboardParticipant[] = room
      .all()
      .filter((p) => p.role !== 'analyzer')
      .map((p) => {
        const info: DashboardParticipant = infoOf(p);
        if (isPrivileged(p.role)) return info;
        analysed++;
        const u = risk.get(p.id);
        const s: RiskState = u?.state ?? 'ANALYZING';
        if (SEVERITY[s] > SEVERITY[state]) state = s;
        if (u) info.risk = { state: u.state, risk: u.risk, reasons: u.reasons, gaps: u.gaps, since: u.since, at: u.at, ...(u.degraded ? { degraded: u.degraded } : {}) };
        return info;
      });
    const alerts = this.opts.risk.alerts(room.id);
    // The alert a supervisor must see and can acknowledge: the oldest unacknowledged, else the
    // newest (an earlier unacknowledged alert was out of reach once a later one was acknowledged).
    const last = alerts.find((a) => !a.acked) ?? alerts[alerts.length - 1];
    const challenge = this.lastChallenge.get(room.id);
    const pending = alerts.filter((a) => !a.acked);
    const unacknowledged = pending.length;
    const callState: RiskState = analysed === 0 ? 'ANALYZING' : state;
    return {
      room: room.id,
      participants,
      state: callState,
      analysed,
      ...(this.opts.risk.callId(room.id) !== undefined ? { callId: this.opts.risk.callId(room.id)! } : {}),
      ...(this.startedAt.has(room.id) ? { startedAt: this.startedAt.get(room.id)! } : {}),
      attention: unacknowledged > 0 && SEVERITY.ALERT > SEVERITY[callState] ? 'ALERT' : callState,
      ...(last ? { lastAlert: last } : {}),
      ...(pending.length ? { pending: pending.slice(0, MAX_PENDING_ALERTS) } : {}),
      alerts: alerts.length,
      unacknowledged,
      ...(challenge ? { challenge } : {}),
    };
  }

  close(): void {
    for (const t of this.pending.values()) clearTimeout(t);
    this.nsp.disconnectSockets(true);
  }
}

