/**
 * What the analyzer does for one analysed participant, shared by the live analyzer (Analyzer.ts)
 * and the offline evaluation (server/src/evaluation/): which models are loaded and how the
 * detectors are built on them (the detectors themselves are listed in detectors/registry.ts), what
 * runs on a usable face, the window detectors, and fusion.
 * One copy, so that the evaluation measures the product rather than a look-alike.
 */
import type { Observer } from '../metrics/Metrics.ts';
import type { Evidence, FrameDetector, SpeechEnergy, WindowDetector } from './detectors/Detector.ts';
import { FaceLandmarks, type Landmarks } from './detectors/FaceLandmarks.ts';
import { frameEntries, windowEntries, type DetectorId } from './detectors/registry.ts';
import { DEFAULT_VOICE_CALIBRATION, SyntheticVoiceDetector } from './detectors/SyntheticVoiceDetector.ts';
import { RiskFusion, type RiskConfig, type RiskSnapshot } from './fusion/RiskFusion.ts';
import { Batcher } from './inference/Batcher.ts';
import type { InferenceRuntime, LoadedModel } from './inference/InferenceRuntime.ts';
import type { ModelRunner } from './inference/ModelRunner.ts';
import { FrameSampler } from './sampling/FrameSampler.ts';
import type { FaceDetection } from './vision/BlazeFace.ts';
import { BlazeFace } from './vision/BlazeFace.ts';
import type { FaceFollower } from './vision/FaceFollower.ts';
import type { ImageSource } from './vision/image.ts';

export interface AnalyzerModels {
  face?: BlazeFace;
  landmarks?: FaceLandmarks;
  /** With the iris model too: two more runs per face, so only while a stream is boosted. */
  landmarksWithIris?: FaceLandmarks;
  /** The registry's frame detectors that could be built (their models loaded), in registry order. */
  frame: FrameDetector[];
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
  latency?: (id: string) => Observer;
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
      // The voice model takes 140-580 ms a window: in its own thread, so the event loop keeps
      // serving video meanwhile (InferenceRuntime's header).
      const m = await runtime.load(id, { thread: id === DEFAULT_VOICE_CALIBRATION.model });
      o.onModel?.(id, m);
      return m;
    } catch (err) {
      o.onModel?.(id, undefined, err as Error);
      return undefined;
    }
  };
  const frames = frameEntries();
  const frameModels = [...new Set(frames.flatMap((e) => e.models))];
  const [face, voice, ...loaded] = await Promise.all(
    // The voice model is the one the calibration was measured on: a threshold fits one model only.
    ['blazeface-short', DEFAULT_VOICE_CALIBRATION.model, ...frameModels].map(load),
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
  const batchers = new Map<string, Batcher>();
  frameModels.forEach((id, i) => {
    const m = loaded[i];
    if (m) batchers.set(id, batcher(m));
  });
  const voiceB = voice ? batcher(voice) : undefined;
  const frame = frames.map((e) => e.build({ model: (id) => batchers.get(id), riskConfig: o.riskConfig })).filter((d): d is FrameDetector => d !== undefined);
  return {
    ...(face ? { face: new BlazeFace(timed(face)) } : {}),
    ...(mesh ? { landmarks: new FaceLandmarks(timed(mesh)) } : {}),
    // The iris model reads closed lids the mesh alone misses (a wink reads open on the mesh).
    ...(mesh && iris ? { landmarksWithIris: new FaceLandmarks(timed(mesh), { iris: timed(iris) }) } : {}),
    frame,
    ...(voiceB ? { voice: new SyntheticVoiceDetector(voiceB, DEFAULT_VOICE_CALIBRATION) } : {}),
    batchers: [...batchers.values(), ...(voiceB ? [voiceB] : [])],
  };
}

/** Fusion and the window detectors of one analysed participant. */
export interface SubjectAnalysis {
  fusion: RiskFusion;
  /** The registry's window detectors, judging a stretch of samples rather than one. */
  windows: WindowDetector[];
}

export function newSubjectAnalysis(riskConfig: RiskConfig, now: number): SubjectAnalysis {
  return { fusion: new RiskFusion(riskConfig, now), windows: windowEntries().map((e) => e.build(riskConfig)) };
}

/** One 10 ms block of the participant's speech energy, for the window detectors that listen. */
export function observeSpeech(subject: SubjectAnalysis, s: SpeechEnergy): void {
  for (const d of subject.windows) d.observeSpeech?.(s);
}

export interface FaceFrame {
  src: ImageSource;
  /** The face BlazeFace found, in a frame whose quality was 'ok'. */
  face: FaceDetection;
  at: number;
  priority: number;
  /** A boosted (suspicious) stream also gets the iris model's eye contours. */
  boosted: boolean;
  /** The stream's face follower: a face found here and located by the mesh becomes its anchor. */
  follower?: FaceFollower;
}

export interface FaceResult {
  /** What each frame detector said about this frame. */
  evidence: Partial<Record<DetectorId, Evidence>>;
  landmarks?: Landmarks;
}

/**
 * A usable face of an analysed participant: the frame detectors' evidence goes to fusion; the
 * frame and its landmarks go to the window detectors.
 */
export async function analyseFace(models: AnalyzerModels, subject: SubjectAnalysis, f: FaceFrame): Promise<FaceResult> {
  const sample = { src: f.src, face: f.face, at: f.at, priority: f.priority };
  const located = meshFor(models, f.boosted)?.locate(f.src, f.face) ?? Promise.resolve(undefined);
  const [lm, ...frameEvidence] = await Promise.all([
    located,
    // The classifiers run alongside the mesh; a detector that reads the landmarks waits for them.
    ...models.frame.map((d) => (d.usesLandmarks ? located.then((l) => d.analyse(l ? { ...sample, landmarks: l } : sample)) : d.analyse(sample))),
  ]);
  const evidence: Partial<Record<DetectorId, Evidence>> = {};
  for (const e of frameEvidence as Evidence[]) {
    subject.fusion.add(e);
    evidence[e.detector] = e;
  }
  anchor(f, lm as Landmarks | undefined);
  const observation = { src: f.src, face: f.face, at: f.at, ...(lm ? { landmarks: lm as Landmarks } : {}) };
  for (const d of subject.windows) d.observeFace?.(observation);
  return { evidence, ...(lm ? { landmarks: lm as Landmarks } : {}) };
}

/** The landmark model for a frame: with the iris refinement while the stream is boosted. */
function meshFor(models: AnalyzerModels, boosted: boolean): FaceLandmarks | undefined {
  return boosted ? (models.landmarksWithIris ?? models.landmarks) : models.landmarks;
}

function anchor(f: FaceFrame, lm: Landmarks | undefined): void {
  if (!f.follower) return;
  if (lm) f.follower.anchorAt(f.face, lm, f.at);
  else f.follower.reset();
}

/**
 * A frame between the face classifiers' samples, while a face is present: landmarks only (~4 ms),
 * for the window detectors (blink, lip-sync, pulse) that need a higher frame rate than the face
 * classifiers can afford (pulse needs >= 6 fps, blink and lip-sync resolve more at 8). Nothing
 * here goes to fusion directly: the window detectors judge these frames once a second.
 */
export async function observeLandmarks(models: AnalyzerModels, subject: SubjectAnalysis, f: FaceFrame): Promise<Landmarks | undefined> {
  const lm = await meshFor(models, f.boosted)?.locate(f.src, f.face);
  anchor(f, lm);
  const observation = { src: f.src, face: f.face, at: f.at, ...(lm ? { landmarks: lm } : {}) };
  for (const d of subject.windows) d.observeFace?.(observation);
  return lm;
}

/**
 * A landmark frame of a face the follower has: the mesh on the crop the last landmarks give, with
 * no face detection (FaceFollower's header). False when there is nothing fresh to follow or the
 * mesh lost the face there (the follower is then reset): the caller detects and calls
 * observeLandmarks instead. Nothing is observed in that case, so no frame counts twice.
 */
export async function followLandmarks(models: AnalyzerModels, subject: SubjectAnalysis, follower: FaceFollower, f: Omit<FaceFrame, 'face' | 'follower'>): Promise<boolean> {
  const predicted = follower.predict(f.at);
  const mesh = meshFor(models, f.boosted);
  if (!predicted || !mesh) return false;
  const lm = await mesh.locate(f.src, predicted);
  const face = lm ? follower.follow(lm, f.at) : undefined;
  if (!lm || !face) {
    follower.reset();
    return false;
  }
  for (const d of subject.windows) d.observeFace?.({ src: f.src, face, at: f.at, landmarks: lm });
  return true;
}

/**
 * The landmark cadence next to the face classifiers' sampler: keeps frames at `landmarkFps` (at
 * least the boosted rate while boosted) for observeLandmarks. 0 turns it off.
 */
export function landmarkSampler(landmarkFps: number, boostedFps: number): FrameSampler | undefined {
  return landmarkFps > 0 ? new FrameSampler({ baseFps: landmarkFps, boostedFps: Math.max(landmarkFps, boostedFps) }) : undefined;
}

/** The once-a-second step: the window detectors' verdicts join the evidence and fusion re-evaluates. */
export function fuseSubject(subject: SubjectAnalysis, now: number): { snapshot: RiskSnapshot; windowEvidence: Evidence[] } {
  const windowEvidence = subject.windows.map((d) => d.evaluate(now));
  for (const e of windowEvidence) subject.fusion.add(e);
  return { snapshot: subject.fusion.update(now), windowEvidence };
}
