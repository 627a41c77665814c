/**
 * Per-stream sampling state: what the analyzer keeps of each remote track before inference.
 * Video: @roamhq/wrtc hands every decoded frame over in a fresh buffer (checked against a real
 * RTCVideoSink), so a kept frame is held by reference, never copied. Audio goes 48 kHz → 16 kHz →
 * voice gate → 4.04 s windows from a small buffer pool.
 */
import type { I420Frame } from '../headless/wrtc.ts';
import { AudioResampler, type PcmBlock } from './sampling/AudioResampler.ts';
import { AudioWindower, type AudioWindow } from './sampling/AudioWindower.ts';
import { BoundedQueue } from './sampling/BoundedQueue.ts';
import { FrameSampler } from './sampling/FrameSampler.ts';
import { FaceTracker } from './vision/FaceTracker.ts';

export interface StreamId {
  room: string;
  participantId: string;
  kind: 'audio' | 'video';
}

export function streamKey(s: StreamId): string {
  return `${s.room}/${s.participantId}/${s.kind}`;
}

export interface SampledFrame {
  frame: I420Frame;
  /** When the frame arrived (performance.now()), for sample-to-score latency. */
  arrivedAt: number;
}

export class VideoStream {
  readonly id: StreamId;
  readonly key: string;
  readonly sampler: FrameSampler;
  readonly queue: BoundedQueue<SampledFrame>;
  readonly tracker = new FaceTracker();
  framesIn = 0;

  constructor(id: StreamId, opts: { baseFps: number; boostedFps: number; queueCapacity: number }) {
    this.id = id;
    this.key = streamKey(id);
    this.sampler = new FrameSampler({ baseFps: opts.baseFps, boostedFps: opts.boostedFps });
    this.queue = new BoundedQueue<SampledFrame>(opts.queueCapacity);
  }

  /** Called for every decoded frame; keeps it only when the sampler wants it. Returns whether it did. */
  offer(frame: I420Frame, now: number): boolean {
    this.framesIn++;
    if (!this.sampler.offer(now)) return false;
    this.queue.push({ frame, arrivedAt: now });
    return true;
  }
}

export type TimedWindow = AudioWindow & { arrivedAt: number };

export class AudioStream {
  readonly id: StreamId;
  readonly key: string;
  readonly resampler = new AudioResampler();
  readonly windower: AudioWindower;
  readonly queue: BoundedQueue<TimedWindow>;
  blocksIn = 0;
  /** Called with the RMS of every 10 ms of 16 kHz audio (lip-sync compares it with the mouth). */
  onEnergy: ((at: number, rms: number) => void) | undefined;
  /** Blocks at a sample rate the resampler cannot use (counted, never thrown into the sink). */
  blocksRejected = 0;
  private now = 0;
  private readonly onWindow = (w: AudioWindow): void => {
    this.queue.push({ ...w, arrivedAt: this.now });
  };

  private readonly hopSeconds: number;
  private readonly clearHopSeconds: number;

  constructor(id: StreamId, opts: { hopSeconds: number; clearHopSeconds?: number; queueCapacity: number }) {
    this.id = id;
    this.key = streamKey(id);
    this.hopSeconds = opts.hopSeconds;
    this.clearHopSeconds = opts.clearHopSeconds ?? opts.hopSeconds;
    this.windower = new AudioWindower({ hopLength: Math.round(opts.hopSeconds * 16000) });
    this.queue = new BoundedQueue<TimedWindow>(opts.queueCapacity, { onDrop: (w) => this.windower.release(w.samples) });
  }

  /**
   * While the participant is CLEAR, AASIST-L runs on windows further apart (fewer runs, same
   * window); any other state goes back to the normal hop at the next window.
   */
  setClear(clear: boolean): void {
    this.windower.setHopLength(Math.round((clear ? this.clearHopSeconds : this.hopSeconds) * 16000));
  }

  /** Called for every 10 ms block; returns whether a window was queued. */
  offer(block: PcmBlock, now: number): boolean {
    this.blocksIn++;
    let pcm16k: Float32Array;
    try {
      pcm16k = this.resampler.process(block);
    } catch {
      this.blocksRejected++;
      return false;
    }
    this.now = now;
    if (this.onEnergy && pcm16k.length > 0) {
      let sum = 0;
      for (let i = 0; i < pcm16k.length; i++) sum += pcm16k[i]! * pcm16k[i]!;
      this.onEnergy(Date.now(), Math.sqrt(sum / pcm16k.length));
    }
    const before = this.queue.pushed;
    this.windower.push(pcm16k, this.onWindow);
    return this.queue.pushed !== before;
  }
}
