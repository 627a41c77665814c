/**
 * Live state of the supervisor dashboard, fed by the /dashboard namespace: every call's summary,
 * each analysed participant's risk timeline (seeded from the call's case record, then grown from
 * the live summaries), and, when the supervisor opts in, a chime and a browser notification for
 * each new alert (never for alerts that were there when the page opened).
 */
import { io, type Socket } from 'socket.io-client';
import type { CaseRecord } from '../../../server/src/protocol/caseRecord.ts';
import { summaryAlerts, type CallSummary, type DashboardAlert, type DashboardClientEvents, type DashboardServerEvents } from '../../../server/src/protocol/dashboard.ts';
import type { ConnectErrorData, ProtocolError } from '../../../server/src/protocol/messages.ts';
import { playChime } from '../lib/chime.ts';
import { addMark, addPoint, EMPTY_TIMELINE, mergeTimelines, timelinesFromRecord, type Timeline } from '../lib/timeline.ts';

const ALERTS_KEY = 'dfs.dashboard.alertMe';

export class DashboardController {
  calls = $state<Record<string, CallSummary>>({});
  connected = $state(false);
  /** A refusal (bad token, not a supervisor): the page cannot work, say why. */
  fatal = $state<ProtocolError | undefined>();
  notice = $state<string | undefined>();
  /** Per room, per analysed participant. */
  timelines = $state<Record<string, Record<string, Timeline>>>({});
  /** Opted in to a chime and a browser notification on each new alert (kept in this browser). */
  alertMe = $state(false);
  /** Calls ended while this page was open, newest first: their case records stay one click away. */
  ended = $state<Array<{ room: string; title: string; callId?: number; endedAt: number; alerts: number }>>([]);
  /** New alerts announced so far (tests read it; the page shows the latest). */
  announced = $state<Array<{ room: string; alertId: string; text: string }>>([]);
  readonly token: string;
  private readonly socket: Socket<DashboardServerEvents, DashboardClientEvents>;
  private readonly seenAlerts = new Set<string>();
  private readonly seededRooms = new Set<string>();
  private readonly lastVideo = new Map<string, boolean>();
  /** Acknowledgements sent and not yet answered, by alert id: each is sent once. */
  private readonly acking = new Set<string>();
  /** The first snapshot is what was there when the page opened; a later one follows a reconnect. */
  private opened = false;

  constructor(token: string) {
    this.token = token;
    try {
      this.alertMe = localStorage.getItem(ALERTS_KEY) === '1';
    } catch {
      // Storage blocked: off until asked.
    }
    this.socket = io('/dashboard', { auth: { token }, transports: ['websocket', 'polling'] });
    const s = this.socket;
    s.on('connect', () => (this.connected = true));
    s.on('disconnect', () => (this.connected = false));
    s.on('connect_error', (err: Error & { data?: ConnectErrorData }) => {
      // A refused token will be refused again: stop retrying and explain.
      if (err.data?.code) {
        this.fatal = { code: err.data.code, message: err.message };
        s.disconnect();
      }
    });
    s.on('snapshot', (calls) => {
      // What is already there when the page opens is not news; after a reconnect, what came meanwhile is.
      if (!this.opened) for (const c of calls) for (const a of summaryAlerts(c)) this.seenAlerts.add(a.id);
      this.opened = true;
      const before = this.calls;
      // A call that ended while the connection was down: ended, as if its call.closed had come.
      const live = new Set(calls.map((c) => c.room));
      for (const room of Object.keys(before)) if (!live.has(room)) this.closed(room);
      this.calls = Object.fromEntries(calls.map((c) => [c.room, c]));
      for (const c of calls) {
        this.follow(c);
        this.noticeAlerts(c);
      }
    });
    s.on('call', (c) => {
      this.calls = { ...this.calls, [c.room]: c };
      this.follow(c);
      this.noticeAlerts(c);
    });
    s.on('call.closed', ({ room }) => this.closed(room));
    s.on('error', (e) => (this.notice = e.message));
  }

  /** New alerts in this summary: unacknowledged ones whose id this page has not seen, each announced once. */
  private noticeAlerts(c: CallSummary): void {
    for (const a of summaryAlerts(c)) {
      if (this.seenAlerts.has(a.id)) continue;
      this.seenAlerts.add(a.id);
      // One acknowledged before this page saw it (by another supervisor, while it reconnected) is not news.
      if (!a.acked) this.newAlert(c, a);
    }
  }

  private closed(room: string): void {
    const c = this.calls[room];
    if (c && c.participants.length + c.alerts > 0) {
      this.ended = [{ room, title: callTitle(c), ...(c.callId !== undefined ? { callId: c.callId } : {}), endedAt: Date.now(), alerts: c.alerts }, ...this.ended].slice(0, 10);
    }
    const { [room]: _gone, ...rest } = this.calls;
    this.calls = rest;
    const { [room]: _t, ...restT } = this.timelines;
    this.timelines = restT;
    this.seededRooms.delete(room);
    for (const k of [...this.lastVideo.keys()]) if (k.startsWith(`${room}/`)) this.lastVideo.delete(k);
  }

  /** Grows the room's timelines from a summary; the first time, fetches what came before. */
  private follow(c: CallSummary): void {
    const now = Date.now();
    const room = { ...(this.timelines[c.room] ?? {}) };
    for (const p of c.participants) {
      if (!p.risk && p.role !== 'patient' && p.role !== 'customer') continue;
      let t = room[p.id] ?? EMPTY_TIMELINE;
      if (p.risk) {
        t = addPoint(t, { at: p.risk.at, risk: p.risk.risk, state: p.risk.state });
        if (p.risk.degraded?.length || p.risk.state === 'DEGRADED') t = addMark(t, { at: p.risk.at, kind: 'degraded', label: 'Analysis degraded' });
      }
      const key = `${c.room}/${p.id}`;
      if (this.lastVideo.get(key) !== false && !p.video) t = addMark(t, { at: now, kind: 'camera-off', label: 'Camera off' });
      this.lastVideo.set(key, p.video);
      if (c.lastAlert?.participantId === p.id) t = addMark(t, { at: c.lastAlert.at, kind: 'alert', label: 'Alert' });
      if (c.challenge?.participantId === p.id && c.challenge.state !== 'RUNNING') t = addMark(t, { at: c.challenge.endedAt ?? now, kind: 'check', label: `Liveness check: ${c.challenge.state.toLowerCase()}` });
      room[p.id] = t;
    }
    this.timelines = { ...this.timelines, [c.room]: room };
    if (!this.seededRooms.has(c.room) && c.participants.length) {
      this.seededRooms.add(c.room);
      void this.seed(c.room);
    }
  }

  /** The call's case record: the states, alerts and checks from before this page was open. */
  private async seed(room: string): Promise<void> {
    try {
      const res = await fetch(`/api/calls/${encodeURIComponent(room)}/record`, { headers: { authorization: `Bearer ${this.token}` } });
      if (!res.ok) return;
      const past = timelinesFromRecord((await res.json()) as CaseRecord);
      const live = this.timelines[room] ?? {};
      const merged: Record<string, Timeline> = { ...live };
      for (const [id, t] of Object.entries(past)) if (id in live) merged[id] = mergeTimelines(t, live[id]);
      if (this.calls[room]) this.timelines = { ...this.timelines, [room]: merged };
    } catch {
      // The live part still grows; the chart just starts later.
    }
  }

  private newAlert(c: CallSummary, a: DashboardAlert): void {
    const more = c.unacknowledged > 1 ? ` (${c.unacknowledged} alerts to acknowledge)` : '';
    const text = `${a.participantName}: ${a.reasons[0]?.text ?? 'high risk'}${more}`;
    this.announced = [...this.announced.slice(-19), { room: c.room, alertId: a.id, text }];
    if (!this.alertMe) return;
    playChime();
    try {
      if (typeof Notification !== 'undefined' && Notification.permission === 'granted') {
        const n = new Notification(`Alert in ${callTitle(c)}`, { body: text, tag: a.id });
        n.onclick = () => window.focus();
      }
    } catch (err) {
      // Notifications unavailable here: the chime and the page remain.
      console.warn('notification not shown', err);
    }
  }

  /** Turns the chime and notification on (asking the browser's permission) or off. */
  async setAlertMe(on: boolean): Promise<void> {
    this.alertMe = on;
    try {
      localStorage.setItem(ALERTS_KEY, on ? '1' : '0');
    } catch {
      // Not remembered; still on for this page.
    }
    if (on && typeof Notification !== 'undefined' && Notification.permission === 'default') {
      const p = await Notification.requestPermission().catch(() => 'denied' as NotificationPermission);
      if (p !== 'granted') this.notice = 'Browser notifications are blocked for this site; the chime will still sound.';
    }
    if (on) playChime();
  }

  /** Sent once: a second press while the first is unanswered sends nothing (nor a second note). */
  async acknowledge(room: string, alertId: string, note: string): Promise<void> {
    if (this.acking.has(alertId)) return;
    this.acking.add(alertId);
    try {
      const res = await this.socket.timeout(10000).emitWithAck('alert.ack', { room, alertId, ...(note.trim() ? { note: note.trim() } : {}) }).catch(() => undefined);
      if (!res) this.notice = 'No answer from the server; try again.';
      else if (!res.ok) this.notice = res.error.message;
    } finally {
      this.acking.delete(alertId);
    }
  }

  /** The call page as a silent observer (the dashboard token admits a supervisor to any call). */
  observeLink(room: string): string {
    return `/room/${encodeURIComponent(room)}#token=${encodeURIComponent(this.token)}`;
  }

  /** The call's case record: a printable page, or the JSON as a download. */
  recordLink(room: string, kind: 'html' | 'json', callId?: number): string {
    const call = callId !== undefined ? `call=${callId}&` : '';
    return `/api/calls/${encodeURIComponent(room)}/${kind === 'html' ? 'record.html' : 'record'}?${call}${kind === 'json' ? 'download&' : ''}token=${encodeURIComponent(this.token)}`;
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** A call as people know it: by who is in it, the room id only when nobody is. */
export function callTitle(c: CallSummary): string {
  const hosts = c.participants.filter((p) => p.role === 'clinician' || p.role === 'agent').map((p) => p.name);
  const callers = c.participants.filter((p) => p.role === 'patient' || p.role === 'customer').map((p) => p.name);
  if (hosts.length && callers.length) return `${hosts.join(', ')} with ${callers.join(', ')}`;
  if (hosts.length || callers.length) return [...hosts, ...callers].join(', ');
  return c.room;
}
