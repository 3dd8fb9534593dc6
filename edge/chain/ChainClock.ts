/**
 * The chain's clock, as this process sees it: staking epochs (Thursday 00:00 UTC), pay periods and bars are
 * chain time, not the machine's. The next block's timestamp (`pending`, which includes an anvil test's
 * `evm_increaseTime`) is read every few seconds, and the time since the last read is added to it; chains that
 * do not answer `pending` with a timestamp give their latest block's.
 */
import type { Chain, PublicClient, Transport } from 'viem';

export const EPOCH_SEC = 604_800n;

export type ChainClockParameters = {
  publicClient: PublicClient<Transport, Chain>;
  /** Between two reads of the chain; default 5 s. */
  refreshMs?: number;
  now?: () => number;
};

export class ChainClock {
  readonly #p: ChainClockParameters;
  readonly #now: () => number;
  #read: { chainSec: bigint; atMs: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<bigint> | undefined;

  constructor(params: ChainClockParameters) {
    this.#p = params;
    this.#now = params.now ?? Date.now;
  }

  /** Reads now and then every `refreshMs` (errors keep the last reading). */
  start(): void {
    if (this.#timer) return;
    void this.refresh().catch(() => undefined);
    this.#timer = setInterval(() => void this.refresh().catch(() => undefined), this.#p.refreshMs ?? 5_000);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the chain's time now; resolves with it. */
  refresh(): Promise<bigint> {
    this.#refreshing ??= (async () => {
      try {
        const atMs = this.#now();
        const block = await this.#p.publicClient
          .getBlock({ blockTag: 'pending' })
          .catch(() => this.#p.publicClient.getBlock({ blockTag: 'latest' }));
        this.#read = { chainSec: block.timestamp, atMs };
        return block.timestamp;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** Chain seconds now (the machine's clock until the first read). */
  nowSec(): bigint {
    const read = this.#read;
    if (!read) return BigInt(Math.floor(this.#now() / 1000));
    return read.chainSec + BigInt(Math.max(0, Math.floor((this.#now() - read.atMs) / 1000)));
  }
}

/** The staking epoch of a chain time (epochs are weeks from Thursday 00:00 UTC: Unix time 0 was one). */
export function epochOf(chainSec: bigint): bigint {
  return chainSec / EPOCH_SEC;
}

export function epochStartSec(epoch: bigint): bigint {
  return epoch * EPOCH_SEC;
}
