/** Which calls exist, and who may open them. Emits 'opened' and 'closed' with the room id. */
import { EventEmitter } from 'node:events';
import type { CallStatus } from '../protocol/joinCheck.ts';
import { ErrorCode } from '../protocol/messages.ts';
import { isHost, type Role, type RoomType } from '../protocol/roles.ts';
import type { SfuEngine } from '../sfu/engine.ts';
import { CallRoom } from './CallRoom.ts';
import { ClientError } from '../errors.ts';

/** A closed room answers ROOM_CLOSED (not ROOM_NOT_FOUND) for this long, so late joiners learn the call ended. */
const CLOSED_MEMORY_MS = 6 * 3600 * 1000;

export class RoomRegistry extends EventEmitter<{ opened: [string]; closed: [string] }> {
  private readonly rooms = new Map<string, CallRoom>();
  private readonly closedAt = new Map<string, number>();
  private readonly engine: SfuEngine;
  private readonly maxParticipants: number;

  constructor(engine: SfuEngine, opts: { maxParticipants: number; persistentRooms: string[] }) {
    super();
    this.engine = engine;
    this.maxParticipants = opts.maxParticipants;
    for (const id of opts.persistentRooms) this.open(id, true);
  }

  get(id: string): CallRoom | undefined {
    return this.rooms.get(id);
  }

  /** Whether a call is open, has not started (or is unknown), or ended recently (what a late joiner is told). */
  status(id: string): CallStatus {
    if (this.rooms.has(id)) return 'open';
    const closed = this.closedAt.get(id);
    return closed !== undefined && Date.now() - closed < CLOSED_MEMORY_MS ? 'ended' : 'not-started';
  }

  list(): CallRoom[] {
    return [...this.rooms.values()];
  }

  private open(id: string, persistent: boolean, type?: RoomType): CallRoom {
    const room = new CallRoom(id, this.engine.createRoom(id), { maxParticipants: this.maxParticipants, persistent, ...(type ? { type } : {}) });
    this.rooms.set(id, room);
    this.closedAt.delete(id);
    room.once('close', () => {
      if (this.rooms.get(id) === room) this.rooms.delete(id);
      this.emit('closed', id);
    });
    this.emit('opened', id);
    if (!persistent) room.on('empty', () => room.close('everyone left'));
    return room;
  }

  /**
   * The room a participant may enter: an open room with space; a host (clinician or agent) opens
   * a room that is not open yet. Everyone else waits for the host.
   */
  admit(roomId: string, participantId: string, role: Role, roomType?: RoomType): CallRoom {
    let room = this.rooms.get(roomId);
    if (!room) {
      if (isHost(role)) {
        room = this.open(roomId, false, roomType);
      } else {
        const closed = this.closedAt.get(roomId);
        if (closed !== undefined && Date.now() - closed < CLOSED_MEMORY_MS) {
          throw new ClientError(ErrorCode.RoomClosed, 'This call has ended.');
        }
        throw new ClientError(ErrorCode.RoomNotFound, `The call "${roomId}" has not started or does not exist.`);
      }
    }
    if (!room.hasRoomFor(participantId)) throw new ClientError(ErrorCode.RoomFull, 'This call is full.');
    return room;
  }

  /** A host ended the call. */
  close(roomId: string, reason: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.close(reason);
    this.closedAt.set(roomId, Date.now());
  }

  /** The server is stopping: every call ends, and its participants are told it is a shutdown. */
  closeAll(reason: string, opts: { shutdown?: boolean } = {}): void {
    for (const room of [...this.rooms.values()]) room.close(reason, opts);
  }
}
