/**
 * Server configuration from environment variables, with embedded defaults that run a demo on one
 * machine. Every variable is validated up front so a typo fails at start, not mid-call.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { assertUsableSecret } from './auth/token.ts';
import { withoutEmpty } from './env.ts';
import type { IceServer } from './protocol/messages.ts';
import { parseRoomTypes, type RoomTypeRule } from './screening/StepUp.ts';
import { ROOM_TYPES, type RoomType } from './protocol/roles.ts';
import { parseVideoSize, type VideoSize } from './sfu/vp8.ts';
import { DEFAULT_ALLOWED_CANDIDATES, parseCandidatePolicy, type CandidatePolicy } from './sfu/candidates.ts';

const IceServerSchema = z.strictObject({
  urls: z.union([z.string(), z.array(z.string()).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});

const port = z.coerce.number().int().min(0).max(65535);
const ip = z.union([z.ipv4(), z.ipv6()]);

const EnvSchema = z
  .object({
    HOST: z.string().default('0.0.0.0'),
    PORT: port.default(8080),
    /** Base URL printed in join links; defaults to http://localhost:PORT. */
    PUBLIC_URL: z.url().optional(),
    /** HMAC secret for join tokens. Unset: a random one is generated once and kept in DATA_DIR. */
    TOKEN_SECRET: z.string().optional(),
    TOKEN_TTL_SECONDS: z.coerce.number().int().positive().default(4 * 3600),
    DATA_DIR: z.string().default('data'),
    /** Rooms open from start, comma separated. */
    ROOMS: z.string().default('demo'),
    MAX_PARTICIPANTS: z.coerce.number().int().min(2).max(64).default(8),
    /** Local address the media sockets bind to (default: all interfaces). */
    RTC_LISTEN_IP: ip.optional(),
    /** Address put in ICE candidates instead of the listen address, e.g. a public IP behind NAT. */
    RTC_ANNOUNCED_IP: ip.optional(),
    RTC_MIN_PORT: port.optional(),
    RTC_MAX_PORT: port.optional(),
    /**
     * The largest video the SFU forwards (and so the analyzer decodes), WIDTHxHEIGHT in either
     * orientation; a stream whose keyframes claim more is dropped until one fits.
     */
    RTC_MAX_VIDEO_SIZE: z
      .string()
      .default('1920x1080')
      .refine((v) => parseVideoSize(v) !== undefined, { message: 'must be WIDTHxHEIGHT, e.g. 1920x1080 (16..16383 each)' }),
    /**
     * The SFU asks every video publisher for a keyframe this often, so that a supervisor joining
     * (served by the next one) causes no request the publisher could notice; 0: off (supervisors
     * then ask at once, like everyone). werift engine.
     */
    RTC_KEYFRAME_INTERVAL_S: z.coerce.number().min(0).max(600).default(5),
    RTC_CONNECT_TIMEOUT_S: z.coerce.number().min(1).max(600).default(30),
    /**
     * mediasoup: also offer ICE over TCP (a passive TCP candidate beside each UDP one, UDP
     * preferred), for clients whose network blocks UDP and who have no TURN relay. Off by default:
     * the worker keeps every TCP connection anyone opens to it, unauthenticated or not, until the
     * other side closes it (see README: cap connections per address at the firewall).
     */
    RTC_ICE_TCP: z.enum(['0', '1', 'false', 'true']).default('0'),
    /**
     * Addresses the SFU may send ICE checks to when a participant names them as candidates
     * (sfu/candidates.ts): public, loopback, private, link-local, CIDRs or addresses, comma separated.
     */
    RTC_ALLOWED_CANDIDATES: z.string().default(DEFAULT_ALLOWED_CANDIDATES),
    /** JSON array of RTCIceServer handed to clients, e.g. a TURN server. No public STUN by default. */
    ICE_SERVERS: z.string().default('[]'),
    /**
     * auto: mediasoup when its worker starts, else werift (one log line says which and why);
     * mediasoup: fail at start without a worker; werift: the embedded engine.
     */
    SFU_ENGINE: z.enum(['auto', 'mediasoup', 'werift']).default('auto'),
    /** mediasoup worker processes (one per core by default); each room's router goes on the least-loaded one. */
    MEDIASOUP_WORKERS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).max(256).optional()),
    /** A mediasoup worker executable to use instead of the package's own (machines without internet). */
    MEDIASOUP_WORKER_BIN: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
    /** embedded: run and supervise the analyzer process; external: expect one to connect; off: none. */
    ANALYZER: z.enum(['embedded', 'external', 'off']).default('embedded'),
    /**
     * Analyzer worker processes the server runs and supervises when ANALYZER=embedded; each call
     * goes to one of them (and of any remote analyzers). 0: none, only remote ones. Unset: one per
     * core, one core left for signaling and the SFU (at least one).
     */
    ANALYZER_WORKERS: z.coerce.number().int().min(0).max(256).optional(),
    /** An analyzer silent for this long is considered stalled (and, if embedded, restarted). */
    ANALYZER_STALL_MS: z.coerce.number().int().min(1000).default(10_000),
    ANALYZER_MEMORY_LIMIT_MB: z.coerce.number().int().min(0).default(8192),
    /** The audit log (SQLite); ':memory:' keeps it in memory. Default: DATA_DIR/audit.sqlite. */
    AUDIT_DB: z.string().optional(),
    /** Days a closed call stays in the audit log (with its people, states, alerts and checks); 0 keeps everything. */
    AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(365),
    /**
     * Days the detectors' evidence of a closed call (scores and times, 2-4 MB per analysed
     * hour) stays in the audit log, for `npm run calibrate -- --from-audit`; 0 records none.
     */
    AUDIT_EVIDENCE_DAYS: z.coerce.number().int().min(0).max(36_500).default(90),
    /** Open connections one join or dashboard link may hold at once (tabs, devices, a reconnect racing its old socket). */
    MAX_CONNECTIONS_PER_TOKEN: z.coerce.number().int().min(1).max(100).default(5),
    /** Bearer token for /metrics; unset, /metrics answers loopback clients only. */
    METRICS_TOKEN: z.string().min(16).optional(),
    /** Room types by room id: `kyc-*=kyc,ward-3=telehealth` (exact id or prefix*); first match wins. */
    ROOM_TYPES: z.string().default(''),
    /** The type of rooms ROOM_TYPES does not name. */
    ROOM_TYPE_DEFAULT: z.enum(ROOM_TYPES).default('telehealth'),
    /** Least time between two automatic liveness checks of one caller. */
    STEP_UP_COOLDOWN_S: z.coerce.number().int().min(10).max(86_400).default(120),
    /** Automatic liveness checks per caller per call. */
    STEP_UP_MAX_PER_CALLER: z.coerce.number().int().min(1).max(20).default(3),
    /**
     * Print a join link per role and an all-calls dashboard link at start (`npm start` turns it on
     * with --demo-links). Off by default: the links are credentials, and stdout ends up in logs.
     */
    DEMO_LINKS: z.enum(['0', '1', 'false', 'true']).default('0'),
  })
  .refine((e) => (e.RTC_MIN_PORT === undefined) === (e.RTC_MAX_PORT === undefined), {
    message: 'set both RTC_MIN_PORT and RTC_MAX_PORT, or neither',
  })
  .refine((e) => e.RTC_MIN_PORT === undefined || e.RTC_MIN_PORT <= (e.RTC_MAX_PORT ?? 0), {
    message: 'RTC_MIN_PORT must not exceed RTC_MAX_PORT',
  });

export interface RtcConfig {
  listenIp?: string;
  announcedIp?: string;
  portRange?: [number, number];
  /** Video above this (either orientation) is not forwarded (sfu/vp8.ts exceedsVideoSize). */
  maxVideoSize?: VideoSize;
  /** Cover keyframe cadence (0 or undefined: none): hidden subscribers wait for the next one. */
  coverKeyframeMs?: number;
  /** Which candidates a participant names that the SFU may check (undefined: all). */
  candidatePolicy?: CandidatePolicy;
  /** mediasoup: a media connection not up (DTLS connected) this long after it was made is restarted. */
  connectTimeoutMs?: number;
  /** mediasoup: offer ICE over TCP beside UDP (UDP preferred); undefined: UDP only. */
  iceTcp?: boolean;
}

export interface ServerConfig {
  host: string;
  port: number;
  publicUrl?: string;
  tokenSecret: string;
  tokenTtlSeconds: number;
  dataDir: string;
  rooms: string[];
  maxParticipants: number;
  rtc: RtcConfig;
  iceServers: IceServer[];
  sfuEngine: 'auto' | 'mediasoup' | 'werift';
  /** Used when the engine is (or, on auto, becomes) mediasoup. */
  mediasoup: { workers: number; workerBin?: string };
  /** workers: embedded worker processes (0 unless mode is embedded). */
  /** memoryLimitMb: an embedded worker whose resident memory passes it is killed and restarted (0: no limit). */
  analyzer: { mode: 'embedded' | 'external' | 'off'; stallMs: number; workers: number; memoryLimitMb: number };
  metricsToken?: string;
  auditDb: string;
  /** Days a closed call is kept in the audit log; 0: forever. */
  auditRetentionDays: number;
  /** Days a closed call's recorded detector evidence is kept; 0: none is recorded. */
  auditEvidenceDays: number;
  /** Open connections per token (per participant id), call and dashboard namespaces each. */
  maxConnectionsPerToken: number;
  /** Step-up by policy: which rooms check callers on their own, and when (screening/StepUp.ts). */
  stepUp: { rules: RoomTypeRule[]; defaultType: RoomType; cooldownMs: number; maxPerCaller: number };
  /** Print demo join links and a dashboard link at start (DEMO_LINKS; default off). */
  demoLinks: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function loadOrCreateSecret(dataDir: string): string {
  const file = resolve(dataDir, 'token-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parsed = EnvSchema.safeParse(withoutEmpty(rawEnv));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || 'config'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  let iceServers: IceServer[];
  try {
    iceServers = z.array(IceServerSchema).parse(JSON.parse(e.ICE_SERVERS));
  } catch (err) {
    throw new ConfigError(`ICE_SERVERS must be a JSON array of {urls, username?, credential?}: ${String(err)}`);
  }
  const tokenSecret = e.TOKEN_SECRET ?? loadOrCreateSecret(e.DATA_DIR);
  try {
    assertUsableSecret(tokenSecret);
  } catch (err) {
    throw new ConfigError(`TOKEN_SECRET: ${(err as Error).message}`);
  }
  let roomTypes: RoomTypeRule[];
  try {
    roomTypes = parseRoomTypes(e.ROOM_TYPES);
  } catch (err) {
    throw new ConfigError(`ROOM_TYPES: ${(err as Error).message}`);
  }
  let candidatePolicy: CandidatePolicy;
  try {
    candidatePolicy = parseCandidatePolicy(e.RTC_ALLOWED_CANDIDATES);
  } catch (err) {
    throw new ConfigError(`RTC_ALLOWED_CANDIDATES: ${(err as Error).message}`);
  }
  const rooms = e.ROOMS.split(',').map((r) => r.trim()).filter(Boolean);
  return {
    host: e.HOST,
    port: e.PORT,
    ...(e.PUBLIC_URL ? { publicUrl: e.PUBLIC_URL.replace(/\/$/, '') } : {}),
    tokenSecret,
    tokenTtlSeconds: e.TOKEN_TTL_SECONDS,
    dataDir: e.DATA_DIR,
    rooms,
    maxParticipants: e.MAX_PARTICIPANTS,
    rtc: {
      ...(e.RTC_LISTEN_IP ? { listenIp: e.RTC_LISTEN_IP } : {}),
      ...(e.RTC_ANNOUNCED_IP ? { announcedIp: e.RTC_ANNOUNCED_IP } : {}),
      ...(e.RTC_MIN_PORT !== undefined && e.RTC_MAX_PORT !== undefined
        ? { portRange: [e.RTC_MIN_PORT, e.RTC_MAX_PORT] as [number, number] }
        : {}),
      maxVideoSize: parseVideoSize(e.RTC_MAX_VIDEO_SIZE)!,
      candidatePolicy,
      coverKeyframeMs: Math.round(e.RTC_KEYFRAME_INTERVAL_S * 1000),
      connectTimeoutMs: Math.round(e.RTC_CONNECT_TIMEOUT_S * 1000),
      iceTcp: e.RTC_ICE_TCP === '1' || e.RTC_ICE_TCP === 'true',
    },
    iceServers,
    sfuEngine: e.SFU_ENGINE,
    mediasoup: { workers: e.MEDIASOUP_WORKERS ?? availableParallelism(), ...(e.MEDIASOUP_WORKER_BIN ? { workerBin: e.MEDIASOUP_WORKER_BIN } : {}) },
    analyzer: {
      mode: e.ANALYZER,
      stallMs: e.ANALYZER_STALL_MS,
      memoryLimitMb: e.ANALYZER_MEMORY_LIMIT_MB,
      workers: e.ANALYZER === 'embedded' ? (e.ANALYZER_WORKERS ?? defaultAnalyzerWorkers()) : 0,
    },
    auditDb: e.AUDIT_DB ?? resolve(e.DATA_DIR, 'audit.sqlite'),
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    auditEvidenceDays: e.AUDIT_EVIDENCE_DAYS,
    maxConnectionsPerToken: e.MAX_CONNECTIONS_PER_TOKEN,
    stepUp: { rules: roomTypes, defaultType: e.ROOM_TYPE_DEFAULT, cooldownMs: e.STEP_UP_COOLDOWN_S * 1000, maxPerCaller: e.STEP_UP_MAX_PER_CALLER },
    ...(e.METRICS_TOKEN ? { metricsToken: e.METRICS_TOKEN } : {}),
    demoLinks: e.DEMO_LINKS === '1' || e.DEMO_LINKS === 'true',
  };
}

/** One analyzer worker per core, one core left for signaling and the SFU; at least one. */
export function defaultAnalyzerWorkers(cores = availableParallelism()): number {
  return Math.max(1, cores - 1);
}
