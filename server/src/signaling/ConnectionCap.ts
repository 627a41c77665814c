/**
 * At most N open connections per token (by its participant id), so one link cannot open hundreds
 * of sockets (issue 13 item 4: one token opened 500). N leaves room for a second tab or device and
 * for a reconnect that arrives before the server has noticed its old socket die (up to socket.io's
 * ping timeout).
 *
 * Admitted in the handshake (so a burst of parallel handshakes cannot all slip under the cap) and
 * released on the socket's 'disconnect' or its transport's 'close', whichever comes first: a
 * handshake whose client vanished before 'connection' never disconnects, but its transport closes.
 */
import { ClientError } from '../errors.ts';
import { ErrorCode } from '../protocol/messages.ts';

/** What a socket.io Socket offers (typed loosely so tests can pass a stand-in). */
export interface CappedSocket {
  once(event: 'disconnect', listener: () => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
  conn: { readyState: string; once(event: 'close', listener: () => void): unknown; off(event: 'close', listener: () => void): unknown };
}

export class ConnectionCap {
  private readonly open = new Map<string, Set<CappedSocket>>();
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** In the handshake: counts the socket against its token, or throws the refusal the client sees. */
  admit(key: string, socket: CappedSocket): void {
    let set = this.open.get(key);
    if ((set?.size ?? 0) >= this.max) {
      throw new ClientError(
        ErrorCode.RateLimited,
        `This link is already open in ${this.max} windows or devices. Close one of them, then try again.`,
      );
    }
    if (socket.conn.readyState !== 'open') return; // gone already: it will never connect
    if (!set) this.open.set(key, (set = new Set()));
    const open = set;
    open.add(socket);
    // Both listeners go at the first of the two: a transport carrying many namespace connections
    // in turn must not collect one per connection.
    const release = () => {
      socket.off('disconnect', release);
      socket.conn.off('close', release);
      open.delete(socket);
      if (open.size === 0 && this.open.get(key) === open) this.open.delete(key);
    };
    socket.once('disconnect', release);
    socket.conn.once('close', release);
  }

  count(key: string): number {
    return this.open.get(key)?.size ?? 0;
  }
}
