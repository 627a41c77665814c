/** Starts the server under test in its own process (server-child.ts) with a throwaway secret and data folder. */
import { spawn, type ChildProcess } from 'node:child_process';
import { onLines, pinned } from './proc.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { issueServiceToken, issueToken } from '../../server/src/auth/token.ts';
import type { Role } from '../../server/src/protocol/roles.ts';

const CHILD = path.join(import.meta.dirname, 'server-child.ts');

export interface ServerProcess {
  url: string;
  pid: number;
  /** The embedded analyzer's process (ANALYZER=embedded), as last reported. */
  analyzerPid: number | undefined;
  secret: string;
  token(room: string, role: Role, name?: string, sub?: string): string;
  serviceToken(): string;
  /** Server log lines (warnings and errors), for diagnosing a failed run. */
  log: string[];
  close(): Promise<void>;
}

/** `cpus`: a taskset list to pin the server to (the analyzer section's --analyzer-cpus); default: unpinned. */
export async function startServer(env: Record<string, string>, timeoutMs = 150_000, cpus?: string): Promise<ServerProcess> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dfs-bench-'));
  const secret = randomBytes(32).toString('hex');
  const [cmd, args] = pinned(cpus, [process.execPath, CHILD]);
  const child: ChildProcess = spawn(cmd, args, {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      AUDIT_DB: ':memory:',
      TOKEN_SECRET: secret,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      // Measured without automatic liveness checks: one started on suspicion would prompt the load's callers mid-run.
      ROOM_TYPE_DEFAULT: 'off',
      // One embedded analyzer worker (its CPU is what analyzerPid measures), whatever the host's cores.
      ANALYZER_WORKERS: process.env.ANALYZER_WORKERS ?? '1',
      // werift unless asked: its CPU is all in the server process, which is what the SFU section
      // reads; mediasoup's workers are processes of their own that it does not count yet.
      SFU_ENGINE: process.env.SFU_ENGINE ?? 'werift',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const keep = (l: string) => {
    log.push(l);
    if (log.length > 200) log.shift();
  };
  let info: { url: string; pid: number; analyzerPid: number | null } | undefined;
  onLines(child.stdout!, (line) => {
    if (line.startsWith('{"ready"')) {
      info = JSON.parse(line);
      server.analyzerPid = info!.analyzerPid ?? undefined;
    } else if (line.trim()) keep(line);
  });
  child.stderr!.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter((l) => l.trim()).forEach(keep));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const server: ServerProcess = {
    url: '',
    pid: child.pid!,
    analyzerPid: undefined,
    secret,
    log,
    token: (room, role, name = role, sub) => issueToken(secret, { room, role, name, ttlSeconds: 4 * 3600, ...(sub ? { sub } : {}) }),
    serviceToken: () => issueServiceToken(secret, { ttlSeconds: 4 * 3600, sub: 'bench-analyzer' }),
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 6000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const end = Date.now() + timeoutMs;
  while (!info) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${log.join('\n')}`);
    if (Date.now() > end) {
      await server.close();
      throw new Error(`the server was not ready within ${timeoutMs} ms:\n${log.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  server.url = info.url;
  return server;
}

/** The server's Prometheus text (loopback is allowed without a token). */
export async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}
