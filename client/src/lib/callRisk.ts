/**
 * Bookkeeping of the call UI's risk state that must not show more than is known (call.svelte.ts):
 * a participant who left loses their verdict, and acknowledging the alert on the toast brings up
 * the next one still waiting, not nothing.
 */

/**
 * The entries of the people still in the call. A participant who left (or whose session another
 * device took over) is judged afresh when they come back; until the analyzer says so, their badge
 * reads ANALYZING, not the CLEAR from before they left ("never CLEAR for lack of data").
 */
export function keepPresent<T>(byId: Record<string, T>, participants: readonly { id: string }[]): Record<string, T> {
  const present = new Set(participants.map((p) => p.id));
  const ids = Object.keys(byId);
  if (ids.every((id) => present.has(id))) return byId;
  return Object.fromEntries(ids.filter((id) => present.has(id)).map((id) => [id, byId[id]!]));
}

/**
 * The toast once `ackedId` is acknowledged: unchanged if it showed another alert; else the newest
 * alert still unacknowledged (an older one a rejoining clinician was replayed, or a second caller's),
 * or none.
 */
export function toastAfterAck<A extends { id: string; at: number; ackedBy?: string }>(toast: A | undefined, alerts: readonly A[], ackedId: string): A | undefined {
  if (toast?.id !== ackedId) return toast;
  return alerts.filter((a) => a.id !== ackedId && a.ackedBy === undefined).sort((x, y) => y.at - x.at)[0];
}

/**
 * The alert list (newest first) cut to `max`, dropping only acknowledged alerts, the oldest first:
 * an unacknowledged alert never leaves the list before it is acknowledged (the server keeps them
 * too: RiskDesk MAX_ALERTS_PER_CALL).
 */
export function keepAlerts<A extends { ackedBy?: string }>(newestFirst: A[], max: number): A[] {
  if (newestFirst.length <= max) return newestFirst;
  let room = max - newestFirst.filter((a) => a.ackedBy === undefined).length;
  return newestFirst.filter((a) => a.ackedBy === undefined || room-- > 0);
}
