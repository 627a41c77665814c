import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultAnalyzerWorkers, loadConfig } from '../../server/src/config.ts';

const dataDir = () => mkdtempSync(join(tmpdir(), 'dfs-config-'));

describe('configuration', () => {
  it('runs on embedded defaults, generating and keeping a private token secret', () => {
    const dir = dataDir();
    const a = loadConfig({ DATA_DIR: dir });
    expect(a.port).toBe(8080);
    expect(a.rooms).toEqual(['demo']);
    expect(a.iceServers).toEqual([]);
    expect(a.tokenSecret.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({ DATA_DIR: dir }).tokenSecret).toBe(a.tokenSecret);
    expect(readFileSync(join(dir, 'token-secret'), 'utf8').trim()).toBe(a.tokenSecret);
    expect(statSync(join(dir, 'token-secret')).mode & 0o077).toBe(0);
  });

  it('analyzer workers: one per core but one when embedded (at least one), as set, none when external', () => {
    expect([1, 2, 4, 16].map((cores) => defaultAnalyzerWorkers(cores))).toEqual([1, 1, 3, 15]);
    const workers = (env: Record<string, string>) => loadConfig({ DATA_DIR: dataDir(), ...env }).analyzer.workers;
    expect(workers({})).toBe(defaultAnalyzerWorkers());
    // docker compose passes an unset variable through as an empty string: still the default, not 0.
    expect(workers({ ANALYZER_WORKERS: '' })).toBe(defaultAnalyzerWorkers());
    expect(workers({ ANALYZER_WORKERS: '0' })).toBe(0);
    expect(workers({ ANALYZER_WORKERS: '3' })).toBe(3);
    expect(workers({ ANALYZER: 'external', ANALYZER_WORKERS: '3' })).toBe(0);
    expect(() => workers({ ANALYZER_WORKERS: 'many' })).toThrow(ConfigError);
  });

  it('reads media network settings and ICE servers', () => {
    const c = loadConfig({
      DATA_DIR: dataDir(),
      RTC_LISTEN_IP: '10.0.0.5',
      RTC_ANNOUNCED_IP: '203.0.113.7',
      RTC_MIN_PORT: '40000',
      RTC_MAX_PORT: '40100',
      ICE_SERVERS: '[{"urls":"turn:turn.example.org:3478","username":"u","credential":"p"}]',
    });
    expect(c.rtc).toEqual({ listenIp: '10.0.0.5', announcedIp: '203.0.113.7', portRange: [40000, 40100] });
    expect(c.iceServers[0]?.urls).toBe('turn:turn.example.org:3478');
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ RTC_MIN_PORT: '40000' }, /RTC_MIN_PORT and RTC_MAX_PORT/],
    [{ RTC_MIN_PORT: '5', RTC_MAX_PORT: '4' }, /must not exceed/],
    [{ RTC_ANNOUNCED_IP: 'example.org' }, /RTC_ANNOUNCED_IP/],
    [{ ICE_SERVERS: '{"urls":1}' }, /ICE_SERVERS/],
    [{ TOKEN_SECRET: 'short' }, /TOKEN_SECRET/],
  ])('refuses %j with a clear message', (env, message) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ DATA_DIR: dataDir(), ...env })).toThrow(message);
  });
});
