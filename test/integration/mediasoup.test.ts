/**
 * What only the mediasoup engine does: choosing it (and failing clearly without a worker), putting
 * rooms on different workers, and surviving a worker's death: the calls on the dead worker come
 * back on a live one while the calls on the other worker never stop.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HeadlessParticipant, onVideoFrames } from '../../server/src/headless/HeadlessParticipant.ts';
import { SyntheticVideo, solidLuma } from '../../server/src/headless/syntheticMedia.ts';
import { ConfigError, loadConfig } from '../../server/src/config.ts';
import { createEngine } from '../../server/src/sfu/createEngine.ts';
import type { MediasoupEngine } from '../../server/src/sfu/mediasoup/MediasoupEngine.ts';
import { ENGINES, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const env = (over: Record<string, string>) => loadConfig({ TOKEN_SECRET: 'x'.repeat(32), DATA_DIR: '/tmp/dfs-ms-test', ...over });

describe('choosing the engine', () => {
  it('SFU_ENGINE=mediasoup without a worker fails at start, naming MEDIASOUP_WORKER_BIN and what to install', async () => {
    const err = await createEngine(env({ SFU_ENGINE: 'mediasoup', MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker' })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/MEDIASOUP_WORKER_BIN/);
    expect((err as Error).message).toMatch(/npm install mediasoup/);
    expect((err as Error).message).toMatch(/SFU_ENGINE=werift/);
  });

  // The log prints warnings unless LOG_LEVEL asks for less.
  it.skipIf(['error', 'silent'].includes(process.env.LOG_LEVEL ?? ''))('RTC_ICE_TCP=1 is said at start: a no-op on werift, a TCP listener to cap on mediasoup', async () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const werift = await createEngine(env({ SFU_ENGINE: 'werift', RTC_ICE_TCP: '1' }));
      werift.close();
      expect(lines.join('')).toMatch(/RTC_ICE_TCP=1 has no effect on the werift engine.*TURN relay/);
      lines.length = 0;
      (await createEngine(env({ SFU_ENGINE: 'werift' }))).close();
      expect(lines.join('')).not.toMatch(/RTC_ICE_TCP/);
      if (ENGINES.includes('mediasoup')) {
        const ms = await createEngine(env({ SFU_ENGINE: 'mediasoup', MEDIASOUP_WORKERS: '1', RTC_ICE_TCP: '1', ...(process.env.MEDIASOUP_WORKER_BIN ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN } : {}) }));
        ms.close();
        expect(lines.join('')).toMatch(/ICE over TCP is on \(RTC_ICE_TCP=1\).*cap TCP connections per source address/);
      }
    } finally {
      write.mockRestore();
    }
  });

  it('auto falls back to werift when no worker starts', async () => {
    const engine = await createEngine(env({ SFU_ENGINE: 'auto', MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker' }));
    expect(engine.name).toBe('werift');
    engine.close();
  });
});

describe.skipIf(!ENGINES.includes('mediasoup'))('mediasoup workers', () => {
  let server: TestServer;
  let engine: MediasoupEngine;
  const stops: Array<() => unknown> = [];

  beforeAll(async () => {
    server = await startTestServer({ SFU_ENGINE: 'mediasoup', MEDIASOUP_WORKERS: '2' });
    engine = server.app.engine as MediasoupEngine;
  });
  afterAll(async () => {
    for (const s of stops.splice(0)) await s();
    await server.close();
  });

  /** A clinician publishing video and a patient counting decoded frames, in one room. */
  async function call(room: string, luma: number) {
    const video = new SyntheticVideo({ paint: solidLuma(luma) });
    const doctor = new HeadlessParticipant({ url: server.url, room, token: server.token(room, 'clinician'), tracks: [video.track] });
    const patient = new HeadlessParticipant({ url: server.url, room, token: server.token(room, 'patient') });
    const d = await doctor.join();
    await patient.join();
    const frames: number[] = [];
    let stopSink: (() => void) | undefined;
    const watch = async () => {
      const t = await patient.waitForTrack(d.self.id, 'video', 20000);
      stopSink?.();
      stopSink = onVideoFrames(t.track, () => frames.push(Date.now()));
    };
    await watch();
    // After a rejoin the track is a new one: follow it.
    patient.session.on('track', (t) => {
      if (t.participantId === d.self.id && t.kind === 'video') void watch();
    });
    stops.push(() => stopSink?.(), () => video.stop(), () => doctor.leave(), () => patient.leave());
    await waitFor(`video in ${room}`, () => frames.length > 10, 15000);
    return { frames, doctor, patient };
  }

  it('puts two rooms on two workers; killing one worker moves its call to a live one while the other call never stops', async () => {
    const a = await call('demo', 200);
    const b = await call('r2', 60);
    const workerA = engine.workerOf('demo');
    const workerB = engine.workerOf('r2');
    expect(workerA).toBeDefined();
    expect(workerB).toBeDefined();
    expect(workerA).not.toBe(workerB);

    const sessionBefore = a.patient.session.info?.session;
    const pid = engine.workerPids[workerA!]!;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');

    // The call on the dead worker recovers: its clients rejoin and frames flow again.
    await waitFor('frames again in the call whose worker died', () => a.frames.some((t) => t > killedAt + 200), 20000, 100);
    const recoveredAt = Date.now();
    // Through a new session (the server told the client to rejoin), on a live worker.
    expect(a.patient.session.info?.session).not.toBe(sessionBefore);
    expect(engine.workerOf('demo')).toBe(workerB);
    // The other call never stopped decoding: no gap of a second between frames across it all.
    const during = b.frames.filter((t) => t >= killedAt - 1000 && t <= recoveredAt);
    expect(during.length).toBeGreaterThan(10);
    let gap = 0;
    for (let i = 1; i < during.length; i++) gap = Math.max(gap, during[i]! - during[i - 1]!);
    expect(gap).toBeLessThan(1000);

    // The dead worker is replaced, so a third room has somewhere to go.
    await waitFor('a replacement worker', () => engine.workerPids.length === 2 && !engine.workerPids.includes(pid), 10000);
    const c = await call('r3', 120);
    expect(c.frames.length).toBeGreaterThan(10);
  });
});
