/**
 * GET /api/join-check?room=<room>, with the join token as a bearer token: whether this link can
 * join, before the page asks for the camera. A bad, tampered or expired link is refused here, so
 * the person is not asked for camera access and a click on Join for nothing; a good one learns
 * whether the call is open yet (an analysed caller who is early waits for the host).
 *
 * Answers only about the room the token names, to its holder: nothing about other calls. The
 * socket join still verifies the token itself; this is advice for the page, not a gate.
 *
 *   200 { ok: true, role, name, room, call: 'open' | 'not-started' | 'ended' }
 *   401 { ok: false, error: { code, message } }   bad, expired or wrong-room token
 *   400 { ok: false, error: { code: 'BAD_REQUEST', message } }   no valid room id
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenError, verifyToken } from '../auth/token.ts';
import { ALL_ROOMS } from '../protocol/dashboard.ts';
import { JOIN_CHECK_PATH, type JoinCheckAnswer } from '../protocol/joinCheck.ts';
import { ErrorCode, RoomIdSchema } from '../protocol/messages.ts';
import type { RoomRegistry } from '../signaling/RoomRegistry.ts';


/** Handles the request if it is a join check; returns whether it did. */
export function serveJoinCheck(req: IncomingMessage, res: ServerResponse, opts: { tokenSecret: string; registry: RoomRegistry }): boolean {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname !== JOIN_CHECK_PATH) return false;
  const send = (status: number, body: JoinCheckAnswer): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  };
  if (req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('method not allowed\n');
    return true;
  }
  const room = RoomIdSchema.safeParse(url.searchParams.get('room') ?? '');
  if (!room.success) {
    send(400, { ok: false, error: { code: ErrorCode.BadRequest, message: 'No valid call id in the link.' } });
    return true;
  }
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
  try {
    const claims = verifyToken(opts.tokenSecret, token);
    if (claims.room !== room.data && claims.room !== ALL_ROOMS) {
      throw new TokenError(ErrorCode.TokenWrongRoom, `This join link is for another call, not "${room.data}".`);
    }
    send(200, { ok: true, role: claims.role, name: claims.name, room: room.data, call: opts.registry.status(room.data) });
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    send(401, { ok: false, error: { code: err.code, message: err.message } });
  }
  return true;
}
export { JOIN_CHECK_PATH };
