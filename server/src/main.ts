/**
 * `npm start`: run the server on its embedded defaults. With --demo-links (what `npm start` passes)
 * or DEMO_LINKS=1 it prints one demo link per role and an all-calls dashboard link; otherwise none,
 * since those links are credentials and a server's stdout ends up in container and journal logs.
 *
 * A failure to start (bad configuration, port in use, unreadable audit DB) prints one line to
 * stderr and exits non-zero, so that a process manager that restarts on failure sees a failure.
 */
import { issueToken } from './auth/token.ts';
import { createApp, type App } from './app.ts';
import { dashboardLink, joinLink } from './http/joinLink.ts';
import { ALL_ROOMS } from './protocol/dashboard.ts';
import { ConfigError, loadConfig, type ServerConfig } from './config.ts';
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

/** Exit statuses: configuration refused, and any other failure to start. */
const EXIT_CONFIG = 2;
const EXIT_START = 1;

/** One line naming what failed and what to change, from an error thrown while starting. */
function startupFailure(err: unknown, config?: ServerConfig): string {
  const e = err as NodeJS.ErrnoException & { syscall?: string };
  if (err instanceof ConfigError) return err.message.replace(/\n\s*/g, ' ').replace(/: ?$/, '');
  if (e?.code === 'EADDRINUSE' && config) return `port ${config.port} on ${config.host} is already in use (set PORT to a free port)`;
  if (e?.code === 'EACCES' && e.syscall === 'listen' && config) return `no permission to listen on port ${config.port} (set PORT above 1023)`;
  if (e?.code === 'EADDRNOTAVAIL' && config) return `cannot listen on ${config.host}: no such local address (set HOST)`;
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? 'unknown error';
}

function printDemoLinks(config: ServerConfig, url: string): void {
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
}

async function main(): Promise<void> {
  let config: ServerConfig | undefined;
  let app: App;
  let url: string;
  try {
    config = loadConfig();
    app = await createApp(config);
    url = await app.listen();
  } catch (err) {
    console.error(`deepfake-shield: cannot start: ${startupFailure(err, config)}`);
    process.exit(err instanceof ConfigError ? EXIT_CONFIG : EXIT_START);
  }
  // From here on, a bug reached by one client's input must not take every call down with it: log and carry on.
  process.on('unhandledRejection', (reason) => log.error('unhandled rejection', { err: reason instanceof Error ? reason.stack : String(reason) }));
  process.on('uncaughtException', (err) => log.error('uncaught exception', { err: err.stack ?? String(err) }));
  log.info('listening', { url, engine: app.engine.name, rooms: config.rooms.join(',') });
  if (config.demoLinks || process.argv.includes('--demo-links')) printDemoLinks(config, url);
  console.log('\nJoin links: npm run token -- --room <room> --role <role> --name "<name>"   (or --dashboard --name "<name>")');
  console.log('A simulated caller: npm run simulate -- --room <room> --clip real|fake|replay|tts\n');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    app.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
