import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createMetrics, type Metrics, SIGNALING_METRICS, type SignalingMetricKey } from '../metrics/index.js';
import { buildHttpApp } from './http/buildHttpApp.js';
import type { PaymentGate } from './hub/PaymentGate.js';
import { SignalingHub } from './hub/SignalingHub.js';
import type { SignalingSettings } from './SignalingSettings.js';
import type { SignalingStore } from './store/SignalingStore.js';
import { startFastifyWsServer } from './ws/startFastifyWsServer.js';
import { startUwsServer } from './ws/startUwsServer.js';

export type StartSignalingParameters = {
  settings: SignalingSettings;
  log: Logger;
  metrics?: Metrics<SignalingMetricKey>;
  /** uWebSockets.js in production; fastify + @fastify/websocket only to compare (bench:indexer). */
  transport?: 'uws' | 'fastify-ws';
  /** The economy's gate (edge/economy); without it sessions are not billed. */
  payments?: PaymentGate;
  /** More HTTP routes on the same server (the economy's API), registered before it listens. */
  routes?: ReadonlyArray<FastifyPluginAsyncTypebox>;
  /** Where the state lives (a shared Redis store for several instances); this process's memory by default. */
  store?: SignalingStore;
};

export type SignalingServer = {
  readonly httpUrl: string;
  readonly wsPlayerUrl: string;
  readonly wsNodeUrl: string;
  readonly hub: SignalingHub;
  readonly http: FastifyInstance;
  readonly metrics: Metrics<SignalingMetricKey>;
  close(): Promise<void>;
};

/** Starts the indexer: WebSocket signaling on uWebSockets.js and the HTTP API on fastify. */
export async function startSignaling({
  settings,
  log,
  metrics,
  transport = 'uws',
  payments,
  routes = [],
  store,
}: StartSignalingParameters): Promise<SignalingServer> {
  const processMetrics = metrics ?? createMetrics({ keys: SIGNALING_METRICS });
  const hub = new SignalingHub({
    settings,
    log,
    metrics: processMetrics,
    ...(payments ? { payments } : {}),
    ...(store ? { store } : {}),
  });
  const ws = await (transport === 'uws' ? startUwsServer : startFastifyWsServer)({
    hub,
    bindHost: settings.bindHost,
    port: settings.wsPort,
    tokenSecret: settings.tokenSecret,
    log,
  });
  const wsBase = settings.publicWsUrl ?? `ws://${settings.bindHost}:${ws.port}`;
  const wsUrls = { player: `${wsBase}/ws/player`, node: `${wsBase}/ws/node` };
  const http = await buildHttpApp({
    hub,
    log,
    registry: processMetrics.registry,
    tokenSecret: settings.tokenSecret,
    tokenTtlSec: settings.tokenTtlSec,
    clientDir: settings.clientDir,
    wsUrls: () => wsUrls,
    checkerDomain: settings.checks.domain,
    routes,
  });
  try {
    await http.listen({ host: settings.bindHost, port: settings.httpPort });
  } catch (error) {
    ws.close();
    hub.close();
    throw error;
  }
  const address = http.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : settings.httpPort;
  const httpUrl = settings.publicHttpUrl ?? `http://${settings.bindHost}:${httpPort}`;
  hub.servesPagesAt(httpUrl, httpPort);
  let closing: Promise<void> | undefined;
  return {
    httpUrl,
    wsPlayerUrl: wsUrls.player,
    wsNodeUrl: wsUrls.node,
    hub,
    http,
    metrics: processMetrics,
    close: () => {
      closing ??= (async () => {
        ws.close();
        hub.close();
        await http.close();
      })();
      return closing;
    },
  };
}
