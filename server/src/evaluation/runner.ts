/**
 * Plays one labelled clip through the analyzer's own code on a simulated clock, as if it were a
 * participant's stream in a call: frames through the FrameSampler at the analyzer's rates (base,
 * boosted while SUSPICIOUS or ALERT), BlazeFace and the frame quality check, the face detectors
 * and landmarks (pipeline.analyseFace), audio in 10 ms blocks through the AudioWindower and its
 * voice gate to the synthetic-voice detector, and once a simulated second the window detectors
 * and RiskFusion (pipeline.fuseSubject). Records what each detector said and what fusion did.
 *
 * Still images are held on screen for `stillSeconds` (a frozen picture) so that fusion, which
 * needs several readings, can reach a verdict; they have no time axis of their own, so time to
 * detect and false alarms per minute are not measured on them.
 */
import { decodeAudio } from '../analyzer/audio/decode.ts';
import type { Evidence } from '../analyzer/detectors/Detector.ts';
import { DETECTORS, listens, readsLandmarks, watchesFace } from '../analyzer/detectors/registry.ts';
import type { RiskConfig, RiskStateName } from '../analyzer/fusion/RiskFusion.ts';
import { analyseFace, followLandmarks, fuseSubject, landmarkSampler, newSubjectAnalysis, observeLandmarks, observeSpeech, type AnalyzerModels } from '../analyzer/pipeline.ts';
import { AudioWindower, type AudioWindow } from '../analyzer/sampling/AudioWindower.ts';
import { DcBlocker } from '../analyzer/sampling/DcBlocker.ts';
import { FrozenPicture } from '../analyzer/vision/FrozenPicture.ts';
import { FrameSampler } from '../analyzer/sampling/FrameSampler.ts';
import type { I420Frame } from '../headless/wrtc.ts';
import { FaceFollower } from '../analyzer/vision/FaceFollower.ts';
import { i420Source } from '../analyzer/vision/image.ts';
import { assessQuality, type QualityReason } from '../analyzer/vision/quality.ts';
import { EncodedClip, type CallCodecs } from './codecs.ts';
import type { Clip, ClipKind } from './dataset.ts';
import { FusedTracker, playTail, recordFusion, type FusionInput } from './fusion.ts';
import { decodeImage, decodeVideo, probeMedia } from './media.ts';
import { weightedMean } from './metrics.ts';

type Evaluated = Extract<(typeof DETECTORS)[number], { evaluated: true }>;
/** Detectors the evaluation measures: the registry's, less external evidence (client-integrity needs the caller's browser). */
export const EVALUATED_DETECTORS = DETECTORS.filter((d): d is Evaluated => d.evaluated).map((d) => d.id);
export type EvaluatedDetector = Evaluated['id'];
const EVALUATED_ENTRIES = DETECTORS.filter((d): d is Evaluated => d.evaluated);

export interface RunSettings {
  /** Video sampling, as the analyzer (ANALYZER_BASE_FPS / ANALYZER_BOOST_FPS). */
  baseFps: number;
  boostedFps: number;
  /** Landmarks-only frames per second while a face is present (ANALYZER_LANDMARK_FPS); absent or 0: off. */
  landmarkFps?: number;
  /** Hop between 4.04 s audio windows (ANALYZER_AUDIO_HOP_S). */
  audioHopSeconds: number;
  /** How long a still image is held on screen. */
  stillSeconds: number;
  /** Frame rate of image sequences. */
  sequenceFps: number;
  /** Seconds the call goes on after the clip with nothing new (fusion.ts playTail); absent in reports before it: 0. */
  tailSeconds?: number;
  /** The call's codecs each clip goes through before the analyzer sees it (codecs.ts); absent: the files as they are. */
  through?: CallCodecs;
}

export interface DetectorClipResult {
  /** The detector has something to judge in this kind of clip (a face detector on audio does not). */
  applicable: boolean;
  /** Its model(s) loaded. */
  available: boolean;
  /** Chances it had to judge: sampled frames (face detectors), audio windows (voice), fusion ticks (window detectors). */
  attempts: number;
  /** Of those, the ones it could not judge (no usable face, too little speech, its own abstention). */
  abstained: number;
  /** Confidence-weighted mean of its scores over the clip; null when it never judged. */
  score: number | null;
  /** Highest score of the fusion's window view of it (after its minimum readings); null when never in view. */
  windowMax: number | null;
  /** Seconds from the start to the first tick its window view reached 0.5 (its own "fake" side); null: never. */
  firstFlagS: number | null;
  /** Times its window view crossed up to 0.5 or more. */
  flagEntries: number;
  /** Why it abstained, with counts (numbers in the reasons stripped). */
  abstainReasons: Record<string, number>;
}

export interface FusedClipResult {
  /** Some tick had a primary detector in view, i.e. fusion could give a verdict. */
  judged: boolean;
  /** Highest fused risk over the ticks with a verdict; null when none. */
  maxRisk: number | null;
  finalState: RiskStateName;
  finalRisk: number;
  firstSuspiciousS: number | null;
  firstAlertS: number | null;
  /** Moves into SUSPICIOUS or ALERT from below. */
  suspiciousEntries: number;
  /** Moves into ALERT: each raises an alert to the clinician. */
  alertEntries: number;
  /** Simulated seconds spent in each state, the tail after the clip included (fusion.ts playTail). */
  stateSeconds: Partial<Record<RiskStateName, number>>;
  /** The top reason at the clip's worst moment. */
  topReason?: string;
}

export interface ClipResult {
  id: string;
  label: Clip['label'];
  kind: ClipKind;
  attack?: string;
  /** Has a real time axis (video, sequence, audio); stills do not. */
  timed: boolean;
  /** Length of the clip (null for stills). */
  durationS: number | null;
  /** Simulated time played (a still's hold time). */
  simulatedS: number;
  video?: { sampledFrames: number; boostedFrames: number; quality: Partial<Record<QualityReason, number>> };
  /** speechS: voiced speech in the clip, by the analyzer's voice gate (AudioWindower.speechSamples). */
  audio?: { windows: number; skippedNoSpeech: number; speechS?: number };
  detectors: Record<EvaluatedDetector, DetectorClipResult>;
  fused: FusedClipResult;
  /**
   * Every fusion tick: seconds from the start and each detector's window view in fusion then,
   * [score, confidence] (detectors without a view are absent). What `npm run calibrate` replays
   * through RiskFusion with other weights and thresholds, without playing the clip again.
   */
  timeline?: { t: number; views: Record<string, [number, number]> }[];
  /**
   * Everything fusion was told, in order (fusion.ts: FusionInput), ms from the clip's start: what
   * `npm run eval -- --refuse` replays through another fusion (code or risk-config.json) without
   * playing the clip again.
   */
  fusionInputs?: FusionInput[];
  /** The clip could not be played (decode error...): it is left out of every metric. */
  error?: string;
  elapsedMs: number;
}

/** Epoch of the simulated clock (ms); results are reported relative to it. */
const T0 = 1_700_000_000_000;
const PRIORITY = { analysed: 5, boosted: 10 } as const;
const BLOCK = 160; // 10 ms at 16 kHz, as the live audio path delivers energy
const RATE = 16000;

class DetectorTrace {
  readonly r: DetectorClipResult;
  private readonly readings: { score: number; confidence: number }[] = [];
  private flagged = false;

  constructor(applicable: boolean, available: boolean) {
    this.r = { applicable, available, attempts: 0, abstained: 0, score: null, windowMax: null, firstFlagS: null, flagEntries: 0, abstainReasons: {} };
  }

  reading(e: Evidence | undefined): void {
    if (!e) return;
    this.r.attempts++;
    if (e.score === undefined || !(e.confidence > 0)) this.abstain(e.reason);
    else this.readings.push({ score: e.score, confidence: e.confidence });
  }

  abstain(reason: string): void {
    const key = reason.replace(/\s*\([^)]*\)/g, '').trim();
    this.r.abstainReasons[key] = (this.r.abstainReasons[key] ?? 0) + 1;
    this.r.abstained++;
  }

  skipped(reason: string): void {
    this.r.attempts++;
    this.abstain(reason);
  }

  view(score: number | undefined, tMs: number): void {
    if (score === undefined) {
      this.flagged = false;
      return;
    }
    this.r.windowMax = Math.max(this.r.windowMax ?? 0, score);
    const flag = score >= 0.5;
    if (flag && !this.flagged) {
      this.r.flagEntries++;
      this.r.firstFlagS ??= tMs / 1000;
    }
    this.flagged = flag;
  }

  finish(): DetectorClipResult {
    this.r.score = weightedMean(this.readings);
    return this.r;
  }
}

const QUALITY_REASON: Record<Exclude<QualityReason, 'ok'>, string> = {
  'no-face': 'no face in the frame',
  'multiple-faces': 'several faces in the frame',
  'too-dark': 'too dark',
  'too-small': 'face too small',
  frozen: 'the picture stopped changing',
};

interface FrameSource {
  /** Presentation times (ms from the clip start) with a way to get the picture, only called for sampled frames. */
  frames: AsyncIterable<{ ts: number; get: () => Promise<I420Frame> | I420Frame }>;
  /** Known end of the video (ms), else the last frame's time plus one frame. */
  endMs?: number;
  frameMs: number;
}

async function* timed<T>(items: AsyncIterable<T> | Iterable<T>, stepMs: number): AsyncGenerator<{ ts: number; get: () => T }> {
  let i = 0;
  for await (const item of items) yield { ts: i++ * stepMs, get: () => item };
}

function* repeat<T>(n: number, make: (i: number) => T): Generator<T> {
  for (let i = 0; i < n; i++) yield make(i);
}

export interface RunContext {
  models: AnalyzerModels;
  riskConfig: RiskConfig;
  settings: RunSettings;
}

/** The last frame of a decoded video: a still after the video codec has refined it (codecs.ts). */
async function lastFrame(frames: AsyncIterable<I420Frame>, what: string): Promise<I420Frame> {
  let last: I420Frame | undefined;
  for await (const f of frames) last = f;
  if (!last) throw new Error(`no picture in ${what} after the video codec`);
  return last;
}

/**
 * Plays one clip (see the header). Never throws: a clip that cannot be played comes back with
 * `error`. With `settings.through`, the clip goes through the call's codecs first (codecs.ts);
 * the encoded copies live until the clip has been played.
 */
export async function runClip(clip: Clip, ctx: RunContext): Promise<ClipResult> {
  const through = ctx.settings.through;
  if (!through?.video && !through?.audio) return playClip(clip, ctx);
  const encoded = new EncodedClip(through, clip.path ?? clip.id);
  try {
    return await playClip(clip, ctx, encoded);
  } finally {
    // A copy left in the temporary folder is not worth losing the clip's result over.
    await encoded.dispose().catch(() => undefined);
  }
}

async function playClip(clip: Clip, ctx: RunContext, encoded?: EncodedClip): Promise<ClipResult> {
  const started = performance.now();
  const { models, riskConfig, settings } = ctx;
  let kind = clip.kind;
  let frames: FrameSource | undefined;
  let audio: Float32Array | undefined;
  let durationMs: number | null = null;
  // The audio as the analyzer would hear it: through the call's audio codec when there is one.
  const hear = async (samples?: Float32Array): Promise<Float32Array> => {
    const copy = await encoded?.audio(samples);
    return copy ? decodeAudio(copy) : (samples ?? decodeAudio(clip.path!));
  };
  try {
    if (clip.kind === 'audio') {
      audio = await hear(clip.samples);
      durationMs = (audio.length / RATE) * 1000;
    } else if (clip.kind === 'image') {
      const held = await encoded?.still();
      const still = held ? await lastFrame(decodeVideo(held, 30), clip.path!) : await decodeImage(clip.path!);
      const frameMs = 1000 / settings.boostedFps;
      const n = Math.max(1, Math.round(settings.stillSeconds * settings.boostedFps));
      frames = { frames: timed(repeat(n, () => still), frameMs), frameMs, endMs: n * frameMs };
    } else if (clip.kind === 'sequence') {
      const frameMs = 1000 / settings.sequenceFps;
      const files = clip.frames ?? [];
      // Only the frames the sampler keeps are decoded.
      const lazy = (async function* () {
        for await (const f of timed(files, frameMs)) yield { ts: f.ts, get: () => decodeImage(f.get()) };
      })();
      frames = { frames: lazy, frameMs, endMs: files.length * frameMs };
      durationMs = files.length * frameMs;
    } else {
      const info = await probeMedia(clip.path!);
      if (!info.video && !info.audio) throw new Error('no video or audio stream');
      if (info.audio) audio = await hear();
      if (info.video) {
        // Decode no faster than the analyzer ever samples; a slower source keeps its own rate.
        // Through a video codec the clip is encoded at its own rate, as a camera's frames are.
        const most = Math.max(settings.boostedFps, settings.landmarkFps ?? 0);
        const fps = Math.min(info.video.fps ?? most, most);
        const frameMs = 1000 / fps;
        const source = encoded ? await encoded.video() : clip.path!;
        frames = { frames: timed(decodeVideo(source, fps), frameMs), frameMs, ...(info.duration ? { endMs: info.duration * 1000 } : {}) };
      } else {
        kind = 'audio';
      }
      durationMs = info.duration ? info.duration * 1000 : audio ? (audio.length / RATE) * 1000 : null;
    }
  } catch (err) {
    return failed(clip, kind, (err as Error).message, started);
  }

  const hasVideo = frames !== undefined;
  const hasAudio = audio !== undefined;
  const timedClip = kind !== 'image';
  // From the registry: frame detectors judge any video, window detectors need time (and video when
  // they watch the face, audio when they listen).
  const applicableTo = (d: Evaluated): boolean =>
    d.kind === 'frame' ? hasVideo : d.kind === 'speech' ? hasAudio : timedClip && (!watchesFace(d) || hasVideo) && (!listens(d) || hasAudio);
  const availableTo = (d: Evaluated): boolean =>
    d.kind === 'frame'
      ? !!models.face && models.frame.some((f) => f.id === d.id)
      : d.kind === 'speech'
        ? !!models.voice
        : (!watchesFace(d) || !!models.face) && (!readsLandmarks(d) || !!models.landmarks);
  const traces = Object.fromEntries(EVALUATED_ENTRIES.map((d) => [d.id, new DetectorTrace(applicableTo(d), availableTo(d))])) as Record<EvaluatedDetector, DetectorTrace>;
  const frameTraces = models.frame.map((d) => traces[d.id as EvaluatedDetector]).filter((t) => t !== undefined);

  const subject = newSubjectAnalysis(riskConfig, T0);
  const sampler = new FrameSampler({ baseFps: settings.baseFps, boostedFps: settings.boostedFps });
  // As the analyzer: landmark frames between the classifiers' samples while a face is present.
  const landmarkFrames = landmarkSampler(settings.landmarkFps ?? 0, settings.boostedFps);
  const follower = new FaceFollower();
  // A still image is the evaluation's stand-in for a live camera showing that face, held for
  // stillSeconds only so that fusion gets its readings: never called frozen. Videos and sequences
  // are what a camera sends, and are judged as the live analyzer judges them.
  const frozen = clip.kind === 'image' ? undefined : new FrozenPicture();
  let faceSeen = false;
  const windower = new AudioWindower({ hopLength: Math.round(settings.audioHopSeconds * RATE) });
  const dcBlocker = new DcBlocker();
  const video = { sampledFrames: 0, boostedFrames: 0, quality: {} as Partial<Record<QualityReason, number>> };
  const fusionInputs = recordFusion(subject.fusion, T0);
  const tracker = new FusedTracker(subject.fusion.state);
  const fused = tracker.fused;
  let audioPos = 0;
  let skippedSeen = 0;
  let nextTick = 1000;
  let lastTick = 0;
  const timeline: NonNullable<ClipResult['timeline']> = [];
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

  const tick = (t: number): void => {
    const { snapshot, windowEvidence } = fuseSubject(subject, T0 + t);
    for (const e of windowEvidence) {
      const tr = traces[e.detector as EvaluatedDetector];
      if (tr?.r.applicable) tr.reading(e);
    }
    for (const d of EVALUATED_DETECTORS) {
      if (traces[d].r.applicable) traces[d].view(snapshot.reasons.find((r) => r.detector === d)?.score, t);
    }
    timeline.push({ t: t / 1000, views: Object.fromEntries(snapshot.reasons.map((r) => [r.detector, [r4(r.score), r4(r.confidence)]])) });
    tracker.tick(snapshot, t);
    lastTick = t;
    const state = snapshot.state;
    // As the analyzer: a suspicious stream is sampled faster.
    sampler.setBoosted(state === 'SUSPICIOUS' || state === 'ALERT');
    landmarkFrames?.setBoosted(state === 'SUSPICIOUS' || state === 'ALERT');
  };

  const audioBlock = async (): Promise<void> => {
    const a = audio!;
    const end = Math.min(audioPos + BLOCK, a.length);
    // As the analyzer (AudioStream.offer): the DC offset out first. A copy: the clip's samples stay as decoded.
    const block = dcBlocker.process(a.slice(audioPos, end));
    audioPos = end;
    let sum = 0;
    for (let i = 0; i < block.length; i++) sum += block[i]! * block[i]!;
    observeSpeech(subject, { at: T0 + (end / RATE) * 1000, rms: Math.sqrt(sum / Math.max(1, block.length)), samples: block });
    const windows: AudioWindow[] = [];
    windower.push(block, (w) => windows.push(w));
    const trace = traces['synthetic-voice'];
    for (; skippedSeen < windower.windowsSkippedNoSpeech; skippedSeen++) trace.skipped('Too little speech in this stretch (the voice gate skipped it)');
    await judgeWindows(windows);
  };

  /** The voice model on windows the windower emitted, timed at their end (or at `atMs`, the clip's end, for a flushed one). */
  const judgeWindows = async (windows: AudioWindow[], atMs?: number): Promise<void> => {
    const trace = traces['synthetic-voice'];
    for (const w of windows) {
      try {
        if (!models.voice) continue;
        const at = T0 + (atMs ?? ((w.startSample + windower.windowLength) / RATE) * 1000);
        const e = await models.voice.analyse({ samples: w.samples, at, voicedFraction: w.voicedFraction, priority: PRIORITY.analysed, ...(w.speechSamples !== undefined ? { speechSamples: w.speechSamples } : {}) });
        subject.fusion.add(e);
        trace.reading(e);
      } finally {
        windower.release(w.samples);
      }
    }
  };

  /** Plays audio blocks and fusion ticks, in time order, up to `toMs`. */
  const advance = async (toMs: number): Promise<void> => {
    for (;;) {
      const audioAt = audio && audioPos < audio.length ? (Math.min(audioPos + BLOCK, audio.length) / RATE) * 1000 : Infinity;
      const t = Math.min(audioAt, nextTick);
      if (t > toMs) return;
      if (audioAt <= nextTick) await audioBlock();
      else {
        tick(nextTick);
        nextTick += 1000;
      }
    }
  };

  try {
    let endMs = durationMs ?? 0;
    if (frames) {
      let lastTs = -1;
      for await (const f of frames.frames) {
        await advance(f.ts);
        lastTs = f.ts;
        const landmarkFrame = landmarkFrames?.offer(f.ts) ?? false;
        if (!sampler.offer(f.ts)) {
          if (!landmarkFrame || !faceSeen) continue;
          const src = i420Source(await f.get());
          const lmFrame = { src, at: T0 + f.ts, priority: PRIORITY.analysed, boosted: sampler.boosted };
          if (await followLandmarks(models, subject, follower, lmFrame)) continue;
          const faces = models.face ? await models.face.detect(src) : [];
          const face = faces[0];
          faceSeen = assessQuality(src, faces).reason === 'ok' && face !== undefined;
          if (faceSeen && face) await observeLandmarks(models, subject, { ...lmFrame, face, follower });
          continue;
        }
        const at = T0 + f.ts;
        const src = i420Source(await f.get());
        const faces = models.face ? await models.face.detect(src) : [];
        let quality = assessQuality(src, faces);
        // As the live analyzer (Scheduler.detect): a picture that stopped changing is not judged.
        if (frozen?.observe(src, f.ts) && quality.reason === 'ok') quality = { ...quality, reason: 'frozen' };
        faceSeen = quality.reason === 'ok' && faces[0] !== undefined;
        if (!faceSeen) follower.reset();
        subject.fusion.addQuality(at, quality.reason);
        video.sampledFrames++;
        if (sampler.boosted) video.boostedFrames++;
        video.quality[quality.reason] = (video.quality[quality.reason] ?? 0) + 1;
        const face = faces[0];
        if (quality.reason === 'ok' && face) {
          const r = await analyseFace(models, subject, { src, face, at, priority: sampler.boosted ? PRIORITY.boosted : PRIORITY.analysed, boosted: sampler.boosted, follower });
          for (const d of models.frame) traces[d.id as EvaluatedDetector]?.reading(r.evidence[d.id]);
        } else {
          const why = `No usable face: ${QUALITY_REASON[quality.reason as Exclude<QualityReason, 'ok'>] ?? quality.reason}`;
          for (const t of frameTraces) t.skipped(why);
        }
      }
      endMs = Math.max(endMs, frames.endMs ?? 0, lastTs + frames.frameMs);
    }
    if (audio) endMs = Math.max(endMs, (audio.length / RATE) * 1000);
    await advance(endMs);
    // The clip's end is the stream's: speech no window has covered yet (a clip under 4.04 s, or
    // a tail) is judged now if there are 2 s of it, repeated to the model's length.
    const last: AudioWindow[] = [];
    const flushed = audio ? windower.flush((w) => last.push(w)) : false;
    await judgeWindows(last, endMs);
    if (lastTick < endMs || flushed) tick(Math.max(lastTick, endMs));
    // The call goes on after the clip (fusion.ts playTail). Not recorded: the recorded inputs are
    // the media's, and a replay plays the tail again (refuseReport).
    const recorded = fusionInputs.length;
    playTail(subject.fusion, tracker, T0, lastTick, endMs, (settings.tailSeconds ?? 0) * 1000);
    fusionInputs.length = recorded;
    if (audio && models.voice && windower.windowsEmitted + windower.windowsSkippedNoSpeech === 0) {
      traces['synthetic-voice'].skipped(`Under ${(windower.minSpeechSamples / RATE).toFixed(1)} s of voiced speech in a clip shorter than one ${(windower.windowLength / RATE).toFixed(2)} s window`);
    }
  } catch (err) {
    return failed(clip, kind, (err as Error).message, started);
  }

  return {
    id: clip.id,
    label: clip.label,
    kind,
    ...(clip.attack ? { attack: clip.attack } : {}),
    timed: timedClip,
    durationS: timedClip && durationMs !== null ? durationMs / 1000 : null,
    simulatedS: lastTick / 1000,
    ...(hasVideo ? { video } : {}),
    ...(hasAudio ? { audio: { windows: windower.windowsEmitted, skippedNoSpeech: windower.windowsSkippedNoSpeech, speechS: Math.round((windower.speechSamples / RATE) * 100) / 100 } } : {}),
    detectors: Object.fromEntries(EVALUATED_DETECTORS.map((d) => [d, traces[d].finish()])) as Record<EvaluatedDetector, DetectorClipResult>,
    fused,
    timeline,
    fusionInputs,
    elapsedMs: Math.round(performance.now() - started),
  };
}

/** Every evaluated detector with nothing measured: a clip that could not be played, or one rebuilt from fusion's inputs alone (auditClips.ts). */
export function noDetectorResults(): Record<EvaluatedDetector, DetectorClipResult> {
  return Object.fromEntries(
    EVALUATED_DETECTORS.map((d) => [d, { applicable: false, available: false, attempts: 0, abstained: 0, score: null, windowMax: null, firstFlagS: null, flagEntries: 0, abstainReasons: {} }]),
  ) as Record<EvaluatedDetector, DetectorClipResult>;
}

function failed(clip: Clip, kind: ClipKind, message: string, started: number): ClipResult {
  const error = message.replace(/\s+/g, ' ').trim();
  return {
    id: clip.id,
    label: clip.label,
    kind,
    ...(clip.attack ? { attack: clip.attack } : {}),
    timed: false,
    durationS: null,
    simulatedS: 0,
    detectors: noDetectorResults(),
    fused: { judged: false, maxRisk: null, finalState: 'ANALYZING', finalRisk: 0, firstSuspiciousS: null, firstAlertS: null, suspiciousEntries: 0, alertEntries: 0, stateSeconds: {} },
    error,
    elapsedMs: Math.round(performance.now() - started),
  };
}
