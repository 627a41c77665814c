/**
 * Call watching: one hidden, receive-only CallSession per call the server gives this analyzer,
 * and one sampling stream (streams.ts) per remote track of an analysed participant. Its sinks only
 * copy into bounded queues and wake the scheduler; nothing here waits on inference.
 */
import { onAudioData, onVideoFrames } from '../headless/HeadlessParticipant.ts';
import { WrtcPeerConnection } from '../headless/wrtc.ts';
import { io } from 'socket.io-client';
import { logger } from '../log.ts';
import type { Metrics } from '../metrics/Metrics.ts';
import { CallSession, type RemoteTrack } from '../protocol/CallSession.ts';
import { isPrivileged, type Role } from '../protocol/roles.ts';
import type { AnalyzerConfig } from './config.ts';
import type { AnalyzerEmitter } from './events.ts';
import { observeSpeech } from './pipeline.ts';
import { DEFAULT_MAX_VIDEO_SIZE, exceedsVideoSize } from '../sfu/vp8.ts';
import { AudioStream, chooseTemporalLayer, VideoStream, type StreamId } from './streams.ts';
import type { Subjects } from './subjects.ts';
import { QUALITY_GAPS } from '../protocol/riskGaps.ts';

const log = logger('analyzer');

/** Pause before joining again a call that is still ours after its session ended. */
const REJOIN_DELAY_MS = 2000;

interface RoomWatch {
  session: CallSession;
  roles: Map<string, Role>;
  /** Since when each participant's camera has been on (performance.now()), by their media state; absent: off. */
  cameraOnSince: Map<string, number>;
  stops: Map<string, () => void>;
}

export interface CallWatcherDeps {
  config: AnalyzerConfig;
  metrics: Metrics;
  events: AnalyzerEmitter;
  subjects: Subjects;
  /** A sink queued a sample. */
  onSample: () => void;
}

export class CallWatcher {
  readonly video = new Map<string, VideoStream>();
  readonly audio = new Map<string, AudioStream>();
  private readonly rooms = new Map<string, RoomWatch>();
  private readonly deps: CallWatcherDeps;
  /** Samples taken and dropped by streams that have ended (the load figure needs running totals). */
  private retired = { pushed: 0, dropped: 0 };
  /** The calls the server gave this worker. */
  private wanted = new Set<string>();
  private readonly retries = new Map<string, NodeJS.Timeout>();

  constructor(deps: CallWatcherDeps) {
    this.deps = deps;
  }

  /** Watches exactly these calls: joins the new ones, leaves the others. */
  follow(ids: string[]): void {
    this.wanted = new Set(ids);
    for (const id of this.wanted) if (!this.rooms.has(id)) this.watch(id);
    for (const [id, w] of this.rooms) if (!this.wanted.has(id)) void w.session.leave();
  }

  watching(room: string): boolean {
    return this.rooms.has(room);
  }

  /** Whether the participant is (still) in a watched call. */
  present(room: string, participantId: string): boolean {
    return this.rooms.get(room)?.roles.has(participantId) ?? false;
  }

  /** Only the analysed side (patients, customers) gets a risk verdict. */
  isAnalysed(id: { room: string; participantId: string }): boolean {
    const role = this.rooms.get(id.room)?.roles.get(id.participantId);
    return role !== undefined && !isPrivileged(role);
  }

  /**
   * Raise or lower a stream's sampling rate (suspicion, challenges), called once a second. The SFU
   * sends the analyzer the base VP8 temporal layer only (a quarter of the frames); when the
   * sampler's rate needs more (boosted, or a 15 fps camera), this asks for the lowest layer that
   * brings it (chooseTemporalLayer), from the rate measured at the current one.
   */
  setBoosted(room: string, participantId: string, boosted: boolean): void {
    const s = this.video.get(`${room}/${participantId}/video`);
    if (!s) return;
    s.setBoosted(boosted);
    const session = this.rooms.get(room)?.session;
    const now = performance.now();
    const measured = s.measuredFps(now);
    if (!session || measured === undefined) return;
    const current = s.layer ?? session.videoLayer(participantId) ?? 0;
    const layer = chooseTemporalLayer(current, measured, s.neededFps);
    if (layer === current) return;
    s.setLayer(layer, now);
    session.setVideoLayer(participantId, layer).catch((err: unknown) => log.warn('could not change video layers', { room, participantId, err: (err as Error).message }));
  }

  /**
   * How long (ms) a participant's video has delivered no frame although their camera is on, once
   * that is a stall (streams.ts VIDEO_STALL_MS); undefined while frames arrive, with the camera
   * off, or with no video track.
   */
  videoStalledFor(room: string, participantId: string): number | undefined {
    const s = this.video.get(`${room}/${participantId}/video`);
    return s?.stalledFor(performance.now(), this.rooms.get(room)?.cameraOnSince.get(participantId));
  }

  /**
   * A participant's video is stalled (videoStalledFor): asks the server to refresh it
   * ('media.refresh'; how often: streams.ts STALL_REFRESH_MS), and logs what this end received,
   * so that a stall that does not heal says whether packets stopped arriving or the decoder
   * stopped decoding.
   */
  refreshStalledVideo(room: string, participantId: string, stalledForMs: number): void {
    const s = this.video.get(`${room}/${participantId}/video`);
    const session = this.rooms.get(room)?.session;
    const now = performance.now();
    if (!s || !session || !s.refreshDue(now)) return;
    void session
      .stats()
      .then((st) => {
        const inbound = st.inbound.find((i) => i.participantId === participantId && i.kind === 'video');
        log.warn('video stalled; asking the server to refresh it', {
          room,
          participant: participantId,
          stalledMs: Math.round(stalledForMs),
          packets: inbound?.packets ?? 'none',
          framesDecoded: inbound?.framesDecoded ?? 'none',
          framesIn: s.framesIn,
          malformed: s.malformedFrames,
          oversized: s.oversizedFrames,
        });
      })
      .catch(() => undefined);
    session.refreshVideo(participantId).catch((err: unknown) => log.warn('could not ask for a video refresh', { room, participant: participantId, err: (err as Error).message }));
  }

  /** A participant is (or stops being) CLEAR: its voice windows may be further apart. */
  setClear(room: string, participantId: string, clear: boolean, faceJudged = false): void {
    this.audio.get(`${room}/${participantId}/audio`)?.setClear(clear, faceJudged);
  }

  /** Calls watched, streams sampled, and samples taken and dropped since the start. */
  totals(): { rooms: number; streams: number; sampled: number; dropped: number } {
    let sampled = this.retired.pushed;
    let dropped = this.retired.dropped;
    for (const s of [...this.video.values(), ...this.audio.values()]) {
      sampled += s.queue.pushed;
      dropped += s.queue.dropped;
    }
    return { rooms: this.rooms.size, streams: this.video.size + this.audio.size, sampled, dropped };
  }

  async leaveAll(): Promise<void> {
    this.wanted.clear();
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    await Promise.all([...this.rooms.values()].map((w) => w.session.leave().catch(() => undefined)));
  }

  /** Per-stream counters into the analyzer's metrics. */
  recordMetrics(m: Metrics): void {
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
    m.set('dfs_analyzer_streams', 'Streams being analysed.', {}, this.video.size + this.audio.size);
  }

  private watch(room: string): void {
    const { config, events } = this.deps;
    const socket = io(config.serverUrl, {
      // Read at each (re)connect: the embedded analyzer's token is renewed while it runs.
      auth: (cb) => cb({ token: config.token }),
      forceNew: true,
      autoConnect: false,
      transports: ['websocket'],
      reconnectionDelayMax: 2000,
    });
    const session = new CallSession({ socket, room, RTCPeerConnection: WrtcPeerConnection });
    const w: RoomWatch = { session, roles: new Map(), cameraOnSince: new Map(), stops: new Map() };
    this.rooms.set(room, w);
    session.on('participants', (list) => {
      w.roles.clear();
      const now = performance.now();
      for (const p of list) {
        w.roles.set(p.id, p.role);
        if (!p.video) w.cameraOnSince.delete(p.id);
        else if (!w.cameraOnSince.has(p.id)) w.cameraOnSince.set(p.id, now);
      }
      for (const id of w.cameraOnSince.keys()) if (!w.roles.has(id)) w.cameraOnSince.delete(id);
    });
    session.on('track', (t) => this.attach(room, t, w));
    session.on('track-removed', (t) => this.detachKey(`${room}/${t.participantId}/${t.kind}`, w));
    session.on('state', (st) => {
      if (st === 'joined') events.emit('joined', room);
      if (st === 'ended' || st === 'failed') {
        for (const key of [...w.stops.keys()]) this.detachKey(key, w);
        this.rooms.delete(room);
        events.emit('left', room);
        // Still ours (e.g. the server took our session away while we were stalled, and gave the
        // call back): join again, after a pause so that a refusal does not spin.
        if (this.wanted.has(room) && !this.retries.has(room)) {
          this.retries.set(room, setTimeout(() => {
            this.retries.delete(room);
            if (this.wanted.has(room) && !this.rooms.has(room)) this.watch(room);
          }, REJOIN_DELAY_MS));
        }
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
    const { config, onSample } = this.deps;
    const role = w.roles.get(t.participantId);
    // Risk is only ever judged for the analysed side: decoding a clinician's video would only burn CPU.
    if (role && isPrivileged(role)) return;
    const id: StreamId = { room, participantId: t.participantId, kind: t.kind };
    // Samples lost before analysis count against the participant's sampling (analysis degraded).
    const dropped = (input: 'video' | 'face-frames' | 'audio') => {
      if (this.isAnalysed(id)) this.deps.subjects.get(room, t.participantId).fusion.dropped(input, Date.now());
    };
    if (t.kind === 'video') {
      const s = new VideoStream(id, { baseFps: config.baseFps, boostedFps: config.boostedFps, queueCapacity: config.queueCapacity, landmarkFps: config.landmarkFps });
      s.onDropped = dropped;
      this.video.set(s.key, s);
      const max = config.maxVideoSize ?? DEFAULT_MAX_VIDEO_SIZE;
      w.stops.set(s.key, onVideoFrames(t.track, (frame) => {
        // An oversized frame is never queued: queues hold frames by reference, and a few
        // 16383x16383 ones would be gigabytes (issue 13, item 2; the SFU refuses them first).
        if (exceedsVideoSize(frame, max)) {
          if (s.oversizedFrames++ === 0) log.warn('video frames above the maximum size dropped', { room, participant: t.participantId, size: `${frame.width}x${frame.height}`, max: `${max.width}x${max.height}` });
          return;
        }
        const refused = s.malformedFrames;
        if (s.offer(frame, performance.now())) onSample();
        else if (refused === 0 && s.malformedFrames === 1) log.warn('video frames whose buffer does not match their size dropped', { room, participant: t.participantId, size: `${frame.width}x${frame.height}`, bytes: frame.data?.length });
      }));
    } else {
      const s = new AudioStream(id, { hopSeconds: config.audioHopSeconds, clearHopSeconds: config.audioClearHopSeconds, confidentHopSeconds: config.audioConfidentHopSeconds, queueCapacity: config.queueCapacity });
      s.onDropped = () => dropped('audio');
      this.audio.set(s.key, s);
      const subject = this.deps.subjects.get(room, t.participantId);
      s.onEnergy = (at, rms, samples) => observeSpeech(subject, { at, rms, samples });
      w.stops.set(s.key, onAudioData(t.track, (block) => {
        if (s.offer(block, performance.now())) onSample();
      }));
    }
    log.info('stream attached', { room, participant: t.participantId, kind: t.kind });
  }

  private detachKey(key: string, w: RoomWatch): void {
    const { metrics } = this.deps;
    w.stops.get(key)?.();
    w.stops.delete(key);
    const q = (this.video.get(key) ?? this.audio.get(key))?.queue;
    if (q) {
      this.retired.pushed += q.pushed;
      this.retired.dropped += q.dropped;
    }
    this.video.delete(key);
    this.audio.delete(key);
    for (const name of ['dfs_analyzer_samples_total', 'dfs_analyzer_samples_dropped_total', 'dfs_analyzer_frames_received_total']) {
      for (const kind of ['audio', 'video']) metrics.remove(name, { stream: key, kind });
    }
    metrics.remove('dfs_analyzer_audio_windows_no_speech_total', { stream: key });
    // Every quality reason: 'ok' and those with a gap text (RiskFusion's QUALITY_TEXT makes the gaps cover every reason).
    for (const reason of ['ok', ...Object.keys(QUALITY_GAPS)]) metrics.remove('dfs_analyzer_frame_quality_total', { stream: key, reason });
  }
}
