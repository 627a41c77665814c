/**
 * Risk publishing: once a second, re-fuses every analysed participant and sends a change to the
 * server at once and an unchanged state every few seconds (so a server that restarted, or a desk
 * that missed one, catches up). Suspicion boosts that participant's sampling. With each tick,
 * what the participant's fusion was told since the last one goes to the server too (`evidence`,
 * numbers only), for the audit log's calibration record (recordFusion.ts).
 */
import { MAX_EVIDENCE_BATCH } from '../protocol/analyzerChannel.ts';
import type { RiskUpdate } from '../protocol/messages.ts';
import type { CallWatcher } from './CallWatcher.ts';
import type { ControlChannel } from './ControlChannel.ts';
import type { AnalyzerEmitter } from './events.ts';
import { noteCues } from './challengeCues.ts';
import { FACE_CLASSIFIERS } from './detectors/registry.ts';
import { fuseSubject } from './pipeline.ts';
import type { Subject, Subjects } from './subjects.ts';

/** An unchanged state is re-sent after this long. */
const REFRESH_MS = 3000;

export interface RiskPublisherDeps {
  watcher: CallWatcher;
  subjects: Subjects;
  events: AnalyzerEmitter;
  control: () => ControlChannel | undefined;
}

export class RiskPublisher {
  private readonly deps: RiskPublisherDeps;
  private timer: NodeJS.Timeout | undefined;

  constructor(deps: RiskPublisherDeps) {
    this.deps = deps;
  }

  start(periodMs = 1000): void {
    this.timer = setInterval(() => this.publish(), periodMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Re-fuses every subject; sends a change at once and a refresh every few seconds. */
  publish(): void {
    const { watcher, subjects, events } = this.deps;
    const now = Date.now();
    for (const s of subjects) {
      if (!watcher.present(s.room, s.participantId)) {
        subjects.delete(s);
        continue;
      }
      // What the analyzer means to sample of this participant, for fusion's "analysis degraded".
      const v = watcher.video.get(`${s.room}/${s.participantId}/video`);
      const a = watcher.audio.get(`${s.room}/${s.participantId}/audio`);
      s.fusion.setSamplingTarget('video', v ? v.targetFps : 0);
      s.fusion.setSamplingTarget('audio', a ? a.targetPerSecond : 0);
      s.fusion.setSamplingTarget('face-frames', v ? v.faceFramesTarget(performance.now()) : 0);
      const stalled = watcher.videoStalledFor(s.room, s.participantId);
      s.fusion.setVideoStalled(stalled);
      if (stalled !== undefined) watcher.refreshStalledVideo(s.room, s.participantId, stalled);
      const { snapshot: snap, windowEvidence } = fuseSubject(s, now);
      this.sendEvidence(s);
      if (s.observing) noteCues(s.observing, windowEvidence);
      if (s.observing && now > s.observing.until) delete s.observing;
      watcher.setBoosted(s.room, s.participantId, s.observing !== undefined || snap.state === 'SUSPICIOUS' || snap.state === 'ALERT');
      const faceJudged = snap.reasons.some((r) => FACE_CLASSIFIERS.has(r.detector));
      watcher.setClear(s.room, s.participantId, snap.state === 'CLEAR', faceJudged);
      const top = snap.reasons[0]?.text;
      const degraded = snap.degraded.map((d) => d.detector).join(',');
      const changed = s.lastSent?.state !== snap.state || s.lastSent.top !== top || s.lastSent.degraded !== degraded;
      if (!changed && s.lastSent && now - s.lastSent.at < REFRESH_MS) continue;
      s.lastSent = { state: snap.state, at: now, degraded, ...(top ? { top } : {}) };
      const update: RiskUpdate = {
        participantId: s.participantId,
        state: snap.state,
        risk: Number(snap.risk.toFixed(3)),
        reasons: snap.reasons.slice(0, 5).map((r) => ({ detector: r.detector, text: r.text, contribution: Number(r.contribution.toFixed(3)), score: Number(r.score.toFixed(3)) })),
        gaps: snap.gaps.slice(0, 5),
        since: snap.since,
        at: now,
        ...(snap.raisedBy.length ? { raisedBy: snap.raisedBy } : {}),
        ...(snap.degraded.length ? { degraded: snap.degraded.slice(0, 8) } : {}),
      };
      events.emit('risk', s.room, update);
      this.deps.control()?.send('risk', { room: s.room, update });
    }
  }

  /**
   * The subject's recorded fusion inputs since the last tick, to the server; emptied either way,
   * so that nothing piles up while the server is away (what it missed is missing from the record,
   * which replays what it has).
   */
  private sendEvidence(s: Subject): void {
    const control = this.deps.control();
    const inputs = s.recorded.inputs;
    while (inputs.length) {
      const batch = inputs.splice(0, MAX_EVIDENCE_BATCH);
      control?.send('evidence', { room: s.room, participantId: s.participantId, start: s.recorded.start, inputs: batch });
    }
  }
}
