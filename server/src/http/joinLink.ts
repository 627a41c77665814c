/**
 * The URL a participant opens to join: /room/<room>#token=<token> (client/src/lib/joinLink.ts reads
 * it, and the older ?token= form). The token is in the fragment, which the browser never sends: it
 * stays out of the request lines that reverse proxies and web filters log.
 */
export function joinLink(baseUrl: string, room: string, token: string): string {
  return `${baseUrl.replace(/\/$/, '')}/room/${encodeURIComponent(room)}#token=${encodeURIComponent(token)}`;
}

/** The supervisor dashboard: /dashboard#token=<all-calls supervisor token> (the fragment, as above). */
export function dashboardLink(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/$/, '')}/dashboard#token=${encodeURIComponent(token)}`;
}
