/**
 * A caller's video stops reaching the analyzer while their camera is on (a frozen virtual camera,
 * a network that stopped delivering): the clinician's page, in Chromium, shows "Analysis degraded"
 * and says the caller's video is not reaching the analysis server, not CLEAR on the voice alone;
 * when frames come back, CLEAR. The caller is a headless wrtc participant (its frames can be held
 * while its track stays live); server, SFU and the embedded analyzer process are the product's.
 * While stalled, the analyzer asks the server to refresh the video (media.refresh). A screenshot
 * of the panel goes to test-artifacts/stall/ for CI to keep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant } from '../../server/src/headless/HeadlessParticipant.ts';
import { LoopedAudio, SyntheticVideo } from '../../server/src/headless/syntheticMedia.ts';
import { joinThroughUi, launchChromium, openJoinLink } from '../helpers/browser.ts';
import { screenshot } from '../helpers/pageChecks.ts';
import { faceStill, realVoice } from '../helpers/callerMedia.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const cleanup: Array<() => unknown> = [];
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ ANALYZER: 'embedded' });
  await waitFor('the analyzer', () => server.app.hub.status.available, 60_000, 200);
}, 90_000);

afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await server?.close();
});

describe('a stalled video on the clinician page', () => {
  it('reads "Analysis degraded: the caller\'s video is not reaching the analysis server", then CLEAR when frames return', { timeout: 150_000 }, async () => {
    const chromium = await launchChromium();
    cleanup.push(() => chromium.close());
    const doctor = await openJoinLink(chromium.browser, server.url, 'demo', server.token('demo', 'clinician', 'Dr. Ode', { sub: 'doc' }));
    await joinThroughUi(doctor);

    // A real face (a still) and a real voice (LibriSpeech, looped).
    const video = new SyntheticVideo(faceStill());
    const voice = new LoopedAudio(await realVoice());
    const caller = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'Pat Caller', { sub: 'pat' }), tracks: [voice.track, video.track] });
    await caller.join();
    cleanup.push(() => video.stop(), () => voice.stop(), () => caller.leave());

    const state = (s: string) => doctor.locator(`[data-testid="risk-subject"][data-participant="pat"] [data-testid="risk-state"][data-state="${s}"]`);
    await state('CLEAR').waitFor({ timeout: 60_000 });

    // The caller's frames stop; their camera stays on.
    video.held = true;
    await state('DEGRADED').waitFor({ timeout: 30_000 });
    const notice = doctor.locator('[data-testid="risk-subject"][data-participant="pat"] [data-testid="risk-notice"]');
    expect(await notice.textContent()).toContain("The caller's video is not reaching the analysis server.");
    expect(await notice.textContent()).toContain('If their picture is frozen, ask them to turn the camera off and on again, or to rejoin.');
    await notice.locator('summary').click();
    // One line for the stall, not one per check it starves.
    expect(await notice.getByTestId('risk-degraded').locator('li').allTextContents()).toEqual([expect.stringMatching(/^Analysis degraded: no video has reached the analyzer for \d+ s although the caller's camera is on; no face check can judge\.$/)]);
    // No "✓" from the face checks while their video is stalled; the voice still reassures.
    const subject = doctor.locator('[data-testid="risk-subject"][data-participant="pat"]');
    expect(await subject.locator('[data-testid="risk-reason"][data-detector="face-deepfake"]').count()).toBe(0);
    await screenshot(doctor, 'stall', 'clinician-degraded');
    // The analyzer asks the server to get the video going again (media.refresh: a keyframe request
    // to the caller), at once, then at doubling intervals while it stays stalled.
    const refreshes = async () => Number(/^dfs_video_refresh_requests_total\{role="analyzer"\} (\d+)/m.exec(await (await fetch(`${server.url.replace('localhost', '127.0.0.1')}/metrics`)).text())?.[1] ?? 0);
    await waitFor('the analyzer asking for the stalled video', async () => (await refreshes()) >= 1, 10_000, 250);

    // Frames again: the face is judged and the all-clear comes back.
    video.held = false;
    await state('CLEAR').waitFor({ timeout: 30_000 });
    expect(await notice.count()).toBe(0);
  });
});
