/** Reactive state for the call UI, fed by the shared CallSession. */
import { io } from 'socket.io-client';
import { CallSession, type MediaStats, type RemoteTrack, type SessionState } from '../../../server/src/protocol/CallSession.ts';
import type { AnalysisStatus, JoinResult, ParticipantInfo, ProtocolError } from '../../../server/src/protocol/messages.ts';

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
    s.on('participants', (list) => (this.participants = list));
    s.on('track', () => (this.tracks = s.remoteTracks));
    s.on('track-removed', () => (this.tracks = s.remoteTracks));
    s.on('fatal', (e) => (this.fatal = e));
    s.on('analysis', (st) => (this.analysis = st));
    s.on('room-closed', (reason) => (this.endedReason = reason));
    s.on('warning', (e) => {
      this.notice = e.message;
      setTimeout(() => {
        if (this.notice === e.message) this.notice = undefined;
      }, 6000);
    });
  }

  start(): Promise<JoinResult> {
    return this.session.start();
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
