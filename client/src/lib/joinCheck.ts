/**
 * Asks the server whether a join link is good before the page asks for the camera
 * (server/src/http/joinCheck.ts). Undefined when the server cannot be reached: the join itself then
 * reports what is wrong.
 */
import { JOIN_CHECK_PATH, type JoinCheckAnswer } from '../../../server/src/protocol/joinCheck.ts';

export type { JoinCheckAnswer };

export async function checkJoinLink(room: string, token: string, timeoutMs = 8000): Promise<JoinCheckAnswer | undefined> {
  try {
    const res = await fetch(`${JOIN_CHECK_PATH}?room=${encodeURIComponent(room)}`, {
      headers: { authorization: `Bearer ${token}` },
      cache: 'no-store',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.headers.get('content-type')?.includes('application/json')) return undefined;
    return (await res.json()) as JoinCheckAnswer;
  } catch {
    return undefined;
  }
}
