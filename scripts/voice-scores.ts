/**
 * Scores every clip of a labelled voice folder (real/ and fake/ below it) with AASIST / AASIST-L
 * the way the product windows it (AudioWindower: voice gate, 4.04 s windows every hop, and at the
 * clip's end flush(): 2+ s of speech not yet judged, repeated to length), under transmission
 * conditions a call may add, and writes the bona fide logits per window to a JSON file that
 * scripts/calibrate-voice-groups.ts reads (scoring is the slow part: ~0.2 s per window on CPU):
 *   node scripts/voice-scores.ts --data ../shared/data/dev/voice --out /tmp/voice/scores.json
 *     [--models aasist-l,aasist] [--conditions clean,telephone,opus] [--hop 2]
 * Conditions: clean (as decoded), telephone (300-3400 Hz band, 8 kHz, G.711 mu-law, back to
 * 16 kHz: a PSTN leg), opus (libopus 32 kb/s, voip: a WebRTC call). Each window is level-normalised
 * to the model's calibrated peak, as the detector does, and keeps the detector's pre-check
 * (windows it would abstain on are recorded with their reason and no logit).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Tensor } from 'onnxruntime-node';
import { decodeAudio, SAMPLE_RATE } from '../server/src/analyzer/audio/decode.ts';
import { AASIST_L_VOICE_CALIBRATION, AASIST_VOICE_CALIBRATION, normalizeLevel, SyntheticVoiceDetector } from '../server/src/analyzer/detectors/SyntheticVoiceDetector.ts';
import { InferenceRuntime } from '../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../server/src/analyzer/inference/ModelRegistry.ts';
import { EncodedClip } from '../server/src/evaluation/codecs.ts';
import { AASIST_WINDOW_SAMPLES, AudioWindower, type AudioWindow } from '../server/src/analyzer/sampling/AudioWindower.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    out: { type: 'string' },
    models: { type: 'string', default: 'aasist-l,aasist' },
    conditions: { type: 'string', default: 'clean,telephone,opus' },
    hop: { type: 'string', default: '2' },
    threads: { type: 'string', default: '0' },
    only: { type: 'string' },
  },
});
if (!values.data || !values.out) throw new Error('usage: node scripts/voice-scores.ts --data DIR --out FILE [--models aasist-l,aasist] [--conditions clean,telephone,opus] [--hop 2]');
const dataDir = resolve(values.data);
const CONDITIONS = ['clean', 'telephone', 'opus'] as const;
type Condition = (typeof CONDITIONS)[number];
const conditions = values.conditions.split(',') as Condition[];
for (const c of conditions) if (!CONDITIONS.includes(c)) throw new Error(`--conditions: unknown ${c}`);
const calibrations = { 'aasist-l': AASIST_L_VOICE_CALIBRATION, aasist: AASIST_VOICE_CALIBRATION } as const;
const models = values.models.split(',') as (keyof typeof calibrations)[];
for (const m of models) if (!calibrations[m]) throw new Error(`--models: unknown ${m}`);
const hop = Math.round(Number(values.hop) * SAMPLE_RATE);

function files(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : [p];
    })
    .sort();
}
const clips = (['real', 'fake'] as const).flatMap((label) => {
  const dir = join(dataDir, label);
  if (!existsSync(dir)) throw new Error(`no ${label}/ folder under ${dataDir}`);
  return files(dir)
    .filter((f) => /\.(wav|flac|mp3|ogg|opus|m4a)$/i.test(f))
    .map((f) => ({ id: relative(dataDir, f), label, path: f }));
}).filter((c) => !values.only || new RegExp(values.only).test(c.id));

/**
 * The clip through a condition, with the evaluation's own codecs (`npm run eval -- --through
 * telephone|opus:32`, server/src/evaluation/codecs.ts), back to 16 kHz.
 */
async function condition(samples: Float32Array, c: Condition, clipPath: string): Promise<Float32Array> {
  if (c === 'clean') return samples;
  const encoded = new EncodedClip({ audio: c === 'telephone' ? { codec: 'telephone' } : { codec: 'opus', kbps: 32 } }, clipPath);
  try {
    return await decodeAudio((await encoded.audio(samples))!);
  } finally {
    await encoded.dispose();
  }
}

/** The product's windows of one clip: pushed in 10 ms blocks, then flushed at the end. */
function productWindows(samples: Float32Array): AudioWindow[] {
  const w = new AudioWindower({ hopLength: hop });
  const out: AudioWindow[] = [];
  for (let at = 0; at < samples.length; at += 160) w.push(samples.subarray(at, Math.min(samples.length, at + 160)), (win) => out.push({ ...win, samples: win.samples.slice() }));
  w.flush((win) => out.push({ ...win, samples: win.samples.slice() }));
  return out;
}

interface WindowScore {
  startS: number;
  voicedFraction: number;
  speechS?: number;
  /** Bona fide logit per model; absent when the detector's pre-check abstains. */
  logit?: Record<string, number>;
  skip?: string;
}
const out: { data: string; hopS: number; models: string[]; conditions: string[]; date: string; clips: { id: string; label: string; durationS: number; condition: string; windows: WindowScore[] }[] } = existsSync(values.out)
  ? JSON.parse(readFileSync(values.out, 'utf8'))
  : { data: dataDir, hopS: hop / SAMPLE_RATE, models, conditions, date: new Date().toISOString(), clips: [] };
// Clips shorter than a window are scored again: how flush() pads them may have changed.
out.clips = out.clips.filter((c) => c.durationS >= AASIST_WINDOW_SAMPLES / SAMPLE_RATE);
const done = new Set(out.clips.map((c) => `${c.condition}|${c.id}`));

const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu', intraOpThreads: Number(values.threads) });
const loaded = Object.fromEntries(await Promise.all(models.map(async (m) => [m, await runtime.load(m)] as const)));
const gate = new SyntheticVoiceDetector({ run: () => Promise.reject(new Error('not used')) }, AASIST_L_VOICE_CALIBRATION);
const t0 = performance.now();
let n = 0;
for (const clip of clips) {
  const clean = await decodeAudio(clip.path);
  for (const c of conditions) {
    if (done.has(`${c}|${clip.id}`)) continue;
    const samples = await condition(clean, c, clip.path);
    const windows: WindowScore[] = [];
    for (const w of productWindows(samples)) {
      const ws: WindowScore = { startS: w.startSample / SAMPLE_RATE, voicedFraction: Math.round(w.voicedFraction * 1000) / 1000, ...(w.speechSamples !== undefined ? { speechS: w.speechSamples / SAMPLE_RATE } : {}) };
      const skip = gate.precheck({ samples: w.samples, at: 0, voicedFraction: w.voicedFraction, priority: 0 });
      if (skip) ws.skip = skip.reason;
      else {
        ws.logit = {};
        for (const m of models) {
          const input = normalizeLevel(w.samples, calibrations[m].peak).samples;
          const r = await loaded[m]!.run({ waveform: new Tensor('float32', input, [1, AASIST_WINDOW_SAMPLES]) });
          ws.logit[m] = Math.round((r.logits!.data[1] as number) * 1000) / 1000;
        }
        n++;
      }
      windows.push(ws);
    }
    out.clips.push({ id: clip.id, label: clip.label, durationS: samples.length / SAMPLE_RATE, condition: c, windows });
    writeFileSync(values.out, JSON.stringify(out));
    console.error(`${c} ${clip.id}: ${windows.length} windows ${windows.map((w) => (w.logit ? Object.values(w.logit).map((x) => x.toFixed(1)).join('/') : 'skip')).join(' ')} (${((performance.now() - t0) / Math.max(1, n)).toFixed(0)} ms/window)`);
  }
}
await runtime.close();
