/**
 * Runs liveness challenges: a host or supervisor asks for one, the analysed participant gets the
 * instructions (and nothing else), the analyzer measures, privileged participants follow progress
 * and get the verdict, and the audit log keeps it. At most one challenge per participant at a time.
 * The room's step-up policy (StepUp.ts) starts checks here too, through the same path.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ClientError } from '../errors.ts';
import { logger } from '../log.ts';
import type { ChallengeTrigger, ChallengeView } from '../protocol/challenge.ts';
import { ErrorCode } from '../protocol/messages.ts';
import { isPrivileged } from '../protocol/roles.ts';
import type { CallRoom, Participant } from '../signaling/CallRoom.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';
import { recordSafely, type AuditLog } from '../audit/AuditLog.ts';
import type { AnalyzerHub } from './AnalyzerHub.ts';
import { Challenge, systemClock, type Clock } from './challenge/Challenge.ts';
import { cryptoRandom, drawPlan, type PlanOptions, type Random } from './challenge/plan.ts';

const log = logger('challenge');

export interface ChallengeDeskOptions {
  plan?: PlanOptions;
  random?: Random;
  clock?: Clock;
  /** The audit log's call id for a room. */
  callIdOf: (room: string) => number | undefined;
}

interface Running {
  room: CallRoom;
  challenge: Challenge;
}

export class ChallengeDesk extends EventEmitter<{ update: [room: string, challenge: ChallengeView] }> {
  private readonly running = new Map<string, Running>();
  private readonly hub: AnalyzerHub;
  private readonly audit: AuditLog;
  private readonly opts: ChallengeDeskOptions;

  constructor(registry: RoomRegistry, hub: AnalyzerHub, audit: AuditLog, opts: ChallengeDeskOptions) {
    super();
    this.hub = hub;
    this.audit = audit;
    this.opts = opts;
    const follow = (room: CallRoom) => {
      room.on('left', (p) => {
        for (const r of this.running.values()) if (r.room === room && r.challenge.participantId === p.id) r.challenge.cancel(`${p.name} left the call during the check.`);
      });
      room.once('close', () => {
        for (const r of this.running.values()) if (r.room === room) r.challenge.cancel('The call ended during the check.');
      });
    };
    for (const room of registry.list()) follow(room);
    registry.on('opened', (id) => {
      const room = registry.get(id);
      if (room) follow(room);
    });
    hub.on('challenge-sample', (room, participantId, challengeId, sample) => {
      const r = this.running.get(key(room, participantId));
      if (r && r.challenge.id === challengeId) r.challenge.addSample(sample);
    });
    hub.on('status', (s) => {
      if (!s.available) for (const r of this.running.values()) r.challenge.cancel(`Analysis stopped during the check: ${s.reason ?? 'unavailable'}`);
    });
  }

  start(room: CallRoom, by: Participant, participantId: string): ChallengeView {
    if (!isPrivileged(by.role)) throw new ClientError(ErrorCode.Forbidden, 'Only clinicians, agents and supervisors can ask for a liveness check.');
    return this.launch(room, participantId, by.name, 'manual', by.id);
  }

  /**
   * A check the room's step-up policy (StepUp.ts) starts on its own: the same rules, audit record
   * and verdict path as a manual one, with `requestedBy` naming the policy.
   */
  startAutomatic(room: CallRoom, participantId: string, trigger: Exclude<ChallengeTrigger, 'manual'>, roomType: string): ChallengeView {
    const why = trigger === 'join' ? 'at join' : trigger === 'suspicious' ? 'on suspicion' : 'on alert';
    return this.launch(room, participantId, `the ${roomType} room policy (${why})`, trigger, 'policy');
  }

  /** True while a check of this participant runs. */
  isRunning(room: string, participantId: string): boolean {
    return this.running.get(key(room, participantId))?.challenge.running ?? false;
  }

  private launch(room: CallRoom, participantId: string, requestedBy: string, trigger: ChallengeTrigger, byId: string): ChallengeView {
    const subject = room.get(participantId);
    if (!subject || subject.role === 'analyzer') throw new ClientError(ErrorCode.BadRequest, 'That participant is not in this call.');
    if (isPrivileged(subject.role)) throw new ClientError(ErrorCode.BadRequest, 'Only patients and customers are checked.');
    if (!this.hub.status.available) throw new ClientError(ErrorCode.BadRequest, `The check needs the analyzer: ${this.hub.status.reason ?? 'analysis is unavailable'}`);
    const k = key(room.id, participantId);
    const existing = this.running.get(k);
    if (existing?.challenge.running) throw new ClientError(ErrorCode.BadRequest, 'A check for this participant is already running.');

    const plan = drawPlan(this.opts.random ?? cryptoRandom, this.opts.plan);
    const challenge = new Challenge({
      id: randomUUID(),
      participantId,
      participantName: subject.name,
      requestedBy,
      plan,
      trigger,
      clock: this.opts.clock ?? systemClock,
    });
    this.running.set(k, { room, challenge });
    const last = plan[plan.length - 1]!;
    const clock = this.opts.clock ?? systemClock;
    const observe = { room: room.id, participantId, challengeId: challenge.id };
    // The call the check belongs to, taken now: when the call ends, its record is gone before the check ends.
    const callAtStart = this.opts.callIdOf(room.id);
    challenge.on('prompt', (p) => room.get(participantId)?.channel.emit('challenge.prompt', p));
    challenge.on('update', (v) => {
      room.toPrivileged('challenge.update', v);
      this.emit('update', room.id, v);
    });
    challenge.on('end', (v) => {
      if (this.running.get(k)?.challenge === challenge) this.running.delete(k);
      this.hub.unobserve(observe);
      if (v.state !== 'RUNNING') this.hub.sendChallengeResult({ room: room.id, participantId, result: v.state, reasons: v.reasons, requestedBy: v.requestedBy });
      room.get(participantId)?.channel.emit('challenge.done', { challengeId: challenge.id });
      const callId = callAtStart ?? this.opts.callIdOf(room.id);
      if (callId !== undefined) recordSafely(`check verdict in ${room.id}`, () => this.audit.challengeFinished(callId, v));
      log.info('challenge finished', { room: room.id, participant: participantId, result: v.state, steps: v.steps.map((s) => `${s.action}:${s.state}`).join(','), reasons: v.reasons.join(' | ') });
    });
    // Long enough for the longest wait for a baseline (Challenge's default) and the last step.
    this.hub.observe({ ...observe, untilMs: clock.now() + last.promptAt + last.durationMs + 15_000 });
    log.info('challenge started', { room: room.id, participant: participantId, by: byId, trigger, steps: plan.map((s) => s.action).join(',') });
    challenge.start();
    return challenge.snapshot();
  }

  /** Running challenges (for the dashboard and tests). */
  active(): ChallengeView[] {
    return [...this.running.values()].map((r) => r.challenge.snapshot());
  }
}

function key(room: string, participantId: string): string {
  return `${room}/${participantId}`;
}
