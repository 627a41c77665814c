/**
 * Review of the client's logic (call controller, dashboard controller, join link, riskView): each
 * test pins one hole found in review. The controllers are *.svelte.ts modules; here their runes are
 * plain fields ($state(x) is x), which is enough to test what they do with the events they get.
 * socket.io-client and the chime are replaced by fakes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// ---- runes as plain values, a window with RTCPeerConnection (never used: nobody publishes here)
const g = globalThis as unknown as Record<string, unknown>;
const state = Object.assign(<T>(v: T) => v, { raw: <T>(v: T) => v });
g.$state = state;
g.window ??= globalThis;
(g.window as Record<string, unknown>).RTCPeerConnection ??= class {};

// ---- a fake socket.io-client: every io() call gets a fresh FakeSocket, kept in `sockets`
const { sockets, FakeSocket, chime } = vi.hoisted(() => {
  type Fn = (...a: unknown[]) => void;
  class FakeSocket {
    connected = false;
    readonly handlers = new Map<string, Fn[]>();
    /** What the client sent: event, payload. */
    readonly sent: Array<{ event: string; payload: unknown }> = [];
    /** How the fake server answers a request (default: ok). */
    answer: (event: string, payload: unknown) => unknown | Promise<unknown> = () => ({ ok: true });
    /** Runs on 'join' before its answer goes back (the server's replay of risk and alerts). */
    beforeJoinAck: () => void = () => undefined;
    on(event: string, fn: Fn) {
      this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]);
      return this;
    }
    onAny() {
      return this;
    }
    fire(event: string, ...args: unknown[]) {
      for (const fn of this.handlers.get(event) ?? []) fn(...args);
    }
    connect() {
      this.connected = true;
      this.fire('connect');
      return this;
    }
    disconnect() {
      if (!this.connected) return this;
      this.connected = false;
      this.fire('disconnect', 'io client disconnect');
      return this;
    }
    timeout() {
      return {
        emit: (event: string, payload: unknown, cb: (err: Error | null, res: unknown) => void) => {
          this.sent.push({ event, payload });
          if (event === 'join') this.beforeJoinAck();
          void Promise.resolve(this.answer(event, payload)).then((res) => cb(null, res));
        },
        emitWithAck: async (event: string, payload: unknown) => {
          this.sent.push({ event, payload });
          return this.answer(event, payload);
        },
      };
    }
  }
  return { sockets: [] as FakeSocket[], FakeSocket, chime: { count: 0 } };
});
vi.mock('socket.io-client', () => ({
  io: () => {
    const s = new FakeSocket();
    sockets.push(s);
    return s;
  },
}));
vi.mock('../../../client/src/lib/chime.ts', () => ({ playChime: () => void chime.count++ }));

const { CallController } = await import('../../../client/src/lib/call.svelte.ts');
const { DashboardController } = await import('../../../client/src/dashboard/dashboard.svelte.ts');
const { parseJoinLink } = await import('../../../client/src/lib/joinLink.ts');
const { formatDuration } = await import('../../../server/src/protocol/caseRecord.ts');
import type { RiskAlert } from '../../../server/src/protocol/messages.ts';
import type { CallSummary, DashboardAlert } from '../../../server/src/protocol/dashboard.ts';

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const clinician = { id: 'doc', name: 'Dr Who', role: 'clinician', audio: true, video: true };
const patient = { id: 'pat', name: 'Ann', role: 'patient', audio: true, video: true };

/** A clinician's call controller, joined (the fake server answers the join). */
async function joinedClinician(opts: { beforeJoinAck?: (s: InstanceType<typeof FakeSocket>) => void } = {}) {
  const call = new CallController('demo', 'tok', undefined);
  const socket = sockets.at(-1)!;
  socket.answer = (event) =>
    event === 'join' ? { ok: true, session: 's1', self: clinician, room: 'demo', participants: [patient], iceServers: [], canPublish: false } : { ok: true };
  if (opts.beforeJoinAck) socket.beforeJoinAck = () => opts.beforeJoinAck!(socket);
  const started = call.start();
  await flush();
  await started;
  return { call, socket };
}

const SERVER_NOW = 1_800_000_000_000;
const alert = (id: string, at: number): RiskAlert => ({ id, participantId: 'pat', participantName: 'Ann', risk: 0.9, reasons: [], at });

beforeEach(() => {
  sockets.length = 0;
  chime.count = 0;
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('call page: alerts', () => {
  it('an unacknowledged alert is never dropped from the list to make room for newer acknowledged ones', async () => {
    const { call, socket } = await joinedClinician();
    // The first alert of a long call, never acknowledged...
    socket.fire('risk.alert', alert('first', SERVER_NOW));
    // ...then 50 more, each acknowledged (the server keeps the unacknowledged one: RiskDesk MAX_ALERTS_PER_CALL).
    for (let i = 1; i <= 50; i++) {
      socket.fire('risk.alert', alert(`a${i}`, SERVER_NOW + i * 1000));
      socket.fire('risk.alert.acked', { alertId: `a${i}`, by: 'Dr Who' });
    }
    const first = call.alerts.find((a) => a.id === 'first');
    expect(first, 'the unacknowledged alert is still listed').toBeDefined();
    expect(first?.ackedBy).toBeUndefined();
    expect(call.alerts.filter((a) => !a.ackedBy).map((a) => a.id)).toEqual(['first']);
  });

  it('a live alert chimes even when the browser clock runs a minute ahead of the server', async () => {
    const { socket } = await joinedClinician();
    vi.spyOn(Date, 'now').mockReturnValue(SERVER_NOW + 60_000);
    socket.fire('risk.alert', alert('live', SERVER_NOW));
    expect(chime.count).toBe(1);
  });

  it('an old alert replayed on (re)join does not chime, even when the browser clock runs behind the server', async () => {
    // The browser's clock is 2 minutes behind the server's: to it, a minute-old alert is from the future.
    vi.spyOn(Date, 'now').mockReturnValue(SERVER_NOW - 120_000);
    const { call } = await joinedClinician({
      // The server replays the call's alerts in its join handler, before the join's answer.
      beforeJoinAck: (s) => {
        s.fire('risk.alert', alert('old', SERVER_NOW - 60_000));
        s.fire('risk.alert', alert('acked-old', SERVER_NOW - 45_000));
        s.fire('risk.alert.acked', { alertId: 'acked-old', by: 'Dr Who' });
      },
    });
    expect(call.alerts.map((a) => a.id)).toEqual(['acked-old', 'old']);
    expect(chime.count).toBe(0);
  });
});

// ---- dashboard
const summary = (room: string, over: Partial<CallSummary> = {}): CallSummary => ({
  room,
  participants: [
    { id: 'doc', name: 'Dr Who', role: 'clinician', audio: true, video: true },
    { id: 'pat', name: 'Ann', role: 'patient', audio: true, video: true, risk: { state: 'ALERT', risk: 0.9, reasons: [], gaps: [], since: SERVER_NOW, at: SERVER_NOW } },
  ],
  state: 'ALERT',
  analysed: 1,
  attention: 'ALERT',
  alerts: 0,
  unacknowledged: 0,
  ...over,
});
const dAlert = (id: string, at: number, acked?: DashboardAlert['acked']): DashboardAlert => ({
  id,
  participantId: 'pat',
  participantName: 'Ann',
  risk: 0.9,
  reasons: [{ detector: 'face-deepfake', text: 'face-swap score 0.93', contribution: 0.5, score: 0.93 }],
  at,
  ...(acked ? { acked } : {}),
});

function dashboard() {
  vi.stubGlobal('localStorage', { getItem: () => null, setItem: () => undefined });
  vi.stubGlobal('fetch', async () => ({ ok: false }));
  const board = new DashboardController('dash-token');
  const socket = sockets.at(-1)!;
  socket.connected = true;
  socket.fire('connect');
  return { board, socket };
}

/** A call's summary with these alerts, as the server builds it (DashboardServer.summary). */
const withAlerts = (room: string, alerts: DashboardAlert[]): CallSummary => {
  const pending = alerts.filter((a) => !a.acked);
  const last = pending[0] ?? alerts.at(-1);
  return summary(room, { ...(last ? { lastAlert: last } : {}), ...(pending.length ? { pending } : {}), alerts: alerts.length, unacknowledged: pending.length });
};
const acked = (a: DashboardAlert): DashboardAlert => ({ ...a, acked: { by: 'Sup', at: a.at + 1000 } as never });

describe('dashboard: new alerts', () => {
  it('a second alert in a call whose first is still unacknowledged is announced too, by its own id and text', async () => {
    const { board, socket } = dashboard();
    socket.fire('snapshot', []);
    const a1 = dAlert('a1', SERVER_NOW);
    socket.fire('call', withAlerts('r1', [a1]));
    expect(board.announced.map((x) => x.alertId)).toEqual(['a1']);
    // A second alert (another episode) while a1 waits: the summary lists both.
    const a2 = { ...dAlert('a2', SERVER_NOW + 5000), reasons: [{ detector: 'synthetic-voice' as const, text: 'the voice is synthetic', contribution: 0.5, score: 0.9 }] };
    socket.fire('call', withAlerts('r1', [a1, a2]));
    expect(board.announced.map((x) => x.alertId)).toEqual(['a1', 'a2']);
    expect(board.announced[1]!.text).toBe('Ann: the voice is synthetic (2 alerts to acknowledge)');
  });

  it('acknowledging alerts, in any order, announces nothing again; a later alert is news', async () => {
    const { board, socket } = dashboard();
    socket.fire('snapshot', []);
    const [a1, a2] = [dAlert('a1', SERVER_NOW), dAlert('a2', SERVER_NOW + 5000)];
    socket.fire('call', withAlerts('r1', [a1]));
    socket.fire('call', withAlerts('r1', [a1, a2]));
    // The newer one acknowledged first, then the older.
    socket.fire('call', withAlerts('r1', [a1, acked(a2)]));
    socket.fire('call', withAlerts('r1', [acked(a1), acked(a2)]));
    expect(board.announced.map((x) => x.alertId)).toEqual(['a1', 'a2']);
    socket.fire('call', withAlerts('r1', [acked(a1), acked(a2), dAlert('a3', SERVER_NOW + 9000)]));
    expect(board.announced.map((x) => x.alertId)).toEqual(['a1', 'a2', 'a3']);
  });

  it('an alert raised while the dashboard was reconnecting is announced once it is back; one already acknowledged meanwhile is not', async () => {
    const { board, socket } = dashboard();
    socket.fire('snapshot', [summary('r1')]);
    // Network drop; meanwhile two alerts are raised and another supervisor acknowledges one.
    socket.fire('disconnect', 'transport close');
    socket.fire('connect');
    socket.fire('snapshot', [withAlerts('r1', [acked(dAlert('handled', SERVER_NOW - 2000)), dAlert('during-drop', SERVER_NOW)])]);
    expect(board.announced.map((x) => x.alertId)).toEqual(['during-drop']);
    // Alerts already there when the page opened are not news.
    const again = dashboard();
    again.socket.fire('snapshot', [withAlerts('r1', [dAlert('old', SERVER_NOW), dAlert('older', SERVER_NOW - 1000)])]);
    expect(again.board.announced).toEqual([]);
  });

  it('an acknowledgement (with its note) is sent once, even when the button is pressed twice', async () => {
    const { board, socket } = dashboard();
    socket.fire('snapshot', [summary('r1', { lastAlert: dAlert('a1', SERVER_NOW), alerts: 1, unacknowledged: 1 })]);
    const waiting: Array<(v: unknown) => void> = [];
    socket.answer = () => new Promise((r) => waiting.push(r));
    const first = board.acknowledge('r1', 'a1', 'called the patient back');
    const second = board.acknowledge('r1', 'a1', 'called the patient back');
    for (const release of waiting) release({ ok: true });
    await Promise.all([first, second]);
    expect(socket.sent.filter((x) => x.event === 'alert.ack')).toHaveLength(1);
  });

  it('a call that ended during a network drop leaves no timeline behind (a new call in that room starts afresh)', async () => {
    const { board, socket } = dashboard();
    socket.fire('snapshot', [summary('r1')]);
    expect(board.timelines.r1?.pat?.points).toHaveLength(1);
    socket.fire('disconnect', 'transport close');
    socket.fire('connect');
    socket.fire('snapshot', []);
    expect(board.timelines.r1).toBeUndefined();
  });
});

describe('display', () => {
  it('a call duration is never negative when the browser clock is a little behind the server', () => {
    // Dashboard.svelte shows formatDuration(now - c.startedAt): browser clock 2 s behind the server.
    expect(formatDuration(-2000)).toBe('0 s');
  });

  it("the lobby greets the caller by their own name, accents included (the token's body is UTF-8)", () => {
    const body = Buffer.from(JSON.stringify({ role: 'patient', name: 'José Núñez' })).toString('base64url');
    expect(parseJoinLink({ pathname: '/room/demo', search: `?token=${body}.sig` })?.name).toBe('José Núñez');
  });
});
