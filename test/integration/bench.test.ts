/**
 * `npm run bench` end to end on its quickest settings: one SFU point (server in its own process,
 * a publisher and a subscriber on wrtc, the direct baseline) and one model's throughput. Checks
 * that it measures what it says (frames decoded, the painted clock read back, the report and JSON
 * written), never how fast anything is: timings live in BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { BenchResult } from '../../scripts/bench/report.ts';
import { DATA_DIR } from '../helpers/images.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'dfs-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/bench.ts', ...args], { cwd: REPO, env: { ...process.env, DFS_DATA_DIR: DATA_DIR }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

// One retry: the SFU point runs @roamhq/wrtc, whose native code once killed the bench by a signal
// mid-point, printing nothing, on a loaded CI machine (2 Dec 2026: code null, 77 of 78 files
// passed). A crash in that library is not what this test checks; twice in a row still fails it.
it('measures one SFU point and one model, and writes the report and JSON', { timeout: 90_000, retry: 1 }, async () => {
  const json = path.join(dir, 'out.json');
  const { code, signal, stdout, stderr } = await run(['--only', 'sfu,inference', '--sfu-points', '1x1', '--seconds', '2', '--models', 'meso4-df', '--batches', '1,2', '--inference-seconds', '0.2', '--json', json]);
  expect(code, `${signal ? `killed by ${signal}\n` : ''}${stderr}`).toBe(0);
  const r = JSON.parse(readFileSync(json, 'utf8')) as BenchResult;
  expect(r.errors).toEqual({});
  expect(r.machine.cores).toBeGreaterThan(0);
  const pt = r.sfu!.points[0]!;
  expect(pt).toMatchObject({ publishers: 1, subscribersPerPublisher: 1, forwarded: 1 });
  // Video went through the SFU and the direct link, and the clock painted into it was read back.
  expect(pt.receivedFps).toBeGreaterThan(0);
  expect(pt.latencyMs.n).toBeGreaterThan(0);
  expect(r.sfu!.direct.latencyMs.n).toBeGreaterThan(0);
  expect(r.sfu!.direct.codec).toBe('video/VP8');
  expect(r.sfu!.direct.runs).toHaveLength(2);
  expect(pt.serverCpu).toBeGreaterThan(0);
  // One point cannot determine the CPU fit; the report says nothing rather than something wrong.
  expect(r.sfu!.fit).toBeUndefined();
  expect(r.inference!.rows.map((x) => [x.model, x.batch])).toEqual([
    ['meso4-df', 1],
    ['meso4-df', 2],
  ]);
  expect(stdout).toContain('### SFU (werift)');
  expect(stdout).toContain('| meso4-df | cpu | 2 |');
  expect(stdout).toContain('command: `npm run bench -- --only sfu,inference');
});

it('refuses bad arguments with usage', async () => {
  const { code, stderr } = await run(['--only', 'everything']);
  expect(code).toBe(2);
  expect(stderr).toMatch(/unknown section "everything"[\s\S]*usage: npm run bench/);
});
