/**
 * The evaluation harness: finds labelled clips (dataset.ts), adds generated speech when the data
 * has real speech but no fake speech, loads the analyzer's models exactly as the analyzer does
 * (pipeline.loadAnalyzerModels, same risk configuration and voice calibration), plays every clip
 * through the analyzer's code (runner.ts) and summarises per detector and fused (report.ts).
 * Run it with `npm run eval -- --data DIR` (scripts/eval.ts); see README.md beside this file.
 */
import { createHash } from 'node:crypto';
import type { Tensor } from 'onnxruntime-node';
import { installedVoices, syntheticCorpus, voiceLabel } from '../analyzer/audio/tts.ts';
import { loadAnalyzerConfig } from '../analyzer/config.ts';
import { DEFAULT_VOICE_CALIBRATION } from '../analyzer/detectors/SyntheticVoiceDetector.ts';
import { loadRiskConfig, type RiskConfig } from '../analyzer/fusion/RiskFusion.ts';
import { InferenceRuntime } from '../analyzer/inference/InferenceRuntime.ts';
import type { ModelRunner } from '../analyzer/inference/ModelRunner.ts';
import { ModelRegistry, defaultModelDirs } from '../analyzer/inference/ModelRegistry.ts';
import type { ProviderName } from '../analyzer/inference/providers.ts';
import { loadAnalyzerModels } from '../analyzer/pipeline.ts';
import { callCodecsName, type CallCodecs } from './codecs.ts';
import { DEFAULT_TAIL_S } from './fusion.ts';
import { patternOf } from './groups.ts';
import { discoverDataset, type Clip, type Dataset } from './dataset.ts';
import { renderMarkdown, speechCoverage, summarise, summariseGroups, type GroupSummary, type Summary } from './report.ts';
import { runClip, type ClipResult, type RunSettings } from './runner.ts';

export interface EvaluationOptions {
  /** The data folder. */
  data: string;
  /** A labels.csv elsewhere than DATA/labels.csv. */
  labelsFile?: string;
  /**
   * Generated (espeak-ng / flite) speech clips to add as fake audio: a number, or 'auto' (the
   * default): as many as the real audio clips, at most 24, when the data has real audio clips and
   * no fake ones; none otherwise.
   */
  tts?: number | 'auto';
  /** Seconds a still image is held on screen (default 6). */
  stillSeconds?: number;
  /** Frame rate of image sequences (default 25). */
  sequenceFps?: number;
  /** At most this many clips per label and kind, in discovery order (quick runs). */
  maxPerClass?: number;
  /** Seconds the call goes on after each clip with nothing new (fusion.ts playTail; default 4: the 3 s hold and a tick). */
  tailSeconds?: number;
  /** The call's codecs each clip goes through first (codecs.ts: `--through vp8:300,opus:32`); default none. */
  through?: CallCodecs;
  /** Execution provider (default ANALYZER_PROVIDER, else cpu). */
  provider?: ProviderName;
  riskConfig?: RiskConfig;
  /** Per-group rows: the first capture group of this regex on each clip's path names its group (groups.ts). */
  groupBy?: RegExp;
  /** Progress lines (one per clip). */
  onProgress?: (line: string) => void;
}

export interface EvaluationReport {
  about: string;
  generatedAt: string;
  data: { root: string; source: Dataset['source']; labelsFile?: string; clips: number; real: number; fake: number; byKind: Record<string, number>; skipped: Dataset['skipped'] };
  settings: RunSettings & { provider: string; voiceCalibration: string; tts: number };
  models: { id: string; provider: string | null; error?: string }[];
  summary: Summary[];
  /** With --group-by: the regex, per-group summaries and the clips it matched to no group. */
  groupBy?: string;
  groups?: GroupSummary[];
  ungrouped?: string[];
  notes: string[];
  clips: ClipResult[];
  elapsedS: number;
}

/** Most generated clips 'auto' adds. */
const AUTO_TTS_MAX = 24;

/**
 * Caches model outputs by the exact bytes of the input: a still image held on screen feeds the
 * same tensors frame after frame, and the answer cannot differ. Outputs are only ever read.
 */
function memoize(runner: ModelRunner, size = 4): ModelRunner {
  const cache = new Map<string, Promise<Record<string, Tensor>>>();
  return {
    inputNames: runner.inputNames,
    outputNames: runner.outputNames,
    run: (feeds) => {
      const h = createHash('sha1');
      for (const [name, t] of Object.entries(feeds)) {
        h.update(`${name}:${t.type}:${t.dims.join('x')};`);
        const d = t.data as Float32Array;
        h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      }
      const key = h.digest('hex');
      const hit = cache.get(key);
      if (hit) {
        cache.delete(key);
        cache.set(key, hit);
        return hit;
      }
      const p = runner.run(feeds);
      cache.set(key, p);
      p.catch(() => cache.delete(key));
      if (cache.size > size) cache.delete(cache.keys().next().value!);
      return p;
    },
  };
}

function limitPerClass(clips: Clip[], max: number): Clip[] {
  const count = new Map<string, number>();
  return clips.filter((c) => {
    const k = `${c.label}/${c.kind}`;
    const n = (count.get(k) ?? 0) + 1;
    count.set(k, n);
    return n <= max;
  });
}

export async function runEvaluation(options: EvaluationOptions): Promise<EvaluationReport> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  // The analyzer's own settings (ANALYZER_* or its defaults); the server address is not used offline.
  const analyzerConfig = loadAnalyzerConfig({ ...process.env, DFS_SERVER_URL: 'http://offline.invalid', DFS_ANALYZER_TOKEN: 'offline-evaluation' });
  const settings: RunSettings = {
    baseFps: analyzerConfig.baseFps,
    boostedFps: analyzerConfig.boostedFps,
    landmarkFps: analyzerConfig.landmarkFps,
    audioHopSeconds: analyzerConfig.audioHopSeconds,
    stillSeconds: options.stillSeconds ?? 6,
    sequenceFps: options.sequenceFps ?? 25,
    tailSeconds: options.tailSeconds ?? DEFAULT_TAIL_S,
    ...(options.through && (options.through.video || options.through.audio) ? { through: options.through } : {}),
  };
  if (!(settings.stillSeconds > 0)) throw new RangeError(`stillSeconds must be positive, got ${settings.stillSeconds}`);
  if (!((settings.tailSeconds ?? 0) >= 0)) throw new RangeError(`tailSeconds must be 0 or more, got ${settings.tailSeconds}`);
  if (!(settings.sequenceFps > 0)) throw new RangeError(`sequenceFps must be positive, got ${settings.sequenceFps}`);
  const provider = options.provider ?? analyzerConfig.provider;
  const riskConfig = options.riskConfig ?? loadRiskConfig();

  const dataset = discoverDataset(options.data, options.labelsFile ? { labelsFile: options.labelsFile } : {});
  const notes = [...dataset.notes];
  let clips = options.maxPerClass ? limitPerClass(dataset.clips, options.maxPerClass) : [...dataset.clips];
  if (options.maxPerClass && clips.length < dataset.clips.length) notes.push(`--max-per-class ${options.maxPerClass}: ${clips.length} of ${dataset.clips.length} clips played.`);

  // Fake speech: the shared data has none, so the voice detector would have nothing to catch.
  const realAudio = clips.filter((c) => c.kind === 'audio' && c.label === 'real').length;
  const fakeAudio = clips.filter((c) => c.kind === 'audio' && c.label === 'fake').length;
  const ttsCount = options.tts === undefined || options.tts === 'auto' ? (realAudio > 0 && fakeAudio === 0 ? Math.min(realAudio, AUTO_TTS_MAX) : 0) : options.tts;
  let ttsMade = 0;
  if (ttsCount > 0) {
    const voices = await installedVoices();
    if (voices.length === 0) {
      notes.push('No TTS engine (espeak-ng, flite) is installed, so no synthetic speech was generated: the voice detector has no fake clips to catch.');
    } else {
      progress(`generating ${ttsCount} synthetic speech clips (${voices.length} espeak-ng/flite voices)`);
      const synth = await syntheticCorpus({ voices, limit: ttsCount });
      synth.forEach((s, i) =>
        clips.push({ id: `tts:${String(i).padStart(2, '0')}:${voiceLabel(s.voice)}`, label: 'fake', kind: 'audio', attack: 'tts', tts: { voice: s.voice, text: s.text }, samples: s.samples }),
      );
      ttsMade = synth.length;
      notes.push(
        `${synth.length} synthetic speech clips generated with espeak-ng/flite (${[...new Set(synth.map((s) => voiceLabel(s.voice)))].length} voices) as fake audio` +
          (options.tts === undefined || options.tts === 'auto' ? ' (automatic: the data has real speech and no fake speech; --tts 0 turns it off)' : '') +
          '. Old formant/diphone voices: far easier than modern neural TTS or voice cloning.',
      );
    }
  }

  // The analyzer's models, loaded as the analyzer loads them; batching waits for nothing offline.
  const registry = ModelRegistry.load();
  const runtime = new InferenceRuntime(registry, { provider });
  const loaded: EvaluationReport['models'] = [];
  const models = await loadAnalyzerModels(runtime, {
    maxBatch: analyzerConfig.maxBatch,
    maxWaitMs: 0,
    riskConfig,
    wrap: (r) => memoize(r),
    onModel: (id, m, err) => loaded.push({ id, provider: m?.provider ?? null, ...(err ? { error: err.message } : {}) }),
  });
  const missing = loaded.filter((m) => m.provider === null);
  if (missing.length) notes.push(`Models not loaded, their detectors are off: ${missing.map((m) => m.id).join(', ')} (looked in ${defaultModelDirs().join(', ')}; set MODELS_DIR).`);

  const results: ClipResult[] = [];
  try {
    for (const [i, clip] of clips.entries()) {
      const r = await runClip(clip, { models, riskConfig, settings });
      results.push(r);
      const fused = r.error ? `ERROR ${r.error}` : `${r.fused.finalState.padEnd(19)} max risk ${r.fused.maxRisk === null ? 'n/a ' : r.fused.maxRisk.toFixed(2)}`;
      progress(`[${i + 1}/${clips.length}] ${r.label.padEnd(4)} ${clip.id}: ${fused} (${(r.elapsedMs / 1000).toFixed(1)} s)`);
    }
  } finally {
    for (const b of models.batchers) b.close();
    await runtime.close();
  }

  const errors = results.filter((r) => r.error);
  if (errors.length) notes.push(`${errors.length} clip(s) could not be played and are left out: ${errors.slice(0, 3).map((r) => `${r.id} (${r.error})`).join('; ')}${errors.length > 3 ? '; ...' : ''}`);
  const played = results.filter((r) => !r.error);
  const stills = played.filter((r) => !r.timed).length;
  const timedReal = played.filter((r) => r.timed && r.label === 'real').length;
  const timedFake = played.filter((r) => r.timed && r.label === 'fake').length;
  if (stills) {
    notes.push(
      `${stills} still image(s): each is held on screen for ${settings.stillSeconds} s (a frozen picture) so fusion can reach a verdict; they count in AUC/EER/TPR but have no time axis, so time to detect and false alarms per minute are not measured on them (n/a when no video/audio clip has them either). Blink, lip-sync and pulse do not apply to stills.`,
    );
  }
  if (timedFake === 0) notes.push('No timed fake clips (video, sequence or audio): time to detect is n/a.');
  if (timedReal === 0) notes.push('No timed real clips: false alarms per minute is n/a.');
  const summary = summarise(results);
  const thin = summary.filter((s) => s.judgedReal + s.judgedFake > 0 && (s.judgedReal < 100 || s.judgedFake < 100));
  if (thin.length) {
    notes.push(
      'Small samples: with fewer than 100 real clips, TPR@1%FPR is the detection rate at zero false positives, and every AUC/EER here rests on the clip counts shown; read them as a smoke test, not as accuracy.',
    );
  }
  if (settings.through) {
    const { video, audio } = settings.through;
    const legs = [
      ...(video ? [`its video as VP8 at ${video.kbps} kbit/s (realtime, as a browser's encoder; a still held for 1 s and its last frame kept; frame folders as they are)`] : []),
      ...(audio ? [audio.codec === 'opus' ? `its voice as Opus at ${audio.kbps} kbit/s (voip, 48 kHz mono)` : 'its voice through a telephone leg (300-3400 Hz, 8 kHz, G.711 mu-law)'] : []),
    ];
    notes.push(`Through the call's codecs (--through ${callCodecsName(settings.through)}): each clip was encoded as a call would carry it, ${legs.join(' and ')}, and decoded again before the analyzer saw it (server/src/evaluation/codecs.ts).`);
  }
  notes.push(
    settings.tailSeconds
      ? `After each clip the call goes on for ${settings.tailSeconds} s with nothing new (--tail-s), so that a state the clip's last evidence earned, which a state's 3 s hold would show after the clip's end, is counted, on reals and fakes alike; the tail adds no risk and no minutes.`
      : 'No tail after the clips (--tail-s 0): a state whose hold would end after a clip is not counted.',
    'Clip score = confidence-weighted mean of a detector\'s readings over the clip (fused: highest fused risk while fusion could judge). AUC/EER/TPR use the clips each detector judged; clips it never judged are counted as abstentions (first number), frames/windows/ticks it could not judge as the second. Time to detect: seconds until fusion entered ALERT (a detector: until its window view in fusion reached 0.5). False alarms/min: ALERT entries (a detector: crossings of 0.5) per minute of real video/audio. Client-integrity needs the caller\'s browser and is not evaluated offline.',
  );

  const grouped = options.groupBy ? summariseGroups(results, options.groupBy) : undefined;

  const byKind: Record<string, number> = {};
  for (const r of played) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
  return {
    about: 'Deepfake Shield offline evaluation: the analyzer\'s own detectors and fusion on labelled clips (server/src/evaluation/README.md).',
    generatedAt: new Date().toISOString(),
    data: {
      root: dataset.root,
      source: dataset.source,
      ...(dataset.labelsFile ? { labelsFile: dataset.labelsFile } : {}),
      clips: played.length,
      real: played.filter((r) => r.label === 'real').length,
      fake: played.filter((r) => r.label === 'fake').length,
      byKind,
      skipped: dataset.skipped,
    },
    settings: { ...settings, provider, voiceCalibration: `${DEFAULT_VOICE_CALIBRATION.model} threshold ${DEFAULT_VOICE_CALIBRATION.threshold}`, tts: ttsMade },
    models: loaded,
    summary,
    ...(grouped ? { groupBy: patternOf(options.groupBy!), groups: grouped.groups, ungrouped: grouped.ungrouped } : {}),
    notes,
    clips: results,
    elapsedS: Math.round((performance.now() - started) / 100) / 10,
  };
}

/** The report's markdown: a header line with what was measured, the tables and the notes. */
export function reportMarkdown(r: EvaluationReport): string {
  const kinds = Object.entries(r.data.byKind)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const header =
    `Evaluation of ${r.data.root} (${r.data.source}): ${r.data.clips} clips (${r.data.real} real, ${r.data.fake} fake; ${kinds}). ` +
    `Sampling ${r.settings.baseFps} fps (${r.settings.boostedFps} boosted), landmarks ${r.settings.landmarkFps ?? 0} fps while a face is present, audio hop ${r.settings.audioHopSeconds} s, ` +
    `${r.settings.through ? `through ${callCodecsName(r.settings.through)}, ` : ''}provider ${r.settings.provider}, ${r.elapsedS} s.`;
  return renderMarkdown({
    summaries: r.summary,
    notes: r.notes,
    header,
    speech: speechCoverage(r.clips ?? []),
    ...(r.groups && r.groupBy !== undefined ? { groups: { groupBy: r.groupBy, groups: r.groups, ungrouped: r.ungrouped ?? [] } } : {}),
  });
}
