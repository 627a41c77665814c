/** Plain-language titles for protocol errors that end a session. */
import { ErrorCode, type ProtocolError } from '../../../server/src/protocol/messages.ts';

export interface ErrorView {
  title: string;
  detail: string;
  /** Whether trying again can help (e.g. the host has not arrived yet). */
  retry: boolean;
}

export function describeError(e: ProtocolError): ErrorView {
  switch (e.code) {
    case ErrorCode.TokenExpired:
      return { title: 'This link has expired', detail: 'Ask the person who invited you for a new link.', retry: false };
    case ErrorCode.TokenMissing:
    case ErrorCode.TokenMalformed:
    case ErrorCode.TokenBadSignature:
    case ErrorCode.TokenWrongRoom:
      return { title: 'This link is not valid', detail: `${e.message} Check that you opened the whole link.`, retry: false };
    case ErrorCode.RoomFull:
      return { title: 'This call is full', detail: 'No more participants can join this call.', retry: true };
    case ErrorCode.RoomClosed:
      return { title: 'This call has ended', detail: e.message, retry: false };
    case ErrorCode.RoomNotFound:
      return { title: 'The call has not started yet', detail: 'Your host has not opened the call. Try again in a moment.', retry: true };
    default:
      return { title: 'Something went wrong', detail: e.message, retry: true };
  }
}
