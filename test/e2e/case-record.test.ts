/**
 * The case record and invite links over the real server's HTTP API, with the analyzer scripted over
 * its real control channel (no media, no models: the risk it reports is given, as in stepup.test.ts):
 *  - after a call with an alert, an acknowledgement and a liveness check, the record (JSON) has
 *    all of them, in the order they happened, and the printable page shows them in Chromium;
 *  - only clinicians, agents and supervisors of the room (or with a dashboard token) may read it: a
 *    patient's token gets 403, no token 401;
 *  - only the host of a room may create an invite link, and the link it gets joins that room as
 *    the analysed participant.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseRecord } from '../../server/src/audit/CaseRecord.ts';
import { issueToken, verifyToken } from '../../server/src/auth/token.ts';
import type { ChallengeView } from '../../server/src/protocol/challenge.ts';
import { ALL_ROOMS } from '../../server/src/protocol/dashboard.ts';
import type { RiskState, RiskUpdate } from '../../server/src/protocol/messages.ts';
import { joinThroughUi, launchChromium, openJoinLink } from '../helpers/browser.ts';
import { screenshot } from '../helpers/pageChecks.ts';
import { ask, connected, rawSocket, scriptedAnalyzer } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let analyzer: Socket;
const sockets: Socket[] = [];
const assigned = new Set<string>();

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'external', ROOMS: 'demo', ANALYZER_STALL_MS: '5000' });
  analyzer = scriptedAnalyzer(server.url, server.config.tokenSecret);
  analyzer.on('rooms', (rooms: string[]) => {
    for (const r of rooms) assigned.add(r);
  });
  await connected(analyzer);
  await waitFor('analysis available', () => server.app.hub.status.available, 10_000);
}, 30_000);

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  analyzer?.disconnect();
  await server?.close();
});

async function join(room: string, token: string): Promise<Socket> {
  const s = rawSocket(server.url, token);
  sockets.push(s);
  await connected(s);
  const res = await ask(s, 'join', { room });
  if (!res.ok) throw new Error(res.error?.message);
  return s;
}

function risk(room: string, participantId: string, state: RiskState, value: number, text: string): void {
  const update: RiskUpdate = { participantId, state, risk: value, reasons: [{ detector: 'face-deepfake', text, contribution: value }], gaps: [], since: Date.now(), at: Date.now() };
  analyzer.emit('risk', { room, update });
}

const get = (path: string, token?: string, header = true) =>
  fetch(`${server.url}${path}${!header && token ? `${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : ''}`, header && token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('case record', () => {
  it('after a call with an alert, an acknowledgement and a liveness check, the JSON has them in order and the printable page shows them; a patient gets 403', { timeout: 60_000 }, async () => {
    const room = 'ward-7';
    const doctorToken = server.token(room, 'clinician', 'Dr Ada Okafor', { sub: 'doc' });
    const doctor = await join(room, doctorToken);
    const views: ChallengeView[] = [];
    doctor.on('challenge.update', (v: ChallengeView) => views.push(v));
    const patientToken = server.token(room, 'patient', 'Pat Lee', { sub: 'pat' });
    const patient = await join(room, patientToken);
    await waitFor('the analyzer watches the call', () => assigned.has(room));
    await new Promise((r) => setTimeout(r, 300));

    risk(room, 'pat', 'CLEAR', 0.1, 'The face looks real.');
    await waitFor('clear', () => server.app.risk.latest(room).some((u) => u.state === 'CLEAR'));
    await new Promise((r) => setTimeout(r, 20));
    risk(room, 'pat', 'ALERT', 0.86, 'The face shows the blending artefacts of face-swap deepfakes.');
    const alert = await waitFor('alert', () => server.app.risk.alerts(room)[0]);
    await new Promise((r) => setTimeout(r, 20));
    expect((await ask(doctor, 'alert.ack', { alertId: alert.id, note: 'Asked for photo ID.' })).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    const started = await ask(doctor, 'challenge.start', { participantId: 'pat' });
    expect(started.ok).toBe(true);
    // The caller leaves during the check: it ends INCONCLUSIVE, and the record keeps it.
    await new Promise((r) => setTimeout(r, 50));
    patient.disconnect();
    await waitFor('check verdict', () => views.find((v) => v.state !== 'RUNNING'), 10_000);
    await waitFor('check logged', () => server.app.audit.callChallenges(server.app.risk.callId(room)!).length === 1);

    // The patient's own token: no record, whatever the room.
    const denied = await get(`/api/calls/${room}/record`, server.token(room, 'patient', 'Pat Lee', { sub: 'pat' }));
    expect(denied.status).toBe(403);
    expect((await denied.json()).error.message).toMatch(/clinicians, agents and supervisors only/);
    expect((await get(`/api/calls/${room}/record.html`, patientToken, false)).status).toBe(403);
    expect((await get(`/api/calls/${room}/record`)).status).toBe(401);
    expect((await get(`/api/calls/${room}/record`, server.token('elsewhere', 'clinician', 'Dr B'))).status).toBe(403);

    const res = await get(`/api/calls/${room}/record`, doctorToken);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const record = (await res.json()) as CaseRecord;
    expect(record).toMatchObject({ room, ongoing: true, closedAt: null });
    expect(record.participants.map((p) => [p.name, p.role])).toEqual([['Dr Ada Okafor', 'clinician'], ['Pat Lee', 'patient']]);
    expect(record.participants[1]!.leftAt).toEqual(expect.any(Number));
    const kinds = record.events.map((e) => (e.kind === 'state' ? `state:${e.state}` : e.kind === 'check' ? `check:${e.result}` : e.kind));
    console.log(`case record events: ${kinds.join(' -> ')}`);
    // Everything, in the order it happened (the check ends as the caller leaves: the same
    // millisecond or the next, so those two are compared as a set).
    expect(kinds.slice(0, 6)).toEqual(['joined', 'joined', 'state:CLEAR', 'state:ALERT', 'alert', 'acknowledged']);
    expect(kinds.slice(6).sort()).toEqual(['check:INCONCLUSIVE', 'left']);
    expect(record.events.map((e) => e.at)).toEqual([...record.events.map((e) => e.at)].sort((a, b) => a - b));
    expect(record.alerts).toHaveLength(1);
    expect(record.alerts[0]).toMatchObject({ id: alert.id, participantName: 'Pat Lee', reasons: [expect.objectContaining({ text: expect.stringMatching(/face-swap/) })] });
    expect(record.alerts[0]!.views).toContainEqual(expect.objectContaining({ viewerId: 'doc', viewerName: 'Dr Ada Okafor', acknowledgedAt: expect.any(Number), note: 'Asked for photo ID.' }));
    expect(record.checks).toEqual([expect.objectContaining({ participantName: 'Pat Lee', requestedBy: 'Dr Ada Okafor', result: 'INCONCLUSIVE', reasons: [expect.stringMatching(/left/)] })]);
    expect(record.states).toEqual([expect.objectContaining({ name: 'Pat Lee', changes: [expect.objectContaining({ state: 'CLEAR' }), expect.objectContaining({ state: 'ALERT' })] })]);

    // A supervisor's dashboard token reads it too, and the download names the file.
    const board = issueToken(server.config.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name: 'Sam', sub: 'sam', ttlSeconds: 600 });
    const dl = await get(`/api/calls/${room}/record?download`, board);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-disposition')).toMatch(new RegExp(`attachment; filename="case-record-${room}-.*-call-${record.callId}\\.json"`));
    const list = await (await get(`/api/calls/${room}/records`, board)).json();
    expect(list.calls[0]).toMatchObject({ id: record.callId, room });

    // The printable page, in Chromium, from a link (token in the query, as the UI opens it).
    const chromium = await launchChromium();
    try {
      const page = await chromium.browser.newPage();
      const blocked: string[] = [];
      page.on('console', (m) => m.type() === 'error' && blocked.push(m.text()));
      await page.goto(`${server.url}/api/calls/${room}/record.html?token=${encodeURIComponent(doctorToken)}`);
      await page.getByTestId('case-record').waitFor({ timeout: 10_000 });
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(room);
      const alertText = await page.getByTestId('record-alert').textContent();
      expect(alertText).toMatch(/alert on Pat Lee/);
      expect(alertText).toMatch(/face-swap deepfakes/);
      expect(alertText).toMatch(/Dr Ada Okafor \(clinician\): shown .*acknowledged .*Asked for photo ID/);
      expect(await page.getByTestId('record-check').textContent()).toMatch(/Pat Lee: Inconclusive/);
      const rendered = await page.locator('[data-testid="record-events"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
      expect(rendered).toEqual(record.events.map((e) => e.kind));
      await page.getByRole('button', { name: 'Print or save as PDF' }).waitFor();
      await page.setViewportSize({ width: 1024, height: 1400 });
      await screenshot(page, 'case-record', 'printable-record');
      // The page's own script runs under its CSP (the Print button), nothing else does.
      expect(blocked.filter((t) => /Content Security Policy/.test(t))).toEqual([]);
      const pdf = await page.pdf({ format: 'A4' });
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');

      // Later the doctor learns how it ended, and says so on the same page: the mark goes into the
      // audit log with who made it (what `npm run calibrate -- --from-audit` learns from).
      expect(await page.getByTestId('case-record').textContent()).toMatch(/Not marked: nobody has said whether this call was a fraud/);
      const form = page.getByTestId('mark-outcome');
      expect(await form.count()).toBe(1); // Pat Lee only: the clinician is not screened
      await form.getByRole('textbox').fill('The bank confirmed the ID was stolen.');
      await form.getByRole('button', { name: 'Confirmed fraud' }).click();
      const mark = page.getByTestId('record-outcome');
      await mark.waitFor({ timeout: 10_000 });
      expect(await mark.textContent()).toMatch(/Pat Lee: confirmed fraud, marked by Dr Ada Okafor \(clinician\): “The bank confirmed the ID was stolen\.”/);
      expect(blocked.filter((t) => /Content Security Policy/.test(t))).toEqual([]);
      const after = (await (await get(`/api/calls/${room}/record`, doctorToken)).json()) as CaseRecord;
      expect(after.outcomes).toEqual([expect.objectContaining({ participantId: 'pat', participantName: 'Pat Lee', outcome: 'fraud', byName: 'Dr Ada Okafor', byRole: 'clinician' })]);
      expect(server.app.audit.labelledParticipants()).toEqual([expect.objectContaining({ callId: record.callId, participantId: 'pat', outcome: 'fraud' })]);
    } finally {
      await chromium.close();
    }
  });
});

describe('case record of a room that stays open', () => {
  it('each sitting in a ROOMS room is its own call: its own record, duration and participants', async () => {
    const board = issueToken(server.config.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name: 'Sam', sub: 'sam', ttlSeconds: 600 });
    const first = [await join('demo', server.token('demo', 'clinician', 'Dr One', { sub: 'one' })), await join('demo', server.token('demo', 'patient', 'Pat One', { sub: 'p1' }))];
    const firstId = server.app.risk.callId('demo')!;
    for (const s of first) s.disconnect();
    await waitFor('the sitting closed', () => server.app.audit.call(firstId)?.closedAt);
    await join('demo', server.token('demo', 'clinician', 'Dr Two', { sub: 'two' }));
    const secondId = server.app.risk.callId('demo')!;
    expect(secondId).not.toBe(firstId);
    const latest = (await (await get('/api/calls/demo/record', board)).json()) as CaseRecord;
    expect(latest).toMatchObject({ callId: secondId, ongoing: true });
    expect(latest.participants.map((p) => p.name)).toEqual(['Dr Two']);
    const earlier = (await (await get(`/api/calls/demo/record?call=${firstId}`, board)).json()) as CaseRecord;
    expect(earlier).toMatchObject({ callId: firstId, ongoing: false });
    expect(earlier.participants.map((p) => p.name)).toEqual(['Dr One', 'Pat One']);
    expect(earlier.durationMs).toBeLessThan(30_000);
    const list = (await (await get('/api/calls/demo/records', board)).json()) as { calls: Array<{ id: number }> };
    expect(list.calls.map((c) => c.id).slice(0, 2)).toEqual([secondId, firstId]);
    // A call of another room, or none, is not found through this room.
    expect((await get(`/api/calls/demo/record?call=999999`, board)).status).toBe(404);
    const other = server.app.risk.callId('ward-7')!;
    expect((await get(`/api/calls/demo/record?call=${other}`, board)).status).toBe(404);
  });
});

describe('invite links', () => {
  const invite = (room: string, token: string | undefined, body: unknown) =>
    fetch(`${server.url}/api/calls/${room}/invites`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });

  it('only the host of the room creates one; it joins that room as the analysed participant', async () => {
    const room = 'clinic-3';
    for (const [token, status] of [
      [server.token(room, 'patient', 'Pat'), 403],
      [server.token(room, 'customer', 'Cu'), 403],
      [server.token(room, 'supervisor', 'Sup'), 403],
      [issueToken(server.config.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name: 'Sam', ttlSeconds: 600 }), 403],
      [server.token('other-room', 'clinician', 'Dr'), 403],
      ['not-a-token', 401],
      [undefined, 401],
    ] as const) {
      const res = await invite(room, token, { name: 'Pat Lee' });
      expect(res.status, `${String(token).slice(0, 12)}…`).toBe(status);
    }
    // The token must come in the header: a link or a form elsewhere cannot create invites.
    const viaQuery = await fetch(`${server.url}/api/calls/${room}/invites?token=${encodeURIComponent(server.token(room, 'clinician', 'Dr'))}`, { method: 'POST', body: '{"name":"X"}' });
    expect(viaQuery.status).toBe(401);
    const host = server.token(room, 'clinician', 'Dr Ode');
    expect((await invite(room, host, { name: '' })).status).toBe(400);
    expect((await invite(room, host, { name: 'Pat', role: 'clinician' })).status).toBe(400);

    const res = await invite(room, host, { name: 'Pat Lee', ttlSeconds: 3600 });
    expect(res.status).toBe(201);
    const made = (await res.json()) as { url: string; path: string; role: string; expiresAt: number };
    expect(made).toMatchObject({ role: 'patient', path: expect.stringMatching(new RegExp(`^/room/${room}#token=`)) });
    expect(made.expiresAt - Date.now()).toBeGreaterThan(3500_000);
    const token = new URLSearchParams(new URL(made.url).hash.slice(1)).get('token')!;
    expect(verifyToken(server.config.tokenSecret, token)).toMatchObject({ room, role: 'patient', name: 'Pat Lee' });
    // An agent's invite is for a customer.
    const agent = await (await invite('desk-1', server.token('desk-1', 'agent', 'Ag'), { name: 'Cus Tomer' })).json();
    expect(agent.role).toBe('customer');
    // The link works: the host opens the call, the invited patient joins it.
    await join(room, host);
    const pat = await join(room, token);
    expect(pat.connected).toBe(true);
  });

  it('from the call page: the host creates and copies the link, the caller joins with it, the risk timeline and the case record are there', { timeout: 90_000 }, async () => {
    const room = 'clinic-ui';
    const chromium = await launchChromium();
    try {
      const page = await openJoinLink(chromium.browser, server.url, room, server.token(room, 'clinician', 'Dr Ode', { sub: 'ode' }));
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
      await page.setViewportSize({ width: 1280, height: 720 });
      await joinThroughUi(page);
      const invite = page.getByTestId('invite');
      await invite.getByTestId('invite-name').fill('Pat Lee');
      await invite.getByTestId('invite-create').click();
      const url = await invite.getByTestId('invite-url').inputValue({ timeout: 10_000 });
      expect(url).toMatch(new RegExp(`^${server.url}/room/${room}#token=`));
      const token = new URLSearchParams(new URL(url).hash.slice(1)).get('token')!;
      expect(verifyToken(server.config.tokenSecret, token)).toMatchObject({ room, role: 'patient', name: 'Pat Lee' });
      await invite.getByTestId('invite-copy').click();
      await page.locator('[data-testid="invite-status"]', { hasText: 'Copied' }).waitFor({ timeout: 5000 });
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(url);

      // The caller joins with it; the analyzer's verdicts draw the caller's timeline on the host's page.
      const patSub = (verifyToken(server.config.tokenSecret, token) as { sub: string }).sub;
      await join(room, token);
      await waitFor('the analyzer watches the call', () => assigned.has(room));
      await new Promise((r) => setTimeout(r, 300));
      risk(room, patSub, 'CLEAR', 0.1, 'The face looks natural.');
      await new Promise((r) => setTimeout(r, 300));
      risk(room, patSub, 'SUSPICIOUS', 0.5, 'The voice sounds synthetic.');
      const tl = page.locator('[data-testid="call-tools"] [data-testid="risk-timeline"]');
      await tl.locator('canvas').waitFor({ timeout: 15_000 });
      await page.locator('[data-testid="call-tools"] [data-testid="risk-timeline"][data-points="2"]').waitFor({ timeout: 10_000 });
      expect(await tl.locator('figcaption').textContent()).toMatch(/now Suspicious, risk score 50 of 100/);
      await screenshot(page, 'call-tools', 'host-call-page-1280x720');
      const href = await page.getByTestId('call-tools').getByTestId('case-record').getAttribute('href');
      expect((await page.request.get(new URL(href!, server.url).toString())).status()).toBe(200);
      // After leaving, the host still has the record.
      await page.getByTestId('leave').click();
      await page.getByTestId('left').waitFor({ timeout: 10_000 });
      expect(await page.getByTestId('case-record-links').textContent()).toMatch(/case record/i);
    } finally {
      await chromium.close();
    }
  });
});
