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

describe('BlazeFace: a box the picture does not hold is no face, whatever faces come with it', () => {
  it('drops a NaN box and a box wholly outside the frame, and keeps the real face beside them', async () => {
    // The model's four outputs: per anchor a logit, and 16 regressors (box centre and size, six
    // keypoints) in 128-px input units relative to the anchor's cell centre.
    const scores0 = new Float32Array(512).fill(-10);
    const scores1 = new Float32Array(384).fill(-10);
    const boxes0 = new Float32Array(512 * 16);
    const boxes1 = new Float32Array(384 * 16);
    const anchor = (a: number, cx: number, cy: number, w: number, h: number) => {
      scores0[a] = 5;
      boxes0.set([cx, cy, w, h], a * 16);
    };
    anchor(272, 0, 0, 30, 30); // the centre cell: a face in the middle of the picture
    anchor(200, Number.NaN, Number.NaN, Number.NaN, Number.NaN); // a model that output NaN
    anchor(400, 5000, 5000, 20, 20); // far outside the picture
    const { Tensor } = await import('onnxruntime-node');
    const runner = {
      inputNames: ['input'],
      outputNames: ['s0', 's1', 'b0', 'b1'],
      run: async () => ({
        s0: new Tensor('float32', scores0, [1, 512, 1]),
        s1: new Tensor('float32', scores1, [1, 384, 1]),
        b0: new Tensor('float32', boxes0, [1, 512, 16]),
        b1: new Tensor('float32', boxes1, [1, 384, 16]),
      }),
    };
    const { BlazeFace } = await import('../../../server/src/analyzer/vision/BlazeFace.ts');
    const faces = await new BlazeFace(runner as never).detect(grey(640, 480));
    expect(faces).toHaveLength(1);
    expect(faces[0]!.box.x).toBeGreaterThan(200);
    expect(faces[0]!.box.x + faces[0]!.box.width).toBeLessThan(440);
    expect(assessQuality(grey(640, 480), faces).faceCount).toBe(1);
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
