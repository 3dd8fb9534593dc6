/**
 * `ath-edge provider join`, as a function: the provider's key (created once, kept 0600 in the data dir), the
 * chain signaling settles on, the stake of its GPU tier (faucet on the embedded chain), then a render host
 * registered with signaling under that provider's address, serving until closed.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { AthError } from '../../signaling/protocol/index.js';
import type { EdgeConfig } from '../config/EdgeConfig.js';
import { loadOrCreateKey } from '../keys/loadOrCreateKey.js';
import type { RoleHandle } from '../roles/RoleHandle.js';
import { type RenderHostInfo, runRenderHost, signalingHttpUrls } from '../roles/runRenderHost.js';
import { type EnsureProviderStakeReturnType, ensureProviderStake } from './ensureProviderStake.js';
import { assertProviderTier, detectGpu } from './gpuTier.js';
import { type ChainInfo, fetchChainInfo } from './signalingApi.js';

export type JoinProviderParameters = {
  config: EdgeConfig;
  log: Logger;
  signalingUrl: string;
  /** A PEM certificate to trust for https/wss to signaling beside the system's CAs (`tls.caFile`). */
  signalingCa?: string;
  /** The provider key file; `<dataDir>/keys/provider.key` when absent. */
  keyFile?: string;
  /** GPU tier to stake in; guessed from `nvidia-smi` when absent. */
  tier?: string;
  /** Told each step as it starts, for the CLI's progress lines. */
  onStep?: (step: string) => void;
};

export type ProviderInfo = {
  providerAddress: Address;
  keyFile: string;
  chain: ChainInfo;
  stake: EnsureProviderStakeReturnType;
  host: RenderHostInfo;
  /** `GET` this for the provider's status (what `ath-edge provider status` prints). */
  statusUrl: string;
  dashboardUrl: string;
};

export function defaultProviderKeyFile(config: EdgeConfig): string {
  return join(config.dataDir, 'keys', 'provider.key');
}

export async function joinProvider({
  config,
  log,
  signalingUrl,
  signalingCa,
  keyFile = defaultProviderKeyFile(config),
  tier,
  onStep = () => {},
}: JoinProviderParameters): Promise<RoleHandle<ProviderInfo>> {
  onStep('provider key');
  const key = loadOrCreateKey(keyFile);
  const account = privateKeyToAccount(key);
  const detected = detectGpu();
  const stakeTier = assertProviderTier(tier ?? detected.tier);

  // Several servers of one network, comma-separated: the first answers the chain questions; the render host
  // gets them all (it moves to the next when its server goes down).
  const primaryUrl = signalingHttpUrls(signalingUrl)[0] ?? signalingUrl;
  onStep('chain');
  const chain = await fetchChainInfo({ url: primaryUrl, ca: signalingCa });
  const rpcUrl = config.chain.rpcUrl ?? chain.rpcUrl;
  if (!rpcUrl) {
    throw new AthError({
      code: 'ATH_ERR_CONFIG',
      shortMessage: `signaling settles on ${chain.network}: give this node an RPC with --rpc-url`,
    });
  }

  onStep(`stake (${stakeTier})`);
  const stake = await ensureProviderStake({
    signalingUrl: primaryUrl,
    ...(signalingCa ? { signalingCa } : {}),
    chain,
    rpcUrl,
    account,
    tier: stakeTier,
    log,
  });

  onStep('render host');
  const host = await runRenderHost({
    config: {
      ...config,
      signaling: { ...config.signaling, url: signalingUrl },
      renderHost: {
        ...config.renderHost,
        providerKey: key,
        gpu: config.renderHost.gpu ?? detected.gpu,
      },
    },
    log,
  });
  const base = primaryUrl.replace(/\/+$/, '');
  return {
    info: {
      providerAddress: account.address,
      keyFile,
      chain,
      stake,
      host: host.info,
      statusUrl: `${base}/api/providers/${account.address}`,
      dashboardUrl: `${base}/providers/?address=${account.address}`,
    },
    close: () => host.close(),
  };
}
