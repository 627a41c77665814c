import type { Tensor } from 'onnxruntime-node';

/**
 * Runs one ONNX model. Implemented by a plain onnxruntime session and by the cross-stream batcher
 * in front of one; detectors depend on this, not on onnxruntime directly.
 */
export interface ModelRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}
