/**
 * The signaling WebSocket on uWebSockets.js. Two endpoints:
 *   /ws/player — browsers; the upgrade carries the player token as a subprotocol `token.<token>` next to
 *                `ath-edge.v1`, and is refused (401) before any message when it is missing or invalid;
 *   /ws/node   — render hosts and checkers; they prove their wallet with a signed nonce after `hello`.
 * The token rides in Sec-WebSocket-Protocol rather than the URL so that it stays out of access logs.
 *
 * Admission control comes first: an upgrade over the connection caps or too fast for its address is refused
 * with 429 and Retry-After; a message over its socket's or address's token bucket is dropped and answered
 * (at most once a second) with `ATH_ERR_RATE_LIMITED` and a retry time; a socket that keeps flooding is closed.
 */

import type uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { AdmissionControl, ConnectionPlace } from '../admission/AdmissionControl.js';
import type { PeerIdentity } from '../hub/PeerDirectory.js';
import type { SignalingHub } from '../hub/SignalingHub.js';
import { AthError, isAthError, MAX_MESSAGE_BYTES, type ServerMessage, WS_SUBPROTOCOL } from '../protocol/index.js';
import { readTlsFiles, type TlsFiles } from '../tls/tlsServerFactory.js';
import { authorizeUpgrade } from './authorizeUpgrade.js';
import type { UwsModule } from './loadUws.js';
import { awaitNetworkAdmission, MessageThrottle, refusedByNetwork } from './MessageThrottle.js';

type SocketData = {
  id: string;
  identity: PeerIdentity;
  closed: boolean;
  ip: string;
  throttle: MessageThrottle;
  place: ConnectionPlace;
  /** Takes a message while the network's count is asked (several instances); set when the socket opens. */
  hold: (copy: () => Uint8Array) => boolean;
};

export type StartUwsServerParameters = {
  hub: SignalingHub;
  bindHost: string;
  port: number;
  tokenSecret: Uint8Array;
  admission: AdmissionControl;
  log: Logger;
  /** wss with this certificate and key (uWS `SSLApp`); plain ws when absent. */
  tls?: TlsFiles;
};

export type UwsServer = { readonly port: number; close(): void };

/** `uws`: a native build from `loadUws()`. */
export function startUwsServer(
  { hub, bindHost, port, tokenSecret, admission, log, tls }: StartUwsServerParameters,
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
      const page = { origin: req.getHeader('origin') || undefined, host: req.getHeader('host') || undefined };
      const ip = admission.clientAddress(
        Buffer.from(res.getRemoteAddressAsText()).toString(),
        req.getHeader('x-forwarded-for') || undefined,
      );
      let identity: PeerIdentity;
      try {
        identity = authorizeUpgrade({ kind, protocolHeader, secret: tokenSecret, page, remoteIp: ip });
      } catch (error) {
        const code = isAthError(error) ? error.code : 'ATH_ERR_UNAUTHORIZED';
        wsLog.info({ code, kind }, 'upgrade refused');
        res.writeStatus(code === 'ATH_ERR_BAD_MESSAGE' ? '400 Bad Request' : '401 Unauthorized');
        res.writeHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code, message: isAthError(error) ? error.shortMessage : 'unauthorized' }));
        return;
      }
      const admitted = admission.admitConnection(ip);
      if (!admitted.admitted) {
        wsLog.debug({ ip, kind, why: admitted.why }, 'upgrade refused: admission control');
        res.writeStatus('429 Too Many Requests');
        res.writeHeader('retry-after', String(Math.ceil(admitted.retryAfterMs / 1000)));
        res.writeHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code: 'ATH_ERR_RATE_LIMITED', message: admitted.why }));
        return;
      }
      const throttle = new MessageThrottle(admission.socketBucket());
      const data: SocketData = {
        id: hub.newPeerId(),
        identity,
        closed: false,
        ip,
        throttle,
        place: admitted.place,
        hold: () => false,
      };
      res.upgrade(data, key, WS_SUBPROTOCOL, extensions, context);
    },
    open: (ws) => {
      open.add(ws);
      const data = ws.getUserData();
      // Several instances: the network's count decides before the hub hears of the socket (its messages wait).
      data.hold = awaitNetworkAdmission<Uint8Array>({
        shared: admission.confirmShared(data.place),
        attach: () =>
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
          ),
        receive: (message) => hub.receive(data.id, message),
        refuse: (refusal) => {
          ws.send(JSON.stringify(refusedByNetwork(refusal)), false);
          ws.end(4029, 'rate limited');
        },
        isClosed: () => data.closed,
      });
    },
    message: (ws, message) => {
      const data = ws.getUserData();
      const verdict = data.throttle.admit(admission, data.ip);
      if (verdict.action === 'drop') return;
      if (verdict.action === 'reply') {
        ws.send(JSON.stringify(verdict.reply), false);
        return;
      }
      if (verdict.action === 'close') {
        wsLog.info({ ip: data.ip, peerId: data.id }, 'socket closed: it kept flooding past its rate limit');
        ws.end(4029, 'rate limited');
        return;
      }
      // The ArrayBuffer is only valid during this callback: a copy waits (a few at most).
      if (data.hold(() => new Uint8Array(message.slice(0)))) return;
      // The ArrayBuffer is only valid during this callback; the hub parses it synchronously.
      hub.receive(data.id, message);
    },
    close: (ws, code) => {
      open.delete(ws);
      const data = ws.getUserData();
      data.closed = true;
      admission.connectionClosed(data.place);
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
