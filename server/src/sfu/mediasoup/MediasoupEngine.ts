/**
 * The production SFU engine: mediasoup's C++ workers, one per core, behind the same SDP-speaking
 * interface as werift (see MediasoupPeer.ts for the SDP bridge), so browsers, simulated callers
 * and the analyzer need no second signaling path.
 *
 * Placement: each room gets one router, on the live worker hosting the fewest routers. Every worker
 * has one WebRtcServer, so all of its transports share one UDP port inside RTC_MIN_PORT..RTC_MAX_PORT
 * (a firewall needs only as many ports as workers), and with RTC_ICE_TCP=1 one TCP port: ICE over
 * TCP for clients whose network blocks UDP and who have no TURN relay (UDP is preferred wherever it
 * works). Off by default: the worker holds every TCP connection opened to it, authenticated or not
 * (sfu/README.md, "ICE over TCP").
 *
 * A worker that dies is logged and replaced; each of its rooms gets a router on a live worker and
 * every peer of those rooms emits 'media-failed', which signaling turns into 'media.restart': the
 * clients rejoin and land on the new router. Calls on other workers are untouched.
 *
 * This module imports mediasoup's types only: the package is optional and loaded by createEngine.
 */
import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { RtcConfig } from '../../config.ts';
import { logger } from '../../log.ts';
import type { PeerOptions, SfuEngine, SfuRoom, SfuRoomEvents } from '../engine.ts';
import type { VideoSize } from '../vp8.ts';
import { KeyframeInspector, type Inspection } from './KeyframeInspector.ts';
import { MediasoupPeer, type PublishedTrack } from './MediasoupPeer.ts';

const log = logger('mediasoup');

/** VP8 and Opus, as the werift engine: what every browser and @roamhq/wrtc sends and decodes. */
const MEDIA_CODECS: ms.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  {
    kind: 'video',
    mimeType: 'video/VP8',
    clockRate: 90000,
    // Chromium starts at full quality instead of ramping up from a few hundred kbit/s.
    parameters: { 'x-google-start-bitrate': 1000 },
  },
];

export interface MediasoupOptions {
  /** Worker processes; default one per core. */
  workers: number;
  /** The worker executable; undefined: mediasoup's own (its postinstall's download or build). */
  workerBin?: string | undefined;
  rtc: RtcConfig;
}

interface WorkerSlot {
  index: number;
  worker: ms.Worker;
  server: ms.WebRtcServer;
  rooms: Set<MediasoupRoom>;
}

type MediasoupModule = typeof import('mediasoup');

export class MediasoupEngine implements SfuEngine {
  readonly name = 'mediasoup';
  private readonly mediasoup: MediasoupModule;
  private readonly opts: MediasoupOptions;
  private readonly slots: WorkerSlot[] = [];
  private readonly rooms = new Set<MediasoupRoom>();
  /** Replacement workers being started, by slot index. */
  private readonly respawning = new Map<number, Promise<WorkerSlot>>();
  private closedFlag = false;

  private constructor(mediasoup: MediasoupModule, opts: MediasoupOptions) {
    this.mediasoup = mediasoup;
    this.opts = opts;
  }

  /** Starts every worker; rejects (having stopped any that started) when one cannot start. */
  static async start(mediasoup: MediasoupModule, opts: MediasoupOptions): Promise<MediasoupEngine> {
    const engine = new MediasoupEngine(mediasoup, opts);
    try {
      for (let i = 0; i < opts.workers; i++) engine.slots.push(await engine.startWorker(i));
    } catch (err) {
      engine.close();
      throw err;
    }
    return engine;
  }

  private async startWorker(index: number): Promise<WorkerSlot> {
    const worker = await this.mediasoup.createWorker({
      logLevel: 'error',
      ...(this.opts.workerBin ? { workerBin: this.opts.workerBin } : {}),
    });
    try {
      let server: ms.WebRtcServer;
      try {
        server = await worker.createWebRtcServer({ listenInfos: listenInfos(this.opts.rtc) });
      } catch (err) {
        // The worker runs: the address or the ports it was given are what is wrong.
        throw new ListenError(listenHelp(this.opts, err as Error), { cause: err });
      }
      const slot: WorkerSlot = { index, worker, server, rooms: new Set() };
      worker.once('died', (err) => this.workerDied(slot, err));
      return slot;
    } catch (err) {
      worker.close();
      throw err;
    }
  }

  /** RTC_CONNECT_TIMEOUT_S: a transport not connected this long after it was made is restarted. */
  get connectTimeoutMs(): number | undefined {
    return this.opts.rtc.connectTimeoutMs;
  }

  /** RTC_ICE_TCP: each worker's WebRtcServer listens on TCP as well as UDP. */
  get iceTcp(): boolean {
    return this.opts.rtc.iceTcp ?? false;
  }

  /** RTC_MAX_VIDEO_SIZE: video above it is held back (KeyframeInspector). */
  get maxVideoSize(): VideoSize | undefined {
    return this.opts.rtc.maxVideoSize;
  }

  /** Worker process ids, in slot order (tests kill one; metrics). */
  get workerPids(): number[] {
    return this.slots.map((s) => s.worker.pid);
  }

  /** Connected transports (ICE chose a path) by protocol, over every room. */
  mediaConnections(): Record<'udp' | 'tcp', number> {
    const n = { udp: 0, tcp: 0 };
    for (const room of this.rooms) for (const t of room.transports()) if (t.iceSelectedTuple) n[t.iceSelectedTuple.protocol]++;
    return n;
  }

  /** Which worker slot hosts a room's router now; undefined while it is being placed. */
  workerOf(roomId: string): number | undefined {
    for (const s of this.slots) for (const r of s.rooms) if (r.id === roomId) return s.index;
    return undefined;
  }

  /** The live worker with the fewest rooms (the first on a tie), waiting for a replacement if none is live. */
  async place(room: MediasoupRoom): Promise<{ router: ms.Router; server: ms.WebRtcServer }> {
    for (;;) {
      if (this.closedFlag) throw new Error('the mediasoup engine is closed');
      const live = this.slots.filter((s) => !s.worker.died && !s.worker.closed);
      if (live.length === 0) {
        const pending = [...this.respawning.values()];
        if (pending.length === 0) throw new Error('no mediasoup worker is running');
        await Promise.race(pending);
        continue;
      }
      const slot = live.reduce((best, s) => (s.rooms.size < best.rooms.size ? s : best));
      slot.rooms.add(room);
      try {
        const router = await slot.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
        return { router, server: slot.server };
      } catch (err) {
        slot.rooms.delete(room);
        // The worker died between the choice and the request: try the next one.
        if (!slot.worker.died) throw err;
      }
    }
  }

  /** A room closed or moved away from a worker. */
  release(room: MediasoupRoom): void {
    for (const s of this.slots) s.rooms.delete(room);
  }

  private workerDied(slot: WorkerSlot, err: Error): void {
    const rooms = [...slot.rooms];
    slot.rooms.clear();
    log.error('worker died', { worker: slot.index, pid: slot.worker.pid, err: err.message, rooms: rooms.map((r) => r.id).join(',') || '-' });
    if (this.closedFlag) return;
    // Replace it, so capacity and the port it held come back.
    const respawn = this.startWorker(slot.index);
    this.respawning.set(slot.index, respawn);
    respawn
      .then((fresh) => {
        if (this.closedFlag) {
          fresh.worker.close();
          return;
        }
        this.slots[this.slots.indexOf(slot)] = fresh;
        log.info('worker replaced', { worker: slot.index, pid: fresh.worker.pid });
      })
      .catch((e: unknown) => log.error('could not replace a dead worker', { worker: slot.index, err: (e as Error).message }))
      .finally(() => this.respawning.delete(slot.index));
    for (const room of rooms) room.relocate();
  }

  createRoom(id: string): SfuRoom {
    if (this.closedFlag) throw new Error('the mediasoup engine is closed');
    const room = new MediasoupRoom(id, this);
    this.rooms.add(room);
    room.once('close', () => {
      this.rooms.delete(room);
      this.release(room);
    });
    return room;
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const room of [...this.rooms]) room.close();
    for (const s of this.slots) s.worker.close();
  }
}

/** The worker started but could not open its socket: RTC_LISTEN_IP or the port range is wrong, not the install. */
export class ListenError extends Error {
  override name = 'ListenError';
}

function listenHelp(opts: MediasoupOptions, err: Error): string {
  const { listenIp, portRange } = opts.rtc;
  const where = `RTC_LISTEN_IP=${listenIp ?? '(unset: all interfaces)'}` + (portRange ? `, RTC_MIN_PORT..RTC_MAX_PORT=${portRange[0]}..${portRange[1]}` : '');
  return (
    `a mediasoup worker started but could not open its ${opts.rtc.iceTcp ? 'UDP or TCP port' : 'UDP port'} (${err.message}; ${where}): ` +
    'RTC_LISTEN_IP must be an address of this host (or unset, for all interfaces), and ' +
    `RTC_MIN_PORT..RTC_MAX_PORT must hold a free port for each of the MEDIASOUP_WORKERS=${opts.workers} workers` +
    (opts.rtc.iceTcp ? ', for UDP and for TCP (RTC_ICE_TCP=0: UDP only)' : '')
  );
}

/**
 * One UDP socket per worker, and with RTC_ICE_TCP one TCP listening socket: the configured listen
 * address (all interfaces by default) and, as the address in candidates, RTC_ANNOUNCED_IP, else
 * the listen address, else loopback (a demo on one machine; set RTC_ANNOUNCED_IP for anyone else
 * to reach it, as with werift behind NAT). Each takes its own port from RTC_MIN_PORT..RTC_MAX_PORT
 * (UDP and TCP ports are separate, so a firewall opens the range for both).
 */
function listenInfos(rtc: RtcConfig): ms.TransportListenInfo[] {
  const ip = rtc.listenIp ?? '0.0.0.0';
  const wildcard = ip === '0.0.0.0' || ip === '::';
  const announced = rtc.announcedIp ?? (wildcard ? '127.0.0.1' : undefined);
  const info = (protocol: 'udp' | 'tcp'): ms.TransportListenInfo => ({
    protocol,
    ip,
    ...(announced ? { announcedAddress: announced } : {}),
    ...(rtc.portRange ? { portRange: { min: rtc.portRange[0], max: rtc.portRange[1] } } : {}),
  });
  return rtc.iceTcp ? [info('udp'), info('tcp')] : [info('udp')];
}

export class MediasoupRoom extends EventEmitter<SfuRoomEvents> implements SfuRoom {
  readonly id: string;
  private readonly engine: MediasoupEngine;
  private readonly peers = new Map<string, MediasoupPeer>();
  private readonly tracks = new Set<PublishedTrack>();
  /** The router and its worker's WebRtcServer; replaced when the worker dies. */
  private placement: Promise<{ router: ms.Router; server: ms.WebRtcServer }>;
  /** A placement is in progress: engine.place() itself moves on from a worker that dies meanwhile. */
  private placing = false;
  private closedFlag = false;
  /** The size cap's keyframe check (undefined: no cap); its DirectTransport, made on the first video. */
  private readonly inspector: KeyframeInspector | undefined;
  private direct: Promise<ms.DirectTransport> | undefined;

  constructor(id: string, engine: MediasoupEngine) {
    super();
    this.id = id;
    this.engine = engine;
    this.placement = this.place();
    const max = engine.maxVideoSize;
    if (max) {
      this.inspector = new KeyframeInspector(max);
      this.inspector.on('change', (producerId) => {
        for (const peer of this.peers.values()) peer.refreshHold(producerId);
      });
    }
  }

  get connectTimeoutMs(): number | undefined {
    return this.engine.connectTimeoutMs;
  }

  get iceTcp(): boolean {
    return this.engine.iceTcp;
  }

  /** Every open transport of the room's peers (publish and subscribe sides). */
  transports(): ms.WebRtcTransport[] {
    return [...this.peers.values()].flatMap((p) => p.transports());
  }

  /** Whether subscribers may receive this producer now (the size cap's keyframe check). */
  released(producerId: string): boolean {
    return this.inspector?.allowed(producerId) ?? true;
  }

  /** The size check's state for a publisher's video (tests, diagnostics). */
  videoInspection(publisherId: string): Inspection | undefined {
    for (const t of this.tracks) if (t.publisherId === publisherId && t.kind === 'video') return this.inspector?.inspection(t.producer.id);
    return undefined;
  }

  private place(): Promise<{ router: ms.Router; server: ms.WebRtcServer }> {
    this.placing = true;
    const p = this.engine.place(this).then((placed) => {
      if (this.closedFlag) placed.router.close();
      return placed;
    });
    void p.finally(() => {
      if (this.placement === p) this.placing = false;
    }).catch(() => undefined);
    p.catch((err: unknown) => log.error('could not place a room', { room: this.id, err: (err as Error).message }));
    return p;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The room's router now (after a worker death: the new one). */
  router(): Promise<{ router: ms.Router; server: ms.WebRtcServer }> {
    return this.placement;
  }

  createPeer(opts: PeerOptions): MediasoupPeer {
    if (this.closedFlag) throw new Error(`room ${this.id} is closed`);
    if (this.peers.has(opts.id)) throw new Error(`peer ${opts.id} already exists in room ${this.id}`);
    const peer = new MediasoupPeer(opts, this, (t) => this.trackPublished(t));
    this.peers.set(opts.id, peer);
    peer.once('close', () => {
      if (this.peers.get(opts.id) === peer) this.peers.delete(opts.id);
    });
    for (const t of this.tracks) peer.subscribeTo(t);
    return peer;
  }

  private trackPublished(t: PublishedTrack): void {
    this.tracks.add(t);
    t.producer.observer.once('close', () => this.tracks.delete(t));
    if (this.inspector && t.kind === 'video') {
      const inspector = this.inspector;
      void this.placement
        .then(async ({ router }) => {
          this.direct ??= router.createDirectTransport();
          await inspector.watch(await this.direct, router, t.producer);
        })
        .catch((err: unknown) => log.error('size check not started', { room: this.id, err: (err as Error).message }));
    }
    for (const peer of this.peers.values()) {
      if (peer.id !== t.publisherId) peer.subscribeTo(t);
    }
  }

  /**
   * The worker under this room died: its router, transports, producers and consumers are gone. A
   * new router goes on a live worker; every peer is told its media failed, so its client rejoins.
   */
  relocate(): void {
    if (this.closedFlag) return;
    this.tracks.clear();
    this.direct = undefined;
    // A second placement would leave one of the two routers open for ever.
    if (!this.placing) this.placement = this.place();
    const peers = [...this.peers.values()];
    log.warn('room moves to another worker; its participants rejoin', { room: this.id, peers: peers.length });
    for (const peer of peers) peer.lost();
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const peer of [...this.peers.values()]) peer.close();
    this.placement.then(({ router }) => router.close()).catch(() => undefined);
    this.emit('close');
  }
}
