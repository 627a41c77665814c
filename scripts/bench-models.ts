/**
 * Model throughput per execution provider and batch size:
 *   npm run bench:models -- [--providers cpu,webgpu] [--batches 1,8,32,64] [--seconds 2] [--models a,b] [--json out.json]
 * Random inputs of each model's shape; models with a fixed batch of 1 run at batch 1 only.
 * On the lent GPU machine run it with --providers cpu,webgpu to compare in one call.
 * The measuring itself lives in bench/inference.ts (also the inference section of `npm run bench`).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { parseProvider } from '../server/src/analyzer/inference/providers.ts';
import { benchInference, inferenceTable } from './bench/inference.ts';

const { values } = parseArgs({
  options: {
    providers: { type: 'string', default: 'cpu' },
    batches: { type: 'string', default: '1,8,32,64' },
    seconds: { type: 'string', default: '2' },
    models: { type: 'string' },
    json: { type: 'string' },
  },
});

const rows = await benchInference({
  providers: values.providers.split(',').map(parseProvider),
  batches: values.batches.split(',').map(Number),
  seconds: Number(values.seconds),
  ...(values.models ? { models: values.models.split(',') } : {}),
});

console.log(`\nmachine: ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, node ${process.version}\n`);
console.log(inferenceTable(rows));
if (values.json) writeFileSync(values.json, JSON.stringify({ machine: cpus()[0]?.model, cores: cpus().length, rows }, null, 2));
