/** A bare socket.io client for speaking the protocol wrongly on purpose. */
import { io, type Socket } from 'socket.io-client';
import { issueServiceToken } from '../../server/src/auth/token.ts';
import type { ConnectErrorData, ProtocolError } from '../../server/src/protocol/messages.ts';

export function rawSocket(url: string, token: unknown): Socket {
  return io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

/**
 * An analyzer scripted over the server's real /analyzer channel (no media, no models): a service
 * token, and once connected a heartbeat every 200 ms until it disconnects, so the pool counts it
 * live. Listeners added before `connected(s)` see its first messages ('rooms').
 */
export function scriptedAnalyzer(url: string, tokenSecret: string): Socket {
  const s = io(`${url}/analyzer`, { auth: { token: issueServiceToken(tokenSecret, { ttlSeconds: 600 }) }, transports: ['websocket'], reconnection: false, forceNew: true });
  s.once('connect', () => {
    const beat = setInterval(() => s.emit('heartbeat', { metrics: '' }), 200);
    s.once('disconnect', () => clearInterval(beat));
  });
  return s;
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
