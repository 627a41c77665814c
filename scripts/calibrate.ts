/**
 * Fits the fusion's per-detector weights and its ALERT / SUSPICIOUS thresholds to labelled clips,
 * with cross-validation that leaves whole groups (identities, generators, callers) out, and writes
 * a risk configuration that says where each number came from:
 *   npm run calibrate -- --data DIR --group-by REGEX [--out FILE | --write] [--labels FILE] [--through vp8:300,opus:32]
 *     [--target-alerts-per-min 0.2] [--target-suspicious-per-min 1] [--folds K] [--max-per-class N]
 *     [--provider cpu] [--md FILE] [--quiet]
 *   npm run calibrate -- --from-json eval.json --group-by REGEX [--out FILE | --write]
 *   npm run calibrate -- --from-audit data/audit.sqlite [--group-by REGEX] [--out FILE | --write]
 * --from-audit: the deployment's own calls, those marked a confirmed fraud or genuine, from what
 * their fusion was told (auditClips.ts); grouped by the caller's name unless told otherwise.
 * Runs offline: a clinic or bank can calibrate on its own labelled recordings without sending
 * anything anywhere. See server/src/evaluation/README.md ("Calibrating the fusion").
 * Exit 2 with one line for data it cannot calibrate on (one class, one group, a bad regex).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

process.env.LOG_LEVEL ??= 'warn';

const usage = `usage: npm run calibrate -- --data DIR [--group-by REGEX] [--out FILE | --write] [--labels FILE] [--from-json eval.json] [--from-audit audit.sqlite]
       [--target-alerts-per-min 0.2] [--target-suspicious-per-min 1] [--folds K] [--max-per-class N] [--tts N] [--through LIST]
       [--provider cpu|webgpu|cuda] [--md FILE] [--quiet]`;

/** Without --group-by: the folder under the label folder (real/<caller>/call.wav -> caller). */
const DEFAULT_GROUP_BY = '(?:^|/)(?:real|live|bonafide|genuine|fake|df|deepfakes?|spoof|attack|synthetic|tts|manipulated)/([^/]+)/';

function fail(message: string, code = 2): never {
  console.error(`calibrate: ${message}`);
  process.exit(code);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      data: { type: 'string' },
      labels: { type: 'string' },
      'group-by': { type: 'string' },
      out: { type: 'string' },
      write: { type: 'boolean', default: false },
      'from-json': { type: 'string' },
      'from-audit': { type: 'string' },
      'target-alerts-per-min': { type: 'string' },
      'target-suspicious-per-min': { type: 'string' },
      folds: { type: 'string' },
      'max-per-class': { type: 'string' },
      tts: { type: 'string', default: '0' },
      through: { type: 'string' },
      provider: { type: 'string' },
      md: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${usage}`);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (values.out && values.write) fail('--out and --write: choose one');
const sources = [values.data, values['from-json'], values['from-audit']].filter((v) => v !== undefined).length;
if (sources === 0) fail(`--data DIR, --from-json FILE or --from-audit FILE is required\n${usage}`);
if (sources > 1) fail('--data, --from-json and --from-audit: choose one');
// The call's codecs the clips go through first (npm run eval -- --through); a --from-json report says its own.
if (values.through !== undefined && !values.data) fail('--through goes with --data (a --from-json report says what its clips went through)');
const { callCodecsName, parseCallCodecs } = await import('../server/src/evaluation/codecs.ts');
let through;
try {
  through = values.through === undefined ? undefined : parseCallCodecs(values.through);
} catch (err) {
  fail((err as Error).message);
}

function number(name: string, v: string | undefined, check: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) fail(`--${name} must be ${what}, got "${v}"`);
  return n;
}
const targetAlerts = number('target-alerts-per-min', values['target-alerts-per-min'], (n) => n >= 0, 'a number >= 0');
const targetSusp = number('target-suspicious-per-min', values['target-suspicious-per-min'], (n) => n >= 0, 'a number >= 0');
const folds = number('folds', values.folds, (n) => Number.isInteger(n) && n >= 2, 'a whole number >= 2');
const maxPerClass = number('max-per-class', values['max-per-class'], (n) => Number.isInteger(n) && n > 0, 'a positive whole number');
const tts = number('tts', values.tts, (n) => Number.isInteger(n) && n >= 0, 'a whole number');

const { parseGroupBy } = await import('../server/src/evaluation/groups.ts');
const { calibrate, calibrationMarkdown, checkLabelsAndGroups } = await import('../server/src/evaluation/calibrate.ts');
const { RISK_CONFIG_PATH, RiskConfigSchema, loadRiskConfig } = await import('../server/src/analyzer/fusion/RiskFusion.ts');

const oneLine = (err: unknown) => ((err as Error).message ?? String(err)).split('\n')[0]!;
const expected = new Set(['GroupByError', 'CalibrationError', 'DatasetError', 'ProviderError']);

try {
  const groupBy = parseGroupBy(values['group-by'] ?? DEFAULT_GROUP_BY);
  const out = values.write ? fileURLToPath(RISK_CONFIG_PATH) : resolve(values.out ?? 'risk-config.calibrated.json');
  const base = loadRiskConfig();
  let clips;
  // The evaluation's tail after each clip (npm run eval --tail-s), replayed alike.
  let tailSeconds: number | undefined;
  let source: { data: string; labelsFile?: string; fromJson?: string; through?: string };
  const extraNotes: string[] = [];
  if (values['from-audit']) {
    const file = resolve(values['from-audit']);
    const { clipsFromAudit } = await import('../server/src/evaluation/auditClips.ts');
    const fromAudit = clipsFromAudit(file, base);
    clips = fromAudit.clips;
    extraNotes.push(...fromAudit.notes);
    source = { data: `audit log ${file} (calls marked a confirmed fraud or genuine)` };
  } else if (values['from-json']) {
    const file = resolve(values['from-json']);
    let report;
    try {
      report = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      fail(`cannot read ${file}: ${oneLine(err)}`);
    }
    if (!report || !Array.isArray(report.clips) || !report.data) fail(`${file} is not an evaluation report (npm run eval -- --json FILE writes one)`);
    clips = report.clips;
    tailSeconds = report.settings?.tailSeconds;
    const codecs = callCodecsName(report.settings?.through);
    source = { data: report.data.root, ...(report.data.labelsFile ? { labelsFile: report.data.labelsFile } : {}), fromJson: file, ...(codecs ? { through: codecs } : {}) };
  } else {
    const { discoverDataset } = await import('../server/src/evaluation/dataset.ts');
    const data = resolve(values.data!);
    // Refuse one class or one group before loading a model or playing a clip.
    const ds = discoverDataset(data, values.labels ? { labelsFile: values.labels } : {});
    checkLabelsAndGroups(ds.clips, groupBy);
    const { runEvaluation } = await import('../server/src/evaluation/evaluate.ts');
    const { parseProvider } = await import('../server/src/analyzer/inference/providers.ts');
    const report = await runEvaluation({
      data,
      tts: tts ?? 0,
      riskConfig: base,
      ...(values.labels ? { labelsFile: values.labels } : {}),
      ...(maxPerClass ? { maxPerClass } : {}),
      ...(through ? { through } : {}),
      ...(values.provider ? { provider: parseProvider(values.provider) } : {}),
      ...(values.quiet ? {} : { onProgress: (line: string) => process.stderr.write(line + '\n') }),
    });
    clips = report.clips;
    tailSeconds = report.settings.tailSeconds;
    source = { data, ...(report.data.labelsFile ? { labelsFile: report.data.labelsFile } : {}), ...(through ? { through: callCodecsName(through) } : {}) };
  }
  const result = calibrate(clips, {
    base,
    groupBy,
    source,
    ...(targetAlerts !== undefined ? { targetAlertsPerMin: targetAlerts } : {}),
    ...(targetSusp !== undefined ? { targetSuspiciousPerMin: targetSusp } : {}),
    ...(folds ? { folds } : {}),
    ...(tailSeconds ? { tailSeconds } : {}),
  });
  result.notes.unshift(...extraNotes);
  RiskConfigSchema.parse(result.config); // what the analyzer will load
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result.config, null, 2) + '\n');
  const md = calibrationMarkdown(result, out);
  if (values.md) writeFileSync(resolve(values.md), md);
  process.stdout.write(md);
} catch (err) {
  const e = err as Error;
  if (expected.has(e.name)) fail(oneLine(e));
  fail(e.stack ?? e.message, 1);
}
