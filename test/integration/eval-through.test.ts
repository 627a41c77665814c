/**
 * `npm run eval -- --through`: the clips go through the call's codecs before the analyzer sees
 * them. On a small folder (a LibriSpeech recording, a real portrait still, a MesoNet face-swap
 * crop, a file no codec can read), played as it is and through `vp8:150,telephone`:
 * - through a telephone leg the voice model hears band-limited speech and says it cannot judge it,
 *   where the same recording as it is gets a reading: the codec really is in the path;
 * - a still goes through VP8 and is still judged, with another reading than the file's;
 * - a clip ffmpeg cannot read comes back with its error, the others are played, and no encoded
 *   copy is left behind;
 * - the report says what the clips went through (settings, header, notes);
 * - a clip encodes to the same bytes every time (libvpx on several threads does not: the test
 *   failed twice in two runs without `-threads 1`).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAudio } from '../../server/src/analyzer/audio/decode.ts';
import { highBandDb, NARROWBAND_DB } from '../../server/src/analyzer/sampling/bandwidth.ts';
import { EncodedClip } from '../../server/src/evaluation/codecs.ts';
import { reportMarkdown, runEvaluation, type EvaluationReport } from '../../server/src/evaluation/evaluate.ts';
import { DATA_DIR } from '../helpers/images.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const root = mkdtempSync(join(tmpdir(), 'dfs-eval-through-'));
const data = join(root, 'data');
// The encoded copies go under os.tmpdir(): this file's own, so that what it finds there is its own.
const scratch = join(root, 'tmp');
mkdirSync(scratch);
process.env.TMPDIR = scratch;
const SPEECH = join(DATA_DIR, 'speech/librispeech/1688/1688-142285-0000.flac');
const copies = () => readdirSync(scratch).filter((f) => f.startsWith('dfs-through-'));

let plain: EvaluationReport;
let through: EvaluationReport;

beforeAll(async () => {
  for (const d of ['real', 'fake']) mkdirSync(join(data, d), { recursive: true });
  symlinkSync(SPEECH, join(data, 'real', 'reader.flac'));
  symlinkSync(join(DATA_DIR, 'faces/pexels/landmark_Test1.jpg'), join(data, 'real', 'portrait.jpg'));
  symlinkSync(join(DATA_DIR, 'faces/mesonet/df/df00204.jpg'), join(data, 'fake', 'swap.jpg'));
  writeFileSync(join(data, 'fake', 'broken.wav'), 'RIFF, but not really a wave file');
  plain = await runEvaluation({ data, tts: 0, stillSeconds: 3 });
  through = await runEvaluation({ data, tts: 0, stillSeconds: 3, through: { video: { codec: 'vp8', kbps: 150 }, audio: { codec: 'telephone' } } });
}, 180_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const clip = (r: EvaluationReport, id: string) => r.clips.find((c) => c.id === id)!;

describe('npm run eval -- --through', () => {
  it('through a telephone leg, the voice model says it cannot judge the band-limited speech it now hears', () => {
    const asIs = clip(plain, 'real/reader.flac').detectors['synthetic-voice'];
    expect(asIs.score).not.toBeNull();
    expect(asIs.abstained).toBeLessThan(asIs.attempts);
    const phoned = clip(through, 'real/reader.flac').detectors['synthetic-voice'];
    expect(phoned).toMatchObject({ applicable: true, score: null });
    expect(phoned.attempts).toBeGreaterThan(0);
    expect(phoned.abstained).toBe(phoned.attempts);
    expect(Object.keys(phoned.abstainReasons)).toEqual([expect.stringMatching(/band-limited/)]);
    // Unjudged by the voice model, fusion gives no verdict on a voice-only clip: never CLEAR for lack of data.
    expect(clip(through, 'real/reader.flac').fused).toMatchObject({ judged: false, maxRisk: null });
    expect(clip(through, 'real/reader.flac').durationS).toBeCloseTo(clip(plain, 'real/reader.flac').durationS!, 1);
  });

  it('a still goes through VP8 and is judged from what the codec left', () => {
    for (const id of ['real/portrait.jpg', 'fake/swap.jpg']) {
      const a = clip(plain, id).detectors['face-deepfake'].score;
      const b = clip(through, id).detectors['face-deepfake'].score;
      expect(a).not.toBeNull();
      expect(b).not.toBeNull();
      expect(b).not.toBe(a);
    }
  });

  it('a clip no codec can read comes back with its error, the rest are played, and no copy is left', () => {
    expect(clip(through, 'fake/broken.wav').error).toMatch(/ffmpeg could not encode .*broken\.wav as telephone/);
    expect(through.clips.filter((c) => c.error).map((c) => c.id)).toEqual(['fake/broken.wav']);
    expect(through.data).toMatchObject({ clips: 3, real: 2, fake: 1 });
    expect(copies()).toEqual([]);
  });

  it('says what the clips went through', () => {
    expect(through.settings.through).toEqual({ video: { codec: 'vp8', kbps: 150 }, audio: { codec: 'telephone' } });
    expect(plain.settings.through).toBeUndefined();
    expect(reportMarkdown(through)).toMatch(/audio hop 2 s, through vp8:150,telephone, provider cpu/);
    expect(through.notes.join('\n')).toMatch(/its video as VP8 at 150 kbit\/s .* and its voice through a telephone leg \(300-3400 Hz, 8 kHz, G\.711 mu-law\)/);
    expect(reportMarkdown(plain)).not.toMatch(/, through /);
  });
});

describe('EncodedClip', () => {
  it('Opus keeps the speech and its length; the telephone leg removes what lies above 4.5 kHz', async () => {
    const original = await decodeAudio(SPEECH);
    const opus = new EncodedClip({ audio: { codec: 'opus', kbps: 32 } }, SPEECH);
    const phone = new EncodedClip({ audio: { codec: 'telephone' } }, SPEECH);
    try {
      const viaOpus = await decodeAudio((await opus.audio())!);
      const viaPhone = await decodeAudio((await phone.audio(original))!);
      expect(Math.abs(viaOpus.length - original.length)).toBeLessThan(0.05 * 16000);
      expect(Math.abs(viaPhone.length - original.length)).toBeLessThan(0.05 * 16000);
      expect(highBandDb(original)!).toBeGreaterThan(NARROWBAND_DB);
      expect(highBandDb(viaOpus)!).toBeGreaterThan(NARROWBAND_DB);
      expect(highBandDb(viaPhone) ?? -Infinity).toBeLessThan(NARROWBAND_DB);
    } finally {
      await opus.dispose();
      await phone.dispose();
    }
    expect(copies()).toEqual([]);
  });

  it('encodes a clip the same way every time, so that an evaluation gives the same numbers twice', async () => {
    const clipFile = join(root, 'moving.mkv');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=480x270:rate=30:duration=3,noise=alls=12:allf=t', '-c:v', 'ffv1', clipFile]);
    const bytes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const e = new EncodedClip({ video: { codec: 'vp8', kbps: 200 } }, clipFile);
      try {
        bytes.push(createHash('sha1').update(readFileSync(await e.video())).digest('hex'));
      } finally {
        await e.dispose();
      }
    }
    expect(new Set(bytes).size).toBe(1);
  });

  it('without a codec for the kind, the file is used as it is', async () => {
    const e = new EncodedClip({ audio: { codec: 'telephone' } }, SPEECH);
    expect(await e.video()).toBe(SPEECH);
    expect(await e.still()).toBeUndefined();
    expect(await new EncodedClip({ video: { codec: 'vp8', kbps: 300 } }, SPEECH).audio()).toBeUndefined();
    await e.dispose();
  });
});

describe('npm run eval -- --through (CLI)', () => {
  it('refuses an unknown codec with the list of known ones, before playing anything', async () => {
    const bad = await run(process.execPath, ['scripts/eval.ts', '--data', data, '--through', 'h264:300', '--quiet'], { cwd: REPO }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/--through: unknown codec "h264" \(known: vp8\[:KBPS\], opus\[:KBPS\], telephone\)/) });
  }, 30_000);
});

// ffmpeg is a dependency of the evaluation (README); fail clearly, not obscurely, without it.
execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
