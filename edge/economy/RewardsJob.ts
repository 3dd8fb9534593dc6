/**
 * Weekly rewards and checkers' pay, computed from the ledger and paid on chain once — the rewards pool's key
 * (the escrow's checker-pool recipient, holder of the registry's rewards role) runs it, one process per key
 * (ledger lease `rewards:<address>`). Every pass, on the chain's clock:
 *
 *   1. closes each ended checkers pay period (`rules.checkerPeriodSec`, a day by default; it divides the week):
 *      the pool money that arrived since the last one, less the stakers' share (`rules.stakerShareBps`), split
 *      among checkers by their reports that agreed with confirmed majorities — checkers barred on chain (or with a
 *      checker slash on its way) get nothing;
 *   2. closes each ended staking epoch (Thursday 00:00 UTC to the next): the stakers' shares set aside, split pro
 *      rata by the stake each operator held through the whole epoch (`stakeHeldThrough` on chain) — barred
 *      operators and providers seen offline that epoch get nothing;
 *   3. reconciles payouts in flight, then pays pending ones: takes the pool's escrow earnings into its wallet when
 *      it lacks the tokens, approves the registry once, dry-runs, signs, records the hash (write-ahead), broadcasts
 *      `creditRewards(epoch, …)` / `payCheckers(start, end, …)`, and confirms from the receipt (items the chain
 *      skipped as already paid count as paid; the others are forfeited back to the pool).
 *
 * Computing a period and creating its payouts is one ledger transaction, and the chain pays each operator at most
 * once per epoch / period: a crash between computing and paying, or after broadcasting, pays exactly once.
 */
import type { Logger } from 'pino';
import {
  type Account,
  type Address,
  type Chain,
  encodeFunctionData,
  type Hex,
  maxUint256,
  type PublicClient,
  parseEventLogs,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem';
import { AthError } from '../../signaling/protocol/index.js';
import {
  athTokenAbi,
  type ChainClock,
  EPOCH_SEC,
  epochOf,
  epochStartSec,
  sessionEscrowAbi,
  stakingRegistryAbi,
} from '../chain/index.js';
import { PassScheduler } from '../jobs/index.js';
import {
  acquireLease,
  assertLeaseHeld,
  closeCheckerPeriod,
  closeStakerEpoch,
  earliestRoundChainSec,
  getRewardPayout,
  type Ledger,
  listAgreeingCheckers,
  listRewardPayouts,
  listRewardPeriods,
  listSlashes,
  listStakes,
  markRewardPayoutConfirmed,
  markRewardPayoutFailed,
  markRewardPayoutSent,
  nextRewardPayout,
  type RewardPayout,
  recordStake,
  releaseLease,
  stampRewardInflows,
} from '../ledger/index.js';
import { EconomyErrorCode } from './errors.js';
import { signTx, txFate } from './writeAheadTx.js';

export type RewardRules = {
  /** The stakers' part of the pool money, basis points (the rest pays checkers). */
  stakerShareBps: number;
  /** Checkers' pay period in seconds; it divides a week (a day by default, as Aethir pays checkers daily). */
  checkerPeriodSec: number;
  /** Between two passes. */
  intervalMs: number;
  /** Recipients per payout transaction. */
  chunkSize: number;
};

export const DEFAULT_REWARD_RULES: RewardRules = {
  stakerShareBps: 4_000,
  checkerPeriodSec: 86_400,
  intervalMs: 60_000,
  chunkSize: 100,
};

/** SKIP_ALREADY_PAID of the StakingRegistry's `RewardSkipped`. */
const SKIP_ALREADY_PAID = 2;
/** Periods computed per pass at most (a node that was down for long catches up over a few passes). */
const MAX_PERIODS_PER_PASS = 1_000;

export type RewardsJobParameters = {
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  /** The rewards pool's key (the escrow's checker-pool recipient). */
  walletClient: WalletClient<Transport, Chain, Account>;
  stakingAddress: Address;
  escrowAddress: Address;
  tokenAddress: Address;
  clock: ChainClock;
  rules: RewardRules;
  workerId: string;
  log: Logger;
  leaseTtlMs?: number;
  /** Where to start looking for stakers' `Staked` events (the registry's deploy block). */
  fromBlock?: bigint;
  /** Fault injection for the crash tests. */
  afterCompute?: () => Promise<void> | void;
  afterBroadcast?: (txHash: Hex) => Promise<void> | void;
};

export type RewardsPassReturnType = { periods: number; epochs: number; paid: number };

export class RewardsJob {
  readonly #p: RewardsJobParameters;
  readonly #log: Logger;
  readonly #leaseName: string;
  readonly #pool: Address;
  #stakersScannedTo: bigint | undefined;
  readonly #passes: PassScheduler<RewardsPassReturnType>;
  #closed = false;

  constructor(params: RewardsJobParameters) {
    if (604_800 % params.rules.checkerPeriodSec !== 0) {
      throw new AthError({
        code: 'ATH_ERR_CONFIG',
        shortMessage: 'the checkers’ pay period must divide a week',
        details: `${params.rules.checkerPeriodSec} s`,
      });
    }
    this.#p = params;
    this.#pool = params.walletClient.account.address;
    this.#log = params.log.child({ mod: 'economy/rewards', pool: this.#pool });
    this.#leaseName = `rewards:${this.#pool.toLowerCase()}`;
    this.#passes = new PassScheduler({ pass: () => this.#pass(), log: this.#log, failure: 'rewards pass failed' });
  }

  start(): void {
    void this.runSoon();
    this.#passes.every(this.#p.rules.intervalMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#passes.stop();
    await releaseLease(this.#p.ledger, { name: this.#leaseName, holder: this.#p.workerId }).catch(() => undefined);
  }

  /** One pass after any pass already running; resolves with what it did (rejects if it failed). */
  runSoon(): Promise<RewardsPassReturnType> {
    return this.#passes.runSoon();
  }

  async #pass(): Promise<RewardsPassReturnType> {
    const done = { periods: 0, epochs: 0, paid: 0 };
    if (this.#closed) return done;
    const lease = await acquireLease(this.#p.ledger, {
      name: this.#leaseName,
      holder: this.#p.workerId,
      ttlMs: this.#p.leaseTtlMs ?? 60_000,
    });
    if (!lease.held) return done;
    const nowSec = await this.#p.clock.refresh();
    // New pool money belongs to the pay period it arrived in (chain time, as seen now).
    await stampRewardInflows(this.#p.ledger, { chainSec: nowSec });
    done.periods = await this.#closeCheckerPeriods(nowSec);
    done.epochs = await this.#closeStakerEpochs(nowSec);
    if (done.periods + done.epochs > 0) await this.#p.afterCompute?.();
    for (const payout of await listRewardPayouts(this.#p.ledger, { state: 'sent' })) {
      const full = await this.#payout(payout.payoutId);
      if (full) done.paid += (await this.#reconcile(full)) ? 1 : 0;
    }
    for (let payout = await nextRewardPayout(this.#p.ledger); payout && !this.#closed; ) {
      if (!(await this.#pay(payout, lease.epoch))) break;
      done.paid += 1;
      payout = await nextRewardPayout(this.#p.ledger);
    }
    return done;
  }

  #payout(payoutId: bigint): Promise<RewardPayout | undefined> {
    return getRewardPayout(this.#p.ledger, payoutId);
  }

  // ---- computing ----------------------------------------------------------------------------------------------

  async #closeCheckerPeriods(nowSec: bigint): Promise<number> {
    const period = BigInt(this.#p.rules.checkerPeriodSec);
    const [latest] = await listRewardPeriods(this.#p.ledger, { kind: 'checkers', limit: 1 });
    let start = latest?.endSec ?? (await this.#firstStart(nowSec));
    let closed = 0;
    while (start + period <= nowSec && closed < MAX_PERIODS_PER_PASS) {
      const end = start + period;
      const excluded = await this.#barredCheckers(start, end, nowSec);
      const { period: computed, created } = await closeCheckerPeriod(this.#p.ledger, {
        startSec: start,
        endSec: end,
        stakerShareBps: BigInt(this.#p.rules.stakerShareBps),
        excluded,
        chunkSize: this.#p.rules.chunkSize,
      });
      if (created && (computed.freshWei > 0n || computed.recipients > 0)) {
        this.#log.info(
          {
            start: String(start),
            poolWei: String(computed.poolWei),
            stakerPartWei: String(computed.stakerPartWei),
            checkers: computed.recipients,
            barred: excluded.length,
          },
          'checkers pay period computed',
        );
      }
      start = end;
      closed += 1;
    }
    return closed;
  }

  /** The first period: the one holding the first decided round, or this epoch's first when there is none. */
  async #firstStart(nowSec: bigint): Promise<bigint> {
    const period = BigInt(this.#p.rules.checkerPeriodSec);
    const earliest = await earliestRoundChainSec(this.#p.ledger);
    const from = earliest !== undefined && earliest < nowSec ? earliest : epochStartSec(epochOf(nowSec));
    return (from / period) * period;
  }

  async #closeStakerEpochs(nowSec: bigint): Promise<number> {
    const [latest] = await listRewardPeriods(this.#p.ledger, { kind: 'stakers', limit: 1 });
    const [checkers] = await listRewardPeriods(this.#p.ledger, { kind: 'checkers', limit: 1 });
    if (!checkers) return 0;
    // From the epoch of the first checkers period (the stakers' money starts there).
    let epoch = latest ? latest.periodKey + 1n : epochOf(await this.#firstStart(nowSec));
    let closed = 0;
    while (epochStartSec(epoch + 1n) <= nowSec && epochStartSec(epoch + 1n) <= checkers.endSec) {
      const stakes = await this.#heldThrough(epoch, nowSec);
      const { period, created } = await closeStakerEpoch(this.#p.ledger, {
        epoch,
        startSec: epochStartSec(epoch),
        endSec: epochStartSec(epoch) + EPOCH_SEC,
        stakes,
        chunkSize: this.#p.rules.chunkSize,
      });
      if (created) {
        this.#log.info(
          { epoch: String(epoch), poolWei: String(period.poolWei), stakers: period.recipients },
          'staking epoch computed',
        );
      }
      epoch += 1n;
      closed += 1;
    }
    return closed;
  }

  /** Operators that held stake through the whole epoch, with that stake (barred ones left out). */
  async #heldThrough(epoch: bigint, nowSec: bigint): Promise<Array<{ address: Address; stakeWei: bigint }>> {
    await this.#scanStakers();
    const held: Array<{ address: Address; stakeWei: bigint }> = [];
    for (const { operatorAddress } of await listStakes(this.#p.ledger)) {
      const stakeWei = await this.#read<bigint>('stakeHeldThrough', [operatorAddress, epoch]);
      if (stakeWei === 0n) continue;
      if ((await this.#read<bigint>('rewardsBarredUntil', [operatorAddress])) > nowSec) continue;
      held.push({ address: operatorAddress, stakeWei });
    }
    return held;
  }

  /** Every operator that ever staked, from the registry's `Staked` events, mirrored into the ledger. */
  async #scanStakers(): Promise<void> {
    const { publicClient, stakingAddress } = this.#p;
    const head = await publicClient.getBlockNumber();
    const from = this.#stakersScannedTo === undefined ? (this.#p.fromBlock ?? 0n) : this.#stakersScannedTo + 1n;
    if (from > head) return;
    const events = await publicClient.getContractEvents({
      address: stakingAddress,
      abi: stakingRegistryAbi,
      eventName: 'Staked',
      fromBlock: from,
      toBlock: head,
    });
    const known = new Set((await listStakes(this.#p.ledger)).map((s) => s.operatorAddress.toLowerCase()));
    for (const event of events) {
      const operator = event.args.operator;
      if (!operator || known.has(operator.toLowerCase())) continue;
      known.add(operator.toLowerCase());
      const [stakeWei, , , tier] = await this.#read<readonly [bigint, bigint, bigint, Hex]>('operators', [operator]);
      const checkerTier = await this.#read<Hex>('CHECKER_TIER');
      await recordStake(this.#p.ledger, {
        operatorAddress: operator,
        role: tier === checkerTier ? 'checker' : 'provider',
        amountWei: stakeWei,
      });
    }
    this.#stakersScannedTo = head;
  }

  /** Checkers with agreeing reports in the period who are barred now, or whose checker slash is on its way. */
  async #barredCheckers(fromChainSec: bigint, toChainSec: bigint, nowSec: bigint): Promise<Address[]> {
    const barred: Address[] = [];
    for (const checker of await listAgreeingCheckers(this.#p.ledger, { fromChainSec, toChainSec })) {
      const until = await this.#read<bigint>('rewardsBarredUntil', [checker]);
      const pending = (await listSlashes(this.#p.ledger, { operatorAddress: checker, kind: 'checker-lie' })).some(
        (slash) => slash.state === 'pending' || slash.state === 'sent',
      );
      if (until > nowSec || pending) barred.push(checker);
    }
    return barred;
  }

  // ---- paying -------------------------------------------------------------------------------------------------

  /** Pays one pending payout; false when it stays pending (transient trouble: the next pass tries again). */
  async #pay(payout: RewardPayout, leaseEpoch: bigint): Promise<boolean> {
    const { ledger, publicClient, walletClient, stakingAddress } = this.#p;
    const log = { payoutId: String(payout.payoutId), kind: payout.kind, period: String(payout.periodKey) };
    try {
      await this.#fund(payout.totalWei);
    } catch (error) {
      this.#log.warn({ ...log, err: error }, 'the rewards pool cannot fund this payout yet');
      return false;
    }
    const addresses = payout.items.map((item) => item.address);
    const amounts = payout.items.map((item) => item.amountWei);
    const call =
      payout.kind === 'stakers'
        ? ({ functionName: 'creditRewards', args: [payout.periodKey, addresses, amounts] } as const)
        : ({ functionName: 'payCheckers', args: [payout.startSec, payout.endSec, addresses, amounts] } as const);
    try {
      await publicClient.simulateContract({
        account: walletClient.account,
        address: stakingAddress,
        abi: stakingRegistryAbi,
        ...call,
      } as Parameters<typeof publicClient.simulateContract>[0]);
    } catch (error) {
      this.#log.warn({ ...log, err: error }, 'the payout does not dry-run; trying again later');
      return false;
    }
    const data = encodeFunctionData({ abi: stakingRegistryAbi, ...call } as Parameters<typeof encodeFunctionData>[0]);
    const signed = await signTx(walletClient, { to: stakingAddress, data });
    // Renewed just before the write-ahead: a pass may have taken a while since it took the lease.
    await acquireLease(ledger, {
      name: this.#leaseName,
      holder: this.#p.workerId,
      ttlMs: this.#p.leaseTtlMs ?? 60_000,
    });
    await ledger.transaction(async (tx) => {
      await assertLeaseHeld(tx, {
        name: this.#leaseName,
        holder: this.#p.workerId,
        epoch: leaseEpoch,
        marginMs: 2_000,
      });
      await markRewardPayoutSent(tx, { payoutId: payout.payoutId, txHash: signed.txHash, nonce: signed.nonce });
    });
    await publicClient.sendRawTransaction({ serializedTransaction: signed.serialized });
    await this.#p.afterBroadcast?.(signed.txHash);
    const receipt = await publicClient.waitForTransactionReceipt({ hash: signed.txHash, timeout: 60_000 });
    await this.#settle(payout, receipt);
    return true;
  }

  /** A sent payout after a crash or a lost receipt: settle it, leave it in the mempool, or send it again. */
  async #reconcile(payout: RewardPayout): Promise<boolean> {
    if (!payout.txHash) return false;
    const fate = await txFate(this.#p.publicClient, payout.txHash);
    if (fate.state === 'pending') return false;
    if (fate.state === 'mined') {
      await this.#settle(payout, fate.receipt);
      return true;
    }
    await markRewardPayoutFailed(this.#p.ledger, {
      payoutId: payout.payoutId,
      error: `transaction ${payout.txHash} never landed; paying again`,
      retry: true,
    });
    return false;
  }

  async #settle(payout: RewardPayout, receipt: TransactionReceipt): Promise<void> {
    if (receipt.status !== 'success') {
      await markRewardPayoutFailed(this.#p.ledger, {
        payoutId: payout.payoutId,
        error: `transaction ${receipt.transactionHash} reverted`,
        retry: true,
      });
      return;
    }
    const key = payout.kind === 'stakers' ? payout.periodKey : payout.startSec;
    const forfeited = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'RewardSkipped', logs: receipt.logs })
      .filter((event) => event.args.key === key && event.args.reason !== SKIP_ALREADY_PAID)
      .map((event) => ({ address: event.args.operator, reason: event.args.reason }));
    const result = await markRewardPayoutConfirmed(this.#p.ledger, {
      payoutId: payout.payoutId,
      txHash: receipt.transactionHash,
      forfeited,
    });
    if (result.confirmed) {
      this.#log.info(
        {
          payoutId: String(payout.payoutId),
          kind: payout.kind,
          period: String(payout.periodKey),
          paidWei: String(result.paidWei),
          forfeitedWei: String(result.forfeitedWei),
          txHash: receipt.transactionHash,
        },
        'rewards paid on chain',
      );
    }
  }

  /** The pool's wallet holds `amountWei` (taking its escrow earnings if needed) and the registry may pull it. */
  async #fund(amountWei: bigint): Promise<void> {
    const { publicClient, walletClient, tokenAddress, escrowAddress, stakingAddress } = this.#p;
    const balance = () =>
      publicClient.readContract({
        address: tokenAddress,
        abi: athTokenAbi,
        functionName: 'balanceOf',
        args: [this.#pool],
      });
    if ((await balance()) < amountWei) {
      const earnings = await publicClient.readContract({
        address: escrowAddress,
        abi: sessionEscrowAbi,
        functionName: 'earnings',
        args: [this.#pool],
      });
      if (earnings > 0n) {
        const hash = await walletClient.writeContract({
          address: escrowAddress,
          abi: sessionEscrowAbi,
          functionName: 'withdrawEarnings',
          chain: walletClient.chain,
        });
        await publicClient.waitForTransactionReceipt({ hash });
        this.#log.info({ earningsWei: String(earnings) }, 'rewards pool took its escrow earnings');
      }
      const now = await balance();
      if (now < amountWei) {
        throw new AthError({
          code: EconomyErrorCode.rewardsUnfunded,
          shortMessage: 'the rewards pool holds less than the payout',
          details: `${now} < ${amountWei}`,
        });
      }
    }
    const allowance = await publicClient.readContract({
      address: tokenAddress,
      abi: athTokenAbi,
      functionName: 'allowance',
      args: [this.#pool, stakingAddress],
    });
    if (allowance < amountWei) {
      const hash = await walletClient.writeContract({
        address: tokenAddress,
        abi: athTokenAbi,
        functionName: 'approve',
        args: [stakingAddress, maxUint256],
        chain: walletClient.chain,
      });
      await publicClient.waitForTransactionReceipt({ hash });
    }
  }

  #read<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
    return this.#p.publicClient.readContract({
      address: this.#p.stakingAddress,
      abi: stakingRegistryAbi,
      functionName: functionName as 'slashQuorum',
      args: args as [],
    }) as Promise<T>;
  }
}
