/**
 * Who may read /metrics. It names rooms and participants, so it is not public:
 *  - METRICS_TOKEN set: every request needs `Authorization: Bearer <token>`, loopback included. A
 *    reverse proxy on the same host connects from 127.0.0.1, so any address-based exemption would
 *    open /metrics to whoever the proxy serves.
 *  - unset: loopback clients only, and never a request that came through a proxy (it carries
 *    Forwarded / X-Forwarded-For / X-Real-IP). A proxy that adds none of them is still a hole:
 *    the README tells operators to set METRICS_TOKEN wherever a proxy runs.
 * The token is compared in constant time: both sides are hashed to SHA-256 first, so
 * timingSafeEqual sees equal lengths and the comparison says nothing about the token's length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time equality of two secrets of any length. */
export function secretEquals(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

export type MetricsAccess = 'ok' | 'unauthorized' | 'forbidden';

export function metricsAccess(req: Pick<IncomingMessage, 'headers' | 'socket'>, token: string | undefined): MetricsAccess {
  if (token) {
    const m = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
    // Hash even when there is no header, so the time taken does not say whether one was sent.
    return secretEquals(m?.[1] ?? '', token) && m ? 'ok' : 'unauthorized';
  }
  if (PROXY_HEADERS.some((h) => req.headers[h] !== undefined)) return 'forbidden';
  return LOOPBACK.has(req.socket.remoteAddress ?? '') ? 'ok' : 'forbidden';
}
