/** Video fixtures for Chromium's fake camera, built from the shared stills with Debian's ffmpeg. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATA_DIR } from './images.ts';

const dir = mkdtempSync(join(tmpdir(), 'dfs-fixtures-'));

/**
 * A 640x480 y4m of one face photo filling the frame, with a slow zoom so the encoder keeps sending
 * real picture changes. It proves the pipeline on a known face; it is not a video of a person (no
 * blinking, no speech), and a photo on a plain border would rightly look like a held-up print.
 */
export function faceFixture(photo: string): string {
  const out = join(dir, `${photo.replace(/\W+/g, '_')}.y4m`);
  if (existsSync(out)) return out;
  execFileSync(
    'ffmpeg',
    [
      '-v', 'error', '-y', '-loop', '1', '-i', join(DATA_DIR, photo), '-t', '4', '-r', '15',
      '-vf', "scale=640:480:force_original_aspect_ratio=increase,crop=640:480,zoompan=z='1.02+0.02*sin(2*PI*on/60)':d=1:s=640x480:fps=15,format=yuv420p",
      '-f', 'yuv4mpegpipe', out,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return out;
}
