/**
 * The supervisor dashboard in Chromium with three calls, the analyzer scripted over its real
 * control channel (the risk it reports is given, no media or models; supervision.test.ts covers the
 * real detection path): a call whose alert nobody acknowledged (its caller since judged clear), a
 * suspicious one, and a host waiting alone.
 *  - it sorts the unacknowledged alert first, counts calls per state, names calls by their people,
 *    shows durations and each caller's risk timeline (uPlot), and says "nobody to screen yet" for
 *    the host alone, never "analysing"; search and filter narrow the list;
 *  - at 1440x900, 1280x720, 1024x768 and 390x844 every control can be seen inside the viewport and
 *    no two overlap (bounding boxes); screenshots go to test-artifacts/dashboard/;
 *  - axe-core finds no serious or critical violation;
 *  - opted in, a new alert chimes, raises a browser notification and is announced (aria-live).
 */
import type { Browser, Page } from 'playwright-core';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../server/src/auth/token.ts';
import { dashboardLink } from '../../server/src/http/joinLink.ts';
import { ALL_ROOMS } from '../../server/src/protocol/dashboard.ts';
import type { RiskState, RiskUpdate } from '../../server/src/protocol/messages.ts';
import { launchChromium } from '../helpers/browser.ts';
import { layoutProblems, screenshot, seriousAxeViolations, VIEWPORTS } from '../helpers/pageChecks.ts';
import { ask, connected, rawSocket, scriptedAnalyzer } from '../helpers/rawClient.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let analyzer: Socket;
let chromium: { browser: Browser; close: () => Promise<void> };
const sockets: Socket[] = [];
const assigned = new Set<string>();

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'external', ROOMS: 'ward-1', ANALYZER_STALL_MS: '5000' });
  analyzer = scriptedAnalyzer(server.url, server.config.tokenSecret);
  analyzer.on('rooms', (rooms: string[]) => rooms.forEach((r) => assigned.add(r)));
  await connected(analyzer);
  await waitFor('analysis available', () => server.app.hub.status.available, 10_000);
  chromium = await launchChromium();
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  analyzer?.disconnect();
  await chromium?.close();
  await server?.close();
});

async function join(room: string, role: 'clinician' | 'agent' | 'patient', name: string, sub: string): Promise<Socket> {
  const s = rawSocket(server.url, server.token(room, role, name, { sub }));
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

/** Polls an async condition (waitFor takes a synchronous one). */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const rooms = (page: Page) => page.getByTestId('call-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-room')));

describe('supervisor dashboard page', () => {
  it('three calls: unacknowledged first, counts, names, durations, timelines; fits 4 screen sizes; no serious axe violations; opt-in alert notification', { timeout: 120_000 }, async () => {
    await join('ward-1', 'clinician', 'Dr Ada Okafor', 'ada');
    await join('ward-1', 'patient', 'Pat Lee', 'pat');
    const ben = await join('ward-2', 'clinician', 'Dr Ben Ito', 'ben');
    await join('ward-2', 'patient', 'Sam Roe', 'sam-roe');
    await join('desk-3', 'agent', 'Agent Kim', 'kim');
    await waitFor('the analyzer watches both calls', () => assigned.has('ward-1') && assigned.has('ward-2'));
    await new Promise((r) => setTimeout(r, 200));
    risk('ward-1', 'pat', 'CLEAR', 0.08, 'The face looks natural.');
    risk('ward-2', 'sam-roe', 'CLEAR', 0.1, 'The face looks natural.');
    await new Promise((r) => setTimeout(r, 300));
    risk('ward-1', 'pat', 'ALERT', 0.88, 'The face shows the blending artefacts of face-swap deepfakes.');
    risk('ward-2', 'sam-roe', 'SUSPICIOUS', 0.55, 'The voice sounds synthetic.');
    await waitFor('the alert', () => server.app.risk.alerts('ward-1').length === 1);
    await new Promise((r) => setTimeout(r, 300));
    // Judged clear since, but nobody has acknowledged the alert: it still comes first.
    risk('ward-1', 'pat', 'CLEAR', 0.1, 'The face looks natural.');

    const context = await chromium.browser.newContext({ viewport: VIEWPORTS[0] });
    // Records the notifications the page raises (headless Chromium shows none).
    await context.addInitScript(() => {
      const shown: Array<[string, string | undefined]> = [];
      (window as unknown as { __notifications: typeof shown }).__notifications = shown;
      class FakeNotification {
        static permission = 'granted';
        static requestPermission = () => Promise.resolve('granted');
        onclick: (() => void) | null = null;
        constructor(title: string, opts?: { body?: string }) {
          shown.push([title, opts?.body]);
        }
      }
      (window as unknown as { Notification: unknown }).Notification = FakeNotification;
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error(`[dashboard page error] ${err.message}`));
    const board = issueToken(server.config.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name: 'Sue Visor', sub: 'sue', ttlSeconds: 600 });
    await page.goto(dashboardLink(server.url, board));
    await page.locator('[data-testid="call-card"][data-room="ward-1"][data-state="CLEAR"]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="call-card"][data-room="ward-2"][data-state="SUSPICIOUS"]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="call-card"][data-room="desk-3"]').waitFor({ timeout: 15_000 });

    // The unacknowledged alert first, though its caller now reads clear; the host alone last.
    expect(await rooms(page)).toEqual(['ward-1', 'ward-2', 'desk-3']);
    const ward1 = page.locator('[data-testid="call-card"][data-room="ward-1"]');
    const desk3 = page.locator('[data-testid="call-card"][data-room="desk-3"]');
    expect(await ward1.getByRole('heading', { level: 2 }).textContent()).toBe('Dr Ada Okafor with Pat Lee');
    expect(await desk3.getByRole('heading', { level: 2 }).textContent()).toBe('Agent Kim');
    expect(await desk3.getByTestId('call-state').textContent()).toBe('Nobody to screen yet');
    expect(await desk3.textContent()).not.toMatch(/analys/i);
    expect(await ward1.getByTestId('call-duration').textContent()).toMatch(/^\d+ s$|min/);
    expect(await page.getByTestId('count-unacked').textContent()).toMatch(/1\s+alert to acknowledge/);
    const counts = await page.getByTestId('count').evaluateAll((els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-state'), e.textContent?.trim()])));
    expect(counts).toEqual({ CLEAR: '1 looks real', SUSPICIOUS: '1 suspicious', NONE: '1 nobody to screen yet' });
    // The caller's timeline: from the case record (the ALERT and the alert before the page opened) and live.
    const tl = ward1.locator('[data-participant="pat"] [data-testid="dashboard-timeline"]');
    await tl.locator('canvas').waitFor({ timeout: 10_000 });
    await until('timeline seeded', async () => Number(await tl.getAttribute('data-points')) >= 3 && Number(await tl.getAttribute('data-marks')) >= 1, 10_000);
    expect(await tl.locator('figcaption').textContent()).toMatch(/now Looks real.*highest 88.*1 alert/);

    // Search by a person's name, and filter to the alerts to acknowledge.
    await page.getByTestId('search').fill('sam');
    await until('search', async () => JSON.stringify(await rooms(page)) === '["ward-2"]', 5000);
    await page.getByTestId('search').fill('');
    await page.getByTestId('state-filter').selectOption('UNACKED');
    await until('filter', async () => JSON.stringify(await rooms(page)) === '["ward-1"]', 5000);
    await page.getByTestId('state-filter').selectOption('NONE');
    await until('filter none', async () => JSON.stringify(await rooms(page)) === '["desk-3"]', 5000);
    await page.getByTestId('state-filter').selectOption('ALL');
    await until('all', async () => (await rooms(page)).length === 3, 5000);

    // Layout at each size, and axe at each.
    const problems: string[] = [];
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      await page.waitForTimeout(300);
      const found = await layoutProblems(page);
      // Nothing (a chart included) is wider than the screen.
      const wide = await page.evaluate(() => document.scrollingElement!.scrollWidth - window.innerWidth);
      if (wide > 1) found.push(`the page scrolls sideways by ${wide} px`);
      problems.push(...found.map((p) => `${vp.width}x${vp.height}: ${p}`));
      const shot = await screenshot(page, 'dashboard', `dashboard-3-calls-${vp.width}x${vp.height}`);
      const axe = await seriousAxeViolations(page);
      problems.push(...axe.map((v) => `${vp.width}x${vp.height}: axe ${v.id} (${v.impact}): ${v.help} — ${v.nodes.join(' | ')}`));
      console.log(`dashboard ${vp.width}x${vp.height}: ${found.length} layout problems, ${axe.length} serious axe violations; ${shot}`);
    }
    expect(problems).toEqual([]);

    // Opted in: a new alert chimes, notifies and is announced; the one there before never did.
    await page.setViewportSize(VIEWPORTS[0]);
    expect(await page.evaluate(() => (window as unknown as { __notifications: unknown[] }).__notifications.length)).toBe(0);
    await page.getByTestId('alert-me').click();
    await page.locator('[data-testid="alert-me"][aria-pressed="true"]').waitFor();
    risk('ward-2', 'sam-roe', 'ALERT', 0.91, 'The voice is synthetic speech.');
    await until('announced', async () => /New alert: Sam Roe: The voice is synthetic speech/.test((await page.getByTestId('new-alert').textContent()) ?? ''), 10_000);
    const notifications = () => page.evaluate(() => (window as unknown as { __notifications: Array<[string, string]> }).__notifications);
    const shown = await until('the notification', async () => { const n = await notifications(); return n.length ? n : undefined; }, 5000);
    expect(shown).toEqual([['Alert in Dr Ben Ito with Sam Roe', 'Sam Roe: The voice is synthetic speech.']]);
    // A second episode in ward-1 (its caller was judged CLEAR in between): its card lists both
    // alerts, oldest first, each acknowledged on its own; the newer one first here.
    risk('ward-1', 'pat', 'ALERT', 0.9, 'The face shows the blending artefacts again.');
    await waitFor('the second alert in ward-1', () => server.app.risk.alerts('ward-1').length === 2);
    const pendingBoxes = ward1.locator('[data-testid="dashboard-alert"][data-acked="no"]');
    await until('two alerts to acknowledge in ward-1', async () => (await pendingBoxes.count()) === 2, 10_000);
    const older = await pendingBoxes.nth(0).getAttribute('data-alert');
    expect(await pendingBoxes.nth(1).textContent()).toContain('blending artefacts again');
    await pendingBoxes.nth(1).getByTestId('dashboard-ack').click();
    await until('the newer acknowledged, the older still waiting', async () => (await pendingBoxes.count()) === 1 && (await pendingBoxes.nth(0).getAttribute('data-alert')) === older, 10_000);
    expect(server.app.risk.alerts('ward-1').map((a) => !!a.acked)).toEqual([false, true]);
    risk('ward-1', 'pat', 'CLEAR', 0.1, 'The face looks natural.');
    // Two unacknowledged alerts now (ward-1's first, ward-2's); acknowledging one leaves the other first.
    await ward1.getByTestId('dashboard-ack').click();
    await ward1.locator('[data-testid="dashboard-alert"][data-acked="yes"]').waitFor({ timeout: 10_000 });
    await until('re-sorted', async () => (await rooms(page))[0] === 'ward-2', 5000);

    // The case record link opens the printable record with the supervisor's token.
    const href = await ward1.getByTestId('case-record').getAttribute('href');
    const rec = await page.request.get(new URL(href!, server.url).toString());
    expect(rec.status()).toBe(200);
    expect(await rec.text()).toContain('acknowledged');

    // A call that ends leaves the board, and its case record stays one click away.
    expect((await ask(ben, 'room.close', {})).ok).toBe(true);
    const ended = page.locator('[data-testid="ended-call"][data-room="ward-2"]');
    await ended.waitFor({ timeout: 10_000 });
    expect(await ended.textContent()).toMatch(/Dr Ben Ito with Sam Roe · 1 alert/);
    const endedRecord = await page.request.get(new URL((await ended.getByTestId('ended-record').getAttribute('href'))!, server.url).toString());
    expect(endedRecord.status()).toBe(200);
    expect(await endedRecord.text()).toMatch(/closed \d{4}-.*Sam Roe/s);
    await context.close();
  });
});
