/**
 * Still photos as video material: JPEG decoding (EXIF orientation applied), cover-fit scaling to a
 * frame size, and RGBA -> I420 conversion. Simulated callers and tests build their video from these.
 */
import fs from 'node:fs';
import jpeg from 'jpeg-js';
import { rgbSource, type ImageSource } from '../analyzer/vision/image.ts';
import type { I420Frame } from '../headless/wrtc.ts';

/** Decodes a JPEG to RGBA, turned upright per its EXIF orientation. */
export function loadJpeg(file: string): ImageSource {
  const bytes = fs.readFileSync(file);
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
export function toI420(src: ImageSource): I420Frame {
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

/** Scales and centre-crops an RGB(A) image to exactly fill width x height (bilinear), as RGBA. */
export function coverFit(src: ImageSource, width: number, height: number): ImageSource {
  if (src.format === 'i420') throw new Error('coverFit takes RGB(A) images');
  const ch = src.format === 'rgba' ? 4 : 3;
  const scale = Math.max(width / src.width, height / src.height);
  const ox = (src.width - width / scale) / 2;
  const oy = (src.height - height / scale) / 2;
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(src.height - 1, Math.max(0, oy + (y + 0.5) / scale - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(src.height - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(src.width - 1, Math.max(0, ox + (x + 0.5) / scale - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(src.width - 1, x0 + 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const a = src.data[(y0 * src.width + x0) * ch + c]!;
        const b = src.data[(y0 * src.width + x1) * ch + c]!;
        const d = src.data[(y1 * src.width + x0) * ch + c]!;
        const e = src.data[(y1 * src.width + x1) * ch + c]!;
        out[(y * width + x) * 4 + c] = Math.round((a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy);
      }
      out[(y * width + x) * 4 + 3] = 255;
    }
  }
  return rgbSource({ width, height, data: out });
}
