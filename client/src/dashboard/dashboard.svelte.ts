/** Live state of the supervisor dashboard, fed by the /dashboard namespace. */
import { io, type Socket } from 'socket.io-client';
import type { CallSummary, DashboardClientEvents, DashboardServerEvents } from '../../../server/src/protocol/dashboard.ts';
import type { ConnectErrorData, ProtocolError } from '../../../server/src/protocol/messages.ts';

export class DashboardController {
  calls = $state<Record<string, CallSummary>>({});
  connected = $state(false);
  /** A refusal (bad token, not a supervisor): the page cannot work, say why. */
  fatal = $state<ProtocolError | undefined>();
  notice = $state<string | undefined>();
  readonly token: string;
  private readonly socket: Socket<DashboardServerEvents, DashboardClientEvents>;

  constructor(token: string) {
    this.token = token;
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
    s.on('snapshot', (calls) => (this.calls = Object.fromEntries(calls.map((c) => [c.room, c]))));
    s.on('call', (c) => (this.calls = { ...this.calls, [c.room]: c }));
    s.on('call.closed', ({ room }) => {
      const { [room]: _gone, ...rest } = this.calls;
      this.calls = rest;
    });
    s.on('error', (e) => (this.notice = e.message));
  }

  async acknowledge(room: string, alertId: string, note: string): Promise<void> {
    const res = await this.socket.timeout(10000).emitWithAck('alert.ack', { room, alertId, ...(note.trim() ? { note: note.trim() } : {}) }).catch(() => undefined);
    if (!res) this.notice = 'No answer from the server; try again.';
    else if (!res.ok) this.notice = res.error.message;
  }

  /** The call page as a silent observer (the dashboard token admits a supervisor to any call). */
  observeLink(room: string): string {
    return `/room/${encodeURIComponent(room)}?token=${encodeURIComponent(this.token)}`;
  }

  close(): void {
    this.socket.disconnect();
  }
}
