/**
 * Review of the analyzer's media input and per-frame vision (3 Dec 2026): bad input from
 * one client must be counted and reported, never read as a judgement, and memory stays bounded.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { collectGarbage } from '../../helpers/gc.ts';
import type { DetectorId, Evidence, FaceSample, FrameDetector } from '../../../server/src/analyzer/detectors/Detector.ts';
import { loadRiskConfig } from '../../../server/src/analyzer/fusion/RiskFusion.ts';
import { Scheduler } from '../../../server/src/analyzer/Scheduler.ts';
import { AudioStream, VideoStream } from '../../../server/src/analyzer/streams.ts';
import { Subjects } from '../../../server/src/analyzer/subjects.ts';
import type { ImageSource } from '../../../server/src/analyzer/vision/image.ts';
import { assessQuality } from '../../../server/src/analyzer/vision/quality.ts';

afterEach(() => vi.useRealTimers());

const grey = (w: number, h: number): ImageSource => ({ format: 'i420', width: w, height: h, data: new Uint8Array(w * h + 2 * ((w + 1) >> 1) * ((h + 1) >> 1)).fill(160) });
const face = (x: number, y: number, width: number, height: number) => ({ box: { x, y, width, height }, score: 0.9, keypoints: [] });

describe('assessQuality: a face box the frame does not hold is no usable face', () => {
  it('a box wholly outside the frame is not ok (its luma is NaN, read as "not dark")', () => {
    const r = assessQuality(grey(640, 480), [face(-500, -500, 200, 200)]);
    expect(r.reason).not.toBe('ok');
  });

  it('a box of NaN (a model that output NaN regressors) is not ok', () => {
    const r = assessQuality(grey(640, 480), [face(Number.NaN, Number.NaN, Number.NaN, Number.NaN)]);
    expect(r.reason).not.toBe('ok');
  });

  it('an infinite box is not ok', () => {
    const r = assessQuality(grey(640, 480), [face(-Infinity, -Infinity, Infinity, Infinity)]);
    expect(r.reason).not.toBe('ok');
  });

  it('a 200 px box of which only a 5 px strip lies in the frame is too small, not ok', () => {
    const r = assessQuality(grey(640, 480), [face(100, -195, 200, 200)]);
    expect(r.reason).toBe('too-small');
  });
});

/**
 * 40 s of a camera whose frames come from `frame`, analysed by the real Scheduler with a face
 * detector `detect` and face classifiers that read every face real, beside a natural voice judged
 * every 2 s; the fused states seen from 15 s on (what RiskPublisher does each second).
 */
async function statesWithNaturalVoice(detect: () => Promise<unknown[]>, frame: () => unknown): Promise<Set<string>> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
  const config = loadRiskConfig();
  const subjects = new Subjects(config);
  const id = { room: 'r', participantId: 'p', kind: 'video' as const };
  const s = new VideoStream(id, { baseFps: 2, boostedFps: 6, queueCapacity: 4, landmarkFps: 0 }, performance.now());
  s.onDropped = (input) => subjects.get('r', 'p').fusion.dropped(input, Date.now());
  const watcher = { video: new Map([[s.key, s]]), audio: new Map(), isAnalysed: () => true };
  const real = (detector: DetectorId): FrameDetector => ({
    id: detector,
    analyse: async (sample: FaceSample) => ({ detector, at: sample.at, score: 0.05, confidence: 1, reason: 'real' }),
  });
  const models = { face: { detect }, frame: [real('face-deepfake'), real('presentation-attack')], batchers: [] };
  const metrics = { histogram: () => ({ add: () => undefined }), inc: () => undefined };
  const sched = new Scheduler({ watcher, subjects, challenges: {}, events: { emit: () => true }, metrics, models: () => models, maxBatch: 8 } as never);
  sched.start();
  const fusion = subjects.get('r', 'p').fusion;
  const cameraOnSince = performance.now();
  const states = new Set<string>();
  for (let ms = 0; ms <= 40_000; ms += 100) {
    if (s.offer(frame() as never, performance.now())) sched.wake();
    await vi.advanceTimersByTimeAsync(100);
    if ((ms + 100) % 1000 === 0) {
      const now = Date.now();
      fusion.setSamplingTarget('video', s.targetFps);
      fusion.setSamplingTarget('audio', 0.5);
      fusion.setVideoStalled(s.stalledFor(performance.now(), cameraOnSince));
      if ((ms + 100) % 2000 === 0) {
        fusion.add({ detector: 'synthetic-voice', at: now, score: 0.05, confidence: 1, reason: 'natural' } as Evidence);
        fusion.sampled('audio', now);
      }
      const st = fusion.update(now).state;
      if (ms >= 15_000) states.add(st);
    }
  }
  sched.stop();
  return states;
}

describe('malformed video frames (size not matching the buffer)', () => {
  it('a camera whose every frame is shorter than its size says, with a natural voice, never reads CLEAR: the refused frames are a stall', async () => {
    const faceDet = { box: { x: 30, y: 30, width: 100, height: 100 }, score: 0.9, keypoints: [] };
    // 640x480 claimed, 1000 bytes held (a decoder or client that lies about its size).
    const states = await statesWithNaturalVoice(async () => [faceDet], () => ({ width: 640, height: 480, data: new Uint8Array(1000) }));
    expect([...states]).not.toContain('CLEAR');
  });
});

describe('AudioResampler designs stay bounded', () => {
  it('a stream whose sample rate changes every block, through rates the resampler accepts, keeps memory bounded', async () => {
    const s = new AudioStream({ room: 'r', participantId: 'p', kind: 'audio' }, { hopSeconds: 2, queueCapacity: 2 });
    await collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    // Multiples of 16 Hz that share only 16 with 16 kHz: each reduces to 1000/M, each its own
    // polyphase table of 0.3-1 MB, cached for ever (keyed by rate).
    let offered = 0;
    for (let rate = 20_016; offered < 100; rate += 32) {
      if (rate % 5 === 0) continue;
      s.offer({ samples: new Int16Array(Math.round(rate / 100)), sampleRate: rate, channelCount: 1 }, offered * 10);
      offered++;
    }
    await collectGarbage();
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(s.blocksRejected).toBe(0);
    expect(grown).toBeLessThan(32 * 1024 * 1024);
  });
});

describe('a face detector that fails on every frame', () => {
  it('with a natural voice never reads CLEAR: the lost frames are counted (analysis degraded), as a failing classifier is', async () => {
    const w = 160, h = 160;
    // BlazeFace's runner failing (onnxruntime error, outputs not recognised...).
    const states = await statesWithNaturalVoice(
      async () => Promise.reject(new Error('BlazeFace outputs not recognised')),
      () => ({ width: w, height: h, data: new Uint8Array(w * h * 1.5).fill(128) }),
    );
    expect([...states]).not.toContain('CLEAR');
  });
});
