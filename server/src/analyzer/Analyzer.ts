/**
 * The analyzer: a hidden, receive-only participant in every open call (LiveKit-style: just another
 * participant, joined with a service credential through the same signaling as browsers). It samples
 * each stream, runs the models, and reports observations. It never blocks a call: sinks only copy
 * into bounded queues, and inference drains them as fast as it can, dropping the oldest samples.
 */
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import { onAudioData, onVideoFrames } from '../headless/HeadlessParticipant.ts';
import { WrtcPeerConnection, type I420Frame } from '../headless/wrtc.ts';
import { logger } from '../log.ts';
import { LatencyWindow } from '../metrics/LatencyWindow.ts';
import { Metrics } from '../metrics/Metrics.ts';
import { CallSession, type RemoteTrack } from '../protocol/CallSession.ts';
import type { ChallengeSample } from '../protocol/challenge.ts';
import type { ObserveRequest } from '../analysis/AnalyzerHub.ts';
import type { IntegrityReport, RiskUpdate } from '../protocol/messages.ts';
import { isPrivileged, type Role } from '../protocol/roles.ts';
import type { AnalyzerConfig } from './config.ts';
import type { InferenceRuntime } from './inference/InferenceRuntime.ts';
import type { ModelRunner } from './inference/ModelRunner.ts';
import { integrityEvidence } from './detectors/ClientIntegrity.ts';
import { livenessEvidence, type ChallengeOutcome } from './detectors/LivenessCheck.ts';
import { loadRiskConfig, type RiskConfig } from './fusion/RiskFusion.ts';
import { analyseFace, fuseSubject, loadAnalyzerModels, newSubjectAnalysis, observeSpeech, type AnalyzerModels, type SubjectAnalysis } from './pipeline.ts';
import { AudioStream, VideoStream, type SampledFrame, type StreamId } from './streams.ts';
import { i420Source } from './vision/image.ts';
import { headPose, mouthWidth } from './detectors/faceGeometry.ts';
import type { Landmarks } from './detectors/FaceLandmarks.ts';
import { lowerFaceSignature, SIGNATURE_CELLS, signatureDistance } from './vision/occlusion.ts';
import { assessQuality, type QualityReason } from './vision/quality.ts';

const log = logger('analyzer');

/** What the analyzer saw in one sample; fusion (a later stage) turns these into risk. */
export type Observation =
  | {
      kind: 'video';
      stream: StreamId;
      at: number;
      quality: QualityReason;
      faces: number;
      trackId?: number;
      /** MesoNet's fake score, when a usable face of an analysed participant was found. */
      deepfake?: number;
      /** MiniFASNet's spoof score, likewise. */
      spoof?: number;
      latencyMs: number;
    }
  | { kind: 'audio'; stream: StreamId; at: number; voicedFraction: number; syntheticVoice?: number; latencyMs: number };

export interface AnalyzerEvents {
  /** A frame the sampler kept, as the analyzer received it (tests check its content). */
  sampled: [StreamId, I420Frame];
  observation: [Observation];
  /** A participant's fused risk, as sent to the server. */
  risk: [string, RiskUpdate];
  /** A challenge measurement, as sent to the server. */
  'challenge-sample': [string, string, ChallengeSample];
  /** Joined a call / left it. */
  joined: [string];
  left: [string];
}

/** Streams of analysed participants are served before privileged ones; boosted (suspicious) first of all. */
const PRIORITY = { boosted: 10, analysed: 5, other: 0 } as const;

interface RoomWatch {
  session: CallSession;
  roles: Map<string, Role>;
  stops: Map<string, () => void>;
}

/** Fusion state of one analysed participant (fusion and window detectors: pipeline.ts). */
interface Subject extends SubjectAnalysis {
  room: string;
  participantId: string;
  lastSent?: { state: string; at: number; top?: string };
  /** A liveness challenge is running: measure every sampled frame closely and report it. */
  observing?: Observing;
}

interface Observing {
  challengeId: string;
  /** Epoch ms: stop on our own if the server's 'unobserve' never comes. */
  until: number;
  /** The lower face as it looked when the challenge began (running mean of the first frames). */
  baseline: Float32Array;
  baselineFrames: number;
  signature: Float32Array;
}

/** Frames averaged into the lower-face baseline of a challenge. */
const OCCLUSION_BASELINE_FRAMES = 3;

export class Analyzer extends EventEmitter<AnalyzerEvents> {
  readonly metrics = new Metrics();
  private readonly config: AnalyzerConfig;
  private readonly runtime: InferenceRuntime;
  private control: Socket | undefined;
  private readonly rooms = new Map<string, RoomWatch>();
  private readonly video = new Map<string, VideoStream>();
  private readonly audio = new Map<string, AudioStream>();
  private models: AnalyzerModels = { frame: [], batchers: [] };
  private readonly riskConfig: RiskConfig;
  private readonly subjects = new Map<string, Subject>();
  private riskTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private running = false;
  /** Loops waiting for samples; a sink wakes them all. */
  private readonly waiters = new Set<() => void>();
  private readonly lag = new LatencyWindow();
  private rr = 0;

  constructor(config: AnalyzerConfig, runtime: InferenceRuntime, riskConfig: RiskConfig = loadRiskConfig()) {
    super();
    this.config = config;
    this.runtime = runtime;
    this.riskConfig = riskConfig;
  }

  /**
   * Loads what models it can (a missing model disables its detector, with an error naming it).
   * `wrap` can put something around each model's runner (tests use it to make a model slow).
   */
  async loadModels(wrap: (runner: ModelRunner, id: string) => ModelRunner = (r) => r): Promise<void> {
    const providerHelp = 'Execution provider each model runs on.';
    const latencyHelp = 'Inference latency per model (queue wait + run), ms.';
    this.models = await loadAnalyzerModels(this.runtime, {
      maxBatch: this.config.maxBatch,
      maxWaitMs: this.config.maxWaitMs,
      riskConfig: this.riskConfig,
      wrap,
      onModel: (id, m, err) => {
        if (m) {
          this.metrics.set('dfs_analyzer_model_provider', providerHelp, { model: id, provider: m.provider }, 1);
        } else {
          log.error('model unavailable; its detector is off', { model: id, err: err?.message });
          this.metrics.set('dfs_analyzer_model_provider', providerHelp, { model: id, provider: 'none' }, 0);
        }
      },
      latency: (id) => this.metrics.latency('dfs_analyzer_inference_ms', latencyHelp, { model: id }),
      onBatch: (id, n) => this.metrics.latency('dfs_analyzer_batch_size', 'Items per inference batch.', { model: id }).add(n),
    });
  }

  /** Connects the control channel; joins every open call and follows calls opening and closing. */
  start(): void {
    this.running = true;
    void this.videoLoop();
    void this.audioLoop();
    // One connection per call and one for control (forceNew): no multiplexing, so one call's
    // reconnect never disturbs another's.
    const control = io(`${this.config.serverUrl}/analyzer`, {
      auth: { token: this.config.token },
      forceNew: true,
      transports: ['websocket'],
      reconnectionDelayMax: 2000,
    });
    this.control = control;
    control.on('connect', () => log.info('connected to server', { url: this.config.serverUrl }));
    control.on('connect_error', (err) => log.warn('cannot reach server', { err: err.message }));
    control.on('rooms', (ids: string[]) => this.followRooms(ids));
    control.on('integrity', (r: { room: string; participantId: string; report: IntegrityReport }) => {
      const e = integrityEvidence(r.report, Date.now());
      if (e) this.subject(r.room, r.participantId).fusion.add(e);
    });
    control.on('observe', (o: ObserveRequest) => this.observe(o));
    control.on('challenge.result', (r: { room: string; participantId: string } & ChallengeOutcome) => {
      if (this.rooms.has(r.room) && Array.isArray(r.reasons)) this.subject(r.room, r.participantId).fusion.add(livenessEvidence(r, Date.now()));
    });
    control.on('unobserve', (o: { room: string; participantId: string; challengeId: string }) => {
      const subject = this.subjects.get(`${o.room}/${o.participantId}`);
      if (subject?.observing?.challengeId === o.challengeId) this.stopObserving(subject);
    });
    this.riskTimer = setInterval(() => this.publishRisk(), 1000);
    this.heartbeat = setInterval(() => {
      if (control.connected) control.emit('heartbeat', { metrics: this.renderMetrics() });
    }, this.config.heartbeatMs);
  }

  private followRooms(ids: string[]): void {
    const wanted = new Set(ids);
    for (const id of wanted) if (!this.rooms.has(id)) this.watch(id);
    for (const [id, w] of this.rooms) if (!wanted.has(id)) void w.session.leave();
  }

  private watch(room: string): void {
    const socket = io(this.config.serverUrl, {
      auth: { token: this.config.token },
      forceNew: true,
      autoConnect: false,
      transports: ['websocket'],
      reconnectionDelayMax: 2000,
    });
    const session = new CallSession({ socket, room, RTCPeerConnection: WrtcPeerConnection });
    const w: RoomWatch = { session, roles: new Map(), stops: new Map() };
    this.rooms.set(room, w);
    session.on('participants', (list) => {
      w.roles.clear();
      for (const p of list) w.roles.set(p.id, p.role);
    });
    session.on('track', (t) => this.attach(room, t, w));
    session.on('track-removed', (t) => this.detach(room, t, w));
    session.on('state', (st) => {
      if (st === 'joined') this.emit('joined', room);
      if (st === 'ended' || st === 'failed') {
        for (const key of [...w.stops.keys()]) this.detachKey(key, w);
        this.rooms.delete(room);
        this.emit('left', room);
      }
    });
    session.on('fatal', (e) => log.warn('cannot watch call', { room, code: e.code, err: e.message }));
    session.on('warning', (e) => log.warn('call session problem', { room, code: e.code, err: e.message }));
    session.start().then(
      () => log.info('watching call', { room }),
      () => undefined,
    );
  }

  private attach(room: string, t: RemoteTrack, w: RoomWatch): void {
    const role = w.roles.get(t.participantId);
    // Risk is only ever judged for the analysed side: decoding a clinician's video would only burn CPU.
    if (role && isPrivileged(role)) return;
    const id: StreamId = { room, participantId: t.participantId, kind: t.kind };
    if (t.kind === 'video') {
      const s = new VideoStream(id, { baseFps: this.config.baseFps, boostedFps: this.config.boostedFps, queueCapacity: this.config.queueCapacity });
      this.video.set(s.key, s);
      w.stops.set(s.key, onVideoFrames(t.track, (frame) => {
        if (s.offer(frame, performance.now())) this.wake();
      }));
    } else {
      const s = new AudioStream(id, { hopSeconds: this.config.audioHopSeconds, queueCapacity: this.config.queueCapacity });
      this.audio.set(s.key, s);
      const subject = this.subject(room, t.participantId);
      s.onEnergy = (at, rms) => observeSpeech(subject, { at, rms });
      w.stops.set(s.key, onAudioData(t.track, (block) => {
        if (s.offer(block, performance.now())) this.wake();
      }));
    }
    log.info('stream attached', { room, participant: t.participantId, kind: t.kind });
  }

  private detach(room: string, t: RemoteTrack, w: RoomWatch): void {
    this.detachKey(`${room}/${t.participantId}/${t.kind}`, w);
  }

  private detachKey(key: string, w: RoomWatch): void {
    w.stops.get(key)?.();
    w.stops.delete(key);
    this.video.delete(key);
    this.audio.delete(key);
    for (const name of ['dfs_analyzer_samples_total', 'dfs_analyzer_samples_dropped_total', 'dfs_analyzer_frames_received_total']) {
      for (const kind of ['audio', 'video']) this.metrics.remove(name, { stream: key, kind });
    }
    this.metrics.remove('dfs_analyzer_audio_windows_no_speech_total', { stream: key });
    for (const reason of ['ok', 'no-face', 'multiple-faces', 'too-dark', 'too-small']) this.metrics.remove('dfs_analyzer_frame_quality_total', { stream: key, reason });
  }

  /** A liveness challenge began: sample this participant at the boosted rate and report each frame. */
  observe(o: ObserveRequest): void {
    if (!this.rooms.has(o.room)) return;
    const subject = this.subject(o.room, o.participantId);
    subject.observing = {
      challengeId: o.challengeId,
      until: Math.min(o.untilMs, Date.now() + 120_000),
      baseline: new Float32Array(SIGNATURE_CELLS),
      baselineFrames: 0,
      signature: new Float32Array(SIGNATURE_CELLS),
    };
    this.setBoosted(o.room, o.participantId, true);
    log.info('challenge: observing', { room: o.room, participant: o.participantId, challenge: o.challengeId });
  }

  private stopObserving(subject: Subject): void {
    delete subject.observing;
    const state = subject.lastSent?.state;
    this.setBoosted(subject.room, subject.participantId, state === 'SUSPICIOUS' || state === 'ALERT');
  }

  /** One frame's measurements for a running challenge. */
  private challengeSample(subject: Subject, takenAt: number, d: Awaited<ReturnType<Analyzer['detect']>>, lm: Landmarks | undefined, deepfake: number | undefined, spoof: number | undefined): void {
    const o = subject.observing!;
    if (takenAt > o.until) {
      this.stopObserving(subject);
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
    }
    this.emit('challenge-sample', subject.room, subject.participantId, sample);
    if (this.control?.connected) this.control.emit('challenge.sample', { room: subject.room, participantId: subject.participantId, challengeId: o.challengeId, sample });
  }

  /** Raise or lower a stream's sampling rate (suspicion, challenges). */
  setBoosted(room: string, participantId: string, boosted: boolean): void {
    this.video.get(`${room}/${participantId}/video`)?.sampler.setBoosted(boosted);
  }

  private priorityOf(s: { id: StreamId }, boosted: boolean): number {
    if (boosted) return PRIORITY.boosted;
    const role = this.rooms.get(s.id.room)?.roles.get(s.id.participantId);
    return role && !isPrivileged(role) ? PRIORITY.analysed : PRIORITY.other;
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private idle(): Promise<void> {
    return new Promise((r) => {
      this.waiters.add(r);
      setTimeout(() => this.waiters.delete(r) && r(), 100);
    });
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
    // streams meet in their batcher; at most maxBatch of them are in flight.
    const inflight = new Set<Promise<void>>();
    while (this.running) {
      const s = this.next(this.video.values());
      if (!s) {
        await this.idle();
        continue;
      }
      const item = s.queue.take()!;
      try {
        const rest = this.classify(s, item, await this.detect(s, item));
        inflight.add(rest);
        void rest.finally(() => inflight.delete(rest));
        if (inflight.size >= this.config.maxBatch) await Promise.race(inflight);
      } catch (err) {
        log.error('frame analysis failed', { stream: s.key, err: (err as Error).message });
      }
    }
  }

  private async detect(s: VideoStream, item: SampledFrame) {
    this.emit('sampled', s.id, item.frame);
    const src = i420Source(item.frame);
    const faces = this.models.face ? await this.models.face.detect(src) : [];
    return { src, faces, quality: assessQuality(src, faces), tracks: s.tracker.update(faces, item.arrivedAt) };
  }

  private async classify(s: VideoStream, item: SampledFrame, d: Awaited<ReturnType<Analyzer['detect']>>): Promise<void> {
    try {
      const at = Date.now();
      const subject = this.isAnalysed(s.id) ? this.subject(s.id.room, s.id.participantId) : undefined;
      subject?.fusion.addQuality(at, d.quality.reason);
      let deepfake: number | undefined;
      let spoof: number | undefined;
      let landmarks: Landmarks | undefined;
      const face = d.faces[0];
      if (subject && d.quality.reason === 'ok' && face) {
        // During a challenge every frame counts and blinks do not: skip the slower iris refinement.
        const r = await analyseFace(this.models, subject, { src: d.src, face, at, priority: this.priorityOf(s, s.sampler.boosted), boosted: s.sampler.boosted && !subject.observing });
        deepfake = r.evidence['face-deepfake']?.score;
        spoof = r.evidence['presentation-attack']?.score;
        landmarks = r.landmarks;
      }
      const latencyMs = performance.now() - item.arrivedAt;
      if (subject?.observing) this.challengeSample(subject, Date.now() - latencyMs, d, landmarks, deepfake, spoof);
      this.lag.add(latencyMs);
      this.metrics.inc('dfs_analyzer_frame_quality_total', 'Analysed frames by what they allowed: ok, no-face, multiple-faces, too-dark, too-small.', {
        stream: s.key,
        reason: d.quality.reason,
      });
      this.emit('observation', {
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
    }
  }

  /** Only the analysed side (patients, customers) gets a risk verdict. */
  private isAnalysed(id: StreamId): boolean {
    const role = this.rooms.get(id.room)?.roles.get(id.participantId);
    return role !== undefined && !isPrivileged(role);
  }

  private subject(room: string, participantId: string): Subject {
    const key = `${room}/${participantId}`;
    let s = this.subjects.get(key);
    if (!s) {
      s = { room, participantId, ...newSubjectAnalysis(this.riskConfig, Date.now()) };
      this.subjects.set(key, s);
    }
    return s;
  }

  /** Re-fuses every subject; sends a change at once and a refresh every few seconds. */
  private publishRisk(): void {
    const now = Date.now();
    for (const [key, s] of this.subjects) {
      const watch = this.rooms.get(s.room);
      if (!watch || !watch.roles.has(s.participantId)) {
        this.subjects.delete(key);
        continue;
      }
      const snap = fuseSubject(s, now).snapshot;
      if (s.observing && now > s.observing.until) delete s.observing;
      this.setBoosted(s.room, s.participantId, s.observing !== undefined || snap.state === 'SUSPICIOUS' || snap.state === 'ALERT');
      const top = snap.reasons[0]?.text;
      const changed = s.lastSent?.state !== snap.state || s.lastSent.top !== top;
      if (!changed && s.lastSent && now - s.lastSent.at < 3000) continue;
      s.lastSent = { state: snap.state, at: now, ...(top ? { top } : {}) };
      const update: RiskUpdate = {
        participantId: s.participantId,
        state: snap.state,
        risk: Number(snap.risk.toFixed(3)),
        reasons: snap.reasons.slice(0, 5).map((r) => ({ detector: r.detector, text: r.text, contribution: Number(r.contribution.toFixed(3)) })),
        gaps: snap.gaps.slice(0, 5),
        since: snap.since,
        at: now,
      };
      this.emit('risk', s.room, update);
      if (this.control?.connected) this.control.emit('risk', { room: s.room, update });
    }
  }

  private async audioLoop(): Promise<void> {
    while (this.running) {
      const s = this.next(this.audio.values());
      if (!s) {
        await this.idle();
        continue;
      }
      const w = s.queue.take()!;
      try {
        let voice: number | undefined;
        if (this.models.voice && this.isAnalysed(s.id)) {
          const at = Date.now();
          const e = await this.models.voice.analyse({ samples: w.samples, at, voicedFraction: w.voicedFraction, priority: this.priorityOf(s, false) });
          this.subject(s.id.room, s.id.participantId).fusion.add(e);
          voice = e.score;
        }
        const latencyMs = performance.now() - w.arrivedAt;
        this.emit('observation', { kind: 'audio', stream: s.id, at: Date.now(), voicedFraction: w.voicedFraction, ...(voice !== undefined ? { syntheticVoice: voice } : {}), latencyMs });
      } catch (err) {
        log.error('audio analysis failed', { stream: s.key, err: (err as Error).message });
      } finally {
        s.windower.release(w.samples);
      }
    }
  }

  renderMetrics(): string {
    const m = this.metrics;
    for (const s of this.video.values()) {
      const labels = { stream: s.key, kind: 'video' };
      m.setCounter('dfs_analyzer_frames_received_total', 'Decoded frames received per stream.', labels, s.framesIn);
      m.setCounter('dfs_analyzer_samples_total', 'Samples taken for analysis per stream.', labels, s.queue.pushed);
      m.setCounter('dfs_analyzer_samples_dropped_total', 'Samples dropped because inference fell behind.', labels, s.queue.dropped);
    }
    for (const s of this.audio.values()) {
      const labels = { stream: s.key, kind: 'audio' };
      m.setCounter('dfs_analyzer_samples_total', 'Samples taken for analysis per stream.', labels, s.queue.pushed);
      m.setCounter('dfs_analyzer_samples_dropped_total', 'Samples dropped because inference fell behind.', labels, s.queue.dropped);
      m.setCounter('dfs_analyzer_audio_windows_no_speech_total', 'Audio windows skipped by the voice gate (not enough speech).', { stream: s.key }, s.windower.windowsSkippedNoSpeech);
    }
    m.set('dfs_analyzer_lag_ms', 'Sample-to-score latency, p95 over recent samples, ms.', {}, Number.isNaN(this.lag.quantile(0.95)) ? 0 : Math.round(this.lag.quantile(0.95)));
    m.set('dfs_analyzer_streams', 'Streams being analysed.', {}, this.video.size + this.audio.size);
    return m.render();
  }

  /** Counters for one stream, for tests and diagnostics. */
  streamStats(key: string): { pushed: number; dropped: number; taken: number; queued: number } | undefined {
    const q = (this.video.get(key) ?? this.audio.get(key))?.queue;
    return q && { pushed: q.pushed, dropped: q.dropped, taken: q.taken, queued: q.length };
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    clearInterval(this.heartbeat);
    await Promise.all([...this.rooms.values()].map((w) => w.session.leave().catch(() => undefined)));
    clearInterval(this.riskTimer);
    this.control?.disconnect();
    for (const b of this.models.batchers) b.close();
    await this.runtime.close();
  }
}

function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
