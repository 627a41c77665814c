/**
 * The client/server signaling protocol: one place for every socket.io event name, payload schema
 * and error code. The server validates every inbound payload with these schemas at the edge; the
 * browser client imports the inferred types.
 */
import { z } from 'zod';
import { INTEGRITY_FLAGS, VIRTUAL_CAMERAS, type IntegrityFlag } from './integrity.ts';
import type { ChallengePrompt, ChallengeView } from './challenge.ts';
import type { Role } from './roles.ts';

/** Largest SDP we accept. Real offers for a call are a few KB; this leaves room for many m-lines. */
export const MAX_SDP_BYTES = 64 * 1024;
/** socket.io closes a connection whose single message exceeds this; our own limits are lower. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

export const ErrorCode = {
  BadRequest: 'BAD_REQUEST',
  TokenMissing: 'TOKEN_MISSING',
  TokenMalformed: 'TOKEN_MALFORMED',
  TokenBadSignature: 'TOKEN_BAD_SIGNATURE',
  TokenExpired: 'TOKEN_EXPIRED',
  TokenWrongRoom: 'TOKEN_WRONG_ROOM',
  NotJoined: 'NOT_JOINED',
  Forbidden: 'FORBIDDEN',
  RoomNotFound: 'ROOM_NOT_FOUND',
  RoomFull: 'ROOM_FULL',
  RoomClosed: 'ROOM_CLOSED',
  BadSdp: 'BAD_SDP',
  RateLimited: 'RATE_LIMITED',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ProtocolError {
  code: ErrorCode;
  message: string;
}

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ProtocolError };

const roomId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'room ids use letters, digits, "-" and "_"');
const sdp = z.string().min(1).max(MAX_SDP_BYTES, `SDP larger than ${MAX_SDP_BYTES} bytes`);
const pcTarget = z.enum(['publish', 'subscribe']);

export const RoomIdSchema = roomId;

/**
 * What the analyzer concludes about an analysed participant. DEGRADED: the analyzer cannot sample
 * this participant as fast as a detector that decides the verdict needs (it is falling behind), so
 * it gives no all-clear; it takes CLEAR's place, never SUSPICIOUS's or ALERT's (those hold, with
 * `degraded` saying what is starved).
 */
export const RISK_STATES = ['ANALYZING', 'CLEAR', 'SUSPICIOUS', 'ALERT', 'INSUFFICIENT_SIGNAL', 'DEGRADED'] as const;
export type RiskState = (typeof RISK_STATES)[number];

/** How serious each state is, worst highest: what dashboards sort and summarise by. */
export const RISK_SEVERITY: Record<RiskState, number> = { ALERT: 5, SUSPICIOUS: 4, DEGRADED: 3, INSUFFICIENT_SIGNAL: 2, ANALYZING: 1, CLEAR: 0 };

const detectorName = z.string().min(1).max(64);

/** A detector the analyzer cannot feed as fast as it needs, with a plain reason. */
export const DegradedDetectorSchema = z.strictObject({
  detector: detectorName,
  reason: z.string().max(300),
  /** Samples analysed per second over the last seconds, and what the detector needs. */
  achieved: z.number().min(0).max(1000),
  needed: z.number().min(0).max(1000),
  /**
   * Why: `behind`, the analyzer loses samples that arrived (a busy host, a model run that fails);
   * `stalled`, the input stopped arriving although the caller's camera is on (the network, the
   * receive path, frames refused).
   * Absent: behind (analyzers before the field existed).
   */
  why: z.enum(['behind', 'stalled']).optional(),
});
export type DegradedDetector = z.infer<typeof DegradedDetectorSchema>;

/**
 * What the server hands back to an analyzer that (re)joins a call, per analysed participant: the
 * last raised state, so that a restarted or replacement analyzer resumes it (RiskFusion.restore)
 * instead of starting from ANALYZING and raising the same alert twice.
 */
export const RiskHandBackSchema = z.strictObject({
  participantId: z.string().min(1).max(128),
  state: z.enum(RISK_STATES),
  risk: z.number().min(0).max(1),
  since: z.number(),
  raisedBy: z.array(detectorName).max(16),
});
export type RiskHandBack = z.infer<typeof RiskHandBackSchema>;

/** Client-side capture facts: advisory evidence only, the client is untrusted. */
export const IntegrityReportSchema = z.strictObject({
  cameraLabel: z.string().max(128),
  /** Only names we know: the server never relays text of the client's choosing. */
  virtualCamera: z.enum(VIRTUAL_CAMERAS.map(([name]) => name) as [string, ...string[]]).nullable(),
  flags: z.array(z.enum(Object.keys(INTEGRITY_FLAGS) as [IntegrityFlag, ...IntegrityFlag[]])).max(16),
  settings: z.strictObject({
    width: z.number().nonnegative().max(16384).optional(),
    height: z.number().nonnegative().max(16384).optional(),
    frameRate: z.number().nonnegative().max(1000).optional(),
    deviceId: z.boolean().optional(),
    groupId: z.boolean().optional(),
  }),
});
export type IntegrityReport = z.infer<typeof IntegrityReportSchema>;

/** Client -> server payloads. */
export const ClientMessages = {
  join: z.strictObject({ room: roomId }),
  publish: z.strictObject({ sdp }),
  'subscribe.answer': z.strictObject({ sdp }),
  ice: z.strictObject({
    target: pcTarget,
    candidate: z.strictObject({
      candidate: z.string().max(1024),
      sdpMid: z.string().max(32).nullish(),
      sdpMLineIndex: z.number().int().min(0).max(1024).nullish(),
      usernameFragment: z.string().max(256).nullish(),
    }),
  }),
  'media.state': z.strictObject({ audio: z.boolean(), video: z.boolean() }),
  /**
   * Receivers: the highest VP8 temporal layer wanted from one publisher's video (0 = base layer;
   * null = this receiver's default). The analyzer raises it while it boosts a stream.
   */
  'media.layers': z.strictObject({ participantId: z.string().min(1).max(128), maxTemporalLayer: z.number().int().min(0).max(3).nullable() }),
  /**
   * Receivers: one publisher's video has stopped arriving although their camera is on (the
   * analyzer's stall check). The server asks that publisher for a keyframe, at most once per
   * MEDIA_REFRESH_INTERVAL_MS for each receiver and publisher, and logs where the video stops.
   */
  'media.refresh': z.strictObject({ participantId: z.string().min(1).max(128) }),
  leave: z.strictObject({}),
  'room.close': z.strictObject({}),
  /** Privileged: I have seen this alert (optionally with a note for the audit log). */
  'alert.ack': z.strictObject({ alertId: z.string().min(1).max(64), note: z.string().max(500).optional() }),
  /** Analysed participants: facts about their own capture device. */
  'integrity.report': IntegrityReportSchema,
  /** Privileged: ask an analysed participant to take a liveness challenge. */
  'challenge.start': z.strictObject({ participantId: z.string().min(1).max(128) }),
} as const;

export type ClientEvent = keyof typeof ClientMessages;
export type ClientPayload<E extends ClientEvent> = z.infer<(typeof ClientMessages)[E]>;

export interface ParticipantInfo {
  id: string;
  name: string;
  role: Role;
  audio: boolean;
  video: boolean;
}

export interface IceServer {
  urls: string | string[];
  username?: string | undefined;
  credential?: string | undefined;
}

/** Whether the analyzer is watching this call; sent to privileged participants only. */
export interface AnalysisStatus {
  available: boolean;
  reason?: string;
}

export interface JoinResult {
  /** Identifies this join: offers for an earlier join of the same connection are stale. */
  session: string;
  self: ParticipantInfo;
  room: string;
  participants: ParticipantInfo[];
  iceServers: IceServer[];
  canPublish: boolean;
  /** Present for privileged participants only. */
  analysis?: AnalysisStatus;
}

/** What each subscriber-side m-line carries, so the client can put a track on the right tile. */
export interface TrackInfo {
  mid: string;
  participantId: string;
  kind: 'audio' | 'video';
}

export interface SubscribeOffer {
  /** The join (JoinResult.session) this offer belongs to. */
  session: string;
  sdp: string;
  tracks: TrackInfo[];
}

export interface RiskReason {
  detector: string;
  text: string;
  /** This detector's share of the risk (weight x confidence x suspicion). */
  contribution: number;
  /**
   * The detector's own suspicion over its window, 0 (looks real) .. 1 (looks fake): whether this
   * reason is a concern or reassuring (the UI shows the two differently). Absent from older analyzers.
   */
  score?: number | undefined;
}

/** A participant's current risk; privileged participants only. */
export interface RiskUpdate {
  participantId: string;
  state: RiskState;
  /** 0..1 */
  risk: number;
  /** Most important first. */
  reasons: RiskReason[];
  /** What could not be judged and why (no face, too dark, no speech yet...). */
  gaps: string[];
  /** When the current state began (ms since epoch). */
  since: number;
  at: number;
  /** SUSPICIOUS or ALERT: the detectors that raised it; only their fresh evidence lowers it. */
  raisedBy?: string[] | undefined;
  /** "Analysis degraded": detectors the analyzer cannot feed as fast as they need, with reasons. */
  degraded?: DegradedDetector[] | undefined;
}

export interface RiskAlert {
  id: string;
  participantId: string;
  participantName: string;
  risk: number;
  reasons: RiskReason[];
  at: number;
}

/** Acks the server sends for each client event. */
export interface ClientAcks {
  join: Ack<JoinResult>;
  publish: Ack<{ sdp: string }>;
  'subscribe.answer': Ack;
  ice: Ack;
  'media.state': Ack;
  'media.layers': Ack;
  'media.refresh': Ack;
  leave: Ack;
  'room.close': Ack;
  'alert.ack': Ack;
  'integrity.report': Ack;
  'challenge.start': Ack<{ challenge: ChallengeView }>;
}

/** Server -> client events. */
export interface ServerEvents {
  'participant.joined': (p: ParticipantInfo) => void;
  'participant.updated': (p: ParticipantInfo) => void;
  'participant.left': (p: { id: string }) => void;
  'subscribe.offer': (offer: SubscribeOffer) => void;
  /**
   * The call ended. `shutdown`: the server is stopping (perhaps to restart), not the host ending the
   * call: clients reconnect and rejoin when it is back (the call resumes once its host rejoins).
   */
  'room.closed': (p: { reason: string; shutdown?: true }) => void;
  /** A call this socket tried to join before its host opened it has opened: join now. */
  'room.opened': (p: { room: string }) => void;
  /** The same identity joined from another connection; this one is finished. */
  'session.replaced': () => void;
  /**
   * The server lost this session's media (e.g. the SFU worker under the call died): rejoin, and
   * the new session's media goes through a live one.
   */
  'media.restart': (p: { session: string; reason: string }) => void;
  /** Analysis became (un)available; privileged participants only. */
  'analysis.status': (s: AnalysisStatus) => void;
  /** Privileged participants only: risk of an analysed participant changed. */
  'risk.update': (u: RiskUpdate) => void;
  /** Privileged participants only: a participant entered ALERT. */
  'risk.alert': (a: RiskAlert) => void;
  /** Privileged participants only: someone acknowledged an alert. */
  'risk.alert.acked': (a: { alertId: string; by: string; note?: string }) => void;
  /** Analysed participant only: the next instruction of a liveness challenge. */
  'challenge.prompt': (p: ChallengePrompt) => void;
  /** Analysed participant only: the challenge is over (no result: they never see verdicts). */
  'challenge.done': (p: { challengeId: string }) => void;
  /** Privileged participants only: a challenge's progress and verdict. */
  'challenge.update': (c: ChallengeView) => void;
  /** An error that has no ack to travel on (e.g. a failed renegotiation). */
  error: (e: ProtocolError) => void;
}

export type ClientEvents = {
  [E in ClientEvent]: (payload: ClientPayload<E>, ack: (result: ClientAcks[E]) => void) => void;
};

/** Data a socket.io connect_error carries when the handshake token is refused. */
export interface ConnectErrorData {
  code: ErrorCode;
}
