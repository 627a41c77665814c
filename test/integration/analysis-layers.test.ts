/**
 * The analyzer decodes only the frames it needs: a publisher sends VP8 with temporal layers
 * through the real SFU, which forwards the base layer (a quarter of the frames) to the analyzer,
 * base + TL1 while the analyzer boosts that stream, and every layer to people. Frame rates are
 * measured at the analyzer's own receive path (its per-stream decoded-frame counter). On each
 * engine: werift thins in TypeScript (sfu/vp8.ts), mediasoup in its worker (setPreferredLayers).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo } from '../../server/src/headless/syntheticMedia.ts';
import type { AnalyzerConfig } from '../../server/src/analyzer/config.ts';
import { inProcessAnalyzer } from '../helpers/analyzer.ts';
import { livePainter } from '../helpers/callerMedia.ts';
import type { ImageSource } from '../../server/src/analyzer/vision/image.ts';
import { loadJpeg, toI420 } from '../helpers/images.ts';
import { ENGINES, startTestServer, waitFor } from '../helpers/server.ts';

const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

// Its base layer (2.5 fps) leaves room under 2 x 2 fps for bursts on a loaded machine.
const PUBLISHER_FPS = 10;
const BASE_FPS = 2;

/** Moving content, so every frame costs the encoder something and none is skipped as static. */
function moving(f: { width: number; height: number; data: Uint8Array }, i: number): void {
  const { width: w, height: h } = f;
  for (let y = 0; y < h; y++) f.data.fill((y + i * 4) & 0xff, y * w, (y + 1) * w);
  f.data.fill(128, w * h);
}

/** A 2x2 box downscale of an RGBA image. */
function halfSize(src: ImageSource): ImageSource {
  const w = src.width >> 1;
  const h = src.height >> 1;
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 4; c++) {
        const at = (yy: number, xx: number) => src.data[(yy * src.width + xx) * 4 + c]!;
        data[(y * w + x) * 4 + c] = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1) + 2) >> 2;
      }
    }
  }
  return { format: 'rgba', width: w, height: h, data };
}

/** Frames per second a counter advanced over `ms`. */
async function rate(count: () => number, ms: number): Promise<number> {
  const a = count();
  await new Promise((r) => setTimeout(r, ms));
  return ((count() - a) * 1000) / ms;
}

/**
 * A call on `engine` (no cover keyframes) with an in-process analyzer and a patient publishing
 * `video` with temporal layers. `decoded` counts what dfs_analyzer_frames_received_total reports
 * for the stream (read directly: rate() is synchronous).
 */
async function layeredCall(engine: (typeof ENGINES)[number], analyzerConfig: Partial<AnalyzerConfig>, video: SyntheticVideo, opts: { models?: boolean } = {}) {
  cleanup.push(() => video.stop());
  const server = await startTestServer({ ANALYZER: 'external', SFU_ENGINE: engine, RTC_KEYFRAME_INTERVAL_S: '0' });
  cleanup.push(() => server.close());
  const analyzer = inProcessAnalyzer(server, analyzerConfig);
  cleanup.push(() => analyzer.stop());
  if (opts.models) await analyzer.loadModels();
  analyzer.start();
  const patient = new HeadlessParticipant({
    url: server.url,
    room: 'demo',
    token: server.token('demo', 'patient', 'pat', { sub: 'pat' }),
    tracks: [video.track],
    temporalLayers: true,
  });
  await patient.join();
  cleanup.push(() => patient.leave());
  const decoded = () => analyzer.streamStats('demo/pat/video')?.frames ?? 0;
  return { server, analyzer, decoded };
}

describe.each(ENGINES)('frames the analyzer decodes (%s)', (engine) => {
  it('is the base temporal layer (<= 2x its sampling rate), more while boosted, while people get every frame', async () => {
    // No cover keyframes (RTC_KEYFRAME_INTERVAL_S, werift): each adds a base-layer frame out of the
    // L1T3 pattern (measured 4.17 fps against 4.0 at 5 s), which this exact bound would count.
    const { server, analyzer, decoded } = await layeredCall(engine, { baseFps: BASE_FPS, boostedFps: 6 }, new SyntheticVideo({ width: 320, height: 240, fps: PUBLISHER_FPS, paint: moving }));
    const supervisor = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'supervisor', 'sup', { sub: 'sup' }) });
    await supervisor.join();
    cleanup.push(() => supervisor.leave());
    let humanFrames = 0;
    cleanup.push(onVideoFrames((await supervisor.waitForTrack('pat', 'video')).track, () => humanFrames++));

    await waitFor('the analyzer decoding the patient', () => decoded() > 3, 15000);
    await new Promise((r) => setTimeout(r, 1000)); // past the first keyframe's burst

    const human = humanFrames;
    const base = await rate(decoded, 6000);
    const humanRate = ((humanFrames - human) * 1000) / 6000;
    if (process.env.LAYERS_DEBUG) console.log({ base, humanRate });
    expect(base).toBeGreaterThan(0.5 * BASE_FPS);
    expect(base).toBeLessThanOrEqual(2 * BASE_FPS);
    // People are not thinned: they decode every layer.
    expect(humanRate).toBeGreaterThan(2.5 * base);

    // A liveness check boosts the stream: the SFU adds TL1 at its next layer-sync frame.
    analyzer.observe({ room: 'demo', participantId: 'pat', challengeId: 'c1', untilMs: Date.now() + 30_000 });
    await new Promise((r) => setTimeout(r, 1500));
    const boosted = await rate(decoded, 4000);
    if (process.env.LAYERS_DEBUG) console.log({ engine, base, humanRate, boosted });
    expect(boosted).toBeGreaterThan(1.5 * base);
  }, 60_000);

  it('receives only the analysed side: a clinician\'s video never reaches the analyzer to be decoded', async () => {
    const { server, decoded } = await layeredCall(engine, { baseFps: BASE_FPS, boostedFps: 6 }, new SyntheticVideo({ width: 320, height: 240, fps: PUBLISHER_FPS, paint: moving }));
    const docVideo = new SyntheticVideo({ width: 320, height: 240, fps: PUBLISHER_FPS, paint: moving });
    const doctor = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'clinician', 'doc', { sub: 'doc' }), tracks: [docVideo.track], temporalLayers: true });
    cleanup.push(() => docVideo.stop());
    await doctor.join();
    cleanup.push(() => doctor.leave());
    // The supervisor receives both: the clinician's video is there to forward.
    const supervisor = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'supervisor', 'sup', { sub: 'sup' }) });
    await supervisor.join();
    cleanup.push(() => supervisor.leave());
    await supervisor.waitForTrack('doc', 'video');
    await waitFor('the analyzer decoding the patient', () => decoded() > 3, 15000);
    const room = server.app.registry.get('demo')!;
    const peer = room.all().find((p) => p.role === 'analyzer')!.peer as unknown as { videoLayers(): Array<{ publisherId: string }> };
    expect(peer.videoLayers().map((l) => l.publisherId)).toEqual(['pat']);
  }, 60_000);

  it('with a face, settles on the layer that brings the landmark detectors 7.5 fps, not every frame of a 15 fps camera', async () => {
    // A live selfie at half size, 320x240 (small enough for @roamhq/wrtc to send L1T3), at 15 fps.
    const face = toI420(halfSize(loadJpeg('faces/silentface/image_T1.jpg')));
    const video = new SyntheticVideo({ width: face.width, height: face.height, fps: 15, paint: livePainter(face.data, face.width, face.height) });
    // Landmarks at 8 fps while a face is present (the default): blink, pulse and jitter need >= 6.
    const { server, decoded } = await layeredCall(engine, { baseFps: 2, boostedFps: 6, landmarkFps: 8 }, video, { models: true });
    // A supervisor receives every layer: what the camera really delivered through the SFU.
    const supervisor = new HeadlessParticipant({ url: server.url, room: 'demo', token: server.token('demo', 'supervisor', 'sup', { sub: 'sup' }) });
    await supervisor.join();
    cleanup.push(() => supervisor.leave());
    let humanFrames = 0;
    cleanup.push(onVideoFrames((await supervisor.waitForTrack('pat', 'video')).track, () => humanFrames++));
    await waitFor('the analyzer decoding the patient', () => decoded() > 3, 15000);
    // The face is seen at the first sample; the layer is re-chosen once a second from the rate
    // measured since the last change (>= 1.5 s).
    await new Promise((r) => setTimeout(r, 5000));
    // On a loaded machine (CI runs files in parallel) the publisher's encoder drops frames; below
    // 13.2 fps TL1 brings less than 6 and every frame is the right answer. So the claim is: in
    // 4 s windows where the camera delivered >= 13 fps, the analyzer settles on about half of it.
    // With the old 8 fps ask (or a layer stuck on top after a dip) every window reads ~15.
    const windows: Array<{ human: number; withFace: number }> = [];
    for (let i = 0; i < 6; i++) {
      const h = humanFrames;
      const withFace = await rate(decoded, 4000);
      windows.push({ human: ((humanFrames - h) * 1000) / 4000, withFace });
      const last = windows[windows.length - 1]!;
      if (last.human >= 13 && last.withFace < 0.75 * last.human) break;
    }
    if (process.env.LAYERS_DEBUG) console.log({ engine, windows });
    const settled = windows.find((w) => w.human >= 13 && w.withFace < 0.75 * w.human);
    expect(settled, JSON.stringify(windows)).toBeDefined();
    // base + TL1 of 15 fps = 7.5 (asking for the 8 fps cadence itself took all 15).
    expect(settled!.withFace).toBeGreaterThan(5.5);
  }, 60_000);
});
