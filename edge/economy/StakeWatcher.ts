/**
 * Keeps signaling's view of every provider's stake in step with the StakingRegistry: a host's stake is read
 * when it registers (its provider wallet is proven by then) and again whenever the registry emits an event
 * for its provider (Staked, UnbondRequested, Slashed, …). Matchmaking ranks by it (`HostRegistry.setStake`);
 * the ledger mirrors it (`recordStake`) for the provider status page.
 */
import type { Logger } from 'pino';
import type { Address, Chain, PublicClient, Transport } from 'viem';
import type { SignalingHub } from '../../signaling/index.js';
import { readOperatorStake, stakingRegistryAbi } from '../chain/index.js';
import { type Ledger, recordStake } from '../ledger/index.js';

export type StakeWatcherParameters = {
  hub: SignalingHub;
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  stakingAddress: Address;
  log: Logger;
  /** How often the registry's events are polled. */
  pollingIntervalMs?: number;
};

export class StakeWatcher {
  readonly #p: StakeWatcherParameters;
  readonly #log: Logger;
  readonly #stops: Array<() => void> = [];
  /** One read at a time per provider, and a read asked for during one runs once more after it. */
  readonly #inFlight = new Map<string, { again: boolean; done: Promise<void> }>();
  #closed = false;

  constructor(parameters: StakeWatcherParameters) {
    this.#p = parameters;
    this.#log = parameters.log.child({ mod: 'economy/stakes' });
  }

  start(): void {
    const { hub, publicClient, stakingAddress, pollingIntervalMs = 1_000 } = this.#p;
    this.#stops.push(hub.on('hostRegistered', (host) => void this.refresh(host.providerAddress)));
    this.#stops.push(
      publicClient.watchContractEvent({
        address: stakingAddress,
        abi: stakingRegistryAbi,
        pollingInterval: pollingIntervalMs,
        onLogs: (logs) => {
          const operators = new Set<Address>();
          for (const log of logs) {
            const args = log.args as { operator?: Address };
            if (args.operator) operators.add(args.operator);
          }
          for (const operator of operators) void this.refresh(operator);
        },
        onError: (error) => this.#log.warn({ err: error }, 'watching the staking registry failed; retrying'),
      }),
    );
    // Hosts that registered before the watcher started.
    for (const address of new Set([...hub.hosts.all()].map((host) => host.providerAddress))) void this.refresh(address);
  }

  /** Reads the provider's stake from the chain and applies it; resolves when applied (never rejects). */
  refresh(provider: Address): Promise<void> {
    const key = provider.toLowerCase();
    const running = this.#inFlight.get(key);
    if (running) {
      running.again = true;
      return running.done;
    }
    const entry = { again: false, done: Promise.resolve() };
    entry.done = (async () => {
      do {
        entry.again = false;
        await this.#apply(provider);
      } while (entry.again && !this.#closed);
      this.#inFlight.delete(key);
    })();
    this.#inFlight.set(key, entry);
    return entry.done;
  }

  async #apply(provider: Address): Promise<void> {
    if (this.#closed) return;
    try {
      const stake = await readOperatorStake({
        publicClient: this.#p.publicClient,
        stakingAddress: this.#p.stakingAddress,
        operator: provider,
      });
      if (this.#closed) return;
      const hosts = [...this.#p.hub.hosts.all()].filter(
        (host) => host.providerAddress.toLowerCase() === provider.toLowerCase(),
      );
      for (const host of hosts) this.#p.hub.hosts.setStake(host.hostId, stake.stakeWei);
      if (stake.stakeWei > 0n || stake.unbonding) {
        await recordStake(this.#p.ledger, {
          operatorAddress: provider,
          role: stake.tier === 'checker' ? 'checker' : 'provider',
          amountWei: stake.stakeWei,
          ...(stake.tier ? { tier: stake.tier } : {}),
        });
      }
      this.#log.info(
        { provider, stakeWei: stake.stakeWei.toString(), tier: stake.tier, hosts: hosts.map((h) => h.hostId) },
        'provider stake read',
      );
    } catch (error) {
      this.#log.warn({ err: error, provider }, 'reading a provider stake failed');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
    await Promise.all([...this.#inFlight.values()].map((entry) => entry.done));
  }
}
