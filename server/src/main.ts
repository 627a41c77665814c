/** `npm start`: run the server on its embedded defaults and print one demo link per role. */
import { issueToken } from './auth/token.ts';
import { createApp } from './app.ts';
import { dashboardLink, joinLink } from './http/joinLink.ts';
import { ALL_ROOMS } from './protocol/dashboard.ts';
import { ConfigError, loadConfig } from './config.ts';
import { logger } from './log.ts';
import { ROLES, type Role } from './protocol/roles.ts';

const log = logger('main');

const DEMO_NAMES: Record<Role, string> = {
  clinician: 'Dr. Demo',
  agent: 'Agent Demo',
  supervisor: 'Supervisor Demo',
  patient: 'Patient Demo',
  customer: 'Customer Demo',
};

// A bug reached by one client's input must not take every call down with it: log and carry on.
process.on('unhandledRejection', (reason) => log.error('unhandled rejection', { err: reason instanceof Error ? reason.stack : String(reason) }));
process.on('uncaughtException', (err) => log.error('uncaught exception', { err: err.stack ?? String(err) }));

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const app = createApp(config);
  const url = await app.listen();
  log.info('listening', { url, engine: app.engine.name, rooms: config.rooms.join(',') });
  const room = config.rooms[0];
  if (room) {
    console.log(`\nDemo links for room "${room}" (valid ${Math.round(config.tokenTtlSeconds / 3600)} h; open each in its own browser tab):`);
    for (const role of ROLES) {
      const token = issueToken(config.tokenSecret, { room, role, name: DEMO_NAMES[role], ttlSeconds: config.tokenTtlSeconds });
      console.log(`  ${role.padEnd(10)} ${joinLink(url, room, token)}`);
    }
  }
  const board = issueToken(config.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name: DEMO_NAMES.supervisor, ttlSeconds: config.tokenTtlSeconds });
  console.log(`\nSupervisor dashboard (every call): ${dashboardLink(url, board)}`);
  console.log('More links: npm run token -- --room <room> --role <role> --name "<name>"   (or --dashboard --name "<name>")');
  console.log('A simulated caller: npm run simulate -- --room <room> --clip real|fake|replay|tts\n');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    app.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
