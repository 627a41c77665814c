/**
 * The server <-> analyzer control channel (socket.io namespace `/analyzer`): every event name and
 * payload in one place, with zod schemas that both ends validate at their edge. The analyzer may run
 * on another host, from another build, so neither side trusts the other's payloads blindly: a
 * malformed message is logged and dropped, never acted on.
 *
 * Media does not travel here: the analyzer joins each call it is given as a hidden participant,
 * through the same signaling as browsers (protocol/messages.ts, CallSession.ts).
 */
import { z } from 'zod';
import { CHALLENGE_RESULTS, ChallengeSampleSchema } from './challenge.ts';
import { DegradedDetectorSchema, IntegrityReportSchema, RISK_STATES, RiskHandBackSchema, RoomIdSchema } from './messages.ts';

/** The socket.io namespace analyzers connect to, with a service token in `auth.token`. */
export const ANALYZER_NAMESPACE = '/analyzer';

const participantId = z.string().min(1).max(128);
/**
 * Rooms the server names: persistent rooms come from ROOMS unvalidated, so the analyzer accepts
 * any short name rather than drop a whole room list for one odd id (joining it would fail cleanly).
 */
const roomName = z.string().min(1).max(256);
const challengeId = z.string().min(1).max(64);

/** What the analyzer's face-quality check can say of a frame (analyzer/vision/quality.ts). */
export const QUALITY_REASONS = ['ok', 'no-face', 'multiple-faces', 'too-dark', 'too-small', 'frozen'] as const;
/** The inputs whose sampling fusion keeps a ledger of (analyzer/detectors/Detector.ts, SamplingNeed). */
export const SAMPLED_INPUTS = ['video', 'face-frames', 'audio'] as const;

const ms = z.number().min(0).max(1e10);
const sampledInput = z.enum(SAMPLED_INPUTS);
/**
 * One thing a participant's fusion was told, at ms from a start the message gives
 * (analyzer/fusion/recordFusion.ts; the evaluation records and replays the same list):
 * - `['e', t, detector, score | null, confidence]`: evidence (null score: it abstained);
 * - `['q', t, reason]`: the frame quality check;
 * - `['s', t, input]`, `['d', t, input]`: a sample analysed or dropped; `['r', input, perSecond]`: the sampling target;
 * - `['u', t]`: a fusion tick (update).
 * Numbers only: no picture, no sound, no text a detector wrote.
 */
export const FusionInputSchema = z.union([
  z.tuple([z.literal('e'), ms, z.string().min(1).max(64), z.number().min(0).max(1).nullable(), z.number().min(0).max(1)]),
  z.tuple([z.literal('q'), ms, z.enum(QUALITY_REASONS)]),
  z.tuple([z.enum(['s', 'd']), ms, sampledInput]),
  z.tuple([z.literal('r'), sampledInput, z.number().min(0).max(10_000)]),
  z.tuple([z.literal('u'), ms]),
]);
export type FusionInput = z.infer<typeof FusionInputSchema>;
/**
 * The most fusion inputs one `evidence` message carries (the analyzer sends about 30 a second per
 * participant, more in one batch only after its loop was held up). An input is at most ~60 bytes of
 * JSON, so a full batch stays far under MAX_MESSAGE_BYTES, past which socket.io drops the
 * connection (test/unit/audit-calibration.test.ts measures it).
 */
export const MAX_EVIDENCE_BATCH = 2000;

export const RiskUpdateSchema = z.strictObject({
  participantId,
  state: z.enum(RISK_STATES),
  risk: z.number().min(0).max(1),
  reasons: z.array(z.strictObject({ detector: z.string().max(64), text: z.string().max(500), contribution: z.number().min(0).max(1), score: z.number().min(0).max(1).optional() })).max(16),
  gaps: z.array(z.string().max(300)).max(16),
  since: z.number(),
  at: z.number(),
  /** SUSPICIOUS or ALERT: the detectors that raised it, the only ones whose fresh evidence can lower it. */
  raisedBy: z.array(z.string().min(1).max(64)).max(16).optional(),
  /** Detectors starved of samples ("analysis degraded"); state DEGRADED when one of them decides the verdict. */
  degraded: z.array(DegradedDetectorSchema).max(16).optional(),
});

/**
 * How busy a worker is, in each heartbeat. The server dispatches a new call to the live worker
 * with the lowest `load` (LiveKit Agents' worker reports the same kind of figure); the rest is
 * shown in /metrics so an operator can see why.
 */
export const WorkerLoadSchema = z.strictObject({
  /** 0 idle .. 1 saturated (or more): the worst of CPU over its core budget, samples dropped, event-loop delay. */
  load: z.number().min(0).max(100),
  /** CPU the process used since the last heartbeat, in cores. */
  cpu: z.number().min(0).max(4096),
  /** Cores this worker may use (ANALYZER_CORES, or the host's share of the server's workers). */
  cores: z.number().positive().max(4096),
  /** Streams being sampled, and calls being watched. */
  streams: z.number().int().min(0).max(1_000_000),
  rooms: z.number().int().min(0).max(1_000_000),
  /** Samples dropped since the last heartbeat (inference fell behind), and taken. */
  dropped: z.number().int().min(0),
  sampled: z.number().int().min(0),
  /** Sample-to-score latency p95 and event-loop delay p99 since the last heartbeat, ms. */
  lagMs: z.number().min(0),
  loopDelayMs: z.number().min(0),
});
export type WorkerLoad = z.infer<typeof WorkerLoadSchema>;

/** analyzer -> server payloads. */
export const AnalyzerMessages = {
  /**
   * Alive, with the analyzer's metrics (prom-client JSON, relayed on the server's /metrics with a
   * worker label) and its load (older analyzers send none). Both are checked on their own
   * (metrics/merge.ts MetricsJsonSchema, WorkerLoadSchema; AnalyzerHub): a report this server
   * cannot read costs the worker that report, never its heartbeat, or the pool would take it for
   * stalled and kill it.
   */
  heartbeat: z.object({ metrics: z.unknown().optional(), load: z.unknown().optional() }),
  /** A participant's fused risk. */
  risk: z.strictObject({ room: RoomIdSchema, update: RiskUpdateSchema }),
  /**
   * What a participant's fusion was told since the last batch (once a second), so that the server
   * can keep it beside the call in the audit log (AUDIT_EVIDENCE_DAYS) and a deployment can calibrate
   * fusion on its own calls (`npm run calibrate -- --from-audit`). `start`: the epoch ms the
   * inputs' times count from (one per analysed participant and analyzer; a call moved to another
   * analyzer starts again).
   */
  evidence: z.strictObject({ room: RoomIdSchema, participantId, start: z.number().min(0).max(1e14), inputs: z.array(FusionInputSchema).min(1).max(MAX_EVIDENCE_BATCH) }),
  /** One frame's measurements for a running liveness challenge. */
  'challenge.sample': z.strictObject({ room: RoomIdSchema, participantId, challengeId, sample: ChallengeSampleSchema }),
} as const;

/** server -> analyzer payloads. */
export const ServerMessages = {
  /**
   * Sent before `rooms` that assign a call to this analyzer: the last raised state of each
   * analysed participant of the call, to resume (RiskFusion.restore) rather than start over.
   */
  resume: z.strictObject({ room: roomName, subjects: z.array(RiskHandBackSchema).max(256) }),
  /**
   * The calls this analyzer should watch: its share of the pool, the whole list each time (watch
   * these, leave any other). Empty when its calls were moved away (it stalled).
   */
  rooms: z.array(roomName).max(100_000),
  /** Client capture facts, which the analyzer weighs as advisory evidence. */
  integrity: z.strictObject({ room: roomName, participantId, report: IntegrityReportSchema }),
  /** Measure this participant closely (boosted sampling, pose, occlusion) for a challenge, until told to stop or `untilMs`. */
  observe: z.strictObject({
    room: roomName,
    participantId,
    challengeId,
    /** Epoch ms after which the analyzer stops on its own (a lost 'unobserve' must not boost forever). */
    untilMs: z.number(),
  }),
  unobserve: z.strictObject({ room: roomName, participantId, challengeId }),
  /** A check's verdict, which the analyzer weighs as evidence. */
  'challenge.result': z.strictObject({
    room: roomName,
    participantId,
    result: z.enum(CHALLENGE_RESULTS),
    reasons: z.array(z.string().max(2000)).max(64),
    requestedBy: z.string().max(128),
  }),
} as const;

export type AnalyzerEvent = keyof typeof AnalyzerMessages;
export type AnalyzerPayload<E extends AnalyzerEvent> = z.infer<(typeof AnalyzerMessages)[E]>;
export type ServerEvent = keyof typeof ServerMessages;
export type ServerPayload<E extends ServerEvent> = z.infer<(typeof ServerMessages)[E]>;

export type ObserveRequest = ServerPayload<'observe'>;
export type UnobserveRequest = ServerPayload<'unobserve'>;
export type ChallengeResultMessage = ServerPayload<'challenge.result'>;
export type IntegrityMessage = ServerPayload<'integrity'>;

/** analyzer -> server, as socket.io listener types. */
export type AnalyzerToServer = { [E in AnalyzerEvent]: (payload: AnalyzerPayload<E>) => void };
/** server -> analyzer, as socket.io listener types. */
export type ServerToAnalyzer = { [E in ServerEvent]: (payload: ServerPayload<E>) => void };

/** Validates one inbound payload; the error text names the first problem, for the log. */
export function parseMessage<S extends z.ZodType>(schema: S, payload: unknown): { ok: true; data: z.infer<S> } | { ok: false; error: string } {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return { ok: true, data: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, error: issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid' };
}
