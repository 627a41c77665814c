/**
 * Every test worker (vitest's setupFiles) leaves through process.exit's path, not through Node's
 * natural teardown.
 *
 * Why: when a worker's event loop empties after its last test, Node frees the environment and runs
 * the native addons' finalizers; @roamhq/wrtc's can then crash (V8 "Check failed:
 * node->IsInUse()" inside napi_get_and_clear_last_exception, or a silent segfault: node-webrtc
 * issue 636, WonderInventions/node-webrtc issue 35). Every test of the file has passed by then, but
 * vitest sees its worker die, reports "Worker exited unexpectedly" and fails the run: 3 of the 6
 * clean-clone CI runs of 2 Dec 2026 that reached the tests, in a different wrtc test file each time. process.exit skips
 * that teardown (the product's own processes already leave that way, analyzer/main.ts). By the
 * time 'exit' fires the event loop is empty, so every message to vitest has been written.
 */
const KEY = Symbol.for('deepfake-shield.exitWithoutFinalizers');
const registry = globalThis as unknown as Record<symbol, boolean | undefined>;
if (!registry[KEY]) {
  registry[KEY] = true;
  process.once('exit', (code) => (process as unknown as { reallyExit(code: number): never }).reallyExit(code));
}
