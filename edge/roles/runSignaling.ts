import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  DEFAULT_SIGNALING_SETTINGS,
  RedisSignalingStore,
  type SignalingServer,
  startSignaling,
} from '../../signaling/index.js';
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
  const secretHex =
    config.signaling.tokenSecretHex ?? loadOrCreateKey(join(config.dataDir, 'keys', 'token-secret')).slice(2);
  const settings = {
    ...DEFAULT_SIGNALING_SETTINGS,
    ...config.signaling,
    bindHost: config.bindHost,
    publicHttpUrl: config.signaling.publicHttpUrl,
    publicWsUrl: config.signaling.publicWsUrl,
    tokenSecret: Buffer.from(secretHex, 'hex'),
    clientDir,
    ice: signalingIceSettings(config),
    tls: await resolveTlsFiles(config).then((tls) => tls && { certFile: tls.certFile, keyFile: tls.keyFile }),
  };
  // Billing: the ledger, payments, metering and settlement live in this process (see edge/economy).
  const economy = config.chain.network === 'none' ? undefined : await startEconomy({ config, log, clientDir });
  settings.checks = { ...settings.checks, intervalMs: config.signaling.checkIntervalMs };
  if (economy) settings.checks = { ...settings.checks, domain: economy.checkerDomain };
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
      await economy?.close();
      throw error;
    });
    try {
      return await startSignaling({
        settings: { ...settings, httpPort },
        log,
        ...(economy ? { payments: economy.payments, routes: economy.routes } : {}),
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
      await economy?.close();
      throw error;
    }
    log.warn({ port: settings.httpPort }, 'HTTP port in use; taking a free one');
    server = await start(0);
  }
  await economy?.attach(server.hub, server.metrics);
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
      await economy?.close();
    },
  };
}
