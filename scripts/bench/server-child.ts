/**
 * The server under test, in a process of its own so its CPU can be read from /proc without the
 * load generator's: createApp + loadConfig from the environment, exactly as server/src/main.ts.
 * Prints one JSON line {ready, url, pid, analyzerPid} once listening (and once analysis is
 * available, when an analyzer is expected), then another whenever the embedded analyzer restarts.
 */
import { createApp } from '../../server/src/app.ts';
import { loadConfig } from '../../server/src/config.ts';

const config = loadConfig();
const app = await createApp(config);
const url = await app.listen();

const deadline = Date.now() + 120_000;
while (config.analyzer.mode !== 'off' && !app.hub.status.available && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));

let lastPid: number | undefined | null = null;
const report = () => {
  const analyzerPid = app.analyzer?.pid;
  if (analyzerPid === lastPid) return;
  lastPid = analyzerPid;
  process.stdout.write(JSON.stringify({ ready: true, url, pid: process.pid, analyzerPid: analyzerPid ?? null, analysis: app.hub.status }) + '\n');
};
report();
setInterval(report, 1000).unref();
// Keep the process alive while the server runs (listen() holds the event loop open).

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  app.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 4000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
