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
import {
  ANALYZER_NAMESPACE,
  AnalyzerMessages,
  parseMessage,
  type AnalyzerToServer,
  type ChallengeResultMessage,
  type ObserveRequest,
  type ServerToAnalyzer,
  type UnobserveRequest,
} from '../protocol/analyzerChannel.ts';
import type { AnalysisStatus, IntegrityReport, RiskUpdate } from '../protocol/messages.ts';
import type { ChallengeSample } from '../protocol/challenge.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';

const log = logger('analysis');

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
    this.nsp = io.of(ANALYZER_NAMESPACE);
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
      socket.on('heartbeat', (msg) => {
        const parsed = parseMessage(AnalyzerMessages.heartbeat, msg);
        if (!parsed.ok) return;
        entry.lastSeen = Date.now();
        entry.metrics = parsed.data.metrics;
        this.evaluate();
      });
      socket.on('risk', (msg) => {
        const parsed = parseMessage(AnalyzerMessages.risk, msg);
        if (!parsed.ok) {
          log.warn('malformed risk message from analyzer', { analyzer: sub, err: parsed.error });
          return;
        }
        this.emit('risk', parsed.data.room, parsed.data.update);
      });
      socket.on('challenge.sample', (msg) => {
        const parsed = parseMessage(AnalyzerMessages['challenge.sample'], msg);
        if (!parsed.ok) {
          log.warn('malformed challenge sample from analyzer', { analyzer: sub, err: parsed.error });
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

  unobserve(o: UnobserveRequest): void {
    this.nsp.emit('unobserve', o);
  }

  sendChallengeResult(r: ChallengeResultMessage): void {
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
