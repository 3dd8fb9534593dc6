/**
 * What signaling needs to know about stake, and nothing about the chain: the economy implements it over the
 * StakingRegistry (edge/economy/ChainStakeGate.ts). Hosts and checkers are admitted, ranked, drawn and drained
 * by what it says.
 */

/** An operator's position as the registry holds it now. */
export type StakePosition = {
  /** Active stake; stake being unbonded does not count. */
  stakeWei: bigint;
  /** The tier's name (`software`, `checker`, …); undefined when the address never staked or the tier is unknown. */
  tier: string | undefined;
  /** The minimum stake of that tier (0 without a tier). */
  minStakeWei: bigint;
};

export type StakeGate = {
  read(address: `0x${string}`): Promise<StakePosition>;
  /** A tier's minimum stake on this network (0: the network does not take the tier). */
  minStake(tier: string): Promise<bigint>;
  /** Calls `listener` with an operator whose stake may have changed (a registry event); returns the unsubscribe. */
  onChange(listener: (address: `0x${string}`) => void): () => void;
};
