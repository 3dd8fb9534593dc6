/**
 * Rewards from the checker pool (the escrow's share of the protocol fee, journaled as `checker_pool` credits),
 * computed per period and paid on chain once through an outbox.
 *
 *   checkers period [start, end) (a day by default): fresh = the pool credits that arrived inside it (chain time,
 *     as `stampRewardInflows` saw them — credits from before the first period go to the first one);
 *     stakerShareBps of it is set aside for the stakers' epoch; the rest, plus what earlier checker periods left
 *     unallocated or forfeited, is split among checkers in proportion to their reports that agreed with a
 *     confirmed majority in rounds decided in [start, end) (chain time) — barred checkers excluded.
 *   stakers epoch E (a week from Thursday 00:00 UTC): the set-aside parts of the checker periods that ended by
 *     the epoch's end, plus the stakers' carry, split pro rata by the stake each operator held through the whole
 *     epoch (read from the chain) — operators seen offline that epoch excluded.
 *
 * Shares are exact: `allocateProRata` floors each share and gives the remaining wei to the largest remainders,
 * so Σ allocations = the pool, to the wei. A period with no recipient carries its pool to the next one.
 *
 * Each period is computed in one transaction (under an advisory lock, and once: a second call returns the stored
 * one), together with its payouts (chunks of recipients) — so a crash between computing and paying leaves pending
 * payouts that are paid once. Payout protocol, as the settlement outbox: pending → sent (the signed transaction's
 * hash recorded before broadcasting) → confirmed (with what the chain credited; items it skipped as already paid
 * count as paid, the others are forfeited back to the pool) or back to pending / failed.
 */
import { type StaticDecode, Type } from '@sinclair/typebox';
import type { Address, Hex } from 'viem';
import { applyBps, BPS_DENOMINATOR } from '../../signaling/protocol/index.js';
import { ensureAccountRoles } from './accounts.js';
import type { Queryable } from './db/Db.js';
import { ledgerError } from './errors.js';
import { type JournalEntry, postJournalEntries, SYSTEM_ACCOUNTS } from './journal.js';
import {
  AddressColumn,
  Bytes32Column,
  decodeOne,
  decodeOptional,
  decodeRows,
  IdColumn,
  Nullable,
  Row,
  SafeIntColumn,
  Uint64Column,
  WeiColumn,
} from './rows.js';
import { assertCount, assertText, assertUint64, assertWei, normalizeAddress, normalizeBytes32 } from './values.js';

export const RewardKind = Type.Union([Type.Literal('stakers'), Type.Literal('checkers')]);
export type RewardKind = StaticDecode<typeof RewardKind>;

/** pg_advisory_xact_lock key for computing reward periods: 'athrewrd'. */
const REWARDS_LOCK_KEY = 0x6174687265777264n;
const WeightColumn = Type.Transform(Type.String({ pattern: '^[1-9][0-9]{0,77}$' }))
  .Decode((value) => BigInt(value))
  .Encode((value: bigint) => value.toString(10));

// ---- exact shares -------------------------------------------------------------------------------------------

export type Weighted = { address: Address; weight: bigint };
export type Allocation = Weighted & { amountWei: bigint };

/**
 * Splits `poolWei` in proportion to the weights, exactly: each gets floor(pool · w / W), and the wei left over go
 * one each to the largest remainders (ties: lower address first). Σ = pool. Recipients of 0 wei are dropped.
 */
export function allocateProRata(poolWei: bigint, weighted: readonly Weighted[]): Allocation[] {
  assertWei(poolWei, 'poolWei');
  const sorted = [...weighted].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  for (const [i, entry] of sorted.entries()) {
    if (typeof entry.weight !== 'bigint' || entry.weight <= 0n) {
      throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'a weight is not positive', { details: entry.address });
    }
    if (i > 0 && sorted[i - 1]?.address === entry.address) {
      throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'an address is weighted twice', { details: entry.address });
    }
  }
  const total = sorted.reduce((sum, entry) => sum + entry.weight, 0n);
  if (total === 0n || poolWei === 0n) return [];
  const shares = sorted.map((entry, index) => ({
    ...entry,
    amountWei: (poolWei * entry.weight) / total,
    remainder: (poolWei * entry.weight) % total,
    index,
  }));
  let left = poolWei - shares.reduce((sum, share) => sum + share.amountWei, 0n);
  const byRemainder = [...shares].sort((a, b) =>
    a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1,
  );
  for (const share of byRemainder) {
    if (left === 0n) break;
    share.amountWei += 1n;
    left -= 1n;
  }
  return shares
    .filter((share) => share.amountWei > 0n)
    .map(({ address, weight, amountWei }) => ({ address, weight, amountWei }));
}

// ---- rows ---------------------------------------------------------------------------------------------------

const RewardPeriodRow = Row({
  kind: RewardKind,
  periodKey: Uint64Column,
  startSec: Uint64Column,
  endSec: Uint64Column,
  freshWei: WeiColumn,
  carriedInWei: WeiColumn,
  poolWei: WeiColumn,
  allocatedWei: WeiColumn,
  stakerPartWei: WeiColumn,
  stakerEpoch: Nullable(Uint64Column),
  recipients: Type.Integer({ minimum: 0 }),
  computedAt: Type.Date(),
});
/** One computed reward period: what its pool held and what was allocated from it. */
export type RewardPeriod = StaticDecode<typeof RewardPeriodRow>;

const PERIOD_COLUMNS = `kind, period_key::text as "periodKey", start_sec::text as "startSec", end_sec::text as "endSec",
  fresh_wei::text as "freshWei", carried_in_wei::text as "carriedInWei", pool_wei::text as "poolWei",
  allocated_wei::text as "allocatedWei", staker_part_wei::text as "stakerPartWei", staker_epoch::text as "stakerEpoch",
  recipients, computed_at as "computedAt"`;

export const RewardPayoutState = Type.Union([
  Type.Literal('pending'),
  Type.Literal('sent'),
  Type.Literal('confirmed'),
  Type.Literal('failed'),
]);
export type RewardPayoutState = StaticDecode<typeof RewardPayoutState>;

const RewardAllocationRow = Row({
  kind: RewardKind,
  periodKey: Uint64Column,
  operatorAddress: AddressColumn,
  weight: WeightColumn,
  amountWei: WeiColumn,
  payoutId: IdColumn,
  state: Type.Union([Type.Literal('pending'), Type.Literal('paid'), Type.Literal('skipped')]),
  skipReason: Nullable(Type.Integer()),
  startSec: Uint64Column,
  endSec: Uint64Column,
  payoutState: RewardPayoutState,
  txHash: Nullable(Bytes32Column),
  confirmedAt: Nullable(Type.Date()),
});
/** One operator's share of one period, with its payout's state. */
export type RewardAllocation = StaticDecode<typeof RewardAllocationRow>;

const ALLOCATION_COLUMNS = `a.kind, a.period_key::text as "periodKey", a.operator_address as "operatorAddress",
  a.weight::text as weight, a.amount_wei::text as "amountWei", a.payout_id::text as "payoutId", a.state,
  a.skip_reason as "skipReason", p.start_sec::text as "startSec", p.end_sec::text as "endSec",
  o.state as "payoutState", o.tx_hash as "txHash", o.confirmed_at as "confirmedAt"`;
const ALLOCATION_FROM = `reward_allocations a join reward_periods p on p.kind = a.kind and p.period_key = a.period_key
  join reward_payouts o on o.id = a.payout_id`;

const RewardPayoutRow = Row({
  payoutId: IdColumn,
  kind: RewardKind,
  periodKey: Uint64Column,
  chunk: Type.Integer({ minimum: 0 }),
  totalWei: WeiColumn,
  state: RewardPayoutState,
  txHash: Nullable(Bytes32Column),
  txNonce: Nullable(SafeIntColumn),
  attempts: Type.Integer({ minimum: 0 }),
  lastError: Nullable(Type.String()),
  createdAt: Type.Date(),
  confirmedAt: Nullable(Type.Date()),
});
export type RewardPayoutRecord = StaticDecode<typeof RewardPayoutRow>;

const PAYOUT_COLUMNS = `id::text as "payoutId", kind, period_key::text as "periodKey", chunk, total_wei::text as "totalWei",
  state, tx_hash as "txHash", tx_nonce::text as "txNonce", attempts, last_error as "lastError", created_at as "createdAt",
  confirmed_at as "confirmedAt"`;

/** A payout ready to sign: one `creditRewards` (stakers) or `payCheckers` (checkers) transaction. */
export type RewardPayout = RewardPayoutRecord & {
  startSec: bigint;
  endSec: bigint;
  items: Array<{ address: Address; amountWei: bigint }>;
};

// ---- computing periods ----------------------------------------------------------------------------------------

export type StampRewardInflowsParameters = {
  /** The chain time now: every checker-pool credit not yet seen arrived by then. */
  chainSec: bigint;
};

/**
 * Stamps every checker-pool credit of the journal the rewards job has not seen yet with the chain time it sees it
 * (run every pass, before closing periods): a pay period then takes the credits that arrived inside it. Returns
 * Σ wei stamped. Idempotent per credit.
 */
export async function stampRewardInflows(db: Queryable, { chainSec }: StampRewardInflowsParameters): Promise<bigint> {
  assertUint64(chainSec, 'chainSec');
  return decodeOne(
    Row({ stampedWei: WeiColumn }),
    (
      await db.query(
        `with fresh as (
           insert into reward_inflows (journal_id, arrived_chain_sec, amount_wei)
           select j.id, $1, j.amount_wei from journal j
            where j.kind = 'checker_pool' and j.side = 'credit' and j.account = $2
              and not exists (select 1 from reward_inflows i where i.journal_id = j.id)
           on conflict (journal_id) do nothing
           returning amount_wei
         )
         select coalesce(sum(amount_wei), 0)::text as "stampedWei" from fresh`,
        [chainSec, SYSTEM_ACCOUNTS.checkerPool],
      )
    ).rows,
  ).stampedWei;
}

const DEFAULT_CHUNK = 100;

export type CloseCheckerPeriodParameters = {
  startSec: bigint;
  endSec: bigint;
  /** The stakers' part of the pool money (basis points). */
  stakerShareBps: bigint;
  /** Checkers who get nothing this period (barred on chain, or with a checker-lie slash on the way). */
  excluded?: readonly string[];
  /** Recipients per payout transaction; default 100. */
  chunkSize?: number;
};

export type ClosePeriodReturnType = { period: RewardPeriod; created: boolean };

/** Computes a checkers pay period (see the top of this file), once. */
export async function closeCheckerPeriod(
  db: Queryable,
  { startSec, endSec, stakerShareBps, excluded = [], chunkSize = DEFAULT_CHUNK }: CloseCheckerPeriodParameters,
): Promise<ClosePeriodReturnType> {
  assertPeriod(startSec, endSec);
  if (typeof stakerShareBps !== 'bigint' || stakerShareBps < 0n || stakerShareBps > BPS_DENOMINATOR) {
    throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'stakerShareBps is not basis points', {
      details: String(stakerShareBps),
    });
  }
  assertCount(chunkSize, 'chunkSize', 1000);
  const skip = new Set(excluded.map((address) => normalizeAddress(address, 'excluded')));
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [REWARDS_LOCK_KEY]);
    const existing = await getRewardPeriod(tx, 'checkers', startSec);
    if (existing) return { period: existing, created: false };
    await assertInOrder(tx, 'checkers', startSec);
    const inflow = decodeOne(
      Row({ freshWei: WeiColumn }),
      (
        await tx.query(
          `with taken as (
             update reward_inflows set period_key = $1
              where period_key is null and arrived_chain_sec < $2
             returning amount_wei
           )
           select coalesce(sum(amount_wei), 0)::text as "freshWei" from taken`,
          [startSec, endSec],
        )
      ).rows,
    ).freshWei;
    const stakerPartWei = applyBps(inflow, stakerShareBps);
    const carriedInWei = await carry(tx, 'checkers');
    const poolWei = inflow - stakerPartWei + carriedInWei;
    const counts = decodeRows(
      Row({ address: AddressColumn, weight: WeightColumn }),
      (
        await tx.query(
          `select r.checker_address as address, count(*)::text as weight
             from check_reports r join check_rounds k on k.container = r.container and k.round = r.round
            where r.in_majority = true and k.decided_chain_sec >= $1 and k.decided_chain_sec < $2
            group by r.checker_address`,
          [startSec, endSec],
        )
      ).rows,
    ).filter((row) => !skip.has(row.address));
    const allocations = allocateProRata(poolWei, counts);
    const period = await insertPeriod(tx, {
      kind: 'checkers',
      periodKey: startSec,
      startSec,
      endSec,
      freshWei: inflow,
      carriedInWei,
      poolWei,
      stakerPartWei,
      allocations,
      chunkSize,
    });
    return { period, created: true };
  });
}

export type CloseStakerEpochParameters = {
  epoch: bigint;
  startSec: bigint;
  endSec: bigint;
  /** Operators who held stake through the whole epoch (the chain's `stakeHeldThrough`), with that stake. */
  stakes: ReadonlyArray<{ address: string; stakeWei: bigint }>;
  chunkSize?: number;
};

/**
 * Computes a stakers epoch (see the top of this file), once. Takes the stakers' parts of the checker periods
 * that ended by the epoch's end (compute those first); providers seen offline during the epoch get nothing.
 */
export async function closeStakerEpoch(
  db: Queryable,
  { epoch, startSec, endSec, stakes, chunkSize = DEFAULT_CHUNK }: CloseStakerEpochParameters,
): Promise<ClosePeriodReturnType> {
  assertUint64(epoch, 'epoch');
  assertPeriod(startSec, endSec);
  assertCount(chunkSize, 'chunkSize', 1000);
  const weighted = stakes.map((entry) => ({
    address: normalizeAddress(entry.address, 'stakes.address'),
    weight: assertWei(entry.stakeWei, 'stakes.stakeWei'),
  }));
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [REWARDS_LOCK_KEY]);
    const existing = await getRewardPeriod(tx, 'stakers', epoch);
    if (existing) return { period: existing, created: false };
    await assertInOrder(tx, 'stakers', epoch);
    const fresh = decodeOne(
      Row({ freshWei: WeiColumn }),
      (
        await tx.query(
          `with taken as (
             update reward_periods set staker_epoch = $1
              where kind = 'checkers' and staker_epoch is null and end_sec <= $2
             returning staker_part_wei
           )
           select coalesce(sum(staker_part_wei), 0)::text as "freshWei" from taken`,
          [epoch, endSec],
        )
      ).rows,
    ).freshWei;
    const offline = new Set(
      decodeRows(
        Row({ address: AddressColumn }),
        (await tx.query('select distinct provider_address as address from operator_offline where epoch = $1', [epoch]))
          .rows,
      ).map((row) => row.address),
    );
    const carriedInWei = await carry(tx, 'stakers');
    const poolWei = fresh + carriedInWei;
    const allocations = allocateProRata(
      poolWei,
      weighted.filter((entry) => entry.weight > 0n && !offline.has(entry.address)),
    );
    const period = await insertPeriod(tx, {
      kind: 'stakers',
      periodKey: epoch,
      startSec,
      endSec,
      freshWei: fresh,
      carriedInWei,
      poolWei,
      stakerPartWei: 0n,
      allocations,
      chunkSize,
    });
    return { period, created: true };
  });
}

function assertPeriod(startSec: bigint, endSec: bigint): void {
  assertUint64(startSec, 'startSec');
  assertUint64(endSec, 'endSec');
  if (endSec <= startSec) throw ledgerError('ATH_ERR_LEDGER_BAD_INPUT', 'a period ends after it starts');
}

/** Periods of a kind are computed in order: a key at or below the latest is refused (unless it exists). */
async function assertInOrder(tx: Queryable, kind: RewardKind, periodKey: bigint): Promise<void> {
  const latest = decodeOne(
    Row({ latest: Nullable(Uint64Column) }),
    (await tx.query('select max(period_key)::text as latest from reward_periods where kind = $1', [kind])).rows,
  ).latest;
  if (latest !== null && periodKey < latest) {
    throw ledgerError('ATH_ERR_LEDGER_TICK_OUT_OF_ORDER', 'a reward period older than the latest computed one', {
      details: `${kind} ${periodKey} < ${latest}`,
    });
  }
}

/** What earlier periods of a kind left: their fresh money, less stakers' parts, less what stayed allocated. */
async function carry(tx: Queryable, kind: RewardKind): Promise<bigint> {
  return decodeOne(
    Row({ carryWei: WeiColumn }),
    (
      await tx.query(
        `select ((select coalesce(sum(fresh_wei - staker_part_wei), 0) from reward_periods where kind = $1)
               - (select coalesce(sum(amount_wei), 0) from reward_allocations where kind = $1 and state <> 'skipped'))::text
                as "carryWei"`,
        [kind],
      )
    ).rows,
  ).carryWei;
}

type InsertPeriodParameters = {
  kind: RewardKind;
  periodKey: bigint;
  startSec: bigint;
  endSec: bigint;
  freshWei: bigint;
  carriedInWei: bigint;
  poolWei: bigint;
  stakerPartWei: bigint;
  allocations: Allocation[];
  chunkSize: number;
};

async function insertPeriod(tx: Queryable, p: InsertPeriodParameters): Promise<RewardPeriod> {
  const allocatedWei = p.allocations.reduce((sum, a) => sum + a.amountWei, 0n);
  const { rows } = await tx.query(
    `insert into reward_periods (kind, period_key, start_sec, end_sec, fresh_wei, carried_in_wei, pool_wei, allocated_wei,
       staker_part_wei, recipients)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning ${PERIOD_COLUMNS}`,
    [
      p.kind,
      p.periodKey,
      p.startSec,
      p.endSec,
      p.freshWei,
      p.carriedInWei,
      p.poolWei,
      allocatedWei,
      p.stakerPartWei,
      p.allocations.length,
    ],
  );
  const period = decodeOne(RewardPeriodRow, rows);
  if (p.allocations.length === 0) return period;
  if (p.kind === 'checkers') {
    await ensureAccountRoles(
      tx,
      p.allocations.map((a) => ({ address: a.address, role: 'checker' as const })),
    );
  } else {
    await tx.query('insert into accounts (address) select unnest($1::text[]) on conflict do nothing', [
      p.allocations.map((a) => a.address),
    ]);
  }
  for (let chunk = 0; chunk * p.chunkSize < p.allocations.length; chunk += 1) {
    const items = p.allocations.slice(chunk * p.chunkSize, (chunk + 1) * p.chunkSize);
    const total = items.reduce((sum, a) => sum + a.amountWei, 0n);
    const payout = decodeOne(
      Row({ id: IdColumn }),
      (
        await tx.query(
          `insert into reward_payouts (kind, period_key, chunk, total_wei) values ($1, $2, $3, $4) returning id::text as id`,
          [p.kind, p.periodKey, chunk, total],
        )
      ).rows,
    );
    await tx.query(
      `insert into reward_allocations (kind, period_key, operator_address, weight, amount_wei, payout_id)
       select $1, $2, a, w::numeric, amt::numeric, $3 from unnest($4::text[], $5::text[], $6::text[]) as t(a, w, amt)`,
      [
        p.kind,
        p.periodKey,
        payout.id,
        items.map((a) => a.address),
        items.map((a) => a.weight.toString(10)),
        items.map((a) => a.amountWei.toString(10)),
      ],
    );
  }
  return period;
}

// ---- the payout outbox --------------------------------------------------------------------------------------

/** The oldest payout not yet confirmed or failed (pending, or sent and to be reconciled), with its items. */
export async function nextRewardPayout(
  db: Queryable,
  { state = 'pending' }: { state?: 'pending' | 'sent' } = {},
): Promise<RewardPayout | undefined> {
  const row = decodeOptional(
    RewardPayoutRow,
    (await db.query(`select ${PAYOUT_COLUMNS} from reward_payouts where state = $1 order by id limit 1`, [state])).rows,
  );
  return row === undefined ? undefined : withItems(db, row);
}

export async function getRewardPayout(db: Queryable, payoutId: bigint): Promise<RewardPayout | undefined> {
  const row = decodeOptional(
    RewardPayoutRow,
    (await db.query(`select ${PAYOUT_COLUMNS} from reward_payouts where id = $1`, [payoutId])).rows,
  );
  return row === undefined ? undefined : withItems(db, row);
}

async function withItems(db: Queryable, row: RewardPayoutRecord): Promise<RewardPayout> {
  const period = await getRewardPeriod(db, row.kind, row.periodKey);
  if (!period)
    throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'payout without a period', { details: String(row.payoutId) });
  const items = decodeRows(
    Row({ address: AddressColumn, amountWei: WeiColumn }),
    (
      await db.query(
        `select operator_address as address, amount_wei::text as "amountWei" from reward_allocations
          where payout_id = $1 order by operator_address`,
        [row.payoutId],
      )
    ).rows,
  );
  return { ...row, startSec: period.startSec, endSec: period.endSec, items };
}

export type MarkRewardPayoutSentParameters = { payoutId: bigint; txHash: Hex; nonce?: number };

/** Write-ahead: the signed transaction's hash, before it is broadcast (pending/sent → sent). */
export async function markRewardPayoutSent(
  db: Queryable,
  { payoutId, txHash, nonce }: MarkRewardPayoutSentParameters,
): Promise<RewardPayoutRecord> {
  const hash = normalizeBytes32(txHash, 'txHash');
  if (nonce !== undefined) assertCount(nonce, 'nonce');
  const { rows } = await db.query(
    `update reward_payouts set state = 'sent', tx_hash = $2, tx_nonce = $3, attempts = attempts + 1, updated_at = now()
      where id = $1 and state in ('pending', 'sent') returning ${PAYOUT_COLUMNS}`,
    [payoutId, hash, nonce ?? null],
  );
  return decodeOptional(RewardPayoutRow, rows) ?? throwPayoutNotTransitionable(db, payoutId, 'sent');
}

export type MarkRewardPayoutConfirmedParameters = {
  payoutId: bigint;
  txHash: Hex;
  /** Items the chain skipped as not payable (not eligible, barred): forfeited back to the pool. */
  forfeited?: ReadonlyArray<{ address: string; reason: number }>;
};

export type MarkRewardPayoutConfirmedReturnType = {
  payout: RewardPayoutRecord;
  confirmed: boolean;
  paidWei: bigint;
  forfeitedWei: bigint;
};

/**
 * The payout transaction landed: every item not forfeited is paid and journaled (debit system:checker-pool,
 * credit the operator, kind `reward`), once. Items the chain skipped as already paid are paid (a re-sent
 * payout whose first transaction landed too). Idempotent.
 */
export async function markRewardPayoutConfirmed(
  db: Queryable,
  { payoutId, txHash, forfeited = [] }: MarkRewardPayoutConfirmedParameters,
): Promise<MarkRewardPayoutConfirmedReturnType> {
  const hash = normalizeBytes32(txHash, 'txHash');
  const lost = new Map(forfeited.map((f) => [normalizeAddress(f.address, 'forfeited.address'), f.reason]));
  return db.transaction(async (tx) => {
    const current = decodeOptional(
      RewardPayoutRow,
      (await tx.query(`select ${PAYOUT_COLUMNS} from reward_payouts where id = $1 for update`, [payoutId])).rows,
    );
    if (!current) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such payout', { details: String(payoutId) });
    if (current.state === 'confirmed') return { payout: current, confirmed: false, paidWei: 0n, forfeitedWei: 0n };
    const items = decodeRows(
      Row({ address: AddressColumn, amountWei: WeiColumn }),
      (
        await tx.query(
          `select operator_address as address, amount_wei::text as "amountWei" from reward_allocations
            where payout_id = $1 order by operator_address`,
          [payoutId],
        )
      ).rows,
    );
    const entries: JournalEntry[] = [];
    let paidWei = 0n;
    let forfeitedWei = 0n;
    for (const item of items) {
      const reason = lost.get(item.address);
      if (reason !== undefined) {
        forfeitedWei += item.amountWei;
        await tx.query(
          `update reward_allocations set state = 'skipped', skip_reason = $2 where payout_id = $1 and operator_address = $3`,
          [payoutId, reason, item.address],
        );
        continue;
      }
      paidWei += item.amountWei;
      entries.push({
        entryKey: `reward:${current.kind}:${current.periodKey}:${item.address}`,
        postings: [
          { account: SYSTEM_ACCOUNTS.checkerPool, kind: 'reward', side: 'debit', amountWei: item.amountWei },
          { account: item.address, kind: 'reward', side: 'credit', amountWei: item.amountWei },
        ],
      });
    }
    await postJournalEntries(tx, entries);
    await tx.query(`update reward_allocations set state = 'paid' where payout_id = $1 and state = 'pending'`, [
      payoutId,
    ]);
    const { rows } = await tx.query(
      `update reward_payouts set state = 'confirmed', tx_hash = $2, confirmed_at = now(), updated_at = now()
        where id = $1 returning ${PAYOUT_COLUMNS}`,
      [payoutId, hash],
    );
    return { payout: decodeOne(RewardPayoutRow, rows), confirmed: true, paidWei, forfeitedWei };
  });
}

export type MarkRewardPayoutFailedParameters = { payoutId: bigint; error: string; retry: boolean };

/** The transaction reverted or surely never left: back to pending (retry) or failed for good. */
export async function markRewardPayoutFailed(
  db: Queryable,
  { payoutId, error, retry }: MarkRewardPayoutFailedParameters,
): Promise<RewardPayoutRecord> {
  assertText(error, 'error', 100_000);
  const { rows } = await db.query(
    `update reward_payouts set state = $2, tx_hash = case when $2 = 'pending' then null else tx_hash end,
            last_error = $3, updated_at = now()
      where id = $1 and state in ('pending', 'sent') returning ${PAYOUT_COLUMNS}`,
    [payoutId, retry ? 'pending' : 'failed', error.slice(0, 2048)],
  );
  return (
    decodeOptional(RewardPayoutRow, rows) ?? throwPayoutNotTransitionable(db, payoutId, retry ? 'pending' : 'failed')
  );
}

async function throwPayoutNotTransitionable(db: Queryable, payoutId: bigint, to: string): Promise<never> {
  const current = decodeOptional(
    RewardPayoutRow,
    (await db.query(`select ${PAYOUT_COLUMNS} from reward_payouts where id = $1`, [payoutId])).rows,
  );
  if (!current) throw ledgerError('ATH_ERR_LEDGER_NOT_FOUND', 'no such payout', { details: String(payoutId) });
  throw ledgerError('ATH_ERR_LEDGER_BAD_TRANSITION', 'the payout cannot move to this state', {
    details: `${payoutId}: ${current.state} → ${to}`,
  });
}

// ---- reads --------------------------------------------------------------------------------------------------

export async function getRewardPeriod(
  db: Queryable,
  kind: RewardKind,
  periodKey: bigint,
): Promise<RewardPeriod | undefined> {
  const { rows } = await db.query(`select ${PERIOD_COLUMNS} from reward_periods where kind = $1 and period_key = $2`, [
    kind,
    assertUint64(periodKey, 'periodKey'),
  ]);
  return decodeOptional(RewardPeriodRow, rows);
}

export type ListRewardPeriodsParameters = { kind?: RewardKind; limit?: number };

/** Computed periods, newest first. */
export async function listRewardPeriods(
  db: Queryable,
  { kind, limit = 100 }: ListRewardPeriodsParameters = {},
): Promise<RewardPeriod[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${PERIOD_COLUMNS} from reward_periods where ($1::text is null or kind = $1)
      order by end_sec desc, kind limit $2`,
    [kind ?? null, limit],
  );
  return decodeRows(RewardPeriodRow, rows);
}

export type ListRewardAllocationsParameters = {
  operatorAddress?: string;
  kind?: RewardKind;
  periodKey?: bigint;
  limit?: number;
};

/** Allocations with their payout's state, newest period first. */
export async function listRewardAllocations(
  db: Queryable,
  { operatorAddress, kind, periodKey, limit = 1000 }: ListRewardAllocationsParameters = {},
): Promise<RewardAllocation[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${ALLOCATION_COLUMNS} from ${ALLOCATION_FROM}
      where ($1::text is null or a.operator_address = $1) and ($2::text is null or a.kind = $2)
        and ($3::numeric is null or a.period_key = $3::numeric)
      order by p.end_sec desc, a.kind, a.operator_address limit $4`,
    [
      operatorAddress === undefined ? null : normalizeAddress(operatorAddress, 'operatorAddress'),
      kind ?? null,
      periodKey === undefined ? null : assertUint64(periodKey, 'periodKey'),
      limit,
    ],
  );
  return decodeRows(RewardAllocationRow, rows);
}

export type ListRewardPayoutsParameters = { state?: RewardPayoutState; limit?: number };

export async function listRewardPayouts(
  db: Queryable,
  { state, limit = 1000 }: ListRewardPayoutsParameters = {},
): Promise<RewardPayoutRecord[]> {
  assertCount(limit, 'limit', 100_000);
  const { rows } = await db.query(
    `select ${PAYOUT_COLUMNS} from reward_payouts where ($1::text is null or state = $1) order by id limit $2`,
    [state ?? null, limit],
  );
  return decodeRows(RewardPayoutRow, rows);
}
