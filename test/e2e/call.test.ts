/**
 * Real browsers through the real UI, server and SFU: Chromium pages join with tokens, see and hear
 * each other, a supervisor watches silently, and broken links or blocked cameras get clear screens.
 * The call itself runs on each SFU engine.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Participant } from '../../server/src/signaling/CallRoom.ts';
import { joinLink } from '../../server/src/http/joinLink.ts';
import { joinThroughUi, launchChromium, openJoinLink, pageStats, waitForMediaFrom } from '../helpers/browser.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;

beforeAll(async () => {
  server = await startTestServer();
  ({ browser, close: closeBrowser } = await launchChromium());
});

afterAll(async () => {
  await closeBrowser?.();
  await server?.close();
});

const ids = { doctor: 'e2e-doctor', patient: 'e2e-patient', supervisor: 'e2e-supervisor' };

describe.each(ENGINES)('a call in the browser (%s)', (engine) => {
  // This block's own server, on its engine; the other blocks use the file's.
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ SFU_ENGINE: engine });
  });
  let doctor: Page;
  let patient: Page;
  let supervisor: Page | undefined;
  afterAll(async () => {
    // Pages left open would keep reconnecting to this closed server.
    for (const p of [doctor, patient, supervisor] as Array<Page | undefined>) await p?.context().close();
    await server.close();
  });

  it('clinician and patient join through the UI and each receives the other’s video and audio within 10 s', async () => {
    doctor = await openJoinLink(browser, server.url, 'demo', server.token('demo', 'clinician', 'Dr. Grey', { sub: ids.doctor }));
    patient = await openJoinLink(browser, server.url, 'demo', server.token('demo', 'patient', 'Pat Lee', { sub: ids.patient }));
    await joinThroughUi(doctor);
    await joinThroughUi(patient);
    const t0 = Date.now();
    await waitForMediaFrom(doctor, ids.patient, 10000);
    await waitForMediaFrom(patient, ids.doctor, 10000);
    expect(Date.now() - t0).toBeLessThan(10000);
    // The remote tile really plays the video.
    const size = await doctor.getByTestId('remote-video').first().evaluate((v: HTMLVideoElement) => [v.videoWidth, v.videoHeight]);
    expect(size[0]).toBeGreaterThan(0);
    await expect(doctor.locator(`[data-participant="${ids.patient}"] figcaption`).textContent()).resolves.toContain('Pat Lee');
  });

  // On mediasoup this once failed in 2 of 3 full CI runs (audio but never video for the late,
  // hidden subscriber; it never failed alone). The peer now asks again for a keyframe when a
  // resumed video consumer forwards nothing, and keeps a floor under the receive-side bandwidth
  // estimate (MediasoupPeer: VIDEO_START_CHECK_MS, MIN_OUTGOING_BITRATE); it logs when it has to.
  it('a supervisor receives both and sends nothing, and the patient is not told it is there', async () => {
    supervisor = await openJoinLink(browser, server.url, 'demo', server.token('demo', 'supervisor', 'Sam Super', { sub: ids.supervisor }));
    await joinThroughUi(supervisor);
    // A hidden subscriber is served from the next scheduled keyframe, not a request of its own
    // (RTC_KEYFRAME_INTERVAL_S, 5 s), so its video may start that much later than a participant's.
    await waitForMediaFrom(supervisor, ids.doctor, 20_000);
    const stats = await waitForMediaFrom(supervisor, ids.patient, 20_000);
    expect(stats.outbound).toEqual([]);
    await supervisor.getByTestId('observer').waitFor();
    await doctor.locator(`[data-participant="${ids.supervisor}"]`).waitFor();
    expect(await patient.locator('[data-role="supervisor"]').count()).toBe(0);
    // Nobody receives media from the supervisor.
    expect((await pageStats(doctor)).inbound.filter((s) => s.participantId === ids.supervisor)).toEqual([]);
  });

  it('mute shows on the other side', async () => {
    await patient.getByTestId('toggle-audio').click();
    await doctor.locator(`[data-participant="${ids.patient}"] [data-testid="muted"]`).waitFor({ timeout: 5000 });
    await patient.getByTestId('toggle-audio').click();
    await doctor.locator(`[data-participant="${ids.patient}"] [data-testid="muted"]`).waitFor({ state: 'detached', timeout: 5000 });
  });

  it('the patient reconnects by itself after a network blip and media flows again', async () => {
    const p = server.app.registry.get('demo')!.get(ids.patient) as Participant;
    const socket = p.channel as unknown as { conn: { close(): void } };
    socket.conn.close(); // drop the transport as a network blip would
    await patient.getByTestId('reconnecting').waitFor({ timeout: 5000 }).catch(() => undefined);
    await waitFor('the patient to rejoin', () => {
      const again = server.app.registry.get('demo')?.get(ids.patient);
      return again && again !== p;
    }, 15000);
    await patient.getByTestId('reconnecting').waitFor({ state: 'detached', timeout: 15000 });
    await waitForMediaFrom(doctor, ids.patient, 15000);
    await waitForMediaFrom(patient, ids.doctor, 15000);
  });

  it('leaving shows the left screen; the host ending the call tells everyone', async () => {
    if (supervisor) {
      await supervisor.getByTestId('leave').click();
      await supervisor.getByTestId('left').waitFor();
    }
    await doctor.getByTestId('end-call').click();
    // It asks first.
    await doctor.getByTestId('end-call-confirm').click();
    await patient.getByTestId('ended').waitFor({ timeout: 5000 });
    expect(await patient.getByTestId('ended').textContent()).toContain('Dr. Grey ended the call');
  });
});

describe('screens for what went wrong', () => {
  it.each([
    ['a tampered token', (t: string) => t.slice(0, -3) + 'AAA', 'This link is not valid'],
    ['an expired token', () => server.token('demo', 'patient', 'Late', { ttlSeconds: -120 }), 'This link has expired'],
    ['a token for another room', () => server.token('other', 'patient'), 'This link is not valid'],
  ])('%s is refused before the camera is asked for and before Join', async (_label, makeToken, title) => {
    const context = await browser.newContext();
    // Count camera requests: a bad link must not ask for the camera at all.
    await context.addInitScript(() => {
      const md = navigator.mediaDevices;
      const w = window as unknown as { __cameraAsked: number };
      w.__cameraAsked = 0;
      const orig = md.getUserMedia.bind(md);
      md.getUserMedia = (c) => {
        w.__cameraAsked++;
        return orig(c);
      };
    });
    const page = await context.newPage();
    await page.goto(joinLink(server.url, 'demo', makeToken(server.token('demo', 'patient'))));
    await page.getByTestId('error').waitFor({ timeout: 10000 });
    expect(await page.getByTestId('error').textContent()).toContain(title);
    expect(await page.evaluate(() => (window as unknown as { __cameraAsked: number }).__cameraAsked)).toBe(0);
    expect(await page.getByTestId('join').count()).toBe(0);
    await context.close();
  });

  it('a second link opened in the same tab, which differs only in its fragment, is the one used (the page loads again)', async () => {
    const page = await (await browser.newContext()).newPage();
    const good = server.token('demo', 'patient', 'Second Link');
    await page.goto(joinLink(server.url, 'demo', good.slice(0, -3) + 'AAA'));
    await page.getByTestId('error').waitFor({ timeout: 10000 });
    // The address bar now reads /room/demo: the good link changes only the fragment.
    expect(new URL(page.url()).hash).toBe('');
    await page.goto(joinLink(server.url, 'demo', good));
    await page.getByTestId('join').waitFor({ timeout: 10000 });
    expect(new URL(page.url()).hash).toBe('');
    await page.context().close();
  });

  it('a link without a token shows the error screen at once', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/room/demo`);
    expect(await page.getByTestId('error').textContent()).toContain('This link is not valid');
    await page.context().close();
  });

  it('a patient arriving before the host waits in the waiting room and joins by itself when the host opens the call', { timeout: 60_000 }, async () => {
    const page = await openJoinLink(browser, server.url, 'later', server.token('later', 'patient', 'Early Pat', { sub: 'early-pat' }));
    await page.getByTestId('join').click();
    await page.getByTestId('waiting-room').waitFor({ timeout: 10000 });
    expect(await page.getByTestId('waiting-room').textContent()).toMatch(/Waiting for your host/);
    const host = await openJoinLink(browser, server.url, 'later', server.token('later', 'clinician', 'Dr. Late', { sub: 'late-doc' }));
    await joinThroughUi(host);
    await page.getByTestId('call').waitFor({ timeout: 20000 });
    await waitForMediaFrom(host, 'early-pat', 15000);
    await page.context().close();
    await host.context().close();
  });

  it('a blocked camera shows how to allow it', async () => {
    const denied = await launchChromium({ permissions: 'deny' });
    try {
      const page = await openJoinLink(denied.browser, server.url, 'demo', server.token('demo', 'patient'));
      await page.getByTestId('media-error').waitFor({ timeout: 10000 });
      expect(await page.getByTestId('media-error').textContent()).toContain('Camera access was blocked');
    } finally {
      await denied.close();
    }
  });
});

describe('analysis status in the call UI', () => {
  it('the clinician sees "analysis unavailable" while the analyzer is down; the patient never does', async () => {
    const s = await startTestServer({ ANALYZER: 'embedded', ANALYZER_STALL_MS: '3000', ANALYZER_HEARTBEAT_MS: '300' });
    try {
      const doc = await openJoinLink(browser, s.url, 'demo', s.token('demo', 'clinician', 'Dr. Kim', { sub: 'doc' }));
      const pat = await openJoinLink(browser, s.url, 'demo', s.token('demo', 'patient', 'Pat', { sub: 'pat' }));
      await joinThroughUi(doc);
      await joinThroughUi(pat);
      // Once the analyzer is up, no banner.
      await waitFor('the analyzer to be up', () => s.app.hub.status.available, 30000);
      await doc.getByTestId('analysis-unavailable').waitFor({ state: 'detached', timeout: 30000 });
      process.kill(s.app.analyzer!.pid!, 'SIGKILL');
      await doc.getByTestId('analysis-unavailable').waitFor({ timeout: 5000 });
      expect(await doc.getByTestId('analysis-unavailable').textContent()).toContain('the call continues');
      await waitForMediaFrom(doc, 'pat', 5000); // the call goes on
      await doc.getByTestId('analysis-unavailable').waitFor({ state: 'detached', timeout: 30000 });
      expect(await pat.getByTestId('analysis-unavailable').count()).toBe(0);
      await doc.context().close();
      await pat.context().close();
    } finally {
      await s.close();
    }
  });
});
