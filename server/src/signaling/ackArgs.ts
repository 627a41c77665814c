/**
 * A client event's arguments as socket.io hands them over: the payload first, the ack last, where
 * either may be missing (`emit('leave', cb)` sends an ack and no payload). Taking them as
 * `(payload, ack)` read such an ack as the payload, and its sender waited for ever.
 */
export interface EventArgs<R> {
  payload: unknown;
  /** Answers on the ack when there is one; otherwise a failure goes out as an 'error' event. */
  reply(result: R): void;
}

export function eventArgs<R extends { ok: boolean; error?: unknown }>(args: unknown[], socket: { emit(event: 'error', error: unknown): unknown }): EventArgs<R> {
  const last = args.at(-1);
  const ack = typeof last === 'function' ? (last as (r: R) => void) : undefined;
  return {
    payload: ack ? (args.length > 1 ? args[0] : undefined) : args[0],
    reply(result: R): void {
      if (ack) ack(result);
      else if (!result.ok) socket.emit('error', result.error);
    },
  };
}
