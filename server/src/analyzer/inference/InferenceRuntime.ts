/**
 * Loads models into onnxruntime-node sessions on the configured execution provider, falling back
 * to CPU with a log line when the provider is missing (e.g. CUDA libraries not installed), and
 * says which provider each model really runs on.
 *
 * CPU sessions never spin-wait. onnxruntime's thread pools busy-spin between work items by default
 * to shave microseconds off the next run; the analyzer runs nine small sessions a few times a
 * second each, so every pool spun most of the time it was idle (measured: one session at 10 runs/s
 * used 50% of a core spinning, 6.5% without). Intra-op threads default to a quarter of the cores
 * the analyzer may use (ANALYZER_CORES: the whole host for a lone analyzer, 1 on a 2-core machine
 * and 4 on 16; a pool worker's share of it, so fifteen workers on 16 cores take 1 each rather
 * than 4 each: each worker already runs its face models and its voice model side by side).
 *
 * onnxruntime-node runs a session synchronously on the thread that calls run(): a model loaded
 * with `{ thread: true }` gets a worker thread of its own (sessionThread.ts), so that a slow model
 * (AASIST-L: 140-580 ms a window here) does not stop the analyzer's event loop while it runs;
 * a thread that dies or gets stuck is replaced (ThreadedModel.ts).
 */
import { availableParallelism } from 'node:os';
// First: telemetry off before any session exists (it is decided once, at the first).
import './telemetry.ts';
import * as ort from 'onnxruntime-node';
import { logger } from '../../log.ts';
import type { ModelEntry, ModelRegistry } from './ModelRegistry.ts';
import type { ModelRunner } from './ModelRunner.ts';
import { fallbackChain, type ProviderName } from './providers.ts';
import { ThreadedModel, type ThreadedModelOptions } from './ThreadedModel.ts';

const log = logger('inference');

export interface LoadedModel extends ModelRunner {
  readonly id: string;
  readonly entry: ModelEntry;
  /** The provider the session was created on (after any fallback). */
  readonly provider: ProviderName;
  /** A model in a thread of its own: replace the thread now, as if it had died (ThreadedModel). */
  restart?(reason?: string): Promise<void>;
  release(): Promise<void>;
}

export interface RuntimeOptions {
  provider: ProviderName;
  /** Threads per session for the CPU provider; default (or 0): defaultIntraOpThreads(cores). */
  intraOpThreads?: number;
  /** Cores this process may use (ANALYZER_CORES), for that default; default: the host's. */
  cores?: number;
  /** Supervision of models loaded with `{ thread: true }` (ThreadedModel's defaults). */
  thread?: ThreadedModelOptions;
}

/** A quarter of the host's cores, 1 to 4: sessions run side by side, so each gets few threads. */
export function defaultIntraOpThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, Math.floor(cores / 4)));
}

/** Session options for the CPU provider: no spin-waiting in either pool, one inter-op thread. */
export function cpuSessionOptions(intraOpThreads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

export class InferenceRuntime {
  private readonly registry: ModelRegistry;
  private readonly opts: RuntimeOptions;
  private readonly loaded = new Map<string, Promise<LoadedModel>>();

  private readonly intraOpThreads: number;

  constructor(registry: ModelRegistry, opts: RuntimeOptions) {
    this.registry = registry;
    this.opts = opts;
    this.intraOpThreads = opts.intraOpThreads || defaultIntraOpThreads(opts.cores);
  }

  /** Loads a model once (per id and threading); `thread`: in a worker thread of its own (see the header). */
  load(id: string, opts: { thread?: boolean } = {}): Promise<LoadedModel> {
    const key = opts.thread ? `${id} (thread)` : id;
    let p = this.loaded.get(key);
    if (!p) {
      p = opts.thread ? this.createThreaded(id) : this.create(id);
      this.loaded.set(key, p);
      p.catch(() => this.loaded.delete(key));
    }
    return p;
  }

  private async createThreaded(id: string): Promise<LoadedModel> {
    const entry = this.registry.entry(id);
    const path = await this.registry.resolve(id);
    const model = new ThreadedModel(
      id,
      { path, providers: fallbackChain(this.opts.provider), sessionOptions: { logSeverityLevel: 3, ...cpuSessionOptions(this.intraOpThreads) } },
      this.opts.thread,
    );
    const r = await model.start();
    const provider = r.provider as ProviderName;
    if (provider !== this.opts.provider) {
      log.warn('execution provider unavailable, falling back', { model: id, requested: this.opts.provider, using: provider, reason: r.errors.join('; ') });
    }
    log.info('model loaded', { model: id, provider, thread: true });
    return {
      id,
      entry,
      provider,
      inputNames: r.inputNames,
      outputNames: r.outputNames,
      run: (feeds) => model.run(feeds),
      restart: (reason) => model.restart(reason),
      release: () => model.release(),
    };
  }

  private async create(id: string): Promise<LoadedModel> {
    const entry = this.registry.entry(id);
    const path = await this.registry.resolve(id);
    const errors: string[] = [];
    for (const provider of fallbackChain(this.opts.provider)) {
      try {
        const session = await ort.InferenceSession.create(path, {
          executionProviders: [provider],
          logSeverityLevel: 3,
          // Other providers still run some nodes on CPU: no spinning there either.
          ...cpuSessionOptions(this.intraOpThreads),
        });
        if (provider !== this.opts.provider) {
          log.warn('execution provider unavailable, falling back', { model: id, requested: this.opts.provider, using: provider, reason: errors.join('; ') });
        }
        log.info('model loaded', { model: id, provider });
        return {
          id,
          entry,
          provider,
          inputNames: session.inputNames,
          outputNames: session.outputNames,
          run: (feeds) => session.run(feeds) as Promise<Record<string, ort.Tensor>>,
          release: () => session.release(),
        };
      } catch (err) {
        errors.push(`${provider}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    throw new Error(`model "${id}" could not be loaded on any provider: ${errors.join('; ')}`);
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.loaded.values());
    this.loaded.clear();
    for (const r of all) if (r.status === 'fulfilled') await r.value.release().catch(() => undefined);
  }
}
