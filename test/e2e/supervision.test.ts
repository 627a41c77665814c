/**
 * Supervision end to end, in Debian's Chromium against the real server, SFU and (separate-process)
 * analyzer, with `npm run simulate` callers as separate processes:
 *  - the supervisor dashboard shows a simulated deepfake caller in one call reaching ALERT and a
 *    real caller in another staying clear, filters by state, records an acknowledgement with its
 *    note in the audit log, and opens a call as a silent observer; other tokens are refused;
 *  - a clinician presses "Verify liveness": a caller who makes the movements passes, one who
 *    ignores the instructions fails; the caller's page shows the instructions only.
 * The simulated faces are animated stills (see FaceAnimator): they prove the product's path from
 * camera to verdict, not how well it recognises real people's movements.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dashboardLink } from '../../server/src/http/joinLink.ts';
import type { ChallengeSample } from '../../server/src/protocol/challenge.ts';
import { ALL_ROOMS } from '../../server/src/protocol/dashboard.ts';
import { issueToken } from '../../server/src/auth/token.ts';
import { launchChromium, openJoinLink, joinThroughUi } from '../helpers/browser.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { simulateCaller, type SimulatedProcess } from '../helpers/simulate.ts';
import { embeddedAnalyzersUseFaceDecisiveConfig } from '../helpers/riskConfig.ts';

let server: TestServer;
let browser: { browser: Browser; close: () => Promise<void> };
const callers: SimulatedProcess[] = [];

// The simulated deepfake is a MesoNet-domain crop: its analyzer fuses with MesoNet decisive (helpers/riskConfig.ts).
const restoreEnv = embeddedAnalyzersUseFaceDecisiveConfig();

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'embedded', ROOMS: 'alpha,beta,gamma,delta' });
  browser = await launchChromium();
  await waitFor('the analyzer', () => server.app.hub.status.available, 60_000, 200);
}, 90_000);

afterEach(async () => {
  await Promise.all(callers.splice(0).map((c) => c.stop()));
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  restoreEnv();
});

function call(room: string, clip: 'real' | 'fake', respond = true): SimulatedProcess {
  const c = simulateCaller(server, { room, sub: `${room}-caller`, clip, respond, name: `${clip} caller` });
  callers.push(c);
  return c;
}

async function openDashboard(token: string): Promise<Page> {
  const page = await (await browser.browser.newContext()).newPage();
  page.on('pageerror', (err) => console.error(`[dashboard page error] ${err.message}`));
  await page.goto(dashboardLink(server.url, token));
  return page;
}

const dashboardToken = (name = 'Sam Supervisor', sub = 'sam') => issueToken(server.config.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name, sub, ttlSeconds: 600 });

describe('supervisor dashboard', () => {
  it('shows every call live: a deepfake caller in ALERT, a real one clear; filter, acknowledge with a note, observe', { timeout: 180_000 }, async () => {
    const board = await openDashboard(dashboardToken());
    await board.getByTestId('dashboard-connection').and(board.locator('[data-connected="true"]')).waitFor({ timeout: 15000 });
    // Configured rooms show even while empty.
    await board.locator('[data-testid="call-card"][data-room="alpha"]').waitFor({ timeout: 10000 });

    const fake = call('alpha', 'fake');
    const real = call('beta', 'real');
    await Promise.all([fake.joined, real.joined]);
    const t0 = Date.now();
    await board.locator('[data-testid="call-card"][data-room="alpha"][data-state="ALERT"]').waitFor({ timeout: 90_000 });
    console.log(`dashboard showed ALERT for the simulated deepfake ${Date.now() - t0} ms after both callers joined`);
    const alpha = board.locator('[data-testid="call-card"][data-room="alpha"]');
    expect(await alpha.locator('[data-testid="dashboard-participant"][data-participant="alpha-caller"]').getAttribute('data-state')).toBe('ALERT');
    expect(await alpha.getByTestId('dashboard-alert').textContent()).toMatch(/fake caller: .*deepfakes/);
    // The real caller's call is judged clear over the same time.
    await board.locator('[data-testid="call-card"][data-room="beta"][data-state="CLEAR"]').waitFor({ timeout: 30_000 });
    expect(await board.locator('[data-testid="call-card"][data-room="beta"]').getByTestId('dashboard-alert').count()).toBe(0);

    // Filter by state.
    await board.getByTestId('state-filter').selectOption('ALERT');
    await waitFor('filtered', async () => (await board.getByTestId('call-card').count()) === 1, 5000);
    expect(await board.getByTestId('call-card').getAttribute('data-room')).toBe('alpha');
    await board.getByTestId('state-filter').selectOption('CLEAR');
    await board.locator('[data-testid="call-card"][data-room="beta"]').waitFor({ timeout: 5000 });
    expect(await board.locator('[data-testid="call-card"][data-room="alpha"]').count()).toBe(0);
    await board.getByTestId('state-filter').selectOption('ALL');

    // Acknowledge with a note: the card says so and the audit log keeps who, when and the note.
    await alpha.getByTestId('dashboard-note').fill('Called the customer back on the number on file.');
    await alpha.getByTestId('dashboard-ack').click();
    await alpha.locator('[data-testid="dashboard-alert"][data-acked="yes"]').waitFor({ timeout: 10000 });
    expect(await alpha.getByTestId('dashboard-alert').textContent()).toContain('Acknowledged by Sam Supervisor: Called the customer back');
    const alertId = server.app.risk.alerts('alpha')[0]!.id;
    expect(server.app.audit.alertViews(alertId)).toContainEqual(
      expect.objectContaining({ viewerId: 'sam', viewerRole: 'supervisor', acknowledgedAt: expect.any(Number), note: 'Called the customer back on the number on file.' }),
    );

    // Observe: the same token opens the call page as a silent, receive-only observer.
    const href = await alpha.getByTestId('observe').getAttribute('href');
    const observer = await (await browser.browser.newContext()).newPage();
    await observer.goto(new URL(href!, server.url).toString());
    await joinThroughUi(observer);
    await observer.getByTestId('observer').waitFor({ timeout: 10000 });
    await observer.locator('[data-participant="alpha-caller"] [data-testid="risk-badge"][data-state="ALERT"]').waitFor({ timeout: 15000 });
    const people = server.app.registry.get('alpha')!.all().map((p) => [p.id, p.role]);
    expect(people).toContainEqual(['sam', 'supervisor']);
    await observer.close();
    await board.close();
  });

  it('refuses anyone but a supervisor with a dashboard link', { timeout: 60_000 }, async () => {
    for (const [token, code] of [
      [server.token('alpha', 'clinician', 'Dr'), 'FORBIDDEN'],
      [server.token('alpha', 'supervisor', 'One-call supervisor'), 'FORBIDDEN'],
      ['not-a-token', 'TOKEN_MALFORMED'],
    ] as const) {
      const page = await openDashboard(token);
      const error = page.getByTestId('dashboard-error');
      await error.waitFor({ timeout: 15000 });
      expect(await error.getAttribute('data-code')).toBe(code);
      expect(await page.getByTestId('call-card').count()).toBe(0);
      await page.close();
    }
    // An all-calls token can only be a supervisor's.
    expect(() => issueToken(server.config.tokenSecret, { room: ALL_ROOMS, role: 'clinician', name: 'Dr', ttlSeconds: 60 })).toThrow(/only supervisors/);
  });
});

describe('liveness challenge from the clinician\'s page', () => {
  async function clinicianPage(room: string): Promise<Page> {
    const page = await openJoinLink(browser.browser, server.url, room, server.token(room, 'clinician', 'Dr. Ode', { sub: `${room}-doc` }));
    await joinThroughUi(page);
    return page;
  }

  async function verify(page: Page, caller: SimulatedProcess): Promise<{ state: string; text: string }> {
    const subject = page.locator(`[data-testid="risk-subject"][data-participant="${caller.sub}"]`);
    // Wait until the analyzer has judged the face, then ask.
    await subject.getByTestId('risk-reasons').waitFor({ timeout: 60_000 });
    // What the analyzer measured, printed with the verdict: the first thing to read when a run surprises.
    const samples: ChallengeSample[] = [];
    const onSample = (_room: string, participantId: string, _id: string, s: ChallengeSample) => participantId === caller.sub && samples.push(s);
    server.app.hub.on('challenge-sample', onSample);
    const clicked = Date.now();
    await subject.getByTestId('verify-liveness').click();
    await subject.locator('[data-testid="challenge"][data-state="RUNNING"]').waitFor({ timeout: 10_000 });
    const result = subject.getByTestId('challenge-result');
    await result.waitFor({ timeout: 45_000 });
    // The time a clinician waits (issue 14's target: 12 s on a quiet machine); printed, not asserted.
    console.log(`liveness verdict ${((Date.now() - clicked) / 1000).toFixed(1)} s after the click`);
    server.app.hub.off('challenge-sample', onSample);
    const t0 = samples[0]?.at ?? 0;
    console.log(`samples (s: yaw/pitch/mouth/occlusion): ${samples.map((x) => `${((x.at - t0) / 1000).toFixed(1)}:${x.face ? `${x.yaw}/${x.pitch}/${x.mouth}/${x.occlusion ?? '-'}` : 'none'}`).join(' ')}`);
    console.log(caller.lines.filter((l) => l.includes('challenge')).join('\n'));
    return { state: (await result.getAttribute('data-state')) ?? '', text: (await subject.getByTestId('challenge').textContent()) ?? '' };
  }

  it('a caller who turns their head when asked PASSES', { timeout: 150_000 }, async () => {
    const page = await clinicianPage('gamma');
    const caller = call('gamma', 'real', true);
    await caller.joined;
    const r = await verify(page, caller);
    console.log(`liveness (responding caller): ${r.text}`);
    expect(r.state).toBe('PASSED');
    // The caller was shown each instruction.
    expect(caller.lines.filter((l) => /challenge \d\/3: .* -> doing it/.test(l))).toHaveLength(3);
    await page.close();
  });

  it('a caller who ignores the instructions is INCONCLUSIVE, "ask again", with reasons', { timeout: 150_000 }, async () => {
    const page = await clinicianPage('delta');
    const caller = call('delta', 'real', false);
    await caller.joined;
    const r = await verify(page, caller);
    console.log(`liveness (ignoring caller): ${r.text}`);
    expect(r.state).toBe('INCONCLUSIVE');
    expect(r.text).toMatch(/ask again/);
    expect(r.text).toMatch(/Did not|stayed uncovered|other way/);
    expect(caller.lines.filter((l) => /challenge \d\/3: .* -> ignoring it/.test(l))).toHaveLength(3);
    await page.close();
  });

  it('the caller\'s page shows each instruction, and never a score or verdict', { timeout: 120_000 }, async () => {
    const doctor = await clinicianPage('alpha');
    const patientPage = await openJoinLink(browser.browser, server.url, 'alpha', server.token('alpha', 'patient', 'Pat', { sub: 'alpha-pat' }));
    await joinThroughUi(patientPage);
    const subject = doctor.locator('[data-testid="risk-subject"][data-participant="alpha-pat"]');
    // Every prompt text the caller's page shows is recorded as it appears: reading the prompt after
    // a wait raced the challenge on a loaded machine (CI once read "2 of 3", the first step done).
    await patientPage.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __prompts: string[] }).__prompts = seen;
      const record = () => {
        const text = document.querySelector('[data-testid="challenge-prompt"]')?.textContent ?? '';
        const step = /Quick check \d of 3/.exec(text)?.[0];
        if (step && seen[seen.length - 1] !== step) seen.push(step);
      };
      new MutationObserver(record).observe(document.body, { childList: true, subtree: true, characterData: true });
    });
    await subject.getByTestId('verify-liveness').click();
    await patientPage.getByTestId('challenge-prompt').waitFor({ timeout: 15_000 });
    await subject.getByTestId('challenge-result').waitFor({ timeout: 45_000 });
    const prompts = await patientPage.evaluate(() => (window as unknown as { __prompts: string[] }).__prompts);
    expect(prompts).toEqual(['Quick check 1 of 3', 'Quick check 2 of 3', 'Quick check 3 of 3']);
    const riskEvents = await patientPage.evaluate(() => (window as unknown as { __deepfakeShield: { riskEvents(): number } }).__deepfakeShield.riskEvents());
    expect(riskEvents).toBe(0);
    expect(await patientPage.getByTestId('challenge-result').count()).toBe(0);
    await patientPage.close();
    await doctor.close();
  });
});
