/**
 * The analyzer's end of the control channel (protocol/analyzerChannel.ts): one socket.io
 * connection to the server's /analyzer namespace. Inbound messages are validated before any part
 * sees them (the server may be another version); outbound ones are dropped while disconnected,
 * since risk is re-sent every few seconds and a challenge sample is only worth anything live.
 */
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import { logger } from '../log.ts';
import type { MetricJson } from '../metrics/merge.ts';
import {
  ANALYZER_NAMESPACE,
  ServerMessages,
  parseMessage,
  type AnalyzerEvent,
  type AnalyzerPayload,
  type AnalyzerToServer,
  type ServerEvent,
  type ServerPayload,
  type ServerToAnalyzer,
  type WorkerLoad,
} from '../protocol/analyzerChannel.ts';

const log = logger('analyzer');

type Inbound = { [E in ServerEvent]: [ServerPayload<E>] };

export interface ControlChannelOptions {
  serverUrl: string;
  /** The current service token, read at each (re)connect: the embedded analyzer's is renewed. */
  token: () => string;
  heartbeatMs: number;
  /** The metrics (prom-client JSON) each heartbeat carries. */
  metrics: () => Promise<MetricJson[]>;
  /** The load each heartbeat carries (the pool dispatches calls by it). */
  load: () => WorkerLoad;
}

export class ControlChannel extends EventEmitter<Inbound> {
  private readonly socket: Socket<ServerToAnalyzer, AnalyzerToServer>;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(opts: ControlChannelOptions) {
    super();
    // One connection per call and one for control (forceNew): no multiplexing, so one call's
    // reconnect never disturbs another's.
    const socket: Socket<ServerToAnalyzer, AnalyzerToServer> = io(`${opts.serverUrl}${ANALYZER_NAMESPACE}`, {
      auth: (cb) => cb({ token: opts.token() }),
      forceNew: true,
      transports: ['websocket'],
      reconnectionDelayMax: 2000,
    });
    this.socket = socket;
    socket.on('connect', () => log.info('connected to server', { url: opts.serverUrl }));
    socket.on('connect_error', (err) => log.warn('cannot reach server', { err: err.message }));
    for (const event of Object.keys(ServerMessages) as ServerEvent[]) {
      (socket as unknown as Socket).on(event, (payload: unknown) => {
        const parsed = parseMessage(ServerMessages[event], payload);
        if (!parsed.ok) {
          log.warn('malformed message from server', { event, err: parsed.error });
          return;
        }
        (this.emit as (e: ServerEvent, p: unknown) => boolean)(event, parsed.data);
      });
    }
    this.heartbeat = setInterval(() => {
      if (!socket.connected) return;
      // Through a promise, so a collector that throws cannot take the process down from a timer.
      Promise.resolve().then(opts.metrics).then(
        (metrics) => this.send('heartbeat', { metrics, load: opts.load() }),
        (err: Error) => {
          // A heartbeat goes out even when metrics fail: the server must not think this worker stalled.
          log.warn('metrics collection failed', { err: err.message });
          this.send('heartbeat', { metrics: [], load: opts.load() });
        },
      );
    }, opts.heartbeatMs);
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  send<E extends AnalyzerEvent>(event: E, payload: AnalyzerPayload<E>): void {
    if (this.socket.connected) (this.socket.emit as (e: E, p: AnalyzerPayload<E>) => void)(event, payload);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.socket.disconnect();
  }
}
