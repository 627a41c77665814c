/** Builds the whole server: HTTP (client app, health), socket.io signaling, rooms and SFU engine. */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server as IoServer } from 'socket.io';
import type { ServerConfig } from './config.ts';
import { staticFiles } from './http/staticFiles.ts';
import { MAX_MESSAGE_BYTES } from './protocol/messages.ts';
import type { SfuEngine } from './sfu/engine.ts';
import { WeriftEngine } from './sfu/werift/WeriftEngine.ts';
import { RoomRegistry } from './signaling/RoomRegistry.ts';
import { SignalingServer, type IoServer as TypedIoServer } from './signaling/SignalingServer.ts';

export const CLIENT_DIST = fileURLToPath(new URL('../../client/dist', import.meta.url));

export interface App {
  http: HttpServer;
  registry: RoomRegistry;
  engine: SfuEngine;
  /** Listens on the configured host and port (port 0 picks a free one); resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export function createEngine(config: ServerConfig): SfuEngine {
  switch (config.sfuEngine) {
    case 'werift':
      return new WeriftEngine(config.rtc);
  }
}

export function createApp(config: ServerConfig, opts: { clientDist?: string } = {}): App {
  const serveClient = staticFiles(opts.clientDist ?? CLIENT_DIST);
  const http = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
      return;
    }
    if (!serveClient(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  const io: TypedIoServer = new IoServer(http, { maxHttpBufferSize: MAX_MESSAGE_BYTES, serveClient: false });
  const engine = createEngine(config);
  const registry = new RoomRegistry(engine, { maxParticipants: config.maxParticipants, persistentRooms: config.rooms });
  const signaling = new SignalingServer(io, { tokenSecret: config.tokenSecret, iceServers: config.iceServers, registry });

  return {
    http,
    registry,
    engine,
    listen: () =>
      new Promise((resolveUrl, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => {
          const { port } = http.address() as AddressInfo;
          resolveUrl(config.publicUrl ?? `http://localhost:${port}`);
        });
      }),
    close: async () => {
      signaling.close();
      registry.closeAll('The server is shutting down.');
      engine.close();
      await new Promise<void>((r) => io.close(() => r()));
    },
  };
}
