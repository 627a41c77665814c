/**
 * mediasoup engine holes found in a review (3 Dec 2026), each with a test that failed before its fix:
 * a peer closed while its publish or subscribe transport was being made left that transport open
 * on the router for good; a layer choice arriving while a consumer was being made was lost; a
 * size-check hold arriving while a consumer was being resumed left it resumed; a worker dying while
 * a room's router was being made gave the room two routers, one never closed; a listen address or
 * port range the worker cannot use was reported as a broken install. Run on the engine itself, with
 * real workers and offers from a real WebRTC stack; each race is pinned with mediasoup's observers.
 */
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/src/config.ts';
import { WrtcPeerConnection } from '../../server/src/headless/wrtc.ts';
import { createEngine } from '../../server/src/sfu/createEngine.ts';
import { MediasoupEngine, type MediasoupRoom } from '../../server/src/sfu/mediasoup/MediasoupEngine.ts';
import type { MediasoupPeer } from '../../server/src/sfu/mediasoup/MediasoupPeer.ts';
import { ENGINES, waitFor } from '../helpers/server.ts';

const env = (over: Record<string, string> = {}) =>
  loadConfig({
    TOKEN_SECRET: 'x'.repeat(32),
    DATA_DIR: '/tmp/dfs-review-msfu',
    ...(process.env.MEDIASOUP_WORKER_BIN ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN } : {}),
    ...over,
  });

/** A send-only offer from a real WebRTC stack. */
async function publishOffer(kinds: Array<'audio' | 'video'> = ['video', 'audio']): Promise<string> {
  const pc = new WrtcPeerConnection();
  for (const k of kinds) pc.addTransceiver(k, { direction: 'sendonly' });
  const offer = await pc.createOffer();
  pc.close();
  return offer.sdp!;
}

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!ENGINES.includes('mediasoup'))('mediasoup engine (review)', () => {
  let engine: MediasoupEngine;
  /** Every live WebRtcTransport, across the engine's routers. */
  const transports = new Set<ms.Transport>();
  const routers = new Set<ms.Router>();
  const onNewTransport: Array<(t: ms.Transport) => void> = [];
  const onWorker = (worker: ms.Worker) => {
    worker.observer.on('newrouter', (router) => {
      routers.add(router);
      router.observer.once('close', () => routers.delete(router));
      router.observer.on('newtransport', (t) => {
        transports.add(t);
        t.observer.once('close', () => transports.delete(t));
        for (const f of onNewTransport) f(t);
      });
    });
  };
  const rooms: MediasoupRoom[] = [];
  let n = 0;
  const newRoom = () => {
    const r = engine.createRoom(`review-${++n}`) as MediasoupRoom;
    rooms.push(r);
    return r;
  };
  const webRtcTransports = () => [...transports].filter((t) => t.type === 'webrtc');

  beforeAll(async () => {
    mediasoup.observer.on('newworker', onWorker);
    engine = await MediasoupEngine.start(mediasoup, { workers: 1, workerBin: process.env.MEDIASOUP_WORKER_BIN, rtc: env().rtc });
  });
  afterEach(() => {
    onNewTransport.length = 0;
    for (const r of rooms.splice(0)) r.close();
  });
  afterAll(() => {
    engine.close();
    mediasoup.observer.off('newworker', onWorker);
  });

  it('a peer that leaves while its publish transport is being made leaves no transport behind', async () => {
    const room = newRoom();
    await room.router();
    const peer = room.createPeer({ id: 'leaver', canPublish: true });
    // The participant leaves (its socket drops) while mediasoup makes its publish transport.
    onNewTransport.push(() => peer.close());
    const res = await peer.publish(await publishOffer()).then(
      () => 'answered',
      (e: unknown) => (e as Error).name,
    );
    expect(res).toBe('PeerClosedError');
    await settle();
    expect(webRtcTransports().map((t) => t.appData)).toEqual([]);
  });

  it('a peer that leaves while its subscribe transport is being made leaves no transport behind', async () => {
    const room = newRoom();
    const pub = room.createPeer({ id: 'pub', canPublish: true });
    await pub.publish(await publishOffer());
    expect(webRtcTransports()).toHaveLength(1);
    // A subscriber joins (its receive transport is made at once for pub's tracks) and leaves meanwhile.
    let sub: MediasoupPeer | undefined;
    onNewTransport.push(() => sub?.close());
    sub = room.createPeer({ id: 'sub', canPublish: false });
    await settle(500);
    expect(sub.closed).toBe(true);
    expect(webRtcTransports().map((t) => t.appData)).toEqual([{ peer: 'pub', target: 'publish' }]);
  });

  it('a layer choice made while the consumer is being created is applied to it', async () => {
    const room = newRoom();
    const pub = room.createPeer({ id: 'pub', canPublish: true });
    await pub.publish(await publishOffer(['video']));
    // The analyzer (base layer by default) boosts pub's video; the choice lands while its consumer
    // of that video is being created (an analyzer rejoining after media.restart replays its choices).
    let analyzer: MediasoupPeer | undefined;
    onNewTransport.push((t) =>
      t.observer.on('newconsumer', (c) => {
        if (c.kind === 'video' && (t.appData as { peer?: string }).peer === 'analyzer') analyzer!.setVideoLayer('pub', 2);
      }),
    );
    analyzer = room.createPeer({ id: 'analyzer', canPublish: false, maxTemporalLayer: 0 });
    const layers = await waitFor('the analyzer’s video consumer', () => analyzer.videoLayers().find((l) => l.publisherId === 'pub'));
    await settle();
    expect(analyzer.videoLayers().find((l) => l.publisherId === 'pub')?.preferredTemporalLayer ?? layers.preferredTemporalLayer).toBe(2);
  });

  it('a size-check hold that comes while a consumer is being resumed leaves it paused', async () => {
    const room = newRoom();
    const pub = room.createPeer({ id: 'pub', canPublish: true });
    await pub.publish(await publishOffer(['video']));
    await waitFor('the size check on pub’s video', () => room.videoInspection('pub'));
    // The inspector's own way to hold and release a producer (what a keyframe's size decides).
    const inspector = (room as unknown as { inspector: { state: Map<string, unknown>; set(id: string, s: unknown, allowed: boolean): void } }).inspector;
    const [producerId, state] = [...inspector.state][0]!;
    inspector.set(producerId, state, true); // a keyframe within the cap: released
    let consumer: ms.Consumer | undefined;
    onNewTransport.push((t) =>
      t.observer.on('newconsumer', (c) => {
        if (c.kind !== 'video') return;
        consumer = c;
        const resume = c.resume.bind(c);
        // An oversized keyframe arrives while the subscriber's consumer is being resumed.
        c.resume = () => {
          const done = resume();
          inspector.set(producerId, state, false);
          return done;
        };
      }),
    );
    const sub = room.createPeer({ id: 'sub', canPublish: false });
    const offer = await new Promise<string>((r) => sub.once('subscribe-offer', (o) => r(o.sdp)));
    const pc = new WrtcPeerConnection();
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await sub.applySubscribeAnswer(answer.sdp!);
      await settle();
      expect(room.released(producerId)).toBe(false);
      expect(consumer?.paused).toBe(true);
    } finally {
      pc.close();
    }
  });

  it('a room whose worker dies while its router is being made ends up with one router, not two', async () => {
    const two = await MediasoupEngine.start(mediasoup, { workers: 2, workerBin: process.env.MEDIASOUP_WORKER_BIN, rtc: env().rtc });
    try {
      const before = routers.size;
      const pid = two.workerPids[0]!;
      // The room goes to worker 0 (both are empty); that worker dies before answering (stopped
      // first, so its death surely comes while the request is outstanding).
      process.kill(pid, 'SIGSTOP');
      const room = two.createRoom('moving') as MediasoupRoom;
      await settle(100);
      process.kill(pid, 'SIGKILL');
      await waitFor('a replacement worker', () => two.workerPids.length === 2 && !two.workerPids.includes(pid), 10000);
      await room.router();
      await settle(1000);
      expect(routers.size - before).toBe(1);
      room.close();
      await settle();
      expect(routers.size - before).toBe(0);
    } finally {
      two.close();
    }
  });
});

describe.skipIf(!ENGINES.includes('mediasoup'))('mediasoup listen misconfiguration (review)', () => {
  const refusal = async (over: Record<string, string>) => {
    const err = await createEngine(env({ SFU_ENGINE: 'mediasoup', MEDIASOUP_WORKERS: '1', ...over })).then(
      (e) => {
        e.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ConfigError);
    return err!.message;
  };

  it('an RTC_LISTEN_IP that is not this host’s is named as the problem, not the install', async () => {
    const message = await refusal({ RTC_LISTEN_IP: '203.0.113.7' });
    expect(message).toMatch(/RTC_LISTEN_IP/);
    expect(message).not.toMatch(/npm install mediasoup|MEDIASOUP_WORKER_BIN/);
  });

  it('a port range too small for the workers is named as the problem, not the install', async () => {
    const message = await refusal({ RTC_MIN_PORT: '47011', RTC_MAX_PORT: '47011', MEDIASOUP_WORKERS: '2' });
    expect(message).toMatch(/RTC_MIN_PORT/);
    expect(message).toMatch(/MEDIASOUP_WORKERS/);
    expect(message).not.toMatch(/npm install mediasoup|MEDIASOUP_WORKER_BIN/);
  });
});
