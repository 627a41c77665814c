/**
 * The detector registry is the one list the analyzer, the evaluation and fusion read: every id in
 * it must be configured in risk-config.json (or fusion would silently ignore its evidence), and
 * the pipeline must build and feed what it lists.
 */
import { describe, expect, it } from 'vitest';
import type { Evidence, FaceObservation, FaceSample } from '../../../server/src/analyzer/detectors/Detector.ts';
import { DETECTOR_IDS, DETECTORS, PRIMARY_DETECTORS, windowEntries } from '../../../server/src/analyzer/detectors/registry.ts';
import { loadRiskConfig } from '../../../server/src/analyzer/fusion/RiskFusion.ts';
import { analyseFace, fuseSubject, newSubjectAnalysis, type AnalyzerModels } from '../../../server/src/analyzer/pipeline.ts';
import { i420Source } from '../../../server/src/analyzer/vision/image.ts';

describe('detector registry', () => {
  it('has unique ids, each configured in risk-config.json, and a primary detector of each medium', () => {
    expect(new Set(DETECTOR_IDS).size).toBe(DETECTORS.length);
    const config = loadRiskConfig();
    expect(Object.keys(config.detectors).sort()).toEqual([...DETECTOR_IDS].sort());
    expect(PRIMARY_DETECTORS.has('face-deepfake')).toBe(true);
    expect(PRIMARY_DETECTORS.has('synthetic-voice')).toBe(true);
    expect(PRIMARY_DETECTORS.has('blink')).toBe(false);
  });

  it('the pipeline runs every frame detector on a usable face and tells every window detector', async () => {
    const config = loadRiskConfig();
    const seen: string[] = [];
    const fake = { id: 'face-deepfake' as const, analyse: async (s: { at: number }): Promise<Evidence> => ({ detector: 'face-deepfake', at: s.at, score: 0.9, confidence: 1, reason: 'test' }) };
    const models: AnalyzerModels = { frame: [fake], batchers: [] };
    const subject = newSubjectAnalysis(config, 0);
    expect(subject.windows.map((w) => w.id)).toEqual(windowEntries().map((e) => e.id));
    subject.windows.push({ id: 'pulse', observeFace: (o: FaceObservation) => void seen.push(`face@${o.at}`), evaluate: (now) => ({ detector: 'pulse', at: now, confidence: 0, reason: 'window' }) });
    const frame = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 1.5).fill(128) };
    const face = { box: { x: 16, y: 16, width: 32, height: 32 }, score: 0.9, keypoints: [] };
    const r = await analyseFace(models, subject, { src: i420Source(frame), face, at: 1000, priority: 1, boosted: false });
    expect(r.evidence['face-deepfake']?.score).toBe(0.9);
    expect(seen).toEqual(['face@1000']);
    const { windowEvidence } = fuseSubject(subject, 2000);
    expect(windowEvidence.map((e) => e.detector)).toContain('pulse');
  });

  it('a frame detector that reads landmarks gets this frame\'s mesh; the others run without waiting for it', async () => {
    const config = loadRiskConfig();
    const points = new Float32Array(468 * 3).fill(7);
    let meshDone = false;
    const order: string[] = [];
    const landmarks = {
      locate: async () => {
        await new Promise((r) => setTimeout(r, 20));
        meshDone = true;
        return { points, presence: 1, region: { cx: 0, cy: 0, width: 1, height: 1 } };
      },
    } as unknown as NonNullable<AnalyzerModels['landmarks']>;
    const classifier = {
      id: 'face-deepfake' as const,
      analyse: async (s: FaceSample): Promise<Evidence> => {
        order.push(`classifier: mesh ${meshDone ? 'done' : 'pending'}, landmarks ${s.landmarks ? 'given' : 'none'}`);
        return { detector: 'face-deepfake', at: s.at, score: 0.2, confidence: 1, reason: 'test' };
      },
    };
    const reader = {
      id: 'face-blend' as const,
      usesLandmarks: true,
      analyse: async (s: FaceSample): Promise<Evidence> => {
        order.push(`reader: landmarks ${s.landmarks?.points === points ? 'of this frame' : 'none'}`);
        return { detector: 'face-blend', at: s.at, score: 0.1, confidence: 1, reason: 'test' };
      },
    };
    const frame = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 1.5).fill(128) };
    const face = { box: { x: 16, y: 16, width: 32, height: 32 }, score: 0.9, keypoints: [] };
    const run = (models: AnalyzerModels) => analyseFace(models, newSubjectAnalysis(config, 0), { src: i420Source(frame), face, at: 1000, priority: 1, boosted: false });
    const r = await run({ landmarks, frame: [classifier, reader], batchers: [] });
    expect(order).toEqual(['classifier: mesh pending, landmarks none', 'reader: landmarks of this frame']);
    expect(r.landmarks?.points).toBe(points);
    // No mesh model: the reader still runs, without landmarks.
    order.length = 0;
    meshDone = false;
    await run({ frame: [classifier, reader], batchers: [] });
    expect(order).toEqual(['classifier: mesh pending, landmarks none', 'reader: landmarks none']);
  });
});
