/**
 * Reads the room and token from a join link: /room/<room>#token=<token>, then takes the token out
 * of the address bar (takeToken). Links made before 3 Dec 2026 carry it as ?token=<token>: read too.
 *
 * Why a fragment: the part after # never leaves the browser, so the token is not in the request
 * line that a reverse proxy, a CDN or a corporate web filter logs for every page load.
 *
 * Why take it out: a token left in the address bar is on screen for anyone the caller shares their
 * screen with or hands the laptop to, in the browser's history and synced tabs, and in any URL the
 * person copies from there. It is kept in sessionStorage for this tab and this path instead, so a
 * reload still joins and nothing outlives the tab.
 */
import { ROLES, type Role } from '../../../server/src/protocol/roles.ts';

export interface JoinLink {
  room: string;
  token: string;
  /** Claims read from the token for display only; the server verifies the token. */
  role?: Role;
  name?: string;
}

/** The link's parts from a location (pathname and search), or undefined when it is not a join link. */
export function parseJoinLink(loc: Pick<Location, 'pathname' | 'search'>): JoinLink | undefined {
  const m = /^\/room\/([^/]+)\/?$/.exec(loc.pathname);
  const token = new URLSearchParams(loc.search).get('token');
  if (!m?.[1] || !token) return undefined;
  let room: string;
  try {
    room = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  const link: JoinLink = { room, token };
  try {
    const body = token.split('.')[0] ?? '';
    // The claims are UTF-8 JSON (auth/token.ts): atob gives bytes, not text ("José" would read "JosÃ©").
    const bytes = Uint8Array.from(atob(body.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    const json = JSON.parse(new TextDecoder().decode(bytes)) as { role?: string; name?: string };
    if (json.role && (ROLES as readonly string[]).includes(json.role)) link.role = json.role as Role;
    if (typeof json.name === 'string') link.name = json.name;
  } catch {
    // An unreadable token is reported by the server with a proper reason.
  }
  return link;
}

/** What takeToken needs of the window (a test passes its own). */
export interface TokenPage {
  location: Pick<Location, 'pathname' | 'search' | 'hash'>;
  history: Pick<History, 'replaceState' | 'state'>;
  sessionStorage: Pick<Storage, 'getItem' | 'setItem'>;
}

const storageKey = (pathname: string) => `dfs:token:${pathname.replace(/\/$/, '')}`;
const taken = new WeakMap<object, { search: string }>();

/**
 * The page's location with its token, for parseJoinLink, once the token is out of the address bar:
 * a `token` in the fragment (or, from older links, the query) is moved into sessionStorage (keyed by
 * path) and removed from the URL with history.replaceState; with none, the token this tab stored
 * for this path is used. Idempotent per page: every caller gets the same answer. Storage that
 * throws (privacy modes) only costs the reload.
 */
export function takeToken(page: TokenPage = window): { pathname: string; search: string } {
  const { pathname, search, hash } = page.location;
  const done = taken.get(page);
  if (done) return { pathname, search: done.search };
  const params = new URLSearchParams(search);
  // A fragment of key=value pairs (#token=...); any other fragment (#x) is left as it is.
  const fragment = /^#[^#]*=/.test(hash) ? new URLSearchParams(hash.slice(1)) : undefined;
  let token = fragment?.get('token') || params.get('token');
  if (token) {
    try {
      page.sessionStorage.setItem(storageKey(pathname), token);
    } catch {
      // No storage: the token still works for this page load.
    }
    params.delete('token');
    fragment?.delete('token');
    const rest = params.toString();
    const restFragment = fragment?.toString();
    const restHash = fragment ? (restFragment ? `#${restFragment}` : '') : hash;
    page.history.replaceState(page.history.state, '', `${pathname}${rest ? `?${rest}` : ''}${restHash}`);
  } else {
    try {
      token = page.sessionStorage.getItem(storageKey(pathname));
    } catch {
      token = null;
    }
  }
  const result = { search: token ? `?token=${encodeURIComponent(token)}` : '' };
  taken.set(page, result);
  return { pathname, search: result.search };
}

/** The join link of this page (token taken out of the address bar; see takeToken). */
export function currentJoinLink(page: TokenPage = window): JoinLink | undefined {
  return parseJoinLink(takeToken(page));
}
