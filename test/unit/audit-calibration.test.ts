/**
 * Calibrating fusion on the deployment's own calls (issue 10, item 3: "the audit log can say which
 * calls ended in a confirmed fraud"): the analyzer sends what each participant's fusion was told
 * (RiskPublisher, the `evidence` message), the server keeps it beside the call (RiskDesk, AuditLog,
 * AUDIT_EVIDENCE_DAYS), a privileged person marks what the call turned out to be (POST
 * /api/calls/:room/outcome), and `npm run calibrate -- --from-audit` fits fusion on the calls so
 * marked. Each step with the real classes (in-memory or temporary SQLite files, a real HTTP server
 * around the API handler, the CLI as a child process); no model runs.
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RiskPublisher } from '../../server/src/analyzer/RiskPublisher.ts';
import { Subjects } from '../../server/src/analyzer/subjects.ts';
import { RiskConfigSchema, loadRiskConfig } from '../../server/src/analyzer/fusion/RiskFusion.ts';
import { AuditLog } from '../../server/src/audit/AuditLog.ts';
import { buildCaseRecord, renderCaseRecordHtml } from '../../server/src/audit/CaseRecord.ts';
import { issueToken } from '../../server/src/auth/token.ts';
import { clipsFromAudit, mergeEvidence } from '../../server/src/evaluation/auditClips.ts';
import { api, MAX_OUTCOME_MARKS } from '../../server/src/http/api.ts';
import { AnalyzerMessages, MAX_EVIDENCE_BATCH, type FusionInput } from '../../server/src/protocol/analyzerChannel.ts';
import { MAX_MESSAGE_BYTES } from '../../server/src/protocol/messages.ts';
import type { Participant } from '../../server/src/signaling/CallRoom.ts';
import { RoomRegistry } from '../../server/src/signaling/RoomRegistry.ts';
import { RiskDesk } from '../../server/src/screening/RiskDesk.ts';
import { seededRandom } from '../helpers/random.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'dfs-audit-calibration-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * `seconds` of a call as the analyzer records it: MesoNet's readings twice a second around `level`,
 * each sample counted, a fusion tick every second.
 */
function callInputs(level: number, seconds: number, random: () => number): FusionInput[] {
  const out: FusionInput[] = [['r', 'video', 2]];
  for (let t = 0; t < seconds * 1000; t += 500) {
    out.push(['s', t, 'video'], ['e', t, 'face-deepfake', Math.min(1, Math.max(0, level + 0.1 * (random() - 0.5))), 0.9]);
    if (t % 1000 === 500) out.push(['u', t + 500]);
  }
  return out;
}

describe('the analyzer sends what fusion was told', () => {
  const watcher = { present: () => true, video: new Map(), audio: new Map(), videoStalledFor: () => undefined, refreshStalledVideo() {}, setBoosted() {}, setClear() {} };

  it('once a tick, each participant\'s new inputs in one valid evidence message, nothing twice', () => {
    const subjects = new Subjects(loadRiskConfig());
    const sent: Array<[string, unknown]> = [];
    const control = { send: (e: string, p: unknown) => sent.push([e, p]) };
    const publisher = new RiskPublisher({ watcher: watcher as never, subjects, events: new EventEmitter() as never, control: () => control as never });
    const s = subjects.get('r1', 'p1');
    s.fusion.add({ detector: 'face-deepfake', at: s.recorded.start + 200, score: 0.81234, confidence: 0.9, reason: 'text that is not sent' });
    publisher.publish();
    publisher.publish();
    const evidence = sent.filter(([e]) => e === 'evidence').map(([, p]) => p as { room: string; participantId: string; start: number; inputs: FusionInput[] });
    expect(evidence).toHaveLength(2);
    for (const m of evidence) expect(AnalyzerMessages.evidence.safeParse(m).success).toBe(true);
    const [first, second] = evidence;
    expect(first).toMatchObject({ room: 'r1', participantId: 'p1', start: s.recorded.start });
    // MesoNet's reading, rounded, without its text; the window detectors' abstentions ride along.
    expect(first!.inputs.filter((x) => x[0] === 'e' && x[2] === 'face-deepfake')).toEqual([['e', 200, 'face-deepfake', 0.8123, 0.9]]);
    expect(first!.inputs.some((x) => x[0] === 'u')).toBe(true);
    // The second tick carries its own tick, not the first tick's evidence again; unchanged sampling
    // targets are not repeated either.
    expect(second!.inputs.filter((x) => x[0] === 'e' && x[2] === 'face-deepfake')).toEqual([]);
    expect(second!.inputs.filter((x) => x[0] === 'r')).toEqual([]);
    expect(JSON.stringify(evidence)).not.toContain('text that is not sent');
    expect(s.recorded.inputs).toEqual([]);
  });

  it('without a control channel the inputs are dropped, not piled up', () => {
    const subjects = new Subjects(loadRiskConfig());
    const publisher = new RiskPublisher({ watcher: watcher as never, subjects, events: new EventEmitter() as never, control: () => undefined });
    const s = subjects.get('r1', 'p1');
    for (let i = 0; i < 5; i++) publisher.publish();
    expect(s.recorded.inputs).toEqual([]);
  });

  it('a batch held up for minutes goes in messages socket.io accepts: none over MAX_MESSAGE_BYTES', () => {
    const subjects = new Subjects(loadRiskConfig());
    const sent: Array<{ inputs: FusionInput[] }> = [];
    const control = { send: (e: string, p: { inputs: FusionInput[] }) => e === 'evidence' && sent.push(p) };
    const publisher = new RiskPublisher({ watcher: watcher as never, subjects, events: new EventEmitter() as never, control: () => control as never });
    const s = subjects.get('r1', 'p1');
    // Ten minutes of the longest-named detector's readings, 30 a second, all waiting at once.
    for (let i = 0; i < 18_000; i++) s.fusion.add({ detector: 'presentation-attack', at: s.recorded.start + 9_999_999_999 - i, score: 0.123456, confidence: 0.987654, reason: '' });
    publisher.publish();
    expect(sent.length).toBeGreaterThanOrEqual(Math.ceil(18_000 / MAX_EVIDENCE_BATCH));
    expect(sent.reduce((n, m) => n + m.inputs.filter((x) => x[0] === 'e' && x[2] === 'presentation-attack').length, 0)).toBe(18_000);
    for (const m of sent) {
      expect(AnalyzerMessages.evidence.safeParse(m).success).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThan(MAX_MESSAGE_BYTES / 2);
    }
  });

  it('the protocol refuses evidence that is not numbers on a time axis', () => {
    const ok = { room: 'r1', participantId: 'p1', start: 1_700_000_000_000, inputs: [['e', 10, 'face-deepfake', null, 0], ['q', 20, 'no-face'], ['u', 1000]] };
    expect(AnalyzerMessages.evidence.safeParse(ok).success).toBe(true);
    for (const bad of [
      { ...ok, inputs: [] },
      { ...ok, inputs: [['e', -1, 'face-deepfake', 0.5, 1]] },
      { ...ok, inputs: [['e', 10, 'face-deepfake', 1.5, 1]] },
      { ...ok, inputs: [['q', 10, 'a picture of the caller']] },
      { ...ok, inputs: [['x', 10]] },
    ]) {
      expect(AnalyzerMessages.evidence.safeParse(bad).success).toBe(false);
    }
  });
});

describe('the server keeps it beside the call', () => {
  class FakePeer extends EventEmitter { close() {} }
  const engine = { createRoom: () => ({ createPeer: () => new FakePeer(), close() {} }) } as never;
  class FakeHub extends EventEmitter {
    setHandBackSource() {}
    resume() {}
  }
  function rig(recordEvidence: boolean, evidenceBytesPerCaller?: number) {
    const registry = new RoomRegistry(engine, { maxParticipants: 10, persistentRooms: [] });
    const hub = new FakeHub();
    const audit = new AuditLog(':memory:');
    const desk = new RiskDesk(registry, hub as never, audit, { recordEvidence, ...(evidenceBytesPerCaller ? { evidenceBytesPerCaller } : {}) });
    const join = (id: string, role: Participant['role']) => registry.admit('r1', id, role as never).add({ id, name: id, role, channel: { emit: () => true } as never });
    join('doc', 'clinician');
    join('pat', 'patient');
    const send = (participantId: string) => hub.emit('evidence', { room: 'r1', participantId, start: 1000, inputs: [['u', 1000]] });
    return { audit, desk, send };
  }

  it('stores the analysed participant\'s batches, in order, and nobody else\'s', () => {
    const r = rig(true);
    r.send('pat');
    r.send('pat');
    r.send('doc'); // a clinician is never analysed
    r.send('gone'); // nobody by that id in the call
    const callId = r.desk.callId('r1')!;
    expect(r.audit.callEvidence(callId, 'pat')).toEqual([
      { start: 1000, inputs: [['u', 1000]] },
      { start: 1000, inputs: [['u', 1000]] },
    ]);
    expect(r.audit.callEvidence(callId, 'doc')).toEqual([]);
    expect(r.audit.callEvidence(callId, 'gone')).toEqual([]);
  });

  it('stops at its limit per caller and call: the first batches kept, the rest not, the call goes on', () => {
    const r = rig(true, 30); // each batch here is 12 bytes of JSON
    for (let i = 0; i < 10; i++) r.send('pat');
    expect(r.audit.callEvidence(r.desk.callId('r1')!, 'pat')).toHaveLength(3);
  });

  it('keeps none with AUDIT_EVIDENCE_DAYS=0', () => {
    const r = rig(false);
    r.send('pat');
    expect(r.audit.callEvidence(r.desk.callId('r1')!, 'pat')).toEqual([]);
  });

  it('purges evidence after its own days, the call and its outcome after theirs', () => {
    const audit = new AuditLog(':memory:', { retentionDays: 30, evidenceDays: 7 });
    const day = 86_400_000;
    const now = Date.now();
    const id = audit.openCall('r1', now - 10 * day);
    audit.participantJoined(id, { id: 'pat', role: 'patient', name: 'Pat' }, now - 10 * day);
    audit.evidenceRecorded(id, 'pat', now - 10 * day, [['u', 1000]], now - 10 * day);
    audit.closeCall(id, now - 10 * day);
    audit.outcomeMarked(id, 'pat', 'fraud', { id: 'doc', role: 'clinician', name: 'Dr Doe' }, undefined, now - 9 * day);
    audit.purge(now);
    expect(audit.call(id)).toBeDefined();
    expect(audit.callEvidence(id, 'pat')).toEqual([]);
    expect(audit.callOutcomes(id)).toHaveLength(1);
    audit.purge(now + 21 * day);
    expect(audit.call(id)).toBeUndefined();
    expect(audit.callOutcomes(id)).toEqual([]);
  });
});

describe('POST /api/calls/:room/outcome', () => {
  const secret = 'a-test-secret-that-is-long-enough-0123456789';
  const audit = new AuditLog(':memory:');
  let server: Server;
  let url = '';
  let callId = 0;
  const token = (role: 'clinician' | 'patient' | 'supervisor', sub: string, room = 'r1') => issueToken(secret, { room, role, name: `${role} ${sub}`, ttlSeconds: 600, sub });
  const post = (body: unknown, bearer?: string, room = 'r1') =>
    fetch(`${url}/api/calls/${room}/outcome`, { method: 'POST', headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) }, body: JSON.stringify(body) });

  beforeAll(async () => {
    callId = audit.openCall('r1');
    audit.participantJoined(callId, { id: 'doc', role: 'clinician', name: 'Dr Doe' });
    audit.participantJoined(callId, { id: 'pat', role: 'patient', name: 'Pat Smith' });
    audit.closeCall(callId);
    const handle = api({ tokenSecret: secret, tokenTtlSeconds: 600, audit, liveCallId: () => undefined });
    server = createServer((req, res) => {
      if (!handle(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return () => new Promise<void>((ok) => server.close(() => ok()));
  });

  it('the clinician who took the call marks it a fraud; the record and its page say so, with who and the note', async () => {
    const r = await post({ call: callId, participantId: 'pat', outcome: 'fraud', note: 'bank confirmed the account was opened by someone else' }, token('clinician', 'doc'));
    expect(r.status).toBe(201);
    expect(await r.json()).toMatchObject({ call: callId, participantId: 'pat', name: 'Pat Smith', outcome: 'fraud' });
    const record = buildCaseRecord(audit, callId)!;
    expect(record.outcomes).toEqual([expect.objectContaining({ participantId: 'pat', participantName: 'Pat Smith', outcome: 'fraud', byId: 'doc', byRole: 'clinician', note: 'bank confirmed the account was opened by someone else' })]);
    expect(renderCaseRecordHtml(record)).toMatch(/Pat Smith: <strong>confirmed fraud<\/strong>, marked by clinician doc/);
  });

  it('a later mark counts and the first stays: calibration sees the latest, the record shows both', async () => {
    const supervisorEverywhere = issueToken(secret, { room: '*', role: 'supervisor', name: 'Sam', ttlSeconds: 600, sub: 'sam' });
    expect((await post({ call: callId, participantId: 'pat', outcome: 'genuine' }, supervisorEverywhere)).status).toBe(201);
    expect(audit.callOutcomes(callId).map((o) => o.outcome)).toEqual(['fraud', 'genuine']);
    expect(audit.labelledParticipants()).toEqual([expect.objectContaining({ callId, participantId: 'pat', name: 'Pat Smith', outcome: 'genuine' })]);
    expect((await post({ call: callId, participantId: 'pat', outcome: 'unknown' }, supervisorEverywhere)).status).toBe(201);
    expect(audit.labelledParticipants()).toEqual([]);
  });

  it('refuses whoever may not read the record, a mark on anyone but the screened person, and a bad body', async () => {
    const cases: Array<[unknown, string | undefined, number, string?]> = [
      [{ call: callId, participantId: 'pat', outcome: 'fraud' }, undefined, 401],
      [{ call: callId, participantId: 'pat', outcome: 'fraud' }, token('patient', 'pat'), 403],
      [{ call: callId, participantId: 'pat', outcome: 'fraud' }, token('clinician', 'doc', 'r2'), 403],
      // A clinician of the same room who did not take this call cannot see it, so cannot mark it.
      [{ call: callId, participantId: 'pat', outcome: 'fraud' }, token('clinician', 'other'), 404],
      [{ call: callId, participantId: 'doc', outcome: 'fraud' }, token('clinician', 'doc'), 404],
      [{ call: callId + 99, participantId: 'pat', outcome: 'fraud' }, token('clinician', 'doc'), 404],
      [{ call: callId, participantId: 'pat', outcome: 'probably' }, token('clinician', 'doc'), 400],
      [{ call: callId, participantId: 'pat', outcome: 'fraud', extra: 1 }, token('clinician', 'doc'), 400],
    ];
    const before = audit.callOutcomes(callId).length;
    for (const [body, bearer, status] of cases) expect({ body, status: (await post(body, bearer)).status }).toEqual({ body, status });
    // The token goes in the header only: a link cannot mark a call.
    const viaQuery = await fetch(`${url}/api/calls/r1/outcome?token=${token('clinician', 'doc')}`, { method: 'POST', body: JSON.stringify({ call: callId, participantId: 'pat', outcome: 'fraud' }) });
    expect(viaQuery.status).toBe(401);
    expect((await fetch(`${url}/api/calls/r1/outcome`, { headers: { authorization: `Bearer ${token('clinician', 'doc')}` } })).status).toBe(405);
    expect(audit.callOutcomes(callId)).toHaveLength(before);
  });

  it('keeps at most MAX_OUTCOME_MARKS marks per person and call: a looping client gets 429, the log stops growing', async () => {
    const id = audit.openCall('r1');
    audit.participantJoined(id, { id: 'doc', role: 'clinician', name: 'Dr Doe' });
    audit.participantJoined(id, { id: 'pat2', role: 'patient', name: 'Pat Two' });
    const statuses: number[] = [];
    for (let i = 0; i < MAX_OUTCOME_MARKS + 3; i++) statuses.push((await post({ call: id, participantId: 'pat2', outcome: i % 2 ? 'fraud' : 'genuine' }, token('clinician', 'doc'))).status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_OUTCOME_MARKS);
    expect(statuses.slice(MAX_OUTCOME_MARKS)).toEqual([429, 429, 429]);
    expect(audit.callOutcomes(id)).toHaveLength(MAX_OUTCOME_MARKS);
  });
});

describe('npm run calibrate -- --from-audit', () => {
  /** An audit log file of `callers` callers, each with `calls` calls, marked as their label says. */
  function auditFile(name: string, callers: Array<{ name: string; label: 'fraud' | 'genuine'; level: number }>, calls = 2): string {
    const file = join(tmp, name);
    const audit = new AuditLog(file);
    const random = seededRandom(7);
    let t = Date.UTC(2026, 10, 1);
    for (const c of callers) {
      for (let k = 0; k < calls; k++) {
        const id = audit.openCall('kyc', t);
        audit.participantJoined(id, { id: `agent-${k}`, role: 'agent', name: 'Agent' }, t);
        audit.participantJoined(id, { id: `${c.name}-${k}`, role: 'customer', name: c.name }, t);
        const inputs = callInputs(c.level + 0.05 * random(), 40, random);
        // Two batches, as the analyzer sends them once a second (here: halves).
        audit.evidenceRecorded(id, `${c.name}-${k}`, t, inputs.slice(0, 60), t + 20_000);
        audit.evidenceRecorded(id, `${c.name}-${k}`, t, inputs.slice(60), t + 40_000);
        audit.closeCall(id, t + 40_000);
        audit.outcomeMarked(id, `${c.name}-${k}`, c.label, { id: 'sup', role: 'supervisor', name: 'Sam' }, undefined, t + 60_000);
        t += 3_600_000;
      }
    }
    audit.close();
    return file;
  }
  const callers = [
    ...['Ann', 'Ben', 'Cy'].map((name) => ({ name, label: 'genuine' as const, level: 0.1 })),
    ...['Dee', 'Eve', 'Fay'].map((name) => ({ name, label: 'fraud' as const, level: 0.75 })),
  ];

  it('turns each marked caller\'s calls into clips grouped by caller, their evidence replayed through fusion', () => {
    const file = auditFile('clips.sqlite', callers);
    const { clips, notes } = clipsFromAudit(file, loadRiskConfig());
    expect(notes).toEqual([]);
    expect(clips).toHaveLength(12);
    expect(clips.map((c) => c.id)).toContain('fake/Eve/call-9-Eve-0');
    expect(clips.filter((c) => c.label === 'fake').map((c) => c.id.split('/')[1])).toEqual(['Dee', 'Dee', 'Eve', 'Eve', 'Fay', 'Fay']);
    const c = clips[0]!;
    expect(c.durationS).toBeCloseTo(40, 0);
    expect(c.timeline!.length).toBe(40);
    expect(c.timeline!.at(-1)!.views['face-deepfake']).toBeDefined();
  });

  it('fits and reports on them, and writes a configuration the analyzer loads', async () => {
    const file = auditFile('calls.sqlite', callers);
    const out = join(tmp, 'fitted.json');
    const { stdout } = await run(process.execPath, ['scripts/calibrate.ts', '--from-audit', file, '--out', out], { cwd: REPO, env: { ...process.env, LOG_LEVEL: 'warn' } });
    expect(stdout).toMatch(/Calibrated on 6 real \/ 6 fake clips in 6 groups/);
    const auc = Number(/Cross-validated by group: fused AUC (\d\.\d+)/.exec(stdout)?.[1]);
    expect(auc).toBeGreaterThan(0.9);
    const config = RiskConfigSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(config.detectors['face-deepfake']!.weight).toBeGreaterThan(0.5);
    // Where the numbers came from: the audit log, the callers as groups.
    expect(config.calibration).toMatchObject({ data: expect.stringMatching(/^audit log .*calls\.sqlite \(calls marked a confirmed fraud or genuine\)$/), groups: 6 });
    expect(config.detectors['face-deepfake']!.source).toMatch(/fitted by npm run calibrate .* on audit log .*calls\.sqlite/);
  });

  it('refuses, with one line and exit 2, an audit log with no marked call or only one kind', async () => {
    const none = join(tmp, 'none.sqlite');
    new AuditLog(none).close();
    const oneKind = auditFile('genuine-only.sqlite', callers.slice(0, 3));
    for (const [file, message] of [
      [none, /no call marked a confirmed fraud or genuine: mark them with POST \/api\/calls\/ROOM\/outcome/],
      [oneKind, /real|fake|class/i],
      [join(tmp, 'missing.sqlite'), /cannot open the audit log/],
    ] as const) {
      const err = (await run(process.execPath, ['scripts/calibrate.ts', '--from-audit', file, '--out', join(tmp, 'x.json')], { cwd: REPO }).catch((e: unknown) => e)) as { code?: number; stderr?: string };
      expect(err.code).toBe(2);
      expect(err.stderr!.trim().split('\n')).toHaveLength(1);
      expect(err.stderr).toMatch(message);
    }
  });

  it('a call moved to another analyzer mid-call is one clip: both fusions\' inputs on one time axis', () => {
    const merged = mergeEvidence([
      { start: 1000, inputs: [['r', 'video', 2], ['e', 0, 'face-deepfake', 0.2, 0.9], ['u', 1000]] },
      { start: 6000, inputs: [['e', 0, 'face-deepfake', 0.8, 0.9], ['u', 1000]] },
      { start: 1000, inputs: [['u', 2000]] },
    ]);
    expect(merged).toEqual([['r', 'video', 2], ['e', 0, 'face-deepfake', 0.2, 0.9], ['u', 1000], ['u', 2000], ['e', 5000, 'face-deepfake', 0.8, 0.9], ['u', 6000]]);
  });
});
