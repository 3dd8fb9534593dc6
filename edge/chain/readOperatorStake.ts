import type { Address, Chain, Hex, PublicClient, Transport } from 'viem';
import { stakingRegistryAbi } from './abis.js';
import { DEFAULT_MIN_STAKES_WEI, tierId } from './deployContracts.js';

/** An operator's position in the StakingRegistry, as one read of the chain. */
export type OperatorStake = {
  stakeWei: bigint;
  rewardsWei: bigint;
  lastChangeAtSec: bigint;
  /** keccak256 of the tier name; zero when the operator never staked. */
  tierId: Hex;
  /** The tier's name when it is one of the known tiers, else undefined. */
  tier: string | undefined;
  /** The minimum stake of that tier (0 when never staked). */
  minStakeWei: bigint;
  unbonding: { amountWei: bigint; unlockAtSec: bigint } | undefined;
};

const ZERO_TIER: Hex = `0x${'0'.repeat(64)}`;
const TIER_NAMES = new Map(Object.keys(DEFAULT_MIN_STAKES_WEI).map((name) => [tierId(name), name]));

/** The known tier name of a tier id (the contract only stores hashes). */
export function tierName(id: Hex): string | undefined {
  return TIER_NAMES.get(id.toLowerCase() as Hex);
}

export async function readOperatorStake({
  publicClient,
  stakingAddress,
  operator,
}: {
  publicClient: PublicClient<Transport, Chain>;
  stakingAddress: Address;
  operator: Address;
}): Promise<OperatorStake> {
  const [[stakeWei, rewardsWei, lastChangeAtSec, id], [unbondingWei, unlockAtSec]] = await Promise.all([
    publicClient.readContract({
      address: stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'operators',
      args: [operator],
    }),
    publicClient.readContract({
      address: stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'unbonding',
      args: [operator],
    }),
  ]);
  const minStakeWei =
    id === ZERO_TIER
      ? 0n
      : await publicClient.readContract({
          address: stakingAddress,
          abi: stakingRegistryAbi,
          functionName: 'minStake',
          args: [id],
        });
  return {
    stakeWei,
    rewardsWei,
    lastChangeAtSec,
    tierId: id,
    tier: tierName(id),
    minStakeWei,
    unbonding: unbondingWei > 0n ? { amountWei: unbondingWei, unlockAtSec } : undefined,
  };
}
