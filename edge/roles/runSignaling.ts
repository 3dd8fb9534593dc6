import { join } from 'node:path';
import type { Logger } from 'pino';
import { knownGameSpecs } from '../../render-host/index.js';
import {
  DEFAULT_SIGNALING_SETTINGS,
  RedisSignalingStore,
  type SignalingServer,
  type SignalingSettings,
  startSignaling,
} from '../../signaling/index.js';
import { AthError, weiFromString } from '../../signaling/protocol/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { signalingIceSettings } from '../config/iceSettings.js';
import { resolveTlsFiles } from '../config/tlsSettings.js';
import { startEconomy } from '../economy/index.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import type { RoleHandle } from './RoleHandle.js';

export type SignalingInfo = {
  httpUrl: string;
  wsPlayerUrl: string;
  wsNodeUrl: string;
  metricsUrl: string;
  /** `uws <build>` or `fastify-ws` (no native uWebSockets.js build loads on this Node). */
  wsTransport: string;
};

export type RunSignalingParameters = { config: EdgeConfig; log: Logger; clientDir: string | undefined };

export async function runSignaling({
  config,
  log,
  clientDir,
}: RunSignalingParameters): Promise<RoleHandle<SignalingInfo>> {
  if (config.chain.network === 'none') {
    throw new AthError({
      code: 'ATH_ERR_CONFIG',
      shortMessage: 'signaling needs a chain: render hosts and checkers must be staked in its StakingRegistry',
      details: 'set chain.network (anvil for the embedded chain, or arbitrum-*) and the contract addresses',
    });
  }
  const secretHex =
    config.signaling.tokenSecretHex ?? loadOrCreateKey(join(config.dataDir, 'keys', 'token-secret')).slice(2);
  const s = config.signaling;
  // Billing, stake and drains: the ledger, payments, metering and settlement live in this process (edge/economy).
  const economy = await startEconomy({ config, log, clientDir });
  const settings: SignalingSettings = {
    ...DEFAULT_SIGNALING_SETTINGS,
    httpPort: s.httpPort,
    wsPort: s.wsPort,
    ...(s.wsTransport ? { wsTransport: s.wsTransport } : {}),
    tokenTtlSec: s.tokenTtlSec,
    heartbeatIntervalMs: s.heartbeatIntervalMs,
    missedHeartbeatsAllowed: s.missedHeartbeatsAllowed,
    leaseTtlMs: s.leaseTtlMs,
    reconnectWindowMs: s.reconnectWindowMs,
    reloadGraceMs: s.reloadGraceMs,
    afkTimeoutMs: s.afkTimeoutMs,
    bindHost: config.bindHost,
    publicHttpUrl: s.publicHttpUrl,
    publicWsUrl: s.publicWsUrl,
    tokenSecret: Buffer.from(secretHex, 'hex'),
    clientDir,
    ice: signalingIceSettings(config),
    tls: await resolveTlsFiles(config).then((tls) => tls && { certFile: tls.certFile, keyFile: tls.keyFile }),
    checks: {
      ...DEFAULT_SIGNALING_SETTINGS.checks,
      intervalMs: s.checkIntervalMs,
      firstRoundDelayMs: s.firstCheckDelayMs,
      minResponders: s.checkMinResponders,
      probationPasses: s.probationPasses,
      contradictedPlayersToDrain: s.contradictedPlayersToDrain,
      contradictionWindowMs: s.contradictionWindowMs,
      contradictionMinPayerSec: s.contradictionMinPayerSec,
      excludeSameNetwork: s.checkerExclusion,
      domain: economy.checkerDomain,
      // Checkers hold every container to its game's manifest (the built-in catalogue), not to what it declares.
      gameSpecs: await knownGameSpecs(),
    },
    stake: { ...DEFAULT_SIGNALING_SETTINGS.stake, hostTiers: s.hostTiers },
    priceBoundsWeiPerSec: { min: weiFromString(s.priceMinWeiPerSec), max: weiFromString(s.priceMaxWeiPerSec) },
    probeUrlMustMatchPeer: s.probeUrlMustMatchPeer,
    hostTtlMs: s.hostTtlMs,
    admission: s.admission,
  };
  // Several signaling servers, one network: the state is shared through Redis.
  const openStore = () =>
    config.signaling.redisUrl
      ? RedisSignalingStore.open({
          url: config.signaling.redisUrl,
          log,
          ...(config.signaling.redisPrefix ? { prefix: config.signaling.redisPrefix } : {}),
          ...(config.signaling.instanceId ? { instanceId: config.signaling.instanceId } : {}),
        })
      : Promise.resolve(undefined);
  const start = async (httpPort: number) => {
    const store = await openStore().catch(async (error: unknown) => {
      await economy.close();
      throw error;
    });
    try {
      return await startSignaling({
        settings: { ...settings, httpPort },
        log,
        stakes: economy.stakes,
        drains: economy.drains,
        payments: economy.payments,
        routes: economy.routes,
        ...(store ? { store } : {}),
      });
    } catch (error) {
      store?.close();
      throw error;
    }
  };
  let server: SignalingServer;
  try {
    server = await start(settings.httpPort);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      await economy.close();
      throw error;
    }
    log.warn({ port: settings.httpPort }, 'HTTP port in use; taking a free one');
    server = await start(0);
  }
  await economy.attach(server.hub, server.metrics);
  return {
    info: {
      httpUrl: server.httpUrl,
      wsPlayerUrl: server.wsPlayerUrl,
      wsNodeUrl: server.wsNodeUrl,
      metricsUrl: `${server.httpUrl}/metrics`,
      wsTransport: server.wsTransport.kind === 'uws' ? `uws ${server.wsTransport.build}` : 'fastify-ws',
    },
    close: async () => {
      await server.close();
      await economy.close();
    },
  };
}
