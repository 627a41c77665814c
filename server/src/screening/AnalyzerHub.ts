/**
 * The server's side of the analyzers: a control namespace (/analyzer) where analyzer workers
 * authenticate with a service token, send heartbeats with their metrics and load, and are given
 * their share of the open calls (AnalyzerPool: each call to exactly one live worker, the least
 * loaded; a stalled or lost worker's calls move at once). From the heartbeats it decides whether
 * analysis is available and tells privileged participants.
 */
import { EventEmitter } from 'node:events';
import type { Namespace, Server, Socket } from 'socket.io';
import type { z } from 'zod';
import { onTokenExpiry, verifyServiceToken } from '../auth/token.ts';
import { handshakeRefusal } from '../errors.ts';
import { logger } from '../log.ts';
import { MetricsJsonSchema, type MetricsPart } from '../metrics/merge.ts';
import { Metrics } from '../metrics/Metrics.ts';
import {
  ANALYZER_NAMESPACE,
  AnalyzerMessages,
  parseMessage,
  WorkerLoadSchema,
  type AnalyzerPayload,
  type AnalyzerToServer,
  type ChallengeResultMessage,
  type ObserveRequest,
  type ServerToAnalyzer,
  type UnobserveRequest,
} from '../protocol/analyzerChannel.ts';
import type { AnalysisStatus, IntegrityReport, RiskHandBack, RiskUpdate } from '../protocol/messages.ts';
import type { ChallengeSample } from '../protocol/challenge.ts';
import { RateLimiter } from '../signaling/RateLimiter.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';
import { AnalyzerPool, RECONCILE_EVERY_MS, type PoolChange, type PoolWorker } from './AnalyzerPool.ts';

const log = logger('analysis');

type WorkerSocket = Socket<AnalyzerToServer, ServerToAnalyzer>;

/** Marks a worker whose metrics did not parse (warned about once). */
const BAD_METRICS: MetricsPart['metrics'] = Object.freeze([]);
/** Heartbeats a worker may send per second, and in a burst (a paused worker's queued beats arriving at once). */
const HEARTBEATS_PER_SECOND = 10;
const HEARTBEAT_BURST = 20;

export interface HubOptions {
  tokenSecret: string;
  registry: RoomRegistry;
  /** No heartbeat for this long: the worker is stalled, its calls move to another. */
  stallMs: number;
  /** Whether any analyzer is expected at all (ANALYZER=off: none, and nobody is told otherwise). */
  expected: boolean;
}

export class AnalyzerHub extends EventEmitter<{
  status: [AnalysisStatus];
  /** A worker joined the pool (its service token's subject): the supervisor knows it is past start-up. */
  connected: [string];
  /** A worker stopped sending heartbeats (its service token's subject): the supervisor kills it. */
  stalled: [string];
  risk: [string, RiskUpdate];
  'challenge-sample': [room: string, participantId: string, challengeId: string, sample: ChallengeSample];
  /** What a participant's fusion was told since the last batch (the audit log keeps it: RiskDesk). */
  evidence: [AnalyzerPayload<'evidence'>];
}> {
  private readonly nsp: Namespace<AnalyzerToServer, ServerToAnalyzer>;
  readonly pool: AnalyzerPool;
  private readonly sockets = new Map<string, WorkerSocket>();
  /** Each worker's last metrics (prom-client JSON, checked), by socket. */
  private readonly workerMetrics = new Map<string, MetricsPart['metrics']>();
  private readonly opts: HubOptions;
  private current: AnalysisStatus;
  private readonly timer: NodeJS.Timeout;
  /** Challenges being observed, so that a call's next worker picks up one that is running. */
  private readonly observing = new Map<string, ObserveRequest>();
  private handBackOf: (room: string) => RiskHandBack[] = () => [];
  /** Heartbeats dropped by the per-worker rate limit (see the connection handler). */
  private droppedBeats = 0;

  constructor(io: Server, opts: HubOptions) {
    super();
    this.opts = opts;
    this.pool = new AnalyzerPool({ stallMs: opts.stallMs });
    this.current = opts.expected ? { available: false, reason: 'The analyzer is starting.' } : { available: false, reason: 'Analysis is turned off on this server.' };
    this.nsp = io.of(ANALYZER_NAMESPACE);
    this.nsp.use((socket, next) => {
      try {
        const claims = verifyServiceToken(opts.tokenSecret, (socket.handshake.auth as { token?: unknown }).token);
        socket.data.sub = claims.sub;
        socket.data.exp = claims.exp;
        next();
      } catch (err) {
        next(handshakeRefusal(err));
      }
    });
    this.nsp.on('connection', (socket) => {
      const sub = socket.data.sub as string;
      // One connection per analyzer identity: a second one with the same subject is that analyzer
      // reconnecting before we saw its old connection go (a half-open TCP link). The old one is
      // closed now, so its calls move (to the new one, by load) at once instead of after stallMs,
      // while the analyzer itself, told "no calls" on the new connection, would have left them
      // unwatched. Two hosts sharing one token would take turns: each host needs its own subject.
      for (const w of this.pool.list()) {
        if (w.sub !== sub) continue;
        log.warn('analyzer connected again; its previous connection is closed', { analyzer: w.name });
        this.sockets.get(w.id)?.disconnect(true);
      }
      const worker = this.pool.add(socket.id, sub, Date.now());
      this.sockets.set(socket.id, socket);
      log.info('analyzer connected', { analyzer: worker.name, workers: this.pool.liveCount() });
      this.emit('connected', sub);
      // Armed once the handlers below are in place (its 'disconnect' takes the worker out of the pool).
      let cancelExpiry = () => {};
      // Always a first list, even an empty one: the worker knows it is in the pool.
      socket.emit('rooms', []);
      let warnedBadLoad = false;
      // A worker beats every ANALYZER_HEARTBEAT_MS, 100 ms at the least: ten a second. Each beat
      // parses the worker's metrics and re-evaluates the pool, so a worker beating faster (a bug, a
      // loop, a leaked token) would take the server's event loop from the calls. The excess is
      // dropped unread, counted and said once; the beats let through keep the worker live.
      const beats = new RateLimiter(HEARTBEAT_BURST, HEARTBEATS_PER_SECOND);
      let warnedFlood = false;
      socket.on('heartbeat', (msg) => {
        if (!beats.take()) {
          this.droppedBeats++;
          if (!warnedFlood) log.warn('analyzer sends heartbeats faster than ten a second; the excess is dropped', { analyzer: worker.name });
          warnedFlood = true;
          return;
        }
        const parsed = parseMessage(AnalyzerMessages.heartbeat, msg);
        if (!parsed.ok) {
          // Not a heartbeat at all: the worker will be taken for stalled, so say why, once.
          if (!warnedBadLoad) log.warn('malformed heartbeat from analyzer', { analyzer: worker.name, err: parsed.error });
          warnedBadLoad = true;
          return;
        }
        // The load is checked on its own, as the metrics are: an analyzer of another version
        // whose report has a field more or less keeps its heartbeat, and is dispatched as one
        // that reports no load.
        const load = parsed.data.load === undefined ? undefined : WorkerLoadSchema.safeParse(parsed.data.load);
        if (load && !load.success && !warnedBadLoad) {
          log.warn('analyzer sent a load report this server does not read; dispatched as unknown load', { analyzer: worker.name, err: load.error.issues[0]?.message });
          warnedBadLoad = true;
        }
        this.pool.heartbeat(socket.id, load?.success ? load.data : undefined, Date.now());
        const metrics = MetricsJsonSchema.safeParse(parsed.data.metrics ?? []);
        if (metrics.success) this.workerMetrics.set(socket.id, metrics.data);
        else if (this.workerMetrics.get(socket.id) !== BAD_METRICS) {
          // Once per worker: its metrics are left out of /metrics until they are well-formed.
          log.warn('analyzer sent malformed metrics; left out of /metrics', { analyzer: worker.name, err: metrics.error.issues[0]?.message });
          this.workerMetrics.set(socket.id, BAD_METRICS);
        }
        this.evaluate();
      });
      // The rest speak for a call: validated, then honoured only from the call's own worker (a
      // worker that stalled and woke up may still send a verdict or two for calls that have moved on).
      const fromOwner = <S extends z.ZodType<{ room: string }>>(event: 'risk' | 'evidence' | 'challenge.sample', what: string, schema: S, deliver: (m: z.infer<S>) => void): void => {
        socket.on(event, (msg: unknown) => {
          const parsed = parseMessage(schema, msg);
          if (!parsed.ok) {
            log.warn(`malformed ${what} from analyzer`, { analyzer: worker.name, err: parsed.error });
            return;
          }
          if (this.owns(worker, parsed.data.room)) deliver(parsed.data);
        });
      };
      fromOwner('risk', 'risk message', AnalyzerMessages.risk, (m) => this.emit('risk', m.room, m.update));
      fromOwner('evidence', 'evidence message', AnalyzerMessages.evidence, (m) => this.emit('evidence', m));
      fromOwner('challenge.sample', 'challenge sample', AnalyzerMessages['challenge.sample'], (m) => this.emit('challenge-sample', m.room, m.participantId, m.challengeId, m.sample));
      socket.on('disconnect', () => {
        cancelExpiry();
        log.warn('analyzer disconnected', { analyzer: worker.name });
        this.sockets.delete(socket.id);
        this.workerMetrics.delete(socket.id);
        const gone = this.pool.remove(socket.id);
        if (gone) for (const room of gone.rooms) this.release(gone, room);
        this.evaluate();
      });
      // Its token is checked again at every call it joins: once it expires, the worker could join
      // none of the calls it is given, and analysis would read as available. It leaves the pool.
      cancelExpiry = onTokenExpiry({ exp: socket.data.exp as number }, () => {
        log.warn('analyzer service token expired; disconnected', { analyzer: worker.name });
        socket.disconnect(true);
      });
      if (!socket.connected) return;
      this.evaluate();
    });
    opts.registry.on('opened', () => this.evaluate());
    opts.registry.on('closed', () => this.evaluate());
    this.timer = setInterval(() => this.evaluate(), RECONCILE_EVERY_MS);
    this.timer.unref();
  }

  get status(): AnalysisStatus {
    return this.current;
  }

  /** Where the per-participant states to hand back come from (the RiskDesk). */
  setHandBackSource(source: (room: string) => RiskHandBack[]): void {
    this.handBackOf = source;
  }

  /**
   * Hands a worker that is about to watch a call the call's last raised states, so that it resumes
   * them rather than starting over (a restart or a move must not wipe or re-raise an ALERT). Sent
   * before the `rooms` that assign the call, on the same socket, so it arrives first.
   */
  private handBack(socket: WorkerSocket | undefined, room: string): void {
    const subjects = this.handBackOf(room);
    if (socket && subjects.length) socket.emit('resume', { room, subjects });
  }

  /** The signaling edge asks before an analyzer joins a call: only the call's own worker may. */
  mayJoin(sub: string, room: string): boolean {
    const w = this.pool.ownerOf(room);
    return w !== undefined && w.live && w.sub === sub;
  }

  /** Hands the call's raised states to its worker again (RiskDesk: a raised participant rejoined). */
  resume(room: string): void {
    this.handBack(this.ownerSocket(room), room);
  }

  /**
   * The signaling edge tells us the call's own worker has joined it: its raised states go to it
   * again. The hand-back on assignment can come too early: a worker given back a call it was
   * still leaving (taken away while it stalled, then returned when it recovered) forgets that
   * hand-back with the old session, and rejoins with nothing to resume. Resuming twice is harmless
   * (RiskFusion.restore never lowers a state).
   */
  analyzerJoined(sub: string, room: string): void {
    const w = this.pool.ownerOf(room);
    if (w && w.sub === sub) this.handBack(this.sockets.get(w.id), room);
  }

  /** Client capture facts go to the call's worker, which weighs them as advisory evidence. */
  sendIntegrity(room: string, participantId: string, report: IntegrityReport): void {
    this.ownerSocket(room)?.emit('integrity', { room, participantId, report });
  }

  observe(o: ObserveRequest): void {
    this.observing.set(`${o.room}/${o.participantId}`, o);
    this.ownerSocket(o.room)?.emit('observe', o);
  }

  unobserve(o: UnobserveRequest): void {
    const k = `${o.room}/${o.participantId}`;
    if (this.observing.get(k)?.challengeId === o.challengeId) this.observing.delete(k);
    this.ownerSocket(o.room)?.emit('unobserve', o);
  }

  sendChallengeResult(r: ChallengeResultMessage): void {
    this.ownerSocket(r.room)?.emit('challenge.result', r);
  }

  /**
   * For /metrics (merged there into one exposition, metrics/merge.ts): the pool's own metrics,
   * then every live worker's, to be labelled with its name.
   */
  async analyzerMetrics(): Promise<MetricsPart[]> {
    const m = new Metrics();
    const workers = this.pool.list();
    m.set('dfs_analyzer_workers', 'Analyzer workers connected, by health (live: heartbeats arriving).', { state: 'live' }, workers.filter((w) => w.live).length);
    m.set('dfs_analyzer_workers', 'Analyzer workers connected, by health (live: heartbeats arriving).', { state: 'stalled' }, workers.filter((w) => !w.live).length);
    for (const w of workers) {
      m.set('dfs_analyzer_worker_rooms', 'Calls each analyzer worker is given.', { worker: w.name }, w.rooms.size);
      if (w.load) {
        m.set('dfs_analyzer_worker_load', 'Load each worker reports (0 idle, 1 saturated).', { worker: w.name }, w.load.load);
        m.set('dfs_analyzer_worker_cpu_cores', 'CPU each worker used, in cores, over its last heartbeat.', { worker: w.name }, Number(w.load.cpu.toFixed(3)));
        m.set('dfs_analyzer_worker_streams', 'Streams each worker samples.', { worker: w.name }, w.load.streams);
      }
    }
    const unassigned = this.opts.registry.list().filter((r) => !this.pool.ownerOf(r.id)).length;
    m.set('dfs_analyzer_rooms_unassigned', 'Open calls no live analyzer worker watches.', {}, unassigned);
    m.setCounter('dfs_analyzer_heartbeats_dropped_total', 'Heartbeats dropped unread because a worker sent more than ten a second.', {}, this.droppedBeats);
    m.setCounter('dfs_analyzer_room_moves_total', 'Calls moved to another worker because theirs stalled or left.', {}, this.pool.moves);
    const parts = workers.filter((w) => w.live && this.workerMetrics.has(w.id)).map((w) => ({ labels: { worker: w.name }, metrics: this.workerMetrics.get(w.id)! }));
    return [{ labels: {}, metrics: await m.json() }, ...parts];
  }

  private owns(worker: PoolWorker, room: string): boolean {
    return this.pool.ownerOf(room) === worker;
  }

  private ownerSocket(room: string): WorkerSocket | undefined {
    const w = this.pool.ownerOf(room);
    return w && this.sockets.get(w.id);
  }

  /** A worker lost a call (stalled or gone): its hidden participant leaves, so it cannot keep watching. */
  private release(worker: PoolWorker, roomId: string): void {
    const room = this.opts.registry.get(roomId);
    const p = room?.get(`${worker.sub}:${roomId}`);
    if (!room || !p || p.role !== 'analyzer') return;
    p.channel.emit('session.replaced');
    room.remove(p);
  }

  private apply(change: PoolChange): void {
    // The old worker's hidden participant leaves before the new one is told: never two in a call.
    for (const r of change.released) this.release(r.worker, r.room);
    for (const a of change.assigned) if (a.from) this.release(a.from, a.room);
    for (const w of change.stalled) {
      log.warn('analyzer stalled; its calls move', { analyzer: w.name, workers: this.pool.liveCount() });
      this.emit('stalled', w.sub);
    }
    for (const a of change.assigned) {
      log.info('call assigned', { room: a.room, analyzer: a.worker.name, ...(a.from ? { from: a.from.name } : {}) });
      this.handBack(this.sockets.get(a.worker.id), a.room);
    }
    for (const w of change.changed) this.sockets.get(w.id)?.emit('rooms', [...w.rooms]);
    // A challenge running in a call that changed hands goes on with the new worker (after `rooms`:
    // a worker only observes in calls it watches).
    const now = Date.now();
    for (const [k, o] of this.observing) {
      if (o.untilMs < now) {
        this.observing.delete(k);
        continue;
      }
      const a = change.assigned.find((x) => x.room === o.room);
      if (a) this.sockets.get(a.worker.id)?.emit('observe', o);
    }
  }

  private evaluate(): void {
    this.apply(this.pool.reconcile(this.opts.registry.list().map((r) => ({ id: r.id, people: r.people })), Date.now()));
    if (!this.opts.expected) return;
    const live = this.pool.liveCount();
    const next: AnalysisStatus =
      live > 0
        ? { available: true }
        : { available: false, reason: this.pool.list().length > 0 ? 'The analyzer stopped responding; restarting it.' : 'The analyzer is not running; restarting it.' };
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
