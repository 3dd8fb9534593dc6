import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { AthError } from '../../signaling/protocol/index.js';
import { startChecker } from '../checker/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { checkerIceOptions } from '../config/iceSettings.js';
import { trustedSignalingCa } from '../config/tlsSettings.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import type { RoleHandle } from './RoleHandle.js';

export type CheckerInfo = { name: string; checkerAddress: string; metricsUrl: string; healthUrl: string };

export type RunCheckerParameters = { config: EdgeConfig; log: Logger };

/** `ath-edge checker`: a checker node with its own wallet, joined to the signaling server at --signaling. */
export async function runChecker({ config, log }: RunCheckerParameters): Promise<RoleHandle<CheckerInfo>> {
  const settings = config.checker;
  if (!config.signaling.url) {
    throw new AthError({ code: 'ATH_ERR_CONFIG', shortMessage: 'a checker needs --signaling http://HOST:PORT' });
  }
  const keyFile = settings.keyFile ?? join(config.dataDir, 'keys', `${settings.name}.key`);
  const account = privateKeyToAccount((settings.key as Hex | undefined) ?? loadOrCreateKey(keyFile));
  const signalingCa = trustedSignalingCa(config);
  const handle = await startChecker({
    account,
    signalingUrl: config.signaling.url,
    ...(signalingCa ? { signalingCa } : {}),
    bindHost: config.bindHost,
    metricsPort: settings.metricsPort,
    thresholds: { minFpsRatio: settings.minFpsRatio, maxRttMs: settings.maxRttMs, maxLossPpm: settings.maxLossPpm },
    window: {
      warmupMs: 500,
      windowMs: settings.windowMs,
      pings: settings.pings,
      connectTimeoutMs: 10_000,
      pingTimeoutMs: 2_000,
    },
    ice: checkerIceOptions(config),
    log: log.child({ checkerName: settings.name }),
  });
  return {
    info: {
      name: settings.name,
      checkerAddress: handle.address,
      metricsUrl: handle.metricsUrl,
      healthUrl: handle.healthUrl,
    },
    close: () => handle.close(),
  };
}
