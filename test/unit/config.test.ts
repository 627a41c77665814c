import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAnalyzerConfig } from '../../server/src/analyzer/config.ts';
import { loadRiskConfig } from '../../server/src/analyzer/fusion/RiskFusion.ts';
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

  it('SFU engine: auto by default, mediasoup workers one per core unless set, a typo refused at start', () => {
    const cfg = (env: Record<string, string>) => loadConfig({ DATA_DIR: dataDir(), ...env });
    expect(cfg({}).sfuEngine).toBe('auto');
    expect(cfg({ SFU_ENGINE: '' }).sfuEngine).toBe('auto');
    expect(cfg({ SFU_ENGINE: 'werift' }).sfuEngine).toBe('werift');
    expect(cfg({}).mediasoup.workers).toBeGreaterThanOrEqual(1);
    expect(cfg({ MEDIASOUP_WORKERS: '3', MEDIASOUP_WORKER_BIN: '/opt/w' }).mediasoup).toEqual({ workers: 3, workerBin: '/opt/w' });
    expect(() => cfg({ SFU_ENGINE: 'janus' })).toThrow(ConfigError);
    expect(() => cfg({ MEDIASOUP_WORKERS: '0' })).toThrow(/MEDIASOUP_WORKERS/);
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

  it('treats empty variables as unset (the docker-compose defaults start the server)', () => {
    const dir = dataDir();
    // Every variable docker-compose.yml passes with an empty default, as compose passes it: ''.
    const c = loadConfig({
      DATA_DIR: dir,
      TOKEN_SECRET: '',
      METRICS_TOKEN: '',
      ANALYZER_WORKERS: '',
      PUBLIC_URL: ' ',
      RTC_ANNOUNCED_IP: '',
      RTC_MIN_PORT: '',
      RTC_MAX_PORT: '',
      ICE_SERVERS: '',
      ROOMS: '',
      AUDIT_DB: '',
      DEMO_LINKS: '',
      RTC_ICE_TCP: '',
    });
    expect(c.tokenSecret).toBe(readFileSync(join(dir, 'token-secret'), 'utf8').trim());
    expect(c.metricsToken).toBeUndefined();
    expect(c.analyzer.workers).toBe(defaultAnalyzerWorkers());
    expect(c.publicUrl).toBeUndefined();
    // Defaults: video up to 1920x1080 is forwarded; ICE checks go to public and loopback candidates;
    // a media connection not up within 30 s is restarted; no ICE over TCP unless asked for.
    expect(c.rtc).toEqual({ maxVideoSize: { width: 1920, height: 1080 }, candidatePolicy: expect.objectContaining({ text: 'public,loopback' }), coverKeyframeMs: 5000, connectTimeoutMs: 30_000, iceTcp: false });
    expect(c.rtc.candidatePolicy!.allows('169.254.169.254')).toBe(false);
    expect(c.iceServers).toEqual([]);
    expect(c.rooms).toEqual(['demo']);
    expect(c.auditDb).toBe(join(dir, 'audit.sqlite'));
    expect(c.demoLinks).toBe(false);
    // A set but too short secret is still refused: only empty means unset.
    expect(() => loadConfig({ DATA_DIR: dir, METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
    // The analyzer side too (the gpu profile passes DFS_ANALYZER_TOKEN and ANALYZER_MAX_BATCH that way).
    const a = loadAnalyzerConfig({ DFS_SERVER_URL: 'http://app:8080', DFS_ANALYZER_TOKEN: 'svc.x.y-service-token', ANALYZER_MAX_BATCH: '', ANALYZER_CORES: '', ANALYZER_PROVIDER: '' });
    expect(a.maxBatch).toBe(8);
    expect(a.provider).toBe('cpu');
    expect(() => loadAnalyzerConfig({ DFS_SERVER_URL: 'http://app:8080', DFS_ANALYZER_TOKEN: '' })).toThrow(/DFS_ANALYZER_TOKEN/);
  });

  it("the analyzer's risk configuration: the shipped one by default, a deployment's own by ANALYZER_RISK_CONFIG, a bad file refused with its path and every problem", () => {
    const base = { DFS_SERVER_URL: 'http://app:8080', DFS_ANALYZER_TOKEN: 'svc.x.y-service-token' };
    expect(loadAnalyzerConfig({ ...base, ANALYZER_RISK_CONFIG: '' }).riskConfigPath).toBeUndefined();
    const dir = dataDir();
    const own = join(dir, 'risk-config.json');
    const shipped = loadRiskConfig();
    writeFileSync(own, JSON.stringify({ ...shipped, thresholds: { ...shipped.thresholds, alert: { enter: 0.8, exit: 0.6 } } }));
    const c = loadAnalyzerConfig({ ...base, ANALYZER_RISK_CONFIG: own });
    expect(c.riskConfigPath).toBe(own);
    expect(loadRiskConfig(c.riskConfigPath).thresholds.alert).toEqual({ enter: 0.8, exit: 0.6 });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...shipped, thresholds: { ...shipped.thresholds, alert: { enter: 0.5, exit: 0.6 } }, extra: 1 }));
    expect(() => loadRiskConfig(bad)).toThrow(new RegExp(`risk configuration ${bad} is invalid:\\n  thresholds\\.alert: exit must be below enter\\n  : Unrecognized key: "extra"`));
    writeFileSync(bad, '{ not json');
    expect(() => loadRiskConfig(bad)).toThrow(new RegExp(`risk configuration ${bad}: .*JSON`));
    expect(() => loadRiskConfig(join(dir, 'missing.json'))).toThrow(/risk configuration .*missing\.json: ENOENT/);
  });

  it('audit retention and the per-token connection cap: defaults, settings, bad values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-cfg-'));
    const secret = { DATA_DIR: dir, TOKEN_SECRET: 'x'.repeat(32) };
    const d = loadConfig(secret);
    expect(d.auditRetentionDays).toBe(365);
    expect(d.auditEvidenceDays).toBe(90);
    expect(d.maxConnectionsPerToken).toBe(5);
    const c = loadConfig({ ...secret, AUDIT_RETENTION_DAYS: '0', AUDIT_EVIDENCE_DAYS: '0', MAX_CONNECTIONS_PER_TOKEN: '2' });
    expect(c.auditRetentionDays).toBe(0);
    expect(c.auditEvidenceDays).toBe(0);
    expect(() => loadConfig({ ...secret, AUDIT_EVIDENCE_DAYS: '1.5' })).toThrow(/AUDIT_EVIDENCE_DAYS/);
    expect(c.maxConnectionsPerToken).toBe(2);
    expect(() => loadConfig({ ...secret, AUDIT_RETENTION_DAYS: '-1' })).toThrow(/AUDIT_RETENTION_DAYS/);
    expect(() => loadConfig({ ...secret, MAX_CONNECTIONS_PER_TOKEN: '0' })).toThrow(/MAX_CONNECTIONS_PER_TOKEN/);
  });

  it('prints demo links only when asked (DEMO_LINKS)', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).demoLinks).toBe(false);
    expect(loadConfig({ DATA_DIR: dataDir(), DEMO_LINKS: '1' }).demoLinks).toBe(true);
    expect(() => loadConfig({ DATA_DIR: dataDir(), DEMO_LINKS: 'yes please' })).toThrow(/DEMO_LINKS/);
  });

  it('reads media network settings and ICE servers', () => {
    const c = loadConfig({
      DATA_DIR: dataDir(),
      RTC_LISTEN_IP: '10.0.0.5',
      RTC_ANNOUNCED_IP: '203.0.113.7',
      RTC_MIN_PORT: '40000',
      RTC_MAX_PORT: '40100',
      ICE_SERVERS: '[{"urls":"turn:turn.example.org:3478","username":"u","credential":"p"}]',
      RTC_ICE_TCP: '1',
    });
    expect(c.rtc).toMatchObject({ listenIp: '10.0.0.5', announcedIp: '203.0.113.7', portRange: [40000, 40100], iceTcp: true });
    expect(() => loadConfig({ DATA_DIR: dataDir(), RTC_ICE_TCP: 'yes' })).toThrow(/RTC_ICE_TCP/);
    expect(c.iceServers[0]?.urls).toBe('turn:turn.example.org:3478');
  });

  it('reads the video size cap and the ICE candidate allow-list', () => {
    const c = loadConfig({ DATA_DIR: dataDir(), RTC_MAX_VIDEO_SIZE: '1280x720', RTC_ALLOWED_CANDIDATES: 'public,10.1.0.0/16' });
    expect(c.rtc.maxVideoSize).toEqual({ width: 1280, height: 720 });
    expect(c.rtc.candidatePolicy!.allows('10.1.2.3')).toBe(true);
    expect(c.rtc.candidatePolicy!.allows('10.2.0.1')).toBe(false);
    expect(c.rtc.candidatePolicy!.allows('127.0.0.1')).toBe(false);
  });

  it.each([
    [{ RTC_MAX_VIDEO_SIZE: '1920' }, /RTC_MAX_VIDEO_SIZE/],
    [{ RTC_MAX_VIDEO_SIZE: '99999x1080' }, /RTC_MAX_VIDEO_SIZE/],
    [{ RTC_ALLOWED_CANDIDATES: 'public,intranet' }, /RTC_ALLOWED_CANDIDATES: "intranet"/],
    [{ RTC_ALLOWED_CANDIDATES: '10.0.0.0/33' }, /RTC_ALLOWED_CANDIDATES/],
  ])('refuses a bad media limit %o', (env, message) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), ...env })).toThrow(message);
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
