/** The analyzer process: started by the server (embedded) or on another host (e.g. a GPU machine). */
import { logger } from '../log.ts';
import { Analyzer } from './Analyzer.ts';
import { loadAnalyzerConfig } from './config.ts';
import { InferenceRuntime } from './inference/InferenceRuntime.ts';
import { ModelRegistry } from './inference/ModelRegistry.ts';

const log = logger('analyzer');

let config;
try {
  config = loadAnalyzerConfig();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const registry = ModelRegistry.load();
log.info('model folders', { searched: registry.dirs.join(',') });
const analyzer = new Analyzer(config, new InferenceRuntime(registry, { provider: config.provider, intraOpThreads: config.intraOpThreads }));
await analyzer.loadModels();
analyzer.start();

const stop = () => {
  analyzer.stop().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
