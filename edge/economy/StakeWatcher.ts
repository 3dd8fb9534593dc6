/**
 * Mirrors operators' stakes into the ledger (`recordStake`) for the provider status page: a host's provider
 * when it registers, and any operator the StakingRegistry reports a change for (through the StakeGate).
 * Signaling itself acts on stake through the same gate (admission, ranking, drains).
 */
import type { Logger } from 'pino';
import type { SignalingHub, StakeGate } from '../../signaling/index.js';
import { type Ledger, recordStake } from '../ledger/index.js';

export type StakeWatcherParameters = {
  hub: SignalingHub;
  ledger: Ledger;
  stakes: StakeGate;
  log: Logger;
  /** The tier checkers stake in (their stake is recorded as a checker's). */
  checkerTier: string;
};

export class StakeWatcher {
  readonly #p: StakeWatcherParameters;
  readonly #log: Logger;
  readonly #stops: Array<() => void> = [];
  /** One read at a time per operator, and a read asked for during one runs once more after it. */
  readonly #inFlight = new Map<string, { again: boolean; done: Promise<void> }>();
  #closed = false;

  constructor(parameters: StakeWatcherParameters) {
    this.#p = parameters;
    this.#log = parameters.log.child({ mod: 'economy/stakes' });
  }

  start(): void {
    const { hub, stakes } = this.#p;
    this.#stops.push(hub.on('hostRegistered', (host) => void this.refresh(host.providerAddress)));
    this.#stops.push(stakes.onChange((operator) => void this.refresh(operator)));
    // Hosts that registered before the watcher started.
    for (const address of new Set([...hub.hosts.all()].map((host) => host.providerAddress))) void this.refresh(address);
  }

  /** Reads the operator's stake and records it; resolves when recorded (never rejects). */
  refresh(operator: `0x${string}`): Promise<void> {
    const key = operator.toLowerCase();
    const running = this.#inFlight.get(key);
    if (running) {
      running.again = true;
      return running.done;
    }
    const entry = { again: false, done: Promise.resolve() };
    entry.done = (async () => {
      do {
        entry.again = false;
        await this.#record(operator);
      } while (entry.again && !this.#closed);
      this.#inFlight.delete(key);
    })();
    this.#inFlight.set(key, entry);
    return entry.done;
  }

  async #record(operator: `0x${string}`): Promise<void> {
    if (this.#closed) return;
    try {
      const stake = await this.#p.stakes.read(operator);
      if (this.#closed || (stake.stakeWei === 0n && stake.tier === undefined)) return;
      await recordStake(this.#p.ledger, {
        operatorAddress: operator,
        role: stake.tier === this.#p.checkerTier ? 'checker' : 'provider',
        amountWei: stake.stakeWei,
        ...(stake.tier ? { tier: stake.tier } : {}),
      });
      this.#log.info({ operator, stakeWei: stake.stakeWei.toString(), tier: stake.tier }, 'stake recorded');
    } catch (error) {
      this.#log.warn({ err: error, operator }, 'recording a stake failed');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
    await Promise.all([...this.#inFlight.values()].map((entry) => entry.done));
  }
}
