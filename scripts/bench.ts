/**
 * The product's benchmarks, in one run on this machine; prints a markdown report (stdout) and
 * optionally writes JSON. Progress goes to stderr. See BENCHMARKS.md for how to read the numbers.
 *
 *   npm run bench -- [--only sfu,analyzer,alert,inference] [--seconds 15] [--json out.json]
 *                    [--sfu-points 0x0,1x1,2x1,4x1,1x2,1x4,2x2] [--engine werift,mediasoup] [--fps 15]
 *                    [--streams 1,4,8,16] [--warmup 5] [--no-audio] [--publisher-nice 10] [--analyzer-cpus 0]
 *                    [--alert-runs 5] [--alert-real 10] [--alert-timeout 90]
 *                    [--providers cpu[,webgpu]] [--batches 1,8,32] [--inference-seconds 2] [--models a,b]
 *                    [--quiet-load 2.5 --quiet-wait 600]
 *
 * Sections: sfu (CPU per forwarded stream and per subscriber, added latency), analyzer (N callers:
 * samples/s, drops, sample-to-score latency, CPU, memory), alert (time from a real→fake switch to a
 * supervisor's ALERT), inference (each model's throughput per batch size and provider).
 */
// First: sets LOG_LEVEL before the product's logger reads it.
import './bench/env.ts';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceRuntime } from '../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../server/src/analyzer/inference/ModelRegistry.ts';
import { parseProvider } from '../server/src/analyzer/inference/providers.ts';
import { benchAlert } from './bench/alert.ts';
import { benchAnalyzer } from './bench/analyzer.ts';
import { benchInference } from './bench/inference.ts';
import { renderFaceLoop, type FrameLoop } from './bench/media.ts';
import { cpuPinning, machineInfo, waitForQuiet, type CpuPinning } from './bench/proc.ts';
import { renderMarkdown, type BenchResult } from './bench/report.ts';
import { benchSfu } from './bench/sfu.ts';
import { CLIP_NAMES, type ClipName } from '../server/src/simulate/clips.ts';

const SECTIONS = ['sfu', 'analyzer', 'alert', 'inference'] as const;
type Section = (typeof SECTIONS)[number];

const usage = `usage: npm run bench -- [--only ${SECTIONS.join(',')}] [--seconds S] [--json FILE]
  [--sfu-points PxS,...] [--engine werift|mediasoup|werift,mediasoup] [--fps F] [--streams N,...] [--warmup S] [--no-audio] [--publisher-nice N] [--analyzer-cpus LIST]
  [--alert-runs R] [--alert-real S] [--alert-timeout S] [--alert-clip fake|fake-tts|...]
  [--providers cpu[,webgpu]] [--batches B,...] [--inference-seconds S] [--models id,...]
  [--quiet-load L --quiet-wait S]`;

function fail(msg: string): never {
  console.error(`${msg}\n${usage}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      only: { type: 'string', default: SECTIONS.join(',') },
      seconds: { type: 'string', default: '15' },
      json: { type: 'string' },
      'sfu-points': { type: 'string', default: '0x0,1x1,2x1,4x1,1x2,1x4,2x2' },
      engine: { type: 'string', default: 'werift' },
      fps: { type: 'string', default: '15' },
      streams: { type: 'string', default: '1,4,8,16' },
      warmup: { type: 'string', default: '5' },
      'no-audio': { type: 'boolean', default: false },
      'publisher-nice': { type: 'string', default: '10' },
      'analyzer-cpus': { type: 'string' },
      'alert-runs': { type: 'string', default: '5' },
      'alert-real': { type: 'string', default: '10' },
      'alert-timeout': { type: 'string', default: '90' },
      'alert-clip': { type: 'string', default: 'fake-tts' },
      providers: { type: 'string', default: 'cpu' },
      batches: { type: 'string', default: '1,8,32' },
      'inference-seconds': { type: 'string', default: '2' },
      models: { type: 'string' },
      'quiet-load': { type: 'string' },
      'quiet-wait': { type: 'string', default: '600' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const positive = (name: string, v: string, integer = false): number => {
  const n = Number(v);
  if (!(n > 0) || (integer && !Number.isInteger(n))) fail(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  return n;
};
const list = (name: string, v: string): number[] => v.split(',').map((x) => positive(name, x.trim(), true));

const only = values.only.split(',').map((s) => s.trim()) as Section[];
for (const s of only) if (!SECTIONS.includes(s)) fail(`unknown section "${s}"`);
const seconds = positive('seconds', values.seconds);
const fps = positive('fps', values.fps);
const engines = values.engine.split(',').map((e) => e.trim());
for (const e of engines) if (e !== 'werift' && e !== 'mediasoup') fail(`--engine: "${e}" is not werift or mediasoup`);
const sfuPoints = values['sfu-points'].split(',').map((p): [number, number] => {
  const m = /^(\d+)x(\d+)$/.exec(p.trim());
  if (!m || (Number(m[1]) === 0) !== (Number(m[2]) === 0)) fail(`--sfu-points: "${p}" is not PUBLISHERSxSUBSCRIBERS (0x0 for idle)`);
  return [Number(m[1]), Number(m[2])];
});
const streams = list('streams', values.streams);
const warmup = Number(values.warmup);
if (!(warmup >= 0)) fail('--warmup must be a number of seconds');
const publisherNice = Number(values['publisher-nice']);
if (!(Number.isInteger(publisherNice) && publisherNice >= 0 && publisherNice <= 19)) fail('--publisher-nice must be an integer from 0 to 19');
let pinning: CpuPinning | undefined;
try {
  pinning = values['analyzer-cpus'] !== undefined ? cpuPinning(values['analyzer-cpus']) : undefined;
} catch (err) {
  fail((err as Error).message);
}
const alertRuns = positive('alert-runs', values['alert-runs'], true);
const alertReal = Number(values['alert-real']);
if (!(alertReal >= 0)) fail('--alert-real must be a number of seconds');
const alertTimeout = positive('alert-timeout', values['alert-timeout']);
const alertClip = values['alert-clip'];
if (!(CLIP_NAMES as readonly string[]).includes(alertClip)) fail(`--alert-clip must be one of ${CLIP_NAMES.join(', ')}`);
let providers;
try {
  providers = values.providers.split(',').map(parseProvider);
} catch (err) {
  fail((err as Error).message);
}
const batches = list('batches', values.batches);
const inferenceSeconds = positive('inference-seconds', values['inference-seconds']);
const quietLoad = values['quiet-load'] !== undefined ? positive('quiet-load', values['quiet-load']) : undefined;
const quietWait = Number(values['quiet-wait']);

const say = (msg: string) => console.error(`[bench] ${msg}`);

const t0 = Date.now();
const loads: number[] = [];
const loadTimer = setInterval(() => loads.push(loadavg()[0]!), 10_000);
const result: BenchResult = {
  startedAt: new Date(t0).toISOString(),
  durationS: 0,
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  machine: machineInfo(),
  load: { min: NaN, mean: NaN, max: NaN, samples: 0 },
  sections: {},
  errors: {},
};
say(`${result.machine.cpuModel} x${result.machine.cores}, node ${result.machine.node}, load ${result.machine.loadAtStart.join(' ')}`);

const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
let loop: FrameLoop | undefined;
const faceLoop = async (): Promise<FrameLoop> => {
  if (!loop) {
    const t = performance.now();
    // 2 s of animated face (with a blink), rendered once and replayed by every publisher.
    loop = await renderFaceLoop(runtime, { fps, count: Math.round(2 * fps) });
    say(`rendered a ${loop.frames.length}-frame 640x480 face loop in ${Math.round(performance.now() - t)} ms`);
  }
  return loop;
};

async function section(name: Section, fn: () => Promise<void>): Promise<void> {
  if (!only.includes(name)) return;
  if (quietLoad !== undefined) await waitForQuiet(quietLoad, quietWait, say);
  say(`--- ${name} ---`);
  const started = Date.now();
  const load1AtStart = loadavg()[0]!;
  try {
    await fn();
  } catch (err) {
    result.errors[name] = (err as Error).stack ?? String(err);
    say(`${name} failed: ${(err as Error).message}`);
  }
  result.sections[name] = { seconds: (Date.now() - started) / 1000, load1AtStart, load1AtEnd: loadavg()[0]! };
}

await section('sfu', async () => {
  // Each engine in turn, on the same points; the first is `sfu`, all of them `sfuEngines` (side by side in the report).
  const runs = [];
  for (const engine of engines as Array<'werift' | 'mediasoup'>) {
    say(`engine ${engine}`);
    runs.push(await benchSfu({ loop: await faceLoop(), seconds, points: sfuPoints, engine, say }));
  }
  result.sfu = runs[0];
  if (runs.length > 1) result.sfuEngines = runs;
});
await section('analyzer', async () => {
  result.analyzer = await benchAnalyzer({ fps, publisherNice, streams, seconds, warmupSeconds: warmup, audio: !values['no-audio'], ...(pinning ? { pinning } : {}), say });
});
await section('alert', async () => {
  result.alert = await benchAlert({ runtime, repetitions: alertRuns, realSeconds: alertReal, timeoutSeconds: alertTimeout, clip: alertClip as ClipName, say });
});
await section('inference', async () => {
  const rows = await benchInference({ providers, batches, seconds: inferenceSeconds, ...(values.models ? { models: values.models.split(',') } : {}), log: (l) => say(l) });
  result.inference = { providers, batches, seconds: inferenceSeconds, rows };
});

clearInterval(loadTimer);
loads.push(loadavg()[0]!);
result.load = {
  min: Math.min(...loads),
  mean: loads.reduce((a, b) => a + b, 0) / loads.length,
  max: Math.max(...loads),
  samples: loads.length,
};
result.durationS = (Date.now() - t0) / 1000;
await runtime.close();

console.log(renderMarkdown(result));
if (values.json) {
  writeFileSync(values.json, JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  say(`wrote ${path.resolve(values.json)}`);
}
process.exit(Object.keys(result.errors).length ? 1 : 0);
