/**
 * The settlement worker: takes the ledger's outbox of cumulative vouchers to the chain in batches, following
 * the outbox protocol (edge/ledger/outbox.ts) so a crash at any point neither loses nor doubles a charge. The
 * meter's key sends: the escrow then skips re-checking the meter's own voucher signatures, and batches of
 * plain-key payers go as compact `redeemPacked` calldata.
 *
 * Faults it survives (issue 12):
 * - **One nonce owner.** Every process sharing a ledger may run a worker for the same meter key; only the
 *   holder of the ledger lease `settler:<meter address>` sends (edge/ledger/leases.ts). The lease is renewed
 *   every third of its time; a dead leader's lease runs out and the next worker takes over. The write-ahead
 *   record of a transaction hash checks the lease in the same database transaction, so a leader that was
 *   paused past its lease never broadcasts.
 * - **The RPC down, a broadcast error, a receipt that does not come.** Nothing is given up: a batch that could
 *   not be prepared goes back to the outbox with a backoff (`retry.baseMs` doubling up to `retry.maxMs`); one
 *   broadcast but not confirmed stays `sent` and every pass begins by reconciling what is in flight against
 *   the chain (mempool, then `claimed`), not only at start-up. No transient error ever marks a row `failed`.
 * - **An item that reverts.** Each batch is dry-run first (`eth_call` from the meter); when it reverts, halving
 *   finds the reverting items, which go back with a backoff while the rest is sent. Items the escrow skips for
 *   good (bad signature, expired, terms) are `failed`; a payer's escrow short of the charge is retried.
 * Each retry counts in `ath_edge_settlement_retries_total{reason}`, each refusal in
 * `ath_edge_settlement_failures_total`, with a log line at warn (transient) or error (needs an operator);
 * `ath_edge_settlement_oldest_unsettled_seconds` is the gauge to alert on.
 *
 * A `WithdrawRequested` event on the escrow triggers an immediate run, so every open session of that payer
 * is redeemed (and its reserve registered) well within the withdrawal delay.
 */
import type { Logger } from 'pino';
import {
  type Account,
  type Address,
  BaseError,
  type Chain,
  encodeFunctionData,
  type Hex,
  keccak256,
  type PublicClient,
  parseEventLogs,
  type Transport,
  type WalletClient,
} from 'viem';
import type { Metrics, SignalingMetricKey } from '../../metrics/index.js';
import { weiToAthSample } from '../../metrics/index.js';
import { isAthError, sessionEscrowDomain } from '../../signaling/protocol/index.js';
import { gasWithHeadroom, packable, packRedemptions, sessionEscrowAbi, toRedemption } from '../chain/index.js';
import { PassScheduler } from '../jobs/index.js';
import {
  acquireLease,
  claimSettlementBatch,
  type FeeSplit,
  type Ledger,
  listExpiredUnclosedSessions,
  listSettlements,
  listSlashes,
  markBatchConfirmed,
  markBatchFailed,
  markBatchSent,
  markSessionChainClosed,
  reconcileSettlements,
  releaseLease,
  type SettlementItem,
  sessionAuthOf,
} from '../ledger/index.js';
import { SignatureVerifier, typedDigests } from '../metering/index.js';

/** VoucherSkipped codes (see SessionEscrow): stale = already paid; insufficient escrow = may pay later. */
const SKIP_STALE = 1;
const SKIP_INSUFFICIENT_ESCROW = 6;
/** The session's authorization can never register: bad signature, other terms registered, closed. */
const UNREGISTRABLE = new Set([2, 7, 8]);

export type SettlementRetrySettings = {
  /** First backoff after a failure. */
  baseMs: number;
  /** Backoff never grows beyond this (how long after an outage ends the last item is tried again). */
  maxMs: number;
};

export const DEFAULT_SETTLEMENT_RETRY: SettlementRetrySettings = { baseMs: 5_000, maxMs: 120_000 };

export type SettlementWorkerParameters = {
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  walletClient: WalletClient<Transport, Chain, Account>;
  escrowAddress: Address;
  /** Unique per process: the lease holder's name. */
  workerId: string;
  intervalMs: number;
  batchSize: number;
  log: Logger;
  metrics?: Metrics<SignalingMetricKey>;
  /** The worker's clock (ms): backoff is measured on it, so tests can make an hour pass at once. */
  now?: () => number;
  /** How long to wait for a receipt before leaving the batch to reconciliation; default 60 s. */
  receiptTimeoutMs?: number;
  retry?: SettlementRetrySettings;
  /** The settlement lease's time; renewed every third of it. Default 30 s. */
  leaseTtlMs?: number;
  /** A row claimed this many times raises an error-level log line each further attempt. Default 5. */
  alertAfterAttempts?: number;
  /**
   * Called when the escrow refused a session's charge for good because its authorization can never register
   * (bad signature, other terms already registered, session closed: codes 2, 7, 8): the session plays unpaid
   * from then on, so the caller should end it (startEconomy ends it in the hub at once). Wherever this worker
   * runs — standalone, or in another signaling process than the session — the session's meter also ends it
   * at its next tick: it reads the refusal (a `failed` row) in the ledger.
   */
  onRefused?: (refusal: { sessionId: Hex; reason: number }) => void;
  /** Fault injection for the crash test: called after the hash is recorded and the tx broadcast. */
  afterBroadcast?: (txHash: Hex) => Promise<void> | void;
};

export type RunOnceReturnType =
  | { batchId: string; items: number; txHash: Hex | undefined; confirmed: number; rejected: number }
  | undefined;

type Rejection = { settlementId: bigint; error: string; retry: boolean; notBefore?: Date };

export class SettlementWorker {
  readonly #p: SettlementWorkerParameters;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #retry: SettlementRetrySettings;
  readonly #leaseTtlMs: number;
  readonly #leaseName: string;
  #feeSplit: FeeSplit | undefined;
  readonly #passes: PassScheduler<RunOnceReturnType[]>;
  #leaseTimer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #closed = false;
  /** The lease epoch this worker holds; undefined while another process leads. */
  #epoch: bigint | undefined;
  #lastWatchWarnMs = 0;
  /** Σ confirmed slashes (wei) at the last look; undefined until the first (which sets the baseline). */
  #slashedSeenWei: bigint | undefined;
  /** Tells a payer's plain-key signature from a smart wallet's (ERC-1271), which the packed batch cannot carry. */
  readonly #verifier = new SignatureVerifier();
  readonly #digests: ReturnType<typeof typedDigests>;

  constructor(params: SettlementWorkerParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'edge/settler', workerId: params.workerId });
    this.#now = params.now ?? Date.now;
    this.#retry = params.retry ?? DEFAULT_SETTLEMENT_RETRY;
    this.#leaseTtlMs = params.leaseTtlMs ?? 30_000;
    this.#leaseName = `settler:${params.walletClient.account.address.toLowerCase()}`;
    this.#passes = new PassScheduler({ pass: () => this.#pass(), log: this.#log, failure: 'settlement pass failed' });
    this.#digests = typedDigests(
      sessionEscrowDomain({ chainId: params.walletClient.chain.id, verifyingContract: params.escrowAddress }),
    );
  }

  /** Whether this worker held the settlement lease at its last look. */
  get isLeader(): boolean {
    return this.#epoch !== undefined;
  }

  /**
   * Runs a first pass (lease, reconcile what a previous run left in flight, settle), then one every
   * `intervalMs`. A chain that cannot be reached is not an error here: the passes keep trying.
   */
  async start(): Promise<void> {
    await this.runSoon().catch((error: unknown) => this.#log.warn({ err: error }, 'first settlement pass failed'));
    this.#passes.every(this.#p.intervalMs);
    this.#leaseTimer = setInterval(() => void this.#holdLease().catch(() => undefined), this.#leaseTtlMs / 3);
    this.#leaseTimer.unref();
    this.#unwatch = this.#p.publicClient.watchContractEvent({
      address: this.#p.escrowAddress,
      abi: sessionEscrowAbi,
      eventName: 'WithdrawRequested',
      onLogs: (logs) => {
        for (const log of logs) {
          if (typeof log.args.payer !== 'string') continue;
          this.#log.info({ payer: log.args.payer }, 'withdrawal requested: settling open sessions now');
          void this.runSoon();
        }
      },
      onError: (error) => {
        // During an outage the watch fails at every poll: say so once a minute, not four times a second.
        if (Date.now() - this.#lastWatchWarnMs < 60_000) return;
        this.#lastWatchWarnMs = Date.now();
        this.#log.warn({ err: error }, 'escrow event watch failed');
      },
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#leaseTimer);
    this.#unwatch?.();
    await this.#passes.stop();
    if (this.#epoch !== undefined && !this.#p.ledger.closed) {
      await releaseLease(this.#p.ledger, { name: this.#leaseName, holder: this.#p.workerId }).catch((error: unknown) =>
        this.#log.warn({ err: error }, 'could not release the settlement lease'),
      );
    }
    this.#epoch = undefined;
    this.#p.metrics?.metric.settlementLeader.set(0);
  }

  /** The contract's fee settings, read once: the ledger journals each confirmed delta with them. */
  async feeSplit(): Promise<FeeSplit> {
    if (!this.#feeSplit) {
      const read = (functionName: 'feeBps' | 'checkerShareBps') =>
        this.#p.publicClient.readContract({ address: this.#p.escrowAddress, abi: sessionEscrowAbi, functionName });
      const [feeBps, checkerShareBps] = await Promise.all([read('feeBps'), read('checkerShareBps')]);
      this.#feeSplit = { feeBps: BigInt(feeBps), checkerShareBps: BigInt(checkerShareBps) };
    }
    return this.#feeSplit;
  }

  /** Settles the fate of every in-flight row against the chain (see the outbox protocol). */
  async reconcile(): Promise<void> {
    const result = await reconcileSettlements(this.#p.ledger, {
      feeSplit: await this.feeSplit(),
      readClaimedWei: (sessionId) =>
        this.#p.publicClient.readContract({
          address: this.#p.escrowAddress,
          abi: sessionEscrowAbi,
          functionName: 'claimed',
          args: [sessionId],
        }),
      // A final row is done only once the chain closed the session (its reserve released), not when the amount
      // is claimed: an ordinary redeem at the same amount may have landed while the final voucher waited.
      readClosed: (sessionId) =>
        this.#p.publicClient.readContract({
          address: this.#p.escrowAddress,
          abi: sessionEscrowAbi,
          functionName: 'closed',
          args: [sessionId],
        }),
      isTxPending: async (hash) => {
        const [tx, receipt] = await Promise.all([
          this.#p.publicClient.getTransaction({ hash }).catch(() => undefined),
          this.#p.publicClient.getTransactionReceipt({ hash }).catch(() => undefined),
        ]);
        return tx !== undefined && receipt === undefined;
      },
    });
    if (result.confirmed || result.requeued) this.#log.info(result, 'reconciled in-flight settlements');
    if (result.settledWei > 0n) this.#p.metrics?.metric.athSettled.inc(weiToAthSample(result.settledWei));
    for (const mismatch of result.mismatches) {
      this.#log.error(
        {
          sessionId: mismatch.sessionId,
          claimedWei: String(mismatch.claimedWei),
          settledWei: String(mismatch.settledWei),
        },
        'the chain has claimed less than the ledger settled: needs an operator',
      );
    }
  }

  /** Runs one settlement pass after any pass already running; resolves with its outcome. */
  runSoon(): Promise<RunOnceReturnType[]> {
    return this.#passes.runSoon();
  }

  /** Takes or renews the lease; true while this worker leads. */
  async #holdLease(): Promise<boolean> {
    if (this.#closed) return false;
    const lease = await acquireLease(this.#p.ledger, {
      name: this.#leaseName,
      holder: this.#p.workerId,
      ttlMs: this.#leaseTtlMs,
    });
    const was = this.#epoch;
    this.#epoch = lease.held ? lease.epoch : undefined;
    if (this.#epoch !== was) {
      if (this.#epoch !== undefined) this.#log.info({ epoch: String(lease.epoch) }, 'settlement leader now');
      else this.#log.info({ leader: lease.holder }, 'another process leads settlement');
    }
    this.#p.metrics?.metric.settlementLeader.set(this.#epoch === undefined ? 0 : 1);
    return this.#epoch !== undefined;
  }

  /** Lease; then what is in flight; then batches until the outbox is empty or the chain stops answering. */
  async #pass(): Promise<RunOnceReturnType[]> {
    if (this.#closed || !(await this.#holdLease())) return [];
    const results: RunOnceReturnType[] = [];
    try {
      await this.reconcile();
    } catch (error) {
      this.#transient('reconcile', error, 'cannot reconcile in-flight settlements (chain unreachable?)');
      await this.#updateGauges();
      return results;
    }
    while (!this.#closed) {
      const result = await this.#runOnce();
      if (!result) break;
      results.push(result);
    }
    try {
      await this.#releaseExpired();
    } catch (error) {
      this.#transient('release', error, 'cannot release expired sessions’ reserves right now');
    }
    await this.#updateGauges();
    return results;
  }

  /**
   * Ended sessions whose authorization expired before their last charges settled (an outage longer than the
   * expiry margin): the escrow refuses those charges for good, so without this the rest of the cap would stay in
   * the payer's reserve — on chain and in the ledger's free-escrow view — for ever. `releaseExpired` (anyone may
   * call it; it only helps the payer) frees it; then the ledger marks the session closed.
   */
  async #releaseExpired(): Promise<void> {
    const { ledger, publicClient, walletClient, escrowAddress } = this.#p;
    const nowSec = (await publicClient.getBlock()).timestamp;
    for (const session of await listExpiredUnclosedSessions(ledger, { nowSec })) {
      if (this.#closed) return;
      const read = <T>(functionName: 'claimed' | 'closed') =>
        publicClient.readContract({
          address: escrowAddress,
          abi: sessionEscrowAbi,
          functionName,
          args: [session.sessionId],
        }) as Promise<T>;
      const [claimedWei, closed] = await Promise.all([read<bigint>('claimed'), read<boolean>('closed')]);
      const lostWei = session.cumulativeWei - claimedWei;
      if (claimedWei > 0n && !closed) {
        const auth = sessionAuthOf(session);
        if ((await this.#releaseRevertReason(auth)) === undefined) {
          const hash = await walletClient.writeContract({
            address: escrowAddress,
            abi: sessionEscrowAbi,
            functionName: 'releaseExpired',
            args: [auth],
            chain: walletClient.chain,
          });
          const receipt = await publicClient.waitForTransactionReceipt({
            hash,
            timeout: this.#p.receiptTimeoutMs ?? 60_000,
          });
          if (receipt.status !== 'success') throw new Error(`releaseExpired ${hash} reverted`);
        }
      }
      await markSessionChainClosed(ledger, { sessionId: session.sessionId });
      if (lostWei <= 0n) continue; // never charged (nothing registered): nothing was reserved, nothing is lost
      this.#p.metrics?.metric.settlementFailures.inc();
      this.#log.error(
        { sessionId: session.sessionId, payer: session.payerAddress, lostWei: String(lostWei) },
        'a session’s authorization expired before its last charges settled: its reserve is released, those charges are lost',
      );
    }
  }

  async #releaseRevertReason(auth: ReturnType<typeof sessionAuthOf>): Promise<string | undefined> {
    try {
      await this.#p.publicClient.simulateContract({
        account: this.#p.walletClient.account,
        address: this.#p.escrowAddress,
        abi: sessionEscrowAbi,
        functionName: 'releaseExpired',
        args: [auth],
      });
      return undefined;
    } catch (error) {
      if (isRevert(error)) return errorText(error);
      throw error;
    }
  }

  #backoff(attempts: number): Date {
    const exponent = Math.min(Math.max(attempts - 1, 0), 30);
    const delay = Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** exponent);
    return new Date(this.#now() + delay);
  }

  #transient(stage: string, error: unknown, message: string): void {
    this.#p.metrics?.metric.settlementRetries.inc({ reason: 'rpc' });
    this.#log.warn({ err: error, stage }, message);
  }

  async #runOnce(): Promise<RunOnceReturnType> {
    const { ledger, publicClient, walletClient, escrowAddress } = this.#p;
    const batch = await claimSettlementBatch(ledger, {
      workerId: this.#p.workerId,
      limit: this.#p.batchSize,
      now: new Date(this.#now()),
    });
    if (!batch) return undefined;
    const maxAttempts = Math.max(...batch.items.map((item) => item.attempts));
    const alert = this.#p.alertAfterAttempts ?? 5;
    if (maxAttempts >= alert) {
      this.#log.error(
        {
          batchId: batch.batchId,
          sessions: batch.items.filter((item) => item.attempts >= alert).map((item) => item.auth.sessionId),
          attempts: maxAttempts,
        },
        'settlement items keep failing: check the chain RPC and the escrow',
      );
    }
    // Sorted by provider so the escrow credits each provider once per run of equal providers.
    let items = [...batch.items].sort((a, b) => a.auth.provider.localeCompare(b.auth.provider));
    const backToOutbox = (error: unknown, stage: string, only?: SettlementItem[]) => {
      this.#transient(stage, error, `settlement batch not sent (${stage}): retrying with backoff`);
      return markBatchFailed(ledger, {
        batchId: batch.batchId,
        error: `${stage}: ${errorText(error)}`,
        retry: true,
        notBefore: this.#backoff(Math.max(...(only ?? items).map((item) => item.attempts))),
        ...(only ? { settlementIds: only.map((item) => item.settlementId) } : {}),
      });
    };

    // Dry run: items that would revert are set aside (with a backoff), the others go.
    try {
      const { sendable, reverting } = await this.#isolateReverts(items);
      for (const { item, reason } of reverting) {
        this.#p.metrics?.metric.settlementRetries.inc({ reason: 'revert' });
        this.#log.error(
          { sessionId: item.auth.sessionId, settlementId: String(item.settlementId), attempts: item.attempts, reason },
          'settlement item reverts on chain: set aside, retrying with backoff; the rest of its batch goes on',
        );
        await markBatchFailed(ledger, {
          batchId: batch.batchId,
          error: `reverts: ${reason}`,
          retry: true,
          notBefore: this.#backoff(item.attempts),
          settlementIds: [item.settlementId],
        });
      }
      if (sendable.length === 0) {
        return { batchId: batch.batchId, items: 0, txHash: undefined, confirmed: 0, rejected: reverting.length };
      }
      items = sendable;
    } catch (error) {
      await backToOutbox(error, 'dry run');
      return undefined;
    }

    let serialized: Hex;
    let nonce: number;
    try {
      const prepared = await walletClient.prepareTransactionRequest({
        to: escrowAddress,
        data: this.#calldata(items),
        chain: walletClient.chain,
      });
      nonce = prepared.nonce;
      serialized = await walletClient.signTransaction({ ...prepared, gas: gasWithHeadroom(prepared.gas) });
    } catch (error) {
      // Nothing was sent: the batch goes back to the outbox as it was.
      await backToOutbox(error, 'prepare');
      return undefined;
    }
    const txHash = keccak256(serialized);
    // Write-ahead: the hash is durable before the transaction exists anywhere else — and only while this
    // worker still holds the lease.
    try {
      await markBatchSent(ledger, {
        batchId: batch.batchId,
        txHash,
        nonce,
        from: walletClient.account.address,
        ...(this.#epoch === undefined
          ? {}
          : {
              lease: {
                name: this.#leaseName,
                holder: this.#p.workerId,
                epoch: this.#epoch,
                marginMs: Math.floor(this.#leaseTtlMs / 3),
              },
            }),
      });
    } catch (error) {
      if (!isAthError(error) || error.code !== 'ATH_ERR_LEDGER_LEASE_LOST') throw error;
      this.#epoch = undefined;
      this.#p.metrics?.metric.settlementRetries.inc({ reason: 'lease' });
      this.#log.warn({ batchId: batch.batchId }, 'lost the settlement lease before sending: the batch goes back');
      await markBatchFailed(ledger, { batchId: batch.batchId, error: 'lease lost before sending', retry: true });
      return undefined;
    }
    try {
      await publicClient.sendRawTransaction({ serializedTransaction: serialized });
    } catch (error) {
      // Maybe sent, maybe not: the next pass asks the chain (reconcile) before anything is sent again.
      this.#transient('broadcast', error, 'settlement broadcast failed: left to reconciliation');
      return undefined;
    }
    await this.#p.afterBroadcast?.(txHash);
    let receipt: Awaited<ReturnType<typeof publicClient.waitForTransactionReceipt>>;
    try {
      receipt = await publicClient.waitForTransactionReceipt({
        hash: txHash,
        timeout: this.#p.receiptTimeoutMs ?? 60_000,
      });
    } catch (error) {
      this.#transient('receipt', error, 'no settlement receipt in time: left to reconciliation');
      return undefined;
    }
    if (receipt.status !== 'success') {
      this.#p.metrics?.metric.settlementRetries.inc({ reason: 'revert' });
      this.#log.error({ batchId: batch.batchId, txHash }, 'settlement transaction reverted: retrying with backoff');
      await markBatchFailed(ledger, {
        batchId: batch.batchId,
        error: `transaction ${txHash} reverted`,
        retry: true,
        notBefore: this.#backoff(maxAttempts),
      });
      return { batchId: batch.batchId, items: items.length, txHash, confirmed: 0, rejected: items.length };
    }
    const skipped = parseEventLogs({ abi: sessionEscrowAbi, eventName: 'VoucherSkipped', logs: receipt.logs });
    const bySession = new Map(items.map((item) => [item.auth.sessionId.toLowerCase(), item]));
    const refusedSessions: Array<{ sessionId: Hex; reason: number }> = [];
    const rejected = skipped.flatMap((log): Rejection[] => {
      const item = bySession.get(log.args.sessionId.toLowerCase());
      // A stale voucher was already paid (by an earlier transaction): covered, not rejected.
      if (!item || log.args.reason === SKIP_STALE) return [];
      const error = `skipped by the escrow (code ${log.args.reason})`;
      if (log.args.reason === SKIP_INSUFFICIENT_ESCROW) {
        this.#p.metrics?.metric.settlementRetries.inc({ reason: 'escrow' });
        this.#log.error(
          { sessionId: item.auth.sessionId, payer: item.auth.player, attempts: item.attempts },
          'the payer’s escrow cannot cover a charge: retrying with backoff',
        );
        return [{ settlementId: item.settlementId, error, retry: true, notBefore: this.#backoff(item.attempts) }];
      }
      this.#p.metrics?.metric.settlementFailures.inc();
      if (UNREGISTRABLE.has(log.args.reason))
        refusedSessions.push({ sessionId: item.auth.sessionId, reason: log.args.reason });
      this.#log.error(
        { sessionId: item.auth.sessionId, payer: item.auth.player, reason: log.args.reason },
        'the escrow refused a charge for good: needs an operator',
      );
      return [{ settlementId: item.settlementId, error, retry: false }];
    });
    const confirmed = await markBatchConfirmed(ledger, {
      batchId: batch.batchId,
      feeSplit: await this.feeSplit(),
      txHash,
      blockNumber: receipt.blockNumber,
      rejected,
    });
    this.#p.metrics?.metric.athSettled.inc(weiToAthSample(confirmed.settledWei));
    for (const refusal of refusedSessions) {
      try {
        this.#p.onRefused?.(refusal);
      } catch (error) {
        this.#log.error({ err: error, sessionId: refusal.sessionId }, 'could not end a session refused on chain');
      }
    }
    this.#log.info(
      {
        batchId: batch.batchId,
        items: items.length,
        txHash,
        gasUsed: String(receipt.gasUsed),
        rejected: rejected.length,
      },
      'settlement batch confirmed',
    );
    return {
      batchId: batch.batchId,
      items: items.length,
      txHash,
      confirmed: confirmed.confirmed,
      rejected: rejected.length,
    };
  }

  /**
   * Dry-runs the batch from the meter's address; when it reverts, halves it until each reverting item stands
   * alone. RPC errors (not reverts) are thrown: the whole batch waits.
   */
  async #isolateReverts(
    items: SettlementItem[],
  ): Promise<{ sendable: SettlementItem[]; reverting: Array<{ item: SettlementItem; reason: string }> }> {
    const reverting: Array<{ item: SettlementItem; reason: string }> = [];
    const sendable: SettlementItem[] = [];
    const split = async (subset: SettlementItem[], reason: string): Promise<void> => {
      if (subset.length === 1) {
        reverting.push({ item: subset[0] as SettlementItem, reason });
        return;
      }
      const half = Math.ceil(subset.length / 2);
      for (const part of [subset.slice(0, half), subset.slice(half)]) {
        const why = await this.#revertReason(part);
        if (why === undefined) sendable.push(...part);
        else await split(part, why);
      }
    };
    const why = await this.#revertReason(items);
    if (why === undefined) return { sendable: items, reverting };
    await split(items, why);
    // Items that pass in parts may still revert together (one payer's escrow): send the first part only.
    if (sendable.length > 1 && (await this.#revertReason(sendable)) !== undefined) {
      return { sendable: sendable.slice(0, 1), reverting };
    }
    return { sendable, reverting };
  }

  /** Undefined when the calldata for these items would succeed; the revert's message when it would not. */
  async #revertReason(items: SettlementItem[]): Promise<string | undefined> {
    try {
      await this.#p.publicClient.call({
        account: this.#p.walletClient.account.address,
        to: this.#p.escrowAddress,
        data: this.#calldata(items),
      });
      return undefined;
    } catch (error) {
      if (isRevert(error)) return errorText(error).split('\n')[0] ?? 'reverted';
      throw error;
    }
  }

  /**
   * Compact calldata when every payer signed with a plain key; ABI structs otherwise (smart wallets). A first
   * voucher carries the payer's signature, which `redeemPacked` checks by ECDSA recovery only: a smart wallet's
   * owner signature is 65 bytes too but recovers to the owner, not the wallet, so the escrow would skip it (and
   * the session would never be paid). Those go as ABI structs, where the escrow asks the wallet (ERC-1271).
   */
  #calldata(items: SettlementItem[]): Hex {
    const entries = items.map((item) => ({
      auth: item.auth,
      authSignature: item.authSignature,
      usage: item.usage,
      usageSignature: item.meterSignature,
      registered: item.registered,
      close: item.close,
    }));
    const plainKey = (entry: (typeof entries)[number]) =>
      entry.registered ||
      this.#verifier.verifyStrict(entry.auth.player, this.#digests.sessionAuth(entry.auth), entry.authSignature);
    if (entries.every((entry) => packable(entry) && plainKey(entry))) {
      return encodeFunctionData({
        abi: sessionEscrowAbi,
        functionName: 'redeemPacked',
        args: [packRedemptions(entries)],
      });
    }
    return encodeFunctionData({
      abi: sessionEscrowAbi,
      functionName: 'redeemBatch',
      args: [entries.map((entry) => toRedemption({ ...entry, submittedByMeter: true }))],
    });
  }

  async #updateGauges(): Promise<void> {
    const metrics = this.#p.metrics;
    if (!metrics) return;
    const rows = await listSettlements(this.#p.ledger, { limit: 10_000 }).catch(() => []);
    const counts: Record<string, number> = { pending: 0, sending: 0, sent: 0, confirmed: 0, failed: 0, superseded: 0 };
    let oldestMs: number | undefined;
    for (const row of rows) {
      counts[row.state] = (counts[row.state] ?? 0) + 1;
      if (['pending', 'sending', 'sent', 'failed'].includes(row.state)) {
        oldestMs = Math.min(oldestMs ?? Number.POSITIVE_INFINITY, row.createdAt.getTime());
      }
    }
    for (const [state, n] of Object.entries(counts)) metrics.metric.settlements.set({ state }, n);
    metrics.metric.settlementOldestUnsettledSeconds.set(
      oldestMs === undefined ? 0 : Math.max(0, (this.#now() - oldestMs) / 1000),
    );
    await this.#countSlashes(metrics);
  }

  /**
   * Slashes are confirmed by whichever process sends them (the ledger's `markSlashConfirmed`); the ledger's
   * confirmed total is the truth, so the counter follows its growth. The first look only sets the baseline:
   * like `athSettled`, the counter covers what happened while this process ran (Prometheus handles resets).
   */
  async #countSlashes(metrics: Metrics<SignalingMetricKey>): Promise<void> {
    const confirmed = await listSlashes(this.#p.ledger, { state: 'confirmed', limit: 100_000 }).catch(() => undefined);
    if (!confirmed) return;
    const totalWei = confirmed.reduce((sum, slash) => sum + (slash.slashedWei ?? slash.amountWei), 0n);
    if (this.#slashedSeenWei !== undefined && totalWei > this.#slashedSeenWei) {
      metrics.metric.athSlashed.inc(weiToAthSample(totalWei - this.#slashedSeenWei));
    }
    this.#slashedSeenWei = totalWei;
  }
}

/** A call that reached the EVM and reverted (as opposed to an RPC that did not answer). */
function isRevert(error: unknown): boolean {
  if (!(error instanceof BaseError)) return false;
  const found = error.walk(
    (e) =>
      e instanceof BaseError &&
      (e.name === 'ExecutionRevertedError' ||
        e.name === 'RawContractError' ||
        e.name === 'ContractFunctionRevertedError' ||
        /revert/i.test(e.shortMessage)),
  );
  return found !== null && found !== undefined;
}

function errorText(error: unknown): string {
  if (error instanceof BaseError) return error.shortMessage;
  return error instanceof Error ? error.message : String(error);
}
