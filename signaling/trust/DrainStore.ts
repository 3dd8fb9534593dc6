/**
 * Where drains are kept: a provider whose container failed its checkers' confirmed verdicts is taken out of
 * service until it passes re-checks (probation). Drains are keyed to the provider's address — a new host id or
 * a signaling restart does not lift them — and the economy keeps them in the ledger (edge/ledger/drains.ts);
 * without a ledger they live in memory (`MemoryDrainStore`).
 */

export type ProviderDrain = {
  providerAddress: `0x${string}`;
  /** The container whose verdicts drained the provider. */
  hostId: string;
  /** For the provider: what happened, in words. */
  reason: string;
  /** The check round of the verdict that drained it. */
  round: bigint;
  drainedAtMs: number;
  /** Confirmed passing verdicts since (or since the last failing one); the drain lifts at `probationPasses`. */
  probationPasses: number;
};

export type DrainStore = {
  /** Every drain in force (read once when signaling starts). */
  active(): Promise<ProviderDrain[]>;
  /** Records a drain; a provider already drained keeps its first record. */
  drain(drain: ProviderDrain): Promise<void>;
  /** Records the provider's passing re-checks so far. */
  probation(providerAddress: `0x${string}`, passes: number): Promise<void>;
  /** Ends the provider's drain. */
  lift(providerAddress: `0x${string}`, reason: string): Promise<void>;
};

/** Drains in this process only (signaling without a ledger, and tests of the hub alone). */
export class MemoryDrainStore implements DrainStore {
  readonly #drains = new Map<string, ProviderDrain>();

  async active(): Promise<ProviderDrain[]> {
    return [...this.#drains.values()].map((drain) => ({ ...drain }));
  }

  async drain(drain: ProviderDrain): Promise<void> {
    const key = drain.providerAddress.toLowerCase();
    if (!this.#drains.has(key)) this.#drains.set(key, { ...drain });
  }

  async probation(providerAddress: `0x${string}`, passes: number): Promise<void> {
    const drain = this.#drains.get(providerAddress.toLowerCase());
    if (drain) drain.probationPasses = passes;
  }

  async lift(providerAddress: `0x${string}`): Promise<void> {
    this.#drains.delete(providerAddress.toLowerCase());
  }
}
