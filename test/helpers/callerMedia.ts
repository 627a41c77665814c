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

/** SyntheticVideo options that paint a face still of the shared data (path under DATA_DIR) at its own size; by default a real one. */
export function faceStill(photo = 'faces/mesonet/real/real00240.jpg'): { width: number; height: number; paint: FramePainter } {
  const rgba = jpeg.decode(readFileSync(join(DATA_DIR, photo)));
  const i420 = { width: rgba.width, height: rgba.height, data: new Uint8Array((rgba.width * rgba.height * 3) / 2) };
  nonstandard.rgbaToI420({ width: rgba.width, height: rgba.height, data: new Uint8Array(rgba.data) }, i420);
  return { width: rgba.width, height: rgba.height, paint: (f) => f.data.set(i420.data) };
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
