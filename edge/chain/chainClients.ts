import {
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { arbitrum, arbitrumSepolia } from 'viem/chains';
import { AthError } from '../../signaling/protocol/index.js';
import { ChainErrorCode } from './errors.js';

export type NetworkName = 'anvil' | 'arbitrum-sepolia' | 'arbitrum-one';

/** Everything that differs between the embedded chain and Arbitrum: configuration, not code. */
export type ChainSettings = {
  network: NetworkName;
  rpcUrl: string;
  chainId: number;
  tokenAddress: Address;
  escrowAddress: Address;
  stakingAddress: Address;
  /** What browsers deposit through on the embedded chain when it is not `rpcUrl` (config `chain.publicRpcUrl`). */
  publicRpcUrl?: string;
};

/** The real ATH token on Arbitrum One. */
export const ARBITRUM_ONE_ATH_ADDRESS: Address = '0xc87B37a581ec3257B734886d9d3a581F5A9d056c';

export function chainFor(network: NetworkName, chainId: number, rpcUrl: string): Chain {
  if (network === 'arbitrum-one') return arbitrum;
  if (network === 'arbitrum-sepolia') return arbitrumSepolia;
  return defineChain({
    id: chainId,
    name: 'anvil (embedded)',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

export type ChainClients = {
  chain: Chain;
  publicClient: PublicClient<Transport, Chain>;
  walletClient: WalletClient<Transport, Chain, Account> | undefined;
};

export function createChainClients({
  network,
  chainId,
  rpcUrl,
  account,
}: Pick<ChainSettings, 'network' | 'chainId' | 'rpcUrl'> & { account?: Account }): ChainClients {
  const chain = chainFor(network, chainId, rpcUrl);
  if (chain.id !== chainId) {
    throw new AthError({
      code: ChainErrorCode.config,
      shortMessage: `network ${network} is chain ${chain.id}, not ${chainId}`,
    });
  }
  const transport = http(rpcUrl, { retryCount: 2, timeout: 15_000 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 });
  const walletClient = account ? createWalletClient({ chain, transport, account }) : undefined;
  return { chain, publicClient, walletClient };
}
