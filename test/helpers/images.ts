/** Test images from the shared data folder: JPEG decoding with EXIF orientation, and I420 conversion. */
import fs from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { rgbSource, type ImageSource } from '../../server/src/analyzer/vision/image.ts';

/** The shared test data (../shared/data beside the checkout, or DFS_DATA_DIR). */
export const DATA_DIR = process.env.DFS_DATA_DIR ?? path.resolve(import.meta.dirname, '../../../shared/data');

/** Decodes a JPEG to RGBA, turned upright per its EXIF orientation. */
export function loadJpeg(rel: string): ImageSource {
  const bytes = fs.readFileSync(path.join(DATA_DIR, rel));
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  return rgbSource(orient(img, exifOrientation(bytes)));
}

function exifOrientation(jpg: Uint8Array): number {
  const buf = Buffer.from(jpg.buffer, jpg.byteOffset, jpg.byteLength);
  const at = buf.indexOf('Exif\0\0');
  if (at < 0) return 1;
  const tiff = at + 6;
  const le = buf.toString('latin1', tiff, tiff + 2) === 'II';
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const ifd = tiff + u32(tiff + 4);
  for (let i = 0, n = u16(ifd); i < n; i++) {
    const entry = ifd + 2 + 12 * i;
    if (u16(entry) === 0x0112) return u16(entry + 8);
  }
  return 1;
}

/** Applies EXIF orientations 1, 3, 6 and 8 (the ones cameras write). */
function orient(img: { width: number; height: number; data: Uint8Array }, orientation: number): { width: number; height: number; data: Uint8Array } {
  if (orientation !== 3 && orientation !== 6 && orientation !== 8) return img;
  const { width: w, height: h } = img;
  const swap = orientation !== 3;
  const ow = swap ? h : w;
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [nx, ny] = orientation === 6 ? [h - 1 - y, x] : orientation === 8 ? [y, w - 1 - x] : [w - 1 - x, h - 1 - y];
      out.set(img.data.subarray((y * w + x) * 4, (y * w + x) * 4 + 4), (ny * ow + nx) * 4);
    }
  }
  return { width: ow, height: swap ? w : h, data: out };
}

/** RGBA -> I420, BT.601 limited range, chroma averaged over 2x2 blocks (as a camera pipeline would). */
export function toI420(src: ImageSource): { width: number; height: number; data: Uint8Array } {
  const { width: w, height: h, data: d } = src;
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  const out = new Uint8Array(w * h + 2 * cw * ch);
  for (let i = 0; i < w * h; i++) out[i] = Math.round(16 + 0.257 * d[i * 4]! + 0.504 * d[i * 4 + 1]! + 0.098 * d[i * 4 + 2]!);
  for (let by = 0; by < ch; by++) {
    for (let bx = 0; bx < cw; bx++) {
      let [r, g, b, n] = [0, 0, 0, 0];
      for (let k = 0; k < 4; k++) {
        const x = bx * 2 + (k & 1);
        const y = by * 2 + (k >> 1);
        if (x >= w || y >= h) continue;
        const i = (y * w + x) * 4;
        [r, g, b, n] = [r + d[i]!, g + d[i + 1]!, b + d[i + 2]!, n + 1];
      }
      [r, g, b] = [r / n, g / n, b / n];
      out[w * h + by * cw + bx] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      out[w * h + cw * ch + by * cw + bx] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  return { width: w, height: h, data: out };
}
