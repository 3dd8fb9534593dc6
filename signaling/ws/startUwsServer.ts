/**
 * The signaling WebSocket on uWebSockets.js. Two endpoints:
 *   /ws/player — browsers; the upgrade carries the player token as a subprotocol `token.<token>` next to
 *                `ath-edge.v1`, and is refused (401) before any message when it is missing or invalid;
 *   /ws/node   — render hosts and checkers; they prove their wallet with a signed nonce after `hello`.
 * The token rides in Sec-WebSocket-Protocol rather than the URL so that it stays out of access logs.
 */

import type uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { PeerIdentity } from '../hub/PeerDirectory.js';
import type { SignalingHub } from '../hub/SignalingHub.js';
import { AthError, isAthError, MAX_MESSAGE_BYTES, type ServerMessage, WS_SUBPROTOCOL } from '../protocol/index.js';
import { readTlsFiles, type TlsFiles } from '../tls/tlsServerFactory.js';
import { authorizeUpgrade } from './authorizeUpgrade.js';
import type { UwsModule } from './loadUws.js';

type SocketData = { id: string; identity: PeerIdentity; closed: boolean };

export type StartUwsServerParameters = {
  hub: SignalingHub;
  bindHost: string;
  port: number;
  tokenSecret: Uint8Array;
  log: Logger;
  /** wss with this certificate and key (uWS `SSLApp`); plain ws when absent. */
  tls?: TlsFiles;
};

export type UwsServer = { readonly port: number; close(): void };

/** `uws`: a native build from `loadUws()`. */
export function startUwsServer(
  { hub, bindHost, port, tokenSecret, log, tls }: StartUwsServerParameters,
  uws: UwsModule,
): Promise<UwsServer> {
  const wsLog = log.child({ mod: 'signaling/ws' });
  if (tls) readTlsFiles(tls); // A missing or unreadable file is a clear config error, not a silent uWS failure.
  const app = tls ? uws.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : uws.App();
  // This uWS build has no app.close(): keep the open sockets so shutdown can end them.
  const open = new Set<uWS.WebSocket<SocketData>>();

  const behavior = (kind: PeerIdentity['kind']): uWS.WebSocketBehavior<SocketData> => ({
    // Frames up to 4× the protocol limit reach the parser and get a typed error; beyond that uWS closes (1009).
    maxPayloadLength: MAX_MESSAGE_BYTES * 4,
    maxBackpressure: 1024 * 1024,
    idleTimeout: 32,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      // Headers must be read before the first await or return: uWS reuses the request object.
      const protocolHeader = req.getHeader('sec-websocket-protocol');
      const key = req.getHeader('sec-websocket-key');
      const extensions = req.getHeader('sec-websocket-extensions');
      const page = {
        origin: req.getHeader('origin') || undefined,
        host: req.getHeader('host') || undefined,
        remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
      };
      let identity: PeerIdentity;
      try {
        identity = authorizeUpgrade(kind, protocolHeader, tokenSecret, page);
      } catch (error) {
        const code = isAthError(error) ? error.code : 'ATH_ERR_UNAUTHORIZED';
        wsLog.info({ code, kind }, 'upgrade refused');
        res.writeStatus(code === 'ATH_ERR_BAD_MESSAGE' ? '400 Bad Request' : '401 Unauthorized');
        res.writeHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code, message: isAthError(error) ? error.shortMessage : 'unauthorized' }));
        return;
      }
      const data: SocketData = { id: hub.newPeerId(), identity, closed: false };
      res.upgrade(data, key, WS_SUBPROTOCOL, extensions, context);
    },
    open: (ws) => {
      open.add(ws);
      const data = ws.getUserData();
      hub.attach(
        {
          id: data.id,
          send: (message: ServerMessage) => {
            if (!data.closed) ws.send(JSON.stringify(message), false);
          },
          close: (code, reason) => {
            if (!data.closed) ws.end(code, reason);
          },
        },
        data.identity,
      );
    },
    message: (ws, message) => {
      // The ArrayBuffer is only valid during this callback; the hub parses it synchronously.
      hub.receive(ws.getUserData().id, message);
    },
    close: (ws, code) => {
      open.delete(ws);
      const data = ws.getUserData();
      data.closed = true;
      hub.detach(data.id, { clean: code === 1000 || code === 1001 });
    },
  });

  app.ws<SocketData>('/ws/player', behavior('player'));
  app.ws<SocketData>('/ws/node', behavior('node'));
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('signaling WebSocket endpoints: /ws/player, /ws/node');
  });

  return new Promise((resolve, reject) => {
    app.listen(bindHost, port, (listenSocket) => {
      if (!listenSocket) {
        reject(
          new AthError({
            code: 'ATH_ERR_SIGNALING_LISTEN',
            shortMessage: `cannot listen on ${bindHost}:${port} for WebSockets`,
          }),
        );
        return;
      }
      const boundPort = uws.us_socket_local_port(listenSocket);
      wsLog.info({ port: boundPort }, 'signaling WebSocket listening');
      let closed = false;
      resolve({
        port: boundPort,
        close: () => {
          if (closed) return;
          closed = true;
          uws.us_listen_socket_close(listenSocket);
          for (const ws of [...open]) ws.end(1001, 'signaling shutting down');
        },
      });
    });
  });
}
