/**
 * Deploys the escrow and the staking registry (and, on local chains, a stand-in ATH token), wires their
 * roles, and optionally funds demo accounts. The same function deploys to Arbitrum Sepolia or One with the
 * real token's address given: only configuration differs.
 */
import {
  type Account,
  type Address,
  type Chain,
  type Hex,
  keccak256,
  type PublicClient,
  stringToHex,
  type Transport,
  type WalletClient,
} from 'viem';
import { AthError } from '../../signaling/protocol/index.js';
import { stakingRegistryAbi } from './abis.js';
import { compileContracts } from './build/compileContracts.js';
import { ChainErrorCode } from './errors.js';

export type DeployContractsParameters = {
  publicClient: PublicClient<Transport, Chain>;
  walletClient: WalletClient<Transport, Chain, Account>;
  /** Use an existing ATH token (Arbitrum); deploy the local stand-in when absent. */
  tokenAddress?: Address;
  tokenSupplyWei?: bigint;
  admin: Address;
  meter: Address;
  treasury: Address;
  /** The rewards pool: the escrow pays the checkers' share of the fee to it, and its key (granted the rewards
   * role) pays stakers' weekly rewards and checkers' pay into the staking registry. */
  checkerPool: Address;
  /** Granted the slasher role: sends slashes with their evidence. Must not be the meter (another key, another
   * blast radius: a leaked meter key cannot slash anyone). */
  slasher: Address;
  /** Slash rates and evidence rules (the contract's defaults are Aethir's: ⅓ unit downtime, 1 unit fraud). */
  slashParameters?: SlashParameters;
  feeBps?: number;
  checkerShareBps?: number;
  withdrawDelaySec?: bigint;
  unbondingDelaySec?: bigint;
  /** Minimum stake per tier name (hashed with keccak256 on chain). */
  minStakeWei?: Record<string, bigint>;
};

export type SlashParameters = {
  /** Of the stake unit (the tier minimum), basis points. */
  downtimeBps: number;
  fraudBps: number;
  checkerLieBps: number;
  /** Distinct staked checkers a slash's evidence needs. */
  quorum: number;
  /** Contradicted reports in one epoch that bar and slash a checker. */
  lieThreshold: number;
  barPeriodSec: bigint;
};

export type DeployedContracts = {
  tokenAddress: Address;
  escrowAddress: Address;
  stakingAddress: Address;
  deployBlock: bigint;
};

export function tierId(tier: string): Hex {
  return keccak256(stringToHex(tier));
}

/** GPU tiers and their minimum stakes on the embedded chain (a checker's tier is `checker`). */
export const DEFAULT_MIN_STAKES_WEI: Record<string, bigint> = {
  checker: 1_000n * 10n ** 18n,
  software: 2_000n * 10n ** 18n,
  'nvidia-consumer': 10_000n * 10n ** 18n,
  'nvidia-datacenter': 50_000n * 10n ** 18n,
};

export async function deployContracts(p: DeployContractsParameters): Promise<DeployedContracts> {
  if (p.slasher.toLowerCase() === p.meter.toLowerCase()) {
    throw new AthError({
      code: ChainErrorCode.config,
      shortMessage: 'the slasher must be another key than the meter',
      details: p.slasher,
    });
  }
  const artifacts = compileContracts();
  const wait = async (hash: Hex, what: string) => {
    const receipt = await p.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') {
      throw new AthError({ code: ChainErrorCode.deploy, shortMessage: `${what} reverted`, details: hash });
    }
    return receipt;
  };
  const deploy = async (name: keyof typeof artifacts, args: readonly unknown[]) => {
    const artifact = artifacts[name];
    const hash = await p.walletClient.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args });
    const receipt = await wait(hash, `deploying ${name}`);
    if (!receipt.contractAddress)
      throw new AthError({ code: ChainErrorCode.deploy, shortMessage: `${name}: no address` });
    return { address: receipt.contractAddress, block: receipt.blockNumber };
  };

  const token = p.tokenAddress
    ? { address: p.tokenAddress, block: 0n }
    : await deploy('AthToken', [p.tokenSupplyWei ?? 1_000_000_000n * 10n ** 18n]);
  const escrow = await deploy('SessionEscrow', [
    token.address,
    p.admin,
    p.meter,
    p.treasury,
    p.checkerPool,
    p.feeBps ?? 2000,
    p.checkerShareBps ?? 2500,
    p.withdrawDelaySec ?? 3600n,
  ]);
  const staking = await deploy('StakingRegistry', [
    token.address,
    p.admin,
    p.treasury,
    p.unbondingDelaySec ?? 7n * 86400n,
  ]);

  const write = async (request: Parameters<typeof p.walletClient.writeContract>[0], what: string) =>
    wait(await p.walletClient.writeContract(request), what);
  const slasherRole = await p.publicClient.readContract({
    address: staking.address,
    abi: stakingRegistryAbi,
    functionName: 'SLASHER_ROLE',
  });
  const rewardsRole = await p.publicClient.readContract({
    address: staking.address,
    abi: stakingRegistryAbi,
    functionName: 'REWARDS_ROLE',
  });
  await write(
    { address: staking.address, abi: stakingRegistryAbi, functionName: 'grantRole', args: [slasherRole, p.slasher] },
    'granting the slasher role',
  );
  await write(
    {
      address: staking.address,
      abi: stakingRegistryAbi,
      functionName: 'grantRole',
      args: [rewardsRole, p.checkerPool],
    },
    'granting the rewards role to the rewards pool',
  );
  if (p.slashParameters) {
    const s = p.slashParameters;
    await write(
      {
        address: staking.address,
        abi: stakingRegistryAbi,
        functionName: 'setSlashParameters',
        args: [s.downtimeBps, s.fraudBps, s.checkerLieBps, s.quorum, s.lieThreshold, s.barPeriodSec],
      },
      'setting the slash parameters',
    );
  }
  for (const [tier, wei] of Object.entries(p.minStakeWei ?? DEFAULT_MIN_STAKES_WEI)) {
    await write(
      { address: staking.address, abi: stakingRegistryAbi, functionName: 'setMinStake', args: [tierId(tier), wei] },
      `setting the ${tier} minimum stake`,
    );
  }
  return {
    tokenAddress: token.address,
    escrowAddress: escrow.address,
    stakingAddress: staking.address,
    deployBlock: escrow.block,
  };
}
