/**
 * /metrics on the real server: with METRICS_TOKEN set it wants the bearer token from loopback too
 * (a reverse proxy on the same host connects from there), and what it serves is one valid
 * exposition with the server's process and event-loop metrics. Without the token: loopback only,
 * and not through a proxy. (Two analyzer workers merged into the scrape: pool.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../helpers/promText.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const TOKEN = 'metrics-endpoint-test-token-0123456789';
const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

const url = (s: TestServer) => `${s.url.replace('localhost', '127.0.0.1')}/metrics`;

describe('/metrics', () => {
  it('with METRICS_TOKEN: 401 without it or with a wrong one, from loopback too; with it, a valid exposition', async () => {
    const s = await startTestServer({ METRICS_TOKEN: TOKEN });
    servers.push(s);
    const none = await fetch(url(s));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.text()).not.toMatch(/dfs_/);
    expect((await fetch(url(s), { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } })).status).toBe(401);
    const ok = await fetch(url(s), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    const families = parseExposition(await ok.text());
    expect(families.get('dfs_rooms')?.samples[0]?.value).toBe(1);
    expect(families.get('process_resident_memory_bytes')?.samples[0]?.value).toBeGreaterThan(0);
    expect(families.get('nodejs_eventloop_lag_p99_seconds')?.type).toBe('gauge');
    expect(families.get('nodejs_gc_duration_seconds')?.type).toBe('histogram');
  });

  it('without METRICS_TOKEN: loopback clients, but not a request a proxy forwarded', async () => {
    const s = await startTestServer({});
    servers.push(s);
    expect((await fetch(url(s))).status).toBe(200);
    expect((await fetch(url(s), { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(403);
  });
});
