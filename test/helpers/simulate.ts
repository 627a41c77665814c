/**
 * Simulated callers as the product runs them: `scripts/simulate.ts` in its own process (so its
 * video painting and encoding do not share the test's event loop), with its log lines captured.
 * 8 fps rather than 12: on two cores shared with Chromium, every frame the SFU forwards and the
 * analyzer decodes is CPU the analysis needs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ClipName } from '../../server/src/simulate/clips.ts';
import { onLines } from '../../scripts/bench/proc.ts';
import { DATA_DIR } from './images.ts';
import { waitFor, type TestServer } from './server.ts';

const REPO = path.resolve(import.meta.dirname, '../..');

export interface SimulatedProcess {
  child: ChildProcess;
  sub: string;
  lines: string[];
  /** Resolves once the caller has joined. */
  joined: Promise<void>;
  stop(): Promise<void>;
}

export function simulateCaller(server: TestServer, o: { room: string; sub: string; clip: ClipName; respond?: boolean; name?: string; extra?: string[] }): SimulatedProcess {
  const token = server.token(o.room, 'patient', o.name ?? `Simulated ${o.clip}`, { sub: o.sub });
  const args = ['scripts/simulate.ts', '--url', server.url, '--token', token, '--room', o.room, '--role', 'patient', '--clip', o.clip, ...(o.respond === false ? ['--no-respond'] : []), '--fps', '8', ...(o.extra ?? [])];
  const child = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, DFS_DATA_DIR: DATA_DIR, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  // Whole lines only: a chunk can end mid-line.
  for (const stream of [child.stdout!, child.stderr!]) onLines(stream, (l) => l.trim() && lines.push(l));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const joined = Promise.race([
    waitFor(`simulated caller ${o.sub} joined`, () => lines.some((l) => l.includes('joined "')), 60000, 100).then(() => undefined),
    exited.then(() => {
      throw new Error(`simulated caller exited: ${lines.join('\n')}`);
    }),
  ]);
  joined.catch(() => undefined);
  return {
    child,
    sub: o.sub,
    lines,
    joined,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
