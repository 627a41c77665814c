/**
 * Runs the embedded analyzer as a child process, so a crash or a stuck model never touches calls.
 * Restarts it when it exits or stalls, with backoff, and counts restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { logger } from '../log.ts';

const log = logger('analyzer-process');
const ENTRY = fileURLToPath(new URL('../analyzer/main.ts', import.meta.url));

export interface AnalyzerProcessOptions {
  serverUrl: string;
  token: string;
  /** Extra environment for the analyzer (provider, model folder, sampling rates). */
  env?: Record<string, string | undefined>;
  /** The worker's name in logs (its service token's subject). */
  name?: string;
}

export class AnalyzerProcess {
  private child: ChildProcess | undefined;
  private stopped = false;
  private restartsValue = 0;
  private backoffMs = 500;
  private restartTimer: NodeJS.Timeout | undefined;
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
    const child = spawn(process.execPath, [ENTRY], {
      env: { ...process.env, ...this.opts.env, DFS_SERVER_URL: this.opts.serverUrl, DFS_ANALYZER_TOKEN: this.opts.token },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.child = child;
    log.info('analyzer started', { analyzer: this.name, pid: child.pid });
    child.once('exit', (code, signal) => {
      this.child = undefined;
      if (this.stopped) return;
      // A process that ran a while earns a fresh backoff; one that dies at once backs off more.
      if (Date.now() - this.startedAt > 30_000) this.backoffMs = 500;
      log.warn('analyzer exited; restarting', { analyzer: this.name, code: code ?? '', signal: signal ?? '', inMs: this.backoffMs });
      this.restartTimer = setTimeout(() => {
        this.restartsValue++;
        this.start();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
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
    const child = this.child;
    if (!child) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    });
  }
}
