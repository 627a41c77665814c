import { ErrorCode, type ConnectErrorData, type ProtocolError } from './protocol/messages.ts';

/** An error meant for the client that caused it: its message is safe to show. */
export class ClientError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ClientError';
    this.code = code;
  }
  toProtocol(): ProtocolError {
    return { code: this.code, message: this.message };
  }
}

/** The error a socket.io middleware hands to next(): the client sees the message and data.code. */
export function handshakeRefusal(err: unknown): Error & { data: ConnectErrorData } {
  const known = err instanceof ClientError;
  return Object.assign(new Error(known ? err.message : 'Authentication failed.'), {
    data: { code: known ? err.code : ErrorCode.Internal },
  });
}
