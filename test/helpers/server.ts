/** Starts the real server in-process on a free port, with a throwaway secret and data folder. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueToken } from '../../server/src/auth/token.ts';
import { createApp, type App } from '../../server/src/app.ts';
import { loadConfig, type ServerConfig } from '../../server/src/config.ts';
import type { Role, RoomType } from '../../server/src/protocol/roles.ts';

export interface TestServer {
  app: App;
  url: string;
  config: ServerConfig;
  token(room: string, role: Role, name?: string, opts?: { ttlSeconds?: number; sub?: string; roomType?: RoomType }): string;
  close(): Promise<void>;
}

/**
 * The engines a parametrised test runs on: both, unless SFU_ENGINES narrows them (e.g.
 * SFU_ENGINES=werift on a machine without a mediasoup worker).
 */
export const ENGINES = (process.env.SFU_ENGINES ?? (mediasoupWorkerFound() ? 'werift,mediasoup' : 'werift')).split(',').filter(Boolean) as Array<'werift' | 'mediasoup'>;

/**
 * Whether a mediasoup worker is there to test (MEDIASOUP_WORKER_BIN, or the one `npm install`
 * downloads into the package). Without one, the tests run on werift and say so once: an install
 * without internet has no worker (CI points MEDIASOUP_WORKER_BIN at ../shared's).
 */
function mediasoupWorkerFound(): boolean {
  const bin = process.env.MEDIASOUP_WORKER_BIN;
  let found = !!bin && existsSync(bin);
  if (!bin) {
    try {
      const pkg = createRequire(import.meta.url).resolve('mediasoup/package.json');
      found = existsSync(join(pkg, '..', 'worker', 'out', 'Release', 'mediasoup-worker'));
    } catch {
      found = false;
    }
  }
  if (!found) console.warn('tests: no mediasoup worker (MEDIASOUP_WORKER_BIN or the package\'s own); the engine-parametrised tests run on werift only');
  return found;
}

/** The engine a deployment gets by default (auto), for tests that run on one engine only. */
export const PRODUCTION_ENGINE: 'werift' | 'mediasoup' = ENGINES.includes('mediasoup') ? 'mediasoup' : 'werift';

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dfs-test-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    TOKEN_SECRET: randomBytes(32).toString('hex'),
    ROOMS: 'demo',
    // Tests that exercise the analyzer turn it on; the rest keep their CPU for media.
    ANALYZER: 'off',
    // No automatic liveness checks unless a test asks for a room policy: a check started on its own
    // would prompt other tests' callers and boost their sampling.
    ROOM_TYPE_DEFAULT: 'off',
    // One worker when a test turns it on, whatever the host's cores (the pool's own test asks for two).
    ANALYZER_WORKERS: '1',
    // The embedded engine unless a test (or the environment) names one: tests that run on both
    // engines pass SFU_ENGINE themselves (see ENGINES). Two mediasoup workers exercise placement.
    SFU_ENGINE: process.env.SFU_ENGINE ?? 'werift',
    MEDIASOUP_WORKERS: '2',
    ...(process.env.MEDIASOUP_WORKER_BIN ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN } : {}),
    ...env,
  });
  const app = await createApp(config);
  const url = await app.listen();
  return {
    app,
    url,
    config,
    token: (room, role, name = role, opts = {}) =>
      issueToken(config.tokenSecret, { room, role, name, ttlSeconds: opts.ttlSeconds ?? 600, ...(opts.sub ? { sub: opts.sub } : {}), ...(opts.roomType ? { roomType: opts.roomType } : {}) }),
    close: async () => {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` (sync or async: a promise is awaited, not taken as truthy) until it gives a truthy value. */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10000, stepMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
