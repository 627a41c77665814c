/** A full garbage collection from a test, for heap checks (V8's gc exposed at run time). */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Collects twice, each after the current task has ended: a WeakRef keeps its target alive until
 * then, and a finalised buffer's memory is released on the next collection.
 */
export async function collectGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = ((globalThis as { gc?: () => void }).gc ?? runInNewContext('gc')) as () => void;
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
}
