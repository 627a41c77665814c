/**
 * Offline evaluation of the analyzer's detectors and fusion on labelled clips:
 *   npm run eval -- [--data DIR] [--labels FILE] [--json out.json] [--md out.md] [--group-by REGEX]
 *     [--tts N|auto] [--still-seconds 6] [--sequence-fps 25] [--max-per-class N] [--tail-s 4] [--through vp8:300,opus:32] [--provider cpu] [--quiet]
 *   npm run eval -- --from-json report.json [--group-by REGEX] [--md out.md]   (report again, no rerun)
 *   npm run eval -- --compare A.json B.json [--group-by REGEX]                 (before / after)
 *   npm run eval -- --refuse report.json [--risk-config FILE] [--tail-s S] [--json out.json]  (fusion again on recorded evidence)
 *   npm run eval -- --calls FACES.json VOICES.json [--group-by REGEX] [--risk-config FILE]  (faces under voices: calls.ts)
 * DIR defaults to DFS_DATA_DIR, else ../shared/data beside the checkout. Prints a markdown table
 * on stdout (progress on stderr). See server/src/evaluation/README.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

// The analyzer's modules log model loading at info on stdout, where the table goes: keep them to warnings.
process.env.LOG_LEVEL ??= 'warn';

const usage = `usage: npm run eval -- [--data DIR] [--labels FILE] [--json out.json] [--md out.md] [--group-by REGEX] [--tts N|auto]
       [--still-seconds S] [--sequence-fps F] [--max-per-class N] [--tail-s S] [--through vp8[:KBPS],opus[:KBPS]|telephone]
       [--provider cpu|webgpu|cuda] [--quiet]
       npm run eval -- --from-json report.json [--group-by REGEX] [--json out.json] [--md out.md]
       npm run eval -- --compare A.json B.json [--group-by REGEX] [--md out.md]
       npm run eval -- --refuse report.json [--risk-config FILE] [--tail-s S] [--group-by REGEX] [--json out.json] [--md out.md]
       npm run eval -- --calls FACES.json VOICES.json [--group-by REGEX] [--risk-config FILE] [--json out.json] [--md out.md]`;

let values;
let positionals: string[];
try {
  ({ values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'group-by': { type: 'string' },
      compare: { type: 'boolean', default: false },
      calls: { type: 'boolean', default: false },
      'from-json': { type: 'string' },
      refuse: { type: 'string' },
      'risk-config': { type: 'string' },
      data: { type: 'string' },
      labels: { type: 'string' },
      json: { type: 'string' },
      md: { type: 'string' },
      tts: { type: 'string', default: 'auto' },
      'still-seconds': { type: 'string' },
      'sequence-fps': { type: 'string' },
      'max-per-class': { type: 'string' },
      'tail-s': { type: 'string' },
      through: { type: 'string' },
      provider: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
// Seconds the call goes on after each clip with nothing new (evaluation/fusion.ts playTail); 0: none.
let tailSeconds: number | undefined;
if (values['tail-s'] !== undefined) {
  tailSeconds = Number(values['tail-s']);
  if (!(tailSeconds >= 0 && tailSeconds <= 60)) {
    console.error(`--tail-s must be a number of seconds from 0 to 60, got "${values['tail-s']}"\n${usage}`);
    process.exit(2);
  }
}
const pair = values.compare || values.calls;
if (pair ? positionals.length !== 2 : positionals.length > 0) {
  console.error(`${values.compare ? '--compare needs two report files (A.json B.json)' : values.calls ? '--calls needs two report files (FACES.json VOICES.json)' : `unexpected argument "${positionals[0]}"`}\n${usage}`);
  process.exit(2);
}

const { parseGroupBy } = await import('../server/src/evaluation/groups.ts');
let groupBy: RegExp | undefined;
try {
  groupBy = values['group-by'] === undefined ? undefined : parseGroupBy(values['group-by']);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}

const write = (file: string, text: string) => {
  const p = resolve(file);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  if (!values.quiet) process.stderr.write(`wrote ${p}\n`);
};

/** An evaluation report written by --json, or a one-line error and exit 2. */
function readReport(file: string): import('../server/src/evaluation/evaluate.ts').EvaluationReport {
  let r;
  try {
    r = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`eval: cannot read ${file}: ${(err as Error).message.split('\n')[0]}`);
    process.exit(2);
  }
  if (!r || !Array.isArray(r.clips) || !r.data || !Array.isArray(r.summary)) {
    console.error(`eval: ${file} is not an evaluation report (npm run eval -- --json FILE writes one)`);
    process.exit(2);
  }
  return r;
}

/** The fusion configuration --refuse and --calls replay with (--risk-config, else the shipped one), and its name for the report. */
async function riskConfigOption(file: string | undefined) {
  const { loadRiskConfig } = await import('../server/src/analyzer/fusion/RiskFusion.ts');
  return { config: file ? loadRiskConfig(resolve(file)) : loadRiskConfig(), name: file ?? 'server/src/analyzer/fusion/risk-config.json' };
}

if (values.refuse) {
  const { refuseReport } = await import('../server/src/evaluation/fusion.ts');
  const { resummarise } = await import('../server/src/evaluation/compare.ts');
  const { reportMarkdown } = await import('../server/src/evaluation/evaluate.ts');
  let report;
  try {
    const { config, name } = await riskConfigOption(values['risk-config']);
    report = resummarise(refuseReport(readReport(values.refuse), config, name, tailSeconds), groupBy);
  } catch (err) {
    console.error(`eval: ${(err as Error).message.split('\n')[0]}`);
    process.exit(2);
  }
  const md = reportMarkdown(report);
  if (values.json) write(values.json, JSON.stringify(report) + '\n');
  if (values.md) write(values.md, md);
  process.stdout.write(md);
  process.exit(0);
}

if (values.calls) {
  const { overlayCalls, callsMarkdown } = await import('../server/src/evaluation/calls.ts');
  const [faces, voices] = positionals as [string, string];
  let md;
  try {
    const { config, name } = await riskConfigOption(values['risk-config']);
    const calls = overlayCalls(readReport(faces), readReport(voices), config, groupBy);
    md = callsMarkdown(calls, { faces, voices, config: name, ...(groupBy ? { groupBy } : {}) });
    if (values.json) write(values.json, JSON.stringify({ faces, voices, config: name, calls }) + '\n');
  } catch (err) {
    console.error(`eval: ${(err as Error).message.split('\n')[0]}`);
    process.exit(2);
  }
  if (values.md) write(values.md, md);
  process.stdout.write(md);
  process.exit(0);
}

if (values.compare || values['from-json']) {
  const { compareMarkdown, resummarise } = await import('../server/src/evaluation/compare.ts');
  const { reportMarkdown } = await import('../server/src/evaluation/evaluate.ts');
  if (values.compare) {
    const [a, b] = positionals as [string, string];
    const md = compareMarkdown(readReport(a), readReport(b), { a, b }, groupBy);
    if (values.md) write(values.md, md);
    process.stdout.write(md);
  } else {
    const report = resummarise(readReport(values['from-json']!), groupBy);
    const md = reportMarkdown(report);
    if (values.json) write(values.json, JSON.stringify(report, null, 2) + '\n');
    if (values.md) write(values.md, md);
    process.stdout.write(md);
  }
  process.exit(0);
}

function positive(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"\n${usage}`);
    process.exit(2);
  }
  return n;
}

const tts = values.tts === 'auto' ? 'auto' : Number(values.tts);
if (tts !== 'auto' && !(Number.isInteger(tts) && tts >= 0)) {
  console.error(`--tts must be auto or a whole number, got "${values.tts}"\n${usage}`);
  process.exit(2);
}

// The call's codecs each clip goes through before the analyzer sees it (server/src/evaluation/codecs.ts).
const { parseCallCodecs } = await import('../server/src/evaluation/codecs.ts');
let through;
try {
  through = values.through === undefined ? undefined : parseCallCodecs(values.through);
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}

const { runEvaluation, reportMarkdown } = await import('../server/src/evaluation/evaluate.ts');
const { parseProvider } = await import('../server/src/analyzer/inference/providers.ts');

const data = resolve(values.data ?? process.env.DFS_DATA_DIR ?? resolve(import.meta.dirname, '../../shared/data'));
const stillSeconds = positive('still-seconds', values['still-seconds']);
const sequenceFps = positive('sequence-fps', values['sequence-fps']);
const maxPerClass = positive('max-per-class', values['max-per-class'], true);

try {
  const report = await runEvaluation({
    data,
    tts,
    ...(values.labels ? { labelsFile: values.labels } : {}),
    ...(stillSeconds ? { stillSeconds } : {}),
    ...(sequenceFps ? { sequenceFps } : {}),
    ...(maxPerClass ? { maxPerClass } : {}),
    ...(tailSeconds !== undefined ? { tailSeconds } : {}),
    ...(through ? { through } : {}),
    ...(groupBy ? { groupBy } : {}),
    ...(values.provider ? { provider: parseProvider(values.provider) } : {}),
    ...(values.quiet ? {} : { onProgress: (line: string) => process.stderr.write(line + '\n') }),
  });
  const md = reportMarkdown(report);
  if (values.json) write(values.json, JSON.stringify(report, null, 2) + '\n');
  if (values.md) write(values.md, md);
  process.stdout.write(md);
} catch (err) {
  const e = err as Error;
  console.error(`eval: ${e.name === 'DatasetError' || e.name === 'ProviderError' ? e.message : (e.stack ?? e.message)}`);
  process.exit(1);
}
