/** Test images from the shared data folder. */
import path from 'node:path';
import type { ImageSource } from '../../server/src/analyzer/vision/image.ts';
import { loadJpeg as loadJpegFile } from '../../server/src/simulate/stills.ts';

export { toI420 } from '../../server/src/simulate/stills.ts';

/** The shared test data (../shared/data beside the checkout, or DFS_DATA_DIR). */
export const DATA_DIR = process.env.DFS_DATA_DIR ?? path.resolve(import.meta.dirname, '../../../shared/data');

/** Decodes a JPEG of the shared data (path relative to DATA_DIR), turned upright per its EXIF orientation. */
export function loadJpeg(rel: string): ImageSource {
  return loadJpegFile(path.join(DATA_DIR, rel));
}
