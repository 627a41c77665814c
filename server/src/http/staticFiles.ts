/**
 * Serves the built client (client/dist) with sirv, wrapped with our security headers; any page
 * route falls back to index.html.
 *
 * Why sirv and not our own: the hand-written server it replaces checked paths with a string prefix,
 * so a sibling folder whose name starts like the root's (dist2/, dist-old/) was served too. sirv
 * (production mode) reads the folder's file list once, at start, and only ever serves those files:
 * no path from a request reaches the file system. The flip side: rebuild the client, restart the
 * server (`npm start` does both).
 *
 * Never served: source maps (the build writes them 'hidden', for the operator; they would hand the
 * whole client source to anyone), dotfiles, anything outside the folder.
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import sirv, { type RequestHandler } from 'sirv';
import { logger } from '../log.ts';

const log = logger('http');

/** Hashed file names (Vite's assets/): cached for a year; everything else, never. */
const ASSETS_PREFIX = '/assets/';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  // Join links carry a token in the URL: never leak it in a Referer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Same origin only: nothing on a call page (MediaPipe included) may talk to third parties. 'self'
  // covers the page's own ws:/wss: origin (CSP level 3); a bare `ws: wss:` allowed any host.
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "style-src 'self' 'unsafe-inline'",
    "worker-src 'self' blob:",
    "frame-ancestors 'none'",
  ].join('; '),
};

/** The request's path as sirv will look it up (percent-decoded, trailing slash dropped). */
function lookupPath(req: IncomingMessage): string {
  let path = (req.url ?? '/').split(/[?#]/, 1)[0] ?? '/';
  try {
    path = decodeURI(path);
  } catch {
    // sirv keeps a malformed path as it is, and so do we
  }
  return path.replace(/\/+$/, '');
}

function withHeaders(cacheControl: string): (res: ServerResponse) => void {
  return (res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    // Set here, it overrides sirv's own Cache-Control.
    res.setHeader('cache-control', cacheControl);
  };
}

function build(base: string): { assets: RequestHandler; pages: RequestHandler } {
  return {
    assets: sirv(base, { extensions: [], setHeaders: withHeaders('public, max-age=31536000, immutable') }),
    pages: sirv(base, { single: true, setHeaders: withHeaders('no-store') }),
  };
}

export function staticFiles(root: string): (req: IncomingMessage, res: ServerResponse) => boolean {
  const base = resolve(root);
  let handlers = existsSync(base) ? build(base) : undefined;
  if (!handlers) log.warn('the client is not built: pages answer 404 until it is (npm run build:client)', { dir: base });
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    // Built after the server started: read the folder once it is there.
    if (!handlers && existsSync(base)) handlers = build(base);
    if (!handlers) return false;
    const path = lookupPath(req);
    if (/\.map$/i.test(path)) return false;
    // Assets never fall back to the page: a missing script is a 404, not HTML.
    const serve = path.startsWith(ASSETS_PREFIX) ? handlers.assets : handlers.pages;
    let served = true;
    serve(req, res, () => {
      served = false;
    });
    return served;
  };
}
