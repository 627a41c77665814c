/**
 * A call: its participants, who may see whom, and its SFU room. Media lives in the engine; this
 * class owns membership and the rules around it.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ParticipantInfo, ServerEvents } from '../protocol/messages.ts';
import { canPublish, isPrivileged, type ParticipantRole, type RoomType } from '../protocol/roles.ts';
import type { SfuPeer, SfuRoom } from '../sfu/engine.ts';

/** What a CallRoom needs from a connection: somewhere to send events, and a way to end it. */
export interface ParticipantChannel {
  emit<E extends keyof ServerEvents>(event: E, ...args: Parameters<ServerEvents[E]>): unknown;
}

export interface Participant {
  readonly id: string;
  /** Unique per join, so a client can tell this session's offers from a previous one's. */
  readonly session: string;
  readonly name: string;
  readonly role: ParticipantRole;
  readonly channel: ParticipantChannel;
  readonly peer: SfuPeer;
  audio: boolean;
  video: boolean;
}

/** Only for visible participants: the analyzer never appears in anyone's list. */
export function infoOf(p: Participant): ParticipantInfo {
  return { id: p.id, name: p.name, role: p.role === 'analyzer' ? 'supervisor' : p.role, audio: p.audio, video: p.video };
}

/**
 * Supervisors watch silently: analysed participants are never told they are there. The analyzer
 * is seen by no one, and sees everyone.
 */
export function isVisibleTo(subject: Participant, viewer: Participant): boolean {
  if (subject.role === 'analyzer') return false;
  if (viewer.role === 'analyzer') return true;
  return subject.role !== 'supervisor' || isPrivileged(viewer.role);
}

export interface JoinRequest {
  id: string;
  name: string;
  role: ParticipantRole;
  channel: ParticipantChannel;
}

/**
 * Events: `left` for every participant who goes; `empty` once the last person (analyzers aside) has
 * gone, but not when the same identity's new session takes the old one's place (a reload: the
 * same sitting), unless that new session then fails to join.
 */
export class CallRoom extends EventEmitter<{ close: []; empty: []; joined: [Participant]; left: [Participant]; updated: [Participant] }> {
  readonly id: string;
  /** Rooms from configuration stay open while empty; rooms a host opened are disposed when empty. */
  readonly persistent: boolean;
  /** The room type the opening host's token named (screening/StepUp.ts); absent: the configuration decides. */
  readonly type: RoomType | undefined;
  private readonly participants = new Map<string, Participant>();
  private readonly sfu: SfuRoom;
  private readonly maxParticipants: number;
  private closedFlag = false;

  constructor(id: string, sfu: SfuRoom, opts: { maxParticipants: number; persistent: boolean; type?: RoomType }) {
    super();
    this.id = id;
    this.sfu = sfu;
    this.maxParticipants = opts.maxParticipants;
    this.persistent = opts.persistent;
    this.type = opts.type;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get size(): number {
    return this.participants.size;
  }

  get(id: string): Participant | undefined {
    return this.participants.get(id);
  }

  /** Room for one more, not counting a session that the joiner replaces, nor the analyzer. */
  hasRoomFor(id: string): boolean {
    if (this.participants.has(id)) return true;
    let people = 0;
    for (const p of this.participants.values()) if (p.role !== 'analyzer') people++;
    return people < this.maxParticipants;
  }

  /** People in the call (the analyzer does not count: a room with only the analyzer is empty). */
  get people(): number {
    let n = 0;
    for (const p of this.participants.values()) if (p.role !== 'analyzer') n++;
    return n;
  }

  /** Sends to privileged participants only: the analysed side never receives analysis data. */
  toPrivileged<E extends 'analysis.status' | 'risk.update' | 'risk.alert' | 'risk.alert.acked' | 'challenge.update'>(event: E, ...args: Parameters<ServerEvents[E]>): void {
    for (const p of this.participants.values()) if (isPrivileged(p.role)) p.channel.emit(event, ...args);
  }

  /** Whether a participant in the call is on the analysed side (a patient, a customer). */
  private analysed(id: string): boolean {
    const p = this.participants.get(id);
    return p !== undefined && p.role !== 'analyzer' && !isPrivileged(p.role);
  }

  /** The previous session of the same identity must have been removed first. */
  add(req: JoinRequest): Participant {
    if (this.participants.has(req.id)) throw new Error(`participant ${req.id} is already in room ${this.id}`);
    // The analyzer samples a few frames a second: it gets the base temporal layer only (see
    // sfu/vp8.ts) and asks for more per stream ('media.layers') while it boosts one. It judges
    // the analysed side only, so that is all it receives.
    const peer = this.sfu.createPeer({
      id: req.id,
      canPublish: canPublish(req.role),
      ...(req.role === 'analyzer' ? { maxTemporalLayer: 0, receives: (id: string) => this.analysed(id) } : {}),
      // Invisible to analysed participants: its arrival must not show up as a keyframe request.
      ...(req.role === 'supervisor' ? { hidden: true } : {}),
    });
    const p: Participant = { ...req, session: randomUUID(), peer, audio: canPublish(req.role), video: canPublish(req.role) };
    this.participants.set(p.id, p);
    peer.on('subscribe-offer', (offer) => p.channel.emit('subscribe.offer', { ...offer, session: p.session }));
    peer.on('media-failed', (target) => p.channel.emit('media.restart', { session: p.session, reason: `the server lost the ${target} connection` }));
    this.broadcastFrom(p, 'participant.joined', infoOf(p));
    this.emit('joined', p);
    return p;
  }

  /** Everyone in the call, the analyzer included. */
  all(): Participant[] {
    return [...this.participants.values()];
  }

  /** Everyone in the room that the viewer is allowed to see, the viewer excluded. */
  visibleTo(viewer: Participant): ParticipantInfo[] {
    return [...this.participants.values()].filter((p) => p !== viewer && isVisibleTo(p, viewer)).map(infoOf);
  }

  updateMedia(p: Participant, state: { audio: boolean; video: boolean }): void {
    p.audio = state.audio;
    p.video = state.video;
    this.broadcastFrom(p, 'participant.updated', infoOf(p));
    this.emit('updated', p);
  }

  remove(p: Participant, opts: { replaced?: boolean } = {}): void {
    if (this.participants.get(p.id) !== p) return;
    this.participants.delete(p.id);
    p.peer.close();
    this.broadcastFrom(p, 'participant.left', { id: p.id });
    this.emit('left', p);
    if (this.people === 0 && !opts.replaced) this.emit('empty');
  }

  /**
   * A new session of someone already here (a reload, a rejoin after a media failure): the old one
   * goes and the new one comes without the call counting as empty in between, which closed a call
   * whose only person rejoined.
   */
  replace(previous: Participant, req: JoinRequest): Participant {
    this.remove(previous, { replaced: true });
    try {
      return this.add(req);
    } catch (err) {
      if (this.people === 0) this.emit('empty');
      throw err;
    }
  }

  private broadcastFrom<E extends 'participant.joined' | 'participant.updated' | 'participant.left'>(
    subject: Participant,
    event: E,
    ...args: Parameters<ServerEvents[E]>
  ): void {
    for (const other of this.participants.values()) {
      if (other !== subject && isVisibleTo(subject, other)) other.channel.emit(event, ...args);
    }
  }

  /**
   * Ends the call for everyone; close() cascades to the SFU room and every peer. `shutdown`: the
   * server is stopping, and tells clients so (they come back when it does).
   */
  close(reason: string, opts: { shutdown?: boolean } = {}): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const p of this.participants.values()) p.channel.emit('room.closed', { reason, ...(opts.shutdown ? { shutdown: true as const } : {}) });
    this.participants.clear();
    this.sfu.close();
    this.emit('close');
  }
}
