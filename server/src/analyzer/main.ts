/**
 * The analyzer process: started by the server (embedded) or on another host (e.g. a GPU machine).
 * Embedded, it takes its service token from the server over IPC (renewed there) and exits when the
 * server does (analyzer/parentChannel.ts); remote, it reads DFS_ANALYZER_TOKEN.
 */
import { logger } from '../log.ts';
import { Analyzer } from './Analyzer.ts';
import { loadAnalyzerConfig, type AnalyzerConfig } from './config.ts';
import { InferenceRuntime } from './inference/InferenceRuntime.ts';
import { loadRiskConfig, type RiskConfig } from './fusion/RiskFusion.ts';
import { ModelRegistry } from './inference/ModelRegistry.ts';
import { followParent, hasParent } from './parentChannel.ts';

const log = logger('analyzer');

let config: AnalyzerConfig | undefined;
let analyzer: Analyzer | undefined;

const stop = () => {
  if (!analyzer) process.exit(0);
  analyzer.stop().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};

let ipcToken: string | undefined;
if (hasParent()) {
  try {
    ipcToken = await followParent({
      onToken: (token) => {
        if (config) config.token = token;
      },
      onGone: () => {
        log.warn('the server process is gone; exiting');
        stop();
        // The server is dead: nothing to leave gracefully. Do not linger on a stuck model.
        setTimeout(() => process.exit(0), 1000).unref();
      },
    });
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
}

let riskConfig: RiskConfig;
try {
  config = loadAnalyzerConfig(ipcToken ? { ...process.env, DFS_ANALYZER_TOKEN: ipcToken } : process.env);
  riskConfig = loadRiskConfig(config.riskConfigPath);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
if (config.riskConfigPath) log.info('fusion configured from a file of its own', { riskConfig: config.riskConfigPath });
const registry = ModelRegistry.load();
log.info('model folders', { searched: registry.dirs.join(',') });
analyzer = new Analyzer(config, new InferenceRuntime(registry, { provider: config.provider, intraOpThreads: config.intraOpThreads, cores: config.cores }), riskConfig, { processMetrics: true });
await analyzer.loadModels();
analyzer.start();

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
