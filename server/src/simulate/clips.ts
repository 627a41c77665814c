/**
 * The clips a simulated caller can play, built from the shared test data (stills and speech; see
 * shared/data/DATA.md): what face, how it is filmed, and what voice. Media is prepared once per
 * clip and cached.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { decodeAudio } from '../analyzer/audio/decode.ts';
import { installedVoices, synthesize, TTS_SENTENCES } from '../analyzer/audio/tts.ts';
import type { InferenceRuntime } from '../analyzer/inference/InferenceRuntime.ts';
import { BlazeFace, FaceKeypoint } from '../analyzer/vision/BlazeFace.ts';
import { i420Source } from '../analyzer/vision/image.ts';
import type { I420Frame } from '../headless/wrtc.ts';
import type { FaceLayout } from './FaceAnimator.ts';
import { coverFit, loadJpeg, toI420 } from './stills.ts';

export const CLIP_NAMES = ['real', 'fake', 'replay', 'tts', 'fake-tts'] as const;
export type ClipName = (typeof CLIP_NAMES)[number];

export interface ClipSpec {
  /** A still under the data folder. */
  photo: string;
  look: 'camera' | 'screen-replay';
  voice: 'human' | 'tts';
  /** What it stands for, and what it cannot show. */
  about: string;
}

export const CLIPS: Record<ClipName, ClipSpec> = {
  real: {
    photo: 'faces/pexels/landmark_Test1.jpg',
    look: 'camera',
    voice: 'human',
    about: 'a real person (a real photo, animated: drift, zoom, blinks) reading aloud (LibriSpeech)',
  },
  fake: {
    photo: 'faces/mesonet/df/df00204.jpg',
    look: 'camera',
    voice: 'human',
    about: 'a face-swap deepfake (a FaceForensics-style swapped face crop from MesoNet\'s test set) with a real voice',
  },
  replay: {
    photo: 'faces/pexels/landmark_Test1.jpg',
    look: 'screen-replay',
    voice: 'human',
    about: 'a real face replayed from a screen held to the camera (bezel, moire, flattened contrast)',
  },
  tts: {
    photo: 'faces/pexels/landmark_Test1.jpg',
    look: 'camera',
    voice: 'tts',
    about: 'a real face with a synthetic voice (espeak-ng / flite text-to-speech)',
  },
  'fake-tts': {
    photo: 'faces/mesonet/df/df00204.jpg',
    look: 'camera',
    voice: 'tts',
    about: 'the face-swap crop with a synthetic voice: two detectors agree, so the shipped fusion goes on to ALERT (the face alone reaches SUSPICIOUS at most, and only where another face cue agrees with MesoNet)',
  },
};

/** LibriSpeech read speech, three speakers, for the human voice. */
const SPEECH = ['1688/1688-142285-0000.flac', '1998/1998-15444-0000.flac', '2414/2414-128291-0000.flac'];

export function defaultDataDir(): string {
  return process.env.DFS_DATA_DIR ?? path.resolve(import.meta.dirname, '../../../../shared/data');
}

export interface ClipMedia {
  spec: ClipSpec;
  /** 640x480 I420 still, the base of every frame. */
  frame: I420Frame;
  layout: FaceLayout;
  /** 48 kHz mono. */
  pcm: Int16Array;
}

export const VIDEO_WIDTH = 640;
export const VIDEO_HEIGHT = 480;

/** Prepares clips' media; each still and voice is made once. */
export class ClipLibrary {
  private readonly dataDir: string;
  private readonly runtime: InferenceRuntime;
  private detector: Promise<BlazeFace> | undefined;
  private readonly cache = new Map<ClipName, Promise<ClipMedia>>();
  private readonly voices = new Map<string, Promise<Int16Array>>();

  constructor(runtime: InferenceRuntime, dataDir = defaultDataDir()) {
    this.runtime = runtime;
    this.dataDir = dataDir;
  }

  load(name: ClipName): Promise<ClipMedia> {
    let p = this.cache.get(name);
    if (!p) {
      p = this.prepare(CLIPS[name]);
      this.cache.set(name, p);
      p.catch(() => this.cache.delete(name));
    }
    return p;
  }

  private file(rel: string): string {
    const f = path.join(this.dataDir, rel);
    if (!existsSync(f)) throw new Error(`${f} not found: simulated callers use the shared test data (set DFS_DATA_DIR to the shared/data folder)`);
    return f;
  }

  private async prepare(spec: ClipSpec): Promise<ClipMedia> {
    const frame = toI420(coverFit(loadJpeg(this.file(spec.photo)), VIDEO_WIDTH, VIDEO_HEIGHT));
    this.detector ??= this.runtime.load('blazeface-short').then((m) => new BlazeFace(m));
    const face = (await (await this.detector).detect(i420Source(frame)))[0];
    if (!face) throw new Error(`no face found in ${spec.photo}`);
    const k = face.keypoints;
    const layout: FaceLayout = {
      box: face.box,
      rightEye: k[FaceKeypoint.rightEye]!,
      leftEye: k[FaceKeypoint.leftEye]!,
      nose: k[FaceKeypoint.nose]!,
      mouth: k[FaceKeypoint.mouth]!,
    };
    let pcm = this.voices.get(spec.voice);
    if (!pcm) {
      pcm = spec.voice === 'human' ? this.humanVoice() : this.syntheticVoice();
      this.voices.set(spec.voice, pcm);
    }
    return { spec, frame, layout, pcm: await pcm };
  }

  private async humanVoice(): Promise<Int16Array> {
    const parts = await Promise.all(SPEECH.map((c) => decodeAudio(this.file(path.join('speech/librispeech', c)), { sampleRate: 48000 })));
    return joinWithPauses(parts, 48000);
  }

  private async syntheticVoice(): Promise<Int16Array> {
    const [voice] = await installedVoices();
    if (!voice) throw new Error('no text-to-speech engine found: install espeak-ng or flite (Debian: apt-get install espeak-ng)');
    const parts = await Promise.all(TTS_SENTENCES.slice(0, 3).map((t) => synthesize(t, voice)));
    return joinWithPauses(parts.map((p) => upsample3(p)), 48000);
  }
}

/** 16 kHz -> 48 kHz by linear interpolation (TTS output is band-limited well below 8 kHz). */
function upsample3(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length * 3);
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    const b = x[i + 1] ?? a;
    out[i * 3] = a;
    out[i * 3 + 1] = a + (b - a) / 3;
    out[i * 3 + 2] = a + (2 * (b - a)) / 3;
  }
  return out;
}

/** Clips joined with 0.4 s pauses (as between sentences), peak-normalised to -3 dBFS, as 16-bit PCM. */
function joinWithPauses(parts: Float32Array[], rate: number): Int16Array {
  const gap = Math.round(rate * 0.4);
  const total = parts.reduce((n, p) => n + p.length + gap, 0);
  const out = new Int16Array(total);
  let peak = 1e-6;
  for (const p of parts) for (const v of p) peak = Math.max(peak, Math.abs(v));
  const gain = (0.7 * 32767) / peak;
  let at = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) out[at + i] = Math.round(p[i]! * gain);
    at += p.length + gap;
  }
  return out;
}
