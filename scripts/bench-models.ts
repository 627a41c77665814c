/**
 * Model throughput per execution provider and batch size:
 *   npm run bench:models -- [--providers cpu,webgpu] [--batches 1,8,32,64] [--seconds 2] [--json out.json]
 * Random inputs of each model's shape; models with a fixed batch of 1 run at batch 1 only.
 * On the lent GPU machine run it with --providers cpu,webgpu to compare in one call.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Tensor } from 'onnxruntime-node';
import { InferenceRuntime } from '../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../server/src/analyzer/inference/ModelRegistry.ts';
import { parseProvider } from '../server/src/analyzer/inference/providers.ts';

const { values } = parseArgs({
  options: {
    providers: { type: 'string', default: 'cpu' },
    batches: { type: 'string', default: '1,8,32,64' },
    seconds: { type: 'string', default: '2' },
    models: { type: 'string' },
    json: { type: 'string' },
  },
});
const providers = values.providers.split(',').map(parseProvider);
const batches = values.batches.split(',').map(Number);
const budgetMs = Number(values.seconds) * 1000;
const registry = ModelRegistry.load();
const ids = values.models ? values.models.split(',') : registry.ids.filter((id) => id !== 'iris-landmarks');

interface Row {
  model: string;
  requested: string;
  provider: string;
  batch: number;
  msPerBatch: number;
  itemsPerSecond: number;
}
const rows: Row[] = [];

for (const requested of providers) {
  const runtime = new InferenceRuntime(registry, { provider: requested });
  for (const id of ids) {
    let model;
    try {
      model = await runtime.load(id);
    } catch (err) {
      console.error(`skip ${id} on ${requested}: ${(err as Error).message}`);
      continue;
    }
    const shape = model.entry.input.shape;
    for (const batch of model.entry.batch === 'dynamic' ? batches : [1]) {
      const dims = shape.map((d, i) => (i === 0 ? batch : Number(d)));
      const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => Math.random());
      const feeds = { [model.entry.input.name]: new Tensor('float32', data, dims) };
      for (let i = 0; i < 3; i++) await model.run(feeds); // warm-up (WebGPU compiles shaders first)
      // Median of per-run times: this kind of shared VM has bursts of noise that a mean would keep.
      const times: number[] = [];
      const t0 = performance.now();
      while (performance.now() - t0 < budgetMs || times.length < 5) {
        const t = performance.now();
        await model.run(feeds);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const ms = times[Math.floor(times.length / 2)]!;
      rows.push({ model: id, requested, provider: model.provider, batch, msPerBatch: ms, itemsPerSecond: (batch * 1000) / ms });
      console.error(`${id} ${model.provider} b${batch}: ${ms.toFixed(2)} ms/batch`);
    }
  }
  await runtime.close();
}

console.log(`\nmachine: ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, node ${process.version}\n`);
console.log('| model | provider | batch | median ms / batch | items / s |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const r of rows) {
  const p = r.provider === r.requested ? r.provider : `${r.provider} (asked ${r.requested})`;
  console.log(`| ${r.model} | ${p} | ${r.batch} | ${r.msPerBatch.toFixed(2)} | ${r.itemsPerSecond.toFixed(1)} |`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ machine: cpus()[0]?.model, cores: cpus().length, rows }, null, 2));
