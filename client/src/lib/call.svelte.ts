/** Reactive state for the call UI, fed by the shared CallSession. */
import { io } from 'socket.io-client';
import { isPrivileged } from '../../../server/src/protocol/roles.ts';
import { collectIntegrityReport } from './integrity.ts';
import { keepAlerts, keepPresent, toastAfterAck } from './callRisk.ts';
import { playChime } from './chime.ts';
import { CallSession, type MediaStats, type RemoteTrack, type SessionState } from '../../../server/src/protocol/CallSession.ts';
import type { ChallengePrompt, ChallengeView } from '../../../server/src/protocol/challenge.ts';
import type { AnalysisStatus, JoinResult, ParticipantInfo, ProtocolError, RiskAlert, RiskUpdate } from '../../../server/src/protocol/messages.ts';

export class CallController {
  state = $state<SessionState>('idle');
  self = $state<ParticipantInfo | undefined>();
  participants = $state<ParticipantInfo[]>([]);
  tracks = $state.raw<RemoteTrack[]>([]);
  fatal = $state<ProtocolError | undefined>();
  endedReason = $state<string | undefined>();
  notice = $state<string | undefined>();
  /** Privileged participants only: whether the analyzer is watching this call. */
  analysis = $state<AnalysisStatus | undefined>();
  /** Privileged participants only: latest risk per analysed participant, and the alert timeline. */
  risk = $state<Record<string, RiskUpdate>>({});
  alerts = $state<Array<RiskAlert & { ackedBy?: string; note?: string }>>([]);
  /** The newest unacknowledged alert, for the toast (the next one waiting once it is acknowledged). */
  toast = $state<RiskAlert | undefined>();
  /** Acknowledgements sent and not yet confirmed (pending), or refused (error), by alert id. */
  acking = $state<Record<string, { pending: boolean; error?: string }>>({});
  /** Privileged participants only: the latest liveness check per analysed participant. */
  challenges = $state<Record<string, ChallengeView>>({});
  /** Analysed participants only: the instruction on screen now, with when it was shown. */
  prompt = $state<(ChallengePrompt & { shownAt: number }) | undefined>();
  /** Risk events received at all (the e2e tests check the analysed side gets none). */
  riskEvents = 0;
  audio = $state(true);
  video = $state(true);
  readonly session: CallSession;
  readonly localStream: MediaStream | undefined;

  constructor(room: string, token: string, localStream: MediaStream | undefined) {
    this.localStream = localStream;
    const socket = io({ auth: { token }, autoConnect: false, transports: ['websocket', 'polling'] });
    this.session = new CallSession({
      socket,
      room,
      RTCPeerConnection: window.RTCPeerConnection,
      localTracks: localStream?.getTracks() ?? [],
    });
    const s = this.session;
    s.on('state', (st) => {
      this.state = st;
      if (st === 'joined') this.self = s.info?.self;
    });
    s.on('participants', (list) => {
      this.participants = list;
      // Who left loses their verdict: back in the call, they read ANALYZING until judged again.
      this.risk = keepPresent(this.risk, list);
    });
    s.on('track', () => (this.tracks = s.remoteTracks));
    s.on('track-removed', () => (this.tracks = s.remoteTracks));
    s.on('fatal', (e) => (this.fatal = e));
    s.on('analysis', (st) => (this.analysis = st));
    s.on('risk', (u) => {
      this.riskEvents++;
      this.risk = { ...this.risk, [u.participantId]: u };
    });
    s.on('alert', (a) => {
      this.riskEvents++;
      // A rejoin replays the call's alerts (the server sends them to every privileged joiner): once each.
      if (this.alerts.some((x) => x.id === a.id)) return;
      this.alerts = keepAlerts<(typeof this.alerts)[number]>([a, ...this.alerts].sort((x, y) => y.at - x.at), 50);
      if (!this.toast || this.toast.at <= a.at) this.toast = a;
      // No chime for an old alert replayed to someone joining late (it may be acknowledged already):
      // the server replays them before it answers the join, so a live alert is one that arrives once
      // joined. Not by the alert's age: the server's clock and this browser's may disagree.
      if (s.info) playChime();
    });
    s.on('alert-acked', ({ alertId, by, note }) => {
      this.alerts = this.alerts.map((a) => (a.id === alertId ? { ...a, ackedBy: by, ...(note ? { note } : {}) } : a));
      this.toast = toastAfterAck(this.toast, this.alerts, alertId);
      if (alertId in this.acking) this.acking = Object.fromEntries(Object.entries(this.acking).filter(([id]) => id !== alertId));
    });
    s.on('challenge', (c) => {
      this.riskEvents++;
      this.challenges = { ...this.challenges, [c.participantId]: c };
    });
    s.on('challenge-prompt', (p) => {
      const shown = { ...p, shownAt: Date.now() };
      this.prompt = shown;
      setTimeout(() => {
        if (this.prompt === shown) this.prompt = undefined;
      }, p.durationMs);
    });
    s.on('challenge-done', ({ challengeId }) => {
      if (this.prompt?.challengeId === challengeId) this.prompt = undefined;
    });
    s.on('room-closed', (reason) => (this.endedReason = reason));
    s.on('warning', (e) => {
      this.notice = e.message;
      setTimeout(() => {
        if (this.notice === e.message) this.notice = undefined;
      }, 6000);
    });
  }

  async start(): Promise<JoinResult> {
    const joined = await this.session.start();
    // The analysed side reports its capture device (advisory evidence; the server weighs it).
    if (joined.canPublish && !isPrivileged(joined.self.role) && this.localStream) {
      collectIntegrityReport(this.localStream)
        .then((report) => this.session.reportIntegrity(report))
        .catch((err: unknown) => console.warn('integrity report not sent', err));
    }
    return joined;
  }

  tracksOf(participantId: string): MediaStreamTrack[] {
    return this.tracks.filter((t) => t.participantId === participantId).map((t) => t.track);
  }

  async toggleAudio(): Promise<void> {
    this.audio = !this.audio;
    await this.session.setMedia({ audio: this.audio, video: this.video });
  }

  async toggleVideo(): Promise<void> {
    this.video = !this.video;
    await this.session.setMedia({ audio: this.audio, video: this.video });
  }

  /** Pending until the server's confirmation arrives ('alert-acked'); an error is kept to show. */
  async acknowledge(alertId: string, note?: string): Promise<void> {
    this.acking = { ...this.acking, [alertId]: { pending: true } };
    try {
      await this.session.acknowledgeAlert(alertId, note);
    } catch (err) {
      this.acking = { ...this.acking, [alertId]: { pending: false, error: (err as Error).message } };
    }
  }

  /** Asks an analysed participant to take a liveness check; problems show as a notice. */
  async verifyLiveness(participantId: string): Promise<void> {
    try {
      const c = await this.session.startChallenge(participantId);
      this.challenges = { ...this.challenges, [participantId]: c };
    } catch (err) {
      this.notice = `Liveness check not started: ${(err as Error).message}`;
    }
  }

  async leave(): Promise<void> {
    await this.session.leave();
    this.localStream?.getTracks().forEach((t) => t.stop());
  }

  async endForAll(): Promise<void> {
    await this.session.closeRoom();
  }

  stats(): Promise<MediaStats> {
    return this.session.stats();
  }
}
