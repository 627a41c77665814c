/**
 * The embedded analyzer's supervision (screening/AnalyzerProcess.ts) with a stand-in child that
 * follows its parent the way analyzer/main.ts does: it gets an allow-listed environment, its
 * short-lived token over IPC and renewed, and notices when the channel to the server closes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalyzerProcess, analyzerEnv, SERVICE_TOKEN_TTL_S } from '../../server/src/screening/AnalyzerProcess.ts';

const dir = mkdtempSync(join(tmpdir(), 'dfs-analyzer-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, fn: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('embedded analyzer process', () => {
  it('inherits only the allow-listed environment', () => {
    const env = analyzerEnv({
      PATH: '/usr/bin',
      HOME: '/home/x',
      MODELS_DIR: '/models',
      ANALYZER_PROVIDER: 'cuda',
      ORT_LOGGING_LEVEL: '3',
      LOG_LEVEL: 'warn',
      TOKEN_SECRET: 's'.repeat(40),
      METRICS_TOKEN: 'm'.repeat(20),
      DFS_ANALYZER_TOKEN: 'svc.x.y',
      TURN_PASSWORD: 'p',
      AWS_SECRET_ACCESS_KEY: 'k',
      DATABASE_URL: 'postgres://u:p@h/db',
    });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/home/x', MODELS_DIR: '/models', ANALYZER_PROVIDER: 'cuda', ORT_LOGGING_LEVEL: '3', LOG_LEVEL: 'warn' });
  });

  it('hands the child a short-lived token over IPC and renews it; the child sees the channel close', async () => {
    expect(SERVICE_TOKEN_TTL_S).toBeLessThanOrEqual(3600);
    const out = join(dir, 'out.txt');
    let n = 0;
    const p = new AnalyzerProcess({
      serverUrl: 'http://127.0.0.1:1',
      token: () => `token-number-${++n}`,
      env: { ANALYZER_TEST_OUT: out },
      entry: resolve(import.meta.dirname, '../helpers/analyzerStandIn.ts'),
      renewMs: 150,
    });
    p.start();
    const lines = () => {
      try {
        return readFileSync(out, 'utf8').trim().split('\n');
      } catch {
        return [];
      }
    };
    await until('three tokens', () => lines().filter((l) => l.startsWith('token ')).length >= 3);
    expect(lines()[0]).toBe('ipc true env-token none');
    expect(lines().slice(1, 4)).toEqual(['token token-number-1', 'token token-number-2', 'token token-number-3']);
    // The channel closing is how the child learns the server died (even by SIGKILL, which the
    // integration test in test/integration/process.test.ts does for real): it exits.
    (p as unknown as { child: { disconnect(): void } }).child.disconnect();
    await until('the child to notice', () => lines().includes('gone'));
    await p.stop();
    expect(p.pid).toBeUndefined();
  });
});
