/**
 * The call's codecs, for the offline evaluation: `npm run eval -- --through vp8:300,opus:32`
 * encodes each clip as a browser would send it, decodes it again, and only then plays it to the
 * analyzer, so that the numbers are those of a call and not of the files as recorded.
 *
 * Why: the analyzer never sees a file. A live caller's video reaches it as VP8 at whatever the
 * sender's bandwidth estimate allows, and the voice always as Opus; a caller dialled in through a
 * telephone gateway arrives band-limited. Measured by hand before this option (EVALUATION.md,
 * "Through a call's codec"): the seam cue loses 0.03 AUC through VP8, and Opus moves every voice
 * towards "synthetic", real callers included, so two short real prompts that no file run raises
 * reach SUSPICIOUS through it. Those are the numbers a deployment lives with.
 *
 * What each codec does (ffmpeg, Debian's build; Opus and the telephone leg as in those hand-made
 * runs, VP8 closer to a browser than they were: constant bit rate, no look-ahead, one thread):
 * - `vp8[:KBPS]`: libvpx at a constant KBPS kbit/s (default 300, libwebrtc's start bitrate) with no
 *   look-ahead, realtime deadline, cpu-used 8: a browser's encoder under that estimate. Stills are
 *   held for one second at 30 fps and the last frame is kept (a camera pointed at a picture: the
 *   encoder has had a second to refine it). Frame folders (sequences) play as they are: each frame
 *   is a separate picture.
 * - `opus[:KBPS]`: libopus at KBPS kbit/s (default 32, Chromium's for a mono voice), 48 kHz mono,
 *   `-application voip`.
 * - `telephone`: a PSTN leg: 300-3400 Hz, 8 kHz, G.711 mu-law (scripts/voice-scores.ts's
 *   telephone condition uses the same arguments, from here).
 * The encoded copies go to a temporary folder, one clip at a time, and are removed after it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaError } from './media.ts';

export type VideoCodec = { codec: 'vp8'; kbps: number };
export type AudioCodec = { codec: 'opus'; kbps: number } | { codec: 'telephone' };

/** What the clips go through before the analyzer sees them; an empty object: the files as they are. */
export interface CallCodecs {
  video?: VideoCodec;
  audio?: AudioCodec;
}

/** Bit rates a browser can be asked for, and the defaults when a codec is named without one. */
const VP8_KBPS = { min: 30, max: 10000, default: 300 } as const;
const OPUS_KBPS = { min: 6, max: 510, default: 32 } as const;

/** ffmpeg arguments between input and output for each codec (output format last). */
export const VP8_ARGS = (kbps: number): string[] => {
  const rate = `${kbps}k`;
  // Constant bit rate and no look-ahead, as libwebrtc configures libvpx (rc_end_usage CBR, g_lag_in_frames 0).
  // One thread: with several, libvpx encodes the same clip differently from run to run (seen: one
  // clip, three runs, two outputs; dev/video's fused AUC 0.540 in one run, 0.563 in another), and
  // an evaluation must give the same numbers twice.
  return ['-an', '-sn', '-vf', 'crop=trunc(iw/2)*2:trunc(ih/2)*2', '-c:v', 'libvpx', '-threads', '1', '-b:v', rate, '-minrate', rate, '-maxrate', rate, '-lag-in-frames', '0', '-deadline', 'realtime', '-cpu-used', '8', '-f', 'ivf'];
};
export const OPUS_ARGS = (kbps: number): string[] => ['-vn', '-sn', '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', `${kbps}k`, '-application', 'voip', '-f', 'ogg'];
export const TELEPHONE_ARGS: readonly string[] = ['-vn', '-sn', '-ac', '1', '-af', 'highpass=f=300:poles=2,lowpass=f=3400:poles=2', '-ar', '8000', '-c:a', 'pcm_mulaw', '-f', 'wav'];

/**
 * `vp8:300,opus:32`, `opus`, `telephone`, `vp8:150,telephone`: at most one video and one audio
 * codec, comma-separated. Throws a RangeError that says what is wrong.
 */
export function parseCallCodecs(spec: string): CallCodecs {
  const out: CallCodecs = {};
  const parts = spec.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new RangeError(`--through: empty codec in "${spec}" (e.g. vp8:300,opus:32)`);
  for (const part of parts) {
    const [name, rate, ...rest] = part.split(':');
    const kbps = (range: { min: number; max: number; default: number }): number => {
      if (rate === undefined) return range.default;
      const n = Number(rate);
      if (rest.length || rate === '' || !Number.isInteger(n) || n < range.min || n > range.max) {
        throw new RangeError(`--through: ${name}'s bit rate must be a whole number of kbit/s from ${range.min} to ${range.max}, got "${part}"`);
      }
      return n;
    };
    if (name === 'vp8') {
      if (out.video) throw new RangeError(`--through: more than one video codec in "${spec}"`);
      out.video = { codec: 'vp8', kbps: kbps(VP8_KBPS) };
    } else if (name === 'opus' || name === 'telephone') {
      if (out.audio) throw new RangeError(`--through: more than one audio codec in "${spec}" (telephone and opus are both the voice's path)`);
      if (name === 'telephone' && rate !== undefined) throw new RangeError(`--through: telephone takes no bit rate (G.711 is 64 kbit/s), got "${part}"`);
      out.audio = name === 'opus' ? { codec: 'opus', kbps: kbps(OPUS_KBPS) } : { codec: 'telephone' };
    } else {
      throw new RangeError(`--through: unknown codec "${name}" (known: vp8[:KBPS], opus[:KBPS], telephone)`);
    }
  }
  return out;
}

/** The canonical spelling, as parseCallCodecs reads it: `vp8:300,opus:32`; '' for none. */
export function callCodecsName(c: CallCodecs | undefined): string {
  if (!c) return '';
  const parts: string[] = [];
  if (c.video) parts.push(`vp8:${c.video.kbps}`);
  if (c.audio) parts.push(c.audio.codec === 'opus' ? `opus:${c.audio.kbps}` : 'telephone');
  return parts.join(',');
}

function ffmpeg(args: string[], what: string, stdin?: Float32Array): Promise<void> {
  const bin = process.env.FFMPEG_PATH ?? 'ffmpeg';
  return new Promise((ok, fail) => {
    const child = spawn(bin, ['-v', 'error', '-nostdin', '-y', ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      if (err.length < 4000) err += c.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) =>
      fail(new MediaError(e.code === 'ENOENT' ? `ffmpeg not found: install it (Debian: apt-get install ffmpeg) or set FFMPEG_PATH` : `cannot run ffmpeg: ${e.message}`)),
    );
    child.on('close', (code) => (code === 0 ? ok() : fail(new MediaError(`ffmpeg could not encode ${what} (exit ${code}): ${err.trim() || 'no message'}`))));
    if (stdin) {
      child.stdin!.on('error', () => undefined); // ffmpeg's exit code says what went wrong
      child.stdin!.end(Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength));
    }
  });
}

/**
 * One clip's encoded copies, in a temporary folder of their own: `video()`, `still()` and `audio()`
 * encode when called and return the copy's path; `dispose()` removes the folder (call it in a finally).
 */
export class EncodedClip {
  private dir: Promise<string> | undefined;
  private readonly codecs: CallCodecs;
  private readonly source: string;

  /** `source`: the clip's file (or, for generated audio, a name for error messages). */
  constructor(codecs: CallCodecs, source: string) {
    this.codecs = codecs;
    this.source = source;
  }

  private async folder(): Promise<string> {
    this.dir ??= mkdtemp(join(tmpdir(), 'dfs-through-'));
    return this.dir;
  }

  /** The video through the video codec, or the file itself when there is none. */
  async video(): Promise<string> {
    return (await this.encodeVideo(['-i', this.source])) ?? this.source;
  }

  /** A still picture held before the camera for a second (30 frames) through the video codec; undefined when there is none. */
  still(): Promise<string | undefined> {
    return this.encodeVideo(['-loop', '1', '-framerate', '30', '-t', '1', '-i', this.source]);
  }

  private async encodeVideo(input: string[]): Promise<string | undefined> {
    const v = this.codecs.video;
    if (!v) return undefined;
    const out = join(await this.folder(), 'video.ivf');
    await ffmpeg([...input, ...VP8_ARGS(v.kbps), out], `${this.source} as VP8`);
    return out;
  }

  /** The audio through the audio codec: from the file, or from 16 kHz samples when the clip has them. */
  async audio(samples?: Float32Array, sampleRate = 16000): Promise<string | undefined> {
    const a = this.codecs.audio;
    if (!a) return undefined;
    const dir = await this.folder();
    const out = join(dir, a.codec === 'opus' ? 'audio.ogg' : 'audio.wav');
    const input = samples ? ['-f', 'f32le', '-ar', String(sampleRate), '-ac', '1', '-i', '-'] : ['-i', this.source];
    await ffmpeg([...input, ...(a.codec === 'opus' ? OPUS_ARGS(a.kbps) : TELEPHONE_ARGS), out], `${this.source} as ${a.codec}`, samples);
    return out;
  }

  async dispose(): Promise<void> {
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
  }
}
