/**
 * Per-stream sampling state: what the analyzer keeps of each remote track before inference.
 * Video: @roamhq/wrtc hands every decoded frame over in a fresh buffer (checked against a real
 * RTCVideoSink), so a kept frame is held by reference, never copied. Audio goes 48 kHz → 16 kHz →
 * voice gate → 4.04 s windows from a small buffer pool.
 */
import type { I420Frame } from '../headless/wrtc.ts';
import { AudioResampler, type PcmBlock } from './sampling/AudioResampler.ts';
import { AudioWindower, type AudioWindow } from './sampling/AudioWindower.ts';
import { DcBlocker } from './sampling/DcBlocker.ts';
import { FrozenPicture } from './vision/FrozenPicture.ts';
import { i420Bytes } from './vision/image.ts';
import { BoundedQueue } from './sampling/BoundedQueue.ts';
import { FrameSampler } from './sampling/FrameSampler.ts';
import { landmarkSampler } from './pipeline.ts';
import { FaceFollower } from './vision/FaceFollower.ts';
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

/**
 * The VP8 temporal layer to ask for (of L1T3: layer L carries 1/2^(2-L) of the frames), from the
 * frame rate measured at the current layer. Up only when the current layer falls short of
 * `neededFps` (to the lowest that brings it with 10% to spare); down only when a lower layer
 * would bring it with the same 10% to spare. The gap between "short of the need" and "10% over
 * it" keeps a rate measured near the need (jitter, a busy publisher) from flapping between layers.
 * The way down once asked for 20%: a 15 fps camera sends TL1 at 7.5 fps, so with a need of 6 the
 * top layer had to measure 14.4 fps to come back down, and a webcam that dipped once (a busy
 * laptop) and then delivered 14 fps kept the analyzer decoding every frame for the rest of the
 * call (seen in CI). A stream without temporal layers measures its full rate at any layer, so it
 * stays low: the SFU forwards such streams whole.
 */
export function chooseTemporalLayer(current: number, measuredFps: number, neededFps: number): number {
  const at = (layer: number) => (measuredFps * 2 ** (2 - current)) / 2 ** (2 - layer);
  if (measuredFps < neededFps) {
    for (let layer = current + 1; layer < 2; layer++) if (at(layer) >= neededFps * 1.1) return layer;
    return 2;
  }
  for (let layer = 0; layer < current; layer++) if (at(layer) >= neededFps * 1.1) return layer;
  return current;
}

/**
 * The least landmark rate the SFU is asked for while a face is present: what the landmark-fed
 * detectors accept (landmark jitter and pulse: 6 and 5.5 fps), not the 8 fps cadence. Why: a
 * 15 fps camera's first temporal layer and a 30 fps camera's base layer both bring 7.5 fps, which
 * falls short of 8 with the chooser's 10% spare, so asking for 8 made the SFU send every frame
 * (15 fps decoded, or base + TL1 of a 30 fps camera) for half a frame a second more landmarks:
 * twice the SFU-to-analyzer traffic (decoding itself proved cheap: BENCHMARKS.md, 2 Dec). At 6
 * the layer that brings 7.5 fps passes both ways (6.6), with room for a camera that delivers
 * 13.2 of its 15 fps, and 7.5 fps measured over 1.5 s (11 frames, +-1) stays above 6.
 */
export const LANDMARK_LAYER_FPS = 6;

/** Frames must be counted this long at one layer before its rate is trusted. */
const RATE_WINDOW_MS = 1500;

/**
 * No frame for this long from a camera its owner has on means the video has stalled (a network
 * that stopped delivering, a decoder that stopped decoding, frames the analyzer refuses): the face
 * is not being judged, and fusion says "analysis degraded" (RiskFusion.setVideoStalled) instead of
 * letting the voice alone carry an all-clear. Frames reach the analyzer at the base temporal
 * layer's 3.75-7.5 fps from a live camera, and a camera turned off is told apart by the caller's
 * media state, so 5 s without one is no ordinary pause; shorter stalls do not move a verdict
 * (the face's window is 10 s).
 */
export const VIDEO_STALL_MS = 5000;

/**
 * While a video is stalled, the analyzer asks the server to refresh it (a keyframe request to the
 * publisher, and a log line at each end that says where the video stops): a decoder that lost its
 * reference frames, or a consumer that stopped forwarding, would otherwise wait for a keyframe
 * that a steady camera may not send for minutes, and the call reads "analysis degraded" all that
 * time (seen in CI, 3 Dec 2026: never came back within 40 s). At once, then at doubling intervals
 * up to STALL_REFRESH_MAX_MS: a camera frozen for good is not asked (nor logged) every 5 s.
 */
export const STALL_REFRESH_MS = 5000;
export const STALL_REFRESH_MAX_MS = 60_000;

export class VideoStream {
  readonly id: StreamId;
  readonly key: string;
  readonly sampler: FrameSampler;
  readonly queue: BoundedQueue<SampledFrame>;
  readonly tracker = new FaceTracker();
  /** Whether the picture has stopped changing (a still sent as video): its frames are then not judged. */
  readonly frozen = new FrozenPicture();
  /** Carries the face between the classifiers' samples by its landmarks (FaceFollower's header). */
  readonly follower = new FaceFollower();
  /** Landmarks-only frames between the classifiers' samples (pipeline.ts observeLandmarks). */
  readonly landmarkSampler: FrameSampler | undefined;
  readonly landmarkQueue: BoundedQueue<SampledFrame>;
  /** The last analysed frame showed a usable face: landmark frames are worth taking. */
  faceSeen = false;
  framesIn = 0;
  /** When the last frame was offered, or the stream attached (performance.now()): see VIDEO_STALL_MS. */
  lastFrameAt: number;
  /** Decoded frames dropped for being above the maximum size (CallWatcher). */
  oversizedFrames = 0;
  /**
   * Frames refused because their buffer cannot hold the I420 picture their size says (or the size
   * is not a positive integer): never queued, and like an oversized frame no sign of live video,
   * so a stream of them is a stall (VIDEO_STALL_MS), not a camera the analyzer seems to judge.
   */
  malformedFrames = 0;
  /** When the server was last asked to refresh this stalled video (performance.now()): see STALL_REFRESH_MS. */
  refreshedAt = Number.NEGATIVE_INFINITY;
  /** Refreshes asked for since the last frame (the interval doubles with each). */
  refreshes = 0;

  /** Whether it is time to ask the server to refresh this stalled video again; counts the ask. */
  refreshDue(now: number): boolean {
    if (now - this.refreshedAt < Math.min(STALL_REFRESH_MS * 2 ** Math.max(0, this.refreshes - 1), STALL_REFRESH_MAX_MS)) return false;
    this.refreshedAt = now;
    this.refreshes++;
    return true;
  }
  /** The temporal layer last asked of the SFU; undefined: its default for the analyzer (0). */
  layer: number | undefined;
  private rateSince = Number.NaN;
  private rateFrames = 0;

  /** Frames per second decoded since the last layer change, once measured long enough. */
  measuredFps(now: number): number | undefined {
    if (Number.isNaN(this.rateSince) || now - this.rateSince < RATE_WINDOW_MS) return undefined;
    return (this.rateFrames * 1000) / (now - this.rateSince);
  }

  /** Records a layer change: the rate is measured afresh from here. */
  setLayer(layer: number, now: number): void {
    this.layer = layer;
    this.rateSince = now;
    this.rateFrames = 0;
  }
  /**
   * Called for every sample dropped unanalysed (fusion counts them: analysis degraded): `video`
   * for a classifiers' sample, and `face-frames` too while a face is present; `face-frames` for a
   * landmark frame.
   */
  onDropped: ((input: 'video' | 'face-frames') => void) | undefined;

  constructor(id: StreamId, opts: { baseFps: number; boostedFps: number; queueCapacity: number; landmarkFps?: number }, now = performance.now()) {
    this.id = id;
    this.key = streamKey(id);
    this.lastFrameAt = now;
    this.sampler = new FrameSampler({ baseFps: opts.baseFps, boostedFps: opts.boostedFps });
    this.queue = new BoundedQueue<SampledFrame>(opts.queueCapacity, {
      onDrop: () => {
        this.onDropped?.('video');
        if (this.faceSeen) this.onDropped?.('face-frames');
      },
    });
    this.landmarkSampler = landmarkSampler(opts.landmarkFps ?? 0, opts.boostedFps);
    // Landmark frames are only worth having fresh: two waiting at most. A drop is a face frame
    // lost to the window detectors (pulse, landmark jitter: their need is counted in face frames).
    this.landmarkQueue = new BoundedQueue<SampledFrame>(2, { onDrop: () => this.onDropped?.('face-frames') });
  }

  /** Frames per second the sampler means to keep now. */
  get targetFps(): number {
    return this.sampler.boosted ? this.sampler.boostedFps : this.sampler.baseFps;
  }

  /**
   * Frames per second this stream's analysis needs now (the SFU's layer is chosen from it): the
   * classifiers' sampling rate, and while a face is present the landmark detectors' least rate
   * (LANDMARK_LAYER_FPS), not the landmark cadence itself: the landmark sampler takes every frame
   * up to its 8 fps of what the layer brings.
   */
  get neededFps(): number {
    const classifiers = 1000 / this.sampler.intervalMs;
    if (!this.landmarkSampler || !this.faceSeen) return classifiers;
    return Math.max(classifiers, Math.min(1000 / this.landmarkSampler.intervalMs, LANDMARK_LAYER_FPS));
  }

  /**
   * Face frames a second (through the face mesh: the window detectors' input) the analyzer means
   * to take now, for fusion's "analysis degraded": none without a face; with one, the landmark
   * cadence (the classifiers' rate with landmarks off), capped by the frames arriving (a layer or
   * a camera that brings fewer leaves the detectors that need more with a gap, not a starved
   * analysis). 0 until the arrival rate is measured.
   */
  faceFramesTarget(now: number): number {
    if (!this.faceSeen) return 0;
    const cadence = Math.max(this.targetFps, this.landmarkSampler ? 1000 / this.landmarkSampler.intervalMs : 0);
    const arriving = this.measuredFps(now);
    return arriving === undefined ? 0 : Math.min(cadence, arriving);
  }

  /**
   * How long this stream has gone without a frame, when that is a stall (VIDEO_STALL_MS) of a
   * camera that has been on since `cameraOnSince` (undefined: off); otherwise undefined.
   */
  stalledFor(now: number, cameraOnSince: number | undefined): number | undefined {
    if (cameraOnSince === undefined) return undefined;
    const quietFor = now - Math.max(this.lastFrameAt, cameraOnSince);
    return quietFor >= VIDEO_STALL_MS ? quietFor : undefined;
  }

  setBoosted(boosted: boolean): void {
    this.sampler.setBoosted(boosted);
    this.landmarkSampler?.setBoosted(boosted);
  }

  /** Called for every decoded frame; keeps it only when the sampler wants it. Returns whether it did. */
  offer(frame: I420Frame, now: number): boolean {
    if (!wellFormed(frame)) {
      this.malformedFrames++;
      return false;
    }
    this.framesIn++;
    this.lastFrameAt = now;
    this.refreshes = 0;
    if (Number.isNaN(this.rateSince)) this.rateSince = now;
    else this.rateFrames++;
    const landmarks = this.landmarkSampler?.offer(now) ?? false;
    if (this.sampler.offer(now)) {
      this.queue.push({ frame, arrivedAt: now });
      return true;
    }
    if (!landmarks || !this.faceSeen) return false;
    this.landmarkQueue.push({ frame, arrivedAt: now });
    return true;
  }
}

/** Whether the frame's buffer holds the I420 picture its size says (as image.ts i420Source reads it). */
function wellFormed(frame: I420Frame): boolean {
  const { width: w, height: h, data } = frame;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || !data) return false;
  return data.length >= i420Bytes(w, h);
}

export type TimedWindow = AudioWindow & { arrivedAt: number };

/**
 * A voice reading this far from suspicion counts as confidently natural for the hop: a bona fide
 * score 2 units above the calibrated threshold (the logistic at -2 scales). The bench's real voice
 * (LibriSpeech) reads so on 38 of 47 windows; ../shared/data/dev/voice's judged windows on 41% of
 * the reals' and 19% of the fakes' (those fakes read natural whatever the hop: judging them less
 * often loses nothing the threshold would have caught).
 */
export const CONFIDENT_SUSPICION = 0.12;

export class AudioStream {
  readonly id: StreamId;
  readonly key: string;
  readonly resampler = new AudioResampler();
  /** The microphone's DC offset out before anything measures the audio (DcBlocker.ts). */
  private readonly dcBlocker = new DcBlocker();
  readonly windower: AudioWindower;
  readonly queue: BoundedQueue<TimedWindow>;
  blocksIn = 0;
  /**
   * Called with every 10 ms of 16 kHz audio and its RMS (lip-sync compares the RMS with the mouth;
   * the pitch check reads the samples, which are only valid during the call).
   */
  onEnergy: ((at: number, rms: number, samples: Float32Array) => void) | undefined;
  /** Blocks at a sample rate the resampler cannot use (counted, never thrown into the sink). */
  blocksRejected = 0;
  /** Called for every speech window dropped unanalysed (fusion counts them: analysis degraded). */
  onDropped: (() => void) | undefined;
  /** Windows per second the windower makes of continuous speech now (1 / hop). */
  targetPerSecond: number;
  private now = 0;
  private readonly onWindow = (w: AudioWindow): void => {
    this.queue.push({ ...w, arrivedAt: this.now });
  };

  private readonly hopSeconds: number;
  private readonly clearHopSeconds: number;
  private readonly confidentHopSeconds: number;
  private clear = false;
  private faceJudged = false;
  /** The voice model's last reading of this stream (undefined: none yet, or it abstained). */
  private lastSuspicion: number | undefined;

  constructor(id: StreamId, opts: { hopSeconds: number; clearHopSeconds?: number; confidentHopSeconds?: number; queueCapacity: number }) {
    this.id = id;
    this.key = streamKey(id);
    this.hopSeconds = opts.hopSeconds;
    this.clearHopSeconds = opts.clearHopSeconds ?? opts.hopSeconds;
    this.confidentHopSeconds = opts.confidentHopSeconds ?? this.clearHopSeconds;
    this.windower = new AudioWindower({ hopLength: Math.round(opts.hopSeconds * 16000) });
    this.targetPerSecond = 1 / opts.hopSeconds;
    this.queue = new BoundedQueue<TimedWindow>(opts.queueCapacity, {
      onDrop: (w) => {
        this.windower.release(w.samples);
        this.onDropped?.();
      },
    });
  }

  /**
   * While the participant is CLEAR, AASIST-L runs on windows further apart (fewer runs, same
   * window); any other state goes back to the normal hop at the next window. `faceJudged`: the
   * face classifiers are judging this participant too (see hopNow).
   */
  setClear(clear: boolean, faceJudged = false): void {
    this.clear = clear;
    this.faceJudged = faceJudged;
    this.applyHop();
  }

  /** The voice model's reading of the last window (its suspicion; undefined when it abstained). */
  judged(suspicion: number | undefined): void {
    this.lastSuspicion = suspicion;
    this.applyHop();
  }

  /**
   * The voice model spends its runs where the answer is in doubt (it is the analyzer's largest
   * single cost: ~150 ms of a core per window, BENCHMARKS.md). Not CLEAR: the normal hop (2 s).
   * CLEAR: the CLEAR hop (4 s), but
   * - after a reading that leans synthetic (suspicion >= 0.5), the normal hop: one window cannot
   *   move fusion (it needs two), so the second comes 2 s later rather than 4;
   * - after a reading confidently natural (suspicion <= CONFIDENT_SUSPICION), while the face
   *   classifiers judge the participant too, the confident hop (8 s): fusion still gets its two
   *   readings per 20 s of continuous speech, and a switch to a cloned voice is heard within 8 s,
   *   its first window leaning synthetic brings the normal hop back. Not for a caller heard only
   *   (no face judged): with speech half the time, windows 8 s apart would leave fusion without
   *   the two readings it needs, and such a caller would flicker to INSUFFICIENT_SIGNAL.
   */
  private hopNow(): number {
    if (!this.clear) return this.hopSeconds;
    const s = this.lastSuspicion;
    if (s !== undefined && s >= 0.5) return this.hopSeconds;
    if (s !== undefined && s <= CONFIDENT_SUSPICION && this.faceJudged) return this.confidentHopSeconds;
    return this.clearHopSeconds;
  }

  private applyHop(): void {
    const hop = this.hopNow();
    this.windower.setHopLength(Math.round(hop * 16000));
    this.targetPerSecond = 1 / hop;
  }

  /** Called for every 10 ms block; returns whether a window was queued. */
  offer(block: PcmBlock, now: number): boolean {
    this.blocksIn++;
    let pcm16k: Float32Array;
    try {
      pcm16k = this.dcBlocker.process(this.resampler.process(block));
    } catch {
      this.blocksRejected++;
      return false;
    }
    this.now = now;
    if (this.onEnergy && pcm16k.length > 0) {
      let sum = 0;
      for (let i = 0; i < pcm16k.length; i++) sum += pcm16k[i]! * pcm16k[i]!;
      this.onEnergy(Date.now(), Math.sqrt(sum / pcm16k.length), pcm16k);
    }
    const before = this.queue.pushed;
    this.windower.push(pcm16k, this.onWindow);
    return this.queue.pushed !== before;
  }
}
