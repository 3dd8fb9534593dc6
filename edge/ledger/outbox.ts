/**
 * The settlement outbox: how a metered charge gets from the ledger onto the chain — never lost, never doubled.
 *
 * One `settlements` row per (session, cumulative Usage voucher) to redeem. States:
 *
 *   pending ─claim─▶ sending ─markBatchSent(txHash)─▶ sent ─markBatchConfirmed─▶ confirmed
 *      ▲                │                              │
 *      └────────────────┴── markBatchFailed(retry) ────┤── markBatchFailed(no retry) ─▶ failed
 *      └──────────────── reconcile: not on chain ──────┘
 *   pending ─▶ superseded   when a higher voucher of the same session is claimed or confirmed
 *
 * Why this is enough: vouchers are cumulative and SessionEscrow stores, per session, the cumulative amount
 * already claimed; redeeming at or below it is rejected as stale. The chain therefore never pays a voucher
 * twice, whatever the ledger re-sends. The ledger's jobs are (a) never forget a voucher (no loss) and (b) journal
 * each confirmed delta exactly once (no double in the books) — every transition below is a compare-and-set on
 * the row's state, and journal entries are keyed by the settlement row.
 *
 * Settlement worker (built elsewhere), per batch:
 *   1. `claimSettlementBatch` — pending → sending under a new batch id. At most one row per session is in
 *      flight (a partial unique index enforces it); the session's highest pending voucher is taken and lower
 *      pending ones are superseded. Rows are locked with SKIP LOCKED: concurrent workers on a server never
 *      claim the same row (PGlite is one connection, so there it is trivially true).
 *   2. Build and sign the `redeemBatch` transaction locally — its hash is known before it is broadcast — and
 *      call `markBatchSent({ batchId, txHash, nonce, from })`: write-ahead, the hash is durable before the
 *      transaction exists anywhere else. Then broadcast. If markBatchSent throws, do not broadcast.
 *   3. On the receipt: `markBatchConfirmed({ batchId, feeSplit, … })`, items the contract skipped listed in
 *      `rejected`; on a revert or a send that surely failed: `markBatchFailed({ batchId, retry })`.
 *
 * After a crash (or periodically, for rows claimed long ago): `reconcileSettlements({ readClaimedWei, … })`
 * before claiming again. For every sending/sent row it asks the mempool (`isTxPending`, optional) and then the
 * chain what the session has claimed — in that order, so a transaction mined between the two reads counts as
 * mined:
 *   claimed ≥ the row's cumulative → confirmed (with any pending rows at or below `claimed`), journaled once;
 *   the recorded transaction still in the mempool → left `sent`;
 *   otherwise → back to pending, to be sent again. If an old transaction lands after its row was re-sent, the
 *   re-send is stale on chain (nothing doubles) and the next reconcile confirms the row.
 * With several workers on one server, reconcile with `olderThanSec` above the receipt timeout, so a live
 * worker's batch is not re-queued under it (harmless for the money, but see the rounding caveat below).
 *
 * The journal splits each confirmed delta (row cumulative − session's settled amount) with the contract's
 * arithmetic (`splitFee`), so provider, checker-pool and treasury credits equal what the chain paid, to the wei,
 * as long as the ledger sees the chain's redeems one by one. It does whenever the worker passes `isTxPending`.
 * Without it, a row re-queued while its transaction was still in the mempool can be re-sent at a higher voucher;
 * the chain then splits two deltas where the ledger splits their sum: the totals still agree to the wei, the
 * floor rounding of the fee may differ by a wei or so per such event.
 */
import { randomUUID } from 'node:crypto';
import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Hex } from 'viem';
import type { SessionAuth } from '../../signaling/protocol/index.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { assertFeeSplit, type FeeSplit, type JournalEntry, postJournalEntries, settlementPostings } from './journal.js';
import { type AssertLeaseHeldParameters, assertLeaseHeld } from './leases.js';
import { lockMeterClaim, type MeterClaim } from './meterClaims.js';
import {
  AddressColumn,
  Bytes32Column,
  decodeOptional,
  decodeRows,
  HexColumn,
  IdColumn,
  Nullable,
  Row,
  SafeIntColumn,
  Uint64Column,
  WeiColumn,
} from './rows.js';
import { assertCount, assertText, assertUint64, normalizeAddress, normalizeBytes32 } from './values.js';
import type { VoucherUsage } from './vouchers.js';

export const SettlementState = Type.Union([
  Type.Literal('pending'),
  Type.Literal('sending'),
  Type.Literal('sent'),
  Type.Literal('confirmed'),
  Type.Literal('failed'),
  Type.Literal('superseded'),
]);
export type SettlementState = StaticDecode<typeof SettlementState>;

const SettlementRow = Row({
  settlementId: IdColumn,
  sessionId: Bytes32Column,
  cumulativeWei: WeiColumn,
  deliveredSec: SafeIntColumn,
  meterAddress: AddressColumn,
  meterSignature: HexColumn,
  state: SettlementState,
  batchId: Nullable(Type.String()),
  attempts: Type.Integer({ minimum: 0 }),
  claimedBy: Nullable(Type.String()),
  claimedAt: Nullable(Type.Date()),
  txHash: Nullable(Bytes32Column),
  txNonce: Nullable(SafeIntColumn),
  txFrom: Nullable(AddressColumn),
  sentAt: Nullable(Type.Date()),
  blockNumber: Nullable(Uint64Column),
  confirmedAt: Nullable(Type.Date()),
  lastError: Nullable(Type.String()),
  /** Not claimed before this (a retry's backoff); null: at once. */
  notBefore: Nullable(Type.Date()),
  /** The session's final voucher: its redeem also closes the session on chain (releases the reserve). */
  final: Type.Boolean(),
  createdAt: Type.Date(),
  updatedAt: Type.Date(),
});
/** One outbox row. */
export type Settlement = StaticDecode<typeof SettlementRow>;

const SETTLEMENT_COLUMNS = `st.id as "settlementId", st.session_id as "sessionId", st.cumulative_wei::text as "cumulativeWei",
  st.delivered_sec as "deliveredSec", st.meter_address as "meterAddress", st.meter_signature as "meterSignature",
  st.state, st.batch_id as "batchId", st.attempts, st.claimed_by as "claimedBy", st.claimed_at as "claimedAt",
  st.tx_hash as "txHash", st.tx_nonce as "txNonce", st.tx_from as "txFrom", st.sent_at as "sentAt",
  st.block_number::text as "blockNumber", st.confirmed_at as "confirmedAt", st.last_error as "lastError",
  st.not_before as "notBefore", st.final, st.created_at as "createdAt", st.updated_at as "updatedAt"`;

const MAX_ERROR_LENGTH = 2048;
const clip = (text: string): string => text.slice(0, MAX_ERROR_LENGTH);

// ---- enqueue ------------------------------------------------------------------------------------------------

export type EnqueueSettlementParameters = {
  sessionId: Hex;
  /** The meter's claim on the session: one that is no longer the session's is ATH_ERR_LEDGER_FENCED. */
  claim?: MeterClaim;
};
export type EnqueueSettlementReturnType = { inserted: boolean; settlement: Settlement | undefined };

/**
 * Puts the session's latest voucher in the outbox, unless it is already settled or already queued at that (or a
 * higher) amount. Idempotent. `settlement` is the row for the latest voucher when one exists.
 */
export async function enqueueSettlement(
  db: Queryable,
  { sessionId, claim }: EnqueueSettlementParameters,
): Promise<EnqueueSettlementReturnType> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  if (claim !== undefined) {
    return db.transaction(async (tx) => {
      await lockMeterClaim(tx, id, claim);
      return enqueueSettlement(tx, { sessionId: id });
    });
  }
  const { rows } = await db.query(
    `with ins as (
       insert into settlements (session_id, cumulative_wei, delivered_sec, meter_address, meter_signature)
       select v.session_id, v.cumulative_wei, v.delivered_sec, v.meter_address, v.signature
         from vouchers v join sessions s on s.id = v.session_id
        where v.session_id = $1 and v.cumulative_wei > s.settled_wei
          and not exists (select 1 from settlements x where x.session_id = v.session_id
                            and x.cumulative_wei >= v.cumulative_wei and x.state <> 'superseded')
       on conflict (session_id, cumulative_wei, final) do nothing
       returning id
     )
     select (select count(*) from ins)::int as inserted`,
    [id],
  );
  const inserted = (rows[0] as { inserted?: unknown } | undefined)?.inserted === 1;
  const latest = await db.query(
    `select ${SETTLEMENT_COLUMNS} from settlements st join vouchers v on v.session_id = st.session_id
      where st.session_id = $1 and st.cumulative_wei = v.cumulative_wei and not st.final`,
    [id],
  );
  return { inserted, settlement: decodeOptional(SettlementRow, latest.rows) };
}

export type EnqueueFinalSettlementParameters = { sessionId: Hex };

/**
 * Puts an ended session's final voucher in the outbox: its redeem pays what is still unsettled and closes the
 * session on chain, releasing the rest of its reserve to the payer. Nothing when the session never charged
 * (nothing is registered on chain) or the row is already there. Call it in the transaction that ends the session.
 */
export async function enqueueFinalSettlement(
  db: Queryable,
  { sessionId }: EnqueueFinalSettlementParameters,
): Promise<boolean> {
  const id = normalizeBytes32(sessionId, 'sessionId');
  const { rows } = await db.query(
    `insert into settlements (session_id, cumulative_wei, delivered_sec, meter_address, meter_signature, final)
     select v.session_id, v.cumulative_wei, v.delivered_sec, v.meter_address, v.signature, true
       from vouchers v join sessions s on s.id = v.session_id
      where v.session_id = $1 and s.state = 'ended' and s.chain_closed_at is null
        and v.cumulative_wei = s.cumulative_wei and s.cumulative_wei > 0
     on conflict (session_id, cumulative_wei, final) do nothing
     returning id`,
    [id],
  );
  return rows.length === 1;
}

// ---- claim --------------------------------------------------------------------------------------------------

/** What the worker needs to redeem one session: both signed structs and their signatures. */
export type SettlementItem = {
  settlementId: bigint;
  /** 1 on the first claim. */
  attempts: number;
  auth: SessionAuth;
  authSignature: Hex;
  usage: VoucherUsage;
  meterSignature: Hex;
  /** The session is registered on chain (a redeem was confirmed): its authorization needs no signature again. */
  registered: boolean;
  /** The session's last voucher after it ended: the redeem also releases the rest of its reserve. */
  close: boolean;
};

export type SettlementBatch = { batchId: string; items: SettlementItem[] };

export type ClaimSettlementBatchParameters = {
  /** Who claims (host name, pid): recorded for operators. */
  workerId: string;
  /** Sessions per batch (one voucher each); default 50. */
  limit?: number;
  /** The claimer's clock: sessions whose pending row waits for a retry (`not_before` later) are skipped. */
  now?: Date;
};

const ClaimedItemRow = Row({
  settlementId: IdColumn,
  attempts: Type.Integer({ minimum: 1 }),
  cumulativeWei: WeiColumn,
  deliveredSec: Uint64Column,
  meterSignature: HexColumn,
  sessionId: Bytes32Column,
  payerAddress: AddressColumn,
  providerAddress: AddressColumn,
  authMaxWei: WeiColumn,
  priceWeiPerSec: WeiColumn,
  authExpirySec: Uint64Column,
  authSignature: HexColumn,
  settledWei: WeiColumn,
  final: Type.Boolean(),
});

/**
 * Claims up to `limit` sessions' highest pending vouchers as one batch (pending → sending), or returns
 * undefined when there is nothing to send. Sessions with a redeem in flight are skipped.
 */
export async function claimSettlementBatch(
  db: Queryable,
  { workerId, limit = 50, now }: ClaimSettlementBatchParameters,
): Promise<SettlementBatch | undefined> {
  assertText(workerId, 'workerId', 128);
  const at = now ?? null;
  assertCount(limit, 'limit', 1000);
  if (limit === 0) return undefined;
  const batchId = randomUUID();
  return db.transaction(async (tx) => {
    // Lock sessions first (the ledger's lock order: sessions, then their settlements). A session locked by another
    // claimer — or by a tick being recorded — is skipped this round.
    const locked = await tx.query(
      `select s.id from sessions s
        where s.id in (select p.session_id from settlements p where p.state = 'pending')
          and not exists (select 1 from settlements f where f.session_id = s.id and f.state in ('sending', 'sent'))
          and not exists (select 1 from settlements b where b.session_id = s.id and b.state = 'pending'
                            and b.not_before > coalesce($2::timestamptz, now()))
        order by s.created_at, s.id
        limit $1
        for no key update of s skip locked`,
      [limit, at],
    );
    const sessionIds = locked.rows.map((row) => (row as { id: string }).id);
    if (sessionIds.length === 0) return undefined;
    await tx.query('insert into settlement_batches (id, claimed_by) values ($1, $2)', [batchId, workerId]);
    // A fresh statement, so a fresh snapshot: anything another claimer committed before we got the locks is seen.
    await tx.query(
      `with chosen as (
         select distinct on (p.session_id) p.id, p.session_id, p.cumulative_wei, p.final
           from settlements p where p.session_id = any($1::text[]) and p.state = 'pending'
          order by p.session_id, p.cumulative_wei desc, p.final desc
       ), superseded as (
         update settlements x set state = 'superseded', updated_at = now()
           from chosen c where x.session_id = c.session_id and x.state = 'pending' and x.id <> c.id
            and (x.cumulative_wei < c.cumulative_wei or (x.cumulative_wei = c.cumulative_wei and c.final))
       )
       update settlements t set state = 'sending', batch_id = $2, attempts = t.attempts + 1, claimed_by = $3,
              claimed_at = now(), updated_at = now(), not_before = null
         from chosen c
        where t.id = c.id and t.state = 'pending'
          and not exists (select 1 from settlements f where f.session_id = t.session_id and f.state in ('sending', 'sent'))`,
      [sessionIds, batchId, workerId],
    );
    const { rows } = await tx.query(
      `select st.id as "settlementId", st.attempts, st.cumulative_wei::text as "cumulativeWei",
              st.delivered_sec::text as "deliveredSec", st.meter_signature as "meterSignature", s.id as "sessionId",
              s.payer_address as "payerAddress", s.provider_address as "providerAddress",
              s.auth_max_wei::text as "authMaxWei", s.price_wei_per_sec::text as "priceWeiPerSec",
              s.auth_expiry_sec::text as "authExpirySec", s.auth_signature as "authSignature",
              s.settled_wei::text as "settledWei", st.final
         from settlements st join sessions s on s.id = st.session_id
        where st.batch_id = $1 and st.state = 'sending' order by st.id`,
      [batchId],
    );
    const items = decodeRows(ClaimedItemRow, rows).map(
      (row): SettlementItem => ({
        settlementId: row.settlementId,
        attempts: row.attempts,
        auth: {
          sessionId: row.sessionId,
          player: row.payerAddress,
          provider: row.providerAddress,
          maxAmount: row.authMaxWei,
          pricePerSecond: row.priceWeiPerSec,
          expiry: row.authExpirySec,
        },
        authSignature: row.authSignature,
        usage: { sessionId: row.sessionId, cumulativeAmount: row.cumulativeWei, deliveredSeconds: row.deliveredSec },
        meterSignature: row.meterSignature,
        registered: row.settledWei > 0n,
        close: row.final,
      }),
    );
    return items.length === 0 ? undefined : { batchId, items };
  });
}

// ---- sent ---------------------------------------------------------------------------------------------------

export type MarkBatchSentParameters = {
  batchId: string;
  /** The hash of the signed transaction, recorded before it is broadcast. */
  txHash: Hex;
  /** The sender's nonce the transaction uses. */
  nonce?: number;
  from?: string;
  /**
   * The settlement lease the sender must still hold (checked in the same transaction): a leader that lost it
   * gets ATH_ERR_LEDGER_LEASE_LOST and must not broadcast.
   */
  lease?: AssertLeaseHeldParameters;
};

export type MarkBatchSentReturnType = { settlementIds: bigint[] };

/**
 * Write-ahead record of the redeem transaction: sending → sent with its hash (sent → sent with a new hash for a
 * replacement at the same nonce). Throws ATH_ERR_LEDGER_BAD_TRANSITION when the batch is no longer in flight
 * (e.g. reconciled meanwhile) — then the transaction must not be broadcast.
 */
export async function markBatchSent(
  db: Queryable,
  { batchId, txHash, nonce, from, lease }: MarkBatchSentParameters,
): Promise<MarkBatchSentReturnType> {
  const batch = assertBatchId(batchId);
  const hash = normalizeBytes32(txHash, 'txHash');
  if (nonce !== undefined) assertCount(nonce, 'nonce');
  const sender = from === undefined ? null : normalizeAddress(from, 'from');
  return db.transaction(async (tx) => {
    if (lease !== undefined) await assertLeaseHeld(tx, lease);
    const { rows } = await tx.query(
      `update settlements set state = 'sent', tx_hash = $2, tx_nonce = $3, tx_from = $4,
              sent_at = coalesce(sent_at, now()), updated_at = now()
        where batch_id = $1 and state in ('sending', 'sent')
        returning id::text as id`,
      [batch, hash, nonce ?? null, sender],
    );
    if (rows.length === 0) return throwBatchNotInFlight(tx, batch);
    return { settlementIds: rows.map((row) => BigInt((row as { id: string }).id)) };
  });
}

// ---- confirmed ----------------------------------------------------------------------------------------------

/**
 * An item the contract did not redeem. An item skipped as stale (the session's claimed amount is already at or
 * above it) is not a rejection: the chain has it, so leave it out and it is confirmed with the others.
 */
export type RejectedSettlement = {
  settlementId: bigint;
  error: string;
  /** true: back to pending to be sent again; false: failed for good. */
  retry: boolean;
  /** With `retry`: not claimed again before this. */
  notBefore?: Date;
};

export type MarkBatchConfirmedParameters = {
  batchId: string;
  /** The contract's fee settings the redeem used. */
  feeSplit: FeeSplit;
  txHash?: Hex;
  blockNumber?: bigint;
  /** Items of the batch the contract did not redeem (e.g. skipped as invalid); all others are confirmed. */
  rejected?: readonly RejectedSettlement[];
};

export type MarkBatchConfirmedReturnType = {
  confirmed: number;
  requeued: number;
  failed: number;
  /** Σ of the deltas newly journaled as settled. */
  settledWei: bigint;
};

/**
 * The batch's transaction succeeded: its rows become confirmed, each delta over the session's settled amount is
 * journaled (provider, checker pool, treasury) and lower pending vouchers of those sessions are superseded.
 * Idempotent: calling it again for a finished batch changes nothing and returns zeros.
 */
export async function markBatchConfirmed(
  db: Queryable,
  { batchId, feeSplit, txHash, blockNumber, rejected = [] }: MarkBatchConfirmedParameters,
): Promise<MarkBatchConfirmedReturnType> {
  const batch = assertBatchId(batchId);
  assertFeeSplit(feeSplit);
  const hash = txHash === undefined ? null : normalizeBytes32(txHash, 'txHash');
  const block = blockNumber === undefined ? null : assertUint64(blockNumber, 'blockNumber');
  return db.transaction(async (tx) => {
    const rows = await lockInFlightRows(tx, { batchId: batch });
    if (rows.length === 0) {
      await assertBatchExists(tx, batch);
      return { confirmed: 0, requeued: 0, failed: 0, settledWei: 0n };
    }
    const rejectedById = new Map(rejected.map((r) => [r.settlementId, r]));
    const toConfirm = rows.filter((row) => !rejectedById.has(row.settlementId));
    const toRetry = rows.filter((row) => rejectedById.get(row.settlementId)?.retry === true);
    const toFail = rows.filter((row) => rejectedById.get(row.settlementId)?.retry === false);
    const settledWei = await confirmRows(tx, toConfirm, { feeSplit, txHash: hash, blockNumber: block });
    for (const row of toRetry) {
      const rejection = rejectedById.get(row.settlementId);
      await requeueRows(tx, [row.settlementId], rejection?.error ?? '', rejection?.notBefore);
    }
    for (const row of toFail) await failRows(tx, [row.settlementId], rejectedById.get(row.settlementId)?.error ?? '');
    return { confirmed: toConfirm.length, requeued: toRetry.length, failed: toFail.length, settledWei };
  });
}

// ---- failed -------------------------------------------------------------------------------------------------

export type MarkBatchFailedParameters = {
  batchId: string;
  error: string;
  /** true: back to pending (sent again later); false: failed for good. */
  retry: boolean;
  /** With `retry`, rows that have been claimed this many times fail for good instead (default: never). */
  maxAttempts?: number;
  /** With `retry`: not claimed again before this (backoff). */
  notBefore?: Date;
  /** Only these rows of the batch (e.g. the items a dry run showed reverting); default: the whole batch. */
  settlementIds?: readonly bigint[];
};

export type MarkBatchFailedReturnType = { requeued: number; failed: number };

/**
 * The batch's transaction reverted or surely never left: its rows go back to pending (or to failed). Only for a
 * transaction known not to have been mined — when unsure, call `reconcileSettlements` instead. Idempotent.
 */
export async function markBatchFailed(
  db: Queryable,
  { batchId, error, retry, maxAttempts, notBefore, settlementIds }: MarkBatchFailedParameters,
): Promise<MarkBatchFailedReturnType> {
  const batch = assertBatchId(batchId);
  if (maxAttempts !== undefined) assertCount(maxAttempts, 'maxAttempts');
  const only = settlementIds === undefined ? undefined : new Set(settlementIds);
  return db.transaction(async (tx) => {
    const rows = (await lockInFlightRows(tx, { batchId: batch })).filter(
      (row) => only === undefined || only.has(row.settlementId),
    );
    if (rows.length === 0) {
      await assertBatchExists(tx, batch);
      return { requeued: 0, failed: 0 };
    }
    const exhausted = (row: InFlightRow): boolean =>
      !retry || (maxAttempts !== undefined && row.attempts >= maxAttempts);
    const fail = rows.filter(exhausted).map((row) => row.settlementId);
    const requeue = rows.filter((row) => !exhausted(row)).map((row) => row.settlementId);
    await failRows(tx, fail, error);
    await requeueRows(tx, requeue, error, notBefore);
    return { requeued: requeue.length, failed: fail.length };
  });
}

export type RetryFailedSettlementParameters = { settlementId: bigint };

/** A failed row back to pending (after an operator fixed its cause). Returns false when it was not failed. */
export async function retryFailedSettlement(
  db: Queryable,
  { settlementId }: RetryFailedSettlementParameters,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update settlements set state = 'pending', claimed_by = null, claimed_at = null, tx_hash = null,
            tx_nonce = null, tx_from = null, sent_at = null, updated_at = now(), not_before = null
      where id = $1 and state = 'failed'`,
    [settlementId],
  );
  return rowCount === 1;
}

// ---- reconcile ----------------------------------------------------------------------------------------------

export type ReconcileSettlementsParameters = {
  /** Asks the chain: the cumulative amount SessionEscrow has recorded as claimed for the session. */
  readClaimedWei: (sessionId: Hex) => Promise<bigint>;
  /** Asks the chain whether a transaction is still waiting in the mempool (optional). */
  isTxPending?: (txHash: Hex) => Promise<boolean>;
  /**
   * Asks the chain whether the session is closed (SessionEscrow `closed`): a final row is done only then.
   * Without it, final rows are judged by the claimed amount alone.
   */
  readClosed?: (sessionId: Hex) => Promise<boolean>;
  feeSplit: FeeSplit;
  /** Only rows claimed at least this long ago (default 0: all — right at start-up, before claiming). */
  olderThanSec?: number;
  /** Default 1000 sessions per call. */
  limit?: number;
};

export type ReconcileSettlementsReturnType = {
  /** Rows confirmed (in-flight ones and pending ones the chain had already claimed). */
  confirmed: number;
  /** In-flight rows the chain has not claimed: back to pending. */
  requeued: number;
  /** Rows left in flight: their transaction is still pending. */
  stillInFlight: number;
  settledWei: bigint;
  /** Sessions where the chain has claimed less than the ledger holds as settled: needs an operator. */
  mismatches: { sessionId: Hex; claimedWei: bigint; settledWei: bigint }[];
};

const InFlightCandidateRow = Row({
  settlementId: IdColumn,
  sessionId: Bytes32Column,
  batchId: Type.String(),
  cumulativeWei: WeiColumn,
  state: Type.Union([Type.Literal('sending'), Type.Literal('sent')]),
  txHash: Nullable(Bytes32Column),
  final: Type.Boolean(),
});

/**
 * Settles the fate of in-flight rows against the chain; see the protocol at the top of this file. Chain reads
 * happen outside any database transaction; each session is then decided in its own short transaction, and only
 * if its row is still the one read (a worker that finished meanwhile wins).
 */
export async function reconcileSettlements(
  db: Queryable,
  { readClaimedWei, isTxPending, readClosed, feeSplit, olderThanSec = 0, limit = 1000 }: ReconcileSettlementsParameters,
): Promise<ReconcileSettlementsReturnType> {
  assertFeeSplit(feeSplit);
  assertCount(olderThanSec, 'olderThanSec');
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select st.id as "settlementId", st.session_id as "sessionId", st.batch_id as "batchId",
            st.cumulative_wei::text as "cumulativeWei", st.state, st.tx_hash as "txHash", st.final
       from settlements st
      where st.state in ('sending', 'sent') and st.claimed_at <= now() - make_interval(secs => $1)
      order by st.claimed_at, st.id limit $2`,
    [olderThanSec, limit],
  );
  const result: ReconcileSettlementsReturnType = {
    confirmed: 0,
    requeued: 0,
    stillInFlight: 0,
    settledWei: 0n,
    mismatches: [],
  };
  for (const candidate of decodeRows(InFlightCandidateRow, rows)) {
    // Mempool first, then the claimed amount: a transaction mined between the two reads is then seen as mined
    // (claimed includes it), never as gone — so a row is re-sent only when its transaction is truly not coming.
    const txPending =
      candidate.state === 'sent' &&
      candidate.txHash !== null &&
      isTxPending !== undefined &&
      (await isTxPending(candidate.txHash));
    const claimedWei = await readClaimedWei(candidate.sessionId);
    if (typeof claimedWei !== 'bigint' || claimedWei < 0n) {
      throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'readClaimedWei returned a non-wei value', {
        details: String(claimedWei),
      });
    }
    // A final row is done when the chain closed the session; ordinary rows when the amount is claimed.
    const closed = readClosed === undefined ? true : await readClosed(candidate.sessionId);
    await db.transaction(async (tx) => {
      const inFlight = await lockInFlightRows(tx, { settlementId: candidate.settlementId, batchId: candidate.batchId });
      if (inFlight.length === 0) return; // finished by its worker meanwhile
      const settledBefore = inFlight[0]?.settledWei ?? 0n;
      if (claimedWei < settledBefore) {
        result.mismatches.push({ sessionId: candidate.sessionId, claimedWei, settledWei: settledBefore });
      }
      // Pending rows the chain has already claimed (e.g. redeemed by a run whose record was lost) are confirmed too.
      const pending = await lockPendingRowsUpTo(tx, candidate.sessionId, claimedWei, closed);
      const done = (row: InFlightRow) => row.cumulativeWei <= claimedWei && (!row.final || closed);
      const confirmable = [...pending, ...inFlight.filter(done)];
      result.settledWei += await confirmRows(tx, confirmable, { feeSplit, txHash: null, blockNumber: null });
      result.confirmed += confirmable.length;
      if (claimedWei >= candidate.cumulativeWei && (!candidate.final || closed)) return;
      if (txPending) {
        result.stillInFlight += 1;
        return;
      }
      await requeueRows(
        tx,
        [candidate.settlementId],
        `reconciled: chain has claimed ${claimedWei} < ${candidate.cumulativeWei}`,
      );
      result.requeued += 1;
    });
  }
  return result;
}

// ---- reads --------------------------------------------------------------------------------------------------

export type ListSettlementsParameters = { sessionId?: Hex; batchId?: string; state?: SettlementState; limit?: number };

/** Outbox rows, oldest first, filtered by session, batch and/or state. */
export async function listSettlements(
  db: Queryable,
  { sessionId, batchId, state, limit = 1000 }: ListSettlementsParameters = {},
): Promise<Settlement[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${SETTLEMENT_COLUMNS} from settlements st
      where ($1::text is null or st.session_id = $1) and ($2::text is null or st.batch_id = $2)
        and ($3::text is null or st.state = $3)
      order by st.id limit $4`,
    [
      sessionId === undefined ? null : normalizeBytes32(sessionId, 'sessionId'),
      batchId === undefined ? null : assertBatchId(batchId),
      state ?? null,
      limit,
    ],
  );
  return decodeRows(SettlementRow, rows);
}

// ---- internals ----------------------------------------------------------------------------------------------

const InFlightRow = Row({
  settlementId: IdColumn,
  sessionId: Bytes32Column,
  cumulativeWei: WeiColumn,
  attempts: Type.Integer({ minimum: 0 }),
  providerAddress: AddressColumn,
  settledWei: WeiColumn,
  final: Type.Boolean(),
});
type InFlightRow = StaticDecode<typeof InFlightRow>;

/** Locks the sessions, then the in-flight rows, of a batch (or of one row of it). */
async function lockInFlightRows(
  tx: Queryable,
  { batchId, settlementId }: { batchId: string; settlementId?: bigint },
): Promise<InFlightRow[]> {
  const filter = `st.batch_id = $1 and st.state in ('sending', 'sent') and ($2::bigint is null or st.id = $2)`;
  await tx.query(
    `select s.id from sessions s where s.id in (select st.session_id from settlements st where ${filter})
      order by s.id for no key update`,
    [batchId, settlementId ?? null],
  );
  const { rows } = await tx.query(
    `select st.id as "settlementId", st.session_id as "sessionId", st.cumulative_wei::text as "cumulativeWei",
            st.attempts, s.provider_address as "providerAddress", s.settled_wei::text as "settledWei", st.final
       from settlements st join sessions s on s.id = st.session_id
      where ${filter}
      order by st.id for update of st`,
    [batchId, settlementId ?? null],
  );
  return decodeRows(InFlightRow, rows);
}

/** Pending rows of a (locked) session at or below an amount (final ones only when the chain closed it). */
async function lockPendingRowsUpTo(
  tx: Queryable,
  sessionId: Hex,
  maxWei: bigint,
  closed: boolean,
): Promise<InFlightRow[]> {
  const { rows } = await tx.query(
    `select st.id as "settlementId", st.session_id as "sessionId", st.cumulative_wei::text as "cumulativeWei",
            st.attempts, s.provider_address as "providerAddress", s.settled_wei::text as "settledWei", st.final
       from settlements st join sessions s on s.id = st.session_id
      where st.session_id = $1 and st.state = 'pending' and st.cumulative_wei <= $2::numeric and (not st.final or $3)
      order by st.id for update of st`,
    [sessionId, maxWei, closed],
  );
  return decodeRows(InFlightRow, rows);
}

type ConfirmMeta = { feeSplit: FeeSplit; txHash: Hex | null; blockNumber: bigint | null };

/**
 * Confirms locked rows. Per session only the highest row moves money: its delta over the session's settled amount
 * is journaled as one redeem (how the chain moved it — one transaction in flight per session); lower rows of the
 * same call are confirmed as covered. Raises the settled amount and supersedes pending rows at or below it.
 * Returns Σ deltas.
 */
async function confirmRows(tx: Queryable, rows: readonly InFlightRow[], meta: ConfirmMeta): Promise<bigint> {
  if (rows.length === 0) return 0n;
  const highest = new Map<Hex, InFlightRow>();
  for (const row of rows) {
    const current = highest.get(row.sessionId);
    if (current === undefined || row.cumulativeWei > current.cumulativeWei) highest.set(row.sessionId, row);
  }
  const settled = new Map<Hex, bigint>();
  const entries: JournalEntry[] = [];
  let total = 0n;
  for (const row of highest.values()) {
    const deltaWei = row.cumulativeWei - row.settledWei;
    if (deltaWei > 0n) {
      entries.push({
        entryKey: `settle:${row.settlementId}`,
        sessionId: row.sessionId,
        postings: settlementPostings(row.providerAddress, deltaWei, meta.feeSplit),
      });
      total += deltaWei;
    }
    settled.set(row.sessionId, deltaWei > 0n ? row.cumulativeWei : row.settledWei);
  }
  await postJournalEntries(tx, entries);
  await tx.query(
    `update settlements set state = 'confirmed', confirmed_at = now(), updated_at = now(),
            tx_hash = coalesce($2, tx_hash), block_number = coalesce($3::numeric, block_number)
      where id = any($1::bigint[]) and state in ('pending', 'sending', 'sent')`,
    [rows.map((row) => row.settlementId.toString()), meta.txHash, meta.blockNumber],
  );
  const sessionIds = [...settled.keys()];
  const amounts = sessionIds.map((id) => (settled.get(id) ?? 0n).toString());
  await tx.query(
    `update sessions s set settled_wei = greatest(s.settled_wei, v.wei::numeric)
       from unnest($1::text[], $2::text[]) as v(id, wei) where s.id = v.id`,
    [sessionIds, amounts],
  );
  const closedIds = [...new Set(rows.filter((row) => row.final).map((row) => row.sessionId))];
  if (closedIds.length > 0) {
    await tx.query(
      'update sessions set chain_closed_at = coalesce(chain_closed_at, now()) where id = any($1::text[])',
      [closedIds],
    );
  }
  await tx.query(
    `update settlements st set state = 'superseded', updated_at = now()
       from sessions s where s.id = st.session_id and st.session_id = any($1::text[])
        and st.state = 'pending' and st.cumulative_wei <= s.settled_wei
        and (not st.final or s.chain_closed_at is not null)`,
    [sessionIds],
  );
  return total;
}

async function requeueRows(tx: Queryable, ids: readonly bigint[], error: string, notBefore?: Date): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `update settlements set state = 'pending', claimed_by = null, claimed_at = null, tx_hash = null,
            tx_nonce = null, tx_from = null, sent_at = null, last_error = $2, updated_at = now(), not_before = $3
      where id = any($1::bigint[]) and state in ('sending', 'sent')`,
    [ids.map(String), clip(error), notBefore ?? null],
  );
}

async function failRows(tx: Queryable, ids: readonly bigint[], error: string): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `update settlements set state = 'failed', last_error = $2, updated_at = now()
      where id = any($1::bigint[]) and state in ('sending', 'sent')`,
    [ids.map(String), clip(error)],
  );
}

async function assertBatchExists(tx: Queryable, batchId: string): Promise<void> {
  const { rows } = await tx.query('select 1 from settlement_batches where id = $1', [batchId]);
  if (rows.length === 0)
    throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such settlement batch', { details: batchId });
}

async function throwBatchNotInFlight(tx: Queryable, batchId: string): Promise<never> {
  await assertBatchExists(tx, batchId);
  throw ledgerError('ATH_ERR_LEDGER_BAD_TRANSITION', 'the settlement batch is no longer in flight', {
    details: batchId,
  });
}

function assertBatchId(batchId: string): string {
  return assertText(batchId, 'batchId', 36, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
}
