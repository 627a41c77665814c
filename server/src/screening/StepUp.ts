/**
 * Step-up by policy: the room's type decides when a liveness check starts on its own, without
 * anyone pressing "Verify liveness". A KYC session checks every customer as soon as their face is
 * seen (identity is the point of the call); a telehealth visit checks only when the caller turns
 * SUSPICIOUS (a patient should not be put through a check for nothing); a support call only on
 * ALERT; a room of type `off` never checks on its own. Hosts can always start a check by hand.
 * The type comes from the `roomType` claim of the host whose join opened the call (the operator's
 * backend knows what the call is for), else from ROOM_TYPES by room id, else ROOM_TYPE_DEFAULT.
 *
 * Automatic checks run through the same ChallengeDesk as manual ones (same rules, same audit
 * record, `requestedBy` naming the policy) and are rate-limited so that no state can loop: one
 * automatic check per suspicion episode (a FAILED check keeps the caller SUSPICIOUS, which must
 * not start another), at least `cooldownMs` between two automatic checks of one caller, and at
 * most `maxPerCaller` per caller per call, counted across rejoins.
 */
import type { ServerConfig } from '../config.ts';
import { logger } from '../log.ts';
import type { ChallengeTrigger } from '../protocol/challenge.ts';
import type { RiskState, RiskUpdate } from '../protocol/messages.ts';
import { isPrivileged, ROOM_TYPES, type ParticipantRole, type RoomType } from '../protocol/roles.ts';
import type { CallRoom } from '../signaling/CallRoom.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';
import type { ChallengeDesk } from './ChallengeDesk.ts';

const log = logger('step-up');

export { ROOM_TYPES, type RoomType } from '../protocol/roles.ts';

/** When a room type starts a check on its own. */
export type StepUpWhen = 'join' | 'suspicious' | 'alert' | 'never';

export const STEP_UP: Record<RoomType, StepUpWhen> = {
  kyc: 'join',
  telehealth: 'suspicious',
  support: 'alert',
  off: 'never',
};

/** Room id patterns to types: `kyc-*=kyc,ward-3=telehealth`; first match wins. */
export interface RoomTypeRule {
  /** An exact room id, or a prefix followed by `*`. */
  pattern: string;
  type: RoomType;
}

/** Parses ROOM_TYPES; throws a message naming the bad entry. */
export function parseRoomTypes(spec: string): RoomTypeRule[] {
  const rules: RoomTypeRule[] = [];
  for (const entry of spec.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)\s*=\s*([a-z]+)$/.exec(entry);
    if (!m) throw new Error(`"${entry}" is not ROOM=TYPE (e.g. kyc-*=kyc)`);
    const type = m[2] as RoomType;
    if (!ROOM_TYPES.includes(type)) throw new Error(`"${entry}": the type must be one of ${ROOM_TYPES.join(', ')}`);
    if (m[1]!.indexOf('*') !== -1 && m[1]!.indexOf('*') !== m[1]!.length - 1) throw new Error(`"${entry}": '*' may only end a pattern`);
    rules.push({ pattern: m[1]!, type });
  }
  return rules;
}

export function roomTypeOf(room: string, rules: readonly RoomTypeRule[], fallback: RoomType): RoomType {
  for (const r of rules) {
    if (r.pattern.endsWith('*') ? room.startsWith(r.pattern.slice(0, -1)) : room === r.pattern) return r.type;
  }
  return fallback;
}

/** Detectors that judge something other than the face: their reasons do not mean the face was seen. */
const NOT_FACE = new Set(['synthetic-voice', 'client-integrity', 'liveness-check']);

/** The analyzer has judged the caller's face (a face cue gave a reason). */
export function faceSeen(u: RiskUpdate): boolean {
  return u.reasons.some((r) => !NOT_FACE.has(r.detector));
}

/** The outcome of asking for a check: started, or why not ('running': one is on already, which serves). */
export type StartOutcome = { started: true } | { started: false; running: boolean; reason: string };

export interface StepUpOptions {
  typeOf(room: string): RoomType;
  start(room: string, participantId: string, trigger: Exclude<ChallengeTrigger, 'manual'>, type: RoomType): StartOutcome;
  now?: () => number;
  /** Least time between two automatic checks of one caller. Default 120 000 ms. */
  cooldownMs?: number;
  /** Automatic checks per caller per call, rejoins included. Default 3. */
  maxPerCaller?: number;
}

interface CallerState {
  /** Joined and not yet checked at join (KYC). */
  joinPending: boolean;
  /** This suspicion episode already got its check (or one was running). */
  episodeChecked: boolean;
  lastAutoAt?: number;
  autoCount: number;
}

const RISKY: ReadonlySet<RiskState> = new Set<RiskState>(['SUSPICIOUS', 'ALERT']);

/** The policy itself, fed with joins, risk updates and leaves; pure apart from `start`. */
export class StepUpPolicy {
  private readonly callers = new Map<string, CallerState>();
  private readonly opts: Required<StepUpOptions>;

  constructor(opts: StepUpOptions) {
    this.opts = { now: () => Date.now(), cooldownMs: 120_000, maxPerCaller: 3, ...opts };
  }

  private state(room: string, participantId: string): CallerState {
    const k = `${room}/${participantId}`;
    let s = this.callers.get(k);
    if (!s) {
      s = { joinPending: false, episodeChecked: false, autoCount: 0 };
      this.callers.set(k, s);
    }
    return s;
  }

  /** An analysed participant joined (or rejoined). */
  joined(room: string, participantId: string): void {
    const s = this.state(room, participantId);
    s.joinPending = STEP_UP[this.opts.typeOf(room)] === 'join';
  }

  left(room: string, participantId: string): void {
    const s = this.callers.get(`${room}/${participantId}`);
    if (s) s.joinPending = false;
  }

  /** The call ended: forget its callers. */
  closed(room: string): void {
    for (const k of [...this.callers.keys()]) if (k.startsWith(`${room}/`)) this.callers.delete(k);
  }

  risk(room: string, u: RiskUpdate): void {
    const type = this.opts.typeOf(room);
    const when = STEP_UP[type];
    const s = this.state(room, u.participantId);
    const risky = when === 'alert' ? u.state === 'ALERT' : RISKY.has(u.state);
    // The episode lasts while the caller stays raised: an ALERT dipping to SUSPICIOUS is the same one.
    if (!RISKY.has(u.state)) s.episodeChecked = false;
    if (when === 'join') {
      if (s.joinPending && faceSeen(u) && this.attempt(room, u.participantId, s, 'join', type)) s.joinPending = false;
    } else if ((when === 'suspicious' || when === 'alert') && risky && !s.episodeChecked) {
      if (this.attempt(room, u.participantId, s, when, type)) s.episodeChecked = true;
    }
  }

  /** Starts a check if the rate limits allow; true when this trigger is served (started, or one is running). */
  private attempt(room: string, participantId: string, s: CallerState, trigger: 'join' | 'suspicious' | 'alert', type: RoomType): boolean {
    const now = this.opts.now();
    if (s.autoCount >= this.opts.maxPerCaller) return true;
    if (s.lastAutoAt !== undefined && now - s.lastAutoAt < this.opts.cooldownMs) return false;
    const r = this.opts.start(room, participantId, trigger, type);
    if (r.started) {
      s.autoCount++;
      s.lastAutoAt = now;
      log.info('automatic liveness check', { room, participant: participantId, type, trigger, count: s.autoCount });
      return true;
    }
    if (!r.running) log.warn('automatic liveness check not started', { room, participant: participantId, type, trigger, reason: r.reason });
    return r.running;
  }
}

/** The source of risk updates (RiskDesk). */
export interface RiskSource {
  on(event: 'update', fn: (room: string, u: RiskUpdate) => void): unknown;
}

/** Feeds a policy from the rooms (joins and leaves of analysed participants) and the risk desk. */
export function attachStepUp(policy: StepUpPolicy, registry: Pick<RoomRegistry, 'list' | 'get' | 'on'>, risk: RiskSource): void {
  const follow = (room: CallRoom) => {
    const analysed = (role: ParticipantRole) => role !== 'analyzer' && !isPrivileged(role);
    for (const p of room.all()) if (analysed(p.role)) policy.joined(room.id, p.id);
    room.on('joined', (p) => analysed(p.role) && policy.joined(room.id, p.id));
    room.on('left', (p) => analysed(p.role) && policy.left(room.id, p.id));
    // A room from ROOMS never closes: its call ends when the last person leaves (as RiskDesk and the audit count it).
    room.on('empty', () => policy.closed(room.id));
    room.once('close', () => policy.closed(room.id));
  };
  for (const room of registry.list()) follow(room);
  registry.on('opened', (id) => {
    const room = registry.get(id);
    if (room) follow(room);
  });
  risk.on('update', (room, u) => policy.risk(room, u));
}

/** The policy the server runs: room types from the configuration, checks through the ChallengeDesk. */
export function stepUpPolicy(config: Pick<ServerConfig, 'stepUp'>, registry: Pick<RoomRegistry, 'get'>, desk: Pick<ChallengeDesk, 'startAutomatic' | 'isRunning'>): StepUpPolicy {
  const { rules, defaultType, cooldownMs, maxPerCaller } = config.stepUp;
  return new StepUpPolicy({
    typeOf: (room) => registry.get(room)?.type ?? roomTypeOf(room, rules, defaultType),
    cooldownMs,
    maxPerCaller,
    start: (roomId, participantId, trigger, type) => {
      const room = registry.get(roomId);
      if (!room) return { started: false, running: false, reason: 'the call is not open' };
      if (desk.isRunning(roomId, participantId)) return { started: false, running: true, reason: 'a check is running' };
      try {
        desk.startAutomatic(room, participantId, trigger, type);
        return { started: true };
      } catch (err) {
        return { started: false, running: false, reason: (err as Error).message };
      }
    },
  });
}
