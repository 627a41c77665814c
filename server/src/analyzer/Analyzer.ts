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
import type { IntegrityReport, RiskUpdate } from '../protocol/messages.ts';
import { isPrivileged, type Role } from '../protocol/roles.ts';
import type { AnalyzerConfig } from './config.ts';
import { Batcher } from './inference/Batcher.ts';
import type { InferenceRuntime, LoadedModel } from './inference/InferenceRuntime.ts';
import type { ModelRunner } from './inference/ModelRunner.ts';
import { integrityEvidence } from './detectors/ClientIntegrity.ts';
import { BlinkDetector } from './detectors/BlinkDetector.ts';
import { FaceDeepfakeDetector } from './detectors/FaceDeepfakeDetector.ts';
import { FaceLandmarks } from './detectors/FaceLandmarks.ts';
import { eyeOpenness, interocularDistance, mouthOpening } from './detectors/faceGeometry.ts';
import { LipSyncDetector } from './detectors/LipSyncDetector.ts';
import { meanSkinColour, PulseDetector, pulseRegions } from './detectors/PulseDetector.ts';
import { PresentationAttackDetector } from './detectors/PresentationAttackDetector.ts';
import { DEFAULT_VOICE_CALIBRATION, SyntheticVoiceDetector } from './detectors/SyntheticVoiceDetector.ts';
import { loadRiskConfig, RiskFusion, type RiskConfig } from './fusion/RiskFusion.ts';
import { AudioStream, VideoStream, type SampledFrame, type StreamId } from './streams.ts';
import { BlazeFace } from './vision/BlazeFace.ts';
import { i420Source } from './vision/image.ts';
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

interface Models {
  face?: BlazeFace;
  landmarks?: FaceLandmarks;
  /** With the iris model too: two more runs per face, so only while a stream is boosted. */
  landmarksWithIris?: FaceLandmarks;
  deepfake?: FaceDeepfakeDetector;
  spoof?: PresentationAttackDetector;
  voice?: SyntheticVoiceDetector;
  batchers: Batcher[];
}

/** Fusion state of one analysed participant. */
interface Subject {
  room: string;
  participantId: string;
  fusion: RiskFusion;
  /** Detectors judging a window of samples rather than one sample. */
  blink: BlinkDetector;
  lipSync: LipSyncDetector;
  pulse: PulseDetector;
  lastSent?: { state: string; at: number; top?: string };
}

export class Analyzer extends EventEmitter<AnalyzerEvents> {
  readonly metrics = new Metrics();
  private readonly config: AnalyzerConfig;
  private readonly runtime: InferenceRuntime;
  private control: Socket | undefined;
  private readonly rooms = new Map<string, RoomWatch>();
  private readonly video = new Map<string, VideoStream>();
  private readonly audio = new Map<string, AudioStream>();
  private models: Models = { batchers: [] };
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
    const load = async (id: string): Promise<LoadedModel | undefined> => {
      try {
        const m = await this.runtime.load(id);
        this.metrics.set('dfs_analyzer_model_provider', 'Execution provider each model runs on.', { model: id, provider: m.provider }, 1);
        return m;
      } catch (err) {
        log.error('model unavailable; its detector is off', { model: id, err: (err as Error).message });
        this.metrics.set('dfs_analyzer_model_provider', 'Execution provider each model runs on.', { model: id, provider: 'none' }, 0);
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
        maxBatch: m.entry.batch === 'dynamic' ? this.config.maxBatch : 1,
        maxWaitMs: this.config.maxWaitMs,
        latency: this.metrics.latency('dfs_analyzer_inference_ms', 'Inference latency per model (queue wait + run), ms.', { model: m.id }),
        onBatch: (n) => this.metrics.latency('dfs_analyzer_batch_size', 'Items per inference batch.', { model: m.id }).add(n),
      });
    // BlazeFace has a fixed batch of 1 and runs once per sampled frame: timed, not batched.
    const timed = (m: LoadedModel): ModelRunner => {
      const window = this.metrics.latency('dfs_analyzer_inference_ms', 'Inference latency per model (queue wait + run), ms.', { model: m.id });
      const inner = wrap(m, m.id);
      return {
        inputNames: m.inputNames,
        outputNames: m.outputNames,
        run: async (feeds) => {
          const t0 = performance.now();
          try {
            return await inner.run(feeds);
          } finally {
            window.add(performance.now() - t0);
          }
        },
      };
    };
    const b = (m: LoadedModel | undefined) => (m ? batcher(m) : undefined);
    const [dfB, f2fB, v2B, v1seB, voiceB] = [b(df), b(f2f), b(v2), b(v1se), b(voice)];
    this.models = {
      ...(face ? { face: new BlazeFace(timed(face)) } : {}),
      ...(mesh ? { landmarks: new FaceLandmarks(timed(mesh)) } : {}),
      // The iris model reads closed lids the mesh alone misses (a wink reads open on the mesh).
      ...(mesh && iris ? { landmarksWithIris: new FaceLandmarks(timed(mesh), { iris: timed(iris) }) } : {}),
      ...(dfB || f2fB ? { deepfake: new FaceDeepfakeDetector({ df: dfB, f2f: f2fB }, this.riskConfig.params.faceDeepfake) } : {}),
      ...(v2B || v1seB ? { spoof: new PresentationAttackDetector({ v2: v2B, v1se: v1seB }) } : {}),
      ...(voiceB ? { voice: new SyntheticVoiceDetector(voiceB, DEFAULT_VOICE_CALIBRATION) } : {}),
      batchers: [dfB, f2fB, v2B, v1seB, voiceB].filter((x): x is Batcher => x !== undefined),
    };
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
      const lipSync = this.subject(room, t.participantId).lipSync;
      s.onEnergy = (at, rms) => lipSync.pushSpeech({ at, rms });
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
      const face = d.faces[0];
      if (subject && d.quality.reason === 'ok' && face) {
        const sample = { src: d.src, face, at, priority: this.priorityOf(s, s.sampler.boosted) };
        const [df, pa, lm] = await Promise.all([
          this.models.deepfake?.analyse(sample),
          this.models.spoof?.analyse(sample),
          (s.sampler.boosted ? (this.models.landmarksWithIris ?? this.models.landmarks) : this.models.landmarks)?.locate(d.src, face),
        ]);
        for (const e of [df, pa]) if (e) subject.fusion.add(e);
        deepfake = df?.score;
        spoof = pa?.score;
        if (lm) {
          const eyes = eyeOpenness(lm);
          subject.blink.push({ at, leftOpen: eyes.left, rightOpen: eyes.right, faceSize: interocularDistance(lm.points), source: eyes.source });
          subject.lipSync.pushMouth({ at, mouthOpen: mouthOpening(lm.points) });
        }
        subject.pulse.push({ at, ...meanSkinColour(d.src, pulseRegions(face, lm?.points)), box: face.box });
      }
      const latencyMs = performance.now() - item.arrivedAt;
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
      s = {
        room,
        participantId,
        fusion: new RiskFusion(this.riskConfig, Date.now()),
        blink: new BlinkDetector(),
        lipSync: new LipSyncDetector(),
        pulse: new PulseDetector(),
      };
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
      for (const d of [s.blink, s.lipSync, s.pulse]) s.fusion.add(d.evaluate(now));
      const snap = s.fusion.update(now);
      this.setBoosted(s.room, s.participantId, snap.state === 'SUSPICIOUS' || snap.state === 'ALERT');
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
