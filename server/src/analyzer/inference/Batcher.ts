/**
 * Batches requests for one model across streams: requests wait at most maxWaitMs, batches hold at
 * most maxBatch items (1 for fixed-batch models), one batch runs at a time per model, and
 * higher-priority requests (suspicious streams, challenges) are served first.
 */
import { Tensor } from 'onnxruntime-node';
import type { Observer } from '../../metrics/Metrics.ts';
import type { ModelRunner } from './ModelRunner.ts';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Pending requests beyond this are refused (the caller counts a drop) rather than queued. */
  maxPending?: number;
  /** Where each item's latency (queue wait + run, ms) goes. */
  latency?: Observer;
  onBatch?: (size: number) => void;
}

interface Pending {
  feeds: Record<string, Tensor>;
  priority: number;
  seq: number;
  resolve: (out: Record<string, Tensor>) => void;
  reject: (err: Error) => void;
  enqueued: number;
}

export class BatcherFullError extends Error {
  override name = 'BatcherFullError';
}

export class Batcher {
  private readonly runner: ModelRunner;
  private readonly opts: Required<Omit<BatcherOptions, 'latency' | 'onBatch'>> & Pick<BatcherOptions, 'latency' | 'onBatch'>;
  private readonly pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private seq = 0;
  private closed = false;

  constructor(runner: ModelRunner, opts: BatcherOptions) {
    this.runner = runner;
    this.opts = { maxPending: 256, ...opts, maxBatch: Math.max(1, opts.maxBatch) };
  }

  get queued(): number {
    return this.pending.length;
  }

  /** Runs one item (batch dimension 1); resolves with that item's outputs. */
  run(feeds: Record<string, Tensor>, priority = 0): Promise<Record<string, Tensor>> {
    if (this.closed) return Promise.reject(new Error('batcher closed'));
    if (this.pending.length >= this.opts.maxPending) {
      return Promise.reject(new BatcherFullError(`more than ${this.opts.maxPending} requests waiting`));
    }
    return new Promise((resolve, reject) => {
      const item: Pending = { feeds, priority, seq: this.seq++, resolve, reject, enqueued: performance.now() };
      // Keep the queue sorted: priority descending, then arrival.
      let i = this.pending.length;
      while (i > 0 && this.pending[i - 1]!.priority < priority) i--;
      this.pending.splice(i, 0, item);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.pending.length === 0) return;
    if (this.pending.length >= this.opts.maxBatch || this.opts.maxWaitMs <= 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.opts.maxWaitMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.running || this.pending.length === 0) return;
    this.running = true;
    const batch = this.pending.splice(0, this.opts.maxBatch);
    try {
      const outputs = await this.runner.run(batch.length === 1 ? batch[0]!.feeds : concatFeeds(batch.map((b) => b.feeds)));
      const done = performance.now();
      this.opts.onBatch?.(batch.length);
      batch.forEach((b, i) => {
        this.opts.latency?.add(done - b.enqueued);
        b.resolve(batch.length === 1 ? outputs : sliceOutputs(outputs, i));
      });
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const b of this.pending.splice(0)) b.reject(new Error('batcher closed'));
  }
}

/** Stacks single-item tensors along the batch dimension. */
export function concatFeeds(items: Record<string, Tensor>[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const name of Object.keys(items[0] ?? {})) {
    const first = items[0]![name]!;
    const per = first.data.length;
    const data = new Float32Array(per * items.length);
    items.forEach((it, i) => data.set(it[name]!.data as Float32Array, i * per));
    out[name] = new Tensor('float32', data, [items.length, ...first.dims.slice(1)]);
  }
  return out;
}

/** Item i of every output, keeping a batch dimension of 1. */
export function sliceOutputs(outputs: Record<string, Tensor>, i: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(outputs)) {
    const n = t.dims[0] ?? 1;
    const per = t.data.length / n;
    out[name] = new Tensor('float32', (t.data as Float32Array).subarray(i * per, (i + 1) * per), [1, ...t.dims.slice(1)]);
  }
  return out;
}
