/**
 * onnxruntime's telemetry off, for the product's "no cloud" promise.
 *
 * Since 1.29 the Linux and macOS builds of onnxruntime (onnxruntime-node's included) collect
 * telemetry for Microsoft's 1DS collector: on its first session it writes a device id and an
 * offline event queue (onnxruntime.db) under ~/.cache/Microsoft/DeveloperTools/.onnxruntime, to be
 * uploaded later. onnxruntime-node exposes no DisableTelemetryEvents; the runtime's own opt-out is
 * the environment variable ORT_DISABLE_TELEMETRY=1, read once when its environment is created (at
 * the first session), after which nothing is initialised, persisted or sent. This module sets it
 * in this process (native code reads the real environment, which process.env writes through to);
 * import it before creating any session. The embedded analyzer's parent sets it for the child too.
 */
export const TELEMETRY_ENV = { ORT_DISABLE_TELEMETRY: '1' } as const;

Object.assign(process.env, TELEMETRY_ENV);
