/**
 * The server's side of the analyzer: a control namespace (/analyzer) where analyzers authenticate
 * with a service token, learn which calls are open, and send heartbeats with their metrics. From
 * the heartbeats it decides whether analysis is available and tells privileged participants.
 */
import { EventEmitter } from 'node:events';
import type { Namespace, Server } from 'socket.io';
import { verifyServiceToken } from '../auth/token.ts';
import { handshakeRefusal } from '../errors.ts';
import { logger } from '../log.ts';
import { z } from 'zod';
import { RISK_STATES, RoomIdSchema, type AnalysisStatus, type IntegrityReport, type RiskUpdate } from '../protocol/messages.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';
import { ChallengeSampleSchema, type ChallengeResult, type ChallengeSample } from '../protocol/challenge.ts';

const log = logger('analysis');

/** analyzer -> server */
export interface AnalyzerToServer {
  heartbeat: (h: { metrics: string }) => void;
  risk: (r: { room: string; update: RiskUpdate }) => void;
  'challenge.sample': (m: { room: string; participantId: string; challengeId: string; sample: ChallengeSample }) => void;
}
/** server -> analyzer */
export interface ServerToAnalyzer {
  rooms: (ids: string[]) => void;
  integrity: (r: { room: string; participantId: string; report: IntegrityReport }) => void;
  /** Measure this participant closely (boosted sampling, pose, occlusion) for a challenge, until told to stop or `untilMs`. */
  observe: (o: ObserveRequest) => void;
  unobserve: (o: { room: string; participantId: string; challengeId: string }) => void;
  /** A check's verdict, which the analyzer weighs as evidence. */
  'challenge.result': (r: { room: string; participantId: string; result: ChallengeResult; reasons: string[]; requestedBy: string }) => void;
}

export interface ObserveRequest {
  room: string;
  participantId: string;
  challengeId: string;
  /** Epoch ms after which the analyzer stops on its own (a lost 'unobserve' must not boost forever). */
  untilMs: number;
}

const ChallengeSampleMessageSchema = z.strictObject({
  room: RoomIdSchema,
  participantId: z.string().min(1).max(128),
  challengeId: z.string().min(1).max(64),
  sample: ChallengeSampleSchema,
});

const RiskMessageSchema = z.strictObject({
  room: RoomIdSchema,
  update: z.strictObject({
    participantId: z.string().min(1).max(128),
    state: z.enum(RISK_STATES),
    risk: z.number().min(0).max(1),
    reasons: z.array(z.strictObject({ detector: z.string().max(64), text: z.string().max(500), contribution: z.number().min(0).max(1) })).max(16),
    gaps: z.array(z.string().max(300)).max(16),
    since: z.number(),
    at: z.number(),
  }),
});

interface Connected {
  sub: string;
  lastSeen: number;
  metrics: string;
}

export interface HubOptions {
  tokenSecret: string;
  registry: RoomRegistry;
  /** No heartbeat for this long: the analyzer is stalled and analysis is unavailable. */
  stallMs: number;
  /** Whether any analyzer is expected at all (ANALYZER=off: none, and nobody is told otherwise). */
  expected: boolean;
}

export class AnalyzerHub extends EventEmitter<{
  status: [AnalysisStatus];
  stalled: [string];
  risk: [string, RiskUpdate];
  'challenge-sample': [room: string, participantId: string, challengeId: string, sample: ChallengeSample];
}> {
  private readonly nsp: Namespace<AnalyzerToServer, ServerToAnalyzer>;
  private readonly analyzers = new Map<string, Connected>();
  private readonly opts: HubOptions;
  private current: AnalysisStatus;
  private readonly timer: NodeJS.Timeout;

  constructor(io: Server, opts: HubOptions) {
    super();
    this.opts = opts;
    this.current = opts.expected ? { available: false, reason: 'The analyzer is starting.' } : { available: false, reason: 'Analysis is turned off on this server.' };
    this.nsp = io.of('/analyzer');
    this.nsp.use((socket, next) => {
      try {
        socket.data.sub = verifyServiceToken(opts.tokenSecret, (socket.handshake.auth as { token?: unknown }).token).sub;
        next();
      } catch (err) {
        next(handshakeRefusal(err));
      }
    });
    this.nsp.on('connection', (socket) => {
      const sub = socket.data.sub as string;
      log.info('analyzer connected', { analyzer: sub });
      const entry: Connected = { sub, lastSeen: Date.now(), metrics: '' };
      this.analyzers.set(socket.id, entry);
      socket.emit('rooms', opts.registry.list().map((r) => r.id));
      socket.on('heartbeat', (h) => {
        if (typeof h?.metrics !== 'string' || h.metrics.length > 512 * 1024) return;
        entry.lastSeen = Date.now();
        entry.metrics = h.metrics;
        this.evaluate();
      });
      socket.on('risk', (msg) => {
        const parsed = RiskMessageSchema.safeParse(msg);
        if (!parsed.success) {
          log.warn('malformed risk message from analyzer', { analyzer: sub, err: parsed.error.issues[0]?.message ?? '' });
          return;
        }
        this.emit('risk', parsed.data.room, parsed.data.update);
      });
      socket.on('challenge.sample', (msg) => {
        const parsed = ChallengeSampleMessageSchema.safeParse(msg);
        if (!parsed.success) {
          log.warn('malformed challenge sample from analyzer', { analyzer: sub, err: parsed.error.issues[0]?.message ?? '' });
          return;
        }
        const m = parsed.data;
        this.emit('challenge-sample', m.room, m.participantId, m.challengeId, m.sample);
      });
      socket.on('disconnect', () => {
        log.warn('analyzer disconnected', { analyzer: sub });
        this.analyzers.delete(socket.id);
        this.evaluate();
      });
    });
    const pushRooms = () => this.nsp.emit('rooms', opts.registry.list().map((r) => r.id));
    opts.registry.on('opened', pushRooms);
    opts.registry.on('closed', pushRooms);
    this.timer = setInterval(() => this.evaluate(), 1000);
    this.timer.unref();
  }

  get status(): AnalysisStatus {
    return this.current;
  }

  /** Client capture facts go to the analyzers, which weigh them as advisory evidence. */
  sendIntegrity(room: string, participantId: string, report: IntegrityReport): void {
    this.nsp.emit('integrity', { room, participantId, report });
  }

  observe(o: ObserveRequest): void {
    this.nsp.emit('observe', o);
  }

  unobserve(o: { room: string; participantId: string; challengeId: string }): void {
    this.nsp.emit('unobserve', o);
  }

  sendChallengeResult(r: { room: string; participantId: string; result: ChallengeResult; reasons: string[]; requestedBy: string }): void {
    this.nsp.emit('challenge.result', r);
  }

  /** Prometheus text from every live analyzer, for /metrics. */
  analyzerMetrics(): string {
    return [...this.analyzers.values()].map((a) => a.metrics).join('');
  }

  private evaluate(): void {
    if (!this.opts.expected) return;
    const now = Date.now();
    let live = 0;
    for (const a of this.analyzers.values()) {
      if (now - a.lastSeen <= this.opts.stallMs) live++;
      else if (now - a.lastSeen <= this.opts.stallMs + 1000) this.emit('stalled', a.sub);
    }
    const next: AnalysisStatus =
      live > 0
        ? { available: true }
        : { available: false, reason: this.analyzers.size > 0 ? 'The analyzer stopped responding; restarting it.' : 'The analyzer is not running; restarting it.' };
    if (next.available !== this.current.available) {
      this.current = next;
      log.info('analysis status', { available: next.available, reason: next.reason ?? '' });
      for (const room of this.opts.registry.list()) room.toPrivileged('analysis.status', next);
      this.emit('status', next);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.nsp.disconnectSockets(true);
  }
}
