/**
 * Offline media input for the evaluation, through Debian's ffmpeg/ffprobe: what a file holds
 * (probe), its video as I420 frames at a chosen rate (streamed, never the whole clip in memory),
 * and still images as one I420 frame. I420 (BT.601 limited range) is what the live analyzer gets
 * from WebRTC, so the models see the same layout. Pictures come out upright: ffmpeg applies EXIF
 * orientation and video rotation metadata itself.
 * Audio: ../analyzer/audio/decode.ts (16 kHz mono float).
 */
import { spawn } from 'node:child_process';
import type { I420Frame } from '../headless/wrtc.ts';

export class MediaError extends Error {
  override name = 'MediaError';
}

const ffmpegBin = (): string => process.env.FFMPEG_PATH ?? 'ffmpeg';
const ffprobeBin = (): string => process.env.FFPROBE_PATH ?? 'ffprobe';

export interface MediaInfo {
  video?: { width: number; height: number; fps: number | null };
  audio?: { sampleRate: number | null };
  /** Seconds, when the container says. */
  duration: number | null;
}

function run(bin: string, args: string[], what: string): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 4000) err += c.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) =>
      fail(new MediaError(e.code === 'ENOENT' ? `${bin} not found: install ffmpeg (Debian: apt-get install ffmpeg) or set FFMPEG_PATH/FFPROBE_PATH` : `cannot run ${bin}: ${e.message}`)),
    );
    child.on('close', (code) => (code === 0 ? ok(Buffer.concat(out)) : fail(new MediaError(`${bin} failed on ${what} (exit ${code}): ${err.trim() || 'no message'}`))));
  });
}

function rate(s: string | undefined): number | null {
  if (!s) return null;
  const [n, d] = s.split('/').map(Number);
  const r = d ? n! / d : n!;
  return Number.isFinite(r) && r > 0 && r < 1000 ? r : null;
}

/** The first video and audio stream of a file, and its duration. */
export async function probeMedia(file: string): Promise<MediaInfo> {
  const out = await run(ffprobeBin(), ['-v', 'error', '-show_entries', 'stream=codec_type,width,height,avg_frame_rate,r_frame_rate,sample_rate,disposition:format=duration', '-of', 'json', file], file);
  const j = JSON.parse(out.toString()) as {
    streams?: { codec_type?: string; width?: number; height?: number; avg_frame_rate?: string; r_frame_rate?: string; sample_rate?: string; disposition?: { attached_pic?: number } }[];
    format?: { duration?: string };
  };
  const streams = j.streams ?? [];
  // Cover art in an audio file is a "video" stream too; it is not a picture of anyone talking.
  const v = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const a = streams.find((s) => s.codec_type === 'audio');
  const duration = Number(j.format?.duration);
  return {
    ...(v && v.width && v.height ? { video: { width: v.width, height: v.height, fps: rate(v.avg_frame_rate) ?? rate(v.r_frame_rate) } } : {}),
    ...(a ? { audio: { sampleRate: Number(a.sample_rate) || null } } : {}),
    duration: Number.isFinite(duration) && duration > 0 ? duration : null,
  };
}

/** Reads a yuv4mpegpipe (4:2:0) stream frame by frame. */
async function* y4mFrames(stream: AsyncIterable<Buffer>): AsyncGenerator<I420Frame> {
  let buf: Buffer = Buffer.alloc(0);
  let width = 0;
  let height = 0;
  let frameBytes = 0;
  let headerDone = false;
  for await (const chunk of stream) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (!headerDone) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0) break;
        const header = buf.toString('latin1', 0, nl).split(' ');
        if (header[0] !== 'YUV4MPEG2') throw new MediaError('ffmpeg did not produce a y4m stream');
        for (const p of header.slice(1)) {
          if (p[0] === 'W') width = Number(p.slice(1));
          else if (p[0] === 'H') height = Number(p.slice(1));
          else if (p[0] === 'C' && !p.startsWith('C420')) throw new MediaError(`unexpected y4m colour space ${p}`);
        }
        if (!(width > 0 && height > 0)) throw new MediaError(`bad y4m header: ${header.join(' ')}`);
        frameBytes = width * height + 2 * ((width + 1) >> 1) * ((height + 1) >> 1);
        headerDone = true;
        buf = buf.subarray(nl + 1);
        continue;
      }
      const nl = buf.indexOf(0x0a);
      if (nl < 0 || buf.length < nl + 1 + frameBytes) break;
      // A copy: each frame owns its pixels (the analyzer may hold several).
      const data = new Uint8Array(frameBytes);
      data.set(buf.subarray(nl + 1, nl + 1 + frameBytes));
      buf = buf.subarray(nl + 1 + frameBytes);
      yield { width, height, data };
    }
  }
}

function ffmpegFrames(args: string[], what: string): AsyncGenerator<I420Frame> {
  const child = spawn(ffmpegBin(), ['-v', 'error', '-nostdin', ...args, '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    if (err.length < 4000) err += c.toString();
  });
  const spawnError = new Promise<never>((_, fail) =>
    child.on('error', (e: NodeJS.ErrnoException) =>
      fail(new MediaError(e.code === 'ENOENT' ? `ffmpeg not found: install it (Debian: apt-get install ffmpeg) or set FFMPEG_PATH` : `cannot run ffmpeg: ${e.message}`)),
    ),
  );
  spawnError.catch(() => undefined);
  const exited = new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
  return (async function* () {
    let finished = false;
    try {
      yield* y4mFrames(child.stdout);
      const code = await Promise.race([exited, spawnError]);
      finished = true;
      if (code !== 0) throw new MediaError(`ffmpeg could not decode ${what} (exit ${code}): ${err.trim() || 'no message'}`);
    } finally {
      // Stopped early (the consumer had enough, or failed): do not leave ffmpeg running.
      if (!finished && child.exitCode === null) child.kill('SIGKILL');
    }
  })();
}

/** Even sizes, as camera and WebRTC frames have; a 1-pixel crop at most. */
const EVEN = 'crop=trunc(iw/2)*2:trunc(ih/2)*2';

/**
 * The video of `file` as I420 frames resampled to `fps` (ffmpeg's fps filter: duplicates or drops
 * frames onto a constant-rate grid from t = 0), streamed. Rotation metadata is applied.
 */
export function decodeVideo(file: string, fps: number): AsyncGenerator<I420Frame> {
  if (!(fps > 0)) throw new RangeError(`fps must be positive, got ${fps}`);
  return ffmpegFrames(['-i', file, '-an', '-sn', '-vf', `fps=${fps},${EVEN}`], file);
}

/**
 * A still image (any format ffmpeg reads) as one upright I420 frame: ffmpeg applies a JPEG's EXIF
 * orientation itself (the Silent-Face photos are stored sideways).
 */
export async function decodeImage(file: string): Promise<I420Frame> {
  const frames = ffmpegFrames(['-i', file, '-frames:v', '1', '-vf', EVEN], file);
  let first: I420Frame | undefined;
  for await (const f of frames) first ??= f;
  if (!first) throw new MediaError(`no picture in ${file}`);
  return first;
}
