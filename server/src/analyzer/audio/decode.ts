/**
 * Offline audio input for the voice model: any file ffmpeg reads, as 16 kHz mono float samples,
 * and helpers to shape a signal into AASIST's fixed 64600-sample input. Used by calibration and
 * tests; the live path gets its windows from AudioWindower instead.
 */
import { spawn } from 'node:child_process';
import { endianness } from 'node:os';
import { AASIST_WINDOW_SAMPLES } from '../sampling/AudioWindower.ts';

export const SAMPLE_RATE = 16000;
export { AASIST_WINDOW_SAMPLES };

export class AudioDecodeError extends Error {
  override name = 'AudioDecodeError';
}

export interface DecodeOptions {
  /** The ffmpeg binary. Default: FFMPEG_PATH, else `ffmpeg` on PATH. */
  ffmpeg?: string;
  /** Output rate. Default 16000. */
  sampleRate?: number;
}

/** Decodes an audio file to mono float samples at 16 kHz (ffmpeg mixes channels down and resamples). */
export function decodeAudio(file: string, options: DecodeOptions = {}): Promise<Float32Array> {
  const ffmpeg = options.ffmpeg ?? process.env.FFMPEG_PATH ?? 'ffmpeg';
  const rate = options.sampleRate ?? SAMPLE_RATE;
  const args = ['-v', 'error', '-nostdin', '-i', file, '-f', 'f32le', '-ac', '1', '-ar', String(rate), '-'];
  return new Promise((ok, fail) => {
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      fail(
        err.code === 'ENOENT'
          ? new AudioDecodeError(`ffmpeg not found ("${ffmpeg}"): install it (Debian: apt-get install ffmpeg) or set FFMPEG_PATH`)
          : new AudioDecodeError(`cannot run ffmpeg for ${file}: ${err.message}`),
      );
    });
    child.on('close', (code) => {
      if (code !== 0) {
        fail(new AudioDecodeError(`ffmpeg could not decode ${file} (exit ${code}): ${stderr.trim() || 'no message'}`));
        return;
      }
      ok(f32leToArray(Buffer.concat(chunks)));
    });
  });
}

function f32leToArray(buf: Buffer): Float32Array {
  const n = Math.floor(buf.length / 4);
  // Copy into a fresh, aligned buffer: a pooled Buffer's byteOffset need not be a multiple of 4.
  const out = new Float32Array(n);
  if (endianness() === 'LE') {
    new Uint8Array(out.buffer).set(buf.subarray(0, n * 4));
  } else {
    for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4);
  }
  return out;
}

/**
 * Exactly `length` samples: a shorter signal is repeated end to end (as AASIST's authors pad their
 * training and evaluation audio), a longer one is cut to its start.
 */
export function fitToLength(samples: Float32Array, length = AASIST_WINDOW_SAMPLES): Float32Array {
  if (samples.length === 0) throw new RangeError('cannot fit an empty signal');
  if (samples.length === length) return samples;
  if (samples.length > length) return samples.slice(0, length);
  const out = new Float32Array(length);
  for (let at = 0; at < length; at += samples.length) out.set(samples.subarray(0, Math.min(samples.length, length - at)), at);
  return out;
}

export interface WindowOptions {
  /** Samples per window. Default 64600. */
  length?: number;
  /** Samples between window starts. Default 32000 (2 s, as AudioWindower): half-overlapping windows. */
  hop?: number;
  /** At most this many windows, from the start. Default: all. */
  max?: number;
}

/**
 * Full windows over a signal (each a copy); a signal shorter than one window gives one window,
 * repeated to length. A tail shorter than a window is dropped, as in the live windower.
 */
export function windowsOf(samples: Float32Array, options: WindowOptions = {}): Float32Array[] {
  const length = options.length ?? AASIST_WINDOW_SAMPLES;
  const hop = options.hop ?? 32000;
  const max = options.max ?? Infinity;
  if (!(hop >= 1)) throw new RangeError(`hop must be at least 1, got ${hop}`);
  if (samples.length <= length) return [fitToLength(samples, length).slice()];
  const out: Float32Array[] = [];
  for (let start = 0; start + length <= samples.length && out.length < max; start += hop) out.push(samples.slice(start, start + length));
  return out;
}
