/**
 * Loads models into onnxruntime-node sessions on the configured execution provider, falling back
 * to CPU with a log line when the provider is missing (e.g. CUDA libraries not installed), and
 * says which provider each model really runs on.
 */
import * as ort from 'onnxruntime-node';
import { logger } from '../../log.ts';
import type { ModelEntry, ModelRegistry } from './ModelRegistry.ts';
import type { ModelRunner } from './ModelRunner.ts';
import { fallbackChain, type ProviderName } from './providers.ts';

const log = logger('inference');

export interface LoadedModel extends ModelRunner {
  readonly id: string;
  readonly entry: ModelEntry;
  /** The provider the session was created on (after any fallback). */
  readonly provider: ProviderName;
  release(): Promise<void>;
}

export interface RuntimeOptions {
  provider: ProviderName;
  /** Threads per session for the CPU provider; 0 lets onnxruntime decide. */
  intraOpThreads?: number;
}

export class InferenceRuntime {
  private readonly registry: ModelRegistry;
  private readonly opts: RuntimeOptions;
  private readonly loaded = new Map<string, Promise<LoadedModel>>();

  constructor(registry: ModelRegistry, opts: RuntimeOptions) {
    this.registry = registry;
    this.opts = opts;
  }

  load(id: string): Promise<LoadedModel> {
    let p = this.loaded.get(id);
    if (!p) {
      p = this.create(id);
      this.loaded.set(id, p);
      p.catch(() => this.loaded.delete(id));
    }
    return p;
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
          ...(provider === 'cpu' && this.opts.intraOpThreads ? { intraOpNumThreads: this.opts.intraOpThreads } : {}),
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
