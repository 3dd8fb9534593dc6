import type { Address, Hex } from 'viem';
import { type FeeSplit, splitFee } from '../journal.js';
import type { SettlementItem } from '../outbox.js';

export type FakeRedeemResult = { settlementId: bigint; outcome: 'redeemed' | 'stale' };

/**
 * SessionEscrow's settlement rules in memory, for outbox tests: per session the claimed cumulative amount, a
 * voucher at or below it is skipped as stale, each redeemed delta is split with the contract's arithmetic.
 * Transactions wait in a mempool until `mine()`, so tests can crash a worker anywhere in between.
 */
export class FakeEscrow {
  readonly claimedWei = new Map<Hex, bigint>();
  /** Paid out per recipient: provider addresses, 'checker-pool', 'treasury'. */
  readonly paidWei = new Map<Address | 'checker-pool' | 'treasury', bigint>();
  readonly #mempool = new Map<Hex, readonly SettlementItem[]>();
  readonly #receipts = new Map<Hex, FakeRedeemResult[]>();
  readonly #feeSplit: FeeSplit;
  redeemCount = 0;

  constructor(feeSplit: FeeSplit) {
    this.#feeSplit = feeSplit;
  }

  broadcast(txHash: Hex, items: readonly SettlementItem[]): void {
    if (!this.#receipts.has(txHash)) this.#mempool.set(txHash, items);
  }

  /** Drops a transaction from the mempool (it never gets mined). */
  drop(txHash: Hex): void {
    this.#mempool.delete(txHash);
  }

  /** Mines every pending transaction, oldest first. */
  mine(): void {
    for (const [txHash, items] of this.#mempool) {
      this.#mempool.delete(txHash);
      this.#receipts.set(
        txHash,
        items.map((item) => ({ settlementId: item.settlementId, outcome: this.#redeem(item) })),
      );
    }
  }

  receipt(txHash: Hex): FakeRedeemResult[] | undefined {
    return this.#receipts.get(txHash);
  }

  readonly readClaimedWei = async (sessionId: Hex): Promise<bigint> => this.claimedWei.get(sessionId) ?? 0n;

  readonly isTxPending = async (txHash: Hex): Promise<boolean> => this.#mempool.has(txHash);

  paid(recipient: Address | 'checker-pool' | 'treasury'): bigint {
    return this.paidWei.get(recipient) ?? 0n;
  }

  #redeem(item: SettlementItem): 'redeemed' | 'stale' {
    const claimed = this.claimedWei.get(item.usage.sessionId) ?? 0n;
    if (item.usage.cumulativeAmount <= claimed || item.usage.cumulativeAmount > item.auth.maxAmount) return 'stale';
    const delta = item.usage.cumulativeAmount - claimed;
    const split = splitFee(delta, this.#feeSplit);
    this.claimedWei.set(item.usage.sessionId, item.usage.cumulativeAmount);
    this.#pay(item.auth.provider, split.providerWei);
    this.#pay('checker-pool', split.checkerPoolWei);
    this.#pay('treasury', split.treasuryWei);
    this.redeemCount += 1;
    return 'redeemed';
  }

  #pay(recipient: Address | 'checker-pool' | 'treasury', amountWei: bigint): void {
    this.paidWei.set(recipient, (this.paidWei.get(recipient) ?? 0n) + amountWei);
  }
}
