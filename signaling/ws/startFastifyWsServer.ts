/**
 * The same signaling endpoints on fastify + @fastify/websocket (the `ws` library). Production runs uWS;
 * this transport exists to measure the difference on our own protocol (`npm run bench:indexer`), and
 * drives the very same hub — and the same admission control — so the comparison is of transports only.
 */
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { ConnectionPlace } from '../admission/AdmissionControl.js';
import type { PeerIdentity } from '../hub/PeerDirectory.js';
import { isAthError, MAX_MESSAGE_BYTES, type ServerMessage, WS_SUBPROTOCOL } from '../protocol/index.js';
import { tlsServerOptions } from '../tls/tlsServerFactory.js';
import { authorizeUpgrade } from './authorizeUpgrade.js';
import { awaitNetworkAdmission, MessageThrottle, refusedByNetwork } from './MessageThrottle.js';
import type { StartUwsServerParameters, UwsServer } from './startUwsServer.js';

declare module 'fastify' {
  interface FastifyRequest {
    peerIdentity: PeerIdentity | null;
    connectionPlace: ConnectionPlace | null;
  }
}

export async function startFastifyWsServer({
  hub,
  bindHost,
  port,
  tokenSecret,
  admission,
  log,
  tls,
}: StartUwsServerParameters): Promise<UwsServer> {
  const app = Fastify({
    loggerInstance: log.child({ mod: 'signaling/ws-fastify' }, { level: 'warn' }) as FastifyBaseLogger,
    ...tlsServerOptions(tls),
  });
  app.decorateRequest('peerIdentity', null);
  app.decorateRequest('connectionPlace', null);
  await app.register(fastifyWebsocket, {
    options: {
      maxPayload: MAX_MESSAGE_BYTES * 4,
      handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
    },
  });
  for (const kind of ['player', 'node'] as const) {
    app.get(
      `/ws/${kind}`,
      {
        websocket: true,
        preValidation: async (request, reply) => {
          const remoteIp = admission.clientAddress(
            request.socket.remoteAddress ?? '',
            request.headers['x-forwarded-for'],
          );
          try {
            request.peerIdentity = authorizeUpgrade({
              kind,
              protocolHeader: String(request.headers['sec-websocket-protocol'] ?? ''),
              secret: tokenSecret,
              page: { origin: request.headers.origin, host: request.headers.host },
              remoteIp,
            });
          } catch (error) {
            const code = isAthError(error) ? error.code : 'ATH_ERR_UNAUTHORIZED';
            await reply.status(code === 'ATH_ERR_BAD_MESSAGE' ? 400 : 401).send({ code });
            return;
          }
          const admitted = admission.admitConnection(remoteIp);
          if (admitted.admitted) request.connectionPlace = admitted.place;
          if (!admitted.admitted) {
            request.peerIdentity = null;
            await reply
              .status(429)
              .header('retry-after', String(Math.ceil(admitted.retryAfterMs / 1000)))
              .send({ code: 'ATH_ERR_RATE_LIMITED', message: admitted.why });
          }
        },
      },
      (socket, request) => {
        const identity = request.peerIdentity;
        const place = request.connectionPlace;
        if (!identity || !place) return;
        const id = hub.newPeerId();
        const throttle = new MessageThrottle(admission.socketBucket());
        let closed = false;
        // Several instances: the network's count decides before the hub hears of the socket (its messages wait).
        const hold = awaitNetworkAdmission<Buffer>({
          shared: admission.confirmShared(place),
          attach: () =>
            hub.attach(
              {
                id,
                send: (message: ServerMessage) => {
                  if (!closed) socket.send(JSON.stringify(message));
                },
                close: (code, reason) => socket.close(code, reason),
              },
              identity,
            ),
          receive: (data) => hub.receive(id, data),
          refuse: (refusal) => {
            socket.send(JSON.stringify(refusedByNetwork(refusal)));
            socket.close(4029, 'rate limited');
          },
          isClosed: () => closed,
        });
        socket.on('message', (data: Buffer) => {
          const verdict = throttle.admit(admission, identity.remoteIp);
          if (verdict.action === 'take') {
            if (!hold(() => data)) hub.receive(id, data);
          } else if (verdict.action === 'reply' && !closed) socket.send(JSON.stringify(verdict.reply));
          else if (verdict.action === 'close') socket.close(4029, 'rate limited');
        });
        socket.on('close', (code) => {
          closed = true;
          admission.connectionClosed(place);
          hub.detach(id, { clean: code === 1000 || code === 1001 });
        });
      },
    );
  }
  await app.listen({ host: bindHost, port });
  const address = app.server.address();
  let closing = false;
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => {
      if (closing) return;
      closing = true;
      void app.close();
    },
  };
}
