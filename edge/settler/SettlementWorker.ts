/**
 * The settlement worker: takes the ledger's outbox of cumulative vouchers to the chain in batches, following
 * the outbox protocol (edge/ledger/outbox.ts) so a crash at any point neither loses nor doubles a charge:
 * reconcile on start; claim a batch; sign the transaction locally and record its hash *before* broadcasting;
 * broadcast; on the receipt confirm the batch (items the contract skipped as invalid are rejected; stale
 * ones were already paid and count as covered). The meter's key sends: the escrow then skips re-checking the
 * meter's own voucher signatures, and batches of plain-key payers go as compact `redeemPacked` calldata.
 *
 * A `WithdrawRequested` event on the escrow triggers an immediate run, so every open session of that payer
 * is redeemed (and its reserve registered) well within the withdrawal delay.
 */
import type { Logger } from 'pino';
import {
  type Account,
  type Address,
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
import { packable, packRedemptions, sessionEscrowAbi, toRedemption } from '../chain/index.js';
import {
  claimSettlementBatch,
  type FeeSplit,
  type Ledger,
  listSettlements,
  listSlashes,
  markBatchConfirmed,
  markBatchFailed,
  markBatchSent,
  reconcileSettlements,
  type SettlementItem,
} from '../ledger/index.js';

/** VoucherSkipped code for a voucher at or below what the session already claimed (see SessionEscrow). */
const SKIP_STALE = 1;

export type SettlementWorkerParameters = {
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  walletClient: WalletClient<Transport, Chain, Account>;
  escrowAddress: Address;
  workerId: string;
  intervalMs: number;
  batchSize: number;
  log: Logger;
  metrics?: Metrics<SignalingMetricKey>;
  /** Fault injection for the crash test: called after the hash is recorded and the tx broadcast. */
  afterBroadcast?: (txHash: Hex) => Promise<void> | void;
};

export type RunOnceReturnType =
  | { batchId: string; items: number; txHash: Hex; confirmed: number; rejected: number }
  | undefined;

export class SettlementWorker {
  readonly #p: SettlementWorkerParameters;
  readonly #log: Logger;
  #feeSplit: FeeSplit | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #unwatch: (() => void) | undefined;
  #closed = false;
  /** Σ confirmed slashes (wei) at the last look; undefined until the first (which sets the baseline). */
  #slashedSeenWei: bigint | undefined;

  constructor(params: SettlementWorkerParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'edge/settler', workerId: params.workerId });
  }

  /** Reconciles what a previous run left in flight, then settles every `intervalMs`. */
  async start(): Promise<void> {
    await this.reconcile();
    await this.#updateGauge();
    this.#timer = setInterval(() => void this.runSoon(), this.#p.intervalMs);
    this.#timer.unref();
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
      onError: (error) => this.#log.warn({ err: error }, 'escrow event watch failed'),
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unwatch?.();
    await this.#running.catch(() => undefined);
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
      isTxPending: async (hash) => {
        const [tx, receipt] = await Promise.all([
          this.#p.publicClient.getTransaction({ hash }).catch(() => undefined),
          this.#p.publicClient.getTransactionReceipt({ hash }).catch(() => undefined),
        ]);
        return tx !== undefined && receipt === undefined;
      },
    });
    if (result.confirmed || result.requeued) this.#log.info(result, 'reconciled in-flight settlements');
  }

  /** Runs one settlement pass after any pass already running; resolves with its outcome. */
  runSoon(): Promise<RunOnceReturnType[]> {
    const run = this.#running.then(() => this.#drain());
    this.#running = run.catch((error: unknown) => this.#log.error({ err: error }, 'settlement pass failed'));
    return run;
  }

  /** Settles batches until the outbox is empty (or the worker closes). */
  async #drain(): Promise<RunOnceReturnType[]> {
    const results: RunOnceReturnType[] = [];
    while (!this.#closed) {
      const result = await this.#runOnce();
      if (!result) break;
      results.push(result);
    }
    await this.#updateGauge();
    return results;
  }

  async #runOnce(): Promise<RunOnceReturnType> {
    const { ledger, publicClient, walletClient, escrowAddress } = this.#p;
    const batch = await claimSettlementBatch(ledger, { workerId: this.#p.workerId, limit: this.#p.batchSize });
    if (!batch) return undefined;
    // Sorted by provider so the escrow credits each provider once per run of equal providers.
    const items = [...batch.items].sort((a, b) => a.auth.provider.localeCompare(b.auth.provider));
    let serialized: Hex;
    let nonce: number;
    try {
      const data = this.#calldata(items);
      const request = await walletClient.prepareTransactionRequest({
        to: escrowAddress,
        data,
        chain: walletClient.chain,
      });
      nonce = request.nonce;
      serialized = await walletClient.signTransaction(request);
    } catch (error) {
      // Nothing was sent: the batch goes back to the outbox as it was.
      await markBatchFailed(ledger, { batchId: batch.batchId, error: errorText(error), retry: true, maxAttempts: 20 });
      this.#log.warn({ err: error, batchId: batch.batchId }, 'could not prepare the settlement transaction');
      return undefined;
    }
    const txHash = keccak256(serialized);
    // Write-ahead: the hash is durable before the transaction exists anywhere else.
    await markBatchSent(ledger, { batchId: batch.batchId, txHash, nonce, from: walletClient.account.address });
    await publicClient.sendRawTransaction({ serializedTransaction: serialized });
    await this.#p.afterBroadcast?.(txHash);
    const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash, timeout: 60_000 });
    if (receipt.status !== 'success') {
      await markBatchFailed(ledger, {
        batchId: batch.batchId,
        error: `transaction ${txHash} reverted`,
        retry: true,
        maxAttempts: 20,
      });
      return { batchId: batch.batchId, items: items.length, txHash, confirmed: 0, rejected: items.length };
    }
    const skipped = parseEventLogs({ abi: sessionEscrowAbi, eventName: 'VoucherSkipped', logs: receipt.logs });
    const bySession = new Map(items.map((item) => [item.auth.sessionId.toLowerCase(), item]));
    const rejected = skipped.flatMap((log) => {
      const item = bySession.get(log.args.sessionId.toLowerCase());
      // A stale voucher was already paid (by an earlier transaction): covered, not rejected.
      if (!item || log.args.reason === SKIP_STALE) return [];
      return [
        { settlementId: item.settlementId, error: `skipped by the escrow (code ${log.args.reason})`, retry: false },
      ];
    });
    const confirmed = await markBatchConfirmed(ledger, {
      batchId: batch.batchId,
      feeSplit: await this.feeSplit(),
      txHash,
      blockNumber: receipt.blockNumber,
      rejected,
    });
    this.#p.metrics?.metric.athSettled.inc(weiToAthSample(confirmed.settledWei));
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

  /** Compact calldata when every payer signed with a plain key; ABI structs otherwise (smart wallets). */
  #calldata(items: SettlementItem[]): Hex {
    const entries = items.map((item) => ({
      auth: item.auth,
      authSignature: item.authSignature,
      usage: item.usage,
      usageSignature: item.meterSignature,
    }));
    if (entries.every((entry) => packable(entry))) {
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

  async #updateGauge(): Promise<void> {
    const metrics = this.#p.metrics;
    if (!metrics) return;
    const rows = await listSettlements(this.#p.ledger, { limit: 10_000 }).catch(() => []);
    const counts: Record<string, number> = { pending: 0, sending: 0, sent: 0, confirmed: 0, failed: 0, superseded: 0 };
    for (const row of rows) counts[row.state] = (counts[row.state] ?? 0) + 1;
    for (const [state, n] of Object.entries(counts)) metrics.metric.settlements.set({ state }, n);
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
