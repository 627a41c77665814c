/**
 * One onnxruntime session in a worker thread of its own (InferenceRuntime.load(id, { thread: true })).
 *
 * Why: onnxruntime-node runs a session synchronously on the JS thread that calls run() (its
 * backend wraps the native call in setImmediate; measured: no timer fires during a run). The face
 * models take 1-4 ms a run and do not matter; AASIST-L takes 140-580 ms a window on this 2-core
 * machine, and for all that time the analyzer's event loop stood still: no frame handed over, no
 * video sample scored, no heartbeat. In `npm run bench -- --only analyzer` (4 callers) the video
 * samples' p95 sample-to-score was 690 ms with the callers' voices and 86 ms without them. In a
 * thread of its own the voice model runs beside the event loop (and on another core).
 *
 * Protocol (workerData: { path, providers, sessionOptions }): the thread answers
 * { ready, provider, inputNames, outputNames } once a provider of the chain loads the model, or
 * { failed: message }. Then each { id, feeds } gets { id, outputs } or { id, error }. Tensors
 * travel as { type, dims, data } (structured clone copies the typed arrays). { close } ends the
 * thread once the run in progress is done: the session is released and the port closed, so the
 * thread exits by itself. Never Worker.terminate() a thread inside a run: onnxruntime-node then
 * throws a Napi::Error nobody can catch, and the whole process aborts ("terminate called after
 * throwing an instance of 'Napi::Error'", seen in CI on 2 Dec 2026).
 */
import './telemetry.ts';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface WireTensor {
  type: ort.Tensor.Type;
  dims: readonly number[];
  data: ort.Tensor.DataType;
}
export interface SessionThreadData {
  path: string;
  providers: string[];
  sessionOptions: ort.InferenceSession.SessionOptions;
}
export type SessionThreadRequest = { id: number; feeds: Record<string, WireTensor> } | { close: true };
export type SessionThreadReply =
  | { ready: true; provider: string; inputNames: readonly string[]; outputNames: readonly string[]; errors: string[] }
  | { failed: string }
  | { id: number; outputs: Record<string, WireTensor> }
  | { id: number; error: string };

export function toWire(t: ort.Tensor): WireTensor {
  return { type: t.type, dims: t.dims, data: t.data };
}

export function fromWire(w: WireTensor): ort.Tensor {
  return new ort.Tensor(w.type, w.data as Float32Array, w.dims);
}

async function main(port: NonNullable<typeof parentPort>, data: SessionThreadData): Promise<void> {
  const post = (m: SessionThreadReply) => port.postMessage(m);
  const errors: string[] = [];
  let session: ort.InferenceSession | undefined;
  let provider = '';
  for (const p of data.providers) {
    try {
      session = await ort.InferenceSession.create(data.path, { ...data.sessionOptions, executionProviders: [p] });
      provider = p;
      break;
    } catch (err) {
      errors.push(`${p}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (!session) {
    post({ failed: errors.join('; ') });
    return;
  }
  const s = session;
  // One run at a time, in arrival order (the session is not re-entrant in any useful way).
  let chain = Promise.resolve();
  let closing = false;
  port.on('message', (m: SessionThreadRequest) => {
    if ('close' in m) {
      closing = true;
      chain = chain.then(async () => {
        await s.release().catch(() => undefined);
        port.close();
      });
      return;
    }
    chain = chain.then(async () => {
      if (closing) return;
      try {
        const feeds = Object.fromEntries(Object.entries(m.feeds).map(([k, v]) => [k, fromWire(v)]));
        const out = await s.run(feeds);
        post({ id: m.id, outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, toWire(v)])) });
      } catch (err) {
        post({ id: m.id, error: (err as Error).message });
      }
    });
  });
  post({ ready: true, provider, inputNames: s.inputNames, outputNames: s.outputNames, errors });
}

if (parentPort && workerData && (workerData as { sessionThread?: boolean }).sessionThread) {
  void main(parentPort, workerData as SessionThreadData);
}
