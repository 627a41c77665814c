/** A bare socket.io client for speaking the protocol wrongly on purpose. */
import { io, type Socket } from 'socket.io-client';
import type { ConnectErrorData, ProtocolError } from '../../server/src/protocol/messages.ts';

export function rawSocket(url: string, token: unknown): Socket {
  return io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

export function connected(s: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', (e: Error & { data?: ConnectErrorData }) => reject(Object.assign(e, { code: e.data?.code })));
  });
}

export function connectError(s: Socket): Promise<{ message: string; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    s.once('connect', () => reject(new Error('connected, but a refusal was expected')));
    s.once('connect_error', (e: Error & { data?: ConnectErrorData }) => resolve({ message: e.message, code: e.data?.code }));
  });
}

export function ask(s: Socket, event: string, payload: unknown, timeoutMs = 10000): Promise<{ ok: boolean; error?: ProtocolError } & Record<string, unknown>> {
  return s.timeout(timeoutMs).emitWithAck(event, payload);
}

export function nextError(s: Socket, timeoutMs = 5000): Promise<ProtocolError> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no error event')), timeoutMs);
    s.once('error', (e: ProtocolError) => {
      clearTimeout(t);
      resolve(e);
    });
  });
}
