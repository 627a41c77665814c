/** Reads the room and token from a join link: /room/<room>?token=<token>. */
import { ROLES, type Role } from '../../../server/src/protocol/roles.ts';

export interface JoinLink {
  room: string;
  token: string;
  /** Claims read from the token for display only; the server verifies the token. */
  role?: Role;
  name?: string;
}

export function parseJoinLink(loc: Location): JoinLink | undefined {
  const m = /^\/room\/([^/]+)\/?$/.exec(loc.pathname);
  const token = new URLSearchParams(loc.search).get('token');
  if (!m?.[1] || !token) return undefined;
  const link: JoinLink = { room: decodeURIComponent(m[1]), token };
  try {
    const body = token.split('.')[0] ?? '';
    const json = JSON.parse(atob(body.replace(/-/g, '+').replace(/_/g, '/'))) as { role?: string; name?: string };
    if (json.role && (ROLES as readonly string[]).includes(json.role)) link.role = json.role as Role;
    if (typeof json.name === 'string') link.name = json.name;
  } catch {
    // An unreadable token is reported by the server with a proper reason.
  }
  return link;
}
