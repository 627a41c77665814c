/**
 * Runs MediaPipe's face detector on the local camera preview a few times a second and turns what it
 * sees into caller hints (faceHints.ts). Everything stays in this browser: the model and the wasm
 * runtime come from our own server (/vendor/mediapipe/…), no frame or result is sent anywhere, and
 * MediaPipe's built-in usage statistics (POSTs to odml.pa.googleapis.com) are switched off.
 */
import { FaceDetector, FilesetResolver } from '@mediapipe/tasks-vision';
import { decideHint, HintSmoother, meanLuma, type Hint } from './faceHints.ts';

export const MEDIAPIPE_WASM_PATH = '/vendor/mediapipe/wasm';
export const FACE_MODEL_PATH = '/vendor/mediapipe/face_detection_short_range.tflite';

export interface HintEngineOptions {
  /** Time between checks; 333 ms is about 3 per second. */
  intervalMs?: number;
  wasmPath?: string;
  modelPath?: string;
  /** Consecutive checks before a hint shows / clears (see HintSmoother). */
  showAfter?: number;
  clearAfter?: number;
}

/**
 * Frames are scaled down to this width before detection (BlazeFace looks at 128 × 128 anyway):
 * half the cost of handing it the full video, and the same pixels give the brightness.
 */
const SAMPLE_WIDTH = 256;

/**
 * tasks-vision (1.x) creates, per task, a usage logger that POSTs usage statistics (task type,
 * latencies, platform) to https://odml.pa.googleapis.com/v1/log every minute and on close(), with
 * no public switch. Its logger object is the one whose class has exactly `flush` and `close`; it
 * stops queueing and sending for good once its `error` is set. Returns false if no logger was found
 * (a changed MediaPipe version): callers must then not use the task.
 */
export function muteUsageLogging(task: object): boolean {
  const seen = new Set<object>();
  let muted = false;
  const visit = (obj: object, depth: number): void => {
    if (seen.has(obj) || depth > 2) return;
    seen.add(obj);
    // Data properties only: reading accessors of the wasm module could have side effects.
    for (const desc of Object.values(Object.getOwnPropertyDescriptors(obj))) {
      const value: unknown = desc.value;
      if (!value || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) continue;
      const proto = Object.getPrototypeOf(value) as object | null;
      const methods = proto && proto !== Object.prototype ? Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor') : [];
      const logger = value as { flush?: unknown; close?: unknown; error?: unknown };
      if (methods.length === 2 && methods.includes('flush') && methods.includes('close') && typeof logger.close === 'function') {
        logger.error = new Error('usage logging disabled');
        (logger.close as () => void).call(value); // clears its timer; flush() sends nothing once `error` is set
        muted = true;
      } else {
        visit(value, depth + 1);
      }
    }
  };
  visit(task, 0);
  return muted;
}

export class HintEngine {
  private readonly detector: FaceDetector;
  private readonly intervalMs: number;
  private readonly smoother: HintSmoother;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D | null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private video: HTMLVideoElement | undefined;
  private onHint: ((hint: Hint | null) => void) | undefined;
  private shown: Hint | null = null;
  private lastTimestamp = 0;
  private closed = false;

  /** Loads the wasm runtime and the model from our server. Rejects if MediaPipe cannot run here. */
  static async load(opts: HintEngineOptions = {}): Promise<HintEngine> {
    const fileset = await FilesetResolver.forVisionTasks(opts.wasmPath ?? MEDIAPIPE_WASM_PATH);
    const detector = await FaceDetector.createFromOptions(fileset, {
      baseOptions: { modelAssetPath: opts.modelPath ?? FACE_MODEL_PATH, delegate: 'CPU' },
      runningMode: 'VIDEO',
      minDetectionConfidence: 0.5,
    });
    if (!muteUsageLogging(detector)) {
      // Not closed: close() would send the queued statistics.
      throw new Error('could not switch off MediaPipe usage logging; not running face hints');
    }
    return new HintEngine(detector, opts);
  }

  private constructor(detector: FaceDetector, opts: HintEngineOptions) {
    this.detector = detector;
    this.intervalMs = Math.max(100, opts.intervalMs ?? 333);
    this.smoother = new HintSmoother({
      ...(opts.showAfter !== undefined ? { showAfter: opts.showAfter } : {}),
      ...(opts.clearAfter !== undefined ? { clearAfter: opts.clearAfter } : {}),
    });
    this.canvas = document.createElement('canvas');
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
  }

  /** Watches a playing <video> of the local camera; `onHint` gets the steadied hint whenever it changes. */
  start(video: HTMLVideoElement, onHint: (hint: Hint | null) => void): void {
    if (this.closed) throw new Error('HintEngine is closed');
    this.stop();
    this.video = video;
    this.onHint = onHint;
    this.timer = setTimeout(this.tick, 0);
  }

  /** Stops watching; the current hint is cleared. The engine can be started again. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.video = undefined;
    this.smoother.reset();
    this.emit(null);
    this.onHint = undefined;
  }

  /** Stops and frees the detector. */
  close(): void {
    if (this.closed) return;
    this.stop();
    this.closed = true;
    this.detector.close();
  }

  /**
   * Checks one frame now: the raw (unsteadied) hint, null when the picture is fine, or undefined
   * when there is nothing to judge (no frame yet, camera off, tab hidden).
   */
  check(video: HTMLVideoElement): Hint | null | undefined {
    if (this.closed || document.hidden) return undefined;
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !video.videoWidth || !video.videoHeight) return undefined;
    const src = video.srcObject;
    const track = src instanceof MediaStream ? src.getVideoTracks()[0] : undefined;
    if (track && (!track.enabled || track.muted || track.readyState !== 'live')) return undefined;

    // VIDEO mode needs strictly increasing timestamps.
    const ts = Math.max(performance.now(), this.lastTimestamp + 1);
    this.lastTimestamp = ts;
    if (!this.ctx) {
      const result = this.detector.detectForVideo(video, ts);
      return decideHint({ detections: result.detections, width: video.videoWidth, height: video.videoHeight, brightness: Number.NaN });
    }
    const w = Math.min(SAMPLE_WIDTH, video.videoWidth);
    const h = Math.max(1, Math.round((w * video.videoHeight) / video.videoWidth));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.drawImage(video, 0, 0, w, h);
    const frame = this.ctx.getImageData(0, 0, w, h);
    const result = this.detector.detectForVideo(frame, ts);
    return decideHint({ detections: result.detections, width: w, height: h, brightness: meanLuma(frame.data) });
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const video = this.video;
    if (!video) return;
    try {
      const hint = this.check(video);
      if (hint === undefined) {
        this.smoother.reset();
        this.emit(null);
      } else {
        this.emit(this.smoother.push(hint));
      }
    } catch (err) {
      console.warn('[caller hints] face detection failed; hints are off.', err);
      this.stop();
      return;
    }
    if (this.video === video) this.timer = setTimeout(this.tick, this.intervalMs);
  };

  private emit(hint: Hint | null): void {
    if ((hint?.kind ?? null) === (this.shown?.kind ?? null)) return;
    this.shown = hint;
    this.onHint?.(hint);
  }
}
