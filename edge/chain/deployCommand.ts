/**
 * `ath-edge deploy --network arbitrum-sepolia|arbitrum-one|anvil --rpc URL --key FILE [--token ADDRESS]`:
 * deploys SessionEscrow and StakingRegistry (and the stand-in AthToken on a local chain only — on Arbitrum the
 * real ATH is used) and prints the result as configuration: `ATH_EDGE_CHAIN__…` env lines, then the same as one
 * JSON line (`{"chain":{…}}`, usable in a --config file). Only configuration differs between the networks.
 *
 * The deployer key comes from a file, never from the command line (shell history, process list). Roles default
 * to the deployer's address; a production deployment names its own with --meter, --treasury, --checker-pool and
 * --slasher. The slasher is never the meter (a leaked meter key must not be able to slash anyone).
 */
import { readFileSync } from 'node:fs';
import { type Address, createPublicClient, getAddress, type Hex, http, isAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { AthError } from '../../signaling/protocol/index.js';
import { defineCommand, type FlagTable, type FlagValues } from '../cli/defineCommand.js';
import { EdgeErrorCode } from '../errors.js';
import { ARBITRUM_ONE_ATH_ADDRESS, createChainClients, type NetworkName } from './chainClients.js';
import { deployContracts } from './deployContracts.js';
import { ChainErrorCode } from './errors.js';

export type DeployOptions = {
  network: NetworkName;
  rpcUrl: string;
  keyFile: string;
  tokenAddress?: Address;
  meter?: Address;
  treasury?: Address;
  checkerPool?: Address;
  slasher?: Address;
  withdrawDelaySec?: bigint;
};

const NETWORKS: readonly NetworkName[] = ['anvil', 'arbitrum-sepolia', 'arbitrum-one'];

function usageError(shortMessage: string): AthError {
  return new AthError({ code: EdgeErrorCode.usage, shortMessage, details: 'see `ath-edge deploy --help`' });
}

/** `ath-edge deploy`'s flags (validated by `deployOptionsFrom`). */
export const DEPLOY_FLAGS = {
  network: {
    type: 'string',
    value: 'NAME',
    help: 'arbitrum-sepolia | arbitrum-one | anvil (a local chain + test ATH)',
  },
  rpc: { type: 'string', value: 'URL', help: "the chain's JSON-RPC endpoint" },
  key: { type: 'string', value: 'FILE', help: "a file holding the deployer's private key (pays gas, is admin)" },
  token: {
    type: 'string',
    value: 'ADDRESS',
    help: `the ATH token (arbitrum-one: ${ARBITRUM_ONE_ATH_ADDRESS}; required on arbitrum-sepolia)`,
  },
  meter: { type: 'string', value: 'ADDRESS', help: 'signs vouchers, sends settlements (default: the deployer)' },
  treasury: { type: 'string', value: 'ADDRESS', help: 'protocol fee recipient (default: the deployer)' },
  'checker-pool': {
    type: 'string',
    value: 'ADDRESS',
    help: "the rewards pool: the checkers' share of the fee; its key pays stakers and checkers (default: the deployer)",
  },
  slasher: {
    type: 'string',
    value: 'ADDRESS',
    help: 'sends slashes with their evidence; never the meter (default: the deployer if --meter is another)',
  },
  'withdraw-delay-sec': { type: 'string', value: 'N', help: 'escrow withdrawal delay (default 3600)' },
} as const satisfies FlagTable;

/** Checks the flags' values: the network, the RPC URL, the key file, addresses and the delay. */
export function deployOptionsFrom(values: FlagValues<typeof DEPLOY_FLAGS>): DeployOptions {
  const network = values.network;
  if (!network || !NETWORKS.includes(network as NetworkName)) {
    throw usageError(`--network must be one of ${NETWORKS.join(', ')}`);
  }
  const rpcUrl = values.rpc;
  if (!rpcUrl || !/^https?:\/\//.test(rpcUrl)) throw usageError('--rpc must be an http(s) URL');
  const keyFile = values.key;
  if (!keyFile) throw usageError('--key FILE is required');
  const address = (flag: 'token' | 'meter' | 'treasury' | 'checker-pool' | 'slasher'): Address | undefined => {
    const value = values[flag];
    if (value === undefined) return undefined;
    if (!isAddress(value, { strict: false })) throw usageError(`--${flag} is not an address`);
    return value as Address;
  };
  const delay = values['withdraw-delay-sec'];
  if (delay !== undefined && !/^[0-9]{1,10}$/.test(delay)) throw usageError('--withdraw-delay-sec is not seconds');
  const options: DeployOptions = { network: network as NetworkName, rpcUrl, keyFile };
  const tokenAddress =
    address('token') ?? (network === 'arbitrum-one' ? (ARBITRUM_ONE_ATH_ADDRESS as Address) : undefined);
  if (network === 'arbitrum-sepolia' && !tokenAddress) {
    throw usageError('arbitrum-sepolia has no ATH of ours: pass the token to use with --token');
  }
  if (tokenAddress) options.tokenAddress = tokenAddress;
  for (const [flag, key] of [
    ['meter', 'meter'],
    ['treasury', 'treasury'],
    ['checker-pool', 'checkerPool'],
    ['slasher', 'slasher'],
  ] as const) {
    const value = address(flag);
    if (value) options[key] = value;
  }
  if (delay !== undefined) options.withdrawDelaySec = BigInt(delay);
  return options;
}

function readKey(file: string): Hex {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new AthError({ code: ChainErrorCode.config, shortMessage: `cannot read the key file ${file}`, cause });
  }
  const hex = text.startsWith('0x') ? text : `0x${text}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
    throw new AthError({
      code: ChainErrorCode.config,
      shortMessage: `${file} does not hold a 32-byte hex private key`,
    });
  }
  return hex as Hex;
}

export type DeployCommandResult = {
  network: NetworkName;
  rpcUrl: string;
  chainId: number;
  tokenAddress: Address;
  escrowAddress: Address;
  stakingAddress: Address;
  deployBlock: bigint;
  deployer: Address;
  meter: Address;
  slasher: Address;
  checkerPool: Address;
};

export async function deployWithOptions(options: DeployOptions): Promise<DeployCommandResult> {
  const account = privateKeyToAccount(readKey(options.keyFile));
  // The chain id comes from the node: on Arbitrum it must match the named network (checked below).
  const chainId = await createPublicClient({ transport: http(options.rpcUrl, { retryCount: 1 }) })
    .getChainId()
    .catch((cause: unknown) => {
      throw new AthError({ code: ChainErrorCode.config, shortMessage: `no chain answers at ${options.rpcUrl}`, cause });
    });
  const { publicClient, walletClient } = createChainClients({
    network: options.network,
    chainId,
    rpcUrl: options.rpcUrl,
    account,
  });
  if (!walletClient) throw new AthError({ code: ChainErrorCode.config, shortMessage: 'no deployer wallet' });
  if (options.tokenAddress) {
    const code = await publicClient.getCode({ address: options.tokenAddress });
    if (!code || code === '0x') {
      throw new AthError({
        code: ChainErrorCode.config,
        shortMessage: `no contract at the token address ${options.tokenAddress} on chain ${chainId}`,
      });
    }
  }
  const meter = options.meter ?? account.address;
  const slasher = options.slasher ?? account.address;
  if (slasher.toLowerCase() === meter.toLowerCase()) {
    throw usageError('the slasher must be another key than the meter: name one with --slasher (or --meter)');
  }
  const deployed = await deployContracts({
    publicClient,
    walletClient,
    ...(options.tokenAddress ? { tokenAddress: options.tokenAddress } : {}),
    admin: account.address,
    meter,
    treasury: options.treasury ?? account.address,
    checkerPool: options.checkerPool ?? account.address,
    slasher,
    ...(options.withdrawDelaySec === undefined ? {} : { withdrawDelaySec: options.withdrawDelaySec }),
  });
  return {
    network: options.network,
    rpcUrl: options.rpcUrl,
    chainId,
    ...deployed,
    deployer: account.address,
    meter,
    slasher,
    checkerPool: options.checkerPool ?? account.address,
  };
}

/** The deployment as configuration: env lines, then one JSON line with the same settings. */
export function formatDeployment(result: DeployCommandResult): string {
  const chain = {
    network: result.network,
    rpcUrl: result.rpcUrl,
    chainId: result.chainId,
    tokenAddress: getAddress(result.tokenAddress),
    escrowAddress: getAddress(result.escrowAddress),
    stakingAddress: getAddress(result.stakingAddress),
  };
  return [
    `# ath-edge deploy: ${result.network} (chain ${result.chainId}), block ${result.deployBlock}, deployer ${result.deployer}`,
    `# the meter is ${result.meter}: set ATH_EDGE_CHAIN__METER_KEY to its key (not printed)`,
    `# the slasher is ${result.slasher}: set ATH_EDGE_CHAIN__SLASHER_KEY to its key (not printed)`,
    `# the rewards pool is ${result.checkerPool}: set ATH_EDGE_CHAIN__REWARDS_KEY to its key (not printed)`,
    `ATH_EDGE_CHAIN__NETWORK=${chain.network}`,
    `ATH_EDGE_CHAIN__RPC_URL=${chain.rpcUrl}`,
    `ATH_EDGE_CHAIN__CHAIN_ID=${chain.chainId}`,
    `ATH_EDGE_CHAIN__TOKEN_ADDRESS=${chain.tokenAddress}`,
    `ATH_EDGE_CHAIN__ESCROW_ADDRESS=${chain.escrowAddress}`,
    `ATH_EDGE_CHAIN__STAKING_ADDRESS=${chain.stakingAddress}`,
    JSON.stringify({ chain }),
  ].join('\n');
}

export const DEPLOY_COMMAND = defineCommand({
  path: ['deploy'],
  summary: 'deploy the escrow and staking contracts and print them as configuration',
  description: `Deploys SessionEscrow and StakingRegistry (and a test ATH token on anvil) with the key in --key FILE
and prints the result as ATH_EDGE_CHAIN__… env lines, then as one JSON line for a --config file:
  ath-edge deploy --network arbitrum-sepolia|arbitrum-one|anvil --rpc URL --key FILE [--token ADDRESS]`,
  flags: DEPLOY_FLAGS,
  config: false,
  run: async ({ flags, print }) => {
    const result = await deployWithOptions(deployOptionsFrom(flags));
    print(formatDeployment(result));
  },
});
