/**
 * Runs the embedded analyzer as a child process, so a crash or a stuck model never touches calls.
 * Restarts it when it exits or stalls, with backoff, and counts restarts.
 *
 * The child is the process that decodes untrusted media, so it gets only what it needs:
 * - an allow-listed environment (analyzer settings, model folder, system basics), never the
 *   server's secrets (TOKEN_SECRET, METRICS_TOKEN, TURN credentials...);
 * - a short-lived service token handed over the IPC channel (not its environment, which other
 *   processes of the same user can read), renewed well before it expires.
 * The IPC channel also ties the child to this process's life: when the server dies, even by
 * SIGKILL, the channel closes and the child exits (analyzer/main.ts), so a restarted server never
 * finds an orphan from its previous life in its calls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { logger } from '../log.ts';
import { TELEMETRY_ENV } from '../analyzer/inference/telemetry.ts';
import { IPC_MARKER, type ParentMessage } from '../analyzer/parentChannel.ts';

const log = logger('analyzer-process');
const ENTRY = fileURLToPath(new URL('../analyzer/main.ts', import.meta.url));

/** Variables the analyzer may inherit from the server: by exact name, or by prefix. */
const ENV_NAMES = new Set([
  'PATH', 'HOME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL', 'LOG_LEVEL', 'NODE_OPTIONS',
  'MODELS_DIR', 'FFMPEG_PATH', 'LD_LIBRARY_PATH', 'CUDA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES',
]);
const ENV_PREFIXES = ['ANALYZER_', 'ORT_'];

/** The environment the analyzer child gets from the server's: the allow-list only. */
export function analyzerEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (ENV_NAMES.has(k) || ENV_PREFIXES.some((p) => k.startsWith(p)))) out[k] = v;
  }
  return out;
}

/** Lifetime of the service token a child gets; it is renewed at a third of it. */
export const SERVICE_TOKEN_TTL_S = 3600;

export interface AnalyzerProcessOptions {
  serverUrl: string;
  /** Issues a fresh service token (SERVICE_TOKEN_TTL_S), at start and at each renewal. */
  token: () => string;
  /** Extra environment for the analyzer (provider, model folder, sampling rates). */
  env?: Record<string, string | undefined>;
  /** The worker's name in logs (its service token's subject). */
  name?: string;
  /** Renewal period of the token (default: a third of SERVICE_TOKEN_TTL_S). */
  renewMs?: number;
  /** The script to run (default: analyzer/main.ts; tests run a stand-in). */
  entry?: string;
  /**
   * A child that has not joined the pool (ready()) this long after it started is hung (a model load
   * or a GPU init that never returns): killed and restarted. Default 120 s. Once it has joined, the
   * hub's stall detection (no heartbeat) watches it.
   */
  readyTimeoutMs?: number;
  /** A child whose resident memory passes this (MB) is leaking: killed and restarted. Default: no limit. */
  memoryLimitMb?: number;
  /** How often its memory is checked, ms (default 5000). */
  memoryCheckMs?: number;
}

/** A process's resident memory in MB (Linux /proc), or undefined where it cannot be read. */
function residentMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

export class AnalyzerProcess {
  private child: ChildProcess | undefined;
  private stopped = false;
  private restartsValue = 0;
  private backoffMs = 500;
  private restartTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private readyTimer: NodeJS.Timeout | undefined;
  private memoryTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private readonly opts: AnalyzerProcessOptions;

  constructor(opts: AnalyzerProcessOptions) {
    this.opts = opts;
  }

  get name(): string {
    return this.opts.name ?? 'analyzer';
  }

  get restarts(): number {
    return this.restartsValue;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopped || this.child) return;
    this.startedAt = Date.now();
    const env: Record<string, string> = { ...analyzerEnv(process.env), ...TELEMETRY_ENV, ...IPC_MARKER, DFS_SERVER_URL: this.opts.serverUrl };
    for (const [k, v] of Object.entries(this.opts.env ?? {})) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [this.opts.entry ?? ENTRY], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    log.info('analyzer started', { analyzer: this.name, pid: child.pid });
    let gone = false;
    // Whatever the child does with the channel, a write to a dead one must not throw here.
    child.on('error', (err) => {
      log.warn('analyzer channel error', { analyzer: this.name, err: err.message });
      // A spawn that failed (EAGAIN, EMFILE, ENOENT) has no pid and never emits 'exit': it is an exit.
      if (child.pid === undefined) onExit(null, null);
    });
    this.sendToken(child);
    this.renewTimer = setInterval(() => this.sendToken(child), this.opts.renewMs ?? (SERVICE_TOKEN_TTL_S * 1000) / 3);
    this.renewTimer.unref();
    const readyMs = this.opts.readyTimeoutMs ?? 120_000;
    this.readyTimer = setTimeout(() => this.kill(`not connected to the server ${readyMs} ms after it started`), readyMs);
    this.readyTimer.unref();
    const limitMb = this.opts.memoryLimitMb;
    if (limitMb) {
      this.memoryTimer = setInterval(() => {
        const mb = residentMb(child.pid);
        if (mb !== undefined && mb > limitMb) this.kill(`resident memory ${Math.round(mb)} MB over its limit of ${limitMb} MB`);
      }, this.opts.memoryCheckMs ?? 5000);
      this.memoryTimer.unref();
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (gone) return;
      gone = true;
      clearInterval(this.renewTimer);
      clearTimeout(this.readyTimer);
      clearInterval(this.memoryTimer);
      this.child = undefined;
      child.emit('gone');
      if (this.stopped) return;
      // A process that ran a while earns a fresh backoff; one that dies at once backs off more.
      if (Date.now() - this.startedAt > 30_000) this.backoffMs = 500;
      log.warn('analyzer exited; restarting', { analyzer: this.name, code: code ?? '', signal: signal ?? '', inMs: this.backoffMs });
      this.restartTimer = setTimeout(() => {
        this.restartsValue++;
        this.start();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    };
    child.once('exit', onExit);
  }

  private sendToken(child: ChildProcess): void {
    if (!child.connected) return;
    const message: ParentMessage = { type: 'token', token: this.opts.token() };
    child.send(message, (err) => {
      if (err) log.warn('cannot hand the analyzer its token', { analyzer: this.name, err: err.message });
    });
  }

  /** The child joined the pool: it is past start-up (from here the hub's stall detection watches it). */
  ready(): void {
    clearTimeout(this.readyTimer);
  }

  /** The hub saw no heartbeat: kill the stuck process; the exit handler restarts it. */
  kill(reason: string): void {
    if (!this.child) return;
    log.warn('killing analyzer', { analyzer: this.name, pid: this.child.pid, reason });
    this.child.kill('SIGKILL');
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.renewTimer);
    clearTimeout(this.readyTimer);
    clearInterval(this.memoryTimer);
    const child = this.child;
    if (!child) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('gone', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    });
  }
}
