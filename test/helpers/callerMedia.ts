/**
 * A caller's media for headless (wrtc) participants: a face still of the shared data painted into
 * every frame (by default a real one, MesoNet's real set, which the analyzer judges CLEAR), and
 * the real voice clip (LibriSpeech, 48 kHz) that the simulated caller plays.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import type { FramePainter } from '../../server/src/headless/syntheticMedia.ts';
import { nonstandard } from '../../server/src/headless/wrtc.ts';
import { ClipLibrary } from '../../server/src/simulate/clips.ts';
import { DATA_DIR } from './images.ts';

/**
 * SyntheticVideo options that paint a face still of the shared data (path under DATA_DIR) at its
 * own size, as a live camera would show it (livePainter); by default a real one. `frozen`: the
 * same frame every time, a still image sent as video (vision/FrozenPicture.ts).
 */
export function faceStill(photo = 'faces/mesonet/real/real00240.jpg', opts: { frozen?: boolean } = {}): { width: number; height: number; paint: FramePainter } {
  const rgba = jpeg.decode(readFileSync(join(DATA_DIR, photo)));
  const i420 = { width: rgba.width, height: rgba.height, data: new Uint8Array((rgba.width * rgba.height * 3) / 2) };
  nonstandard.rgbaToI420({ width: rgba.width, height: rgba.height, data: new Uint8Array(rgba.data) }, i420);
  return { width: rgba.width, height: rgba.height, paint: opts.frozen ? (f) => f.data.set(i420.data) : livePainter(i420.data, rgba.width, rgba.height) };
}

/**
 * Paints an I420 picture as a camera pointed at a person shows it: never the same frame for long.
 * Every `period` frames the picture moves by one pixel sideways and back, a sway the face models
 * do not notice and the encoder must send, so that the analyzer does not take it for a still
 * image sent as video (vision/FrozenPicture.ts), which it does not judge.
 */
export function livePainter(i420: Uint8Array, width: number, height: number, period = 8): FramePainter {
  const moved = new Uint8Array(i420.length);
  const shiftPlane = (offset: number, w: number, h: number) => {
    for (let y = 0; y < h; y++) {
      const row = offset + y * w;
      moved.set(i420.subarray(row, row + w - 1), row + 1);
      moved[row] = i420[row]!;
    }
  };
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  shiftPlane(0, width, height);
  shiftPlane(width * height, cw, ch);
  shiftPlane(width * height + cw * ch, cw, ch);
  return (f, index) => f.data.set(Math.floor(index / period) % 2 ? moved : i420);
}

/** The simulator's real voice clip, 48 kHz mono PCM, for LoopedAudio. */
export async function realVoice(): Promise<Int16Array> {
  const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
  try {
    return (await new ClipLibrary(runtime).load('real')).pcm;
  } finally {
    await runtime.close();
  }
}
