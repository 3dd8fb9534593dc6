import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AdmissionSettings } from '../admission/AdmissionSettings.js';
import { addressKey } from '../admission/ipAddress.js';
import type { SignalingHub } from '../hub/SignalingHub.js';
import { AthError, PROTOCOL_VERSION } from '../protocol/index.js';
import type { SharedLimits } from '../store/SignalingStore.js';
import { type TlsFiles, tlsServerOptions } from '../tls/tlsServerFactory.js';
import { installErrorHandler } from './httpErrors.js';
import { healthRoutes } from './routes/healthRoutes.js';
import { metricsRoute } from './routes/metricsRoute.js';
import { playerRoutes } from './routes/playerRoutes.js';
import { sessionRoutes } from './routes/sessionRoutes.js';
import { sharedRateStore } from './sharedRateStore.js';

export type BuildHttpAppParameters = {
  hub: SignalingHub;
  /** Serve https with this certificate and key; plain http when absent. */
  tls?: TlsFiles;
  log: Logger;
  registry: Registry;
  tokenSecret: Uint8Array;
  tokenTtlSec: number;
  clientDir: string | undefined;
  wsUrls: () => { player: string; node: string };
  checkerDomain: { chainId: number; verifyingContract: string };
  /** Requests per address and minute (every route; anonymous player tokens apart). */
  rateLimits: AdmissionSettings['http'];
  /** Reverse proxies whose X-Forwarded-For names the client (fastify's `trustProxy`); none when empty. */
  trustedProxies?: readonly string[];
  routes?: ReadonlyArray<FastifyPluginAsyncTypebox>;
  /** Shown on /healthz: `uws <build>` or `fastify-ws`. */
  wsTransport?: string;
  /** Several instances on one store: the rate limits are the network's (keyed by `addressHash`). */
  shared?: { limits: SharedLimits; addressHash: (ip: string) => string };
};

/** The signaling HTTP app, built apart from `listen` so tests can `inject()` into it. */
export async function buildHttpApp(params: BuildHttpAppParameters): Promise<FastifyInstance> {
  const app = Fastify({
    // pino 10's Logger is structurally a FastifyBaseLogger; fastify types its own bundled pino.
    loggerInstance: params.log.child({ mod: 'signaling/http' }) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false } },
    // request.ip: the client behind a trusted proxy (the last X-Forwarded-For entry that is not one), else the peer.
    trustProxy: params.trustedProxies?.length ? [...params.trustedProxies] : false,
    ...tlsServerOptions(params.tls),
  }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandler(app);
  const shared = params.shared;
  // Every route, the economy's and the static files included, per caller address; 429 + Retry-After.
  await app.register(fastifyRateLimit, {
    global: true,
    max: params.rateLimits.requestsPerMinute,
    timeWindow: 60_000,
    cache: params.rateLimits.maxTrackedIps,
    // Per client address, IPv6 by /64 (one customer's network); with several instances a keyed hash of it, counted
    // for the network in Redis.
    ...(shared
      ? {
          store: sharedRateStore(shared.limits, params.rateLimits.maxTrackedIps),
          keyGenerator: (request: { ip: string }) => shared.addressHash(request.ip),
        }
      : { keyGenerator: (request: { ip: string }) => addressKey(request.ip) }),
    errorResponseBuilder: (_request, context) =>
      new AthError({
        code: 'ATH_ERR_RATE_LIMITED',
        shortMessage: `more than ${context.max} requests a minute from this address; retry in ${context.after}`,
      }),
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'ath-edge signaling API', version: String(PROTOCOL_VERSION) },
    },
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(healthRoutes, {
    hub: params.hub,
    startedAtMs: Date.now(),
    wsTransport: params.wsTransport ?? 'unknown',
  });
  await app.register(metricsRoute, { registry: params.registry, beforeScrape: () => params.hub.refreshGauges() });
  await app.register(playerRoutes, {
    hub: params.hub,
    tokenSecret: params.tokenSecret,
    tokenTtlSec: params.tokenTtlSec,
    playerTokensPerMinute: params.rateLimits.playerTokensPerMinute,
    wsUrls: params.wsUrls,
    checkerDomain: params.checkerDomain,
  });
  await app.register(sessionRoutes, { hub: params.hub, tokenSecret: params.tokenSecret });
  for (const routes of params.routes ?? []) await app.register(routes);
  if (params.clientDir) {
    await app.register(fastifyStatic, { root: params.clientDir, prefix: '/', index: ['index.html'] });
  }
  return app;
}
