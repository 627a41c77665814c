/**
 * A participant without a browser: joins through the same signaling as the web app, using
 * @roamhq/wrtc for media. Test peers, simulated callers and the analyzer are built on it.
 */
import { io } from 'socket.io-client';
import { CallSession, type RemoteTrack } from '../protocol/CallSession.ts';
import type { JoinResult } from '../protocol/messages.ts';
import { withLegacyTemporalLayers } from './vp8Layers.ts';
import { nonstandard, WrtcPeerConnection, type I420Frame } from './wrtc.ts';

export interface HeadlessOptions {
  url: string;
  token: string;
  room: string;
  tracks?: MediaStreamTrack[];
  /**
   * Publish video with VP8 temporal layers (see vp8Layers.ts). Only for sources under 480x270:
   * larger ones would be sent at half resolution. Default false.
   */
  temporalLayers?: boolean;
  /** Wait for the host when the call is not open yet (CallSession's waitForHost). Default false. */
  waitForHost?: boolean;
  /** Rewrites the SFU's descriptions before they are applied (CallSession's mungeRemote; tests). */
  mungeRemote?: (sdp: string) => string;
}

export class HeadlessParticipant {
  readonly session: CallSession;

  constructor(opts: HeadlessOptions) {
    const socket = io(opts.url, {
      auth: { token: opts.token },
      forceNew: true,
      autoConnect: false,
      transports: ['websocket'],
      reconnectionDelay: 250,
      reconnectionDelayMax: 2000,
    });
    this.session = new CallSession({
      socket,
      room: opts.room,
      RTCPeerConnection: WrtcPeerConnection,
      localTracks: opts.tracks ?? [],
      // wrtc ignores scalabilityMode; legacy simulcast gives it temporal layers instead.
      temporalLayers: false,
      ...(opts.temporalLayers ? { mungeOffer: withLegacyTemporalLayers } : {}),
      ...(opts.waitForHost ? { waitForHost: true } : {}),
      ...(opts.mungeRemote ? { mungeRemote: opts.mungeRemote } : {}),
    });
  }

  join(): Promise<JoinResult> {
    return this.session.start();
  }

  leave(): Promise<void> {
    return this.session.leave();
  }

  /** Resolves with the first remote track of this kind from this participant. */
  waitForTrack(participantId: string, kind: 'audio' | 'video', timeoutMs = 15000): Promise<RemoteTrack> {
    const existing = this.session.remoteTracks.find((t) => t.participantId === participantId && t.kind === kind);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${kind} track from ${participantId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.session.on('track', (t) => {
        if (t.participantId === participantId && t.kind === kind) {
          clearTimeout(timer);
          off();
          resolve(t);
        }
      });
    });
  }
}

/** Decoded I420 frames of a remote video track. Returns a stop function. */
export function onVideoFrames(track: MediaStreamTrack, fn: (frame: I420Frame) => void): () => void {
  const sink = new nonstandard.RTCVideoSink(track as never);
  sink.onframe = (ev: { frame: I420Frame }) => fn(ev.frame);
  return () => sink.stop();
}

export interface PcmBlock {
  samples: Int16Array;
  sampleRate: number;
  channelCount: number;
}

/** Decoded PCM (10 ms blocks) of a remote audio track. Returns a stop function. */
export function onAudioData(track: MediaStreamTrack, fn: (block: PcmBlock) => void): () => void {
  const sink = new nonstandard.RTCAudioSink(track as never);
  sink.ondata = (ev: PcmBlock) => fn(ev);
  return () => sink.stop();
}
