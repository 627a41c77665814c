/** An analyzer running inside the test process, connected to a test server like a remote one. */
import { Analyzer } from '../../server/src/analyzer/Analyzer.ts';
import type { AnalyzerConfig } from '../../server/src/analyzer/config.ts';
import { InferenceRuntime } from '../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../../server/src/analyzer/inference/ModelRegistry.ts';
import { issueServiceToken } from '../../server/src/auth/token.ts';
import type { TestServer } from './server.ts';

export function inProcessAnalyzer(server: TestServer, over: Partial<AnalyzerConfig> = {}): Analyzer {
  return new Analyzer(
    {
      serverUrl: server.url,
      token: issueServiceToken(server.config.tokenSecret, { ttlSeconds: 600 }),
      provider: 'cpu',
      baseFps: 2,
      boostedFps: 6,
      landmarkFps: 8,
      audioHopSeconds: 2,
      audioClearHopSeconds: 4,
      audioConfidentHopSeconds: 8,
      maxBatch: 4,
      maxWaitMs: 10,
      queueCapacity: 4,
      heartbeatMs: 200,
      intraOpThreads: 0,
      cores: 1,
      ...over,
    },
    new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' }),
  );
}
