/**
 * Challenge observing: while the server runs a liveness challenge for a participant, that stream
 * is sampled at the boosted rate and every sampled frame's measurements (pose, mouth, lower-face
 * occlusion, face scores, and every other face cue's score: challengeCues.ts) go back to the server, which judges the challenge. The analyzer only
 * measures; it also weighs the server's verdict as evidence once the check is over.
 */
import { logger } from '../log.ts';
import type { ChallengeResultMessage, ObserveRequest, UnobserveRequest } from '../protocol/analyzerChannel.ts';
import type { ChallengeSample } from '../protocol/challenge.ts';
import type { CallWatcher } from './CallWatcher.ts';
import type { ControlChannel } from './ControlChannel.ts';
import type { Landmarks } from './detectors/FaceLandmarks.ts';
import { livenessEvidence } from './detectors/LivenessCheck.ts';
import { headPose, mouthWidth } from './detectors/faceGeometry.ts';
import type { AnalyzerEmitter } from './events.ts';
import type { Detection } from './Scheduler.ts';
import type { Subject, Subjects } from './subjects.ts';
import { lowerFaceSignature, SIGNATURE_CELLS, signatureDistance } from './vision/occlusion.ts';

const log = logger('analyzer');

/** Frames averaged into the lower-face baseline of a challenge. */
const OCCLUSION_BASELINE_FRAMES = 3;

export interface ChallengeObserverDeps {
  watcher: CallWatcher;
  subjects: Subjects;
  events: AnalyzerEmitter;
  /** Absent in tests that drive the analyzer without a server. */
  control: () => ControlChannel | undefined;
}

export class ChallengeObserver {
  private readonly deps: ChallengeObserverDeps;

  constructor(deps: ChallengeObserverDeps) {
    this.deps = deps;
  }

  /** A liveness challenge began: sample this participant at the boosted rate and report each frame. */
  observe(o: ObserveRequest): void {
    if (!this.deps.watcher.watching(o.room)) return;
    const subject = this.deps.subjects.get(o.room, o.participantId);
    subject.observing = {
      challengeId: o.challengeId,
      until: Math.min(o.untilMs, Date.now() + 120_000),
      baseline: new Float32Array(SIGNATURE_CELLS),
      baselineFrames: 0,
      signature: new Float32Array(SIGNATURE_CELLS),
      cues: {},
    };
    this.deps.watcher.setBoosted(o.room, o.participantId, true);
    // The check's movements are judged by the check, not by the onset view (RiskFusion.pauseOnset).
    subject.fusion.pauseOnset(subject.observing.until + subject.fusion.onsetSpanMs);
    log.info('challenge: observing', { room: o.room, participant: o.participantId, challenge: o.challengeId });
  }

  unobserve(o: UnobserveRequest): void {
    const subject = this.deps.subjects.find(o.room, o.participantId);
    if (subject?.observing?.challengeId === o.challengeId) this.stop(subject);
  }

  /** The server's verdict on a finished check: evidence for fusion. */
  result(r: ChallengeResultMessage): void {
    if (this.deps.watcher.watching(r.room)) this.deps.subjects.get(r.room, r.participantId).fusion.add(livenessEvidence(r, Date.now()));
  }

  stop(subject: Subject): void {
    delete subject.observing;
    subject.fusion.pauseOnset(Date.now() + subject.fusion.onsetSpanMs);
    const state = subject.lastSent?.state;
    this.deps.watcher.setBoosted(subject.room, subject.participantId, state === 'SUSPICIOUS' || state === 'ALERT');
  }

  /** One frame's measurements for a running challenge. */
  sample(subject: Subject, takenAt: number, d: Detection, lm: Landmarks | undefined, deepfake: number | undefined, spoof: number | undefined): void {
    const o = subject.observing!;
    if (takenAt > o.until) {
      this.stop(subject);
      return;
    }
    const face = d.faces[0];
    const sample: ChallengeSample = { at: Math.round(takenAt), face: face !== undefined && lm !== undefined };
    if (face && lm) {
      const pose = headPose(lm.points);
      Object.assign(sample, { yaw: round(pose.yaw), pitch: round(pose.pitch), mouth: round(mouthWidth(lm.points), 3), presence: round(lm.presence, 3) });
      if (lowerFaceSignature(d.src, face.box, o.signature)) {
        if (o.baselineFrames < OCCLUSION_BASELINE_FRAMES) {
          // Running mean of the first frames: one odd frame does not become the reference.
          o.baselineFrames++;
          for (let i = 0; i < SIGNATURE_CELLS; i++) o.baseline[i]! += (o.signature[i]! - o.baseline[i]!) / o.baselineFrames;
        } else {
          sample.occlusion = round(signatureDistance(o.baseline, o.signature), 3);
        }
      }
      if (deepfake !== undefined) sample.deepfake = round(deepfake, 3);
      if (spoof !== undefined) sample.spoof = round(spoof, 3);
      if (d.tracks[0]) sample.track = d.tracks[0].id;
      if (Object.keys(o.cues).length) sample.cues = o.cues;
      o.cues = {};
    }
    this.deps.events.emit('challenge-sample', subject.room, subject.participantId, sample);
    this.deps.control()?.send('challenge.sample', { room: subject.room, participantId: subject.participantId, challengeId: o.challengeId, sample });
  }
}

function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
