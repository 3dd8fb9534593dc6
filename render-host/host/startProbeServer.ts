/**
 * The render host's small HTTP side (fastify + @fastify/websocket): `/probe` is a WebSocket echo that
 * players' browsers and checkers measure RTT against (several samples, median), `/metrics` is this
 * process's Prometheus registry, `/healthz` says whether the host is registered.
 */
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** Probe frames are tiny (a timestamp); anything larger is closed as abuse. */
const MAX_PROBE_FRAME_BYTES = 256;

export type StartProbeServerParameters = {
  bindHost: string;
  port: number;
  log: Logger;
  registry: Registry;
  /** Added before each echo: a test hook that makes this host look farther away. */
  probeDelayMs: () => number;
  health: () => { registered: boolean; slots: number; busySlots: number };
  sessions: () => unknown;
};

export type ProbeServer = {
  readonly url: string;
  readonly probeUrl: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
};

export async function startProbeServer(params: StartProbeServerParameters): Promise<ProbeServer> {
  const app = Fastify({ loggerInstance: params.log.child({ mod: 'render-host/probe' }) as FastifyBaseLogger });
  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_PROBE_FRAME_BYTES } });
  app.get('/probe', { websocket: true }, (socket) => {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      const delayMs = params.probeDelayMs();
      const echo = () => {
        if (socket.readyState === socket.OPEN) socket.send(data, { binary: isBinary });
      };
      if (delayMs > 0) setTimeout(echo, delayMs);
      else echo();
    });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', params.registry.contentType);
    return params.registry.metrics();
  });
  app.get('/healthz', async () => params.health());
  // Slots, their sessions and live stream stats: for the provider's status and the stream benchmark.
  app.get('/sessions', async () => ({ slots: params.sessions() }));
  await app.listen({ host: params.bindHost, port: params.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : params.port;
  const url = `http://${params.bindHost}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    probeUrl: `ws://${params.bindHost}:${port}/probe`,
    app,
    close: () => {
      closing ??= app.close();
      return closing;
    },
  };
}
