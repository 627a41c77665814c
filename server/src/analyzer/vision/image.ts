/**
 * Pixel access for the vision models: samples a (possibly rotated) crop of an I420 frame or an
 * RGB(A) image into a caller-owned Float32Array laid out as a model input, and maps points in
 * the crop back to source pixels.
 *
 * Geometry: pixel (i, j) covers [i, i+1) x [j, j+1), so its centre is at (i + 0.5, j + 0.5).
 * Sampling is bilinear. An output pixel whose centre maps outside the source is black (raw RGB
 * 0, i.e. `offset` after normalisation): letterbox padding stays neutral instead of smearing the
 * border into the crop. Inside the source, bilinear neighbours past the edge are clamped to it.
 *
 * I420 is converted with BT.601 limited range, what libwebrtc/libyuv produce for camera and
 * decoded frames.
 */
import type { I420Frame } from '../../headless/wrtc.ts';

export type ImageSource =
  | { readonly format: 'i420'; readonly width: number; readonly height: number; readonly data: Uint8Array }
  | {
      readonly format: 'rgb' | 'rgba';
      readonly width: number;
      readonly height: number;
      readonly data: Uint8Array | Uint8ClampedArray;
    };

/** A crop in source pixels: centre, size, and rotation of the crop's x axis (radians, clockwise on screen since y points down). */
export interface CropRegion {
  cx: number;
  cy: number;
  width: number;
  height: number;
  angle?: number;
}

export interface Point {
  x: number;
  y: number;
}

/** Output tensor description: value = raw (0..255) * scale + offset. */
export interface TensorSpec {
  readonly width: number;
  readonly height: number;
  readonly layout: 'nhwc' | 'nchw';
  readonly order: 'rgb' | 'bgr';
  readonly scale: number;
  readonly offset: number;
}

export const NORM_UNIT = { scale: 1 / 255, offset: 0 } as const;
export const NORM_SIGNED = { scale: 2 / 255, offset: -1 } as const;
export const NORM_RAW = { scale: 1, offset: 0 } as const;

/** Bytes an I420 picture of this size takes (the chroma planes at half size, rounded up). */
export function i420Bytes(width: number, height: number): number {
  return width * height + 2 * chromaWidth(width) * chromaHeight(height);
}

export function i420Source(frame: I420Frame): ImageSource {
  const need = i420Bytes(frame.width, frame.height);
  if (frame.data.length < need) throw new Error(`I420 frame ${frame.width}x${frame.height} needs ${need} bytes, has ${frame.data.length}`);
  return { format: 'i420', width: frame.width, height: frame.height, data: frame.data };
}

/** Wraps interleaved RGBA (jpeg-js's default decode) or RGB pixels. */
export function rgbSource(image: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }, channels: 3 | 4 = 4): ImageSource {
  const need = image.width * image.height * channels;
  if (image.data.length < need) throw new Error(`${channels}-channel image ${image.width}x${image.height} needs ${need} bytes, has ${image.data.length}`);
  return { format: channels === 4 ? 'rgba' : 'rgb', width: image.width, height: image.height, data: image.data };
}

/** Number of floats one sample of `spec` occupies. */
export function tensorSize(spec: TensorSpec): number {
  return spec.width * spec.height * 3;
}

/** Square, unrotated region covering the whole source, padded on the short side (aspect-preserving letterbox). */
export function letterboxRegion(width: number, height: number): CropRegion {
  const side = Math.max(width, height);
  return { cx: width / 2, cy: height / 2, width: side, height: side, angle: 0 };
}

/**
 * Samples `region` of `src` into `out` starting at `outOffset` (so batches can share one buffer).
 * Allocates nothing.
 */
export function sampleCrop(src: ImageSource, region: CropRegion, spec: TensorSpec, out: Float32Array, outOffset = 0): void {
  const W = spec.width;
  const H = spec.height;
  const plane = W * H;
  if (outOffset < 0 || outOffset + plane * 3 > out.length) throw new RangeError(`output buffer too small for ${W}x${H}x3 at offset ${outOffset}`);
  const angle = region.angle ?? 0;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  // Source-space step per output pixel along the crop's x (u) and y (v) axes.
  const sx = region.width / W;
  const sy = region.height / H;
  const dxu = cos * sx;
  const dyu = sin * sx;
  const dxv = -sin * sy;
  const dyv = cos * sy;
  // Source position of output pixel (0, 0)'s centre.
  const lx0 = (0.5 - W / 2) * sx;
  const ly0 = (0.5 - H / 2) * sy;
  const x00 = region.cx + cos * lx0 - sin * ly0;
  const y00 = region.cy + sin * lx0 + cos * ly0;

  const nhwc = spec.layout === 'nhwc';
  const bgr = spec.order === 'bgr';
  // Where channel R/G/B goes, as offsets from the pixel's first element.
  const cStride = nhwc ? 1 : plane;
  const rAt = (bgr ? 2 : 0) * cStride;
  const gAt = cStride;
  const bAt = (bgr ? 0 : 2) * cStride;
  const pStride = nhwc ? 3 : 1;
  const w = src.width;
  const h = src.height;
  const d = src.data;
  const i420 = src.format === 'i420';
  const ch = src.format === 'rgba' ? 4 : 3;
  const cw = chromaWidth(w);
  const chh = chromaHeight(h);
  const uBase = w * h;
  const vBase = uBase + cw * chh;
  const { scale, offset } = spec;

  for (let v = 0; v < H; v++) {
    let x = x00 + v * dxv;
    let y = y00 + v * dyv;
    let o = outOffset + v * W * pStride;
    for (let u = 0; u < W; u++, x += dxu, y += dyu, o += pStride) {
      let r = 0;
      let g = 0;
      let b = 0;
      if (x >= 0 && y >= 0 && x < w && y < h) {
        // Bilinear neighbours and weights, shared by all channels of an interleaved image.
        const fx = x - 0.5;
        const fy = y - 0.5;
        // floor() for fx, fy >= -0.5 (x, y >= 0 here), without the call.
        const ix = fx < 0 ? -1 : fx | 0;
        const iy = fy < 0 ? -1 : fy | 0;
        const ax = fx - ix;
        const ay = fy - iy;
        const x0 = ix < 0 ? 0 : ix;
        const x1 = ix + 1 < w ? ix + 1 : w - 1;
        const y0 = iy < 0 ? 0 : iy;
        const y1 = iy + 1 < h ? iy + 1 : h - 1;
        if (i420) {
          const Y = lerp2(d[y0 * w + x0]!, d[y0 * w + x1]!, d[y1 * w + x0]!, d[y1 * w + x1]!, ax, ay) - 16;
          // Bilinear U and V on the half-resolution planes at luma position (x, y); interpolating
          // YUV then converting equals converting then interpolating (the map is affine up to
          // clamping). Both planes share neighbours and weights: worked out once per pixel
          // (sampleCrop is ~2% of a core per analysed stream, BENCHMARKS.md; this and the
          // call-free floor made it ~16% faster, same output to the bit).
          const cfx = x / 2 - 0.5;
          const cfy = y / 2 - 0.5;
          const cix = cfx < 0 ? -1 : cfx | 0;
          const ciy = cfy < 0 ? -1 : cfy | 0;
          const cax = cfx - cix;
          const cay = cfy - ciy;
          const cx0 = cix < 0 ? 0 : cix;
          const cx1 = cix + 1 < cw ? cix + 1 : cw - 1;
          const cr0 = (ciy < 0 ? 0 : ciy) * cw;
          const cr1 = (ciy + 1 < chh ? ciy + 1 : chh - 1) * cw;
          const U = lerp2(d[uBase + cr0 + cx0]!, d[uBase + cr0 + cx1]!, d[uBase + cr1 + cx0]!, d[uBase + cr1 + cx1]!, cax, cay) - 128;
          const V = lerp2(d[vBase + cr0 + cx0]!, d[vBase + cr0 + cx1]!, d[vBase + cr1 + cx0]!, d[vBase + cr1 + cx1]!, cax, cay) - 128;
          r = clamp255(1.164 * Y + 1.596 * V);
          g = clamp255(1.164 * Y - 0.392 * U - 0.813 * V);
          b = clamp255(1.164 * Y + 2.017 * U);
        } else {
          const i00 = (y0 * w + x0) * ch;
          const i10 = (y0 * w + x1) * ch;
          const i01 = (y1 * w + x0) * ch;
          const i11 = (y1 * w + x1) * ch;
          r = lerp2(d[i00]!, d[i10]!, d[i01]!, d[i11]!, ax, ay);
          g = lerp2(d[i00 + 1]!, d[i10 + 1]!, d[i01 + 1]!, d[i11 + 1]!, ax, ay);
          b = lerp2(d[i00 + 2]!, d[i10 + 2]!, d[i01 + 2]!, d[i11 + 2]!, ax, ay);
        }
      }
      out[o + rAt] = r * scale + offset;
      out[o + gAt] = g * scale + offset;
      out[o + bAt] = b * scale + offset;
    }
  }
}

/** Maps a point in output-pixel coordinates of a crop (as models report them) back to source pixels. */
export function cropToSource(region: CropRegion, outWidth: number, outHeight: number, u: number, v: number): Point {
  const angle = region.angle ?? 0;
  const lx = (u / outWidth - 0.5) * region.width;
  const ly = (v / outHeight - 0.5) * region.height;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return { x: region.cx + cos * lx - sin * ly, y: region.cy + sin * lx + cos * ly };
}

/**
 * Mean full-range luma (0..255, BT.601 weights) of an axis-aligned rectangle, clipped to the
 * source. Reads a strided grid of at most about 16k pixels: plenty for a brightness threshold.
 * Returns NaN when the rectangle misses the source.
 */
export function meanLuma(src: ImageSource, rect?: { x: number; y: number; width: number; height: number }): number {
  const x0 = Math.max(0, Math.floor(rect?.x ?? 0));
  const y0 = Math.max(0, Math.floor(rect?.y ?? 0));
  const x1 = Math.min(src.width, Math.ceil(rect ? rect.x + rect.width : src.width));
  const y1 = Math.min(src.height, Math.ceil(rect ? rect.y + rect.height : src.height));
  if (x1 <= x0 || y1 <= y0) return Number.NaN;
  const step = Math.max(1, Math.floor(Math.sqrt(((x1 - x0) * (y1 - y0)) / 16384)));
  const d = src.data;
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y += step) {
    if (src.format === 'i420') {
      for (let x = x0, i = y * src.width + x0; x < x1; x += step, i += step) sum += d[i]!;
    } else {
      const ch = src.format === 'rgba' ? 4 : 3;
      for (let x = x0, i = (y * src.width + x0) * ch; x < x1; x += step, i += step * ch) {
        sum += 0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!;
      }
    }
    n += Math.ceil((x1 - x0) / step);
  }
  const mean = sum / n;
  return src.format === 'i420' ? clamp255(((mean - 16) * 255) / 219) : mean;
}

function chromaWidth(w: number): number {
  return (w + 1) >> 1;
}
function chromaHeight(h: number): number {
  return (h + 1) >> 1;
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function lerp2(p00: number, p10: number, p01: number, p11: number, ax: number, ay: number): number {
  const top = p00 + (p10 - p00) * ax;
  const bottom = p01 + (p11 - p01) * ax;
  return top + (bottom - top) * ay;
}

