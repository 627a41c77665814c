/**
 * Every detector, in one list: its id, what kind of input it judges, whether it can establish a
 * verdict on its own (primary), and how it is built. The live analyzer and `npm run eval` (both
 * through pipeline.ts) and fusion (RiskFusion.ts: ids, primary set, risk-config.json's keys) read
 * this list, so a new detector is one file plus one line here, and one entry in risk-config.json.
 *
 * Kinds:
 * - `frame`: a FrameDetector, judging one sampled face frame (MesoNet, MiniFASNet, pixel cues);
 *   built once per analyzer, shared by every stream; `models` are loaded (and batched) for it.
 * - `window`: a WindowDetector, told every usable face frame and/or every block of the caller's
 *   audio and judging the window ending now, once a second; built per analysed participant (it
 *   keeps state). `needs` says which: the face (`face`, or `landmarks`: the face mesh too), the
 *   audio (`audio`), or both.
 * - `speech`: judges 4.04 s windows of voiced audio (AASIST-L; pipeline.ts builds it).
 * - `external`: evidence that arrives from outside the media path (the caller's browser report,
 *   a liveness check's verdict); nothing to build, but fusion must know the id.
 *
 * Primary detectors can turn ANALYZING or INSUFFICIENT_SIGNAL into a verdict; the others only add
 * to one (a weak heuristic alone must not say CLEAR or ALERT).
 */
import type { Batcher } from '../inference/Batcher.ts';
import type { RiskConfig } from '../fusion/RiskFusion.ts';
import { BlinkDetector } from './BlinkDetector.ts';
import type { FrameDetector, SamplingNeed, WindowDetector } from './Detector.ts';
import { FaceBlendDetector } from './FaceBlendDetector.ts';
import { FaceDeepfakeDetector } from './FaceDeepfakeDetector.ts';
import { FaceFlickerDetector } from './FaceFlickerDetector.ts';
import { LandmarkJitterDetector } from './LandmarkJitterDetector.ts';
import { LipSyncDetector } from './LipSyncDetector.ts';
import { PitchJitterDetector } from './PitchJitterDetector.ts';
import { PresentationAttackDetector } from './PresentationAttackDetector.ts';
import { PulseDetector } from './PulseDetector.ts';

/** What a frame detector is built from. */
export interface FrameBuildContext {
  /** The batcher in front of a model the entry listed in `models`; undefined when it did not load. */
  model(id: string): Batcher | undefined;
  riskConfig: RiskConfig;
}

/** What a window detector watches or listens to: usable face frames (`landmarks`: with the face mesh), the caller's audio. */
export type WindowNeed = 'face' | 'landmarks' | 'audio';

interface Common<Id extends string> {
  id: Id;
  primary: boolean;
  /** Measured by `npm run eval` (external evidence cannot be replayed offline). */
  evaluated: boolean;
  /**
   * How fast it needs its input analysed (fusion: below it, while the analyzer means to sample
   * that fast, the participant's analysis is degraded). None for evidence from outside the media.
   */
  sampling?: SamplingNeed;
}
export interface FrameEntry<Id extends string = string> extends Common<Id> {
  kind: 'frame';
  /** Model ids (models/manifest.json) to load for it; none for a hand-written cue. */
  models: readonly string[];
  /** Undefined when the models it needs did not load: the detector is then off. */
  build(ctx: FrameBuildContext): FrameDetector | undefined;
}
export interface WindowEntry<Id extends string = string> extends Common<Id> {
  kind: 'window';
  needs: readonly WindowNeed[];
  build(riskConfig: RiskConfig): WindowDetector;
}
export interface SpeechEntry<Id extends string = string> extends Common<Id> {
  kind: 'speech';
}
export interface ExternalEntry<Id extends string = string> extends Common<Id> {
  kind: 'external';
}
export type RegistryEntry<Id extends string = string> = FrameEntry<Id> | WindowEntry<Id> | SpeechEntry<Id> | ExternalEntry<Id>;

// Entries are plain `as const` literals, checked against RegistryEntry below rather than through
// a typed helper: DetectorId is read off this list, and Evidence refers to DetectorId.
export const DETECTORS = [
  {
    id: 'face-deepfake',
    kind: 'frame',
    primary: true,
    evaluated: true,
    // Enough face crops for fusion to count it: minSamples in its window (risk-config.json).
    sampling: { input: 'video', perSecond: 'window', what: 'the face-swap check' },
    models: ['meso4-df', 'meso4-f2f'],
    build: (c: FrameBuildContext) => {
      const [df, f2f] = [c.model('meso4-df'), c.model('meso4-f2f')];
      return df || f2f ? new FaceDeepfakeDetector({ df, f2f }, c.riskConfig.params.faceDeepfake) : undefined;
    },
  },
  {
    id: 'presentation-attack',
    kind: 'frame',
    primary: true,
    evaluated: true,
    sampling: { input: 'video', perSecond: 'window', what: 'the screen and photo check' },
    models: ['minifasnet-v2-2.7', 'minifasnet-v1se-4.0'],
    build: (c: FrameBuildContext) => {
      const [v2, v1se] = [c.model('minifasnet-v2-2.7'), c.model('minifasnet-v1se-4.0')];
      return v2 || v1se ? new PresentationAttackDetector({ v2, v1se }) : undefined;
    },
  },
  // Enough frames for fusion to count it: minSamples in its window (risk-config.json).
  { id: 'face-blend', kind: 'frame', primary: false, evaluated: true, sampling: { input: 'video', perSecond: 'window', what: 'the face-blend check' }, models: [], build: () => new FaceBlendDetector() },
  { id: 'synthetic-voice', kind: 'speech', primary: true, evaluated: true, sampling: { input: 'audio', perSecond: 'window', what: 'the synthetic-voice check' } },
  // 40 samples in its 60 s window with no gap over 2 s: 1 frame a second leaves room for faceless moments.
  { id: 'blink', kind: 'window', primary: false, evaluated: true, needs: ['landmarks'], sampling: { input: 'face-frames', perSecond: 1, what: 'the blink check' }, build: () => new BlinkDetector() },
  // 20 mouth samples in its 30 s window, beside speech.
  { id: 'lip-sync', kind: 'window', primary: false, evaluated: true, needs: ['landmarks', 'audio'], sampling: { input: 'face-frames', perSecond: 1, what: 'the lip-sync check' }, build: () => new LipSyncDetector() },
  // The pulse band needs PulseDetector's minFps (5.5: the boosted 6 fps with some jitter).
  { id: 'pulse', kind: 'window', primary: false, evaluated: true, needs: ['face'], sampling: { input: 'face-frames', perSecond: 5.5, what: 'the pulse check' }, build: () => new PulseDetector() },
  // Both need consecutive samples close in time (their minFps: 5.5 and 6).
  { id: 'face-flicker', kind: 'window', primary: false, evaluated: true, needs: ['face'], sampling: { input: 'face-frames', perSecond: 5.5, what: 'the face-flicker check' }, build: () => new FaceFlickerDetector() },
  { id: 'landmark-jitter', kind: 'window', primary: false, evaluated: true, needs: ['landmarks'], sampling: { input: 'face-frames', perSecond: 6, what: 'the landmark-jitter check' }, build: () => new LandmarkJitterDetector() },
  // Every block of audio goes through it as it arrives, so no queue can starve it: no sampling need.
  { id: 'pitch-jitter', kind: 'window', primary: false, evaluated: true, needs: ['audio'], build: () => new PitchJitterDetector() },
  { id: 'client-integrity', kind: 'external', primary: false, evaluated: false },
  { id: 'liveness-check', kind: 'external', primary: true, evaluated: false },
] as const;

export type DetectorId = (typeof DETECTORS)[number]['id'];

export const DETECTOR_IDS = DETECTORS.map((d) => d.id) as [DetectorId, ...DetectorId[]];
export const PRIMARY_DETECTORS: ReadonlySet<DetectorId> = new Set(DETECTORS.filter((d) => d.primary).map((d) => d.id));
/** The primary frame detectors: the face classifiers that judge every sampled face crop. */
export const FACE_CLASSIFIERS: ReadonlySet<DetectorId> = new Set(DETECTORS.filter((d) => d.primary && d.kind === 'frame').map((d) => d.id));

const ENTRIES: readonly RegistryEntry<DetectorId>[] = DETECTORS;
export const frameEntries = (): FrameEntry<DetectorId>[] => ENTRIES.filter((d) => d.kind === 'frame');
export const windowEntries = (): WindowEntry<DetectorId>[] => ENTRIES.filter((d) => d.kind === 'window');
/**
 * Whether a window detector watches the face (and so needs video), whether it reads the face mesh
 * (and so needs the landmark model), and whether it listens (needs audio).
 */
export const watchesFace = (e: WindowEntry<string>): boolean => e.needs.includes('face') || e.needs.includes('landmarks');
export const readsLandmarks = (e: WindowEntry<string>): boolean => e.needs.includes('landmarks');
export const listens = (e: WindowEntry<string>): boolean => e.needs.includes('audio');

if (new Set(DETECTOR_IDS).size !== DETECTOR_IDS.length) throw new Error(`registry.ts: duplicate detector id in ${DETECTOR_IDS.join(', ')}`);
