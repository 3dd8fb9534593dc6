import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createMetrics, type Metrics, SIGNALING_METRICS, type SignalingMetricKey } from '../metrics/index.js';
import { AdmissionControl } from './admission/AdmissionControl.js';
import { addressHash } from './admission/ipAddress.js';
import { buildHttpApp } from './http/buildHttpApp.js';
import type { PaymentGate } from './hub/PaymentGate.js';
import { SignalingHub } from './hub/SignalingHub.js';
import { AthError } from './protocol/index.js';
import type { SignalingSettings } from './SignalingSettings.js';
import type { SignalingStore } from './store/SignalingStore.js';
import type { DrainStore } from './trust/DrainStore.js';
import type { StakeGate } from './trust/StakeGate.js';
import { loadUws } from './ws/loadUws.js';
import { startFastifyWsServer } from './ws/startFastifyWsServer.js';
import { startUwsServer, type UwsPings } from './ws/startUwsServer.js';

export type StartSignalingParameters = {
  settings: SignalingSettings;
  log: Logger;
  metrics?: Metrics<SignalingMetricKey>;
  /**
   * `auto` (default): uWebSockets.js where a native build loads (signaling/ws/loadUws.ts), else
   * fastify + @fastify/websocket, with a warning naming why. `uws` refuses to start without a native build
   * (ATH_ERR_UWS_NOT_NATIVE); `fastify-ws` always uses the fallback (bench:indexer compares the two).
   */
  transport?: WsTransportSetting;
  /** The uWebSockets.js builds to try, in order (default `UWS_BUILDS`; tests name one that does not exist). */
  uwsBuilds?: readonly string[];
  /** uWS keep-alive pings: `spread` (default) or uWS's own `native` bursts (signaling/ws/startUwsServer.ts). */
  uwsPings?: UwsPings;
  /** How long a socket is silent before uWS's server pings it (`spread`); tests shorten it. */
  uwsPingAfterMs?: number;
  /** Hosts and checkers must be staked: the StakingRegistry's word (edge/economy's ChainStakeGate). */
  stakes: StakeGate;
  /** Where drains are kept across restarts (the ledger, edge/economy); in memory when absent. */
  drains?: DrainStore;
  /** The economy's gate (edge/economy); without it sessions are not billed. */
  payments?: PaymentGate;
  /** More HTTP routes on the same server (the economy's API), registered before it listens. */
  routes?: ReadonlyArray<FastifyPluginAsyncTypebox>;
  /** Where the state lives (a shared Redis store for several instances); this process's memory by default. */
  store?: SignalingStore;
};

export type WsTransportSetting = 'auto' | 'uws' | 'fastify-ws';

/** Which WebSocket server runs: `uws` with the build that loaded, or the `fastify-ws` fallback. */
export type WsTransport = { kind: 'uws'; build: string } | { kind: 'fastify-ws' };

export type SignalingServer = {
  readonly httpUrl: string;
  readonly wsTransport: WsTransport;
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
  transport = settings.wsTransport ?? 'auto',
  uwsBuilds,
  uwsPings,
  uwsPingAfterMs,
  stakes,
  drains,
  payments,
  routes = [],
  store,
}: StartSignalingParameters): Promise<SignalingServer> {
  const loaded = transport === 'fastify-ws' ? undefined : loadUws(uwsBuilds);
  if (transport === 'uws' && !loaded?.ok) {
    throw new AthError({
      code: 'ATH_ERR_UWS_NOT_NATIVE',
      shortMessage: `no native uWebSockets.js build loads on Node ${process.versions.node} (${process.platform}-${process.arch})`,
      details: loaded && !loaded.ok ? loaded.reasons.join('; ') : undefined,
    });
  }
  if (loaded && !loaded.ok) {
    log.warn(
      { mod: 'signaling/ws', node: process.versions.node, abi: process.versions.modules, reasons: loaded.reasons },
      'no native uWebSockets.js build loads here: serving the signaling WebSockets on @fastify/websocket instead',
    );
  }
  const processMetrics = metrics ?? createMetrics({ keys: SIGNALING_METRICS });
  const hub = new SignalingHub({
    settings,
    log,
    metrics: processMetrics,
    stakes,
    ...(drains ? { drains } : {}),
    ...(payments ? { payments } : {}),
    ...(store ? { store } : {}),
  });
  // Several instances on one store: per-address connection counts and upgrade rates are the network's.
  const limits = store?.limits;
  limits?.onDegraded((limit) => processMetrics.metric.clusterLimitsDegraded.inc({ limit }));
  const shared = limits ? { limits, addressHash: (ip: string) => addressHash(settings.tokenSecret, ip) } : undefined;
  const admission = new AdmissionControl(settings.admission, shared ? { shared } : {});
  const wsParameters = {
    hub,
    bindHost: settings.bindHost,
    port: settings.wsPort,
    tokenSecret: settings.tokenSecret,
    admission,
    log,
    ...(settings.tls ? { tls: settings.tls } : {}),
  };
  const wsTransport: WsTransport = loaded?.ok ? { kind: 'uws', build: loaded.build } : { kind: 'fastify-ws' };
  let ws: Awaited<ReturnType<typeof startFastifyWsServer>>;
  try {
    await hub.start();
    ws = loaded?.ok
      ? await startUwsServer(
          {
            ...wsParameters,
            ...(uwsPings ? { pings: uwsPings } : {}),
            ...(uwsPingAfterMs ? { pingAfterMs: uwsPingAfterMs } : {}),
          },
          loaded.uws,
        )
      : await startFastifyWsServer(wsParameters);
  } catch (error) {
    admission.close();
    hub.close();
    throw error;
  }
  log.info({ mod: 'signaling/ws', wsTransport, node: process.versions.node }, 'signaling WebSocket transport');
  const secure = settings.tls !== undefined;
  const wsBase = settings.publicWsUrl ?? `${secure ? 'wss' : 'ws'}://${settings.bindHost}:${ws.port}`;
  const wsUrls = { player: `${wsBase}/ws/player`, node: `${wsBase}/ws/node` };
  const http = await buildHttpApp({
    hub,
    ...(settings.tls ? { tls: settings.tls } : {}),
    log,
    registry: processMetrics.registry,
    tokenSecret: settings.tokenSecret,
    tokenTtlSec: settings.tokenTtlSec,
    clientDir: settings.clientDir,
    wsUrls: () => wsUrls,
    checkerDomain: settings.checks.domain,
    rateLimits: settings.admission.http,
    trustedProxies: settings.admission.trustedProxies,
    routes,
    wsTransport: wsTransport.kind === 'uws' ? `uws ${wsTransport.build}` : 'fastify-ws',
    ...(shared ? { shared } : {}),
  });
  try {
    await http.listen({ host: settings.bindHost, port: settings.httpPort });
  } catch (error) {
    ws.close();
    admission.close();
    hub.close();
    throw error;
  }
  const address = http.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : settings.httpPort;
  const httpUrl = settings.publicHttpUrl ?? `${secure ? 'https' : 'http'}://${settings.bindHost}:${httpPort}`;
  hub.servesPagesAt(httpUrl, httpPort);
  let closing: Promise<void> | undefined;
  return {
    httpUrl,
    wsTransport,
    wsPlayerUrl: wsUrls.player,
    wsNodeUrl: wsUrls.node,
    hub,
    http,
    metrics: processMetrics,
    close: () => {
      closing ??= (async () => {
        ws.close();
        admission.close();
        hub.close();
        await hub.checkers.flush();
        await http.close();
      })();
      return closing;
    },
  };
}
