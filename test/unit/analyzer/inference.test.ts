import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../../server/src/analyzer/inference/Batcher.ts';
import { InferenceRuntime } from '../../../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry, ModelRegistryError, type ModelEntry } from '../../../server/src/analyzer/inference/ModelRegistry.ts';
import type { ModelRunner } from '../../../server/src/analyzer/inference/ModelRunner.ts';
import { fallbackChain, parseProvider, ProviderError } from '../../../server/src/analyzer/inference/providers.ts';

const entry = (over: Partial<ModelEntry> = {}): ModelEntry => ({
  id: 'toy',
  file: 'toy.onnx',
  sha256: 'a'.repeat(64),
  task: 'face-deepfake',
  input: { name: 'input', shape: ['N', 2], layout: 'NC', channels: 'none' },
  normalisation: 'none',
  outputs: 'y',
  batch: 'dynamic',
  license: 'test',
  source: 'test',
  ...over,
});

describe('model registry', () => {
  it('names the model and every folder searched when the file is missing', async () => {
    const reg = new ModelRegistry([entry()], ['/nowhere/a', '/nowhere/b']);
    await expect(reg.resolve('toy')).rejects.toThrow(ModelRegistryError);
    await expect(reg.resolve('toy')).rejects.toThrow(/model "toy" \(toy\.onnx\) not found; searched: \/nowhere\/a\/toy\.onnx, \/nowhere\/b\/toy\.onnx/);
  });

  it('refuses a file whose sha256 does not match, naming both hashes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-models-'));
    writeFileSync(join(dir, 'toy.onnx'), 'not the model');
    const reg = new ModelRegistry([entry()], [dir]);
    await expect(reg.resolve('toy')).rejects.toThrow(/has sha256 [0-9a-f]{64}, but the manifest expects a{64}/);
  });

  it('accepts the right file, and finds package models inside their npm package', async () => {
    const reg = ModelRegistry.load(undefined, ['/nowhere']);
    await expect(reg.resolve('blazeface-short')).resolves.toMatch(/jp\.keijiro\.mediapipe\.blazeface\/ONNX\/face_detection_front_128x128_barracuda\.onnx$/);
    // A copy of a shipped model in a second folder is found there after a missing first folder.
    const dir = mkdtempSync(join(tmpdir(), 'dfs-models-'));
    copyFileSync(await reg.resolve('blazeface-short'), join(dir, 'face.onnx'));
    const blaze = reg.entry('blazeface-short');
    const local = new ModelRegistry([{ ...blaze, package: undefined, file: 'face.onnx' } as ModelEntry], ['/nowhere', dir]);
    await expect(local.resolve('blazeface-short')).resolves.toBe(join(dir, 'face.onnx'));
  });

  it('refuses an unknown model id and a malformed manifest', () => {
    const reg = new ModelRegistry([entry()], []);
    expect(() => reg.entry('nope')).toThrow(/unknown model "nope"; the manifest lists: toy/);
    const dir = mkdtempSync(join(tmpdir(), 'dfs-manifest-'));
    writeFileSync(join(dir, 'm.json'), JSON.stringify({ version: 1, models: [{ id: 'x' }] }));
    expect(() => ModelRegistry.load(join(dir, 'm.json'))).toThrow(/invalid model manifest/);
  });

  it('the shipped manifest is valid and covers every model the analyzer uses', () => {
    const reg = ModelRegistry.load();
    expect(reg.ids).toEqual(expect.arrayContaining(['blazeface-short', 'meso4-df', 'meso4-f2f', 'minifasnet-v2-2.7', 'minifasnet-v1se-4.0', 'aasist-l', 'face-landmarks']));
  });
});

describe('execution providers', () => {
  it('accepts cpu, webgpu and cuda and refuses anything else', () => {
    expect(parseProvider('CPU')).toBe('cpu');
    expect(parseProvider('webgpu')).toBe('webgpu');
    expect(parseProvider('cuda')).toBe('cuda');
    expect(() => parseProvider('tpu')).toThrow(ProviderError);
    expect(() => parseProvider('tpu')).toThrow(/unknown execution provider "tpu"; expected one of: cpu, webgpu, cuda/);
  });

  it('falls back to cpu', () => {
    expect(fallbackChain('cuda')).toEqual(['cuda', 'cpu']);
    expect(fallbackChain('cpu')).toEqual(['cpu']);
  });
});

/** A model that doubles its input, recording batch sizes and order. */
function doubler(delayMs: number): ModelRunner & { batches: number[][] } {
  const batches: number[][] = [];
  return {
    inputNames: ['x'],
    outputNames: ['y'],
    batches,
    async run(feeds) {
      const x = feeds.x!;
      batches.push(Array.from(x.data as Float32Array));
      await new Promise((r) => setTimeout(r, delayMs));
      return { y: new Tensor('float32', (x.data as Float32Array).map((v) => v * 2), x.dims) };
    },
  };
}

const one = (v: number) => ({ x: new Tensor('float32', new Float32Array([v]), [1, 1]) });

describe('cross-stream batcher', () => {
  it('batches concurrent requests up to maxBatch and returns each caller its own result', async () => {
    const model = doubler(5);
    const b = new Batcher(model, { maxBatch: 4, maxWaitMs: 20 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((v) => b.run(one(v))));
    expect(results.map((r) => (r.y!.data as Float32Array)[0])).toEqual([2, 4, 6, 8, 10, 12]);
    expect(model.batches.map((x) => x.length)).toEqual([4, 2]);
    expect(results[0]!.y!.dims).toEqual([1, 1]);
  });

  it('waits at most maxWaitMs for a batch to fill', async () => {
    const b = new Batcher(doubler(0), { maxBatch: 32, maxWaitMs: 30 });
    const t0 = performance.now();
    await b.run(one(1));
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(25);
    expect(waited).toBeLessThan(500);
  });

  it('serves suspicious streams first', async () => {
    const model = doubler(20);
    const b = new Batcher(model, { maxBatch: 2, maxWaitMs: 0 });
    const all = [b.run(one(1)), b.run(one(2)), b.run(one(3)), b.run(one(9), 10), b.run(one(8), 10)];
    await Promise.all(all);
    // The first item went alone at once; then the two high-priority ones jump the queue.
    expect(model.batches).toEqual([[1], [9, 8], [2, 3]]);
  });

  it('refuses work beyond its bound instead of queueing without limit', async () => {
    const b = new Batcher(doubler(50), { maxBatch: 1, maxWaitMs: 0, maxPending: 3 });
    const runs = Array.from({ length: 6 }, (_, i) => b.run(one(i)).then(() => 'ok', (e: Error) => e.name));
    expect(await Promise.all(runs)).toEqual(['ok', 'ok', 'ok', 'ok', 'BatcherFullError', 'BatcherFullError']);
  });
});

describe('inference runtime', () => {
  it('falls back to CPU when the requested provider cannot load, and says which it runs on', async () => {
    const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cuda' });
    const model = await runtime.load('blazeface-short');
    expect(model.provider).toBe('cpu');
    const out = await model.run({ 'input:0': new Tensor('float32', new Float32Array(128 * 128 * 3), [1, 128, 128, 3]) });
    expect(Object.keys(out)).toHaveLength(4);
    await runtime.close();
  });

  it('a model in its own thread gives the same outputs, and the event loop runs meanwhile', async () => {
    const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu', intraOpThreads: 1 });
    const inline = await runtime.load('aasist-l');
    const threaded = await runtime.load('aasist-l', { thread: true });
    expect(threaded.provider).toBe('cpu');
    expect(threaded.inputNames).toEqual(inline.inputNames);
    let seed = 7;
    const wave = new Float32Array(64600).map(() => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2);
    const feeds = () => ({ [inline.inputNames[0]!]: new Tensor('float32', wave.slice(), [1, 64600]) });
    const name = inline.outputNames[0]!;
    const a = (await inline.run(feeds()))[name]!;
    // Timer ticks while each runs: none in-process (onnxruntime-node blocks the loop), many threaded.
    const ticksDuring = async (run: () => Promise<unknown>) => {
      let ticks = 0;
      const iv = setInterval(() => ticks++, 2);
      await run();
      clearInterval(iv);
      return ticks;
    };
    let b: Tensor | undefined;
    const threadedTicks = await ticksDuring(async () => (b = (await threaded.run(feeds()))[name]));
    const inlineTicks = await ticksDuring(() => inline.run(feeds()));
    expect(Array.from(b!.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
    expect(b!.dims).toEqual(a.dims);
    expect(inlineTicks).toBe(0);
    expect(threadedTicks).toBeGreaterThan(5);
    // A bad input is that run's error; the thread keeps serving.
    await expect(threaded.run({ [inline.inputNames[0]!]: new Tensor('float32', new Float32Array(10), [1, 10]) })).rejects.toThrow(/./);
    expect((await threaded.run(feeds()))[name]!.dims).toEqual(a.dims);
    await runtime.close();
    // Released: runs are refused, not left hanging.
    await expect(threaded.run(feeds())).rejects.toThrow(/released/);
  }, 60_000);

  it('a model thread that dies or gets stuck is replaced: its runs in flight fail, then it serves again; one that keeps failing stays down', async () => {
    const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu', intraOpThreads: 1, thread: { runTimeoutMs: 5000, maxRestarts: 2, restartWindowMs: 60_000 } });
    const model = await runtime.load('blazeface-short', { thread: true });
    const feeds = () => ({ 'input:0': new Tensor('float32', new Float32Array(128 * 128 * 3).fill(0.1), [1, 128, 128, 3]) });
    const before = await model.run(feeds());
    // The thread goes (as a crash would take it): the run in flight fails, with why.
    const inFlight = model.run(feeds());
    const restarted = model.restart!('test: as if it had crashed');
    await expect(inFlight).rejects.toThrow(/was restarted: test: as if it had crashed/);
    // While the new thread loads, a run fails at once (a lost sample) rather than waiting.
    await expect(model.run(feeds())).rejects.toThrow(/restarting/);
    await restarted;
    const after = await model.run(feeds());
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const k of Object.keys(before)) expect(Array.from(after[k]!.data as Float32Array)).toEqual(Array.from(before[k]!.data as Float32Array));
    // Two restarts within the window are allowed; the third loss leaves it down, failing fast.
    await model.restart!('test: second');
    await model.restart!('test: third');
    await expect(model.run(feeds())).rejects.toThrow(/not restarted: 2 restarts within 60 s/);
    await runtime.close();

    // Released with a run in progress: the run is refused, the thread finishes it and exits, and
    // nothing aborts (a thread terminated inside an onnxruntime run takes the whole process down).
    const again = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu', intraOpThreads: 1 });
    const voice = await again.load('aasist-l', { thread: true });
    const running = voice.run({ [voice.inputNames[0]!]: new Tensor('float32', new Float32Array(64600).fill(0.01), [1, 64600]) });
    const refused = expect(running).rejects.toThrow(/released/);
    await new Promise((r) => setTimeout(r, 20)); // inside the run by now
    await again.close();
    await refused;

    // A run that outlasts runTimeoutMs means a stuck thread: it is replaced and the run fails.
    const strict = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu', intraOpThreads: 1, thread: { runTimeoutMs: 1 } });
    const slow = await strict.load('aasist-l', { thread: true });
    await expect(slow.run({ [slow.inputNames[0]!]: new Tensor('float32', new Float32Array(64600), [1, 64600]) })).rejects.toThrow(/took over 1 ms: its thread is stuck/);
    await strict.close();
  }, 60_000);

  it('a missing model file is an error naming the model, not a crash', async () => {
    const runtime = new InferenceRuntime(ModelRegistry.load(undefined, ['/nowhere']), { provider: 'cpu' });
    await expect(runtime.load('meso4-df')).rejects.toThrow(/model "meso4-df" \(Meso4_DF\.onnx\) not found; searched: \/nowhere\/Meso4_DF\.onnx/);
  });
});
