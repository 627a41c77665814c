/** The URL a participant opens to join: /room/<room>?token=<token> (the client parses the same shape). */
export function joinLink(baseUrl: string, room: string, token: string): string {
  return `${baseUrl.replace(/\/$/, '')}/room/${encodeURIComponent(room)}?token=${encodeURIComponent(token)}`;
}

/** The supervisor dashboard: /dashboard?token=<all-calls supervisor token>. */
export function dashboardLink(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/$/, '')}/dashboard?token=${encodeURIComponent(token)}`;
}
