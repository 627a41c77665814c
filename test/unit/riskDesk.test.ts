/**
 * The risk desk (screening/RiskDesk.ts) and the dashboard's call summary, with the classes directly:
 * a real RoomRegistry on a fake SFU, a fake analyzer hub, an in-memory audit log. One alert per
 * episode across rejoins, no alert carried into the next sitting of a room, no unacknowledged alert
 * dropped or out of reach. Each was a hole found in review (3 Dec 2026).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/src/audit/AuditLog.ts';
import { DashboardServer } from '../../server/src/dashboard/DashboardServer.ts';
import type { RiskUpdate } from '../../server/src/protocol/messages.ts';
import type { Participant } from '../../server/src/signaling/CallRoom.ts';
import { RoomRegistry } from '../../server/src/signaling/RoomRegistry.ts';
import { RiskDesk } from '../../server/src/screening/RiskDesk.ts';

class FakePeer extends EventEmitter { close() {} }
const engine = { createRoom: () => ({ createPeer: () => new FakePeer(), close() {} }) } as never;

class FakeHub extends EventEmitter {
  source: (room: string) => unknown[] = () => [];
  resumed: string[] = [];
  setHandBackSource(s: (room: string) => unknown[]) {
    this.source = s;
  }
  sendIntegrity() {}
  resume(room: string) {
    this.resumed.push(room);
  }
}

function rig(persistentRooms: string[] = []) {
  const registry = new RoomRegistry(engine, { maxParticipants: 10, persistentRooms });
  const hub = new FakeHub();
  const audit = new AuditLog(':memory:');
  const desk = new RiskDesk(registry, hub as never, audit);
  const got = new Map<string, Array<[string, unknown]>>();
  const join = (roomId: string, id: string, role: Participant['role']) => {
    const room = registry.admit(roomId, id, role as never);
    const prev = room.get(id);
    if (prev) room.remove(prev); // as SignalingServer.join: same identity again, old session removed first
    const events: Array<[string, unknown]> = [];
    got.set(id, events);
    return room.add({ id, name: id, role, channel: { emit: (e: string, a: unknown) => { events.push([e, a]); return true; } } as never });
  };
  const risk = (room: string, participantId: string, state: RiskUpdate['state']) =>
    hub.emit('risk', room, { participantId, state, risk: state === 'ALERT' ? 0.9 : 0.1, reasons: [{ detector: 'face-deepfake', text: 'x', contribution: 0.9, score: 0.95 }], gaps: [], since: Date.now(), at: Date.now(), ...(state === 'ALERT' ? { raisedBy: ['face-deepfake'] } : {}) });
  return { registry, hub, audit, desk, got, join, risk };
}

describe('risk desk', () => {
  it('a caller who reconnects mid-episode (session replaced) does not raise a second alert', () => {
    const r = rig();
    r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat', 'patient');
    r.risk('r1', 'pat', 'ALERT');
    expect(r.desk.alerts('r1')).toHaveLength(1);
    // The patient's page reloads: same identity joins again (previous session removed), and the
    // analyzer's next refresh of the unchanged ALERT (RiskPublisher REFRESH_MS) arrives.
    r.join('r1', 'pat', 'patient');
    r.risk('r1', 'pat', 'ALERT');
    const docAlerts = r.got.get('doc')!.filter(([e]) => e === 'risk.alert');
    expect({ alerts: r.desk.alerts('r1').length, shownToDoctor: docAlerts.length, inAudit: r.audit.callAlerts(r.desk.callId('r1')!).length }).toEqual({ alerts: 1, shownToDoctor: 1, inAudit: 1 });
  });

  it('a caller who leaves while raised and comes back is handed back to the analyzer raised: reconnecting does not reset an ALERT', () => {
    const r = rig();
    r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat', 'patient');
    r.risk('r1', 'pat', 'ALERT');
    const room = r.registry.get('r1')!;
    room.remove(room.get('pat')!);
    // Gone: no current picture of them, but their raised state is kept for the analyzer.
    expect(r.desk.latest('r1')).toEqual([]);
    expect(r.desk.handBack('r1')).toMatchObject([{ participantId: 'pat', state: 'ALERT', raisedBy: ['face-deepfake'] }]);
    r.join('r1', 'pat', 'patient');
    expect(r.hub.resumed).toEqual(['r1']);
    // The analyzer's first verdict replaces the kept one.
    r.risk('r1', 'pat', 'CLEAR');
    expect(r.desk.handBack('r1')).toEqual([]);
  });

  it('a new sitting in a persistent room does not inherit the previous call\'s alerts', () => {
    const r = rig(['north']);
    r.join('north', 'doc', 'clinician');
    r.join('north', 'pat', 'patient');
    r.risk('north', 'pat', 'ALERT');
    const call1 = r.desk.callId('north');
    const room = r.registry.get('north')!;
    room.remove(room.get('pat')!);
    room.remove(room.get('doc')!); // everyone left: call 1 closed (its own case record)
    // Next sitting: another clinician with another patient.
    r.join('north', 'doc2', 'clinician');
    r.join('north', 'pat2', 'patient');
    r.risk('north', 'pat2', 'CLEAR');
    const call2 = r.desk.callId('north');
    expect(call2).not.toBe(call1);
    const replayed = r.got.get('doc2')!.filter(([e]) => e === 'risk.alert').map(([, a]) => (a as { participantName: string }).participantName);
    const io = { of: () => ({ use() {}, on() {}, emit() {}, sockets: new Map(), disconnectSockets() {} }) } as never;
    const board = new DashboardServer(io, { tokenSecret: 'x'.repeat(32), registry: r.registry, risk: r.desk, challenges: new EventEmitter() as never });
    const s = board.summary(room);
    board.close();
    expect({ replayedToDoc2: replayed, unacknowledged: s.unacknowledged, attention: s.attention, alertsOfCall2InAudit: r.audit.callAlerts(call2!).length })
      .toEqual({ replayedToDoc2: [], unacknowledged: 0, attention: 'CLEAR', alertsOfCall2InAudit: 0 });
  });

  it('a new sitting whose call the audit log cannot open is no call, not the previous sitting\'s', () => {
    const r = rig(['north']);
    r.join('north', 'doc', 'clinician');
    r.join('north', 'pat', 'patient');
    const call1 = r.desk.callId('north');
    expect(call1).toBeDefined();
    const room = r.registry.get('north')!;
    room.remove(room.get('pat')!);
    room.remove(room.get('doc')!);
    // Between sittings the room's call is the one just closed (a check ending as the last person leaves lands there).
    expect(r.desk.callId('north')).toBe(call1);
    const openCall = r.audit.openCall.bind(r.audit);
    r.audit.openCall = () => {
      throw new Error('disk full');
    };
    r.join('north', 'doc2', 'clinician');
    expect(r.desk.callId('north')).toBeUndefined();
    // The audit log is back: the next join opens the sitting's own call.
    r.audit.openCall = openCall;
    r.join('north', 'pat2', 'patient');
    const call2 = r.desk.callId('north');
    expect(call2).toBeDefined();
    expect(call2).not.toBe(call1);
  });

  it('an unacknowledged alert is never dropped: it can still be acknowledged and keeps the call at ALERT', () => {
    const r = rig();
    r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat', 'patient');
    r.risk('r1', 'pat', 'ALERT');
    const first = r.desk.alerts('r1')[0]!;
    // 50 more episodes (ALERT ... CLEAR ... ALERT), each acknowledged at once.
    for (let i = 0; i < 50; i++) {
      r.risk('r1', 'pat', 'CLEAR');
      r.risk('r1', 'pat', 'ALERT');
      const last = r.desk.alerts('r1').at(-1)!;
      r.desk.acknowledge('r1', { id: 'doc', name: 'doc', role: 'clinician' }, last.id, undefined);
    }
    r.risk('r1', 'pat', 'CLEAR');
    const io = { of: () => ({ use() {}, on() {}, emit() {}, sockets: new Map(), disconnectSockets() {} }) } as never;
    const board = new DashboardServer(io, { tokenSecret: 'x'.repeat(32), registry: r.registry, risk: r.desk, challenges: new EventEmitter() as never });
    const s = board.summary(r.registry.get('r1')!);
    board.close();
    const acked = r.desk.acknowledge('r1', { id: 'doc', name: 'doc', role: 'clinician' }, first.id, 'late');
    expect({ attention: s.attention, unacknowledged: s.unacknowledged, ackAccepted: acked }).toEqual({ attention: 'ALERT', unacknowledged: 1, ackAccepted: true });
  });

  it('ALERT -> SUSPICIOUS -> ALERT, ALERT -> DEGRADED -> ALERT, ALERT -> ANALYZING -> ALERT are one episode, and the caller hears none of it', () => {
    const r = rig();
    r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat', 'patient');
    for (const s of ['ALERT', 'SUSPICIOUS', 'ALERT', 'DEGRADED', 'ALERT', 'ANALYZING', 'INSUFFICIENT_SIGNAL', 'ALERT'] as const) r.risk('r1', 'pat', s);
    expect(r.desk.alerts('r1')).toHaveLength(1);
    expect(r.got.get('pat')!.filter(([e]) => e.startsWith('risk'))).toEqual([]);
  });
});

describe('dashboard call summary', () => {
  it('an earlier unacknowledged alert stays reachable (and recorded as shown) on the dashboard once a later one is acknowledged', () => {
    const r = rig();
    r.join('r1', 'doc', 'clinician');
    r.join('r1', 'pat1', 'patient');
    r.join('r1', 'pat2', 'patient');
    r.risk('r1', 'pat1', 'ALERT');
    r.risk('r1', 'pat2', 'ALERT');
    const [a1, a2] = r.desk.alerts('r1');
    r.desk.acknowledge('r1', { id: 'doc', name: 'doc', role: 'clinician' }, a2!.id, undefined);
    let onConn: (s: unknown) => void = () => {};
    const io = { of: () => ({ use() {}, on: (_e: string, cb: (s: unknown) => void) => (onConn = cb), emit() {}, sockets: new Map(), disconnectSockets() {} }) } as never;
    const board = new DashboardServer(io, { tokenSecret: 'x'.repeat(32), registry: r.registry, risk: r.desk, challenges: new EventEmitter() as never });
    const sent: unknown[] = [];
    onConn({ connected: true, data: { claims: { sub: 'sup', name: 'Sup', role: 'supervisor', room: '*', exp: Math.floor(Date.now() / 1000) + 3600 }, limiter: { take: () => true }, shown: new Set() }, on() {}, onAny() {}, emit: (_e: string, x: unknown) => sent.push(x) });
    const [s] = sent[0] as Array<{ unacknowledged: number; attention: string; lastAlert?: { id: string } }>;
    board.close();
    const idsOnDashboard = JSON.stringify(s).includes(a1!.id);
    expect({ unacknowledged: s!.unacknowledged, attention: s!.attention, unackedAlertIdReachable: idsOnDashboard, shownToSupervisor: r.audit.alertViews(a1!.id).some((v) => v.viewerId === 'sup') })
      .toEqual({ unacknowledged: 1, attention: 'ALERT', unackedAlertIdReachable: true, shownToSupervisor: true });
  });
});
