/**
 * 'media.refresh': a receiver (the analyzer, when a caller's video stalls) asks the server to get
 * a publisher's video going again. Measured where it lands: the publisher's own outbound-rtp
 * pliCount (@roamhq/wrtc's getStats, as a browser's). On both engines: the request reaches the
 * publisher as a keyframe request, a second one within MEDIA_REFRESH_INTERVAL_MS does not (no
 * client can make a publisher's encoder send keyframe after keyframe), it is counted in /metrics,
 * and one for someone not in the call is answered ok and does nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import { pliCount } from '../helpers/pliCount.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const cleanup: Array<() => unknown> = [];

afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function refreshCount(server: TestServer): Promise<number> {
  const text = await (await fetch(`${server.url.replace('localhost', '127.0.0.1')}/metrics`)).text();
  return Number(/^dfs_video_refresh_requests_total\{role="clinician"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

describe.each(ENGINES)('media.refresh (%s)', (engine) => {
  it('asks the publisher for a keyframe, once per interval, and is counted', { timeout: 60_000 }, async () => {
    // No cover keyframes: every request the publisher sees comes from a receiver.
    const server = await startTestServer({ SFU_ENGINE: engine, RTC_KEYFRAME_INTERVAL_S: '0' });
    cleanup.push(() => server.close());
    const video = new SyntheticVideo({ paint: solidLuma(120) });
    const patient = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'patient', 'Pat', { sub: 'pat' }), tracks: [video.track] });
    const doctor = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'clinician', 'Doc', { sub: 'doc' }) });
    cleanup.push(() => video.stop(), () => patient.leave(), () => doctor.leave());
    await patient.join();
    await doctor.join();
    const track = await doctor.waitForTrack('pat', 'video');
    let frames = 0;
    cleanup.push(onVideoFrames(track.track, () => frames++));
    await waitFor('video at the clinician', () => frames >= 10, 15_000);
    // The requests of the call's start (a subscriber resuming) have been served.
    await sleep(1500);

    const before = await pliCount(patient);
    await doctor.session.refreshVideo('pat');
    await waitFor('a keyframe request at the publisher', async () => (await pliCount(patient)) > before, 5000, 50);
    const after = await pliCount(patient);
    expect(await refreshCount(server)).toBe(1);

    // Again at once: within the interval, answered, not passed on.
    await doctor.session.refreshVideo('pat');
    await sleep(1500);
    expect(await pliCount(patient)).toBe(after);
    expect(await refreshCount(server)).toBe(1);

    // Someone not in the call: ok, nothing.
    await doctor.session.refreshVideo('nobody');
    expect(await refreshCount(server)).toBe(1);
  });
});
