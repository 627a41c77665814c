/**
 * The client app's file server: only the built folder's own files, never its source maps, dotfiles
 * or a sibling folder whose name starts the same (the hand-written server it replaced served
 * dist2/ through a string-prefix check), always with the security headers.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticFiles } from '../../server/src/http/staticFiles.ts';

let dir: string;
let server: Server;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dfs-static-'));
  const dist = join(dir, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  mkdirSync(join(dir, 'dist2'));
  mkdirSync(join(dir, 'dist-old'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(dist, 'assets', 'index-abc123.js.map'), '{"sources":["secret source"]}');
  writeFileSync(join(dist, '.env'), 'SECRET=1');
  writeFileSync(join(dir, 'dist2', 'secret.txt'), 'sibling secret');
  writeFileSync(join(dir, 'dist-old', 'secret.txt'), 'sibling secret');
  const serve = staticFiles(dist);
  server = createServer((req, res) => {
    if (!serve(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** A request with the path exactly as written (fetch would normalise the dot segments away). */
function get(path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('pages', () => {
  it.each(['/', '/index.html', '/call/demo', '/dashboard?token=abc'])('%s: the app, uncached, with the security headers', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(200);
    expect(res.body).toContain('<title>app</title>');
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it('the CSP lets the page connect to its own origin only', async () => {
    const csp = String((await get('/')).headers['content-security-policy']);
    const directives = csp.split(';').map((d) => d.trim());
    expect(directives).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/\bwss?:/);
    expect(directives).toContain("frame-ancestors 'none'");
  });

  it('HEAD answers like GET, without a body', async () => {
    const res = await get('/', 'HEAD');
    expect(res.status).toBe(200);
    expect(res.body).toBe('');
  });

  it('other methods are not the file server\'s', async () => {
    expect((await get('/', 'POST')).status).toBe(404);
  });
});

describe('assets', () => {
  it('a hashed asset is served, cached for good, with the security headers', async () => {
    const res = await get('/assets/index-abc123.js');
    expect(res.status).toBe(200);
    expect(res.body).toBe('console.log(1)');
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('a missing asset is a 404, not the page', async () => {
    for (const path of ['/assets/missing.js', '/assets/missing']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('<title>');
    }
  });
});

describe('never served', () => {
  it.each([
    '/assets/index-abc123.js.map',
    '/assets/index-abc123.js%2Emap',
    '/assets/index-abc123.js%2emap',
    '/assets/index-abc123.js.map/',
    '/assets/index-abc123.js.MAP',
  ])('source map %s', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('secret source');
  });

  it.each([
    '/../dist2/secret.txt',
    '/..%2fdist2/secret.txt',
    '/%2e%2e/dist2/secret.txt',
    '/../dist-old/secret.txt',
    '/assets/../../dist2/secret.txt',
    '/%2e%2e%2fdist2%2fsecret.txt',
  ])('a sibling folder: %s', async (path) => {
    const res = await get(path);
    expect(res.body).not.toContain('sibling secret');
    // A page route (no extension once decoded) may get the app; nothing else.
    if (res.status !== 404) expect(res.body).toContain('<title>app</title>');
  });

  it('dotfiles', async () => {
    const res = await get('/.env');
    expect(res.body).not.toContain('SECRET');
  });
});
