/**
 * Calibrates the synthetic-voice threshold (AASIST / AASIST-L bona fide logit) on real and
 * synthetic speech:
 *   node scripts/calibrate-voice.ts [--out calibration.json] [--models aasist-l,aasist]
 *     [--max-windows 4] [--per-voice 3] [--false-alarm 0.05] [--opus 32k] [--peak 0.9] [--choose aasist-l]
 * Real: every LibriSpeech clip in the shared data (DFS_DATA_DIR, else ../shared/data), up to
 * --max-windows half-overlapping 4.04 s windows each (shorter clips repeated to length, as the
 * model card says). Synthetic: the fixed espeak-ng / flite corpus from tts.ts.
 * --opus BITRATE also runs every clip through an Opus encode/decode first (the codec of a WebRTC
 * call) and reports it as a second condition; the threshold then comes from both conditions.
 *
 * Every window goes through the detector's own pre-checks (windows it would abstain on are left
 * out and counted; the voiced fraction comes from the live VAD run over the window) and is
 * level-normalised as it does (normalizeLevel, robust peak --peak, default 0.9) before scoring.
 *
 * Threshold policy (a window is flagged when its bona fide logit is below the threshold):
 *  1. false alarms first: only thresholds that flag at most --false-alarm (default 5%) of real
 *     windows, in every condition, are allowed. A false "synthetic voice" in a medical call
 *     accuses a real patient or clinician and interrupts care; detection is what is left;
 *  2. among those, the ones detecting the most synthetic windows;
 *  3. among those, the ones with the fewest false alarms;
 *  4. the middle of that range, so the threshold keeps equal margin to the nearest synthetic
 *     window below it and the nearest real window above it (where classes separate, the middle
 *     of the gap) rather than sitting on either edge.
 * Scale: the logistic's width, fitted by maximum likelihood with its centre held at the threshold,
 * but at least MIN_SCALE (one logit). Where the classes barely overlap the fit rests on the few
 * windows near the threshold and tends to a hard step (AASIST: 0.47), which would turn a reading
 * one logit past the threshold into a near-certain 0.1 / 0.9 on audio unlike these five speakers.
 * No wider either: the fusion averages a speaker's windows over its span, and that averaging
 * already smooths each speaker's window-to-window spread (reported as withinClipSd, about 2).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Tensor } from 'onnxruntime-node';
import { AASIST_WINDOW_SAMPLES, decodeAudio, SAMPLE_RATE, windowsOf } from '../server/src/analyzer/audio/decode.ts';
import { normalizeLevel, SyntheticVoiceDetector, TARGET_PEAK } from '../server/src/analyzer/detectors/SyntheticVoiceDetector.ts';
import { VoiceActivityDetector } from '../server/src/analyzer/sampling/VoiceActivity.ts';
import { installedVoices, syntheticCorpus, voiceLabel } from '../server/src/analyzer/audio/tts.ts';
import { InferenceRuntime } from '../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../server/src/analyzer/inference/ModelRegistry.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    models: { type: 'string', default: 'aasist-l,aasist' },
    choose: { type: 'string' },
    'max-windows': { type: 'string', default: '4' },
    'per-voice': { type: 'string', default: '3' },
    'false-alarm': { type: 'string', default: '0.05' },
    opus: { type: 'string' },
    peak: { type: 'string', default: String(TARGET_PEAK) },
  },
});
const models = values.models.split(',').map((m) => m.trim()) as ('aasist' | 'aasist-l')[];
for (const m of models) if (m !== 'aasist' && m !== 'aasist-l') throw new Error(`--models: unknown model ${m}`);
const maxWindows = Number(values['max-windows']);
const perVoice = Number(values['per-voice']);
const targetFalseAlarm = Number(values['false-alarm']);
const peak = Number(values.peak);
/** Narrowest logistic allowed, in logit units: see the header. */
const MIN_SCALE = 1;

const repoRoot = resolve(import.meta.dirname, '..');
const dataDir = process.env.DFS_DATA_DIR ?? resolve(repoRoot, '../shared/data');
const speechDir = join(dataDir, 'speech', 'librispeech');
if (!existsSync(speechDir)) {
  throw new Error(`LibriSpeech clips not found at ${speechDir}: set DFS_DATA_DIR to the shared data folder (see shared/data/DATA.md)`);
}

interface Clip {
  id: string;
  label: 'real' | 'synthetic';
  group: string; // speaker or voice
  condition: string;
  windows: Float32Array[];
}

/** Encodes to Opus at `bitrate` and decodes back to 16 kHz, as a WebRTC call would deliver it. */
async function opusRoundTrip(samples: Float32Array, bitrate: string): Promise<Float32Array> {
  const dir = await mkdtemp(join(tmpdir(), 'dfs-opus-'));
  const file = join(dir, 'a.ogg');
  try {
    await new Promise<void>((ok, fail) => {
      const args = ['-v', 'error', '-f', 'f32le', '-ar', String(SAMPLE_RATE), '-ac', '1', '-i', '-', '-c:a', 'libopus', '-b:a', bitrate, '-application', 'voip', file];
      const child = spawn('ffmpeg', args, { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('error', fail);
      child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`opus encode failed: ${err.trim()}`))));
      child.stdin.end(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
    });
    return await decodeAudio(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fraction of the VAD's frames that are voiced, running the live detector over the window alone. */
function voicedFraction(w: Float32Array): number {
  const vad = new VoiceActivityDetector();
  let frames = 0;
  let voiced = 0;
  vad.push(w, (v) => {
    frames++;
    if (v) voiced++;
  }, 0, w.length);
  return frames ? voiced / frames : 0;
}

/** Windows the detector would abstain on, by reason; filled while loading. */
const skipped: Record<string, number> = {};
const gate = new SyntheticVoiceDetector({ run: () => Promise.reject(new Error('not used')) }, { model: 'aasist-l', threshold: 0, scale: 1, source: 'pre-checks only' });
function judgeable(windows: Float32Array[]): Float32Array[] {
  return windows.filter((samples) => {
    const e = gate.precheck({ samples, voicedFraction: voicedFraction(samples), at: 0, priority: 0 });
    if (e) {
      const why = e.reason.replace(/ \(.*\)/, '');
      skipped[why] = (skipped[why] ?? 0) + 1;
    }
    return !e;
  });
}

async function loadClips(): Promise<Clip[]> {
  const clips: Clip[] = [];
  const realFiles = readdirSync(speechDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(speechDir, d.name)).filter((f) => f.endsWith('.flac')).map((f) => join(speechDir, d.name, f)))
    .sort();
  if (realFiles.length === 0) throw new Error(`no .flac clips under ${speechDir}`);
  const sources: { id: string; label: Clip['label']; group: string; samples: Float32Array }[] = [];
  for (const f of realFiles) {
    const id = f.slice(speechDir.length + 1);
    sources.push({ id, label: 'real', group: `speaker ${id.split('/')[0]}`, samples: await decodeAudio(f) });
  }
  const synth = await syntheticCorpus({ perVoice });
  synth.forEach((c, i) => sources.push({ id: `tts-${i}`, label: 'synthetic', group: voiceLabel(c.voice), samples: c.samples }));
  for (const s of sources) {
    clips.push({ id: s.id, label: s.label, group: s.group, condition: 'clean', windows: judgeable(windowsOf(s.samples, { max: maxWindows })) });
    if (values.opus) {
      const coded = await opusRoundTrip(s.samples, values.opus);
      clips.push({ id: s.id, label: s.label, group: s.group, condition: `opus ${values.opus}`, windows: judgeable(windowsOf(coded, { max: maxWindows })) });
    }
  }
  return clips.filter((c) => c.windows.length > 0);
}

// ---- statistics ----

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

function describe(xs: number[]): Record<string, number> {
  const s = [...xs].sort((a, b) => a - b);
  const m = mean(s);
  const sd = Math.sqrt(s.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, s.length - 1));
  return {
    n: s.length,
    mean: round(m),
    sd: round(sd),
    min: round(s[0]!),
    p5: round(quantile(s, 0.05)),
    p25: round(quantile(s, 0.25)),
    median: round(quantile(s, 0.5)),
    p75: round(quantile(s, 0.75)),
    p95: round(quantile(s, 0.95)),
    max: round(s[s.length - 1]!),
  };
}

/** P(real score > synthetic score), ties half: the ROC AUC with "real" as the positive class of the logit. */
function auc(real: number[], synth: number[]): number {
  let wins = 0;
  for (const r of real) for (const s of synth) wins += r > s ? 1 : r === s ? 0.5 : 0;
  return wins / (real.length * synth.length);
}

/** A window is flagged synthetic when its score is below t. */
const falseAlarm = (real: number[], t: number): number => real.filter((r) => r < t).length / real.length;
const detection = (synth: number[], t: number): number => synth.filter((s) => s < t).length / synth.length;

/** Candidate thresholds: midpoints between consecutive distinct scores, plus both ends. */
function candidates(all: number[]): number[] {
  const s = [...new Set(all)].sort((a, b) => a - b);
  const out = [s[0]! - 1];
  for (let i = 1; i < s.length; i++) out.push((s[i - 1]! + s[i]!) / 2);
  out.push(s[s.length - 1]! + 1);
  return out;
}

function equalErrorRate(real: number[], synth: number[]): { eer: number; threshold: number } {
  let best = { gap: Infinity, eer: 1, threshold: 0 };
  for (const t of candidates([...real, ...synth])) {
    const fa = falseAlarm(real, t);
    const miss = 1 - detection(synth, t);
    if (Math.abs(fa - miss) < best.gap) best = { gap: Math.abs(fa - miss), eer: (fa + miss) / 2, threshold: t };
  }
  return { eer: best.eer, threshold: best.threshold };
}

/** The header's policy; `realByCondition` holds the real scores of each condition. */
function chooseThreshold(realByCondition: number[][], synth: number[]): number {
  const real = realByCondition.flat();
  const rows = candidates(real.concat(synth))
    .map((t) => ({ t, worstFa: Math.max(...realByCondition.map((r) => falseAlarm(r, t))), fa: falseAlarm(real, t), det: detection(synth, t) }))
    .filter((r) => r.worstFa <= targetFalseAlarm);
  const bestDet = Math.max(...rows.map((r) => r.det));
  const best = rows.filter((r) => r.det === bestDet);
  const leastFa = Math.min(...best.map((r) => r.fa));
  const range = best.filter((r) => r.fa === leastFa).map((r) => r.t);
  return (Math.min(...range) + Math.max(...range)) / 2;
}

/** Pooled within-clip standard deviation of the scores of clips with 2+ windows. */
function withinClipSd(clipScores: number[][]): number {
  let ss = 0;
  let dof = 0;
  for (const xs of clipScores) {
    if (xs.length < 2) continue;
    const m = mean(xs);
    for (const x of xs) ss += (x - m) ** 2;
    dof += xs.length - 1;
  }
  return dof > 0 ? Math.sqrt(ss / dof) : 1;
}

/** Negative log-likelihood of P(synthetic | s) = 1 / (1 + exp((s - t) / scale)). */
function nll(real: number[], synth: number[], t: number, scale: number): number {
  const softplus = (z: number): number => (z > 30 ? z : Math.log1p(Math.exp(z)));
  let sum = 0;
  for (const s of synth) sum += softplus((s - t) / scale); // -log P(synthetic)
  for (const r of real) sum += softplus(-(r - t) / scale); // -log P(real)
  return sum / (real.length + synth.length);
}

function fitScale(real: number[], synth: number[], t: number, minScale: number): { fitted: number; scale: number } {
  let best = { scale: 1, loss: Infinity };
  for (let e = -3; e <= 3; e += 0.005) {
    const scale = 10 ** e;
    const loss = nll(real, synth, t, scale);
    if (loss < best.loss) best = { scale, loss };
  }
  return { fitted: best.scale, scale: Math.max(minScale, best.scale) };
}

function histogram(real: number[], synth: number[], lo: number, hi: number, bins = 24): string {
  const width = (hi - lo) / bins;
  const count = (xs: number[]): number[] => {
    const c = new Array<number>(bins).fill(0);
    for (const x of xs) c[Math.min(bins - 1, Math.max(0, Math.floor((x - lo) / width)))]!++;
    return c;
  };
  const r = count(real);
  const s = count(synth);
  const lines: string[] = [];
  for (let i = 0; i < bins; i++) {
    const from = lo + i * width;
    lines.push(`  ${from.toFixed(1).padStart(6)} | ${'R'.repeat(r[i]!).padEnd(40)} ${'S'.repeat(s[i]!)}`);
  }
  return lines.join('\n');
}

// ---- run ----

const t0 = performance.now();
const clips = await loadClips();
const voices = (await installedVoices()).map(voiceLabel);
const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });

interface ModelResult {
  model: 'aasist' | 'aasist-l';
  threshold: number;
  fittedScale: number;
  withinClipSd: number;
  scale: number;
  realMean: number;
  synthMean: number;
  auc: number;
  eer: number;
  eerThreshold: number;
  falseAlarmRateOnReal: number;
  detectionRateOnSynthetic: number;
  clipLevelAuc: number;
  real: Record<string, number>;
  synthetic: Record<string, number>;
  byCondition: Record<string, unknown>;
  byGroup: Record<string, number>;
  msPerWindow: number;
}
const results: ModelResult[] = [];

for (const id of models) {
  const model = await runtime.load(id);
  const scores = new Map<Clip, number[]>();
  const ts = performance.now();
  let windows = 0;
  for (const clip of clips) {
    const out: number[] = [];
    for (const w of clip.windows) {
      if (w.length !== AASIST_WINDOW_SAMPLES) throw new Error('window of the wrong length');
      const res = await model.run({ waveform: new Tensor('float32', normalizeLevel(w, peak).samples, [1, AASIST_WINDOW_SAMPLES]) });
      out.push(res.logits!.data[1] as number);
      windows++;
    }
    scores.set(clip, out);
  }
  const msPerWindow = (performance.now() - ts) / windows;
  const pick = (label: Clip['label'], condition?: string): number[] =>
    clips.filter((c) => c.label === label && (!condition || c.condition === condition)).flatMap((c) => scores.get(c)!);
  const real = pick('real');
  const synth = pick('synthetic');
  const conditions = [...new Set(clips.map((c) => c.condition))];
  const threshold = chooseThreshold(
    conditions.map((c) => pick('real', c)),
    synth,
  );
  const { eer, threshold: eerThreshold } = equalErrorRate(real, synth);
  const spread = withinClipSd(clips.filter((c) => c.label === 'real').map((c) => scores.get(c)!));
  const { fitted, scale } = fitScale(real, synth, threshold, MIN_SCALE);
  const clipMean = (label: Clip['label']): number[] => clips.filter((c) => c.label === label).map((c) => mean(scores.get(c)!));

  const byCondition: Record<string, unknown> = {};
  for (const cond of conditions) {
    const r = pick('real', cond);
    const s = pick('synthetic', cond);
    byCondition[cond] = {
      realMean: round(mean(r)),
      synthMean: round(mean(s)),
      auc: round(auc(r, s), 4),
      eer: round(equalErrorRate(r, s).eer, 4),
      falseAlarmRateOnReal: round(falseAlarm(r, threshold), 4),
      detectionRateOnSynthetic: round(detection(s, threshold), 4),
    };
  }
  const byGroup: Record<string, number> = {};
  for (const g of [...new Set(clips.map((c) => c.group))]) byGroup[g] = round(mean(clips.filter((c) => c.group === g).flatMap((c) => scores.get(c)!)), 2);

  const r: ModelResult = {
    model: id,
    threshold: round(threshold, 2),
    fittedScale: round(fitted, 3),
    withinClipSd: round(spread, 3),
    scale: round(scale, 2),
    realMean: round(mean(real)),
    synthMean: round(mean(synth)),
    auc: round(auc(real, synth), 4),
    eer: round(eer, 4),
    eerThreshold: round(eerThreshold, 2),
    falseAlarmRateOnReal: round(falseAlarm(real, round(threshold, 2)), 4),
    detectionRateOnSynthetic: round(detection(synth, round(threshold, 2)), 4),
    clipLevelAuc: round(auc(clipMean('real'), clipMean('synthetic')), 4),
    real: describe(real),
    synthetic: describe(synth),
    byCondition,
    byGroup,
    msPerWindow: round(msPerWindow, 1),
  };
  results.push(r);

  const lo = Math.floor(Math.min(...real, ...synth));
  const hi = Math.ceil(Math.max(...real, ...synth));
  console.error(`\n== ${id}: bona fide logit per 4.04 s window (R = real, S = synthetic; higher = more natural)`);
  console.error(histogram(real, synth, lo, hi));
  console.error(`real      ${JSON.stringify(r.real)}`);
  console.error(`synthetic ${JSON.stringify(r.synthetic)}`);
  console.error(`AUC ${r.auc} (clip level ${r.clipLevelAuc}), EER ${(r.eer * 100).toFixed(1)}% at ${r.eerThreshold}`);
  console.error(
    `threshold ${r.threshold}: false alarms on real ${(r.falseAlarmRateOnReal * 100).toFixed(1)}%, synthetic detected ${(r.detectionRateOnSynthetic * 100).toFixed(1)}%; scale ${r.scale} (ML fit ${r.fittedScale}, within-clip sd ${r.withinClipSd})`,
  );
  for (const [cond, v] of Object.entries(byCondition)) console.error(`  ${cond}: ${JSON.stringify(v)}`);
  console.error(`  mean logit by speaker / voice: ${JSON.stringify(byGroup)}`);
  console.error(`  ${r.msPerWindow} ms per window on CPU`);
}
await runtime.close();

// The detector's model: --choose, else the higher window-level AUC (ties to the smaller AASIST-L).
const chosen = values.choose
  ? results.find((r) => r.model === values.choose)
  : [...results].sort((a, b) => b.auc - a.auc || (a.model === 'aasist-l' ? -1 : 1))[0];
if (!chosen) throw new Error(`--choose ${values.choose}: not among the models run`);

const count = (label: Clip['label'], condition = 'clean'): { clips: number; windows: number } => {
  const cs = clips.filter((c) => c.label === label && c.condition === condition);
  return { clips: cs.length, windows: cs.reduce((a, c) => a + c.windows.length, 0) };
};
const date = new Date().toISOString();
const report = {
  model: chosen.model,
  threshold: chosen.threshold,
  scale: chosen.scale,
  peak,
  source: `scripts/calibrate-voice.ts ${date.slice(0, 10)}: ${chosen.model} on ${count('real').windows} LibriSpeech test-other windows (${count('real').clips} clips, ${new Set(clips.filter((c) => c.label === 'real').map((c) => c.group)).size} speakers), level-normalised to peak ${peak}, vs ${count('synthetic').windows} espeak-ng/flite windows (${count('synthetic').clips} clips, ${voices.length} voices)${values.opus ? `, clean and Opus ${values.opus}` : ''}; threshold: most detection with <=${targetFalseAlarm * 100}% false alarms on real windows per condition, centred in the gap`,
  realMean: chosen.realMean,
  synthMean: chosen.synthMean,
  auc: chosen.auc,
  eer: chosen.eer,
  falseAlarmRateOnReal: chosen.falseAlarmRateOnReal,
  detectionRateOnSynthetic: chosen.detectionRateOnSynthetic,
  data: {
    real: { ...count('real'), source: 'shared/data/speech/librispeech (LibriSpeech test-other via Resemblyzer, CC BY 4.0)' },
    synthetic: { ...count('synthetic'), voices },
    conditions: [...new Set(clips.map((c) => c.condition))],
    windowing: `${AASIST_WINDOW_SAMPLES} samples, hop 32000, at most ${maxWindows} per clip; shorter clips repeated`,
    preprocessing: `normalizeLevel: 99.9th-percentile |x| scaled to ${peak}`,
    skippedWindows: skipped,
    policy: { targetFalseAlarmRate: targetFalseAlarm, minScale: MIN_SCALE },
  },
  models: Object.fromEntries(results.map((r) => [r.model, r])),
  machine: `${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, node ${process.version}`,
  seconds: round((performance.now() - t0) / 1000, 1),
  date,
};
console.log(JSON.stringify(report, null, 2));
if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2) + '\n');
