/**
 * A model in a worker thread of its own (sessionThread.ts), supervised: a thread that exits, or
 * that sits on one run longer than `runTimeoutMs` (a stuck native call), is replaced by a fresh
 * one, as LiveKit's agents supervise their job processes.
 *
 * Why: the voice model runs there (InferenceRuntime's header), and before this a thread that died
 * left the synthetic-voice check failing every window for the rest of the analyzer's life. A
 * failed run counts as a lost sample, so the caller showed "analysis degraded" (honest), but
 * nothing brought the check back short of restarting the analyzer.
 *
 * - Runs in flight when the thread goes are rejected (each a lost sample: the Scheduler counts
 *   it), and so are runs asked for while the new thread loads: nothing waits on a thread that may
 *   never come back, and the analyzer's queues stay bounded.
 * - Restarts back off (0.5 s, doubling with each restart in the window, at most 30 s) and are limited to `maxRestarts` within
 *   `restartWindowMs`: a model that kills its thread at every start (a bad provider, a corrupt
 *   file) stays down with one error in the log instead of looping, and every run then fails fast.
 * - release() ends it for good; a release is never mistaken for a crash.
 * - A thread is never terminated inside a run: onnxruntime-node then throws an uncatchable
 *   Napi::Error and the whole process aborts (seen in CI). A thread with a run in progress is
 *   retired instead: told to close after that run (sessionThread.ts), and no longer waited for; a
 *   truly stuck one lingers until its native call returns (at most maxRestarts of them).
 */
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { logger } from '../../log.ts';
import { fromWire, toWire, type SessionThreadData, type SessionThreadReply } from './sessionThread.ts';

const log = logger('inference');

export interface ThreadedModelOptions {
  /** Longest one run may take before the thread counts as stuck (default 30 s; AASIST-L takes < 1 s). */
  runTimeoutMs?: number;
  /** Restarts allowed within restartWindowMs before the model stays down (default 5 in 10 min). */
  maxRestarts?: number;
  restartWindowMs?: number;
}

type Ready = Extract<SessionThreadReply, { ready: true }>;
interface Pending {
  resolve: (o: Record<string, ort.Tensor>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Runs each thread is working on (posted, not yet answered), whatever became of their promises. */
const busy = new WeakMap<Worker, Set<number>>();

const BACKOFF_MS = 500;
/** How long release() waits for a busy thread to finish its run and exit. */
const RETIRE_WAIT_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

export class ThreadedModel {
  readonly id: string;
  /** Restarts so far (the thread exited or got stuck, and a new one was started). */
  restarts = 0;
  private readonly data: SessionThreadData & { sessionThread: true };
  private readonly opts: Required<ThreadedModelOptions>;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private released = false;
  /** Why runs fail now: restarting, down for good, or released; undefined while a thread serves. */
  private down: Error | undefined = new Error('not started');
  /** When each restart within restartWindowMs happened. */
  private recent: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  /** A thread has served once: only then is a lost one restarted (a model that never loads is not). */
  private everReady = false;
  /** Called when a thread is ready again, or the model is down for good (restart()). */
  private waiters: Array<() => void> = [];

  constructor(id: string, data: SessionThreadData, opts: ThreadedModelOptions = {}) {
    this.id = id;
    this.data = { ...data, sessionThread: true };
    this.opts = { runTimeoutMs: opts.runTimeoutMs ?? 30_000, maxRestarts: opts.maxRestarts ?? 5, restartWindowMs: opts.restartWindowMs ?? 10 * 60_000 };
  }

  /** Starts the first thread; rejects when no provider loads the model (no restarts for that). */
  async start(): Promise<Ready> {
    return this.spawn();
  }

  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const worker = this.worker;
    if (this.down || !worker) return Promise.reject(this.down ?? new Error(`model "${this.id}" has no thread`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.replace(worker, new Error(`a run of model "${this.id}" took over ${this.opts.runTimeoutMs} ms: its thread is stuck`)), this.opts.runTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      busy.get(worker)?.add(id);
      worker.postMessage({ id, feeds: Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toWire(v)])) });
    });
  }

  /**
   * Replaces the thread now, as if it had died (what the stuck-run watchdog does; tests). Resolves
   * once a new thread serves, or the model is down for good.
   */
  restart(reason = 'asked to restart'): Promise<void> {
    const w = this.worker;
    if (!w) return Promise.resolve();
    const settled = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.replace(w, new Error(`the inference thread of model "${this.id}" was restarted: ${reason}`));
    return settled;
  }

  async release(): Promise<void> {
    this.released = true;
    clearTimeout(this.restartTimer);
    this.fail(new Error(`model "${this.id}" was released`));
    this.settle();
    const w = this.worker;
    this.worker = undefined;
    if (w) await retire(w, { wait: true });
  }

  private spawn(): Promise<Ready> {
    const worker = new Worker(new URL('./sessionThread.ts', import.meta.url), { workerData: this.data });
    busy.set(worker, new Set());
    this.worker = worker;
    return new Promise<Ready>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: SessionThreadReply) => {
        if ('ready' in m) {
          ready = true;
          this.everReady = true;
          this.down = undefined;
          this.settle();
          return resolve(m);
        }
        if ('failed' in m) {
          const err = new Error(`model "${this.id}" could not be loaded on any provider: ${m.failed}`);
          this.down = err;
          reject(err);
          void worker.terminate();
          return;
        }
        busy.get(worker)?.delete(m.id);
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if ('error' in m) p.reject(new Error(m.error));
        else p.resolve(Object.fromEntries(Object.entries(m.outputs).map(([k, v]) => [k, fromWire(v)])));
      });
      worker.on('error', (err) => {
        if (!ready) reject(err);
        this.lost(worker, err);
      });
      worker.on('exit', (code) => {
        const err = new Error(`the inference thread of model "${this.id}" exited (code ${code})`);
        if (!ready) reject(err);
        this.lost(worker, err);
      });
    });
  }

  /** Retires `worker` (if it is still the current one) and starts another (lost()). */
  private replace(worker: Worker, why: Error): void {
    if (this.worker !== worker) return;
    log.warn('inference thread stuck or asked to restart; replacing it', { model: this.id, reason: why.message });
    this.lost(worker, why);
    void retire(worker, { wait: false });
  }

  /** The current thread is gone: fail its runs and, unless released or out of restarts, start another. */
  private lost(worker: Worker, why: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.fail(why);
    if (this.released || !this.everReady) return;
    const now = Date.now();
    this.recent = this.recent.filter((t) => now - t < this.opts.restartWindowMs);
    if (this.recent.length >= this.opts.maxRestarts) {
      this.down = new Error(`${why.message}; not restarted: ${this.opts.maxRestarts} restarts within ${Math.round(this.opts.restartWindowMs / 1000)} s`);
      log.error('inference thread keeps failing; model stays down', { model: this.id, reason: why.message, restarts: this.restarts });
      this.settle();
      return;
    }
    // 0.5 s for the first loss in the window, doubling with each further one.
    const delay = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** this.recent.length);
    this.recent.push(now);
    this.down = new Error(`${why.message}; restarting`);
    log.warn('inference thread lost; restarting', { model: this.id, reason: why.message, inMs: delay, attempt: this.recent.length });
    this.restartTimer = setTimeout(() => {
      if (this.released) return;
      this.restarts++;
      this.spawn().then(
        () => log.info('inference thread restarted', { model: this.id, restarts: this.restarts }),
        (err: Error) => log.error('inference thread could not be restarted', { model: this.id, err: err.message }),
      );
    }, delay);
    this.restartTimer.unref();
  }

  private settle(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private fail(err: Error): void {
    this.down = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

/**
 * Ends a thread without ever interrupting a run: an idle one is terminated; a busy one is told to
 * close after its run (it then exits by itself). `wait`: until it has exited, or RETIRE_WAIT_MS.
 */
async function retire(worker: Worker, o: { wait: boolean }): Promise<void> {
  if ((busy.get(worker)?.size ?? 0) === 0) {
    await worker.terminate();
    return;
  }
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ close: true });
  worker.unref();
  // A stuck run may never end: wait a while, then leave the thread to finish on its own.
  if (o.wait) await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, RETIRE_WAIT_MS).unref())]);
}
