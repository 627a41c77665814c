/**
 * Serves MediaPipe's face-detection model and wasm runtime from the installed npm packages, so the
 * caller-side hints load from this server only (no CDN, nothing fetched from elsewhere at run time).
 *
 *   /vendor/mediapipe/face_detection_short_range.tflite   ← @mediapipe/face_detection
 *   /vendor/mediapipe/wasm/vision_wasm_internal.{js,wasm} ← @mediapipe/tasks-vision/wasm
 *   /vendor/mediapipe/wasm/vision_wasm_nosimd_internal.{js,wasm} (browsers without wasm SIMD)
 *
 * Only these whitelisted names are served; anything else under the prefix falls through (404).
 * The wasm runtime (13 MB) is gzipped once, lazily, and kept in memory (about 4 MB).
 * The model gets TFLite input metadata added in memory (see withImageInputMetadata below).
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { logger } from '../log.ts';

const log = logger('mediapipe');

export const MEDIAPIPE_PREFIX = '/vendor/mediapipe';
export const MEDIAPIPE_WASM_URL = `${MEDIAPIPE_PREFIX}/wasm`;
export const FACE_MODEL_URL = `${MEDIAPIPE_PREFIX}/face_detection_short_range.tflite`;

const gzipAsync = promisify(gzip);

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  wasm: 'application/wasm',
  tflite: 'application/octet-stream',
};

/** The file names are not versioned, so cache for a day and revalidate by ETag (which carries the package version). */
const CACHE_CONTROL = 'public, max-age=86400';

interface Asset {
  /** The file on disk (streamed), unless `body` holds the bytes to send. */
  path: string;
  body?: Buffer;
  type: string;
  etag: string;
  size: number;
  compressible: boolean;
}

function packageDirs(): { tasksVision: string; faceDetection: string } {
  const require = createRequire(import.meta.url);
  // @mediapipe/tasks-vision's "exports" do not include package.json; its main file sits at the package root.
  const tasksVision = dirname(require.resolve('@mediapipe/tasks-vision'));
  const faceDetection = dirname(require.resolve('@mediapipe/face_detection/package.json'));
  return { tasksVision, faceDetection };
}

function packageVersion(dir: string): string {
  try {
    const require = createRequire(import.meta.url);
    return String((require(join(dir, 'package.json')) as { version?: unknown }).version ?? '0');
  } catch {
    return '0';
  }
}

function buildAssets(): Map<string, Asset> {
  const { tasksVision, faceDetection } = packageDirs();
  const assets = new Map<string, Asset>();
  const add = (url: string, path: string, version: string, body?: Buffer): void => {
    const ext = path.slice(path.lastIndexOf('.') + 1);
    const st = statSync(path); // throws if a package is missing or incomplete
    const size = body?.length ?? st.size;
    assets.set(url, {
      path,
      ...(body ? { body } : {}),
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${version}-${size.toString(36)}-${Math.trunc(st.mtimeMs).toString(36)}"`,
      size,
      compressible: ext !== 'tflite',
    });
  };
  const modelPath = join(faceDetection, 'face_detection_short_range.tflite');
  const model = withImageInputMetadata(readFileSync(modelPath), { name: 'BlazeFace short range', mean: 127.5, std: 127.5 });
  add(FACE_MODEL_URL, modelPath, packageVersion(faceDetection), model);
  const visionVersion = packageVersion(tasksVision);
  for (const name of ['vision_wasm_internal', 'vision_wasm_nosimd_internal']) {
    for (const ext of ['js', 'wasm']) add(`${MEDIAPIPE_WASM_URL}/${name}.${ext}`, join(tasksVision, 'wasm', `${name}.${ext}`), visionVersion);
  }
  return assets;
}

// ---------------------------------------------------------------------------------------------
// TFLite metadata. The model in @mediapipe/face_detection is the plain BlazeFace short-range network
// without TFLite metadata, and MediaPipe Tasks refuses a float input without NormalizationOptions
// ("Input tensor has type float32: it requires specifying NormalizationOptions metadata"). MediaPipe
// Tasks' own model (blaze_face_short_range.tflite, a CDN download) carries such metadata; we add the
// equivalent here: an RGB image scaled by (x - 127.5) / 127.5 to [-1, 1], the range MediaPipe's
// face detection graph feeds this network. Nothing else in the model changes.
//
// FlatBuffer offsets point forwards only, so the patched file is: a new root Model table, a new
// `buffers` vector (old entries + one holding the metadata), a new `metadata` vector, the metadata
// itself, then the whole original file unchanged, shifted by a multiple of 16 (which keeps its
// internal relative offsets and its 16-byte buffer alignment valid). The new Model table points
// into the shifted original for every other field.
// ---------------------------------------------------------------------------------------------

const MODEL_FIELDS = 8; // version, operator_codes, subgraphs, description, buffers, metadata_buffer, metadata, signature_defs
const F_VERSION = 0;
const F_BUFFERS = 4;
const F_METADATA = 6;

/** Forward-only FlatBuffer writer: every reference must point to a later position. */
class FbWriter {
  private buf = Buffer.alloc(4096);
  len = 0;

  alloc(size: number, align = 1, offsetInAlign = 0): number {
    while ((this.len + offsetInAlign) % align !== 0) this.len++;
    const pos = this.len;
    this.len += size;
    if (this.len > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(this.len, this.buf.length * 2));
      this.buf.copy(bigger);
      this.buf = bigger;
    }
    return pos;
  }
  u8(pos: number, v: number): void {
    this.buf.writeUInt8(v, pos);
  }
  u32(pos: number, v: number): void {
    this.buf.writeUInt32LE(v, pos);
  }
  f32(pos: number, v: number): void {
    this.buf.writeFloatLE(v, pos);
  }
  ref(at: number, target: number): void {
    if (target <= at) throw new Error('flatbuffer offsets must point forwards');
    this.u32(at, target - at);
  }
  /** A table whose fields have these byte sizes (0 = absent); returns its position and each field's. */
  table(fieldSizes: number[]): { pos: number; fields: number[] } {
    const vt = this.alloc(4 + 2 * fieldSizes.length, 2);
    const pos = this.alloc(4, 4);
    const fields = fieldSizes.map((size) => (size > 0 ? this.alloc(size, size) : 0));
    this.buf.writeUInt16LE(4 + 2 * fieldSizes.length, vt);
    this.buf.writeUInt16LE(this.len - pos, vt + 2);
    fields.forEach((f, i) => this.buf.writeUInt16LE(f ? f - pos : 0, vt + 4 + 2 * i));
    this.buf.writeInt32LE(pos - vt, pos);
    return { pos, fields };
  }
  /** A vector of `count` 4-byte elements; returns the position of its length prefix. */
  vector(count: number): number {
    const pos = this.alloc(4 + 4 * count, 4);
    this.u32(pos, count);
    return pos;
  }
  string(s: string): number {
    const bytes = Buffer.from(s, 'utf8');
    const pos = this.alloc(4 + bytes.length + 1, 4);
    this.u32(pos, bytes.length);
    bytes.copy(this.buf, pos + 4);
    return pos;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
  copyIn(src: Uint8Array, pos: number): void {
    this.buf.set(src, pos);
  }
}

/** TFLite ModelMetadata (file identifier M001) for an RGB image input normalised as (x - mean) / std. */
function imageInputMetadata(name: string, mean: number, std: number): Buffer {
  const w = new FbWriter();
  const root = w.alloc(8, 4);
  w.copyIn(Buffer.from('M001'), 4);
  // ModelMetadata { name, description, version, subgraph_metadata }
  const model = w.table([4, 0, 0, 4]);
  w.ref(root, model.pos);
  w.ref(model.fields[0]!, w.string(name));
  const subgraphs = w.vector(1);
  w.ref(model.fields[3]!, subgraphs);
  // SubGraphMetadata { name, description, input_tensor_metadata }
  const subgraph = w.table([0, 0, 4]);
  w.ref(subgraphs + 4, subgraph.pos);
  const inputs = w.vector(1);
  w.ref(subgraph.fields[2]!, inputs);
  // TensorMetadata { name, description, dimension_names, content, process_units }
  const tensor = w.table([4, 0, 0, 4, 4]);
  w.ref(inputs + 4, tensor.pos);
  w.ref(tensor.fields[0]!, w.string('image'));
  // Content { content_properties_type = ImageProperties (2), content_properties }
  const content = w.table([1, 4]);
  w.ref(tensor.fields[3]!, content.pos);
  w.u8(content.fields[0]!, 2);
  const image = w.table([1]); // ImageProperties { color_space = RGB (1) }
  w.ref(content.fields[1]!, image.pos);
  w.u8(image.fields[0]!, 1);
  const units = w.vector(1);
  w.ref(tensor.fields[4]!, units);
  // ProcessUnit { options_type = NormalizationOptions (1), options }
  const unit = w.table([1, 4]);
  w.ref(units + 4, unit.pos);
  w.u8(unit.fields[0]!, 1);
  const norm = w.table([4, 4]); // NormalizationOptions { mean: [float], std: [float] }
  w.ref(unit.fields[1]!, norm.pos);
  const meanVec = w.vector(1);
  w.f32(meanVec + 4, mean);
  w.ref(norm.fields[0]!, meanVec);
  const stdVec = w.vector(1);
  w.f32(stdVec + 4, std);
  w.ref(norm.fields[1]!, stdVec);
  return Buffer.from(w.bytes());
}

function readTable(buf: Buffer, table: number, field: number): number | undefined {
  const vt = table - buf.readInt32LE(table);
  const vtSize = buf.readUInt16LE(vt);
  if (4 + 2 * field >= vtSize) return undefined;
  const off = buf.readUInt16LE(vt + 4 + 2 * field);
  return off ? table + off : undefined;
}

function deref(buf: Buffer, at: number): number {
  return at + buf.readUInt32LE(at);
}

/** Whether a .tflite model already carries TFLite metadata ("TFLITE_METADATA"). */
export function hasTfliteMetadata(model: Buffer): boolean {
  const root = model.readUInt32LE(0);
  const metaField = readTable(model, root, F_METADATA);
  if (metaField === undefined) return false;
  const vec = deref(model, metaField);
  for (let i = 0; i < model.readUInt32LE(vec); i++) {
    const entry = deref(model, vec + 4 + 4 * i);
    const nameField = readTable(model, entry, 0);
    if (nameField === undefined) continue;
    const s = deref(model, nameField);
    if (model.toString('utf8', s + 4, s + 4 + model.readUInt32LE(s)) === 'TFLITE_METADATA') return true;
  }
  return false;
}

/**
 * Returns a copy of a .tflite model with TFLite metadata describing its first input as an RGB image
 * normalised by (x - mean) / std. Models that already have metadata are returned unchanged.
 */
export function withImageInputMetadata(model: Buffer, opts: { name: string; mean: number; std: number }): Buffer {
  if (model.length < 8 || model.toString('latin1', 4, 8) !== 'TFL3') throw new Error('not a TFLite model');
  if (hasTfliteMetadata(model)) return model;
  const oldRoot = model.readUInt32LE(0);
  const vt = oldRoot - model.readInt32LE(oldRoot);
  const oldFields = (model.readUInt16LE(vt) - 4) / 2;
  for (let i = MODEL_FIELDS; i < oldFields; i++) {
    if (model.readUInt16LE(vt + 4 + 2 * i) !== 0) throw new Error('TFLite model has fields this patcher does not know');
  }
  const field = (i: number): number | undefined => readTable(model, oldRoot, i);
  const oldBuffersField = field(F_BUFFERS);
  const oldBuffers: number[] = [];
  if (oldBuffersField !== undefined) {
    const vec = deref(model, oldBuffersField);
    for (let i = 0; i < model.readUInt32LE(vec); i++) {
      const buffer = deref(model, vec + 4 + 4 * i);
      // Buffer.offset (field 1) is absolute in the file: shifting the file would break it.
      const offsetField = readTable(model, buffer, 1);
      if (offsetField !== undefined && model.readBigUInt64LE(offsetField) > 1n) {
        throw new Error('TFLite model stores buffers by file offset; cannot add metadata');
      }
      oldBuffers.push(buffer);
    }
  }
  const oldMetaField = field(F_METADATA);
  const oldMeta: number[] = [];
  if (oldMetaField !== undefined) {
    const vec = deref(model, oldMetaField);
    for (let i = 0; i < model.readUInt32LE(vec); i++) oldMeta.push(deref(model, vec + 4 + 4 * i));
  }

  const w = new FbWriter();
  const pending: [at: number, oldTarget: number][] = []; // references into the shifted original
  const root = w.alloc(8, 4);
  w.copyIn(Buffer.from('TFL3'), 4);
  const sizes: number[] = [];
  for (let i = 0; i < MODEL_FIELDS; i++) sizes.push(i === F_BUFFERS || i === F_METADATA || field(i) !== undefined ? 4 : 0);
  const modelTable = w.table(sizes);
  w.ref(root, modelTable.pos);
  for (let i = 0; i < MODEL_FIELDS; i++) {
    const old = field(i);
    if (i === F_BUFFERS || i === F_METADATA || old === undefined) continue;
    if (i === F_VERSION) w.u32(modelTable.fields[i]!, model.readUInt32LE(old));
    else pending.push([modelTable.fields[i]!, deref(model, old)]);
  }
  const buffers = w.vector(oldBuffers.length + 1);
  w.ref(modelTable.fields[F_BUFFERS]!, buffers);
  oldBuffers.forEach((b, i) => pending.push([buffers + 4 + 4 * i, b]));
  const metas = w.vector(oldMeta.length + 1);
  w.ref(modelTable.fields[F_METADATA]!, metas);
  oldMeta.forEach((m, i) => pending.push([metas + 4 + 4 * i, m]));
  // Metadata { name: "TFLITE_METADATA", buffer: <index of the new buffer> }
  const meta = w.table([4, 4]);
  w.ref(metas + 4 + 4 * oldMeta.length, meta.pos);
  w.u32(meta.fields[1]!, oldBuffers.length);
  w.ref(meta.fields[0]!, w.string('TFLITE_METADATA'));
  // Buffer { data: [ubyte] } with the payload 16-byte aligned.
  const buffer = w.table([4]);
  w.ref(buffers + 4 + 4 * oldBuffers.length, buffer.pos);
  const payload = imageInputMetadata(opts.name, opts.mean, opts.std);
  const data = w.alloc(4 + payload.length, 16, 4);
  w.u32(data, payload.length);
  w.copyIn(payload, data + 4);
  w.ref(buffer.fields[0]!, data);
  const shift = w.alloc(0, 16);
  for (const [at, oldTarget] of pending) w.ref(at, shift + oldTarget);
  return Buffer.concat([w.bytes(), model]);
}

function acceptsGzip(req: IncomingMessage): boolean {
  const accept = req.headers['accept-encoding'];
  return typeof accept === 'string' && /\bgzip\b/i.test(accept) && !/\bgzip\s*;\s*q=0(\.0*)?\s*(,|$)/i.test(accept);
}

function etagMatches(req: IncomingMessage, etag: string): boolean {
  const inm = req.headers['if-none-match'];
  if (typeof inm !== 'string') return false;
  return inm.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/**
 * Returns a request handler: true when it answered the request, false to let the next handler try.
 * If the MediaPipe packages are missing or unreadable it logs a warning and serves nothing (the
 * caller hints then stay off; the call itself does not depend on them).
 */
export function mediapipeAssets(): (req: IncomingMessage, res: ServerResponse) => boolean {
  let assets: Map<string, Asset>;
  try {
    assets = buildAssets();
  } catch (err) {
    log.warn('MediaPipe assets unavailable; caller picture hints are off', { error: err });
    return () => false;
  }
  const gzipped = new Map<string, Promise<Buffer>>();

  function gzipOf(url: string, asset: Asset): Promise<Buffer> {
    let p = gzipped.get(url);
    if (!p) {
      p = (asset.body ? Promise.resolve(asset.body) : readFile(asset.path)).then((b) => gzipAsync(b, { level: 6 }));
      p.catch(() => gzipped.delete(url)); // retry next time rather than caching a failure
      gzipped.set(url, p);
    }
    return p;
  }

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '/';
    if (!url.startsWith(`${MEDIAPIPE_PREFIX}/`)) return false;
    const pathname = url.split(/[?#]/, 1)[0] ?? '';
    const asset = assets.get(pathname);
    if (!asset) return false;

    const useGzip = asset.compressible && acceptsGzip(req);
    const etag = useGzip ? `${asset.etag.slice(0, -1)}-gz"` : asset.etag;
    const headers: Record<string, string> = {
      'content-type': asset.type,
      'cache-control': CACHE_CONTROL,
      etag,
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
    };
    if (asset.compressible) headers.vary = 'accept-encoding';
    if (etagMatches(req, etag)) {
      res.writeHead(304, headers).end();
      return true;
    }
    if (!useGzip) {
      res.writeHead(200, { ...headers, 'content-length': String(asset.size) });
      if (req.method === 'HEAD') res.end();
      else if (asset.body) res.end(asset.body);
      else createReadStream(asset.path).on('error', () => res.destroy()).pipe(res);
      return true;
    }
    gzipOf(pathname, asset).then(
      (body) => {
        res.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'content-length': String(body.length) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('could not read asset\n');
        else res.destroy();
      },
    );
    return true;
  };
}
