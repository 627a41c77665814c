/**
 * The whole product in Chromium: callers' fake cameras play face fixtures through the real UI,
 * SFU and (embedded, separate-process) analyzer. A deepfake face drives the clinician's page to
 * ALERT; a real face stays CLEAR over the same time; the analysed caller's page receives no risk
 * event at all and shows the screening notice instead. On the production engine (mediasoup where
 * its worker runs): the slowest test, so it runs once; werift's e2e path is call.test.ts's.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinThroughUi, launchChromium, openJoinLink } from '../helpers/browser.ts';
import { faceFixture } from '../helpers/fixtures.ts';
import { PRODUCTION_ENGINE, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { embeddedAnalyzersUseFaceDecisiveConfig } from '../helpers/riskConfig.ts';

/**
 * Stated budget, from the fake caller being in the call to ALERT on the clinician's page. Measured
 * 7-12 s here with three Chromium instances and the analyzer sharing two cores; the budget leaves
 * room for a slower CI machine.
 */
const ALERT_WITHIN_MS = 45_000;

let server: TestServer;
const browsers: Array<{ browser: Browser; close: () => Promise<void> }> = [];

// The deepfake is a MesoNet-domain crop: its analyzer fuses with MesoNet decisive (helpers/riskConfig.ts).
const restoreEnv = embeddedAnalyzersUseFaceDecisiveConfig();

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'embedded', SFU_ENGINE: PRODUCTION_ENGINE });
  await waitFor('the analyzer', () => server.app.hub.status.available, 30_000);
});

afterAll(async () => {
  for (const b of browsers) await b.close();
  await server?.close();
  restoreEnv();
});

async function browser(fakeVideo?: string): Promise<Browser> {
  const b = await launchChromium(fakeVideo ? { fakeVideo } : {});
  browsers.push(b);
  return b.browser;
}

const riskEvents = (page: Page) => page.evaluate(() => (window as unknown as { __deepfakeShield: { riskEvents(): number } }).__deepfakeShield.riskEvents());
const badgeState = (page: Page, participant: string) =>
  page.locator(`[data-participant="${participant}"] [data-testid="risk-badge"]`).getAttribute('data-state', { timeout: 1000 }).catch(() => null);

describe(`live risk alerts in the call UI (${PRODUCTION_ENGINE})`, () => {
  it(`a deepfake caller reaches ALERT on the clinician's page within ${ALERT_WITHIN_MS / 1000} s; a real caller stays CLEAR; callers get no risk data`, { timeout: 180_000 }, async () => {
    const staff = await browser();
    const doctor = await openJoinLink(staff, server.url, 'demo', server.token('demo', 'clinician', 'Dr. Ode', { sub: 'doc' }));
    await joinThroughUi(doctor);

    // 1. The deepfake caller.
    const fakeBrowser = await launchChromium({ fakeVideo: faceFixture('faces/mesonet/df/df00204.jpg') });
    const fakePage = await openJoinLink(fakeBrowser.browser, server.url, 'demo', server.token('demo', 'patient', 'Fake Caller', { sub: 'fake' }));
    await joinThroughUi(fakePage);
    const t0 = Date.now();
    await doctor.locator('[data-participant="fake"] [data-testid="risk-badge"][data-state="ALERT"]').waitFor({ timeout: ALERT_WITHIN_MS });
    const alertMs = Date.now() - t0;
    console.log(`ALERT on the clinician's page ${alertMs} ms after the fake caller was in the call`);
    await doctor.getByTestId('alert-toast').waitFor({ timeout: 5000 });
    expect(await doctor.getByTestId('alert-toast').textContent()).toContain('Fake Caller');
    // In plain words (the detector's own sentence is one click away in the panel).
    expect(await doctor.getByTestId('alert-toast').textContent()).toMatch(/face swap/);
    expect(await doctor.getByTestId('alert-item').first().textContent()).toMatch(/Fake Caller: .*face swap/);
    await assertNoRiskData(fakePage);
    expect(await riskEvents(doctor)).toBeGreaterThan(0);

    // Acknowledging from the toast is recorded in the audit log.
    await doctor.getByTestId('alert-toast').getByRole('button', { name: 'Acknowledge' }).click();
    await doctor.locator('[data-testid="alert-item"][data-acked="yes"]').waitFor({ timeout: 5000 });
    const callId = server.app.risk.callId('demo')!;
    expect(server.app.audit.stateHistory(callId, 'fake').map((h) => h.state)).toContain('ALERT');
    await fakeBrowser.close();

    // 2. A real caller, watched for at least as long: never suspicious, CLEAR by the end.
    // A real face on a camera, not speaking (the voice gate skips Chromium's default beep). Not
    // speaking on purpose: a still photo that speaks is what a photo attack looks like. Its mouth
    // never moves with the speech, so lip-sync rightly leans fake, and with the virtual-camera flag
    // that every Chromium fake device gets, such a caller sat at the SUSPICIOUS entry (risk 0.43-0.46;
    // it crossed in CI on 2 Dec 2026 once the voice model counted from its first window). A real
    // voice through the live path reads natural in test/integration/analyzer.test.ts.
    const realBrowser = await launchChromium({ fakeVideo: faceFixture('faces/pexels/landmark_Test1.jpg') });
    browsers.push(realBrowser);
    const realPage = await openJoinLink(realBrowser.browser, server.url, 'demo', server.token('demo', 'patient', 'Real Caller', { sub: 'real' }));
    await joinThroughUi(realPage);
    const seen = new Set<string>();
    const until = Date.now() + Math.max(alertMs, 20_000);
    while (Date.now() < until) {
      const st = await badgeState(doctor, 'real');
      if (st) seen.add(st);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(seen.has('SUSPICIOUS') || seen.has('ALERT')).toBe(false);
    // CLEAR by the end. 30 s: on a loaded CI machine (three browsers, one of them running the
    // client-side face check, beside the SFU and the analyzer) the caller's video can stall for a
    // while, and the analyzer then rightly says DEGRADED, not CLEAR, until frames flow again
    // (seen once in CI on 2 Dec 2026, for 22 s).
    await doctor.locator('[data-participant="real"] [data-testid="risk-badge"][data-state="CLEAR"]').waitFor({ timeout: 30_000 });
    await assertNoRiskData(realPage);
  });
});

/** The analysed side: a notice, and not one risk event, badge, panel or toast. */
async function assertNoRiskData(page: Page): Promise<void> {
  await page.getByTestId('screening-notice').waitFor();
  expect(await riskEvents(page)).toBe(0);
  for (const id of ['risk-badge', 'risk-panel', 'alert-toast']) expect(await page.getByTestId(id).count()).toBe(0);
}
