/**
 * Scheduling: drains the per-stream sampling queues into inference, round-robin across streams,
 * one loop for video and one for audio. Never blocks a call: the sinks only fill bounded queues
 * (dropping the oldest), and these loops take from them as fast as the models allow.
 */
import { logger } from '../log.ts';
import { LatencyWindow } from '../metrics/LatencyWindow.ts';
import type { Metrics, Observer } from '../metrics/Metrics.ts';
import type { CallWatcher } from './CallWatcher.ts';
import type { ChallengeObserver } from './ChallengeObserver.ts';
import { noteCues } from './challengeCues.ts';
import type { Landmarks } from './detectors/FaceLandmarks.ts';
import type { AnalyzerEmitter } from './events.ts';
import { analyseFace, followLandmarks, observeLandmarks, type AnalyzerModels } from './pipeline.ts';
import type { AudioStream, SampledFrame, VideoStream } from './streams.ts';
import type { Subjects } from './subjects.ts';
import type { FaceDetection } from './vision/BlazeFace.ts';
import { i420Source, type ImageSource } from './vision/image.ts';
import { assessQuality, type QualityReport } from './vision/quality.ts';
import type { Track } from './vision/FaceTracker.ts';

const log = logger('analyzer');

/** One stream's frames in the face classifiers at once (see videoLoop): one running, one being prepared. */
const MAX_INFLIGHT_PER_STREAM = 2;

/** Streams of analysed participants are served before privileged ones; boosted (suspicious) first of all. */
const PRIORITY = { boosted: 10, analysed: 5, other: 0 } as const;

/** What face detection found in one sampled frame. */
export interface Detection {
  src: ImageSource;
  faces: FaceDetection[];
  quality: QualityReport;
  tracks: Track[];
}

export interface SchedulerDeps {
  watcher: CallWatcher;
  subjects: Subjects;
  challenges: ChallengeObserver;
  events: AnalyzerEmitter;
  metrics: Metrics;
  models: () => AnalyzerModels;
  /** Face classifications in flight at once (the batchers' batch size). */
  maxBatch: number;
}

export class Scheduler {
  private readonly deps: SchedulerDeps;
  private running = false;
  /** Loops waiting for samples; a sink wakes them all. */
  private readonly waiters = new Set<() => void>();
  /** Recent sample-to-score latencies, for the load each heartbeat reports (lagP95). */
  private readonly lag = new LatencyWindow();
  /** The same latencies for /metrics, as a histogram over the worker's life. */
  private readonly lagHistogram: Observer;
  private rr = 0;

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
    this.lagHistogram = deps.metrics.histogram('dfs_analyzer_lag_ms', 'Sample-to-score latency (arrival to scored), ms.');
  }

  start(): void {
    this.running = true;
    void this.videoLoop();
    void this.audioLoop();
  }

  stop(): void {
    this.running = false;
    this.wake();
  }

  /** A sample is waiting. */
  wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Sample-to-score latency p95 over recent samples, ms (NaN before any). */
  lagP95(): number {
    return this.lag.quantile(0.95);
  }

  private idle(): Promise<void> {
    return new Promise((r) => {
      this.waiters.add(r);
      setTimeout(() => this.waiters.delete(r) && r(), 100);
    });
  }

  private priorityOf(s: { id: { room: string; participantId: string } }, boosted: boolean): number {
    if (boosted) return PRIORITY.boosted;
    return this.deps.watcher.isAnalysed(s.id) ? PRIORITY.analysed : PRIORITY.other;
  }

  /**
   * Next stream with a waiting sample, round-robin. A boosted stream already gets more turns (it
   * samples 3x as often) and goes first in the model batches; serving it strictly first would
   * starve every other call while one is under suspicion.
   */
  private next<S extends VideoStream | AudioStream>(streams: Iterable<S>): S | undefined {
    const ready = [...streams].filter((s) => s.queue.length > 0);
    return ready.length ? ready[this.rr++ % ready.length] : undefined;
  }

  private async videoLoop(): Promise<void> {
    // Detection (fixed batch 1, fast) runs one frame at a time, so samples wait in their bounded
    // queues, not in here. The face classifiers then run in the background, so crops from several
    // streams meet in their batcher; at most maxBatch of them are in flight, and at most
    // MAX_INFLIGHT_PER_STREAM of one stream's. Without the second cap, a stream alone on a busy
    // analyzer had up to maxBatch frames queued inside the batcher, each one's evidence dated
    // when it started and recorded seconds later: its 10 s window held too few readings to judge
    // and fusion read "analysis degraded" while the stream was analysed at three times its need.
    // Its own bounded queue is where a stream's frames wait, and the oldest are dropped.
    const inflight = new Set<Promise<void>>();
    const perStream = new Map<VideoStream, number>();
    while (this.running) {
      const s = this.next([...this.deps.watcher.video.values()].filter((v) => (perStream.get(v) ?? 0) < MAX_INFLIGHT_PER_STREAM));
      if (!s) {
        // The classifiers' samples first; landmark frames fill the gaps (and wait, or drop, under load).
        const l = [...this.deps.watcher.video.values()].find((v) => v.landmarkQueue.length > 0);
        if (l) await this.landmarksOnly(l, l.landmarkQueue.take()!);
        else await this.idle();
        continue;
      }
      const item = s.queue.take()!;
      try {
        const rest = this.classify(s, item, await this.detect(s, item));
        inflight.add(rest);
        perStream.set(s, (perStream.get(s) ?? 0) + 1);
        void rest.finally(() => {
          inflight.delete(rest);
          const n = (perStream.get(s) ?? 1) - 1;
          if (n > 0) perStream.set(s, n);
          else perStream.delete(s);
          // A stream held back by its cap may go on now.
          this.wake();
        });
        if (inflight.size >= this.deps.maxBatch) await Promise.race(inflight);
      } catch (err) {
        log.error('frame analysis failed', { stream: s.key, err: (err as Error).message });
        // A sample face detection failed on is lost like one a classifier failed on (classify),
        // so a detector that keeps failing reads "analysis degraded", not a camera with nothing
        // to judge left to the voice alone.
        this.lostSample(s);
      }
    }
  }

  /**
   * A frame between the classifiers' samples: landmarks for the window detectors, on the crop the
   * last landmarks give (FaceFollower), or after face detection when there is none to follow.
   */
  private async landmarksOnly(s: VideoStream, item: SampledFrame): Promise<void> {
    const { watcher, subjects } = this.deps;
    if (!watcher.isAnalysed(s.id)) return;
    const subject = subjects.get(s.id.room, s.id.participantId);
    try {
      const at = Date.now();
      const boosted = s.sampler.boosted && !subject.observing;
      if (!(await followLandmarks(this.deps.models(), subject, s.follower, { src: i420Source(item.frame), at, priority: PRIORITY.analysed, boosted }))) {
        const d = await this.detect(s, item, false);
        const face = d.faces[0];
        s.faceSeen = d.quality.reason === 'ok' && face !== undefined;
        if (!s.faceSeen || !face) return;
        await observeLandmarks(this.deps.models(), subject, { src: d.src, face, at, priority: PRIORITY.analysed, boosted, follower: s.follower });
      }
      // One face frame to the window detectors: fusion compares their rate with their need.
      subject.fusion.sampled('face-frames', at);
    } catch (err) {
      log.error('landmark frame failed', { stream: s.key, err: (err as Error).message });
      subject.fusion.dropped('face-frames', Date.now());
    }
  }

  private async detect(s: VideoStream, item: SampledFrame, sampled = true): Promise<Detection> {
    if (sampled) this.deps.events.emit('sampled', s.id, item.frame);
    const src = i420Source(item.frame);
    const face = this.deps.models().face;
    const faces = face ? await face.detect(src) : [];
    let quality = assessQuality(src, faces);
    // A picture that stopped changing is no live face, however real it looks (FrozenPicture.ts).
    // Every sampled frame is observed, usable or not, so that the span is the stream's. The window
    // detectors must not read a still either (a pulse "found" on a photo, its blinks "missing"):
    // a frozen sample leaves no face seen, so the stream takes no landmark frames after it
    // (VideoStream.faceSeen); one already queued takes the last verdict here.
    const frozen = sampled ? s.frozen.observe(src, item.arrivedAt) : s.frozen.isFrozen;
    if (frozen && quality.reason === 'ok') quality = { ...quality, reason: 'frozen' };
    return { src, faces, quality, tracks: s.tracker.update(faces, item.arrivedAt) };
  }

  private async classify(s: VideoStream, item: SampledFrame, d: Detection): Promise<void> {
    const { watcher, subjects, events, metrics } = this.deps;
    try {
      const at = Date.now();
      const subject = watcher.isAnalysed(s.id) ? subjects.get(s.id.room, s.id.participantId) : undefined;
      subject?.fusion.addQuality(at, d.quality.reason);
      let deepfake: number | undefined;
      let spoof: number | undefined;
      let landmarks: Landmarks | undefined;
      const face = d.faces[0];
      s.faceSeen = d.quality.reason === 'ok' && face !== undefined;
      // A sample with no usable face (gone, a second one, too dark) stops the landmark frames
      // following the old one: they detect until a sample anchors a face again.
      if (!s.faceSeen) s.follower.reset();
      if (subject && d.quality.reason === 'ok' && face) {
        // During a challenge every frame counts and blinks do not: skip the slower iris refinement.
        const r = await analyseFace(this.deps.models(), subject, { src: d.src, face, at, priority: this.priorityOf(s, s.sampler.boosted), boosted: s.sampler.boosted && !subject.observing, follower: s.follower });
        deepfake = r.evidence['face-deepfake']?.score;
        spoof = r.evidence['presentation-attack']?.score;
        landmarks = r.landmarks;
        if (subject.observing) noteCues(subject.observing, Object.values(r.evidence));
        subject.fusion.sampled('face-frames', at);
      }
      // One frame through analysis: fusion compares the achieved rate with each detector's need.
      subject?.fusion.sampled('video', at);
      const latencyMs = performance.now() - item.arrivedAt;
      if (subject?.observing) this.deps.challenges.sample(subject, Date.now() - latencyMs, d, landmarks, deepfake, spoof);
      this.lag.add(latencyMs);
      this.lagHistogram.add(latencyMs);
      metrics.inc('dfs_analyzer_frame_quality_total', 'Analysed frames by what they allowed: ok, no-face, multiple-faces, too-dark, too-small, frozen.', {
        stream: s.key,
        reason: d.quality.reason,
      });
      events.emit('observation', {
        kind: 'video',
        stream: s.id,
        at,
        quality: d.quality.reason,
        faces: d.faces.length,
        ...(d.tracks[0] ? { trackId: d.tracks[0].id } : {}),
        ...(deepfake !== undefined ? { deepfake } : {}),
        ...(spoof !== undefined ? { spoof } : {}),
        latencyMs,
      });
    } catch (err) {
      if ((err as Error).name !== 'BatcherFullError') log.error('frame analysis failed', { stream: s.key, err: (err as Error).message });
      // Lost either way (a full batch, or a model that failed): fusion counts it (analysis degraded).
      this.lostSample(s);
    }
  }

  /** A video sample lost before it was judged: fusion counts it (and a face frame while a face is in view). */
  private lostSample(s: VideoStream): void {
    if (!this.deps.watcher.isAnalysed(s.id)) return;
    const fusion = this.deps.subjects.get(s.id.room, s.id.participantId).fusion;
    fusion.dropped('video', Date.now());
    if (s.faceSeen) fusion.dropped('face-frames', Date.now());
  }

  private async audioLoop(): Promise<void> {
    const { watcher, subjects, events } = this.deps;
    while (this.running) {
      const s = this.next(watcher.audio.values());
      if (!s) {
        await this.idle();
        continue;
      }
      const w = s.queue.take()!;
      try {
        let voice: number | undefined;
        const model = this.deps.models().voice;
        if (model && watcher.isAnalysed(s.id)) {
          const at = Date.now();
          const e = await model.analyse({ samples: w.samples, at, voicedFraction: w.voicedFraction, priority: this.priorityOf(s, false), ...(w.speechSamples !== undefined ? { speechSamples: w.speechSamples } : {}) });
          const fusion = subjects.get(s.id.room, s.id.participantId).fusion;
          fusion.add(e);
          fusion.sampled('audio', at);
          voice = e.score;
          s.judged(e.score);
        }
        const latencyMs = performance.now() - w.arrivedAt;
        events.emit('observation', { kind: 'audio', stream: s.id, at: Date.now(), voicedFraction: w.voicedFraction, ...(voice !== undefined ? { syntheticVoice: voice } : {}), latencyMs });
      } catch (err) {
        log.error('audio analysis failed', { stream: s.key, err: (err as Error).message });
        // A window the model could not judge is a lost one: fusion counts it, so a voice model
        // that keeps failing (its thread gone) reads "analysis degraded", not a quiet gap.
        if (watcher.isAnalysed(s.id)) subjects.get(s.id.room, s.id.participantId).fusion.dropped('audio', Date.now());
      } finally {
        s.windower.release(w.samples);
      }
    }
  }
}
