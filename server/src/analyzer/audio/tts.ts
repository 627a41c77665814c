/**
 * Synthetic speech on demand from the local TTS engines (Debian's espeak-ng and flite), decoded to
 * 16 kHz mono: the "fake" class for calibrating and testing the synthetic-voice detector. These
 * are old formant/diphone/unit-selection voices, far easier to spot than modern neural TTS or
 * voice cloning; a detector that passes on them has only proved it is not blind.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeAudio } from './decode.ts';

const run = promisify(execFile);

export type TtsEngine = 'espeak-ng' | 'flite';

export interface TtsVoice {
  engine: TtsEngine;
  /** espeak-ng: `-v` value (language[+variant]); flite: `-voice` name. */
  voice: string;
  /** espeak-ng words per minute (its default is 175). */
  speed?: number;
}

export function voiceLabel(v: TtsVoice): string {
  return `${v.engine}:${v.voice}${v.speed ? `@${v.speed}` : ''}`;
}

/** Formant (espeak-ng, several accents, variants and speeds) and diphone/clustergen (flite) voices. */
export const TTS_VOICES: readonly TtsVoice[] = [
  { engine: 'espeak-ng', voice: 'en-us' },
  { engine: 'espeak-ng', voice: 'en-gb', speed: 150 },
  { engine: 'espeak-ng', voice: 'en+f3', speed: 165 },
  { engine: 'espeak-ng', voice: 'en-us+m3', speed: 140 },
  { engine: 'espeak-ng', voice: 'en-gb-x-rp+f2', speed: 190 },
  { engine: 'espeak-ng', voice: 'en-gb-scotland+m1', speed: 160 },
  { engine: 'espeak-ng', voice: 'en-029+klatt', speed: 170 },
  { engine: 'flite', voice: 'slt' },
  { engine: 'flite', voice: 'kal' },
  { engine: 'flite', voice: 'kal16' },
  { engine: 'flite', voice: 'awb' },
  { engine: 'flite', voice: 'rms' },
];

/** Varied sentences, most long enough to fill a 4.04 s window; a clinical flavour, as in the calls. */
export const TTS_SENTENCES: readonly string[] = [
  'Good morning, doctor. I have had a sharp pain in my lower back since Tuesday, and it gets worse when I stand up.',
  'Could you please read me the results of my blood test again? I did not quite catch the numbers the first time.',
  'My daughter has been running a fever of about thirty nine degrees for two days and she is not eating much.',
  'I take ten milligrams of the blood pressure tablet every morning, but last week I ran out and skipped three days.',
  'The weather was cold and windy on the way here, so the train was late and I missed the first appointment.',
  'Please transfer the payment to the new account today; the details are in the email I sent you this morning.',
  'When I breathe in deeply there is a tight feeling across my chest, and sometimes I feel a little dizzy.',
  'Yes, I can see you clearly now. The sound was breaking up before, but it seems much better since I moved rooms.',
  'I would like to renew my prescription for the inhaler and ask whether I should still use the nasal spray.',
  'Our records show that your last vaccination was four years ago, so we recommend a booster before you travel.',
  'Honestly, I have been sleeping badly for a month, waking around three and lying there until it gets light.',
  'Can we move the follow-up call to Thursday afternoon? I have a meeting at the school on Wednesday.',
];

/** The voices whose engine (and, for flite, voice) is installed here. */
export async function installedVoices(voices: readonly TtsVoice[] = TTS_VOICES): Promise<TtsVoice[]> {
  const espeak = await run('espeak-ng', ['--version']).then(
    () => true,
    () => false,
  );
  const fliteVoices = await run('flite', ['-lv']).then(
    ({ stdout }) => new Set(stdout.replace(/^.*?:/, '').trim().split(/\s+/)),
    () => new Set<string>(),
  );
  return voices.filter((v) => (v.engine === 'espeak-ng' ? espeak : fliteVoices.has(v.voice)));
}

/** Speaks `text` with one voice into a temporary wav and returns it as 16 kHz mono samples. */
export async function synthesize(text: string, voice: TtsVoice): Promise<Float32Array> {
  const dir = await mkdtemp(join(tmpdir(), 'dfs-tts-'));
  const wav = join(dir, 'out.wav');
  try {
    const args =
      voice.engine === 'espeak-ng'
        ? ['-v', voice.voice, ...(voice.speed ? ['-s', String(voice.speed)] : []), '-w', wav, text]
        : ['-voice', voice.voice, '-t', text, '-o', wav];
    try {
      await run(voice.engine, args, { timeout: 30_000 });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      throw new Error(
        e.code === 'ENOENT'
          ? `${voice.engine} not found: install it (Debian: apt-get install ${voice.engine})`
          : `${voiceLabel(voice)} failed: ${(e.stderr ?? e.message).trim()}`,
      );
    }
    return await decodeAudio(wav);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface SyntheticClip {
  voice: TtsVoice;
  text: string;
  samples: Float32Array;
}

export interface CorpusOptions {
  voices?: readonly TtsVoice[];
  /** Sentences per voice. Default 3. */
  perVoice?: number;
  /** At most this many clips, spread across the voices. Default: all. */
  limit?: number;
}

/**
 * A fixed, reproducible set of synthetic clips: voice i speaks sentences i, i+1, ... (mod the
 * list), so every voice says different things and every sentence is said by several voices.
 * Clips are interleaved by voice, so `limit` keeps as many voices as it can.
 */
export async function syntheticCorpus(options: CorpusOptions = {}): Promise<SyntheticClip[]> {
  const voices = options.voices ?? (await installedVoices());
  if (voices.length === 0) throw new Error('no TTS engine found: install espeak-ng and/or flite (Debian packages)');
  const perVoice = options.perVoice ?? 3;
  const plan: { voice: TtsVoice; text: string }[] = [];
  for (let k = 0; k < perVoice; k++) {
    voices.forEach((voice, i) => plan.push({ voice, text: TTS_SENTENCES[(i + k) % TTS_SENTENCES.length]! }));
  }
  const chosen = plan.slice(0, options.limit ?? plan.length);
  const out: SyntheticClip[] = [];
  for (const p of chosen) out.push({ ...p, samples: await synthesize(p.text, p.voice) });
  return out;
}
