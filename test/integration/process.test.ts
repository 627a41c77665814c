/**
 * The server as an operator runs it: `node server/src/main.ts` as its own process. A failure to start
 * must exit non-zero with one line (a process manager restarts on failure, and reads that line), and
 * a normal start must not print credentials (join and dashboard links) unless asked to. The embedded
 * analyzer, the process that decodes untrusted media, gets none of the server's secrets, and dies
 * with the server even when the server is killed with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../server/src/auth/token.ts';
import { ask, connected, rawSocket } from '../helpers/rawClient.ts';

const MAIN = resolve(import.meta.dirname, '../../server/src/main.ts');
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dfs-process-'));
  dirs.push(d);
  return d;
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the server the way `npm start` and the Dockerfile do, with a clean environment of our own. */
function startServer(env: Record<string, string>, args: string[] = []): Run {
  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: tempDir(),
    ANALYZER: 'off',
    ROOMS: 'demo',
  };
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function untilOutput(run: Run, pattern: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = run.stdout().match(pattern);
    if (m) return m;
    if (run.child.exitCode !== null) throw new Error(`server exited (${run.child.exitCode}): ${run.stderr()}`);
    if (Date.now() > end) throw new Error(`no ${pattern} in the server's output: ${run.stdout()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function busyPort(): Promise<{ port: number; server: Server }> {
  return new Promise((r) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => r({ port: (server.address() as { port: number }).port, server }));
  });
}

// A start costs ~2 s of CPU (module loading); on a loaded machine the wall time is many times that.
const START_TIMEOUT_MS = 150_000;

describe.concurrent('startup failures exit non-zero with one clear line', () => {
  it('a port in use', async () => {
    const { port, server } = await busyPort();
    try {
      const run = startServer({ PORT: String(port) });
      const { code } = await run.exited;
      expect(code).toBe(1);
      const lines = run.stderr().trim().split('\n');
      expect(lines).toEqual([`deepfake-shield: cannot start: port ${port} on 127.0.0.1 is already in use (set PORT to a free port)`]);
    } finally {
      server.close();
    }
  }, START_TIMEOUT_MS);

  it('a corrupt audit database', async () => {
    const db = join(tempDir(), 'audit.sqlite');
    writeFileSync(db, 'this is not a database, it is a text file long enough to have a header\n'.repeat(20));
    const run = startServer({ AUDIT_DB: db });
    const { code } = await run.exited;
    expect(code).toBe(1);
    const lines = run.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^deepfake-shield: cannot start: cannot open the audit log AUDIT_DB=.*audit\.sqlite: file is not a database/);
  }, START_TIMEOUT_MS);

  it('a bad configuration (several problems, still one line)', async () => {
    const run = startServer({ PORT: 'eighty', TOKEN_SECRET: 'short' });
    const { code } = await run.exited;
    expect(code).toBe(2);
    const lines = run.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^deepfake-shield: cannot start: invalid configuration: .*PORT/);
  }, START_TIMEOUT_MS);
});

describe('credentials at start', () => {
  it('a plain start prints no join or dashboard link, and SIGTERM tells every call; --demo-links (npm start) prints them', async () => {
    const secret = randomBytes(32).toString('hex');
    const plain = startServer({ TOKEN_SECRET: secret });
    const [, url] = await untilOutput(plain, /listening url=(\S+)/);
    await untilOutput(plain, /npm run simulate/);
    expect(plain.stdout() + plain.stderr()).not.toMatch(/token=/);

    // SIGTERM is a graceful shutdown: every call is told, as a shutdown, before the process exits.
    const s = rawSocket(url!, issueToken(secret, { room: 'demo', role: 'clinician', name: 'Doc', ttlSeconds: 600 }));
    await connected(s);
    expect((await ask(s, 'join', { room: 'demo' })).ok).toBe(true);
    const closed = new Promise<unknown>((r) => s.once('room.closed', r));
    plain.child.kill('SIGTERM');
    expect(await closed).toMatchObject({ shutdown: true });
    s.close();
    expect((await plain.exited).code).toBe(0);

    const demo = startServer({}, ['--demo-links']);
    await untilOutput(demo, /npm run simulate/);
    expect(demo.stdout()).toMatch(/\/room\/demo#token=/);
    expect(demo.stdout()).toMatch(/\/dashboard#token=/);
    demo.child.kill('SIGTERM');
    expect((await demo.exited).code).toBe(0);
  }, START_TIMEOUT_MS);
});

/** A process's environment, from /proc (Linux). */
function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** Whether a process still runs (a zombie waiting to be reaped does not). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('the embedded analyzer process', () => {
  it('gets no server secret, takes its token over IPC, and exits when the server is killed with SIGKILL', async () => {
    const secret = randomBytes(32).toString('hex');
    const metricsToken = randomBytes(16).toString('hex');
    const run = startServer({
      ANALYZER: 'embedded',
      ANALYZER_WORKERS: '1',
      // No classifier models: only the process's life is tested here.
      MODELS_DIR: tempDir(),
      TOKEN_SECRET: secret,
      METRICS_TOKEN: metricsToken,
      TURN_PASSWORD: 'not-for-the-analyzer',
    });
    const [, pidText] = await untilOutput(run, /analyzer started analyzer=analyzer-embedded-[0-9a-f]{8}-1 pid=(\d+)/);
    const pid = Number(pidText);
    // It connects with the token the server handed it over IPC (none is in its environment).
    await untilOutput(run, /analyzer connected analyzer=analyzer-embedded-/, 90_000);

    const env = environOf(pid);
    const values = Object.values(env).join('\n');
    expect(values).not.toContain(secret);
    expect(values).not.toContain(metricsToken);
    expect(env).not.toHaveProperty('TOKEN_SECRET');
    expect(env).not.toHaveProperty('METRICS_TOKEN');
    expect(env).not.toHaveProperty('TURN_PASSWORD');
    expect(env).not.toHaveProperty('DFS_ANALYZER_TOKEN');
    expect(values).not.toMatch(/svc\./);
    expect(env.DFS_SERVER_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.ORT_DISABLE_TELEMETRY).toBe('1');

    run.child.kill('SIGKILL');
    await run.exited;
    const end = Date.now() + 5000;
    while (running(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(running(pid), 'the analyzer outlived its server').toBe(false);
  }, 180_000);
});
