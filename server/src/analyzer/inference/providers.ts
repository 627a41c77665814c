/** Execution providers: which names we accept and what to try, in order, for each. */
export const PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export class ProviderError extends Error {
  override name = 'ProviderError';
}

export function parseProvider(name: string): ProviderName {
  const n = name.trim().toLowerCase();
  if ((PROVIDERS as readonly string[]).includes(n)) return n as ProviderName;
  throw new ProviderError(`unknown execution provider "${name}"; expected one of: ${PROVIDERS.join(', ')}`);
}

/** The requested provider first, then CPU, which is always bundled. */
export function fallbackChain(requested: ProviderName): ProviderName[] {
  return requested === 'cpu' ? ['cpu'] : [requested, 'cpu'];
}
