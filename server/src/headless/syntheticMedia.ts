/**
 * Synthetic media for headless participants: an I420 video source drawing a caller-supplied
 * pattern and a PCM tone source, both paced by wall-clock time so timer jitter does not change
 * their rate. Buffers are allocated once and reused for every frame.
 */
import { nonstandard, type I420Frame } from './wrtc.ts';

export type FramePainter = (frame: I420Frame, index: number) => void;

/** Fills luma with one value and chroma with neutral grey. */
export function solidLuma(y: number): FramePainter {
  return (frame) => {
    const lumaSize = frame.width * frame.height;
    frame.data.fill(y, 0, lumaSize);
    frame.data.fill(128, lumaSize);
  };
}

export class SyntheticVideo {
  readonly track: MediaStreamTrack;
  private readonly source = new nonstandard.RTCVideoSource();
  private readonly frame: I420Frame;
  private readonly timer: NodeJS.Timeout;
  private index = 0;
  /** While true no frame is sent, the track staying live: a frozen camera or a stalled path. */
  held = false;

  constructor(opts: { width?: number; height?: number; fps?: number; paint: FramePainter }) {
    const width = opts.width ?? 320;
    const height = opts.height ?? 240;
    this.frame = { width, height, data: new Uint8Array((width * height * 3) / 2) };
    this.track = this.source.createTrack() as unknown as MediaStreamTrack;
    const paint = opts.paint;
    const interval = 1000 / (opts.fps ?? 15);
    const start = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor((performance.now() - start) / interval);
      if (due < this.index || this.held) return;
      this.index = due + 1;
      paint(this.frame, due);
      this.source.onFrame(this.frame);
    }, interval / 2);
  }

  stop(): void {
    clearInterval(this.timer);
    this.track.stop();
  }
}

/** 10 ms blocks of 48 kHz mono PCM, paced by wall-clock time; `fill` writes each block. */
class PacedAudio {
  static readonly SAMPLE_RATE = 48000;
  static readonly FRAME = 480; // 10 ms
  readonly track: MediaStreamTrack;
  private readonly source = new nonstandard.RTCAudioSource();
  private readonly samples = new Int16Array(PacedAudio.FRAME);
  private readonly timer: NodeJS.Timeout;
  private sent = 0;

  constructor(fill: (out: Int16Array, offset: number) => void) {
    this.track = this.source.createTrack() as unknown as MediaStreamTrack;
    const start = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor((performance.now() - start) / 10);
      // Never burst more than 100 ms after a stall: late audio is useless anyway.
      if (due - this.sent > 10) this.sent = due - 10;
      for (; this.sent < due; this.sent++) {
        fill(this.samples, this.sent * PacedAudio.FRAME);
        this.source.onData({ samples: this.samples, sampleRate: PacedAudio.SAMPLE_RATE, channelCount: 1, numberOfFrames: PacedAudio.FRAME });
      }
    }, 10);
  }

  stop(): void {
    clearInterval(this.timer);
    this.track.stop();
  }
}

/** A steady sine tone. */
export class SyntheticAudio extends PacedAudio {
  constructor(opts: { frequencyHz: number; amplitude?: number }) {
    const amp = (opts.amplitude ?? 0.3) * 32767;
    const w = (2 * Math.PI * opts.frequencyHz) / PacedAudio.SAMPLE_RATE;
    super((out, offset) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.round(amp * Math.sin(w * (offset + i)));
    });
  }
}

/** A recording (48 kHz mono PCM) played in a loop, e.g. speech for a simulated caller. */
export class LoopedAudio extends PacedAudio {
  private pcm: Int16Array;
  private at = 0;

  constructor(pcm: Int16Array) {
    super((out) => {
      const src = this.pcm;
      for (let i = 0; i < out.length; i++) {
        out[i] = src[this.at]!;
        if (++this.at >= src.length) this.at = 0;
      }
    });
    this.pcm = LoopedAudio.check(pcm);
  }

  /** Plays another recording from its start. */
  play(pcm: Int16Array): void {
    this.pcm = LoopedAudio.check(pcm);
    this.at = 0;
  }

  private static check(pcm: Int16Array): Int16Array {
    if (pcm.length === 0) throw new Error('LoopedAudio needs at least one sample');
    return pcm;
  }
}
