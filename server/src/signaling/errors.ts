import type { ErrorCode, ProtocolError } from '../protocol/messages.ts';

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
