/**
 * The call page as its users meet it, in Chromium at desktop, laptop, tablet and phone sizes:
 *  - the clinician's page with a deepfake caller in ALERT, the alert and the screening panel open:
 *    every control in view, none overlapping, the self-view over none of them, the alert over no
 *    video; Mute, Leave, End call and Acknowledge in view without scrolling;
 *  - the caller's page during a liveness instruction: their own view (with a face outline) and
 *    their controls stay in view; the clinician sees the check's progress and time left;
 *  - axe-core finds no serious or critical accessibility violation on the lobby, the call (both
 *    sides) and the error pages.
 * One browser (both sides play the same deepfake still as their camera; only the caller is
 * analysed), one server; screenshots go to test-artifacts/call-ui/ for CI to keep.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinThroughUi, launchChromium, openJoinLink } from '../helpers/browser.ts';
import { faceFixture } from '../helpers/fixtures.ts';
import { layoutProblems, screenshot, seriousAxeViolations, unreachableByKeyboard, VIEWPORTS, type AxeViolation } from '../helpers/pageChecks.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { embeddedAnalyzersUseFaceDecisiveConfig } from '../helpers/riskConfig.ts';

let server: TestServer;
let chromium: { browser: Browser; close: () => Promise<void> };

// The deepfake is a MesoNet-domain crop: its analyzer fuses with MesoNet decisive (helpers/riskConfig.ts).
const restoreEnv = embeddedAnalyzersUseFaceDecisiveConfig();

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'embedded' });
  chromium = await launchChromium({ fakeVideo: faceFixture('faces/mesonet/df/df00204.jpg') });
  await waitFor('the analyzer', () => server.app.hub.status.available, 60_000, 200);
}, 90_000);

afterAll(async () => {
  await chromium?.close();
  await server?.close();
  restoreEnv();
});

const tid = (id: string) => `[data-testid="${id}"]`;

async function axeClean(page: Page, what: string): Promise<void> {
  const v: AxeViolation[] = await seriousAxeViolations(page);
  expect(v, `${what}: ${JSON.stringify(v, null, 1)}`).toEqual([]);
}

/** Checks the page at every size; returns the problems found, by size. */
async function atEverySize(page: Page, name: string, check: (page: Page) => Promise<string[]>): Promise<string[]> {
  const problems: string[] = [];
  for (const vp of VIEWPORTS) {
    const t0 = Date.now();
    await page.setViewportSize(vp);
    // Let the layout (and any transition) settle.
    await page.waitForTimeout(250);
    const found = await check(page);
    await screenshot(page, 'call-ui', `${name}-${vp.width}x${vp.height}`);
    problems.push(...found.map((p) => `${vp.width}x${vp.height}: ${p}`));
    console.log(`${name} at ${vp.width}x${vp.height}: checked in ${Date.now() - t0} ms, ${found.length} problems`);
  }
  return problems;
}

/** Whether two elements' boxes intersect (by more than a pixel each way). */
async function intersects(page: Page, a: string, b: string): Promise<string[]> {
  return page.evaluate(
    ([a, b]) => {
      const out: string[] = [];
      for (const x of document.querySelectorAll(a)) {
        const r = x.getBoundingClientRect();
        for (const y of document.querySelectorAll(b)) {
          const s = y.getBoundingClientRect();
          const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
          const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
          if (w > 1 && h > 1) out.push(`${a} overlaps ${b} (${Math.round(w)}x${Math.round(h)} px)`);
        }
      }
      return out;
    },
    [a, b] as const,
  );
}

describe('call page layout and accessibility', () => {
  it('lobby and error pages: no serious accessibility violations; bad links are refused', { timeout: 60_000 }, async () => {
    const lobby = await openJoinLink(chromium.browser, server.url, 'demo', server.token('demo', 'patient', 'Pat Lee', { sub: 'lobby-pat' }));
    await lobby.getByTestId('lobby').waitFor();
    await lobby.locator('.preview video').waitFor();
    // The token is out of the address bar (a screen share, the history), and a reload still joins.
    expect(new URL(lobby.url()).search).toBe('');
    await lobby.reload();
    await lobby.getByTestId('lobby').waitFor();
    expect(new URL(lobby.url()).search).toBe('');
    await axeClean(lobby, 'lobby');
    await screenshot(lobby, 'call-ui', 'lobby');
    await lobby.close();

    const ctx = await chromium.browser.newContext();
    const bad = await ctx.newPage();
    await bad.goto(`${server.url}/room/demo`);
    await bad.getByTestId('error').waitFor();
    await axeClean(bad, 'error page');
    await screenshot(bad, 'call-ui', 'error-bad-link');
    await ctx.close();
  });

  it('clinician page, deepfake caller in ALERT with the alert open: every control in view, nothing overlapping, at every size', { timeout: 300_000 }, async () => {
    const doctor = await openJoinLink(chromium.browser, server.url, 'demo', server.token('demo', 'clinician', 'Dr. Ode', { sub: 'doc' }));
    await joinThroughUi(doctor);
    const caller = await openJoinLink(chromium.browser, server.url, 'demo', server.token('demo', 'patient', 'Fake Caller', { sub: 'fake' }));
    await joinThroughUi(caller);
    await doctor.locator(`[data-participant="fake"] ${tid('risk-badge')}[data-state="ALERT"]`).waitFor({ timeout: 120_000 });
    const toast = doctor.getByTestId('alert-toast');
    await toast.waitFor({ timeout: 20_000 });

    // The badge says the state in words; no bare number anywhere on the tile.
    const badge = (await doctor.locator(`[data-participant="fake"] ${tid('risk-badge')}`).textContent())!;
    expect.soft(badge).toMatch(/Alert/);
    expect.soft(badge).not.toMatch(/\d/);
    expect.soft(await doctor.locator(`${tid('remote-tile')}[data-participant="fake"]`).getAttribute('data-frame')).toBe('alert');
    // Reasons in plain words, concerns marked apart from reassurance, the analyzer's sentence one click away.
    // (Which reasons show moves with the live analysis; the alert's own reason is steady.)
    expect.soft(await toast.textContent()).toMatch(/face swap/);
    expect.soft(await toast.textContent()).not.toMatch(/MesoNet|%/);
    const subject = doctor.locator(`${tid('risk-subject')}[data-participant="fake"]`);
    const concern = subject.locator(`${tid('risk-reason')}[data-kind="concern"]`).first();
    const plain = (await concern.locator('summary').textContent())!;
    expect.soft(plain).not.toMatch(/MesoNet|bona fide|calibrated|\d+%/);
    await concern.locator('summary').click();
    const detail = (await concern.locator('.detail').textContent())!;
    expect.soft(detail.length).toBeGreaterThan(10);
    expect.soft(detail).not.toContain(plain.replace(/^!Concern: /, ''));
    expect.soft(await subject.getByTestId('risk-score').textContent()).toMatch(/^risk \d+%$/);
    // One Acknowledge for this alert: the toast's.
    expect.soft(await doctor.getByRole('button', { name: 'Acknowledge' }).count()).toBe(1);
    // State changes are announced.
    expect.soft(await doctor.getByTestId('state-announcer').textContent()).toMatch(/Fake Caller: Alert/);

    const problems = await atEverySize(doctor, 'clinician-alert', async (page) => [
      ...(await layoutProblems(page, {
        pageScroll: false,
        fixed: [tid('toggle-audio'), tid('toggle-video'), tid('leave'), tid('end-call'), tid('toast-ack')],
        noCover: [tid('self-view')],
      })),
      // The alert never covers a face or a badge.
      ...(await intersects(page, tid('alert-toast'), tid('remote-tile'))),
      // On a phone the alert stays compact (title, two lines of reason, one row of buttons): it
      // took four rows before the note field went behind a button on phones.
      ...(await page.evaluate(() => {
        const t = document.querySelector('[data-testid="alert-toast"]')!.getBoundingClientRect();
        return { height: Math.round(t.height), width: innerWidth };
      }).then(({ height, width }) => {
        console.log(`alert toast ${height} px tall at ${width} px wide`);
        return width <= 560 && height > 150 ? [`the alert is ${height} px tall on a phone`] : [];
      })),
      // "End call for all" on one line.
      ...(await page.evaluate(() => {
        const b = document.querySelector('[data-testid="end-call"]')!;
        const lines = Math.round(b.getBoundingClientRect().height / parseFloat(getComputedStyle(b).lineHeight || '20'));
        return b.getBoundingClientRect().height > 48 ? [`"End call for all" wraps (${lines} lines)`] : [];
      })),
    ]);
    expect.soft(problems).toEqual([]);
    await doctor.setViewportSize({ width: 1280, height: 720 });
    await axeClean(doctor, 'clinician call page in ALERT');
    expect.soft(await unreachableByKeyboard(doctor)).toEqual([]);

    // Acknowledge shows that it is pending, then the timeline says who acknowledged.
    await doctor.getByTestId('toast-note').fill('Asked for ID.');
    await doctor.getByTestId('toast-ack').click();
    await doctor.locator(`${tid('alert-item')}[data-acked="yes"]`).waitFor({ timeout: 30_000 });
    expect(await doctor.getByTestId('alert-item').first().textContent()).toContain('Acknowledged by Dr. Ode: Asked for ID.');
    expect(await doctor.getByTestId('alert-toast').count()).toBe(0);

    // The patient's page: a liveness instruction keeps their own view (with the outline) and controls in view.
    await subject.getByTestId('verify-liveness').click();
    await subject.getByTestId('challenge-progress').waitFor({ timeout: 30_000 });
    // The clinician sees how long is left.
    await subject.getByTestId('challenge-time-left').waitFor({ timeout: 30_000 });
    expect.soft(await subject.getByTestId('challenge-time-left').textContent()).toMatch(/about \d+ s left/);
    // An instruction on the caller's page; when the check is over, ask again (three steps last ~15 s).
    const promptShown = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        if (await caller.getByTestId('challenge-prompt').waitFor({ timeout: 12_000 }).then(() => true, () => false)) return;
        if (await subject.getByTestId('challenge-result').count()) await subject.getByTestId('verify-liveness').click();
      }
      throw new Error("no liveness instruction on the caller's page");
    };
    /** Which instruction shows (its action and "Quick check k of n"), or null between them. */
    const which = () =>
      caller
        .getByTestId('challenge-prompt')
        .evaluate((el) => `${el.getAttribute('data-action')}|${el.querySelector('.step')?.textContent ?? ''}`, undefined, { timeout: 500 })
        .catch(() => null);
    const patientProblems: string[] = [];
    for (const vp of VIEWPORTS) {
      await caller.setViewportSize(vp);
      // The measurements hold only while one instruction shows: a step can end while they run
      // (steps last ~5 s; these checks take seconds on a loaded machine, and CI caught both the
      // countdown and the prompt gone mid-check on 2 Dec). So measure again, up to five times,
      // when the instruction changed or went away meanwhile.
      let problems: string[] = [];
      let secondsLeft: string | null = null;
      for (let attempt = 1; ; attempt++) {
        await promptShown();
        const before = await which();
        // Read at once: the countdown is the first thing to go.
        secondsLeft = await caller.getByTestId('prompt-seconds').textContent({ timeout: 2000 }).catch(() => null);
        await caller.waitForTimeout(150);
        problems = [
          ...(await layoutProblems(caller, { pageScroll: false, fixed: [tid('toggle-audio'), tid('toggle-video'), tid('leave')] })).map((p) => `${vp.width}x${vp.height}: ${p}`),
          ...(await caller.evaluate(() => {
            const out: string[] = [];
            const inView = (sel: string) => {
              const el = document.querySelector(sel);
              if (!el) return out.push(`${sel} is not shown`);
              const r = el.getBoundingClientRect();
              if (r.top < 0 || r.left < 0 || r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5 || r.height < 100) out.push(`${sel} is not fully in view at a usable size (${Math.round(r.width)}x${Math.round(r.height)} at ${Math.round(r.left)},${Math.round(r.top)})`);
              return 0;
            };
            inView('[data-testid="self-view"]');
            inView('[data-testid="face-outline"]');
            inView('[data-testid="challenge-prompt"]');
            return out;
          })).map((p) => `${vp.width}x${vp.height}: ${p}`),
        ];
        const after = await which();
        // The page's own evaluation also saw whether the instruction was there throughout.
        const instructionGone = problems.some((p) => p.endsWith('[data-testid="challenge-prompt"] is not shown'));
        if ((before !== null && after === before && !instructionGone) || attempt === 5) break;
      }
      patientProblems.push(...problems);
      expect.soft(secondsLeft, 'the countdown beside the instruction').toMatch(/^\d s$/);
      await screenshot(caller, 'call-ui', `patient-liveness-${vp.width}x${vp.height}`);
      // Accessibility while the instruction shows (the check's three steps last about 15 s in all).
      if (vp.width === 1440) await axeClean(caller, 'patient call page during a liveness instruction');
    }
    expect.soft(patientProblems).toEqual([]);
    await subject.getByTestId('challenge-result').waitFor({ timeout: 45_000 });
    // Never a verdict on the caller's side.
    expect(await caller.getByTestId('challenge-result').count()).toBe(0);

    // "End call for all" asks first.
    await doctor.getByTestId('end-call').click();
    await doctor.getByTestId('end-call-cancel').click();
    expect(await doctor.getByTestId('call').count()).toBe(1);
    await doctor.getByTestId('end-call').click();
    await doctor.getByTestId('end-call-confirm').click();
    await caller.getByTestId('ended').waitFor({ timeout: 30_000 });
    await doctor.close();
    await caller.close();
  });
});

