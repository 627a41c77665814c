/**
 * Model throughput per execution provider and batch size, on random inputs of each model's shape
 * (models with a fixed batch of 1 run at batch 1 only). Shared by `npm run bench:models` and the
 * inference section of `npm run bench`.
 */
import { Tensor } from 'onnxruntime-node';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import type { ProviderName } from '../../server/src/analyzer/inference/providers.ts';

export interface InferenceOptions {
  providers: ProviderName[];
  batches: number[];
  /** Time spent per (model, provider, batch), after warm-up. */
  seconds: number;
  /** Model ids; default every model in the manifest except the iris refinement. */
  models?: string[];
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface InferenceRow {
  model: string;
  /** The provider asked for. */
  requested: string;
  /** The provider the model really ran on (a failed WebGPU/CUDA load falls back to CPU). */
  provider: string;
  batch: number;
  /** Median of per-run times: this kind of shared VM has bursts of noise that a mean would keep. */
  msPerBatch: number;
  itemsPerSecond: number;
  runs: number;
}

export function defaultModels(registry: ModelRegistry): string[] {
  return registry.ids.filter((id) => id !== 'iris-landmarks');
}

export async function benchInference(o: InferenceOptions): Promise<InferenceRow[]> {
  const log = o.log ?? ((line: string) => console.error(line));
  const registry = ModelRegistry.load();
  const ids = o.models ?? defaultModels(registry);
  const budgetMs = o.seconds * 1000;
  const rows: InferenceRow[] = [];
  for (const requested of o.providers) {
    const runtime = new InferenceRuntime(registry, { provider: requested });
    try {
      for (const id of ids) {
        let model;
        try {
          model = await runtime.load(id);
        } catch (err) {
          log(`skip ${id} on ${requested}: ${(err as Error).message}`);
          continue;
        }
        const shape = model.entry.input.shape;
        for (const batch of model.entry.batch === 'dynamic' ? o.batches : [1]) {
          const dims = shape.map((d, i) => (i === 0 ? batch : Number(d)));
          const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => Math.random());
          const feeds = { [model.entry.input.name]: new Tensor('float32', data, dims) };
          for (let i = 0; i < 3; i++) await model.run(feeds); // warm-up (WebGPU compiles shaders first)
          const times: number[] = [];
          const t0 = performance.now();
          while (performance.now() - t0 < budgetMs || times.length < 5) {
            const t = performance.now();
            await model.run(feeds);
            times.push(performance.now() - t);
          }
          times.sort((a, b) => a - b);
          const ms = times[Math.floor(times.length / 2)]!;
          rows.push({ model: id, requested, provider: model.provider, batch, msPerBatch: ms, itemsPerSecond: (batch * 1000) / ms, runs: times.length });
          log(`${id} ${model.provider} b${batch}: ${ms.toFixed(2)} ms/batch`);
        }
      }
    } finally {
      await runtime.close();
    }
  }
  return rows;
}

/** Markdown table, one row per (model, provider, batch). */
export function inferenceTable(rows: readonly InferenceRow[]): string {
  const lines = ['| model | provider | batch | median ms / batch | items / s |', '| --- | --- | ---: | ---: | ---: |'];
  for (const r of rows) {
    const p = r.provider === r.requested ? r.provider : `${r.provider} (asked ${r.requested})`;
    lines.push(`| ${r.model} | ${p} | ${r.batch} | ${r.msPerBatch.toFixed(2)} | ${r.itemsPerSecond.toFixed(1)} |`);
  }
  return lines.join('\n');
}
