/** The embedded SFU engine: pure TypeScript (werift), so it installs anywhere npm does. */
import { EventEmitter } from 'node:events';
import type { PeerConfig } from 'werift';
import type { RtcConfig } from '../../config.ts';
import type { PeerOptions, SfuEngine, SfuRoom, SfuRoomEvents } from '../engine.ts';
import { buildPeerConfig } from './pcConfig.ts';
import type { ForwarderOptions, TrackForwarder } from './TrackForwarder.ts';
import { WeriftPeer } from './WeriftPeer.ts';

export class WeriftEngine implements SfuEngine {
  readonly name = 'werift';
  private readonly rooms = new Set<WeriftRoom>();
  private readonly peerConfig: Partial<PeerConfig>;
  private readonly announcedIp: string | undefined;
  private readonly forwarderOptions: ForwarderOptions;

  constructor(rtc: RtcConfig) {
    this.peerConfig = buildPeerConfig(rtc);
    this.announcedIp = rtc.announcedIp;
    this.forwarderOptions = { maxVideoSize: rtc.maxVideoSize, coverKeyframeMs: rtc.coverKeyframeMs };
  }

  createRoom(id: string): SfuRoom {
    const room = new WeriftRoom(id, this.peerConfig, this.announcedIp, this.forwarderOptions);
    this.rooms.add(room);
    room.once('close', () => this.rooms.delete(room));
    return room;
  }

  close(): void {
    for (const room of [...this.rooms]) room.close();
  }
}

export class WeriftRoom extends EventEmitter<SfuRoomEvents> implements SfuRoom {
  readonly id: string;
  private readonly peers = new Map<string, WeriftPeer>();
  private readonly forwarders = new Set<TrackForwarder>();
  private closedFlag = false;
  private readonly peerConfig: Partial<PeerConfig>;
  private readonly announcedIp: string | undefined;
  private readonly forwarderOptions: ForwarderOptions;

  constructor(id: string, peerConfig: Partial<PeerConfig>, announcedIp: string | undefined, forwarderOptions: ForwarderOptions = {}) {
    super();
    this.id = id;
    this.peerConfig = peerConfig;
    this.announcedIp = announcedIp;
    this.forwarderOptions = forwarderOptions;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  createPeer(opts: PeerOptions): WeriftPeer {
    if (this.closedFlag) throw new Error(`room ${this.id} is closed`);
    if (this.peers.has(opts.id)) throw new Error(`peer ${opts.id} already exists in room ${this.id}`);
    const peer = new WeriftPeer(opts, this.peerConfig, this.announcedIp, (f) => this.trackPublished(f), this.forwarderOptions);
    this.peers.set(opts.id, peer);
    peer.once('close', () => this.peers.delete(opts.id));
    for (const f of this.forwarders) peer.subscribeTo(f);
    return peer;
  }

  private trackPublished(f: TrackForwarder): void {
    this.forwarders.add(f);
    f.once('close', () => this.forwarders.delete(f));
    for (const peer of this.peers.values()) {
      if (peer.id !== f.publisherId) peer.subscribeTo(f);
    }
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const peer of [...this.peers.values()]) peer.close();
    this.emit('close');
  }
}
