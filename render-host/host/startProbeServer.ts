/**
 * The render host's small HTTP side (fastify + @fastify/websocket): `/probe` is a WebSocket echo that
 * players' browsers and checkers measure RTT against (several samples, median), `/metrics` is this
 * process's Prometheus registry, `/healthz` says whether the host is registered. When the config enables
 * them, `GET`/`POST /test-hooks` read and switch the degradation hooks (tests only; see TestHooks.ts).
 */

import fastifyWebsocket from '@fastify/websocket';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type TlsFiles, tlsServerOptions } from '../../signaling/tls/tlsServerFactory.js';
import type { TestHooks } from '../session/index.js';

/** Probe frames are tiny (a timestamp); anything larger is closed as abuse. */
const MAX_PROBE_FRAME_BYTES = 256;

/** `POST /test-hooks`: fields left out keep their value; `fpsCap: null` lifts the cap. */
const TestHooksUpdate = Type.Object(
  {
    fpsCap: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 240 }), Type.Null()])),
    dataChannelDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  },
  { additionalProperties: false },
);

export type StartProbeServerParameters = {
  bindHost: string;
  /** The host name or address players and checkers reach this server at (the probe URL); default bindHost. */
  publicHost?: string | undefined;
  port: number;
  /** Serve https and wss with this pair: the probe URL is then `wss://` (an https page may not open ws://). */
  tls?: TlsFiles;
  log: Logger;
  registry: Registry;
  /** Added before each echo: a test hook that makes this host look farther away. */
  probeDelayMs: () => number;
  health: () => { registered: boolean; slots: number; busySlots: number };
  sessions: () => unknown;
  /** Serve `/test-hooks` (only when the config enables it: the hooks degrade this host on purpose). */
  testHooks?: { get(): TestHooks; set(hooks: TestHooks): Promise<void> };
};

export type ProbeServer = {
  readonly url: string;
  readonly probeUrl: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
};

export async function startProbeServer(params: StartProbeServerParameters): Promise<ProbeServer> {
  const app = Fastify({
    loggerInstance: params.log.child({ mod: 'render-host/probe' }) as FastifyBaseLogger,
    ...tlsServerOptions(params.tls),
  });
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
  const hooks = params.testHooks;
  if (hooks) {
    app.get('/test-hooks', async () => hooks.get());
    app.post('/test-hooks', async (request, reply) => {
      if (!Value.Check(TestHooksUpdate, request.body)) {
        const first = Value.Errors(TestHooksUpdate, request.body).First();
        return reply.code(400).send({
          code: 'ATH_ERR_BAD_MESSAGE',
          message: `invalid test hooks${first ? ` at ${first.path || '/'}: ${first.message}` : ''}`,
        });
      }
      const update = request.body;
      const current = hooks.get();
      const fpsCap = update.fpsCap === undefined ? current.fpsCap : (update.fpsCap ?? undefined);
      const next: TestHooks = {
        dataChannelDelayMs: update.dataChannelDelayMs ?? current.dataChannelDelayMs,
        ...(fpsCap === undefined ? {} : { fpsCap }),
      };
      params.log.warn({ hooks: next }, 'test hooks switched: this host is degraded on purpose');
      // Answered once every live stream applied them: the caller may measure right after.
      await hooks.set(next);
      return next;
    });
  }
  await app.listen({ host: params.bindHost, port: params.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : params.port;
  const host = params.publicHost ?? params.bindHost;
  const secure = params.tls !== undefined;
  const url = `${secure ? 'https' : 'http'}://${host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    probeUrl: `${secure ? 'wss' : 'ws'}://${host}:${port}/probe`,
    app,
    close: () => {
      closing ??= app.close();
      return closing;
    },
  };
}
