/**
 * What the analyzer does for one analysed participant, shared by the live analyzer (Analyzer.ts)
 * and the offline evaluation (server/src/evaluation/): which models are loaded and how the
 * detectors are built on them, what runs on a usable face, the window detectors, and fusion.
 * One copy, so that the evaluation measures the product rather than a look-alike.
 */
import type { LatencyWindow } from '../metrics/LatencyWindow.ts';
import { BlinkDetector } from './detectors/BlinkDetector.ts';
import type { Evidence } from './detectors/Detector.ts';
import { FaceDeepfakeDetector } from './detectors/FaceDeepfakeDetector.ts';
import { FaceLandmarks, type Landmarks } from './detectors/FaceLandmarks.ts';
import { eyeOpenness, interocularDistance, mouthOpening } from './detectors/faceGeometry.ts';
import { LipSyncDetector } from './detectors/LipSyncDetector.ts';
import { PresentationAttackDetector } from './detectors/PresentationAttackDetector.ts';
import { meanSkinColour, PulseDetector, pulseRegions } from './detectors/PulseDetector.ts';
import { DEFAULT_VOICE_CALIBRATION, SyntheticVoiceDetector } from './detectors/SyntheticVoiceDetector.ts';
import { RiskFusion, type RiskConfig, type RiskSnapshot } from './fusion/RiskFusion.ts';
import { Batcher } from './inference/Batcher.ts';
import type { InferenceRuntime, LoadedModel } from './inference/InferenceRuntime.ts';
import type { ModelRunner } from './inference/ModelRunner.ts';
import type { FaceDetection } from './vision/BlazeFace.ts';
import { BlazeFace } from './vision/BlazeFace.ts';
import type { ImageSource } from './vision/image.ts';

export interface AnalyzerModels {
  face?: BlazeFace;
  landmarks?: FaceLandmarks;
  /** With the iris model too: two more runs per face, so only while a stream is boosted. */
  landmarksWithIris?: FaceLandmarks;
  deepfake?: FaceDeepfakeDetector;
  spoof?: PresentationAttackDetector;
  voice?: SyntheticVoiceDetector;
  batchers: Batcher[];
}

export interface ModelLoadOptions {
  maxBatch: number;
  maxWaitMs: number;
  riskConfig: RiskConfig;
  /** Something to put around each model's runner (tests make a model slow; the evaluation caches). */
  wrap?: (runner: ModelRunner, id: string) => ModelRunner;
  /** Told about each model: loaded (with its provider) or not (with the error); its detector is then off. */
  onModel?: (id: string, model: LoadedModel | undefined, err?: Error) => void;
  /** Where each model's latency (queue wait + run) goes. */
  latency?: (id: string) => LatencyWindow;
  /** Told the size of every batch a batched model runs. */
  onBatch?: (id: string, size: number) => void;
}

/**
 * Loads what models it can (a missing model disables its detector, reported through onModel) and
 * builds the detectors on them, batched models behind a Batcher each.
 */
export async function loadAnalyzerModels(runtime: InferenceRuntime, o: ModelLoadOptions): Promise<AnalyzerModels> {
  const wrap = o.wrap ?? ((r) => r);
  const load = async (id: string): Promise<LoadedModel | undefined> => {
    try {
      const m = await runtime.load(id);
      o.onModel?.(id, m);
      return m;
    } catch (err) {
      o.onModel?.(id, undefined, err as Error);
      return undefined;
    }
  };
  const [face, df, f2f, v2, v1se, voice] = await Promise.all(
    // The voice model is the one the calibration was measured on: a threshold fits one model only.
    ['blazeface-short', 'meso4-df', 'meso4-f2f', 'minifasnet-v2-2.7', 'minifasnet-v1se-4.0', DEFAULT_VOICE_CALIBRATION.model].map(load),
  );
  const [mesh, iris] = await Promise.all(['face-landmarks', 'iris-landmarks'].map(load));
  const batcher = (m: LoadedModel) =>
    new Batcher(wrap(m, m.id), {
      maxBatch: m.entry.batch === 'dynamic' ? o.maxBatch : 1,
      maxWaitMs: o.maxWaitMs,
      ...(o.latency ? { latency: o.latency(m.id) } : {}),
      ...(o.onBatch ? { onBatch: (n: number) => o.onBatch?.(m.id, n) } : {}),
    });
  // BlazeFace has a fixed batch of 1 and runs once per sampled frame: timed, not batched.
  const timed = (m: LoadedModel): ModelRunner => {
    const window = o.latency?.(m.id);
    const inner = wrap(m, m.id);
    return {
      inputNames: m.inputNames,
      outputNames: m.outputNames,
      run: async (feeds) => {
        const t0 = performance.now();
        try {
          return await inner.run(feeds);
        } finally {
          window?.add(performance.now() - t0);
        }
      },
    };
  };
  const b = (m: LoadedModel | undefined) => (m ? batcher(m) : undefined);
  const [dfB, f2fB, v2B, v1seB, voiceB] = [b(df), b(f2f), b(v2), b(v1se), b(voice)];
  return {
    ...(face ? { face: new BlazeFace(timed(face)) } : {}),
    ...(mesh ? { landmarks: new FaceLandmarks(timed(mesh)) } : {}),
    // The iris model reads closed lids the mesh alone misses (a wink reads open on the mesh).
    ...(mesh && iris ? { landmarksWithIris: new FaceLandmarks(timed(mesh), { iris: timed(iris) }) } : {}),
    ...(dfB || f2fB ? { deepfake: new FaceDeepfakeDetector({ df: dfB, f2f: f2fB }, o.riskConfig.params.faceDeepfake) } : {}),
    ...(v2B || v1seB ? { spoof: new PresentationAttackDetector({ v2: v2B, v1se: v1seB }) } : {}),
    ...(voiceB ? { voice: new SyntheticVoiceDetector(voiceB, DEFAULT_VOICE_CALIBRATION) } : {}),
    batchers: [dfB, f2fB, v2B, v1seB, voiceB].filter((x): x is Batcher => x !== undefined),
  };
}

/** Fusion and the window detectors of one analysed participant. */
export interface SubjectAnalysis {
  fusion: RiskFusion;
  /** Detectors judging a window of samples rather than one sample. */
  blink: BlinkDetector;
  lipSync: LipSyncDetector;
  pulse: PulseDetector;
}

export function newSubjectAnalysis(riskConfig: RiskConfig, now: number): SubjectAnalysis {
  return { fusion: new RiskFusion(riskConfig, now), blink: new BlinkDetector(), lipSync: new LipSyncDetector(), pulse: new PulseDetector() };
}

export interface FaceFrame {
  src: ImageSource;
  /** The face BlazeFace found, in a frame whose quality was 'ok'. */
  face: FaceDetection;
  at: number;
  priority: number;
  /** A boosted (suspicious) stream also gets the iris model's eye contours. */
  boosted: boolean;
}

export interface FaceResult {
  deepfake?: Evidence;
  spoof?: Evidence;
  landmarks?: Landmarks;
}

/**
 * A usable face of an analysed participant: the face classifiers' evidence goes to fusion; eye
 * openness, mouth opening and skin colour go to the window detectors.
 */
export async function analyseFace(models: AnalyzerModels, subject: SubjectAnalysis, f: FaceFrame): Promise<FaceResult> {
  const sample = { src: f.src, face: f.face, at: f.at, priority: f.priority };
  const [df, pa, lm] = await Promise.all([
    models.deepfake?.analyse(sample),
    models.spoof?.analyse(sample),
    (f.boosted ? (models.landmarksWithIris ?? models.landmarks) : models.landmarks)?.locate(f.src, f.face),
  ]);
  for (const e of [df, pa]) if (e) subject.fusion.add(e);
  if (lm) {
    const eyes = eyeOpenness(lm);
    subject.blink.push({ at: f.at, leftOpen: eyes.left, rightOpen: eyes.right, faceSize: interocularDistance(lm.points), source: eyes.source });
    subject.lipSync.pushMouth({ at: f.at, mouthOpen: mouthOpening(lm.points) });
  }
  subject.pulse.push({ at: f.at, ...meanSkinColour(f.src, pulseRegions(f.face, lm?.points)), box: f.face.box });
  return { ...(df ? { deepfake: df } : {}), ...(pa ? { spoof: pa } : {}), ...(lm ? { landmarks: lm } : {}) };
}

/** The once-a-second step: the window detectors' verdicts join the evidence and fusion re-evaluates. */
export function fuseSubject(subject: SubjectAnalysis, now: number): { snapshot: RiskSnapshot; windowEvidence: Evidence[] } {
  const windowEvidence = [subject.blink, subject.lipSync, subject.pulse].map((d) => d.evaluate(now));
  for (const e of windowEvidence) subject.fusion.add(e);
  return { snapshot: subject.fusion.update(now), windowEvidence };
}
