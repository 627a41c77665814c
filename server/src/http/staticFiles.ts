/** Serves the built client (client/dist); any page route falls back to index.html. */
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.tflite': 'application/octet-stream',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
};

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Same origin only: nothing on a call page (MediaPipe included) may talk to third parties.
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "connect-src 'self' ws: wss:",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "style-src 'self' 'unsafe-inline'",
    "worker-src 'self' blob:",
    "frame-ancestors 'none'",
  ].join('; '),
};

export function staticFiles(root: string): (req: IncomingMessage, res: ServerResponse) => boolean {
  const base = resolve(root);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = new URL(req.url ?? '/', 'http://x');
    let path: string;
    try {
      path = normalize(join(base, decodeURIComponent(url.pathname)));
    } catch {
      return false;
    }
    if (!path.startsWith(base)) return false;
    let file = existsSync(path) && statSync(path).isFile() ? path : undefined;
    // Page routes (no extension) get the single-page app; missing assets get a 404.
    if (!file && !extname(url.pathname)) file = join(base, 'index.html');
    if (!file || !existsSync(file)) return false;
    const isAsset = file.includes(`${join(base, 'assets')}`);
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      // Join links carry a token in the URL: never cache the page or leak it in Referer.
      'cache-control': isAsset ? 'public, max-age=31536000, immutable' : 'no-store',
      ...SECURITY_HEADERS,
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
    return true;
  };
}
