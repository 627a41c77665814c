/**
 * Media for the benchmarks: a face clip pre-rendered once and replayed (so publishers cost little
 * CPU), a clock painted into frames and read back after decoding (glass-to-glass latency, same
 * process so the same clock), and a direct wrtc peer-to-peer link as the no-SFU baseline.
 */
import type { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { WrtcPeerConnection, type I420Frame } from '../../server/src/headless/wrtc.ts';
import { FaceAnimator } from '../../server/src/simulate/FaceAnimator.ts';
import { ClipLibrary, VIDEO_HEIGHT, VIDEO_WIDTH, type ClipName } from '../../server/src/simulate/clips.ts';
import { preferVp8 } from './sdpMunge.ts';
import { paintStamp } from './stamp.ts';

export { paintStamp, readStamp, stampAge } from './stamp.ts';

// ---------------------------------------------------------------------------------------------
// A pre-rendered face loop

export interface FrameLoop {
  width: number;
  height: number;
  fps: number;
  frames: Uint8Array[];
  /** The clip's voice, 48 kHz mono, for publishers that also send audio. */
  pcm: Int16Array;
}

/**
 * Renders `count` frames of a clip's animated face once (FaceAnimator costs ~20 ms per 640x480
 * frame), with a blink in the middle, for publishers to replay in a loop.
 */
export async function renderFaceLoop(runtime: InferenceRuntime, opts: { clip?: ClipName; count?: number; fps: number }): Promise<FrameLoop> {
  const media = await new ClipLibrary(runtime).load(opts.clip ?? 'real');
  const animator = new FaceAnimator(media.frame, media.layout, { look: media.spec.look });
  const count = opts.count ?? 24;
  const frames: Uint8Array[] = [];
  const blinkAt = Math.floor(count / 2);
  for (let i = 0; i < count; i++) {
    const out: I420Frame = { width: VIDEO_WIDTH, height: VIDEO_HEIGHT, data: new Uint8Array((VIDEO_WIDTH * VIDEO_HEIGHT * 3) / 2) };
    const k = i - blinkAt;
    animator.paint(out, (i * 1000) / opts.fps, { blink: k >= 0 && k < 3 ? [0.6, 1, 0.6][k]! : 0 });
    frames.push(out.data);
  }
  return { width: VIDEO_WIDTH, height: VIDEO_HEIGHT, fps: opts.fps, frames, pcm: media.pcm };
}

/** A painter replaying the loop from `offset`, optionally stamping the clock into each frame. */
export function loopPainter(loop: FrameLoop, opts: { offset?: number; stamp?: boolean } = {}): (frame: I420Frame, index: number) => void {
  const offset = opts.offset ?? 0;
  return (frame, index) => {
    frame.data.set(loop.frames[(index + offset) % loop.frames.length]!);
    if (opts.stamp) paintStamp(frame, performance.now());
  };
}

// ---------------------------------------------------------------------------------------------
// Peer to peer, without the SFU

export interface DirectLink {
  /** The received video track. */
  track: MediaStreamTrack;
  sender: RTCPeerConnection;
  receiver: RTCPeerConnection;
  close(): void;
}

/** Waits for ICE gathering to finish, so one offer/answer carries every candidate. */
function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 3000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

/**
 * Two wrtc peer connections in this process, one sending `track` to the other over loopback;
 * `kbps` pins the video bitrate (start = min = max), e.g. to what the SFU path carried.
 */
export async function directLink(track: MediaStreamTrack, opts: { kbps?: number } = {}): Promise<DirectLink> {
  const sender = new WrtcPeerConnection({ iceServers: [] });
  const receiver = new WrtcPeerConnection({ iceServers: [] });
  sender.addTransceiver(track, { direction: 'sendonly' });
  const received = new Promise<MediaStreamTrack>((resolve) => {
    receiver.ontrack = (ev) => resolve(ev.track);
  });
  await sender.setLocalDescription(await sender.createOffer());
  await gathered(sender);
  await receiver.setRemoteDescription({ type: 'offer', sdp: preferVp8(sender.localDescription!.sdp, opts.kbps) });
  await receiver.setLocalDescription(await receiver.createAnswer());
  await gathered(receiver);
  await sender.setRemoteDescription({ type: 'answer', sdp: preferVp8(receiver.localDescription!.sdp, opts.kbps) });
  const remote = await Promise.race([
    received,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('direct link: no remote track within 10 s')), 10_000)),
  ]);
  return {
    track: remote,
    sender,
    receiver,
    close: () => {
      sender.close();
      receiver.close();
    },
  };
}

/** Inbound video of a peer connection: bytes and frames so far, and the codec. */
export async function inboundVideo(pc: RTCPeerConnection): Promise<{ bytes: number; frames: number; codec: string }> {
  const stats = await pc.getStats();
  let bytes = 0;
  let frames = 0;
  let codecId: string | undefined;
  const codecs = new Map<string, string>();
  stats.forEach((r: { type: string; kind?: string; bytesReceived?: number; framesDecoded?: number; codecId?: string; id: string; mimeType?: string }) => {
    if (r.type === 'codec' && r.mimeType) codecs.set(r.id, r.mimeType);
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      bytes += r.bytesReceived ?? 0;
      frames += r.framesDecoded ?? 0;
      codecId ??= r.codecId;
    }
  });
  return { bytes, frames, codec: (codecId && codecs.get(codecId)) ?? '' };
}

