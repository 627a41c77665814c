/**
 * Calibrates and validates the synthetic-voice detector on per-window scores from
 * scripts/voice-scores.ts, holding out whole GENERATORS (for detection) and whole real CORPORA
 * (for false alarms), never a random split: the hidden test uses other voices and other tools.
 *   node scripts/calibrate-voice-groups.ts /tmp/voice/clean.json [more.json ...] [--model aasist-l]
 *     [--false-alarm 0.05]
 * Groups come from the dev set's file names (DEV.md): fakes MS-VALL-E (`_MS-VALL-E`), VALL-E X
 * reproduced (`reproduced-VALL-E-X`), YourTTS (`_YourTTS`, `_baseline`), WaveFake vocoders
 * (`wavefake_`); reals by corpus: Fisher (telephone band), EmoV-DB, LibriSpeech, VCTK, LJSpeech.
 * A clip's score is the mean bona fide logit of its judged windows (fusion averages a detector's
 * readings over its window; the logistic is monotone, so the ranking is the same to first order).
 *
 * Reported, per condition: clips judged; AUC overall, per generator (its fakes vs all reals) and
 * per real corpus (all fakes vs its reals); and the threshold policy of calibrate-voice.ts (most
 * detection with at most --false-alarm of real CLIPS flagged) validated leave-one-group-out:
 * fitted without generator G, the share of G's clips it flags; fitted without corpus C, the
 * share of C's real clips it flags. The threshold for the product is then fitted on all clips.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { model: { type: 'string', default: 'aasist-l' }, 'false-alarm': { type: 'string', default: '0.05' } },
});
if (positionals.length === 0) throw new Error('usage: node scripts/calibrate-voice-groups.ts SCORES.json [...] [--model aasist-l] [--false-alarm 0.05]');
const model = values.model;
const targetFa = Number(values['false-alarm']);

interface Win { logit?: Record<string, number>; speechS?: number }
interface ClipScores { id: string; label: 'real' | 'fake'; durationS: number; condition: string; windows: Win[] }
const byKey = new Map<string, ClipScores>();
for (const f of positionals) {
  for (const c of (JSON.parse(readFileSync(f, 'utf8')) as { clips: ClipScores[] }).clips) {
    const key = `${c.condition}|${c.id}`;
    const prev = byKey.get(key);
    const has = (x: ClipScores | undefined) => !!x && x.windows.some((w) => w.logit?.[model] !== undefined);
    if (!prev || (!has(prev) && has(c)) || (c.windows.length === 0 && !prev)) byKey.set(key, c);
  }
}

export function groupOf(id: string, label: 'real' | 'fake'): string {
  if (label === 'fake') {
    if (/MS-VALL-E/.test(id)) return 'MS-VALL-E';
    if (/reproduced-VALL-E-X/.test(id)) return 'VALL-E-X (reproduced)';
    if (/YourTTS|_baseline/.test(id)) return 'YourTTS';
    if (/wavefake/.test(id)) return 'WaveFake vocoders';
    return 'other fake';
  }
  if (/fisher/.test(id)) return 'Fisher (telephone)';
  if (/emov_db/.test(id)) return 'EmoV-DB';
  if (/librispeech/.test(id)) return 'LibriSpeech';
  if (/vctk/.test(id)) return 'VCTK';
  if (/ljspeech|wavefake/.test(id)) return 'LJSpeech';
  return 'other real';
}

function auc(real: number[], fake: number[]): number {
  // Scores are bona fide logits: a real clip should score higher.
  let wins = 0;
  for (const r of real) for (const f of fake) wins += r > f ? 1 : r === f ? 0.5 : 0;
  return wins / (real.length * fake.length);
}
/** Most detection with <= targetFa of real clips flagged (flagged: logit < t), centred in its range. */
function fitThreshold(real: number[], fake: number[]): number {
  const all = [...new Set([...real, ...fake])].sort((a, b) => a - b);
  const cands = [all[0]! - 1, ...all.slice(1).map((x, i) => (x + all[i]!) / 2), all[all.length - 1]! + 1];
  const rows = cands.map((t) => ({ t, fa: real.filter((r) => r < t).length / real.length, det: fake.filter((f) => f < t).length / fake.length })).filter((r) => r.fa <= targetFa);
  const best = Math.max(...rows.map((r) => r.det));
  const top = rows.filter((r) => r.det === best);
  const leastFa = Math.min(...top.map((r) => r.fa));
  const range = top.filter((r) => r.fa === leastFa).map((r) => r.t);
  return (Math.min(...range) + Math.max(...range)) / 2;
}
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const conditions = [...new Set([...byKey.values()].map((c) => c.condition))];
for (const cond of conditions) {
  const clips = [...byKey.values()].filter((c) => c.condition === cond);
  const scored = clips
    .map((c) => {
      const ls = c.windows.map((w) => w.logit?.[model]).filter((x): x is number => x !== undefined);
      return { ...c, group: groupOf(c.id, c.label), score: ls.length ? mean(ls) : undefined, padded: c.windows.some((w) => w.speechS !== undefined) };
    });
  const judged = scored.filter((c) => c.score !== undefined) as (typeof scored[number] & { score: number })[];
  if (judged.length === 0) continue;
  const real = judged.filter((c) => c.label === 'real');
  const fake = judged.filter((c) => c.label === 'fake');
  const s = (xs: typeof judged) => xs.map((c) => c.score);
  console.log(`\n## ${model}, ${cond}: ${judged.length}/${scored.length} clips judged (real ${real.length}/${scored.filter((c) => c.label === 'real').length}, fake ${fake.length}/${scored.filter((c) => c.label === 'fake').length}; ${judged.filter((c) => c.padded).length} from a repeated short window)`);
  if (!real.length || !fake.length) continue;
  console.log(`AUC ${f3(auc(s(real), s(fake)))}; real mean ${mean(s(real)).toFixed(2)}, fake mean ${mean(s(fake)).toFixed(2)}`);
  console.log(`AUC of clips judged from a repeated short window: ${f3(auc(s(real.filter((c) => c.padded)), s(fake.filter((c) => c.padded))))}; from full windows: ${f3(auc(s(real.filter((c) => !c.padded)), s(fake.filter((c) => !c.padded))))}`);
  const gens = [...new Set(fake.map((c) => c.group))];
  const corpora = [...new Set(real.map((c) => c.group))];
  console.log('| held out | clips | AUC vs the rest | threshold fitted without it | flagged |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const g of gens) {
    const held = fake.filter((c) => c.group === g);
    const t = fitThreshold(s(real), s(fake.filter((c) => c.group !== g)));
    console.log(`| fake: ${g} | ${held.length} | ${f3(auc(s(real), s(held)))} | ${t.toFixed(2)} | ${pct(held.filter((c) => c.score < t).length / held.length)} detected |`);
  }
  for (const g of corpora) {
    const held = real.filter((c) => c.group === g);
    const t = fitThreshold(s(real.filter((c) => c.group !== g)), s(fake));
    console.log(`| real: ${g} | ${held.length} | ${f3(auc(s(held), s(fake)))} | ${t.toFixed(2)} | ${pct(held.filter((c) => c.score < t).length / held.length)} false alarms |`);
  }
  const t = fitThreshold(s(real), s(fake));
  console.log(`threshold on all clips (<= ${pct(targetFa)} of real clips flagged): ${t.toFixed(2)}: ${pct(real.filter((c) => c.score < t).length / real.length)} of real flagged, ${pct(fake.filter((c) => c.score < t).length / fake.length)} of fake`);
}
