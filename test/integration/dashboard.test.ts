/**
 * The supervisors' dashboard namespace without a browser: who gets in, what it sends as calls,
 * people and risk change, acknowledgements (audit log, the call's privileged participants told),
 * bad messages, and the all-calls token admitting a silent observer to any open call.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../server/src/auth/token.ts';
import type { CallSummary } from '../../server/src/protocol/dashboard.ts';
import { ErrorCode, type ParticipantInfo, type RiskUpdate } from '../../server/src/protocol/messages.ts';
import { ask, connected, connectError, nextError, rawSocket } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startTestServer({ ROOMS: 'north,south' });
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await server.close();
});

const boardToken = () => issueToken(server.config.tokenSecret, { room: '*', role: 'supervisor', name: 'Sam', sub: 'sam', ttlSeconds: 600 });

function dashboard(token = boardToken()) {
  const s = rawSocket(`${server.url}/dashboard`, token);
  sockets.push(s);
  const calls = new Map<string, CallSummary>();
  const closed: string[] = [];
  s.on('snapshot', (list: CallSummary[]) => list.forEach((c) => calls.set(c.room, c)));
  s.on('call', (c: CallSummary) => calls.set(c.room, c));
  s.on('call.closed', ({ room }: { room: string }) => {
    calls.delete(room);
    closed.push(room);
  });
  return { s, calls, closed };
}

async function joined(room: string, role: 'patient' | 'clinician' | 'supervisor', sub: string, token?: string): Promise<Socket> {
  const s = rawSocket(server.url, token ?? server.token(room, role, sub, { sub }));
  sockets.push(s);
  await connected(s);
  const res = await ask(s, 'join', { room });
  if (!res.ok) throw new Error(res.error?.message);
  return s;
}

const update = (participantId: string, state: RiskUpdate['state'], risk: number): RiskUpdate => ({
  participantId,
  state,
  risk,
  reasons: [{ detector: 'face-deepfake', text: 'The face shows the blending artefacts of face-swap deepfakes.', contribution: risk }],
  gaps: [],
  since: Date.now(),
  at: Date.now(),
});

describe('dashboard namespace', () => {
  it('admits only supervisors with an all-calls token', async () => {
    for (const [token, code] of [
      [server.token('north', 'clinician', 'Dr'), ErrorCode.Forbidden],
      [server.token('north', 'supervisor', 'One-call'), ErrorCode.Forbidden],
      [server.token('north', 'patient', 'Pat'), ErrorCode.Forbidden],
      ['garbage', ErrorCode.TokenMalformed],
      [undefined, ErrorCode.TokenMissing],
    ] as const) {
      const s = rawSocket(`${server.url}/dashboard`, token);
      sockets.push(s);
      expect((await connectError(s)).code).toBe(code);
    }
  });

  it('shows calls, people and risk as they change; acknowledgements reach the audit log and the call', async () => {
    const board = dashboard();
    await connected(board.s);
    await waitFor('snapshot', () => board.calls.has('north') && board.calls.has('south'));
    expect(board.calls.get('north')).toMatchObject({ room: 'north', participants: [], state: 'ANALYZING', analysed: 0, alerts: 0 });
    expect(board.calls.get('north')!.startedAt).toBeUndefined();

    const doctor = await joined('north', 'clinician', 'doc');
    const acked: Array<{ alertId: string; by: string; note?: string }> = [];
    doctor.on('risk.alert.acked', (a) => acked.push(a));
    await joined('north', 'patient', 'pat');
    await waitFor('people', () => board.calls.get('north')?.participants.length === 2);
    expect(board.calls.get('north')!.participants.map((p: ParticipantInfo) => [p.id, p.role]).sort()).toEqual([['doc', 'clinician'], ['pat', 'patient']]);
    // Someone to screen now, and the call's duration counts from the first of them to join.
    expect(board.calls.get('north')).toMatchObject({ analysed: 1, startedAt: expect.any(Number) });
    expect(Date.now() - board.calls.get('north')!.startedAt!).toBeLessThan(10_000);

    // Risk as the analyzer would send it (the hub validates analyzer messages; see risk.test.ts).
    server.app.hub.emit('risk', 'north', update('pat', 'CLEAR', 0.1));
    await waitFor('clear', () => board.calls.get('north')?.state === 'CLEAR');
    server.app.hub.emit('risk', 'north', update('pat', 'ALERT', 0.82));
    await waitFor('alert', () => board.calls.get('north')?.lastAlert);
    const call = board.calls.get('north')!;
    expect(call).toMatchObject({ state: 'ALERT', alerts: 1, unacknowledged: 1 });
    expect(call.participants.find((p) => p.id === 'pat')?.risk).toMatchObject({ state: 'ALERT', risk: 0.82 });
    // Other calls are unaffected.
    expect(board.calls.get('south')!.state).toBe('ANALYZING');

    const alertId = call.lastAlert!.id;
    expect(await ask(board.s, 'alert.ack', { room: 'north', alertId, note: 'Checked ID on camera.' })).toEqual({ ok: true });
    await waitFor('acked summary', () => board.calls.get('north')?.lastAlert?.acked);
    expect(board.calls.get('north')!.lastAlert!.acked).toMatchObject({ by: 'Sam', note: 'Checked ID on camera.' });
    expect(board.calls.get('north')!.unacknowledged).toBe(0);
    await waitFor('call told', () => acked.length === 1);
    expect(acked[0]).toEqual({ alertId, by: 'Sam', note: 'Checked ID on camera.' });
    expect(server.app.audit.alertViews(alertId)).toContainEqual(expect.objectContaining({ viewerId: 'sam', viewerRole: 'supervisor', note: 'Checked ID on camera.' }));
  });

  it('refuses malformed and unknown messages with a reason, and keeps working', async () => {
    const board = dashboard();
    await connected(board.s);
    expect(await ask(board.s, 'alert.ack', { room: 'north' })).toMatchObject({ ok: false, error: { code: ErrorCode.BadRequest } });
    expect(await ask(board.s, 'alert.ack', { room: '../etc', alertId: 'x' })).toMatchObject({ ok: false, error: { code: ErrorCode.BadRequest } });
    expect(await ask(board.s, 'alert.ack', { room: 'north', alertId: 'no-such-alert' })).toMatchObject({ ok: false, error: { message: 'No such alert in that call.' } });
    const err = nextError(board.s);
    board.s.emit('room.close', {});
    expect((await err).message).toMatch(/Unknown event "room.close"/);
    expect(board.s.connected).toBe(true);
  });

  it('an all-calls token opens any open call as an invisible observer; closed calls leave the board', async () => {
    const board = dashboard();
    await connected(board.s);
    const pat = await joined('south', 'patient', 'pat2');
    const seen: ParticipantInfo[] = [];
    pat.on('participant.joined', (p: ParticipantInfo) => seen.push(p));
    const watcher = await joined('south', 'supervisor', 'sam', boardToken());
    expect(await ask(watcher, 'publish', { sdp: 'v=0' })).toMatchObject({ ok: false, error: { code: ErrorCode.Forbidden } });
    await waitFor('observer listed', () => board.calls.get('south')?.participants.some((p) => p.id === 'sam'));
    expect(seen).toEqual([]);
    // It cannot open a call that is not open.
    const s = rawSocket(server.url, boardToken());
    sockets.push(s);
    await connected(s);
    expect(await ask(s, 'join', { room: 'nowhere' })).toMatchObject({ ok: false, error: { code: ErrorCode.RoomNotFound } });
    // A call a host opened, then ended, disappears from the board.
    const host = await joined('pop-up', 'clinician', 'doc3');
    await waitFor('pop-up listed', () => board.calls.has('pop-up'));
    expect((await ask(host, 'room.close', {})).ok).toBe(true);
    await waitFor('pop-up gone', () => board.closed.includes('pop-up'));
    expect(board.calls.has('pop-up')).toBe(false);
  });

  it('one alert per episode; a call with an unacknowledged alert sorts as ALERT after its caller turns CLEAR; degraded analysis is shown and exported', async () => {
    const board = dashboard();
    await connected(board.s);
    const doctor = await joined('east', 'clinician', 'doc-e');
    const alerts: unknown[] = [];
    doctor.on('risk.alert', (a) => alerts.push(a));
    await joined('east', 'patient', 'pat-e');
    await waitFor('east listed', () => board.calls.get('east')?.participants.length === 2);
    const send = (u: RiskUpdate) => server.app.hub.emit('risk', 'east', u);
    send({ ...update('pat-e', 'ALERT', 0.85), raisedBy: ['face-deepfake'] });
    await waitFor('alert', () => board.calls.get('east')?.alerts === 1);
    // The ALERT is what an analyzer joining this call next is handed back.
    expect(server.app.risk.handBack('east')).toEqual([expect.objectContaining({ participantId: 'pat-e', state: 'ALERT', raisedBy: ['face-deepfake'] })]);
    // Down to SUSPICIOUS and back up, or an analyzer restart (ANALYZING, then ALERT): the same episode, no second alert.
    for (const st of ['SUSPICIOUS', 'ALERT', 'ANALYZING', 'ALERT'] as const) send(update('pat-e', st, st === 'ALERT' ? 0.85 : 0.5));
    await waitFor('updates through', () => board.calls.get('east')?.participants.find((p) => p.id === 'pat-e')?.risk?.state === 'ALERT');
    // A verdict of CLEAR: the call is clear, but its alert still waits, so it sorts as ALERT.
    send(update('pat-e', 'CLEAR', 0.05));
    await waitFor('clear', () => board.calls.get('east')?.state === 'CLEAR');
    expect(board.calls.get('east')).toMatchObject({ state: 'CLEAR', attention: 'ALERT', alerts: 1, unacknowledged: 1 });
    expect(alerts).toHaveLength(1);
    expect(server.app.risk.handBack('east')).toEqual([]);
    expect(await ask(board.s, 'alert.ack', { room: 'east', alertId: board.calls.get('east')!.lastAlert!.id })).toEqual({ ok: true });
    await waitFor('acknowledged', () => board.calls.get('east')?.attention === 'CLEAR');

    // Analysis degraded: a state of its own, with the reason, on the board and in /metrics.
    const reason = 'Analysis degraded: the analyzer is behind and gets 0.1 frames a second for the face-swap check, which needs 0.3.';
    send({ ...update('pat-e', 'DEGRADED', 0.02), degraded: [{ detector: 'face-deepfake', reason, achieved: 0.1, needed: 0.3 }] });
    await waitFor('degraded', () => board.calls.get('east')?.state === 'DEGRADED');
    expect(board.calls.get('east')!.participants.find((p) => p.id === 'pat-e')!.risk!.degraded).toEqual([expect.objectContaining({ detector: 'face-deepfake', reason })]);
    const metrics = await fetch(`${server.url.replace('localhost', '127.0.0.1')}/metrics`).then((r) => r.text());
    expect(metrics).toContain('dfs_analysis_degraded{participant="pat-e",room="east"} 1');
    expect(metrics).toContain('dfs_analysis_degraded_detector{detector="face-deepfake",participant="pat-e",room="east",why="behind"} 1');
    expect(metrics).toMatch(/dfs_risk_participants\{state="DEGRADED"\} [1-9]/);
    // A new ALERT after a CLEAR verdict is a new episode: a new alert.
    send(update('pat-e', 'ALERT', 0.9));
    await waitFor('second episode', () => board.calls.get('east')?.alerts === 2);
    expect(board.calls.get('east')!.attention).toBe('ALERT');
    // A third episode while the second waits: both listed, oldest first, each recorded in the audit
    // log as shown to this supervisor (before, only the oldest was: the newer one was never "shown").
    send(update('pat-e', 'CLEAR', 0.05));
    send(update('pat-e', 'ALERT', 0.9));
    await waitFor('two alerts to acknowledge', () => board.calls.get('east')?.pending?.length === 2);
    const pending = board.calls.get('east')!.pending!;
    expect(pending[0]!.id).toBe(board.calls.get('east')!.lastAlert!.id);
    expect(pending[0]!.at).toBeLessThanOrEqual(pending[1]!.at);
    await waitFor('both recorded as shown', () => pending.every((a) => server.app.audit.alertViews(a.id).some((v) => v.viewerRole === 'supervisor')));
  });
});
