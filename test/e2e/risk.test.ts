/**
 * The whole product in Chromium: callers' fake cameras play face fixtures through the real UI,
 * SFU and (embedded, separate-process) analyzer. A deepfake face drives the clinician's page to
 * ALERT; a real face stays CLEAR over the same time; the analysed caller's page receives no risk
 * event at all and shows the screening notice instead.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinThroughUi, launchChromium, openJoinLink } from '../helpers/browser.ts';
import { faceFixture } from '../helpers/fixtures.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

/** Stated budget: from the caller clicking Join to ALERT on the clinician's page. */
const ALERT_WITHIN_MS = 30_000;

let server: TestServer;
const browsers: Array<{ browser: Browser; close: () => Promise<void> }> = [];

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'embedded' });
  await waitFor('the analyzer', () => server.app.hub.status.available, 30_000);
});

afterAll(async () => {
  for (const b of browsers) await b.close();
  await server?.close();
});

async function browser(fakeVideo?: string): Promise<Browser> {
  const b = await launchChromium(fakeVideo ? { fakeVideo } : {});
  browsers.push(b);
  return b.browser;
}

const riskEvents = (page: Page) => page.evaluate(() => (window as unknown as { __deepfakeShield: { riskEvents(): number } }).__deepfakeShield.riskEvents());
const badgeState = (page: Page, participant: string) =>
  page.locator(`[data-participant="${participant}"] [data-testid="risk-badge"]`).getAttribute('data-state', { timeout: 1000 }).catch(() => null);

describe('live risk alerts in the call UI', () => {
  it(`a deepfake caller reaches ALERT on the clinician's page within ${ALERT_WITHIN_MS / 1000} s; a real caller stays CLEAR; callers get no risk data`, { timeout: 120_000 }, async () => {
    const staff = await browser();
    const doctor = await openJoinLink(staff, server.url, 'demo', server.token('demo', 'clinician', 'Dr. Ode', { sub: 'doc' }));
    const doctor2 = await openJoinLink(staff, server.url, 'calm', server.token('calm', 'clinician', 'Dr. Calm', { sub: 'doc2' }));
    await joinThroughUi(doctor);
    await joinThroughUi(doctor2);

    const fakePage = await openJoinLink(await browser(faceFixture('faces/mesonet/df/df00204.jpg')), server.url, 'demo', server.token('demo', 'patient', 'Fake Caller', { sub: 'fake' }));
    const realPage = await openJoinLink(await browser(faceFixture('faces/mesonet/real/real00240.jpg')), server.url, 'calm', server.token('calm', 'patient', 'Real Caller', { sub: 'real' }));
    const t0 = Date.now();
    await joinThroughUi(fakePage);
    await joinThroughUi(realPage);

    await doctor.locator('[data-participant="fake"] [data-testid="risk-badge"][data-state="ALERT"]').waitFor({ timeout: ALERT_WITHIN_MS });
    const alertMs = Date.now() - t0;
    console.log(`ALERT on the clinician's page ${alertMs} ms after the fake caller joined`);
    await doctor.getByTestId('alert-toast').waitFor({ timeout: 5000 });
    expect(await doctor.getByTestId('alert-toast').textContent()).toContain('Fake Caller');
    expect(await doctor.getByTestId('risk-reasons').first().textContent()).toMatch(/deepfakes/);

    // The real caller, over at least the same time: never suspicious, and CLEAR by the end.
    const seen = new Set<string>();
    const until = Date.now() + Math.max(alertMs, 10_000);
    while (Date.now() < until) {
      const s = await badgeState(doctor2, 'real');
      if (s) seen.add(s);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(seen.has('SUSPICIOUS') || seen.has('ALERT')).toBe(false);
    await doctor2.locator('[data-participant="real"] [data-testid="risk-badge"][data-state="CLEAR"]').waitFor({ timeout: 10_000 });

    // The analysed side: a notice, and not one risk event, badge, panel or toast.
    for (const page of [fakePage, realPage]) {
      await page.getByTestId('screening-notice').waitFor();
      expect(await riskEvents(page)).toBe(0);
      for (const id of ['risk-badge', 'risk-panel', 'alert-toast']) expect(await page.getByTestId(id).count()).toBe(0);
    }
    expect(await riskEvents(doctor)).toBeGreaterThan(0);

    // Acknowledging from the toast is recorded in the audit log.
    await doctor.getByTestId('alert-toast').getByRole('button', { name: 'Acknowledge' }).click();
    await doctor.locator('[data-testid="alert-item"][data-acked="yes"]').waitFor({ timeout: 5000 });
    const callId = server.app.risk.callId('demo')!;
    const alertId = await waitFor('an alert in the audit log', () => {
      const h = server.app.audit.stateHistory(callId, 'fake');
      return h.some((x) => x.state === 'ALERT') ? 'yes' : undefined;
    });
    expect(alertId).toBe('yes');
  });
});
