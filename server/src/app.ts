/** Builds the whole server: HTTP (client app, health), socket.io signaling, rooms and SFU engine. */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Server as IoServer } from 'socket.io';
import { AnalyzerHub } from './screening/AnalyzerHub.ts';
import { AnalyzerProcess, SERVICE_TOKEN_TTL_S } from './screening/AnalyzerProcess.ts';
import { ChallengeDesk } from './screening/ChallengeDesk.ts';
import { RiskDesk } from './screening/RiskDesk.ts';
import { attachStepUp, stepUpPolicy } from './screening/StepUp.ts';
import { AuditLog } from './audit/AuditLog.ts';
import { DashboardServer } from './dashboard/DashboardServer.ts';
import { serveJoinCheck } from './http/joinCheck.ts';
import { issueServiceToken } from './auth/token.ts';
import type { ServerConfig } from './config.ts';
import { logger } from './log.ts';
import { mergeMetrics } from './metrics/merge.ts';
import { Metrics } from './metrics/Metrics.ts';
import { api } from './http/api.ts';
import { metricsAccess } from './http/metricsAuth.ts';
import { mediapipeAssets } from './http/mediapipeAssets.ts';
import { staticFiles } from './http/staticFiles.ts';
import { MAX_MESSAGE_BYTES } from './protocol/messages.ts';
import type { SfuEngine } from './sfu/engine.ts';
import { createEngine } from './sfu/createEngine.ts';
import { RoomRegistry } from './signaling/RoomRegistry.ts';
import { SignalingServer, type IoServer as TypedIoServer } from './signaling/SignalingServer.ts';

/** How long a graceful shutdown leaves room.closed to reach clients before it closes their sockets. */
const SHUTDOWN_NOTICE_MS = 200;

const log = logger('http');

export const CLIENT_DIST = fileURLToPath(new URL('../../client/dist', import.meta.url));

export interface App {
  http: HttpServer;
  registry: RoomRegistry;
  engine: SfuEngine;
  hub: AnalyzerHub;
  risk: RiskDesk;
  challenges: ChallengeDesk;
  audit: AuditLog;
  /** The embedded analyzer worker processes, when ANALYZER=embedded (started by listen()). */
  analyzers: AnalyzerProcess[];
  /** The first of them (the only one with ANALYZER_WORKERS=1). */
  analyzer: AnalyzerProcess | undefined;
  /** Listens on the configured host and port (port 0 picks a free one); resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the SFU engine (async: mediasoup's workers are processes) and builds the app around it.
 * Rejects with a ConfigError when SFU_ENGINE=mediasoup and its worker cannot start.
 */
export async function createApp(config: ServerConfig, opts: { clientDist?: string } = {}): Promise<App> {
  const engine = await createEngine(config);
  const serveClient = staticFiles(opts.clientDist ?? CLIENT_DIST);
  const serveMediapipe = mediapipeAssets();
  // The server's own metrics, with its process and event-loop figures (RSS, fds, CPU, GC, loop lag).
  const metrics = new Metrics({ defaults: true });
  // The app's handler goes in before socket.io attaches, so engine.io takes /socket.io/ for itself
  // and hands everything else on. Added after, it answered long-polling requests with a 404 before
  // socket.io did (and socket.io's own reply then threw ERR_HTTP_HEADERS_SENT).
  const http = createServer((req, res) => {
    try {
      onRequest(req, res);
    } catch (err) {
      // A request no handler could parse (`GET //`: not a URL) gets an answer, not a hang.
      // The path only: join links, dashboards and case-record downloads carry a token in the query.
      log.warn('request failed', { path: String(req.url).split(/[?#]/, 1)[0]!.slice(0, 200), err: (err as Error).message });
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n');
    }
  });
  const io: TypedIoServer = new IoServer(http, { maxHttpBufferSize: MAX_MESSAGE_BYTES, serveClient: false });
  const registry = new RoomRegistry(engine, { maxParticipants: config.maxParticipants, persistentRooms: config.rooms });
  // The /analyzer namespace has its own event types; the hub types it itself.
  const hub = new AnalyzerHub(io as never, {
    tokenSecret: config.tokenSecret,
    registry,
    stallMs: config.analyzer.stallMs,
    expected: config.analyzer.mode !== 'off',
  });
  let audit: AuditLog;
  try {
    audit = new AuditLog(config.auditDb, { retentionDays: config.auditRetentionDays, evidenceDays: config.auditEvidenceDays });
  } catch (err) {
    // Named by its setting, so the one line main prints says which file and what to do.
    throw new Error(`cannot open the audit log AUDIT_DB=${config.auditDb}: ${(err as Error).message} (move it aside or point AUDIT_DB elsewhere)`, { cause: err });
  }
  const risk = new RiskDesk(registry, hub, audit, { recordEvidence: config.auditEvidenceDays > 0 });
  const challenges = new ChallengeDesk(registry, hub, audit, { callIdOf: (room) => risk.callId(room) });
  attachStepUp(stepUpPolicy(config, registry, challenges), registry, risk);
  const signaling = new SignalingServer(io, {
    tokenSecret: config.tokenSecret,
    iceServers: config.iceServers,
    registry,
    analysisStatus: () => hub.status,
    analyzerMayJoin: (sub, room) => hub.mayJoin(sub, room),
    analyzerJoined: (sub, room) => hub.analyzerJoined(sub, room),
    risk,
    challenges,
    maxConnectionsPerToken: config.maxConnectionsPerToken,
    metrics,
  });
  // The dashboard namespace has its own event types; it types them itself.
  const dashboard = new DashboardServer(io as never, { tokenSecret: config.tokenSecret, registry, risk, challenges, maxConnectionsPerToken: config.maxConnectionsPerToken });
  const analyzers: AnalyzerProcess[] = [];
  const serveApi = api({ tokenSecret: config.tokenSecret, tokenTtlSeconds: config.tokenTtlSeconds, publicUrl: config.publicUrl, audit, liveCallId: (room) => risk.callId(room) });

  /** One exposition: the server's own families, the risk desk's, the pool's, then each worker's (labelled). */
  async function scrape(res: ServerResponse): Promise<void> {
    try {
      const [own, riskJson, pool] = await Promise.all([metrics.json(), risk.metricsJson(), hub.analyzerMetrics()]);
      const text = await mergeMetrics([{ labels: {}, metrics: [...own, ...riskJson] }, ...pool]);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
    } catch (err) {
      // Logged, not rethrown: an unhandled rejection would end the server over a scrape.
      log.error('metrics collection failed', { err: (err as Error).message });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('metrics unavailable\n');
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url === '/healthz') {
      // Unhealthy (503) when the audit log can no longer record: calls would go unaudited.
      const auditHealth = audit.health();
      res.writeHead(auditHealth.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: auditHealth.ok, analysis: hub.status, audit: auditHealth }));
      return;
    }
    if (req.url === '/metrics') {
      const access = metricsAccess(req, config.metricsToken);
      if (access === 'unauthorized') {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"' }).end('unauthorized: send METRICS_TOKEN as a bearer token\n');
        return;
      }
      if (access === 'forbidden') {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden: set METRICS_TOKEN and send it as a bearer token\n');
        return;
      }
      metrics.set('dfs_analysis_available', 'Whether an analyzer is connected and responsive.', {}, hub.status.available ? 1 : 0);
      metrics.setCounter('dfs_analyzer_restarts_total', 'Restarts of the embedded analyzer worker processes.', {}, analyzers.reduce((n, a) => n + a.restarts, 0));
      metrics.set('dfs_rooms', 'Open calls.', {}, registry.list().length);
      metrics.set('dfs_participants', 'People in calls (the analyzer excluded).', {}, registry.list().reduce((n, r) => n + r.people, 0));
      const paths = engine.mediaConnections?.();
      for (const [protocol, n] of Object.entries(paths ?? {})) {
        metrics.set('dfs_media_connections', 'Media connections (mediasoup transports, the analyzer\'s included) with an ICE path, by its protocol: tcp when the caller\'s network blocks UDP (RTC_ICE_TCP).', { protocol }, n);
      }
      void scrape(res);
      return;
    }
    // Before the API, which answers 404 for any other /api/ path.
    if (serveJoinCheck(req, res, { tokenSecret: config.tokenSecret, registry })) return;
    if (serveApi(req, res)) return;
    if (serveMediapipe(req, res)) return;
    if (!serveClient(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };

  const app: App = {
    http,
    registry,
    engine,
    hub,
    risk,
    challenges,
    audit,
    analyzers,
    analyzer: undefined,
    listen: () =>
      new Promise((resolveUrl, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => {
          const { port } = http.address() as AddressInfo;
          if (config.analyzer.mode === 'embedded' && config.analyzer.workers > 0) {
            const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
            const n = config.analyzer.workers;
            const run = randomBytes(4).toString('hex');
            // Each worker's share of the host, for its load figure (the pool dispatches by load).
            const cores = String(Math.max(1, Math.floor(availableParallelism() / n)));
            for (let i = 0; i < n; i++) {
              // One subject per worker: its participant id in a call, and how a stall finds its process.
              // Unique to this server process (run): an analyzer of an earlier life of the server that
              // is still connected somewhere can never pass for, or evict, one of this life's.
              const sub = `analyzer-embedded-${run}-${i + 1}`;
              analyzers.push(
                new AnalyzerProcess({
                  serverUrl: `http://${host}:${port}`,
                  token: () => issueServiceToken(config.tokenSecret, { ttlSeconds: SERVICE_TOKEN_TTL_S, sub }),
                  env: { ANALYZER_CORES: process.env.ANALYZER_CORES || cores },
                  name: sub,
                  ...(config.analyzer.memoryLimitMb > 0 ? { memoryLimitMb: config.analyzer.memoryLimitMb } : {}),
                }),
              );
            }
            app.analyzer = analyzers[0];
            hub.on('stalled', (sub) => analyzers.find((a) => a.name === sub)?.kill('no heartbeat'));
            hub.on('connected', (sub) => analyzers.find((a) => a.name === sub)?.ready());
            for (const a of analyzers) a.start();
          }
          resolveUrl(config.publicUrl ?? `http://localhost:${port}`);
        });
      }),
    close: async () => {
      // Every call is told first, while sockets are still open: a shutdown (perhaps a restart), so
      // clients come back and rejoin when the server does, rather than wait on a dead connection.
      const anyone = registry.list().some((r) => r.size > 0);
      registry.closeAll('The server is restarting or shutting down; the call resumes when it is back.', { shutdown: true });
      if (anyone) await new Promise((r) => setTimeout(r, SHUTDOWN_NOTICE_MS));
      await Promise.all(analyzers.map((a) => a.stop()));
      hub.close();
      dashboard.close();
      signaling.close();
      engine.close();
      await new Promise<void>((r) => io.close(() => r()));
      audit.close();
    },
  };
  return app;
}
