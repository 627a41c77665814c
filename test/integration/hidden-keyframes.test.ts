/**
 * A supervisor joining must not show up at the publisher as a keyframe request (issue 13, item 16).
 * Measured where an attacker would: the publisher's own outbound-rtp pliCount (@roamhq/wrtc's
 * getStats, as a browser's). With cover keyframes (RTC_KEYFRAME_INTERVAL_S) the SFU asks every
 * publisher for a keyframe at a fixed cadence and a supervisor is served by the next one; a
 * visible participant joining still asks at once (the control: the measure does see requests).
 * werift engine (mediasoup asks for a keyframe when any consumer resumes: see sfu/README.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import { pliCount } from '../helpers/pliCount.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const COVER_S = 3;
let server: TestServer;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startTestServer({ RTC_KEYFRAME_INTERVAL_S: String(COVER_S) });
});

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await server.close();
});

async function framesFrom(viewer: HeadlessParticipant, publisherId: string): Promise<() => number> {
  const t = await viewer.waitForTrack(publisherId, 'video');
  let n = 0;
  cleanup.push(onVideoFrames(t.track, () => n++));
  return () => n;
}

function participant(role: 'patient' | 'clinician' | 'supervisor', sub: string, tracks: MediaStreamTrack[] = []): HeadlessParticipant {
  const p = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', role, sub, { sub }), tracks });
  cleanup.push(() => p.leave());
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls an async condition every 20 ms. */
async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe('hidden subscribers and keyframe requests', () => {
  it('a supervisor joining causes no keyframe request at the publisher, and still gets video from the next cover keyframe', async () => {
    const video = new SyntheticVideo({ paint: solidLuma(120) });
    cleanup.push(() => video.stop());
    const patient = participant('patient', 'pat', [video.track]);
    const doctor = participant('clinician', 'doc');
    await patient.join();
    await doctor.join();
    const atDoctor = await framesFrom(doctor, 'pat');
    await waitFor('the call running', () => atDoctor() >= 10, 15000);

    // Join right after a cover keyframe request, so that the next is COVER_S away.
    const before = await pliCount(patient);
    await until('a cover keyframe request', async () => (await pliCount(patient)) > before, (COVER_S + 2) * 1000);
    const atTick = await pliCount(patient);
    const supervisor = participant('supervisor', 'sup');
    await supervisor.join();
    const atSupervisor = await framesFrom(supervisor, 'pat');
    await sleep(600 + 400);
    expect(await pliCount(patient)).toBe(atTick);
    await waitFor('the supervisor decoding video', () => atSupervisor() >= 5, (COVER_S + 5) * 1000);

    // Control: a visible participant joining asks at once, and the measure sees it.
    await until('a cover keyframe request', async () => (await pliCount(patient)) > atTick, (COVER_S + 2) * 1000);
    const atTick2 = await pliCount(patient);
    const second = participant('clinician', 'doc2');
    await second.join();
    await framesFrom(second, 'pat');
    await until('a keyframe request for the visible newcomer', async () => (await pliCount(patient)) > atTick2, 1500);
  });
});
