/**
 * Signaling's StakeGate over the StakingRegistry: an operator's position is one read of the contract (the same
 * read for concurrent callers), a tier's minimum is cached for a minute, and every registry event (Staked,
 * UnbondRequested, Slashed, …) tells the listeners whose stake may have changed. The chain is the source of
 * truth; nothing here is remembered beyond the minimums.
 */
import type { Logger } from 'pino';
import type { Address, Chain, PublicClient, Transport } from 'viem';
import type { StakeGate, StakePosition } from '../../signaling/index.js';
import { readOperatorStake, stakingRegistryAbi, tierId } from '../chain/index.js';

export type ChainStakeGateParameters = {
  publicClient: PublicClient<Transport, Chain>;
  stakingAddress: Address;
  log: Logger;
  /** How often the registry's events are polled. */
  pollingIntervalMs?: number;
};

const MIN_STAKE_TTL_MS = 60_000;

export class ChainStakeGate implements StakeGate {
  readonly #p: ChainStakeGateParameters;
  readonly #log: Logger;
  readonly #listeners = new Set<(address: `0x${string}`) => void>();
  /** Reads in flight, by address: concurrent callers share one (bounded by what is in flight). */
  readonly #reading = new Map<string, Promise<StakePosition>>();
  /** Tier minimums (only the tiers signaling's settings name are asked for). */
  readonly #minimums = new Map<string, { wei: bigint; atMs: number }>();
  #stopWatching: (() => void) | undefined;
  #closed = false;

  constructor(parameters: ChainStakeGateParameters) {
    this.#p = parameters;
    this.#log = parameters.log.child({ mod: 'economy/stake-gate' });
  }

  read(address: `0x${string}`): Promise<StakePosition> {
    const key = address.toLowerCase();
    const running = this.#reading.get(key);
    if (running) return running;
    const reading = readOperatorStake({
      publicClient: this.#p.publicClient,
      stakingAddress: this.#p.stakingAddress,
      operator: address,
    })
      .then((stake) => ({ stakeWei: stake.stakeWei, tier: stake.tier, minStakeWei: stake.minStakeWei }))
      .finally(() => this.#reading.delete(key));
    this.#reading.set(key, reading);
    return reading;
  }

  async minStake(tier: string): Promise<bigint> {
    const cached = this.#minimums.get(tier);
    if (cached && Date.now() - cached.atMs < MIN_STAKE_TTL_MS) return cached.wei;
    const wei = await this.#p.publicClient.readContract({
      address: this.#p.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: 'minStake',
      args: [tierId(tier)],
    });
    this.#minimums.set(tier, { wei, atMs: Date.now() });
    return wei;
  }

  onChange(listener: (address: `0x${string}`) => void): () => void {
    this.#listeners.add(listener);
    this.#watch();
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    this.#listeners.clear();
  }

  #watch(): void {
    if (this.#stopWatching || this.#closed) return;
    this.#stopWatching = this.#p.publicClient.watchContractEvent({
      address: this.#p.stakingAddress,
      abi: stakingRegistryAbi,
      pollingInterval: this.#p.pollingIntervalMs ?? 1_000,
      onLogs: (logs) => {
        const operators = new Set<`0x${string}`>();
        for (const log of logs) {
          const args = (log as { args?: { operator?: Address } }).args;
          if (args?.operator) operators.add(args.operator.toLowerCase() as `0x${string}`);
        }
        for (const operator of operators) {
          for (const listener of this.#listeners) {
            try {
              listener(operator);
            } catch (error) {
              this.#log.error({ err: error }, 'stake listener threw');
            }
          }
        }
      },
      onError: (error) => this.#log.warn({ err: error }, 'watching the staking registry failed; retrying'),
    });
  }
}
